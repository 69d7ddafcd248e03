//! The command line: `list` describes every scenario; bad input is reported, not panicked on.

use crate::support::{empty_app, run_runner};

#[test]
fn list_describes_every_scenario() {
    let run = run_runner(&["list"], &[]);
    assert_eq!(run.code, Some(0), "{}", run.output());
    for name in [
        "lifecycle.start_stream",
        "indexing.raw_bindings",
        "http_echo.post_route_query_headers",
        "shutdown.stream_closed",
    ] {
        assert!(run.stdout.contains(name), "{name} missing from:\n{}", run.stdout);
    }
    assert!(run.stdout.contains("request: POST /api/echo/books/42?x=1&y=%C3%A9"), "{}", run.stdout);
}

#[test]
fn an_app_directory_without_an_app_is_explained() {
    let app = empty_app();
    let run = run_runner(&["run", "--app", app.path().to_str().unwrap()], &[]);
    assert_eq!(run.code, Some(2), "{}", run.output());
    assert!(run.stderr.contains("no function app found"), "{}", run.output());
}

#[test]
fn an_only_pattern_that_matches_nothing_is_an_error() {
    let app = empty_app();
    let run = run_runner(
        &["run", "--app", app.path().to_str().unwrap(), "--worker-cmd", "true", "--only", "no-such-scenario"],
        &[],
    );
    assert_eq!(run.code, Some(2), "{}", run.output());
    assert!(run.stderr.contains("no scenario matched --only"), "{}", run.output());
}

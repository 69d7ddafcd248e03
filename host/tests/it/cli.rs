//! Command-line errors are clear and exit non-zero.

use std::process::Command;

use crate::support::*;

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(fnwire_exe()).args(args).output().unwrap();
    (
        out.status.success(),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

#[test]
fn unknown_subcommand_is_refused() {
    let (ok, out) = run(&["frobnicate"]);
    assert!(!ok);
    assert!(out.contains("frobnicate"), "{out}");
}

#[test]
fn missing_directory_is_named() {
    let (ok, out) = run(&["start", "/definitely/not/here", "--port", &free_port().to_string()]);
    assert!(!ok);
    assert!(out.contains("/definitely/not/here") && out.contains("not a directory"), "{out}");
}

#[test]
fn a_directory_without_an_app_says_what_fnwire_looks_for() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, out) = run(&["start", dir.path().to_str().unwrap(), "--port", &free_port().to_string()]);
    assert!(!ok);
    assert!(out.contains("worker.config.json") && out.contains("Cargo.toml"), "{out}");
}

#[test]
fn a_worker_that_exits_at_once_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("worker.config.json"),
        r#"{"description":{"language":"x","defaultExecutablePath":"sh","arguments":["-c","echo bad things >&2; exit 7"]}}"#,
    )
    .unwrap();
    let (ok, out) = run(&["start", dir.path().to_str().unwrap(), "--port", &free_port().to_string()]);
    assert!(!ok);
    assert!(
        out.contains("exited") && out.contains("before connecting") && out.contains("bad things"),
        "{out}"
    );
}

#[test]
fn a_bad_route_template_names_the_function() {
    let dir = test_worker_app();
    std::fs::write(dir.path().join("local.settings.json"), r#"{"Values":{"TEST_WORKER_HOST_INDEXING":"1"}}"#)
        .unwrap();
    std::fs::create_dir(dir.path().join("weird")).unwrap();
    std::fs::write(
        dir.path().join("weird/function.json"),
        r#"{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","route":"x/{id:number}"}]}"#,
    )
    .unwrap();
    let (ok, out) = run(&["start", dir.path().to_str().unwrap(), "--port", &free_port().to_string()]);
    assert!(!ok);
    assert!(out.contains("function `weird`") && out.contains("unknown constraint `number`"), "{out}");
}

#[test]
fn a_port_in_use_is_named_with_what_to_do() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let app = test_worker_app();
    let (ok, out) = run(&["start", app.path().to_str().unwrap(), "--port", &port]);
    assert!(!ok);
    assert!(out.contains(&format!("127.0.0.1:{port}")) && out.contains("--port"), "{out}");
}

//! The issue's end-to-end check: `fnwire start examples/hello-rust` with the real fnwire SDK.

use std::path::PathBuf;

use crate::support::*;

fn hello_rust_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/hello-rust"))
}

#[tokio::test(flavor = "multi_thread")]
async fn hello_rust_answers_as_the_issue_says() {
    // --debug reuses the workspace's debug build instead of a second, release build. A store
    // of its own: other tests run hello-rust at the same time, and a store takes one host.
    let storage = tempfile::tempdir().unwrap();
    let storage_dir = storage.path().display().to_string();
    let mut fnwire = Fnwire::spawn_with_env(
        &hello_rust_dir(),
        &["--debug"],
        &[("FNWIRE_STORAGE_DIR", storage_dir.as_str())],
    );
    fnwire.wait_for_output("Host started", STARTUP_BOUND);

    let r = get(&fnwire.url("/api/hello?name=Ada")).await;
    assert_eq!((r.status, r.body.as_str()), (200, "Hello, Ada!"), "{}", fnwire.output());
    assert!(r.header("content-type").starts_with("text/plain"), "{:?}", r.headers);
    let r = get(&fnwire.url("/api/hello/Bob")).await;
    assert_eq!((r.status, r.body.as_str()), (200, "Hello, Bob!"));
    let r = request("POST", &fnwire.url("/api/hello"), &[], "").await;
    assert_eq!((r.status, r.body.as_str()), (200, "Hello, world!"));

    let json = r#"{"greeting":"hi","n":[1,2.5,null],"nested":{"ok":true}}"#;
    let r = request("POST", &fnwire.url("/api/echo"), &[("content-type", "application/json")], json).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(r.header("content-type").starts_with("application/json"), "{:?}", r.headers);
    let parsed: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(parsed, serde_json::from_str::<serde_json::Value>(json).unwrap());
    let r = request("POST", &fnwire.url("/api/echo"), &[("content-type", "application/json")], "{nope").await;
    assert_eq!(r.status, 400, "{}", r.body);

    let r = get(&fnwire.url("/api/boom")).await;
    assert_eq!(r.status, 500);
    assert!(r.body.contains("'boom' failed") && r.body.contains("invocation id"), "{}", r.body);
    // Console lines are written by a writer thread, a moment after the response.
    fnwire.wait_for_output("Executed 'boom'", std::time::Duration::from_secs(10));
    let output_before = fnwire.output();
    // Whatever the function's error text is, it reaches the console and not the client.
    let logged_error = output_before
        .lines()
        .find(|l| l.contains("Executed 'boom' (Failed"))
        .and_then(|l| l.split("Duration=").nth(1))
        .and_then(|l| l.split_once("): "))
        .map(|(_, e)| e.trim().to_string())
        .unwrap_or_default();
    assert!(!logged_error.is_empty(), "the failure is logged: {output_before}");
    assert!(!r.body.contains(&logged_error), "the 500 body must not carry the error text: {}", r.body);

    assert_eq!(get(&fnwire.url("/api/nope")).await.status, 404);

    let out = fnwire.output();
    for name in ["hello", "echo", "boom"] {
        assert!(out.lines().any(|l| l.trim_start().starts_with(&format!("{name} "))), "{name} listed: {out}");
    }
    assert!(out.contains("timerTrigger") && out.contains("queueTrigger"), "{out}");

    let workers = fnwire.children();
    assert!(!workers.is_empty(), "a worker process runs");
    let status = fnwire.terminate();
    assert!(status.success(), "{status:?}\n{}", fnwire.output());
    assert_processes_gone(&workers);
}

//! `fnwire start` on a Cargo project: the host builds it and runs its binary.

use crate::support::*;

/// A Cargo app whose binary becomes the test worker (by exec, so it is the same process).
fn cargo_app(main_rs: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("Cargo.toml"),
        "[package]\nname = \"tiny-app\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[workspace]\n",
    )
    .unwrap();
    std::fs::create_dir(dir.path().join("src")).unwrap();
    std::fs::write(dir.path().join("src/main.rs"), main_rs).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread")]
async fn builds_a_cargo_app_and_runs_its_binary() {
    let worker = test_worker_exe();
    let app = cargo_app(&format!(
        "use std::os::unix::process::CommandExt;\n\
         fn main() {{\n    let err = std::process::Command::new({:?}).args(std::env::args().skip(1)).exec();\n    \
         eprintln!(\"exec failed: {{err}}\");\n    std::process::exit(1);\n}}\n",
        worker.display().to_string()
    ));
    let mut fnwire = Fnwire::start(app.path(), &["--debug"]);
    let out = fnwire.output();
    assert!(out.contains("cargo build --message-format=json-render-diagnostics"), "{out}");
    assert!(!out.contains("--release"), "--debug builds without --release: {out}");
    assert!(out.contains("runtime Some(\"rust\")"), "{out}");
    let r = get(&fnwire.url("/api/hello/Cargo")).await;
    assert_eq!((r.status, r.body.as_str()), (200, "Hello, Cargo!"));
    let workers = fnwire.children();
    assert!(fnwire.terminate().success());
    assert_processes_gone(&workers);
}

#[test]
fn a_build_error_stops_fnwire_with_a_clear_message() {
    let app = cargo_app("fn main() { this is not rust }\n");
    let mut fnwire = Fnwire::spawn(app.path(), &["--debug"]);
    let status = fnwire.wait_exit(STARTUP_BOUND);
    assert!(!status.success());
    let out = fnwire.output();
    assert!(
        out.contains("`cargo build` failed") && out.contains("fix the errors cargo printed above"),
        "{out}"
    );
    assert!(out.contains("error"), "cargo's own diagnostics are shown: {out}");
}

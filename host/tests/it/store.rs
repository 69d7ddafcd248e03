//! The embedded store as users handle it: one host per store, and `fnwire store
//! check|backup|restore`.

use std::process::Command;
use std::time::Duration;

use crate::support::*;

fn run(args: &[&str]) -> (bool, String) {
    let out = Command::new(fnwire_exe()).args(args).output().unwrap();
    (
        out.status.success(),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_host_on_the_same_store_is_refused_at_start() {
    let app = test_worker_app();
    let mut first = Fnwire::start(app.path(), &[]);
    let mut second = Fnwire::spawn(app.path(), &[]);
    let status = second.wait_exit(Duration::from_secs(60));
    let out = second.output();
    assert!(!status.success(), "{out}");
    assert!(
        out.contains("in use by another fnwire host")
            && out.contains(&format!("process {}", first.child.id())),
        "{out}"
    );
    assert!(second.children().is_empty() && !out.contains("Host started"), "no worker was started: {out}");
    // The first host is undisturbed, and the queue command still works beside it.
    assert_eq!(get(&first.url("/api/hello")).await.status, 200);
    let app_arg = app.path().to_str().unwrap();
    let (ok, out) = run(&["queue", "put", "jobs", "hello", "--app", app_arg]);
    assert!(ok, "{out}");
    assert!(first.terminate().success());
    // Once the first host stops, the store is free again.
    let mut third = Fnwire::start(app.path(), &[]);
    assert!(third.terminate().success());
}

#[test]
fn check_backup_and_restore_from_the_command_line() {
    let app = tempfile::tempdir().unwrap();
    let app_arg = app.path().to_str().unwrap();
    let backups = tempfile::tempdir().unwrap();
    let copy = backups.path().join("store.db");
    let copy_arg = copy.to_str().unwrap();
    assert!(run(&["queue", "put", "jobs", "one", "--app", app_arg]).0);
    let (ok, out) = run(&["store", "check", "--app", app_arg]);
    assert!(ok && out.contains("ok (full check") && out.contains("1 messages"), "{out}");
    let (ok, out) = run(&["store", "backup", "--to", copy_arg, "--app", app_arg]);
    assert!(ok && out.contains("backed up"), "{out}");
    let (ok, out) = run(&["store", "backup", "--to", copy_arg, "--app", app_arg]);
    assert!(!ok && out.contains("refusing to overwrite"), "{out}");
    assert!(run(&["queue", "put", "jobs", "two", "--app", app_arg]).0);
    let (ok, out) = run(&["store", "restore", "--from", copy_arg, "--app", app_arg]);
    assert!(ok && out.contains("before-restore"), "{out}");
    let (ok, out) = run(&["queue", "peek", "jobs", "--app", app_arg]);
    assert!(ok && out.contains("one") && !out.contains("two"), "{out}");

    // An emptied store is refused with what to do, and a restore brings it back.
    let db = app.path().join(".fnwire").join(fnwire_storage::DATABASE_FILE);
    assert!(db.exists(), "the store lives in <app>/.fnwire");
    std::fs::write(&db, b"").unwrap();
    let (ok, out) = run(&["queue", "list", "--app", app_arg]);
    assert!(!ok && out.contains("0 bytes") && out.contains("fnwire store restore"), "{out}");
    assert_eq!(std::fs::metadata(&db).unwrap().len(), 0, "the empty file is left as it was");
    let (ok, out) = run(&["store", "restore", "--from", copy_arg, "--app", app_arg]);
    assert!(ok, "{out}");
    let (ok, out) = run(&["queue", "peek", "jobs", "--app", app_arg]);
    assert!(ok && out.contains("one"), "{out}");
}

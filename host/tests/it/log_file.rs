//! The optional log file: `FNWIRE_LOG_DIR` makes the host write its log lines to a file that
//! rotates daily, keeping `FNWIRE_LOG_FILES_KEPT` files.

use std::time::{Duration, Instant};

use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn log_lines_go_to_a_daily_file_and_old_files_are_pruned() {
    let app = test_worker_app();
    let logs = tempfile::tempdir().unwrap();
    // Three files of earlier days; with two kept, today's and the newest of these stay.
    for day in ["2020-01-01", "2020-01-02", "2020-01-03"] {
        std::fs::write(logs.path().join(format!("fnwire.{day}.log")), "old\n").unwrap();
        std::thread::sleep(Duration::from_millis(20));
    }
    let dir = logs.path().to_str().unwrap();
    let mut fnwire = Fnwire::spawn_with_env(
        app.path(),
        &[],
        &[("FNWIRE_LOG_DIR", dir), ("FNWIRE_LOG_FILES_KEPT", "2"), ("TZ", "UTC")],
    );
    fnwire.wait_for_output("Host started", STARTUP_BOUND);
    assert_eq!(get(&fnwire.url("/api/hello")).await.status, 200);
    assert!(fnwire.terminate().success());

    let today = chrono::Utc::now().format("%Y-%m-%d").to_string();
    let today_file = logs.path().join(format!("fnwire.{today}.log"));
    // The writer thread flushes at exit; the day may have turned since the start (bounded poll).
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut text = String::new();
    while Instant::now() < deadline {
        text = std::fs::read_to_string(&today_file).unwrap_or_default();
        if text.contains("(Succeeded, Id=") {
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    assert!(text.contains("Host started") && text.contains("(Succeeded, Id="), "{text}");
    assert!(!text.contains('\u{1b}'), "no colour codes in the file");
    let mut names: Vec<String> = std::fs::read_dir(logs.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["fnwire.2020-01-03.log".to_string(), format!("fnwire.{today}.log")], "{names:?}");
}

#[test]
fn an_unwritable_log_directory_is_said_and_the_host_runs_on() {
    let app = test_worker_app();
    let not_a_dir = tempfile::NamedTempFile::new().unwrap();
    let path = not_a_dir.path().join("logs");
    let mut fnwire = Fnwire::spawn_with_env(app.path(), &[], &[("FNWIRE_LOG_DIR", path.to_str().unwrap())]);
    fnwire.wait_for_output("Host started", STARTUP_BOUND);
    let out = fnwire.output();
    assert!(out.contains("cannot write log files to") && out.contains("FNWIRE_LOG_DIR"), "{out}");
    assert!(fnwire.terminate().success());
}

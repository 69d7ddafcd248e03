//! Timer and queue triggers, blob outputs and the embedded store, through the real `fnwire`
//! binary: hello-rust (the real SDK) for the happy path and the host crash, the test worker
//! (which fails every non-HTTP invocation) for poison messages and bad input.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fnwire_storage::{BlobStore, ScheduleStatus, Store};

use crate::support::*;

/// Bound for queue work to finish; never a timing assertion.
const WORK_BOUND: Duration = Duration::from_secs(120);

fn hello_rust_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/hello-rust"))
}

fn storage_env(dir: &Path) -> [(&'static str, String); 1] {
    [("FNWIRE_STORAGE_DIR", dir.display().to_string())]
}

fn start_with_storage(app: &Path, storage: &Path) -> Fnwire {
    let env = storage_env(storage);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let f = Fnwire::spawn_with_env(app, &["--debug"], &env);
    f.wait_for_output("Host started", STARTUP_BOUND);
    f
}

/// Polls until `done()` holds, panicking with `what` and the host output after the bound.
fn wait_until(fnwire: &Fnwire, what: &str, bound: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + bound;
    while Instant::now() < deadline {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not happen within {bound:?}; output:\n{}", fnwire.output());
}

/// Every body on a queue (visible ones; the test reads after the host is idle).
fn bodies(store: &Store, queue: &str) -> Vec<String> {
    store.peek(queue, 100_000).unwrap().into_iter().map(|m| String::from_utf8(m.body).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn hello_rust_enqueue_work_tick_end_to_end() {
    let storage = tempfile::tempdir().unwrap();
    let mut fnwire = start_with_storage(&hello_rust_dir(), storage.path());
    let out = fnwire.output();
    assert!(
        out.contains("queue jobs") && out.contains("schedule */2 * * * * *"),
        "the table says what triggers: {out}"
    );

    // The issue's check: 1,000 POSTs, each result in `done` and as a blob.
    const N: usize = 1000;
    for i in 0..N {
        let r = request("POST", &fnwire.url("/api/enqueue"), &[], format!("job {i}")).await;
        assert_eq!(r.status, 202, "{}", r.body);
    }
    let store = Store::open(storage.path()).unwrap();
    wait_until(&fnwire, "N messages in done", WORK_BOUND, || {
        store.message_count("done").unwrap() == N as u64
    });
    let mut expected: Vec<String> = (0..N).map(|i| format!("JOB {i}")).collect();
    expected.sort();
    let mut got = bodies(&store, "done");
    got.sort();
    assert_eq!(got, expected, "each job once, upper-cased");
    assert_eq!(store.message_count("jobs").unwrap(), 0, "completed messages are deleted");

    let blobs = BlobStore::new(storage.path().join("blobs"));
    let files = blobs.list("done").unwrap();
    assert_eq!(files.len(), N, "one blob per message: {files:?}");
    let mut contents: Vec<String> =
        files.iter().map(|f| String::from_utf8(blobs.read(f).unwrap().unwrap()).unwrap()).collect();
    contents.sort();
    assert_eq!(contents, expected);

    // The timer runs every two seconds; two runs show it repeats.
    wait_until(&fnwire, "two ticks", Duration::from_secs(30), || {
        fnwire.output().matches("Executed 'tick' (Succeeded").count() >= 2
    });
    assert!(fnwire.output().contains("tick past_due=false"), "{}", fnwire.output());

    // The CLI reads the same store while the host runs.
    let peek = std::process::Command::new(fnwire_exe())
        .args(["queue", "peek", "done", "--max", "5", "--app"])
        .arg(hello_rust_dir())
        .envs(storage_env(storage.path()))
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&peek.stdout);
    assert!(
        peek.status.success() && text.contains("JOB ") && text.contains(&format!("holds {N} message")),
        "{text}"
    );
    let put = std::process::Command::new(fnwire_exe())
        .args(["queue", "put", "jobs", "from the cli", "--app"])
        .arg(hello_rust_dir())
        .envs(storage_env(storage.path()))
        .output()
        .unwrap();
    assert!(put.status.success(), "{}", String::from_utf8_lossy(&put.stderr));
    // Found by polling (maxPollingInterval is 2 s in hello-rust's host.json).
    wait_until(&fnwire, "the CLI's message processed", WORK_BOUND, || {
        bodies(&store, "done").iter().any(|b| b == "FROM THE CLI")
    });
    assert!(fnwire.terminate().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_the_host_mid_stream_loses_no_message() {
    let storage = tempfile::tempdir().unwrap();
    let store = Store::open(storage.path()).unwrap();
    const N: usize = 2000;
    let jobs: Vec<fnwire_storage::MessageBody> =
        (0..N).map(|i| fnwire_storage::MessageBody::new("jobs", format!("m{i}"))).collect();
    store.put_many(&jobs).unwrap();

    let mut first = start_with_storage(&hello_rust_dir(), storage.path());
    wait_until(&first, "some messages processed", WORK_BOUND, || store.message_count("done").unwrap() > 0);
    let worker_pids = first.children();
    first.child.kill().unwrap(); // SIGKILL: no clean-up of any kind
    first.child.wait().unwrap();
    let left = store.message_count("jobs").unwrap();
    eprintln!("killed the host with {left} of {N} messages not yet completed");
    // The orphaned worker exits when its stream breaks.
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline && !worker_pids.iter().all(|p| process_gone(*p)) {
        std::thread::sleep(Duration::from_millis(50));
    }

    let mut second = start_with_storage(&hello_rust_dir(), storage.path());
    wait_until(&second, "jobs drained", WORK_BOUND, || store.message_count("jobs").unwrap() == 0);
    let done: BTreeSet<String> = bodies(&store, "done").into_iter().collect();
    let expected: BTreeSet<String> = (0..N).map(|i| format!("M{i}")).collect();
    let missing: Vec<_> = expected.difference(&done).collect();
    assert!(
        missing.is_empty(),
        "{} message(s) lost, e.g. {:?}",
        missing.len(),
        missing.iter().take(5).collect::<Vec<_>>()
    );
    let total = store.message_count("done").unwrap() as usize;
    eprintln!("{N} messages, {total} results ({} processed twice after the kill)", total - N);
    assert!(total >= N);
    assert_eq!(store.message_count("jobs-poison").unwrap(), 0);
    assert!(second.terminate().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn messages_a_killed_worker_held_are_processed_after_its_restart() {
    let storage = tempfile::tempdir().unwrap();
    let store = Store::open(storage.path()).unwrap();
    const N: usize = 2000;
    let jobs: Vec<fnwire_storage::MessageBody> =
        (0..N).map(|i| fnwire_storage::MessageBody::new("jobs", format!("w{i}"))).collect();
    let mut fnwire = start_with_storage(&hello_rust_dir(), storage.path());
    store.put_many(&jobs).unwrap();
    wait_until(&fnwire, "some messages processed", WORK_BOUND, || store.message_count("done").unwrap() > 0);
    for pid in fnwire.children() {
        let _ = std::process::Command::new("kill").args(["-KILL", &pid.to_string()]).status();
    }
    eprintln!("killed the worker with {} message(s) not yet completed", store.message_count("jobs").unwrap());
    wait_until(&fnwire, "jobs drained after the worker restart", WORK_BOUND, || {
        store.message_count("jobs").unwrap() == 0
    });
    let done: BTreeSet<String> = bodies(&store, "done").into_iter().collect();
    let missing = (0..N).map(|i| format!("W{i}")).filter(|b| !done.contains(b)).count();
    assert_eq!(missing, 0, "messages lost");
    assert_eq!(store.message_count("jobs-poison").unwrap(), 0);
    assert!(fnwire.terminate().success());
}

/// A test-worker app indexed from function.json files (the test worker fails every
/// invocation it does not know, which is all of these).
fn function_json_app(functions: &[(&str, &str)], host_json: &str) -> tempfile::TempDir {
    let app = test_worker_app();
    std::fs::write(app.path().join("local.settings.json"), r#"{"Values":{"TEST_WORKER_HOST_INDEXING":"1"}}"#)
        .unwrap();
    std::fs::write(app.path().join("host.json"), host_json).unwrap();
    for (name, bindings) in functions {
        std::fs::create_dir(app.path().join(name)).unwrap();
        std::fs::write(app.path().join(name).join("function.json"), format!(r#"{{"bindings":{bindings}}}"#))
            .unwrap();
    }
    app
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_message_goes_to_poison_after_exactly_max_dequeue_count_attempts() {
    let app = function_json_app(
        &[(
            "fail",
            r#"[{"type":"queueTrigger","direction":"in","name":"msg","queueName":"jobs"},
                {"type":"sendGrid","direction":"out","name":"mail"}]"#,
        )],
        r#"{"version":"2.0","extensions":{"queues":{"maxDequeueCount":3,"maxPollingInterval":"00:00:00.2"}}}"#,
    );
    let storage = app.path().join(".fnwire");
    let store = Store::open(&storage).unwrap();
    let put = store.put("jobs", b"poisonous", None).unwrap();
    let mut fnwire = Fnwire::start(app.path(), &[]);
    wait_until(&fnwire, "the message in jobs-poison", WORK_BOUND, || {
        store.message_count("jobs-poison").unwrap() == 1
    });
    let poisoned = store.peek("jobs-poison", 10).unwrap();
    assert_eq!((poisoned[0].id.as_str(), poisoned[0].body.as_slice()), (put.id.as_str(), &b"poisonous"[..]));
    assert_eq!(store.message_count("jobs").unwrap(), 0);
    // The store changes before the console writer thread has written the line that says so.
    fnwire.wait_for_output("moved to queue `jobs-poison`", WORK_BOUND);
    let out = fnwire.output();
    assert_eq!(out.matches("Executing 'fail'").count(), 3, "exactly maxDequeueCount attempts:\n{out}");
    assert!(out.contains("moved to queue `jobs-poison`") && out.contains("function `fail`"), "{out}");
    // An output type fnwire does not serve is reported once, with the function, at start.
    let unsupported = "function `fail`: out binding `mail` of type `sendGrid` is not supported by this host";
    assert_eq!(out.matches(unsupported).count(), 1, "{out}");
    assert!(fnwire.terminate().success());
}

#[test]
fn a_malformed_ncrontab_refuses_start_naming_function_and_field() {
    let app = function_json_app(
        &[("nightly", r#"[{"type":"timerTrigger","direction":"in","name":"t","schedule":"0 99 3 * * *"}]"#)],
        r#"{"version":"2.0"}"#,
    );
    let mut fnwire = Fnwire::spawn(app.path(), &[]);
    let status = fnwire.wait_exit(STARTUP_BOUND);
    let out = fnwire.output();
    assert!(!status.success(), "{out}");
    assert!(out.contains("function `nightly`") && out.contains("minute field `99`"), "{out}");
}

#[test]
fn a_corrupt_database_is_a_clear_error_and_is_not_overwritten() {
    let app = test_worker_app();
    let storage = app.path().join(".fnwire");
    std::fs::create_dir_all(&storage).unwrap();
    let garbage = b"this is not an SQLite database, and fnwire must leave it alone".repeat(100);
    std::fs::write(storage.join("fnwire.db"), &garbage).unwrap();
    let mut fnwire = Fnwire::spawn(app.path(), &[]);
    let status = fnwire.wait_exit(STARTUP_BOUND);
    let out = fnwire.output();
    assert!(!status.success(), "{out}");
    assert!(out.contains("fnwire.db") && out.contains("not a usable fnwire database"), "{out}");
    assert_eq!(std::fs::read(storage.join("fnwire.db")).unwrap(), garbage, "nothing overwritten");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_missed_occurrence_runs_once_past_due_on_restart() {
    let app = function_json_app(
        &[("nightly", r#"[{"type":"timerTrigger","direction":"in","name":"t","schedule":"0 0 3 * * *"}]"#)],
        r#"{"version":"2.0"}"#,
    );
    let store = Store::open(&app.path().join(".fnwire")).unwrap();
    // As a host that stopped before yesterday's 03:00 would have left it.
    let yesterday = chrono::Utc::now() - chrono::Duration::days(1);
    let status = ScheduleStatus {
        last: (yesterday - chrono::Duration::days(1)).to_rfc3339(),
        next: yesterday.to_rfc3339(),
        last_updated: (yesterday - chrono::Duration::days(1)).to_rfc3339(),
    };
    store.set_schedule_status("nightly", &status).unwrap();
    let mut fnwire = Fnwire::start(app.path(), &[]);
    fnwire.wait_for_output("Reason='Timer fired (past due)'", Duration::from_secs(30));
    wait_until(&fnwire, "the status recorded", Duration::from_secs(30), || {
        store.schedule_status("nightly").unwrap().is_some_and(|s| s != status)
    });
    let recorded = store.schedule_status("nightly").unwrap().unwrap();
    let next = chrono::DateTime::parse_from_rfc3339(&recorded.next).unwrap();
    assert!(next > chrono::Utc::now(), "the next occurrence is ahead: {recorded:?}");
    assert!(fnwire.terminate().success());
    assert_eq!(
        fnwire.output().matches("past due").count(),
        2,
        "once (and its start-up note):\n{}",
        fnwire.output()
    );
}

/// Measures (never asserts) end-to-end queue throughput through hello-rust's `work`: messages
/// put on `jobs` to results on `done` (each also writes a blob). Run with
/// `cargo test -p fnwire-host --test it queue_throughput -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "a measurement, not a test"]
async fn queue_throughput() {
    const N: usize = 5000;
    // Baseline, same machine and run: the storage work alone (take, write the blob, complete
    // with one output), no worker.
    let baseline_dir = tempfile::tempdir().unwrap();
    let baseline_store = Store::open(baseline_dir.path()).unwrap();
    let baseline_blobs = BlobStore::new(baseline_dir.path().join("blobs"));
    let jobs: Vec<fnwire_storage::MessageBody> =
        (0..N).map(|i| fnwire_storage::MessageBody::new("jobs", format!("m{i}"))).collect();
    baseline_store.put_many(&jobs).unwrap();
    let started = Instant::now();
    loop {
        let batch = baseline_store.get_messages("jobs", 16, Duration::from_secs(600)).unwrap();
        if batch.is_empty() {
            break;
        }
        for m in batch {
            let upper = String::from_utf8(m.body.clone()).unwrap().to_uppercase();
            baseline_blobs.write(&format!("done/{}.txt", m.id), upper.as_bytes()).unwrap();
            let out = [fnwire_storage::MessageBody::new("done", upper)];
            baseline_store.complete_and_put(Some(("jobs", &m.id, &m.pop_receipt)), &out).unwrap();
        }
    }
    let baseline = N as f64 / started.elapsed().as_secs_f64();

    let storage = tempfile::tempdir().unwrap();
    let mut fnwire = start_with_storage(&hello_rust_dir(), storage.path());
    let store = Store::open(storage.path()).unwrap();
    let started = Instant::now();
    store.put_many(&jobs).unwrap();
    wait_until(&fnwire, "all processed", Duration::from_secs(600), || {
        store.message_count("done").unwrap() as usize >= N
    });
    let elapsed = started.elapsed();
    let rate = N as f64 / elapsed.as_secs_f64();
    eprintln!(
        "queue throughput: {N} messages in {:.2} s = {rate:.0} messages/s (queue trigger → worker → queue + blob \
         outputs); storage alone, serially: {baseline:.0} messages/s; ratio {:.2}",
        elapsed.as_secs_f64(),
        rate / baseline
    );
    assert!(fnwire.terminate().success());
}

#[test]
fn run_on_startup_runs_a_daily_timer_at_once() {
    let app = function_json_app(
        &[(
            "daily",
            r#"[{"type":"timerTrigger","direction":"in","name":"t","schedule":"1.00:00:00","runOnStartup":true}]"#,
        )],
        r#"{"version":"2.0"}"#,
    );
    let mut fnwire = Fnwire::start(app.path(), &[]);
    assert!(fnwire.output().contains("every 24:00:00, runOnStartup"), "{}", fnwire.output());
    fnwire.wait_for_output("timer `daily`: running now (runOnStartup)", Duration::from_secs(30));
    fnwire.wait_for_output("Executing 'daily' (Reason='Timer fired'", Duration::from_secs(30));
    assert!(fnwire.terminate().success());
}

#[test]
fn queue_cli_errors_name_the_input() {
    let app = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(fnwire_exe()).args(args).output().unwrap();
        (
            out.status.success(),
            format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
        )
    };
    let dir = app.path().to_str().unwrap();
    let (ok, out) = run(&["queue", "put", "Bad_Queue", "x", "--app", dir]);
    assert!(!ok && out.contains("`Bad_Queue` is not a valid queue name"), "{out}");
    let (ok, out) = run(&["queue", "list", "--app", "/no/such/app"]);
    assert!(!ok && out.contains("/no/such/app") && out.contains("--app"), "{out}");
    let (ok, out) = run(&["queue", "list", "--app", dir]);
    assert!(ok && out.contains("no queues yet"), "{out}");
    let (ok, _) = run(&["queue", "put", "jobs", "hello", "--app", dir]);
    assert!(ok);
    let (ok, out) = run(&["queue", "peek", "jobs", "--app", dir]);
    assert!(ok && out.contains("hello") && out.contains("holds 1 message"), "{out}");
}

#[test]
fn a_database_locked_by_another_program_is_a_clear_error_at_start() {
    let app = test_worker_app();
    let storage = app.path().join(".fnwire");
    drop(Store::open(&storage).unwrap());
    let holder = rusqlite::Connection::open(storage.join("fnwire.db")).unwrap();
    holder.execute_batch("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE;").unwrap();
    let mut fnwire = Fnwire::spawn(app.path(), &[]);
    let status = fnwire.wait_exit(STARTUP_BOUND);
    let out = fnwire.output();
    assert!(!status.success(), "{out}");
    assert!(out.contains("fnwire.db") && out.contains("locked by another program"), "{out}");
    holder.execute_batch("COMMIT").unwrap();
    drop(holder);
    // Nothing was damaged: the store opens and works.
    Store::open(&storage).unwrap().put("jobs", b"still fine", None).unwrap();
}

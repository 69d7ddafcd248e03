//! Completions that share a transaction: each caller gets its own result, one bad completion
//! never fails or loses the others, and a process killed mid-way loses nothing.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Barrier};
use std::time::Duration;

use fnwire_storage::{BlobStore, Completion, LeasedMessage, MessageBody, StorageError, Store};

use crate::store_with_clock;

const HOLD: Duration = Duration::from_secs(600);

fn put_and_take(store: &Store, n: usize) -> Vec<LeasedMessage> {
    let jobs: Vec<_> = (0..n).map(|i| MessageBody::new("jobs", format!("job {i}"))).collect();
    store.put_many(&jobs).unwrap();
    let mut taken = Vec::new();
    while taken.len() < n {
        let batch = store.get_messages("jobs", 32, HOLD).unwrap();
        assert!(!batch.is_empty(), "all {n} messages can be taken");
        taken.extend(batch);
    }
    taken
}

fn completion(m: &LeasedMessage, output: &str) -> Completion {
    Completion {
        held: Some((m.queue.clone(), m.id.clone(), m.pop_receipt.clone())),
        outputs: vec![MessageBody::new("done", output)],
    }
}

fn bodies(store: &Store, queue: &str) -> HashSet<String> {
    store.peek(queue, 10_000).unwrap().into_iter().map(|m| String::from_utf8(m.body).unwrap()).collect()
}

/// Makes SQLite itself refuse to add a message with body `reject`, the way a full disk or a
/// constraint would refuse one statement: a failure in the middle of a shared transaction.
fn reject_body_reject(dir: &std::path::Path) {
    let conn = rusqlite::Connection::open(dir.join(fnwire_storage::DATABASE_FILE)).unwrap();
    conn.execute_batch(
        "CREATE TRIGGER reject_in_test BEFORE INSERT ON messages WHEN NEW.body = CAST('reject' AS BLOB)
         BEGIN SELECT RAISE(ABORT, 'rejected by the test'); END;",
    )
    .unwrap();
}

#[test]
fn in_one_transaction_each_completion_gets_its_own_result() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _clock) = store_with_clock(dir.path());
    reject_body_reject(dir.path());
    let m = put_and_take(&store, 5);
    let mut stale = completion(&m[1], "stale");
    stale.held.as_mut().unwrap().2 = "not-the-receipt".into();
    let mut bad_queue = completion(&m[4], "x");
    bad_queue.outputs[0].queue = "Bad_Name".into();
    let results = store.complete_many(&[
        completion(&m[0], "ok 0"),
        stale,
        completion(&m[2], "reject"),
        completion(&m[3], "ok 3"),
        bad_queue,
    ]);
    assert!(results[0].is_ok(), "{:?}", results[0]);
    assert!(matches!(results[1], Err(StorageError::PopReceiptMismatch { .. })), "{:?}", results[1]);
    let e = results[2].as_ref().unwrap_err();
    assert!(
        e.to_string().contains("rejected by the test") && e.to_string().contains("adding a message"),
        "{e}"
    );
    assert!(results[3].is_ok(), "{:?}", results[3]);
    assert!(matches!(results[4], Err(StorageError::InvalidQueueName { .. })), "{:?}", results[4]);

    assert_eq!(bodies(&store, "done"), HashSet::from(["ok 0".to_string(), "ok 3".to_string()]));
    // The failed completions left their messages held, not deleted; they come back.
    let left: HashSet<_> = [&m[1], &m[2], &m[4]].iter().map(|m| m.id.clone()).collect();
    assert_eq!(store.release_all_leases().unwrap(), 3);
    let again: HashSet<_> = store.get_messages("jobs", 16, HOLD).unwrap().into_iter().map(|m| m.id).collect();
    assert_eq!(again, left);
}

#[test]
fn concurrent_completions_each_learn_their_own_result_and_a_bad_one_loses_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _clock) = store_with_clock(dir.path());
    reject_body_reject(dir.path());
    let store = Arc::new(store);
    const N: usize = 96;
    let taken = put_and_take(&store, N);
    // Every 8th completes with a stale receipt, every 8th (offset 4) with an output SQLite
    // refuses; the rest must all succeed, whatever group they end up in.
    let expect = |i: usize| match i % 8 {
        0 => "stale",
        4 => "reject",
        _ => "ok",
    };
    let start = Arc::new(Barrier::new(N));
    let threads: Vec<_> = taken
        .into_iter()
        .enumerate()
        .map(|(i, m)| {
            let (store, start) = (store.clone(), start.clone());
            std::thread::spawn(move || {
                let receipt = if expect(i) == "stale" { "stale".to_string() } else { m.pop_receipt.clone() };
                let body = if expect(i) == "reject" { "reject".to_string() } else { format!("out {i}") };
                start.wait();
                let result = store
                    .complete_and_put(Some(("jobs", &m.id, &receipt)), &[MessageBody::new("done", body)]);
                (i, result)
            })
        })
        .collect();
    for t in threads {
        let (i, result) = t.join().unwrap();
        match (expect(i), result) {
            ("ok", Ok(())) => {}
            ("stale", Err(StorageError::PopReceiptMismatch { .. })) => {}
            ("reject", Err(e)) if e.to_string().contains("rejected by the test") => {}
            (what, other) => panic!("completion {i} ({what}) got {other:?}"),
        }
    }
    let want: HashSet<_> = (0..N).filter(|i| expect(*i) == "ok").map(|i| format!("out {i}")).collect();
    assert_eq!(bodies(&store, "done"), want);
    assert_eq!(store.message_count("jobs").unwrap() as usize, N - want.len(), "failed ones are still there");
}

/// The child side of the crash test: completes messages the way the host does (blob first,
/// then the message with its output), many at once, until it is killed.
fn complete_until_killed(dir: &std::path::Path) -> ! {
    let store = Arc::new(Store::open(dir).unwrap());
    let blobs = BlobStore::new(dir.join("blobs"));
    loop {
        let batch = store.get_messages("jobs", 16, HOLD).unwrap();
        let threads: Vec<_> = batch
            .into_iter()
            .map(|m| {
                let (store, blobs) = (store.clone(), blobs.clone());
                std::thread::spawn(move || {
                    blobs.write(&format!("done/{}.txt", m.id), &m.body).unwrap();
                    store
                        .complete_and_put(
                            Some(("jobs", &m.id, &m.pop_receipt)),
                            &[MessageBody::new("done", m.id.clone())],
                        )
                        .unwrap();
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
    }
}

const CHILD_DIR: &str = "FNWIRE_STORAGE_TEST_CRASH_CHILD_DIR";

#[test]
fn a_process_killed_in_the_middle_of_group_commits_loses_nothing() {
    if let Some(dir) = std::env::var_os(CHILD_DIR) {
        complete_until_killed(std::path::Path::new(&dir));
    }
    let dir = tempfile::tempdir().unwrap();
    const N: usize = 3000;
    let ids: HashMap<String, Vec<u8>> = {
        let store = Store::open(dir.path()).unwrap();
        (0..N)
            .map(|i| store.put("jobs", format!("job {i}").as_bytes(), None).unwrap())
            .map(|m| (m.id, m.body))
            .collect()
    };
    // This same test, run again in a child process that takes the other branch above.
    let name = module_path!().split_once("::").map_or("", |(_, m)| m).to_string()
        + "::a_process_killed_in_the_middle_of_group_commits_loses_nothing";
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([name.as_str(), "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir.path())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let observer = Store::open(dir.path()).unwrap();
    // Kill it once some completions are in, while others are on their way. (The bound only
    // keeps a hung child from hanging the test run.)
    let started = std::time::Instant::now();
    loop {
        assert!(started.elapsed() < Duration::from_secs(120), "the child process completed no messages");
        if let Some(status) = child.try_wait().unwrap() {
            panic!("the child process ended by itself ({status}) instead of completing messages");
        }
        if observer.message_count("done").unwrap() >= 200 {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    drop(observer);

    // As a host starting again would: whatever was held is visible again.
    let store = Store::open(dir.path()).unwrap();
    let blobs = BlobStore::new(dir.path().join("blobs"));
    store.release_all_leases().unwrap();
    let done: Vec<String> =
        store.peek("done", N + 1).unwrap().into_iter().map(|m| String::from_utf8(m.body).unwrap()).collect();
    let waiting: Vec<String> = store.peek("jobs", N + 1).unwrap().into_iter().map(|m| m.id).collect();
    assert!(done.len() >= 200, "{} of {N} done", done.len());
    let mut seen = HashSet::new();
    for id in done.iter().chain(&waiting) {
        assert!(seen.insert(id.clone()), "message {id} is both done and waiting, or done twice");
    }
    assert_eq!(seen.len(), N, "every message is either done or still waiting");
    for id in &done {
        let blob = blobs.read(&format!("done/{id}.txt")).unwrap();
        assert_eq!(blob.as_deref(), Some(ids[id].as_slice()), "a completed message has its blob, whole");
    }
}

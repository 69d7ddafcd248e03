use std::time::Duration;

use fnwire_storage::{DATABASE_FILE, MessageBody, MessageTrace, StorageError, Store, StoreOptions};

#[test]
fn a_file_that_is_not_a_database_is_an_error_and_is_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(DATABASE_FILE);
    let garbage: Vec<u8> = (0..8192u32).map(|i| (i * 7 % 251) as u8).collect();
    std::fs::write(&file, &garbage).unwrap();
    let e = Store::open(dir.path()).unwrap_err();
    assert!(matches!(e, StorageError::Corrupt { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains(DATABASE_FILE) && text.contains("untouched"), "{text}");
    assert_eq!(std::fs::read(&file).unwrap(), garbage, "nothing overwritten");
}

#[test]
fn a_database_locked_by_another_program_is_an_error_at_open() {
    let dir = tempfile::tempdir().unwrap();
    drop(Store::open(dir.path()).unwrap());
    let holder = rusqlite_connection(&dir.path().join(DATABASE_FILE));
    holder.execute_batch("PRAGMA locking_mode = EXCLUSIVE; BEGIN EXCLUSIVE;").unwrap();
    let options = StoreOptions { busy_timeout: Duration::from_millis(100), ..StoreOptions::default() };
    let e = Store::open_with(dir.path(), options).unwrap_err();
    assert!(e.is_locked(), "{e:?}");
    assert!(e.to_string().contains("locked by another program"), "{e}");
    holder.execute_batch("COMMIT").unwrap();
}

fn rusqlite_connection(path: &std::path::Path) -> rusqlite::Connection {
    rusqlite::Connection::open(path).unwrap()
}

fn count_messages(store: &Store) -> u64 {
    store.message_count("jobs").unwrap()
}

#[test]
fn an_empty_database_file_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(DATABASE_FILE);
    std::fs::write(&file, b"").unwrap();
    let e = Store::open(dir.path()).unwrap_err();
    assert!(matches!(e, StorageError::Empty { .. }), "{e:?}");
    let text = e.to_string();
    assert!(text.contains("0 bytes") && text.contains("fnwire store restore"), "{text}");
    assert_eq!(std::fs::metadata(&file).unwrap().len(), 0, "nothing written");
}

#[test]
fn a_short_file_that_is_not_sqlite_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(DATABASE_FILE);
    std::fs::write(&file, b"hello").unwrap();
    let e = Store::open(dir.path()).unwrap_err();
    assert!(matches!(e, StorageError::Corrupt { .. }), "{e:?}");
    assert_eq!(std::fs::read(&file).unwrap(), b"hello");
}

#[test]
fn a_new_store_is_created_whole_and_reopens_with_its_messages() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.put("jobs", b"one", None).unwrap();
    drop(store);
    let names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    assert!(!names.iter().any(|n| n.contains("creating")), "{names:?}");
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(count_messages(&store), 1);
}

/// A store with enough messages to span many pages, closed (so the WAL is checkpointed).
fn store_with_pages(dir: &std::path::Path) {
    let store = Store::open(dir).unwrap();
    for i in 0..300 {
        store.put("jobs", format!("message {i} {}", "x".repeat(500)).as_bytes(), None).unwrap();
    }
}

#[test]
fn a_damaged_page_is_found_at_open_and_the_file_is_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    store_with_pages(dir.path());
    let file = dir.path().join(DATABASE_FILE);
    let mut bytes = std::fs::read(&file).unwrap();
    let page_size = 4096;
    assert!(bytes.len() > page_size * 20, "{} bytes", bytes.len());
    // Scribble over the cell area of a page of the messages table: the one holding a message
    // from the middle (found by its text, so the schema's layout does not matter).
    let needle = b"message 150 ";
    let at = bytes.windows(needle.len()).position(|w| w == needle).expect("the message is in the file");
    let page = at / page_size;
    for b in &mut bytes[page_size * page + 8..page_size * page + 200] {
        *b = 0xA5;
    }
    std::fs::write(&file, &bytes).unwrap();
    let e = Store::open(dir.path()).unwrap_err();
    assert!(matches!(e, StorageError::Damaged { .. } | StorageError::Corrupt { .. }), "{e:?}");
    assert!(e.to_string().contains("fnwire store restore") || e.to_string().contains("untouched"), "{e}");
    assert_eq!(std::fs::read(&file).unwrap(), bytes, "nothing written");
}

#[test]
fn a_second_host_on_the_same_store_is_refused_but_queue_commands_still_open_it() {
    let dir = tempfile::tempdir().unwrap();
    let host = Store::open_for_host(dir.path(), StoreOptions::default()).unwrap();
    assert!(host.holds_host_lock());
    let e = Store::open_for_host(dir.path(), StoreOptions::default()).unwrap_err();
    assert!(matches!(e, StorageError::HeldByAnotherHost { .. }), "{e:?}");
    let text = e.to_string();
    assert!(
        text.contains(&format!("process {}", std::process::id())) && text.contains("FNWIRE_STORAGE_DIR"),
        "{text}"
    );
    let cli = Store::open(dir.path()).unwrap();
    cli.put("jobs", b"from the cli", None).unwrap();
    assert_eq!(count_messages(&host), 1);
    drop(host);
    assert!(Store::open_for_host(dir.path(), StoreOptions::default()).is_ok(), "the lock goes with the host");
}

#[test]
fn backup_while_open_and_restore_bring_the_messages_back() {
    let dir = tempfile::tempdir().unwrap();
    let backups = tempfile::tempdir().unwrap();
    let copy = backups.path().join("copy.db");
    let store = Store::open_for_host(dir.path(), StoreOptions::default()).unwrap();
    store.put("jobs", b"kept", None).unwrap();
    store.backup_to(&copy).unwrap();
    let e = store.backup_to(&copy).unwrap_err();
    assert!(e.to_string().contains("refusing to overwrite"), "{e}");
    store.put("jobs", b"after the backup", None).unwrap();
    assert_eq!(store.check(fnwire_storage::IntegrityCheck::Full).unwrap().messages, 2);
    // A running host holds the store: restoring under it is refused.
    let e = fnwire_storage::restore(dir.path(), &copy).unwrap_err();
    assert!(matches!(e, StorageError::HeldByAnotherHost { .. }), "{e:?}");
    drop(store);
    let kept = fnwire_storage::restore(dir.path(), &copy).unwrap();
    let store = Store::open(dir.path()).unwrap();
    assert_eq!(count_messages(&store), 1, "the store is the backup again");
    let previous = tempfile::tempdir().unwrap();
    std::fs::copy(&kept, previous.path().join(DATABASE_FILE)).unwrap();
    assert_eq!(count_messages(&Store::open(previous.path()).unwrap()), 2, "the replaced store was kept");
}

#[test]
fn restore_refuses_a_file_that_is_not_an_fnwire_store_and_touches_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.put("jobs", b"kept", None).unwrap();
    drop(store);
    let other = tempfile::tempdir().unwrap();
    let not_ours = other.path().join("other.db");
    rusqlite_connection(&not_ours).execute_batch("CREATE TABLE t (x);").unwrap();
    let e = fnwire_storage::restore(dir.path(), &not_ours).unwrap_err();
    assert!(e.to_string().contains("not an fnwire store"), "{e}");
    let empty = other.path().join("empty.db");
    std::fs::write(&empty, b"").unwrap();
    assert!(matches!(fnwire_storage::restore(dir.path(), &empty).unwrap_err(), StorageError::Empty { .. }));
    assert_eq!(count_messages(&Store::open(dir.path()).unwrap()), 1);
}

#[test]
fn restore_replaces_an_empty_store() {
    let dir = tempfile::tempdir().unwrap();
    let backups = tempfile::tempdir().unwrap();
    let copy = backups.path().join("copy.db");
    let store = Store::open(dir.path()).unwrap();
    store.put("jobs", b"kept", None).unwrap();
    store.backup_to(&copy).unwrap();
    drop(store);
    std::fs::write(dir.path().join(DATABASE_FILE), b"").unwrap();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(dir.path().join(format!("{DATABASE_FILE}{suffix}")));
    }
    fnwire_storage::restore(dir.path(), &copy).unwrap();
    assert_eq!(count_messages(&Store::open(dir.path()).unwrap()), 1);
}

#[test]
fn a_database_from_before_trace_columns_gets_them_at_open_and_its_messages_carry_none() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    store.put("work", b"old", None).unwrap();
    drop(store);
    // The messages table as fnwire created it before messages carried a trace context.
    let old = rusqlite_connection(&dir.path().join(DATABASE_FILE));
    old.execute_batch(
        "ALTER TABLE messages DROP COLUMN traceparent; ALTER TABLE messages DROP COLUMN tracestate;",
    )
    .unwrap();
    drop(old);
    let store = Store::open(dir.path()).unwrap();
    let trace = MessageTrace::new("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "vendor=1");
    store.put_many(&[MessageBody::new("work", b"new".to_vec()).with_trace(trace.clone())]).unwrap();
    let taken = store.get_messages("work", 10, Duration::from_secs(30)).unwrap();
    let got: Vec<_> = taken.iter().map(|m| (m.body.as_slice(), m.trace.clone())).collect();
    assert_eq!(got, vec![(&b"old"[..], None), (&b"new"[..], trace)]);
    drop(store);
    // Opening again finds the columns there and adds nothing.
    drop(Store::open(dir.path()).unwrap());
}

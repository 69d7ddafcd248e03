use std::time::Duration;

use fnwire_storage::{DATABASE_FILE, StorageError, Store, StoreOptions};

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

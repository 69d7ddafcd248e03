//! Checking, backing up and restoring the store file (`fnwire store check|backup|restore`).
//!
//! Backups use SQLite's online backup API: a consistent copy while a host keeps writing, WAL
//! content included. A backup is written beside its destination and renamed into place, so an
//! interrupted one never leaves a half-written file under the final name.

use std::path::{Path, PathBuf};

use rusqlite::backup::{Backup, StepResult};
use rusqlite::{Connection, OpenFlags};

use crate::{DATABASE_FILE, HostLock, StorageError, Store};

/// How much of the file an integrity check reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum IntegrityCheck {
    /// `PRAGMA quick_check`: every page and record, without matching indexes to their tables.
    /// Runs at every start.
    #[default]
    Quick,
    /// `PRAGMA integrity_check`: also every index against its table.
    Full,
    /// No check.
    Skip,
}

/// The problems SQLite reports (empty when the file is sound).
pub(crate) fn integrity_problems(conn: &Connection, check: IntegrityCheck) -> rusqlite::Result<Vec<String>> {
    let pragma = match check {
        IntegrityCheck::Quick => "PRAGMA quick_check(20)",
        IntegrityCheck::Full => "PRAGMA integrity_check(20)",
        IntegrityCheck::Skip => return Ok(Vec::new()),
    };
    let mut statement = conn.prepare(pragma)?;
    let rows = statement.query_map([], |r| r.get::<_, String>(0))?;
    let lines = rows.collect::<rusqlite::Result<Vec<String>>>()?;
    Ok(lines.into_iter().filter(|l| l != "ok").collect())
}

/// SQLite's file header; anything else is not a database.
const SQLITE_HEADER: &[u8; 16] = b"SQLite format 3\0";

/// Refuses a file that exists but cannot be an fnwire store: empty, or not SQLite.
pub(crate) fn refuse_unusable_file(path: &Path) -> Result<(), StorageError> {
    let Ok(meta) = std::fs::metadata(path) else { return Ok(()) };
    if meta.len() == 0 {
        return Err(StorageError::Empty { path: path.to_path_buf() });
    }
    let mut header = [0u8; 16];
    let read = std::fs::File::open(path).and_then(|mut f| {
        use std::io::Read;
        f.read_exact(&mut header)
    });
    if read.is_err() || &header != SQLITE_HEADER {
        return Err(StorageError::Corrupt {
            path: path.to_path_buf(),
            detail: "it does not start with SQLite's file header".into(),
        });
    }
    Ok(())
}

/// What `fnwire store check` found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckReport {
    pub path: PathBuf,
    pub pages: i64,
    pub page_size: i64,
    pub messages: i64,
}

impl Store {
    /// Runs an integrity check on the open store; a damaged file is [`StorageError::Damaged`].
    pub fn check(&self, check: IntegrityCheck) -> Result<CheckReport, StorageError> {
        let conn = self.lock();
        let problems =
            integrity_problems(&conn, check).map_err(|e| self.sql_error("checking the database", e))?;
        if !problems.is_empty() {
            return Err(StorageError::Damaged { path: self.path.clone(), problems: problems.join("; ") });
        }
        let read = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0));
        let report = || -> rusqlite::Result<CheckReport> {
            Ok(CheckReport {
                path: self.path.clone(),
                pages: read("PRAGMA page_count")?,
                page_size: read("PRAGMA page_size")?,
                messages: read("SELECT COUNT(*) FROM messages")?,
            })
        };
        report().map_err(|e| self.sql_error("reading the database's size", e))
    }

    /// Writes a consistent copy of the store to `destination` (which must not exist), while
    /// other connections may keep writing.
    pub fn backup_to(&self, destination: &Path) -> Result<(), StorageError> {
        if destination.exists() {
            return Err(StorageError::File {
                path: destination.to_path_buf(),
                what: "refusing to overwrite an existing file with the backup; choose a new name",
                source: std::io::Error::from(std::io::ErrorKind::AlreadyExists),
            });
        }
        let partial = partial_path(destination);
        let _ = std::fs::remove_file(&partial);
        let result = self.copy_into(&partial);
        let result = result.and_then(|()| {
            std::fs::rename(&partial, destination).map_err(|source| StorageError::File {
                path: destination.to_path_buf(),
                what: "moving the finished backup into place",
                source,
            })
        });
        if result.is_err() {
            let _ = std::fs::remove_file(&partial);
        }
        result
    }

    fn copy_into(&self, partial: &Path) -> Result<(), StorageError> {
        let fail = |what, e| StorageError::from_sql(partial, what, e);
        let mut destination = Connection::open(partial).map_err(|e| fail("creating the backup file", e))?;
        {
            let source = self.lock();
            copy_all(&source, &mut destination).map_err(|e| fail("copying the database", e))?;
        }
        let problems = integrity_problems(&destination, IntegrityCheck::Quick)
            .map_err(|e| fail("checking the backup", e))?;
        if !problems.is_empty() {
            return Err(StorageError::Damaged { path: partial.to_path_buf(), problems: problems.join("; ") });
        }
        destination.close().map_err(|(_, e)| fail("closing the backup", e))
    }
}

/// Copies every page in one step, so writers elsewhere cannot make the copy start over.
fn copy_all(source: &Connection, destination: &mut Connection) -> rusqlite::Result<()> {
    let backup = Backup::new(source, destination)?;
    for _ in 0..50 {
        match backup.step(-1)? {
            StepResult::Done => return Ok(()),
            StepResult::More | StepResult::Busy | StepResult::Locked => {
                std::thread::sleep(std::time::Duration::from_millis(100));
            }
            _ => std::thread::sleep(std::time::Duration::from_millis(100)),
        }
    }
    Err(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
        Some("the database stayed busy for 5 s".into()),
    ))
}

fn partial_path(destination: &Path) -> PathBuf {
    let mut name = destination.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".partial");
    destination.with_file_name(name)
}

/// Replaces the store in `dir` with the backup at `source`. Refused while a host holds the
/// store; the backup must pass a full integrity check and hold fnwire's tables, else nothing
/// is touched. The replaced file is kept as `fnwire.db.before-restore`.
pub fn restore(dir: &Path, source: &Path) -> Result<PathBuf, StorageError> {
    let _host = HostLock::acquire(dir)?;
    refuse_unusable_file(source)?;
    if !source.exists() {
        return Err(StorageError::File {
            path: source.to_path_buf(),
            what: "reading the backup",
            source: std::io::Error::from(std::io::ErrorKind::NotFound),
        });
    }
    let fail = |what, e| StorageError::from_sql(source, what, e);
    let backup = Connection::open_with_flags(source, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| fail("opening the backup", e))?;
    let problems =
        integrity_problems(&backup, IntegrityCheck::Full).map_err(|e| fail("checking the backup", e))?;
    if !problems.is_empty() {
        return Err(StorageError::Damaged { path: source.to_path_buf(), problems: problems.join("; ") });
    }
    let has_messages: i64 = backup
        .query_row("SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'messages'", [], |r| {
            r.get(0)
        })
        .map_err(|e| fail("reading the backup's tables", e))?;
    if has_messages == 0 {
        return Err(StorageError::Corrupt {
            path: source.to_path_buf(),
            detail: "it is an SQLite database but not an fnwire store (no `messages` table)".into(),
        });
    }
    let target = dir.join(DATABASE_FILE);
    let kept = dir.join(format!("{DATABASE_FILE}.before-restore"));
    let _ = std::fs::remove_file(&kept);
    if target.exists() {
        match Store::open_with(dir, crate::StoreOptions { check: IntegrityCheck::Skip, ..Default::default() })
        {
            // A consistent copy of the current store, its WAL included.
            Ok(current) => current.backup_to(&kept)?,
            // An unusable file is moved aside whole, with its WAL.
            Err(_) => {
                for suffix in ["", "-wal", "-shm"] {
                    let from = dir.join(format!("{DATABASE_FILE}{suffix}"));
                    let to = dir.join(format!("{DATABASE_FILE}.before-restore{suffix}"));
                    if from.exists() {
                        std::fs::rename(&from, &to).map_err(|source| StorageError::File {
                            path: from.clone(),
                            what: "moving the unusable store aside",
                            source,
                        })?;
                    }
                }
            }
        }
    }
    let mut destination = Connection::open(&target).map_err(|e| StorageError::from_open(&target, e))?;
    copy_all(&backup, &mut destination)
        .map_err(|e| StorageError::from_sql(&target, "restoring the backup", e))?;
    Ok(kept)
}

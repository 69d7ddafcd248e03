//! One host per embedded store.
//!
//! Two hosts on one store would each release the other's held messages at start and run the
//! same message twice. A host therefore holds an exclusive `flock` on `fnwire.db.host-lock` for
//! as long as it runs; `fnwire queue` and `fnwire store check|backup` do not take it, so they
//! keep working beside a host. The lock is a separate file, not the database: SQLite uses POSIX
//! record locks on the database, which any other descriptor of the same file would drop, and
//! `PRAGMA locking_mode = EXCLUSIVE` would shut out those commands too. The kernel drops the lock
//! when the host dies, even by `kill -9`, so a stale lock file never blocks a restart.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::StorageError;

/// Name of the lock file beside the database.
pub const HOST_LOCK_FILE: &str = "fnwire.db.host-lock";

/// The held lock; dropping it (or the process ending) releases it.
#[derive(Debug)]
pub struct HostLock {
    _file: File,
    path: PathBuf,
}

impl HostLock {
    /// Takes the store's host lock in `dir`, or says which process holds it.
    pub fn acquire(dir: &Path) -> Result<HostLock, StorageError> {
        let path = dir.join(HOST_LOCK_FILE);
        let file_error = |what, source| StorageError::File { path: path.clone(), what, source };
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| file_error("opening the host lock file", e))?;
        if !try_lock_exclusive(&file).map_err(|e| file_error("locking the host lock file", e))? {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = holder.trim();
            let holder = if holder.is_empty() { "unknown".to_string() } else { holder.to_string() };
            return Err(StorageError::HeldByAnotherHost { path: dir.join(crate::DATABASE_FILE), holder });
        }
        // Who holds it, for the message a second host prints.
        let write_pid = |file: &mut File| -> std::io::Result<()> {
            file.set_len(0)?;
            file.rewind()?;
            file.write_all(std::process::id().to_string().as_bytes())
        };
        write_pid(&mut file).map_err(|e| file_error("writing the host lock file", e))?;
        Ok(HostLock { _file: file, path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

/// `Ok(false)` when another open file description holds the lock.
#[cfg(unix)]
fn try_lock_exclusive(file: &File) -> std::io::Result<bool> {
    use rustix::fs::{FlockOperation, flock};
    match flock(file, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(true),
        Err(e) if e == rustix::io::Errno::WOULDBLOCK => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Without `flock` the store is not guarded against a second host.
#[cfg(not(unix))]
fn try_lock_exclusive(_file: &File) -> std::io::Result<bool> {
    Ok(true)
}

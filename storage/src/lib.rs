//! fnwire's embedded storage, so a function app runs on a laptop with nothing installed:
//!
//! * [`Store`]: one SQLite database (WAL mode) holding queues with Azure Storage Queue
//!   semantics (visibility timeout, dequeue count, pop receipts, message TTL, poison queues)
//!   and the timer schedule status of each timer function;
//! * [`BlobStore`]: blobs as files under a folder, `<container>/<name>`.
//!
//! Several processes may use the same database at once (the host and `fnwire queue …`): WAL
//! mode lets readers and one writer proceed together, and a busy timeout waits out short locks.
//! A file that is not a database, or one held locked by another program, is an error at
//! [`Store::open`]; nothing is ever overwritten or recreated.

mod blob;
mod error;
mod group;
mod queue;
mod timer;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::Connection;

pub use blob::{BlobPathError, BlobStore};
pub use error::StorageError;
pub use queue::{
    Completion, DEFAULT_MESSAGE_TTL, LeasedMessage, MessageBody, PeekedMessage, QueueSummary,
    poison_queue_name, validate_queue_name,
};
pub use timer::ScheduleStatus;

/// Name of the database file inside the storage directory.
pub const DATABASE_FILE: &str = "fnwire.db";

/// Where "now" comes from; tests pass a clock they move by hand.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

/// Options of [`Store::open_with`].
#[derive(Clone)]
pub struct StoreOptions {
    /// How long a statement waits for another process's lock before failing.
    pub busy_timeout: Duration,
    pub clock: Clock,
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions").field("busy_timeout", &self.busy_timeout).finish_non_exhaustive()
    }
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions { busy_timeout: Duration::from_secs(5), clock: Arc::new(Utc::now) }
    }
}

/// The embedded queue and timer-status store (one SQLite file).
pub struct Store {
    conn: Mutex<Connection>,
    /// Completions waiting to share a transaction (see `group.rs`).
    group: group::GroupCommit,
    path: PathBuf,
    clock: Clock,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish_non_exhaustive()
    }
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS queues (
    name TEXT PRIMARY KEY,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    queue TEXT NOT NULL,
    body BLOB NOT NULL,
    inserted_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    visible_ms INTEGER NOT NULL,
    dequeue_count INTEGER NOT NULL DEFAULT 0,
    pop_receipt TEXT,
    leased INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS messages_by_queue ON messages (queue, visible_ms, seq);
-- Purging expired messages and counting live ones read this index alone, never every row
-- of a queue.
CREATE INDEX IF NOT EXISTS messages_by_expiry ON messages (queue, expires_ms);
CREATE TABLE IF NOT EXISTS timer_status (
    function TEXT PRIMARY KEY,
    last TEXT NOT NULL,
    next TEXT NOT NULL,
    last_updated TEXT NOT NULL
);
";

impl Store {
    /// Opens (creating if needed) `<dir>/fnwire.db` with default options.
    pub fn open(dir: &Path) -> Result<Store, StorageError> {
        Store::open_with(dir, StoreOptions::default())
    }

    /// Opens (creating if needed) `<dir>/fnwire.db`. A file that is not an fnwire database,
    /// or one another program holds locked, is an error; the file is left as it was.
    pub fn open_with(dir: &Path, options: StoreOptions) -> Result<Store, StorageError> {
        std::fs::create_dir_all(dir)
            .map_err(|source| StorageError::CreateDir { dir: dir.to_path_buf(), source })?;
        let path = dir.join(DATABASE_FILE);
        let fail = |e: rusqlite::Error| StorageError::from_open(&path, e);
        let conn = Connection::open(&path).map_err(fail)?;
        conn.busy_timeout(options.busy_timeout).map_err(fail)?;
        // Reading the schema is the first access to the file: a non-database fails here,
        // before anything is written.
        let _: i64 = conn.query_row("PRAGMA schema_version", [], |r| r.get(0)).map_err(fail)?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(fail)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StorageError::Locked {
                path: path.clone(),
                detail: format!("could not switch it to WAL mode (it stays in `{mode}` mode)"),
            });
        }
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(fail)?;
        conn.execute_batch(&format!("BEGIN IMMEDIATE; {SCHEMA} COMMIT;")).map_err(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            fail(e)
        })?;
        Ok(Store { conn: Mutex::new(conn), group: group::GroupCommit::default(), path, clock: options.clock })
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    pub(crate) fn now(&self) -> DateTime<Utc> {
        (self.clock)()
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(crate) fn sql_error(&self, what: &'static str, e: rusqlite::Error) -> StorageError {
        StorageError::from_sql(&self.path, what, e)
    }
}

pub(crate) fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

pub(crate) fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

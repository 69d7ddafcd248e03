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

mod backend;
mod blob;
mod blob_trigger;
pub use blob_trigger::BLOB_WORK_TTL;
mod error;
mod group;
mod host_lock;
mod maintenance;
mod queue;
mod table;
mod timer;
mod topic;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::Connection;

pub use backend::{
    BlobBackend, QueueStore, TableStore, TableSummary, TableWrite, TableWriteMode, TopicStore,
};
pub use blob::{BlobPathError, BlobProperties, BlobStore, content_type_of, normalize_blob_path};
pub use error::StorageError;
pub use host_lock::{HOST_LOCK_FILE, HostLock};
pub use maintenance::{CheckReport, IntegrityCheck, restore};
pub use queue::{
    Completion, DEFAULT_MESSAGE_TTL, LeasedMessage, MessageBody, MessageTrace, PeekedMessage, QueueSummary,
    poison_queue_name, queue_age_since, validate_queue_name,
};
pub use timer::ScheduleStatus;
pub use topic::{
    EntitySummary, LockedMessage as LockedCopy, MAX_DELIVERY_REASON, MessageLock, Outgoing, PeekedCopy,
    RuleCache, SendOutcome, SubscriptionSummary, TTL_EXPIRED_REASON, check_rules, decode_message,
    encode_properties,
};

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
    /// The integrity check run at open (quick by default).
    pub check: IntegrityCheck,
}

impl std::fmt::Debug for StoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreOptions")
            .field("busy_timeout", &self.busy_timeout)
            .field("check", &self.check)
            .finish_non_exhaustive()
    }
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            busy_timeout: Duration::from_secs(5),
            clock: Arc::new(Utc::now),
            check: IntegrityCheck::Quick,
        }
    }
}

/// The embedded queue and timer-status store (one SQLite file).
pub struct Store {
    conn: Mutex<Connection>,
    /// Completions waiting to share a transaction (see `group.rs`).
    group: group::GroupCommit,
    path: PathBuf,
    clock: Clock,
    /// Held by a host for as long as the store is open (see `host_lock.rs`).
    host_lock: Option<HostLock>,
    /// Compiled subscription rules (see `topic.rs`).
    rules: topic::RuleCache,
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
    leased INTEGER NOT NULL DEFAULT 0,
    -- The W3C trace context of the invocation that put the message (see `MessageTrace`);
    -- NULL when none. Databases made before these columns get them at open.
    traceparent TEXT,
    tracestate TEXT
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
-- One row per timer occurrence claimed (see `QueueStore::claim_timer_occurrence`).
CREATE TABLE IF NOT EXISTS timer_occurrences (
    function TEXT NOT NULL,
    due_ms INTEGER NOT NULL,
    owner TEXT NOT NULL,
    expires_ms INTEGER NOT NULL,
    done INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (function, due_ms)
);
-- Azure Tables (see `table.rs`): names are case-insensitive, so a table is keyed by its name
-- in lower case and keeps the spelling it was created with.
CREATE TABLE IF NOT EXISTS table_names (
    key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS table_entities (
    table_key TEXT NOT NULL,
    partition_key TEXT NOT NULL,
    row_key TEXT NOT NULL,
    properties TEXT NOT NULL,
    timestamp_us INTEGER NOT NULL,
    etag TEXT NOT NULL,
    PRIMARY KEY (table_key, partition_key, row_key)
) WITHOUT ROWID;
-- The latest blob version each blob-trigger function has found (see `blob_trigger.rs`).
CREATE TABLE IF NOT EXISTS blob_receipts (
    function TEXT NOT NULL,
    blob_path TEXT NOT NULL,
    etag TEXT NOT NULL,
    found_ms INTEGER NOT NULL,
    PRIMARY KEY (function, blob_path)
);
";

impl Store {
    /// Opens (creating if needed) `<dir>/fnwire.db` with default options.
    pub fn open(dir: &Path) -> Result<Store, StorageError> {
        Store::open_with(dir, StoreOptions::default())
    }

    /// Opens the store for a host: first takes the store's host lock (a second host on the same
    /// store is refused, see `host_lock.rs`), then opens it as [`Store::open_with`] does.
    pub fn open_for_host(dir: &Path, options: StoreOptions) -> Result<Store, StorageError> {
        std::fs::create_dir_all(dir)
            .map_err(|source| StorageError::CreateDir { dir: dir.to_path_buf(), source })?;
        let lock = HostLock::acquire(dir)?;
        let mut store = Store::open_with(dir, options)?;
        store.host_lock = Some(lock);
        Ok(store)
    }

    /// Opens (creating if needed) `<dir>/fnwire.db`. A file that is not an fnwire database, an
    /// empty one, one that fails the integrity check, or one another program holds locked, is
    /// an error; the file is left as it was.
    pub fn open_with(dir: &Path, options: StoreOptions) -> Result<Store, StorageError> {
        std::fs::create_dir_all(dir)
            .map_err(|source| StorageError::CreateDir { dir: dir.to_path_buf(), source })?;
        let path = dir.join(DATABASE_FILE);
        if path.exists() {
            maintenance::refuse_unusable_file(&path)?;
        } else {
            create_database(&path)?;
        }
        let fail = |e: rusqlite::Error| StorageError::from_open(&path, e);
        let conn = Connection::open_with_flags(
            &path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(fail)?;
        conn.busy_timeout(options.busy_timeout).map_err(fail)?;
        // Reading the schema is the first access to the file: a non-database fails here,
        // before anything is written.
        let _: i64 = conn.query_row("PRAGMA schema_version", [], |r| r.get(0)).map_err(fail)?;
        let problems = maintenance::integrity_problems(&conn, options.check).map_err(fail)?;
        if !problems.is_empty() {
            return Err(StorageError::Damaged { path: path.clone(), problems: problems.join("; ") });
        }
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(fail)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StorageError::Locked {
                path: path.clone(),
                detail: format!("could not switch it to WAL mode (it stays in `{mode}` mode)"),
            });
        }
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(fail)?;
        let upgrade = || -> rusqlite::Result<()> {
            conn.execute_batch(&format!("BEGIN IMMEDIATE; {SCHEMA} {}", topic::SCHEMA))?;
            add_missing_columns(&conn)?;
            conn.execute_batch("COMMIT")
        };
        upgrade().map_err(|e| {
            let _ = conn.execute_batch("ROLLBACK");
            fail(e)
        })?;
        Ok(Store {
            conn: Mutex::new(conn),
            group: group::GroupCommit::default(),
            path,
            clock: options.clock,
            host_lock: None,
            rules: topic::RuleCache::default(),
        })
    }

    /// Whether this store holds the host lock ([`Store::open_for_host`]).
    pub fn holds_host_lock(&self) -> bool {
        self.host_lock.is_some()
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

/// Columns added to tables after their first release: `CREATE TABLE IF NOT EXISTS` leaves an
/// older database's table as it was, so each is added here when it is missing. Adding a
/// nullable column rewrites no row, and an older fnwire still reads and writes the table.
const ADDED_COLUMNS: &[(&str, &str, &str)] =
    &[("messages", "traceparent", "TEXT"), ("messages", "tracestate", "TEXT")];

/// Adds [`ADDED_COLUMNS`] that `conn`'s tables lack; run inside the opening transaction, so two
/// processes opening an older database at once add each column once.
fn add_missing_columns(conn: &Connection) -> rusqlite::Result<()> {
    for (table, column, kind) in ADDED_COLUMNS {
        let present: bool = conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM pragma_table_info(?1) WHERE name = ?2)",
            rusqlite::params![table, column],
            |r| r.get(0),
        )?;
        if !present {
            conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))?;
        }
    }
    Ok(())
}

/// Creates a new database under a temporary name and moves it into place once it has its
/// header, schema and WAL mode: an existing `fnwire.db` is then never empty, so an empty one
/// always means a file that was cut short, which [`Store::open_with`] refuses.
fn create_database(path: &Path) -> Result<(), StorageError> {
    let mut creating = path.as_os_str().to_os_string();
    creating.push(".creating");
    let creating = PathBuf::from(creating);
    for suffix in ["", "-wal", "-shm", "-journal"] {
        let mut stale = creating.as_os_str().to_os_string();
        stale.push(suffix);
        let _ = std::fs::remove_file(PathBuf::from(stale));
    }
    let fail = |e: rusqlite::Error| StorageError::from_open(&creating, e);
    let conn = Connection::open(&creating).map_err(fail)?;
    conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0)).map_err(fail)?;
    conn.execute_batch(&format!("BEGIN IMMEDIATE; {SCHEMA} {} COMMIT;", topic::SCHEMA)).map_err(fail)?;
    // Closing the last connection checkpoints the WAL into the file and removes it.
    conn.close().map_err(|(_, e)| fail(e))?;
    std::fs::rename(&creating, path).map_err(|source| StorageError::File {
        path: path.to_path_buf(),
        what: "moving the new database into place",
        source,
    })
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

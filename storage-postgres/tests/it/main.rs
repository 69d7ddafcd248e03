//! The store's behaviour, run from one test body against both backends: the embedded SQLite
//! store and PostgreSQL (a database of its own per test, dropped afterwards). The server is
//! the one `FNWIRE_TEST_POSTGRES` names, `postgres://postgres@127.0.0.1:5432/postgres` by
//! default (`scripts/postgres.sh` starts one when none answers).

mod backends;
mod blob_trigger;
mod postgres_only;
mod tables;
#[path = "../../../storage/tests/it/topic_behaviour.rs"]
pub mod topic_behaviour;
mod topics;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use fnwire_storage::{BlobBackend, BlobStore, QueueStore, Store, StoreOptions};
use fnwire_storage_postgres::{PgStore, PgStoreOptions};

/// A clock the test moves by hand, so no test depends on wall-clock time.
#[derive(Clone, Debug)]
pub struct ManualClock(Arc<Mutex<DateTime<Utc>>>);

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock(Arc::new(Mutex::new(DateTime::from_timestamp(1_800_000_000, 0).unwrap())))
    }
}

impl ManualClock {
    pub fn advance(&self, d: Duration) {
        *self.0.lock().unwrap() += chrono::Duration::from_std(d).unwrap();
    }

    pub fn now(&self) -> DateTime<Utc> {
        *self.0.lock().unwrap()
    }

    fn as_clock(&self) -> fnwire_storage::Clock {
        let c = self.clone();
        Arc::new(move || c.now())
    }
}

pub use fnwire_storage_postgres::testing::TestDatabase;

pub fn pg_store(db: &TestDatabase, clock: &ManualClock) -> PgStore {
    PgStore::open_with(&db.url, PgStoreOptions { clock: clock.as_clock(), ..PgStoreOptions::default() })
        .unwrap()
}

/// Runs `body` on a SQLite store, then on a PostgreSQL store; each with a fresh clock. The
/// name says which backend failed.
pub fn on_both(body: impl Fn(&str, &dyn QueueStore, &ManualClock)) {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::default();
    let sqlite =
        Store::open_with(dir.path(), StoreOptions { clock: clock.as_clock(), ..StoreOptions::default() })
            .unwrap();
    body("sqlite", &sqlite, &clock);
    let db = TestDatabase::new();
    let clock = ManualClock::default();
    let pg = pg_store(&db, &clock);
    body("postgres", &pg, &clock);
}

/// Runs `body` on blobs in a folder, then on blobs in a PostgreSQL database.
pub fn on_both_blob_stores(body: impl Fn(&str, &dyn BlobBackend)) {
    let dir = tempfile::tempdir().unwrap();
    body("folder", &BlobStore::new(dir.path().join("blobs")));
    let db = TestDatabase::new();
    body("postgres", &PgStore::open(&db.url).unwrap());
}

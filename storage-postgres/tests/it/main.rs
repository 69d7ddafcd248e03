//! The store's behaviour, run from one test body against both backends: the embedded SQLite
//! store and PostgreSQL (a database of its own per test, dropped afterwards). The server is
//! the one `FNWIRE_TEST_POSTGRES` names, `postgres://postgres@127.0.0.1:5432/postgres` by
//! default (`scripts/postgres.sh` starts one when none answers).

mod backends;
mod postgres_only;
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

pub fn server_url() -> String {
    std::env::var("FNWIRE_TEST_POSTGRES")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into())
}

/// A database made for one test and dropped when it ends.
#[derive(Debug)]
pub struct TestDatabase {
    pub url: String,
    name: String,
}

impl Default for TestDatabase {
    fn default() -> Self {
        Self::new()
    }
}

impl TestDatabase {
    pub fn new() -> TestDatabase {
        // On a thread of its own: the blocking client cannot run inside an async test.
        std::thread::spawn(TestDatabase::create).join().unwrap()
    }

    fn create() -> TestDatabase {
        let server = server_url();
        let mut admin = postgres::Client::connect(&server, postgres::NoTls).unwrap_or_else(|e| {
            panic!(
                "no PostgreSQL server answers at {server} ({e}): start one with `scripts/postgres.sh`, or set \
                 FNWIRE_TEST_POSTGRES to a server whose user may create databases"
            )
        });
        let name = format!("fnwire_test_{}", uuid::Uuid::new_v4().simple());
        admin.batch_execute(&format!("CREATE DATABASE {name}")).unwrap();
        let base = server.rsplit_once('/').map(|(base, _)| base).unwrap_or(&server);
        TestDatabase { url: format!("{base}/{name}"), name }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let name = self.name.clone();
        let _ = std::thread::spawn(move || TestDatabase::drop_database(&name)).join();
    }
}

impl TestDatabase {
    fn drop_database(name: &str) {
        if let Ok(mut admin) = postgres::Client::connect(&server_url(), postgres::NoTls) {
            let _ = admin.batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"));
        }
    }
}

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

//! Which store an app uses: Azure's way, the connection every binding defaults to.
//! `AzureWebJobsStorage` (app setting or environment variable) holding a `postgres://` or
//! `postgresql://` URL selects the shared PostgreSQL store, for many hosts on one database;
//! anything else keeps the embedded SQLite store under the app. The host, `fnwire queue …`
//! and `fnwire keys` all choose here.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, OnceLock, Weak};

use fnwire_storage::{BlobBackend, BlobStore, QueueStore, StorageError, Store, StoreOptions};
use fnwire_storage_postgres::{PgStore, is_postgres_url, listen_for_queues};

use crate::bindings::AppBindings;

/// The app setting (or environment variable) naming the storage connection.
pub const STORAGE_CONNECTION_SETTING: &str = "AzureWebJobsStorage";

/// The PostgreSQL URL the app's settings select, if they select one.
pub fn postgres_url(settings: &BTreeMap<String, String>) -> Option<String> {
    settings
        .get(STORAGE_CONNECTION_SETTING)
        .cloned()
        .or_else(|| std::env::var(STORAGE_CONNECTION_SETTING).ok())
        .filter(|s| is_postgres_url(s))
        .map(|s| s.trim().to_string())
}

/// Opens the store the settings select. `for_host`: a host takes the embedded store's
/// one-host lock; a shared database needs none.
pub fn open(
    storage_dir: &Path,
    settings: &BTreeMap<String, String>,
    for_host: bool,
) -> Result<Arc<dyn QueueStore>, StorageError> {
    if let Some(url) = postgres_url(settings) {
        return Ok(Arc::new(PgStore::open(&url)?));
    }
    let store = if for_host {
        Store::open_for_host(storage_dir, StoreOptions::default())?
    } else {
        Store::open(storage_dir)?
    };
    Ok(Arc::new(store))
}

/// The blob store a host uses, whichever backend holds it.
pub type SharedBlobs = Arc<dyn BlobBackend>;

/// Opens the store and the blob store the settings select: one database for both when it is
/// shared, else SQLite and a folder.
pub fn open_with_blobs(
    storage_dir: &Path,
    blob_dir: &Path,
    settings: &BTreeMap<String, String>,
    for_host: bool,
) -> Result<(Arc<dyn QueueStore>, SharedBlobs), StorageError> {
    if let Some(url) = postgres_url(settings) {
        let shared = Arc::new(PgStore::open(&url)?);
        return Ok((shared.clone(), shared));
    }
    Ok((open(storage_dir, settings, for_host)?, Arc::new(BlobStore::new(blob_dir))))
}

/// This host process's name in the store's leases.
pub fn host_instance_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(|| format!("{}-{}", std::process::id(), uuid::Uuid::new_v4().simple()))
}

/// On a shared database, wakes this host's queue listeners when any host puts a message on
/// their queue (`LISTEN`); they still poll, so this only shortens the wait. Stops when the
/// bindings are dropped.
pub fn wake_on_new_messages(settings: &BTreeMap<String, String>, bindings: &Arc<AppBindings>) {
    let Some(url) = postgres_url(settings) else { return };
    let bindings: Weak<AppBindings> = Arc::downgrade(bindings);
    let started = listen_for_queues(&url, move |queue| {
        let Some(bindings) = bindings.upgrade() else { return false };
        if queue.is_empty() {
            // The notification connection came back after a loss: poll every queue now.
            bindings.signal_all();
        } else {
            bindings.signal(queue).notify_one();
        }
        true
    });
    if let Err(e) = started {
        tracing::warn!("could not start listening for new queue messages ({e}); queues are polled instead");
    }
}

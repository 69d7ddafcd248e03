//! Blob-trigger receipts on the embedded store: one row per function and blob holding the
//! latest version (ETag) the function has found. Finding a new version and adding the message
//! that runs the function for it are one transaction, so a version is queued exactly once and
//! a crash between the two cannot lose it; the message is deleted together with the function's
//! outputs, as every queue-triggered completion is.

use rusqlite::params;

use crate::queue::{insert, validate_queue_name};
use crate::{MessageBody, StorageError, Store, millis};

/// A blob's work message never expires: once its receipt is written, the message is the only
/// record that the version still has to be processed, and an expired one would skip it.
pub const BLOB_WORK_TTL: std::time::Duration = std::time::Duration::MAX;

impl Store {
    /// See [`crate::QueueStore::enqueue_blob_version`].
    pub fn enqueue_blob_version(
        &self,
        function: &str,
        blob_path: &str,
        etag: &str,
        work: &MessageBody,
    ) -> Result<bool, StorageError> {
        validate_queue_name(&work.queue)?;
        let now = millis(self.now());
        let mut conn = self.lock();
        let mut run = || -> rusqlite::Result<bool> {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            // A row for another version is replaced; one for this version stays and counts 0.
            let found = tx
                .prepare_cached(
                    "INSERT INTO blob_receipts (function, blob_path, etag, found_ms) VALUES (?1, ?2, ?3, ?4)
                     ON CONFLICT (function, blob_path) DO UPDATE SET etag = ?3, found_ms = ?4 WHERE etag <> ?3",
                )?
                .execute(params![function, blob_path, etag, now])?;
            if found == 1 {
                insert(&tx, &work.queue, &work.body, work.trace.as_ref(), now, BLOB_WORK_TTL)?;
            }
            tx.commit()?;
            Ok(found == 1)
        };
        run().map_err(|e| self.sql_error("recording a blob version", e))
    }
}

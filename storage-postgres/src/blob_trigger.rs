//! Blob versions and blob-trigger receipts in the shared database. A blob row carries an ETag
//! made at each write; `fnwire_blob_receipts` holds the latest version each blob-trigger
//! function has found. Hosts scanning at once race on the receipt's primary key: the one whose
//! upsert changes the row adds the work message in the same transaction, the others change
//! nothing, so a version is queued once however many hosts find it.

use fnwire_storage::{
    BLOB_WORK_TTL, BlobProperties, MessageBody, StorageError, content_type_of, normalize_blob_path,
    validate_queue_name,
};

use crate::{PgStore, from_millis, insert, redact};

/// A new ETag in Azure's form: `0x` and 16 hex digits, random, so two writes in the same
/// millisecond on two hosts still differ.
pub(crate) fn new_etag() -> String {
    let (high, _) = uuid::Uuid::new_v4().as_u64_pair();
    format!("0x{high:016X}")
}

fn properties(path: String, etag: String, length: i64, modified_ms: i64) -> BlobProperties {
    let content_type = content_type_of(&path);
    BlobProperties {
        path,
        etag,
        length: u64::try_from(length).unwrap_or(0),
        last_modified: from_millis(modified_ms),
        content_type,
    }
}

impl PgStore {
    pub(crate) fn blob_with_properties(
        &self,
        blob_path: &str,
    ) -> Result<Option<(Vec<u8>, BlobProperties)>, std::io::Error> {
        let path = normalize_blob_path(blob_path).map_err(std::io::Error::other)?;
        self.block(async {
            let conn = self.conn_async("reading a blob").await?;
            let row = conn
                .query_opt("SELECT body, etag, modified_ms FROM fnwire_blobs WHERE path = $1", &[&path])
                .await
                .map_err(self.sql("reading a blob"))?;
            Ok(row.map(|r| {
                let body: Vec<u8> = r.get(0);
                let length = i64::try_from(body.len()).unwrap_or(i64::MAX);
                let props = properties(path.clone(), r.get(1), length, r.get(2));
                (body, props)
            }))
        })
        .map_err(|e: StorageError| std::io::Error::other(format!("reading blob `{path}`: {e}")))
    }

    pub(crate) fn blob_properties_under(&self, prefix: &str) -> Result<Vec<BlobProperties>, std::io::Error> {
        let prefix = prefix.trim_matches('/').to_string();
        let pattern = format!("{}/%", prefix.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        self.block(async {
            let conn = self.conn_async("listing blobs").await?;
            let rows = conn
                .query(
                    "SELECT path, etag, octet_length(body)::BIGINT, modified_ms FROM fnwire_blobs
                     WHERE path LIKE $1 ORDER BY path",
                    &[&pattern],
                )
                .await
                .map_err(self.sql("listing blobs"))?;
            Ok(rows.iter().map(|r| properties(r.get(0), r.get(1), r.get(2), r.get(3))).collect())
        })
        .map_err(|e: StorageError| std::io::Error::other(format!("listing blobs under `{prefix}`: {e}")))
    }

    pub(crate) fn delete_blob(&self, blob_path: &str) -> Result<bool, std::io::Error> {
        let path = normalize_blob_path(blob_path).map_err(std::io::Error::other)?;
        self.block(async {
            let conn = self.conn_async("deleting a blob").await?;
            let n = conn
                .execute("DELETE FROM fnwire_blobs WHERE path = $1", &[&path])
                .await
                .map_err(self.sql("deleting a blob"))?;
            Ok(n == 1)
        })
        .map_err(|e: StorageError| std::io::Error::other(format!("deleting blob `{path}`: {e}")))
    }

    /// The database's URL (without its password) with the blob's path as the fragment: there
    /// is no blob endpoint to name, and this says where the blob lives.
    pub(crate) fn blob_uri(&self, blob_path: &str) -> String {
        let path = normalize_blob_path(blob_path).unwrap_or_else(|_| blob_path.to_string());
        format!("{}#fnwire_blobs/{path}", redact(self.url()))
    }

    pub(crate) fn record_blob_version(
        &self,
        function: &str,
        blob_path: &str,
        etag: &str,
        work: &MessageBody,
    ) -> Result<bool, StorageError> {
        validate_queue_name(&work.queue)?;
        self.block(async {
            let now = self.now();
            let mut conn = self.conn_async("recording a blob version").await?;
            let tx = conn.transaction().await.map_err(self.sql("recording a blob version"))?;
            // Of hosts recording one version together, the first upsert inserts or changes the
            // row; the others wait on its row lock, then find the same ETag and change nothing.
            let found = tx
                .execute(
                    "INSERT INTO fnwire_blob_receipts (function, blob_path, etag, found_ms) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (function, blob_path) DO UPDATE SET etag = $3, found_ms = $4
                     WHERE fnwire_blob_receipts.etag <> $3",
                    &[&function, &blob_path, &etag, &now],
                )
                .await
                .map_err(self.sql("recording a blob version"))?;
            if found == 1 {
                insert(&tx, &work.queue, &work.body, work.trace.as_ref(), now, BLOB_WORK_TTL)
                    .await
                    .map_err(self.sql("recording a blob version"))?;
            }
            tx.commit().await.map_err(self.sql("recording a blob version"))?;
            Ok(found == 1)
        })
    }
}

use std::path::{Path, PathBuf};

use rusqlite::ErrorCode;

/// What went wrong in the store. Messages name the file or queue and say what to do.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("could not create the storage directory `{dir}`: {source}")]
    CreateDir { dir: PathBuf, source: std::io::Error },
    #[error(
        "`{path}` is not a usable fnwire database ({detail}). fnwire leaves it untouched: move it away (or point \
         FNWIRE_STORAGE_DIR elsewhere) and start again to begin with empty queues"
    )]
    Corrupt { path: PathBuf, detail: String },
    #[error(
        "`{path}` is locked by another program ({detail}). Finish or stop the program holding it (e.g. an sqlite \
         shell with an open transaction, or a backup tool) and try again"
    )]
    Locked { path: PathBuf, detail: String },
    #[error(
        "`{path}` is empty (0 bytes). fnwire never leaves its store empty, so the file was cut short (a full disk, an \
         interrupted copy or another tool) and its queue messages are gone from it. fnwire leaves it untouched: \
         restore a backup with `fnwire store restore <app> --from <backup>`, or move the file away and start again to \
         begin with empty queues"
    )]
    Empty { path: PathBuf },
    #[error(
        "`{path}` failed SQLite's integrity check: {problems}. fnwire leaves it untouched: restore a backup with \
         `fnwire store restore <app> --from <backup>`, or copy what can be read with the sqlite3 shell's `.recover` \
         into a new file and move it into place"
    )]
    Damaged { path: PathBuf, problems: String },
    #[error(
        "`{path}` is in use by another fnwire host (process {holder}). One host per embedded store: stop the other \
         host first, or give this host its own store with FNWIRE_STORAGE_DIR. `fnwire queue …` and `fnwire store \
         check|backup` work while a host runs"
    )]
    HeldByAnotherHost { path: PathBuf, holder: String },
    #[error("`{path}`: {what}: {source}")]
    File { path: PathBuf, what: &'static str, source: std::io::Error },
    #[error("`{path}`: {what} failed: {source}")]
    Sql { path: PathBuf, what: &'static str, source: rusqlite::Error },
    #[error(
        "message `{id}` on queue `{queue}` is not held with pop receipt `{pop_receipt}`: it was deleted, or its \
         visibility timeout ran out and it was taken again (it will be processed again)"
    )]
    PopReceiptMismatch { queue: String, id: String, pop_receipt: String },
    #[error("`{name}` is not a valid queue name: {why}")]
    InvalidQueueName { name: String, why: String },
    #[error(
        "Service Bus queue or topic `{name}` does not exist in the store: declare it in `servicebus.json` beside \
         host.json, or create it with `fnwire topic create {name}`"
    )]
    EntityNotFound { name: String },
    #[error(
        "topic `{topic}` has no subscription `{subscription}`: declare it in `servicebus.json` beside host.json, or \
         create it with `fnwire subscription create {subscription} --topic {topic}`"
    )]
    SubscriptionNotFound { topic: String, subscription: String },
    #[error(
        "message {sequence_number} of `{entity}/{subscription}` is not locked with token `{lock_token}`: it was \
         completed, or its lock expired and it was delivered again (it will be processed again)"
    )]
    LockLost { entity: String, subscription: String, sequence_number: i64, lock_token: String },
    #[error("{0}")]
    InvalidServiceBusEntity(String),
    #[error(
        "completing queue messages stopped unexpectedly (a bug in fnwire: please report it with the log above); \
         messages whose completion failed stay in their queue and may be processed again"
    )]
    CompletionBug,
    #[error(
        "the store at {store}: {what} failed: {detail}. Check that the database server is running and reachable \
         with the URL in AzureWebJobsStorage, and that its user may create tables"
    )]
    Database { store: String, what: &'static str, detail: String },
    #[error(
        "the store at {store} has schema version {found}, newer than the {supported} this fnwire knows: a newer \
         fnwire wrote it. Nothing was changed; run the newer fnwire, or point AzureWebJobsStorage at another database"
    )]
    SchemaTooNew { store: String, found: i64, supported: i64 },
    #[error("{0}")]
    InvalidTableName(#[from] fnwire_tables::TableNameError),
    #[error(
        "table `{table}` already has an entity with PartitionKey `{partition_key}` and RowKey `{row_key}`: a table \
         output entity without an ETag is only inserted, as Azure's table output binding does (the service answers \
         409 Conflict). Give the entity \"ETag\": \"*\" to insert or replace it, or its current ETag to replace \
         only that version"
    )]
    EntityExists { table: String, partition_key: String, row_key: String },
    #[error(
        "table `{table}` has no entity with PartitionKey `{partition_key}` and RowKey `{row_key}` at ETag `{etag}`: it \
         was changed or deleted since that ETag was read (the service answers 412 Precondition Failed, or 404). \
         Read the entity again and write it with its current ETag, or give \"ETag\": \"*\" to replace whatever is \
         there"
    )]
    EtagMismatch { table: String, partition_key: String, row_key: String, etag: String },
    #[error("table `{table}`, entity (PartitionKey `{partition_key}`, RowKey `{row_key}`): {error}")]
    InvalidEntity {
        table: String,
        partition_key: String,
        row_key: String,
        error: Box<fnwire_tables::EntityError>,
    },
}

fn code(e: &rusqlite::Error) -> Option<ErrorCode> {
    match e {
        rusqlite::Error::SqliteFailure(f, _) => Some(f.code),
        _ => None,
    }
}

impl StorageError {
    /// Why a table output's conditional write changed no row, as Azure's service would answer it:
    /// a replace at an ETag that no longer matches, else an insert of a key that exists.
    pub fn refused_table_write(
        table: &str,
        entity: &fnwire_tables::Entity,
        condition: &fnwire_tables::OutputWrite,
    ) -> StorageError {
        let (table, partition_key, row_key) =
            (table.to_string(), entity.partition_key.clone(), entity.row_key.clone());
        match condition {
            fnwire_tables::OutputWrite::ReplaceIfMatch(expected) => {
                StorageError::EtagMismatch { table, partition_key, row_key, etag: expected.to_string() }
            }
            _ => StorageError::EntityExists { table, partition_key, row_key },
        }
    }

    pub(crate) fn from_open(path: &Path, e: rusqlite::Error) -> StorageError {
        match code(&e) {
            Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => {
                StorageError::Corrupt { path: path.to_path_buf(), detail: e.to_string() }
            }
            Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => {
                StorageError::Locked { path: path.to_path_buf(), detail: e.to_string() }
            }
            _ => StorageError::Sql { path: path.to_path_buf(), what: "opening the database", source: e },
        }
    }

    pub(crate) fn from_sql(path: &Path, what: &'static str, e: rusqlite::Error) -> StorageError {
        match code(&e) {
            Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => {
                StorageError::Locked { path: path.to_path_buf(), detail: format!("{what}: {e}") }
            }
            Some(ErrorCode::NotADatabase) | Some(ErrorCode::DatabaseCorrupt) => {
                StorageError::Corrupt { path: path.to_path_buf(), detail: format!("{what}: {e}") }
            }
            _ => StorageError::Sql { path: path.to_path_buf(), what, source: e },
        }
    }

    /// The same error again, for each caller of a group that one failure stopped (rusqlite's
    /// errors cannot be cloned; SQLite's own code and message are kept).
    pub(crate) fn duplicate(&self) -> StorageError {
        match self {
            StorageError::CreateDir { dir, source } => StorageError::CreateDir {
                dir: dir.clone(),
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
            StorageError::Corrupt { path, detail } => {
                StorageError::Corrupt { path: path.clone(), detail: detail.clone() }
            }
            StorageError::Locked { path, detail } => {
                StorageError::Locked { path: path.clone(), detail: detail.clone() }
            }
            StorageError::Sql { path, what, source } => {
                let source = match source {
                    rusqlite::Error::SqliteFailure(code, message) => {
                        rusqlite::Error::SqliteFailure(*code, message.clone())
                    }
                    other => rusqlite::Error::SqliteFailure(
                        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
                        Some(other.to_string()),
                    ),
                };
                StorageError::Sql { path: path.clone(), what, source }
            }
            StorageError::PopReceiptMismatch { queue, id, pop_receipt } => StorageError::PopReceiptMismatch {
                queue: queue.clone(),
                id: id.clone(),
                pop_receipt: pop_receipt.clone(),
            },
            StorageError::Database { store, what, detail } => {
                StorageError::Database { store: store.clone(), what, detail: detail.clone() }
            }
            StorageError::SchemaTooNew { store, found, supported } => {
                StorageError::SchemaTooNew { store: store.clone(), found: *found, supported: *supported }
            }
            StorageError::InvalidQueueName { name, why } => {
                StorageError::InvalidQueueName { name: name.clone(), why: why.clone() }
            }
            StorageError::CompletionBug => StorageError::CompletionBug,
            StorageError::InvalidTableName(e) => StorageError::InvalidTableName(e.clone()),
            StorageError::InvalidEntity { table, partition_key, row_key, error } => {
                StorageError::InvalidEntity {
                    table: table.clone(),
                    partition_key: partition_key.clone(),
                    row_key: row_key.clone(),
                    error: error.clone(),
                }
            }
            StorageError::EntityNotFound { name } => StorageError::EntityNotFound { name: name.clone() },
            StorageError::EntityExists { table, partition_key, row_key } => StorageError::EntityExists {
                table: table.clone(),
                partition_key: partition_key.clone(),
                row_key: row_key.clone(),
            },
            StorageError::EtagMismatch { table, partition_key, row_key, etag } => {
                StorageError::EtagMismatch {
                    table: table.clone(),
                    partition_key: partition_key.clone(),
                    row_key: row_key.clone(),
                    etag: etag.clone(),
                }
            }
            StorageError::SubscriptionNotFound { topic, subscription } => {
                StorageError::SubscriptionNotFound {
                    topic: topic.clone(),
                    subscription: subscription.clone(),
                }
            }
            StorageError::LockLost { entity, subscription, sequence_number, lock_token } => {
                StorageError::LockLost {
                    entity: entity.clone(),
                    subscription: subscription.clone(),
                    sequence_number: *sequence_number,
                    lock_token: lock_token.clone(),
                }
            }
            StorageError::InvalidServiceBusEntity(why) => StorageError::InvalidServiceBusEntity(why.clone()),
            StorageError::Empty { path } => StorageError::Empty { path: path.clone() },
            StorageError::Damaged { path, problems } => {
                StorageError::Damaged { path: path.clone(), problems: problems.clone() }
            }
            StorageError::HeldByAnotherHost { path, holder } => {
                StorageError::HeldByAnotherHost { path: path.clone(), holder: holder.clone() }
            }
            StorageError::File { path, what, source } => StorageError::File {
                path: path.clone(),
                what,
                source: std::io::Error::new(source.kind(), source.to_string()),
            },
        }
    }

    /// Whether another process held a lock for longer than the busy timeout (worth a retry).
    pub fn is_locked(&self) -> bool {
        matches!(self, StorageError::Locked { .. })
    }
}

//! `fnwire table list|query|get|put|delete`: the app's Azure Tables entities from the command
//! line, in whichever store the app's `AzureWebJobsStorage` selects (as `fnwire queue` does).
//! Entities print in the Table service's JSON form (with `Timestamp`, `odata.etag` and type
//! annotations), one per line, so they can be piped to `jq`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use clap::Subcommand;

use crate::app_store::AppStoreError;
use fnwire_storage::{QueueStore, StorageError, TableStore};
use fnwire_tables::{Entity, EntityError, Filter, FilterError, TableQuery};

#[derive(Debug, Subcommand)]
pub enum TableCommand {
    /// List the tables with their entity counts.
    List {
        /// The function app's directory (its storage is `<app>/.fnwire` unless configured).
        #[arg(long, default_value = ".")]
        app: PathBuf,
    },
    /// Print a table's entities in key order, one JSON object per line.
    Query {
        table: String,
        /// An OData filter, such as "PartitionKey eq 'web' and Total gt 10".
        #[arg(long)]
        filter: Option<String>,
        /// At most this many entities.
        #[arg(long)]
        take: Option<usize>,
        #[arg(long, default_value = ".")]
        app: PathBuf,
    },
    /// Print one entity.
    Get {
        table: String,
        partition_key: String,
        row_key: String,
        #[arg(long, default_value = ".")]
        app: PathBuf,
    },
    /// Insert or replace an entity given as a JSON object with PartitionKey and RowKey.
    Put {
        table: String,
        entity: String,
        #[arg(long, default_value = ".")]
        app: PathBuf,
    },
    /// Delete one entity (with its keys) or the whole table (without).
    Delete {
        table: String,
        partition_key: Option<String>,
        row_key: Option<String>,
        #[arg(long, default_value = ".")]
        app: PathBuf,
    },
}

/// Why a `fnwire table` command failed.
#[derive(Debug, thiserror::Error)]
pub enum TableCliError {
    #[error(transparent)]
    App(#[from] AppStoreError),
    #[error("the store at {0} keeps no tables")]
    NoTables(String),
    #[error(transparent)]
    Filter(#[from] FilterError),
    #[error(
        "the entity is not JSON ({0}): give a JSON object such as '{{\"PartitionKey\":\"p\",\"RowKey\":\"r\",\"N\":1}}'"
    )]
    NotJson(String),
    #[error(transparent)]
    Entity(#[from] EntityError),
    #[error(
        "give both the PartitionKey and the RowKey of the entity to delete, or neither to delete the table"
    )]
    OneKey,
    // Boxed: a storage error is large, and every result of this module carries its room.
    #[error(transparent)]
    Storage(Box<StorageError>),
}

impl From<StorageError> for TableCliError {
    fn from(e: StorageError) -> Self {
        TableCliError::Storage(Box::new(e))
    }
}

fn open(app: &Path) -> Result<Arc<dyn QueueStore>, TableCliError> {
    Ok(crate::app_store::open(app)?)
}

fn tables(store: &dyn QueueStore) -> Result<&dyn TableStore, TableCliError> {
    store.as_table_store().ok_or_else(|| TableCliError::NoTables(store.describe()))
}

fn line(entity: &Entity) -> String {
    serde_json::Value::Object(entity.to_odata_json()).to_string()
}

/// Runs a `fnwire table` command and returns what it prints.
pub fn run(command: TableCommand) -> Result<String, TableCliError> {
    let mut out = String::new();
    match command {
        TableCommand::List { app } => {
            let store = open(&app)?;
            let list = tables(store.as_ref())?.list_tables()?;
            if list.is_empty() {
                out.push_str("(no tables yet)\n");
            } else {
                let width = list.iter().map(|t| t.name.len()).max().unwrap_or(0).max("Table".len());
                let _ = writeln!(out, "{:width$}  {:>8}", "Table", "Entities");
                for t in list {
                    let _ = writeln!(out, "{:width$}  {:>8}", t.name, t.entities);
                }
            }
        }
        TableCommand::Query { table, filter, take, app } => {
            let filter = filter.as_deref().map(Filter::parse).transpose()?;
            let store = open(&app)?;
            let entities = tables(store.as_ref())?.query_entities(&table, &TableQuery { filter, take })?;
            for e in &entities {
                let _ = writeln!(out, "{}", line(e));
            }
            if entities.is_empty() {
                let _ = writeln!(out, "(no entities in `{table}` match)");
            }
        }
        TableCommand::Get { table, partition_key, row_key, app } => {
            let store = open(&app)?;
            match tables(store.as_ref())?.get_entity(&table, &partition_key, &row_key)? {
                Some(e) => {
                    let _ = writeln!(out, "{}", line(&e));
                }
                None => {
                    let _ = writeln!(
                        out,
                        "(no entity with PartitionKey `{partition_key}` and RowKey `{row_key}` in `{table}`)"
                    );
                }
            }
        }
        TableCommand::Put { table, entity, app } => {
            let value: serde_json::Value =
                serde_json::from_str(&entity).map_err(|e| TableCliError::NotJson(e.to_string()))?;
            let entity = Entity::from_odata_json(&value)?;
            let store = open(&app)?;
            tables(store.as_ref())?.upsert_entities(&table, std::slice::from_ref(&entity))?;
            let _ = writeln!(
                out,
                "put entity (PartitionKey `{}`, RowKey `{}`) in table `{table}`",
                entity.partition_key, entity.row_key
            );
        }
        TableCommand::Delete { table, partition_key, row_key, app } => {
            let store = open(&app)?;
            let t = tables(store.as_ref())?;
            match (partition_key, row_key) {
                (Some(pk), Some(rk)) => {
                    let gone = t.delete_entity(&table, &pk, &rk)?;
                    let _ = writeln!(
                        out,
                        "{} entity (PartitionKey `{pk}`, RowKey `{rk}`) in table `{table}`",
                        if gone { "deleted" } else { "no" }
                    );
                }
                (None, None) => {
                    let gone = t.delete_table(&table)?;
                    let _ = writeln!(
                        out,
                        "{}",
                        if gone { format!("deleted table `{table}`") } else { format!("no table `{table}`") }
                    );
                }
                _ => return Err(TableCliError::OneKey),
            }
        }
    }
    Ok(out)
}

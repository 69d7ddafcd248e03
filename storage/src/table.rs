//! Azure Tables entities in the embedded store: one row per entity (keys, the properties in
//! the service's JSON form, `Timestamp` in microseconds, `ETag`), keyed by the table's name in
//! lower case. Queries walk the table in key order a page at a time (keyset paging), so a
//! large table is never read whole and the connection is not held for a whole query.

use chrono::{DateTime, Utc};
use fnwire_tables::{Entity, OutputWrite, TableQuery, etag_for, validate_table_name};
use rusqlite::{Connection, OptionalExtension as _, params};

use crate::backend::{TableStore, TableSummary, TableWrite, TableWriteMode};
use crate::queue::{DEFAULT_MESSAGE_TTL, delete_held, insert, validate_queue_name};
use crate::{MessageBody, StorageError, Store, millis};

/// Rows read per page of a query.
const PAGE: i64 = 256;

/// The key a table is stored under (names are case-insensitive); the name is checked.
pub(crate) fn table_key(table: &str) -> Result<String, StorageError> {
    validate_table_name(table)?;
    Ok(table.to_ascii_lowercase())
}

fn micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

/// Writes one [`TableWrite`]: the outer error is SQLite's, the inner one an entity the write's
/// mode refuses (which rolls the whole transaction back).
fn write_entities(
    conn: &Connection,
    write: &TableWrite,
    now: DateTime<Utc>,
) -> rusqlite::Result<Result<(), StorageError>> {
    let key = write.table.to_ascii_lowercase();
    conn.prepare_cached("INSERT OR IGNORE INTO table_names (key, name, created_ms) VALUES (?1, ?2, ?3)")?
        .execute(params![key, write.table, millis(now)])?;
    let etag = etag_for(&now);
    for e in &write.entities {
        let condition = match write.mode {
            TableWriteMode::Upsert => OutputWrite::InsertOrReplace,
            TableWriteMode::OutputBinding => e.output_write(),
        };
        let properties = e.properties_odata_json();
        let written = match condition {
            OutputWrite::InsertOrReplace => conn
                .prepare_cached(
                    "INSERT INTO table_entities (table_key, partition_key, row_key, properties, timestamp_us, etag)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (table_key, partition_key, row_key)
                     DO UPDATE SET properties = excluded.properties, timestamp_us = excluded.timestamp_us,
                                   etag = excluded.etag",
                )?
                .execute(params![key, e.partition_key, e.row_key, properties, micros(now), etag])?,
            OutputWrite::Insert => conn
                .prepare_cached(
                    "INSERT INTO table_entities (table_key, partition_key, row_key, properties, timestamp_us, etag)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                     ON CONFLICT (table_key, partition_key, row_key) DO NOTHING",
                )?
                .execute(params![key, e.partition_key, e.row_key, properties, micros(now), etag])?,
            OutputWrite::ReplaceIfMatch(expected) => conn
                .prepare_cached(
                    "UPDATE table_entities SET properties = ?4, timestamp_us = ?5, etag = ?6
                     WHERE table_key = ?1 AND partition_key = ?2 AND row_key = ?3 AND etag = ?7",
                )?
                .execute(params![key, e.partition_key, e.row_key, properties, micros(now), etag, expected])?,
        };
        if written == 0 {
            return Ok(Err(StorageError::refused_table_write(&write.table, e, &condition)));
        }
    }
    Ok(Ok(()))
}

fn read_row(table: &str, row: &rusqlite::Row<'_>) -> rusqlite::Result<Result<Entity, StorageError>> {
    let partition_key: String = row.get(0)?;
    let row_key: String = row.get(1)?;
    let properties: String = row.get(2)?;
    let timestamp: i64 = row.get(3)?;
    let etag: String = row.get(4)?;
    Ok(Entity::from_stored(partition_key.clone(), row_key.clone(), &properties, from_micros(timestamp), etag)
        .map_err(|error| StorageError::InvalidEntity {
            table: table.to_string(),
            partition_key,
            row_key,
            error: Box::new(error),
        }))
}

impl TableStore for Store {
    fn complete_with_entities(
        &self,
        held: Option<(&str, &str, &str)>,
        outputs: &[MessageBody],
        tables: &[TableWrite],
    ) -> Result<(), StorageError> {
        for m in outputs {
            validate_queue_name(&m.queue)?;
        }
        for t in tables {
            validate_table_name(&t.table)?;
        }
        let now = self.now();
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.sql_error("starting a transaction", e))?;
        if let Some((queue, id, receipt)) = held
            && !delete_held(&tx, queue, id, receipt).map_err(|e| self.sql_error("deleting a message", e))?
        {
            // Dropping the transaction rolls it back: nothing of this completion stays.
            return Err(Store::mismatch(queue, id, receipt));
        }
        for m in outputs {
            insert(&tx, &m.queue, &m.body, m.trace.as_ref(), millis(now), DEFAULT_MESSAGE_TTL)
                .map_err(|e| self.sql_error("adding a message", e))?;
        }
        for t in tables {
            // Dropping the transaction on a refused entity rolls back everything it did.
            write_entities(&tx, t, now).map_err(|e| self.sql_error("writing table entities", e))??;
        }
        tx.commit().map_err(|e| self.sql_error("committing", e))
    }

    fn get_entity(
        &self,
        table: &str,
        partition_key: &str,
        row_key: &str,
    ) -> Result<Option<Entity>, StorageError> {
        let key = table_key(table)?;
        let conn = self.lock();
        conn.prepare_cached(
            "SELECT partition_key, row_key, properties, timestamp_us, etag FROM table_entities
             WHERE table_key = ?1 AND partition_key = ?2 AND row_key = ?3",
        )
        .and_then(|mut s| {
            s.query_row(params![key, partition_key, row_key], |row| read_row(table, row)).optional()
        })
        .map_err(|e| self.sql_error("reading an entity", e))?
        .transpose()
    }

    fn query_entities(&self, table: &str, query: &TableQuery) -> Result<Vec<Entity>, StorageError> {
        let key = table_key(table)?;
        let partition = query.filter.as_ref().and_then(|f| f.required_partition_key()).map(str::to_string);
        let take = query.take.unwrap_or(usize::MAX);
        let mut found = Vec::new();
        // After the last row of the previous page; `None` before the first page.
        let mut after: Option<(String, String)> = None;
        while found.len() < take {
            let page: Vec<Result<Entity, StorageError>> = {
                let conn = self.lock();
                let (pk, rk) = after.clone().unwrap_or_default();
                let mut statement = conn
                    .prepare_cached(
                        "SELECT partition_key, row_key, properties, timestamp_us, etag FROM table_entities
                         WHERE table_key = ?1 AND (?2 IS NULL OR partition_key = ?2)
                           AND (?5 OR (partition_key, row_key) > (?3, ?4))
                         ORDER BY partition_key, row_key LIMIT ?6",
                    )
                    .map_err(|e| self.sql_error("querying a table", e))?;
                statement
                    .query_map(params![key, partition, pk, rk, after.is_none(), PAGE], |row| {
                        read_row(table, row)
                    })
                    .and_then(Iterator::collect)
                    .map_err(|e| self.sql_error("querying a table", e))?
            };
            let full = page.len() == usize::try_from(PAGE).unwrap_or(usize::MAX);
            for entity in page {
                let entity = entity?;
                after = Some((entity.partition_key.clone(), entity.row_key.clone()));
                if query.filter.as_ref().is_none_or(|f| f.matches(&entity)) {
                    found.push(entity);
                    if found.len() == take {
                        break;
                    }
                }
            }
            if !full {
                break;
            }
        }
        Ok(found)
    }

    fn delete_entity(&self, table: &str, partition_key: &str, row_key: &str) -> Result<bool, StorageError> {
        let key = table_key(table)?;
        let conn = self.lock();
        let n = conn
            .prepare_cached(
                "DELETE FROM table_entities WHERE table_key = ?1 AND partition_key = ?2 AND row_key = ?3",
            )
            .and_then(|mut s| s.execute(params![key, partition_key, row_key]))
            .map_err(|e| self.sql_error("deleting an entity", e))?;
        Ok(n == 1)
    }

    fn delete_table(&self, table: &str) -> Result<bool, StorageError> {
        let key = table_key(table)?;
        let mut conn = self.lock();
        let run = |conn: &mut Connection| -> rusqlite::Result<bool> {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            tx.execute("DELETE FROM table_entities WHERE table_key = ?1", params![key])?;
            let n = tx.execute("DELETE FROM table_names WHERE key = ?1", params![key])?;
            tx.commit()?;
            Ok(n == 1)
        };
        run(&mut conn).map_err(|e| self.sql_error("deleting a table", e))
    }

    fn list_tables(&self) -> Result<Vec<TableSummary>, StorageError> {
        let conn = self.lock();
        conn.prepare_cached(
            "SELECT n.name, (SELECT COUNT(*) FROM table_entities e WHERE e.table_key = n.key)
             FROM table_names n ORDER BY n.key",
        )
        .and_then(|mut s| {
            s.query_map([], |row| {
                Ok(TableSummary {
                    name: row.get(0)?,
                    entities: u64::try_from(row.get::<_, i64>(1)?).unwrap_or(0),
                })
            })?
            .collect()
        })
        .map_err(|e| self.sql_error("listing tables", e))
    }
}

//! Azure Tables entities in the shared database, as the SQLite store keeps them (one row per
//! entity, properties in the service's JSON form, keyset-paged queries in key order). An
//! upsert is `INSERT … ON CONFLICT DO UPDATE`, so hosts writing the same entity at once each
//! replace it whole and the last commit wins, as with Azure's `InsertOrReplace`; an insert is
//! `ON CONFLICT DO NOTHING` and a conditional replace an `UPDATE … WHERE etag = …`, so of hosts
//! inserting one entity, or replacing one version, only the first to commit succeeds.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use fnwire_storage::{
    MessageBody, StorageError, TableStore, TableSummary, TableWrite, TableWriteMode, validate_queue_name,
};
use fnwire_tables::{Entity, OutputWrite, TableQuery, etag_for, validate_table_name};

use crate::{DEFAULT_MESSAGE_TTL, PgStore, insert, millis, mismatch};

/// Rows read per page of a query.
const PAGE: i64 = 256;

fn table_key(table: &str) -> Result<String, StorageError> {
    validate_table_name(table)?;
    Ok(table.to_ascii_lowercase())
}

fn from_micros(us: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(us).unwrap_or_default()
}

/// Writes one [`TableWrite`]: the outer error is the database's, the inner one an entity the
/// write's mode refuses (which rolls the whole transaction back).
async fn write_entities(
    client: &impl GenericClient,
    write: &TableWrite,
    now: DateTime<Utc>,
) -> Result<Result<(), StorageError>, tokio_postgres::Error> {
    let key = write.table.to_ascii_lowercase();
    client
        .execute(
            "INSERT INTO fnwire_table_names (key, name, created_ms) VALUES ($1, $2, $3) ON CONFLICT (key) DO NOTHING",
            &[&key, &write.table, &millis(now)],
        )
        .await?;
    let etag = etag_for(&now);
    let micros = now.timestamp_micros();
    for e in &write.entities {
        let condition = match write.mode {
            TableWriteMode::Upsert => OutputWrite::InsertOrReplace,
            TableWriteMode::OutputBinding => e.output_write(),
        };
        let properties = e.properties_odata_json();
        let written = match condition {
            OutputWrite::InsertOrReplace => {
                let statement = client
                    .prepare_cached(
                        "INSERT INTO fnwire_table_entities
                             (table_key, partition_key, row_key, properties, timestamp_us, etag)
                         VALUES ($1, $2, $3, $4, $5, $6)
                         ON CONFLICT (table_key, partition_key, row_key)
                         DO UPDATE SET properties = EXCLUDED.properties, timestamp_us = EXCLUDED.timestamp_us,
                                       etag = EXCLUDED.etag",
                    )
                    .await?;
                client
                    .execute(&statement, &[&key, &e.partition_key, &e.row_key, &properties, &micros, &etag])
                    .await?
            }
            OutputWrite::Insert => {
                // A concurrent insert of the same entity waits for the other to commit, then
                // inserts nothing: the later writer gets the conflict, as with the service.
                let statement = client
                    .prepare_cached(
                        "INSERT INTO fnwire_table_entities
                             (table_key, partition_key, row_key, properties, timestamp_us, etag)
                         VALUES ($1, $2, $3, $4, $5, $6)
                         ON CONFLICT (table_key, partition_key, row_key) DO NOTHING",
                    )
                    .await?;
                client
                    .execute(&statement, &[&key, &e.partition_key, &e.row_key, &properties, &micros, &etag])
                    .await?
            }
            OutputWrite::ReplaceIfMatch(expected) => {
                // Read committed re-checks the ETag after a concurrent update commits: only one
                // writer of a version wins.
                let statement = client
                    .prepare_cached(
                        "UPDATE fnwire_table_entities SET properties = $4, timestamp_us = $5, etag = $6
                         WHERE table_key = $1 AND partition_key = $2 AND row_key = $3 AND etag = $7",
                    )
                    .await?;
                client
                    .execute(
                        &statement,
                        &[&key, &e.partition_key, &e.row_key, &properties, &micros, &etag, &expected],
                    )
                    .await?
            }
        };
        if written == 0 {
            return Ok(Err(StorageError::refused_table_write(&write.table, e, &condition)));
        }
    }
    Ok(Ok(()))
}

fn read_row(table: &str, row: &tokio_postgres::Row) -> Result<Entity, StorageError> {
    let partition_key: String = row.get(0);
    let row_key: String = row.get(1);
    let properties: String = row.get(2);
    Entity::from_stored(
        partition_key.clone(),
        row_key.clone(),
        &properties,
        from_micros(row.get(3)),
        row.get(4),
    )
    .map_err(|error| StorageError::InvalidEntity {
        table: table.to_string(),
        partition_key,
        row_key,
        error: Box::new(error),
    })
}

impl TableStore for PgStore {
    fn complete_with_entities(
        &self,
        held: Option<(&str, &str, &str)>,
        outputs: &[MessageBody],
        tables: &[TableWrite],
    ) -> Result<(), StorageError> {
        self.block(async {
            for m in outputs {
                validate_queue_name(&m.queue)?;
            }
            for t in tables {
                validate_table_name(&t.table)?;
            }
            let now = (self.clock)();
            let mut conn = self.conn_async("completing with table entities").await?;
            let tx = conn.transaction().await.map_err(self.sql("completing with table entities"))?;
            if let Some((queue, id, receipt)) = held {
                let n = tx
                    .execute(
                        "DELETE FROM fnwire_messages WHERE queue = $1 AND id = $2 AND pop_receipt = $3",
                        &[&queue, &id, &receipt],
                    )
                    .await
                    .map_err(self.sql("deleting a message"))?;
                if n != 1 {
                    // Dropping the transaction rolls it back: nothing of this completion stays.
                    return Err(mismatch(queue, id, receipt));
                }
            }
            for m in outputs {
                insert(&tx, &m.queue, &m.body, m.trace.as_ref(), millis(now), DEFAULT_MESSAGE_TTL)
                    .await
                    .map_err(self.sql("adding a message"))?;
            }
            for t in tables {
                // Dropping the transaction on a refused entity rolls back everything it did.
                write_entities(&tx, t, now).await.map_err(self.sql("writing table entities"))??;
            }
            tx.commit().await.map_err(self.sql("committing table entities"))
        })
    }

    fn get_entity(
        &self,
        table: &str,
        partition_key: &str,
        row_key: &str,
    ) -> Result<Option<Entity>, StorageError> {
        let key = table_key(table)?;
        self.block(async {
            let conn = self.conn_async("reading an entity").await?;
            let row = conn
                .query_opt(
                    "SELECT partition_key, row_key, properties, timestamp_us, etag FROM fnwire_table_entities
                     WHERE table_key = $1 AND partition_key = $2 AND row_key = $3",
                    &[&key, &partition_key, &row_key],
                )
                .await
                .map_err(self.sql("reading an entity"))?;
            row.map(|row| read_row(table, &row)).transpose()
        })
    }

    fn query_entities(&self, table: &str, query: &TableQuery) -> Result<Vec<Entity>, StorageError> {
        let key = table_key(table)?;
        let partition = query.filter.as_ref().and_then(|f| f.required_partition_key()).map(str::to_string);
        let take = query.take.unwrap_or(usize::MAX);
        self.block(async {
            let conn = self.conn_async("querying a table").await?;
            let statement = conn
                .prepare_cached(
                    "SELECT partition_key, row_key, properties, timestamp_us, etag FROM fnwire_table_entities
                     WHERE table_key = $1 AND ($2::TEXT IS NULL OR partition_key = $2)
                       AND ($5 OR (partition_key, row_key) > ($3::TEXT COLLATE \"C\", $4::TEXT COLLATE \"C\"))
                     ORDER BY partition_key, row_key LIMIT $6",
                )
                .await
                .map_err(self.sql("querying a table"))?;
            let mut found = Vec::new();
            let mut after: Option<(String, String)> = None;
            while found.len() < take {
                let (pk, rk) = after.clone().unwrap_or_default();
                let rows = conn
                    .query(&statement, &[&key, &partition, &pk, &rk, &after.is_none(), &PAGE])
                    .await
                    .map_err(self.sql("querying a table"))?;
                let full = rows.len() == usize::try_from(PAGE).unwrap_or(usize::MAX);
                for row in &rows {
                    let entity = read_row(table, row)?;
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
        })
    }

    fn delete_entity(&self, table: &str, partition_key: &str, row_key: &str) -> Result<bool, StorageError> {
        let key = table_key(table)?;
        self.block(async {
            let conn = self.conn_async("deleting an entity").await?;
            let n = conn
                .execute(
                    "DELETE FROM fnwire_table_entities WHERE table_key = $1 AND partition_key = $2 AND row_key = $3",
                    &[&key, &partition_key, &row_key],
                )
                .await
                .map_err(self.sql("deleting an entity"))?;
            Ok(n == 1)
        })
    }

    fn delete_table(&self, table: &str) -> Result<bool, StorageError> {
        let key = table_key(table)?;
        self.block(async {
            let mut conn = self.conn_async("deleting a table").await?;
            let tx = conn.transaction().await.map_err(self.sql("deleting a table"))?;
            tx.execute("DELETE FROM fnwire_table_entities WHERE table_key = $1", &[&key])
                .await
                .map_err(self.sql("deleting a table"))?;
            let n = tx
                .execute("DELETE FROM fnwire_table_names WHERE key = $1", &[&key])
                .await
                .map_err(self.sql("deleting a table"))?;
            tx.commit().await.map_err(self.sql("deleting a table"))?;
            Ok(n == 1)
        })
    }

    fn list_tables(&self) -> Result<Vec<TableSummary>, StorageError> {
        self.block(async {
            let conn = self.conn_async("listing tables").await?;
            let rows = conn
                .query(
                    "SELECT n.name, (SELECT COUNT(*) FROM fnwire_table_entities e WHERE e.table_key = n.key)
                     FROM fnwire_table_names n ORDER BY n.key",
                    &[],
                )
                .await
                .map_err(self.sql("listing tables"))?;
            Ok(rows
                .iter()
                .map(|row| TableSummary {
                    name: row.get(0),
                    entities: u64::try_from(row.get::<_, i64>(1)).unwrap_or(0),
                })
                .collect())
        })
    }
}

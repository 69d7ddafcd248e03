//! The task hub in one SQLite file (WAL), next to the app's embedded store.
//!
//! Its own file rather than tables in `fnwire.db`: the queue store serializes its writes
//! through one connection with group commit, and orchestration steps would queue behind queue
//! traffic (and the reverse); a sibling file gives each its own writer. Nothing needs a
//! transaction across both.
//!
//! Leases are `locked_by` + `lock_expires_ms` columns; a step commits only if its lock token
//! still holds the row. Times are milliseconds since the epoch; payloads and history events
//! are JSON text, so a PostgreSQL backend can keep the same columns (as `jsonb`).

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};

use crate::model::{EventType, HistoryEvent, RuntimeStatus};
use crate::taskhub::{
    ActivityWorkItem, InstancePage, InstanceQuery, InstanceRecord, InstanceStep, InstanceWorkItem, Message,
    NewInstance, ParentRef, TaskHub, TaskHubError, from_ms, instance_lease_lost, lease_ms, ms,
};

/// Name of the task hub file inside the storage directory.
pub const TASK_HUB_FILE: &str = "durable.db";

/// Where "now" comes from; tests pass a clock they move by hand.
pub type Clock = Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS instances (
    instance_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    runtime_status TEXT NOT NULL,
    input TEXT,
    output TEXT,
    custom_status TEXT,
    parent_instance_id TEXT,
    parent_execution_id TEXT,
    parent_task_id INTEGER,
    created_ms INTEGER NOT NULL,
    last_updated_ms INTEGER NOT NULL,
    is_entity INTEGER NOT NULL DEFAULT 0,
    entity_state TEXT,
    locked_by TEXT,
    lock_expires_ms INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS instances_by_created ON instances (created_ms, instance_id);
CREATE TABLE IF NOT EXISTS history (
    instance_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (instance_id, sequence)
);
CREATE TABLE IF NOT EXISTS new_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    execution_id TEXT,
    event_type INTEGER NOT NULL,
    event TEXT NOT NULL,
    visible_ms INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS new_events_by_visible ON new_events (visible_ms, id);
CREATE INDEX IF NOT EXISTS new_events_by_instance ON new_events (instance_id, id);
CREATE TABLE IF NOT EXISTS activities (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    instance_id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    task_id INTEGER NOT NULL,
    name TEXT NOT NULL,
    input TEXT,
    locked_by TEXT,
    lock_expires_ms INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS activities_by_lock ON activities (lock_expires_ms, id);
CREATE TABLE IF NOT EXISTS settings (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

/// The SQLite task hub.
pub struct SqliteTaskHub {
    conn: Mutex<Connection>,
    path: PathBuf,
    clock: Clock,
}

impl std::fmt::Debug for SqliteTaskHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteTaskHub").field("path", &self.path).finish_non_exhaustive()
    }
}

fn store_error(path: &Path) -> impl Fn(rusqlite::Error) -> TaskHubError + '_ {
    move |e| TaskHubError::Store(format!("{}: {e}", path.display()))
}

fn sql(e: rusqlite::Error) -> TaskHubError {
    TaskHubError::Store(e.to_string())
}

fn event_json(event: &HistoryEvent) -> String {
    serde_json::to_string(event).unwrap_or_default()
}

fn parse_event(text: &str) -> Result<HistoryEvent, TaskHubError> {
    serde_json::from_str(text)
        .map_err(|e| TaskHubError::Store(format!("a stored history event does not parse: {e}")))
}

const INSTANCE_COLUMNS: &str = "instance_id, name, execution_id, runtime_status, input, output, custom_status, \
     parent_instance_id, parent_execution_id, parent_task_id, created_ms, last_updated_ms, entity_state";

fn read_instance(row: &rusqlite::Row<'_>) -> rusqlite::Result<InstanceRecord> {
    let status: String = row.get(3)?;
    let parent_id: Option<String> = row.get(7)?;
    let parent = match parent_id {
        Some(instance_id) => Some(ParentRef {
            instance_id,
            execution_id: row.get::<_, Option<String>>(8)?.unwrap_or_default(),
            task_id: row.get::<_, Option<i64>>(9)?.unwrap_or(-1),
        }),
        None => None,
    };
    Ok(InstanceRecord {
        instance_id: row.get(0)?,
        name: row.get(1)?,
        execution_id: row.get(2)?,
        status: RuntimeStatus::parse(&status).unwrap_or(RuntimeStatus::Pending),
        input: row.get(4)?,
        output: row.get(5)?,
        custom_status: row.get(6)?,
        parent,
        created: from_ms(row.get(10)?),
        last_updated: from_ms(row.get(11)?),
        entity_state: row.get(12)?,
    })
}

impl SqliteTaskHub {
    /// Opens (or creates) `<dir>/durable.db`.
    pub fn open(dir: &Path) -> Result<SqliteTaskHub, TaskHubError> {
        SqliteTaskHub::open_with(dir, Arc::new(Utc::now))
    }

    pub fn open_with(dir: &Path, clock: Clock) -> Result<SqliteTaskHub, TaskHubError> {
        std::fs::create_dir_all(dir)
            .map_err(|e| TaskHubError::Store(format!("cannot create {}: {e}", dir.display())))?;
        let path = dir.join(TASK_HUB_FILE);
        let fail = store_error(&path);
        let conn = Connection::open(&path).map_err(&fail)?;
        conn.busy_timeout(Duration::from_secs(5)).map_err(&fail)?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(&fail)?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(TaskHubError::Store(format!(
                "{}: cannot switch to WAL mode (got {mode})",
                path.display()
            )));
        }
        conn.pragma_update(None, "synchronous", "NORMAL").map_err(&fail)?;
        conn.execute_batch(SCHEMA).map_err(&fail)?;
        Ok(SqliteTaskHub { conn: Mutex::new(conn), path: path.clone(), clock })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn now_ms(&self) -> i64 {
        ms((self.clock)())
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves nothing half-written (transactions roll back).
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn write<T>(
        &self,
        f: impl FnOnce(&Transaction<'_>) -> Result<T, TaskHubError>,
    ) -> Result<T, TaskHubError> {
        let mut conn = self.lock();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate).map_err(sql)?;
        let out = f(&tx)?;
        tx.commit().map_err(sql)?;
        Ok(out)
    }

    /// A setting of the task hub, made by `make` and stored on first use (the API's system
    /// key lives here, so it stays the same across restarts).
    pub fn setting_or_insert(
        &self,
        name: &str,
        make: impl FnOnce() -> String,
    ) -> Result<String, TaskHubError> {
        self.write(|tx| {
            let found: Option<String> = tx
                .query_row("SELECT value FROM settings WHERE name = ?1", [name], |r| r.get(0))
                .optional()
                .map_err(sql)?;
            if let Some(value) = found {
                return Ok(value);
            }
            let value = make();
            tx.execute("INSERT INTO settings (name, value) VALUES (?1, ?2)", params![name, value])
                .map_err(sql)?;
            Ok(value)
        })
    }

    /// Releases every lease (a host starting up holds none; a killed host's are stale).
    pub fn release_all_leases(&self) -> Result<usize, TaskHubError> {
        self.write(|tx| {
            let a = tx
                .execute(
                    "UPDATE instances SET locked_by = NULL, lock_expires_ms = 0 WHERE locked_by IS NOT NULL",
                    [],
                )
                .map_err(sql)?;
            let b = tx
                .execute(
                    "UPDATE activities SET locked_by = NULL, lock_expires_ms = 0 WHERE locked_by IS NOT NULL",
                    [],
                )
                .map_err(sql)?;
            Ok(a + b)
        })
    }
}

fn insert_instance(
    tx: &Transaction<'_>,
    instance: &NewInstance,
    now: i64,
    is_entity: bool,
) -> Result<String, TaskHubError> {
    let existing: Option<String> = tx
        .query_row(
            "SELECT runtime_status FROM instances WHERE instance_id = ?1",
            [&instance.instance_id],
            |r| r.get(0),
        )
        .optional()
        .map_err(sql)?;
    if let Some(status) = existing {
        let status = RuntimeStatus::parse(&status).unwrap_or(RuntimeStatus::Running);
        if !status.is_terminal() {
            return Err(TaskHubError::InstanceExists {
                instance_id: instance.instance_id.clone(),
                status: status.as_str(),
            });
        }
        delete_instance(tx, &instance.instance_id)?;
    }
    let execution_id = uuid::Uuid::new_v4().simple().to_string();
    let parent = instance.parent.as_ref();
    tx.execute(
        "INSERT INTO instances (instance_id, name, execution_id, runtime_status, input, parent_instance_id, \
         parent_execution_id, parent_task_id, created_ms, last_updated_ms, is_entity) \
         VALUES (?1, ?2, ?3, 'Pending', ?4, ?5, ?6, ?7, ?8, ?8, ?9)",
        params![
            instance.instance_id,
            instance.name,
            execution_id,
            instance.input,
            parent.map(|p| &p.instance_id),
            parent.map(|p| &p.execution_id),
            parent.map(|p| p.task_id),
            now,
            is_entity,
        ],
    )
    .map_err(sql)?;
    Ok(execution_id)
}

fn delete_instance(tx: &Transaction<'_>, instance_id: &str) -> Result<usize, TaskHubError> {
    tx.execute("DELETE FROM history WHERE instance_id = ?1", [instance_id]).map_err(sql)?;
    tx.execute("DELETE FROM new_events WHERE instance_id = ?1", [instance_id]).map_err(sql)?;
    tx.execute("DELETE FROM activities WHERE instance_id = ?1", [instance_id]).map_err(sql)?;
    tx.execute("DELETE FROM instances WHERE instance_id = ?1", [instance_id]).map_err(sql)
}

fn insert_event(tx: &Transaction<'_>, message: &Message, now: i64) -> Result<(), TaskHubError> {
    let visible = message.visible_at.map(ms).unwrap_or(now);
    tx.execute(
        "INSERT INTO new_events (instance_id, execution_id, event_type, event, visible_ms) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![
            message.instance_id,
            message.execution_id,
            message.event.event_type as u8,
            event_json(&message.event),
            visible
        ],
    )
    .map_err(sql)?;
    Ok(())
}

/// Whether a message for `instance_id` has an instance to go to. An entity's instance is created
/// by its first message (entities have no start call); any other missing instance is gone.
fn instance_ready_for(tx: &Transaction<'_>, instance_id: &str, now: i64) -> Result<bool, TaskHubError> {
    let exists: bool = tx
        .query_row("SELECT 1 FROM instances WHERE instance_id = ?1", [instance_id], |_| Ok(true))
        .optional()
        .map_err(sql)?
        .unwrap_or(false);
    if exists {
        return Ok(true);
    }
    let Some(entity) = crate::model::EntityId::from_scheduler_id(instance_id) else {
        return Ok(false);
    };
    let new = NewInstance {
        instance_id: instance_id.to_string(),
        name: entity.name,
        input: None,
        parent: None,
        start_at: None,
    };
    insert_instance(tx, &new, now, true)?;
    tx.execute("UPDATE instances SET runtime_status = 'Running' WHERE instance_id = ?1", [instance_id])
        .map_err(sql)?;
    Ok(true)
}

fn create_with_start_event(
    tx: &Transaction<'_>,
    instance: &NewInstance,
    now: i64,
) -> Result<(), TaskHubError> {
    let execution_id = insert_instance(tx, instance, now, false)?;
    let message = instance.start_message(execution_id, from_ms(now));
    insert_event(tx, &message, now)
}

impl TaskHub for SqliteTaskHub {
    fn create_instance(&self, instance: &NewInstance) -> Result<(), TaskHubError> {
        let now = self.now_ms();
        self.write(|tx| create_with_start_event(tx, instance, now))
    }

    fn send(&self, message: &Message) -> Result<(), TaskHubError> {
        let now = self.now_ms();
        self.write(|tx| {
            if !instance_ready_for(tx, &message.instance_id, now)? {
                return Err(TaskHubError::NoInstance(message.instance_id.clone()));
            }
            insert_event(tx, message, now)
        })
    }

    fn lock_next_instance(
        &self,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<InstanceWorkItem>, TaskHubError> {
        let now = self.now_ms();
        let token = format!("{owner}:{}", uuid::Uuid::new_v4().simple());
        let expires = now.saturating_add(lease_ms(lease));
        self.write(|tx| {
            // A suspended instance takes only a resume or a terminate.
            let instance_id: Option<String> = tx
                .query_row(
                    "SELECT e.instance_id FROM new_events e JOIN instances i ON i.instance_id = e.instance_id \
                     WHERE e.visible_ms <= ?1 AND (i.locked_by IS NULL OR i.lock_expires_ms <= ?1) \
                     AND (i.runtime_status <> 'Suspended' OR e.event_type IN (3, 20)) \
                     ORDER BY e.visible_ms, e.id LIMIT 1",
                    [now],
                    |r| r.get(0),
                )
                .optional()
                .map_err(sql)?;
            let Some(instance_id) = instance_id else { return Ok(None) };
            tx.execute(
                "UPDATE instances SET locked_by = ?1, lock_expires_ms = ?2 WHERE instance_id = ?3",
                params![token, expires, instance_id],
            )
            .map_err(sql)?;
            let instance = tx
                .query_row(&format!("SELECT {INSTANCE_COLUMNS} FROM instances WHERE instance_id = ?1"), [&instance_id], read_instance)
                .map_err(sql)?;
            let history = read_history(tx, &instance_id)?;
            let mut statement = tx
                .prepare("SELECT id, execution_id, event FROM new_events WHERE instance_id = ?1 AND visible_ms <= ?2 ORDER BY id")
                .map_err(sql)?;
            let rows = statement
                .query_map(params![instance_id, now], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<String>>(1)?, r.get::<_, String>(2)?)))
                .map_err(sql)?;
            let mut events = Vec::new();
            for row in rows {
                let (id, execution, text) = row.map_err(sql)?;
                events.push((id, execution, parse_event(&text)?));
            }
            Ok(Some(InstanceWorkItem { instance, history, events, lock_token: token.clone() }))
        })
    }

    fn complete_instance(&self, item: &InstanceWorkItem, step: &InstanceStep) -> Result<(), TaskHubError> {
        let now = self.now_ms();
        let instance_id = &item.instance.instance_id;
        self.write(|tx| {
            let held = tx
                .execute(
                    "UPDATE instances SET locked_by = NULL, lock_expires_ms = 0, last_updated_ms = ?1 \
                     WHERE instance_id = ?2 AND locked_by = ?3",
                    params![now, instance_id, item.lock_token],
                )
                .map_err(sql)?;
            if held == 0 {
                return Err(instance_lease_lost(instance_id));
            }
            let mut delete = tx.prepare_cached("DELETE FROM new_events WHERE id = ?1").map_err(sql)?;
            for id in &step.consumed {
                delete.execute([id]).map_err(sql)?;
            }
            let execution_id = match &step.new_execution_id {
                Some(new_id) => {
                    tx.execute("DELETE FROM history WHERE instance_id = ?1", [instance_id]).map_err(sql)?;
                    tx.execute("UPDATE instances SET execution_id = ?1 WHERE instance_id = ?2", params![new_id, instance_id])
                        .map_err(sql)?;
                    new_id.clone()
                }
                None => item.instance.execution_id.clone(),
            };
            let next: i64 = tx
                .query_row("SELECT COALESCE(MAX(sequence) + 1, 0) FROM history WHERE instance_id = ?1", [instance_id], |r| r.get(0))
                .map_err(sql)?;
            let mut insert = tx.prepare_cached("INSERT INTO history (instance_id, sequence, event) VALUES (?1, ?2, ?3)").map_err(sql)?;
            for (i, event) in step.history.iter().enumerate() {
                insert.execute(params![instance_id, next + i as i64, event_json(event)]).map_err(sql)?;
            }
            if let Some(status) = step.status {
                tx.execute("UPDATE instances SET runtime_status = ?1 WHERE instance_id = ?2", params![status.as_str(), instance_id])
                    .map_err(sql)?;
            }
            if let Some(input) = &step.input {
                tx.execute("UPDATE instances SET input = ?1 WHERE instance_id = ?2", params![input, instance_id]).map_err(sql)?;
            }
            if let Some(output) = &step.output {
                tx.execute("UPDATE instances SET output = ?1 WHERE instance_id = ?2", params![output, instance_id]).map_err(sql)?;
            }
            if let Some(custom) = &step.custom_status {
                tx.execute("UPDATE instances SET custom_status = ?1 WHERE instance_id = ?2", params![custom, instance_id])
                    .map_err(sql)?;
            }
            if let Some(state) = &step.entity_state {
                tx.execute("UPDATE instances SET entity_state = ?1 WHERE instance_id = ?2", params![state, instance_id])
                    .map_err(sql)?;
            }
            let mut activity = tx
                .prepare_cached("INSERT INTO activities (instance_id, execution_id, task_id, name, input) VALUES (?1, ?2, ?3, ?4, ?5)")
                .map_err(sql)?;
            for a in &step.activities {
                activity.execute(params![instance_id, execution_id, a.task_id, a.name, a.input]).map_err(sql)?;
            }
            for instance in &step.new_instances {
                create_with_start_event(tx, instance, now)?;
            }
            for message in &step.messages {
                // An event for an instance that is gone (purged) has nobody to go to.
                if !instance_ready_for(tx, &message.instance_id, now)? {
                    continue;
                }
                insert_event(tx, message, now)?;
            }
            Ok(())
        })
    }

    fn abandon_instance(&self, item: &InstanceWorkItem, delay: Duration) -> Result<(), TaskHubError> {
        let now = self.now_ms();
        let visible = now.saturating_add(lease_ms(delay));
        self.write(|tx| {
            tx.execute(
                "UPDATE instances SET locked_by = NULL, lock_expires_ms = 0 WHERE instance_id = ?1 AND locked_by = ?2",
                params![item.instance.instance_id, item.lock_token],
            )
            .map_err(sql)?;
            let mut update = tx.prepare_cached("UPDATE new_events SET visible_ms = ?1 WHERE id = ?2").map_err(sql)?;
            for (id, _, _) in &item.events {
                update.execute(params![visible, id]).map_err(sql)?;
            }
            Ok(())
        })
    }

    fn lock_next_activity(
        &self,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<ActivityWorkItem>, TaskHubError> {
        let now = self.now_ms();
        let token = format!("{owner}:{}", uuid::Uuid::new_v4().simple());
        let expires = now.saturating_add(lease_ms(lease));
        self.write(|tx| {
            let row = tx
                .query_row(
                    "SELECT id, instance_id, execution_id, task_id, name, input FROM activities \
                     WHERE lock_expires_ms <= ?1 ORDER BY lock_expires_ms, id LIMIT 1",
                    [now],
                    |r| {
                        Ok(ActivityWorkItem {
                            id: r.get(0)?,
                            instance_id: r.get(1)?,
                            execution_id: r.get(2)?,
                            task_id: r.get(3)?,
                            name: r.get(4)?,
                            input: r.get(5)?,
                            lock_token: token.clone(),
                        })
                    },
                )
                .optional()
                .map_err(sql)?;
            if let Some(item) = &row {
                tx.execute(
                    "UPDATE activities SET locked_by = ?1, lock_expires_ms = ?2 WHERE id = ?3",
                    params![token, expires, item.id],
                )
                .map_err(sql)?;
            }
            Ok(row)
        })
    }

    fn complete_activity(&self, item: &ActivityWorkItem, result: HistoryEvent) -> Result<(), TaskHubError> {
        let now = self.now_ms();
        self.write(|tx| {
            let held = tx
                .execute(
                    "DELETE FROM activities WHERE id = ?1 AND locked_by = ?2",
                    params![item.id, item.lock_token],
                )
                .map_err(sql)?;
            if held == 0 {
                return Err(item.lease_lost());
            }
            let message = item.result_message(result);
            insert_event(tx, &message, now)
        })
    }

    fn abandon_activity(&self, item: &ActivityWorkItem) -> Result<(), TaskHubError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE activities SET locked_by = NULL, lock_expires_ms = 0 WHERE id = ?1 AND locked_by = ?2",
                params![item.id, item.lock_token],
            )
            .map_err(sql)?;
            Ok(())
        })
    }

    fn renew_instance_lease(&self, item: &InstanceWorkItem, lease: Duration) -> Result<(), TaskHubError> {
        let expires = self.now_ms().saturating_add(lease_ms(lease));
        self.write(|tx| {
            let n = tx
                .execute(
                    "UPDATE instances SET lock_expires_ms = ?1 WHERE instance_id = ?2 AND locked_by = ?3",
                    params![expires, item.instance.instance_id, item.lock_token],
                )
                .map_err(sql)?;
            if n == 0 {
                return Err(instance_lease_lost(&item.instance.instance_id));
            }
            Ok(())
        })
    }

    fn renew_activity_lease(&self, item: &ActivityWorkItem, lease: Duration) -> Result<(), TaskHubError> {
        let expires = self.now_ms().saturating_add(lease_ms(lease));
        self.write(|tx| {
            let n = tx
                .execute(
                    "UPDATE activities SET lock_expires_ms = ?1 WHERE id = ?2 AND locked_by = ?3",
                    params![expires, item.id, item.lock_token],
                )
                .map_err(sql)?;
            if n == 0 {
                return Err(item.lease_lost());
            }
            Ok(())
        })
    }

    fn get_instance(&self, instance_id: &str) -> Result<Option<InstanceRecord>, TaskHubError> {
        let conn = self.lock();
        conn.query_row(
            &format!("SELECT {INSTANCE_COLUMNS} FROM instances WHERE instance_id = ?1"),
            [instance_id],
            read_instance,
        )
        .optional()
        .map_err(sql)
    }

    fn get_history(&self, instance_id: &str) -> Result<Vec<HistoryEvent>, TaskHubError> {
        let mut conn = self.lock();
        let tx = conn.transaction().map_err(sql)?;
        read_history(&tx, instance_id)
    }

    fn query_instances(&self, query: &InstanceQuery) -> Result<InstancePage, TaskHubError> {
        let conn = self.lock();
        let (where_sql, mut values) = query_filter(query);
        // The continuation is the last row's (created_ms, instance_id): a stable keyset page.
        let mut where_sql = where_sql;
        if let Some((created, id)) = query.continuation.as_deref().and_then(|c| c.split_once(':')) {
            let created: i64 = created.parse().unwrap_or(0);
            where_sql.push_str(" AND (created_ms > ? OR (created_ms = ? AND instance_id > ?))");
            values.push(rusqlite::types::Value::Integer(created));
            values.push(rusqlite::types::Value::Integer(created));
            values.push(rusqlite::types::Value::Text(id.to_string()));
        }
        let page_size = if query.page_size == 0 { 100 } else { query.page_size };
        let text = format!(
            "SELECT {INSTANCE_COLUMNS} FROM instances WHERE {where_sql} ORDER BY created_ms, instance_id LIMIT {}",
            page_size + 1
        );
        let mut statement = conn.prepare(&text).map_err(sql)?;
        let mut instances: Vec<InstanceRecord> = statement
            .query_map(rusqlite::params_from_iter(values), read_instance)
            .map_err(sql)?
            .collect::<Result<_, _>>()
            .map_err(sql)?;
        let continuation = if instances.len() > page_size {
            instances.truncate(page_size);
            instances.last().map(|last| format!("{}:{}", ms(last.created), last.instance_id))
        } else {
            None
        };
        Ok(InstancePage { instances, continuation })
    }

    fn purge_instance(&self, instance_id: &str) -> Result<usize, TaskHubError> {
        self.write(|tx| delete_instance(tx, instance_id))
    }

    fn purge_instances(&self, query: &InstanceQuery) -> Result<usize, TaskHubError> {
        let (where_sql, values) = query_filter(query);
        self.write(|tx| {
            let text = format!(
                "SELECT instance_id FROM instances WHERE {where_sql} \
                 AND runtime_status IN ('Completed', 'Failed', 'Terminated')"
            );
            let ids: Vec<String> = {
                let mut statement = tx.prepare(&text).map_err(sql)?;
                statement
                    .query_map(rusqlite::params_from_iter(values), |r| r.get(0))
                    .map_err(sql)?
                    .collect::<Result<_, _>>()
                    .map_err(sql)?
            };
            let mut purged = 0;
            for id in ids {
                purged += delete_instance(tx, &id)?;
            }
            Ok(purged)
        })
    }

    fn rewind(&self, instance_id: &str, reason: &str) -> Result<usize, TaskHubError> {
        let now = self.now_ms();
        self.write(|tx| {
            let record = tx
                .query_row(&format!("SELECT {INSTANCE_COLUMNS} FROM instances WHERE instance_id = ?1"), [instance_id], read_instance)
                .optional()
                .map_err(sql)?
                .ok_or_else(|| TaskHubError::NoInstance(instance_id.to_string()))?;
            if record.status != RuntimeStatus::Failed {
                return Err(TaskHubError::NotFailed { instance_id: instance_id.to_string(), status: record.status.as_str() });
            }
            let history = {
                let mut statement =
                    tx.prepare("SELECT sequence, event FROM history WHERE instance_id = ?1 ORDER BY sequence").map_err(sql)?;
                let rows = statement
                    .query_map([instance_id], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))
                    .map_err(sql)?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(sql)?;
                rows.into_iter().map(|(seq, text)| parse_event(&text).map(|e| (seq, e))).collect::<Result<Vec<_>, _>>()?
            };
            let mut rerun = 0;
            for (sequence, event) in &history {
                match event.event_type {
                    EventType::ExecutionFailed => {
                        tx.execute("DELETE FROM history WHERE instance_id = ?1 AND sequence = ?2", params![instance_id, sequence])
                            .map_err(sql)?;
                    }
                    EventType::TaskFailed => {
                        let task_id = event.task_scheduled_id.unwrap_or(-1);
                        let Some(scheduled) = history.iter().map(|(_, e)| e).find(|e| {
                            e.event_type == EventType::TaskScheduled && e.event_id == task_id
                        }) else {
                            continue;
                        };
                        let mut set_aside = event.clone();
                        set_aside.event_type = EventType::GenericEvent;
                        set_aside.details = Some(format!("rewound: {reason}"));
                        tx.execute(
                            "UPDATE history SET event = ?1 WHERE instance_id = ?2 AND sequence = ?3",
                            params![event_json(&set_aside), instance_id, sequence],
                        )
                        .map_err(sql)?;
                        tx.execute(
                            "INSERT INTO activities (instance_id, execution_id, task_id, name, input) VALUES (?1, ?2, ?3, ?4, ?5)",
                            params![instance_id, record.execution_id, task_id, scheduled.name, scheduled.input],
                        )
                        .map_err(sql)?;
                        rerun += 1;
                    }
                    _ => {}
                }
            }
            tx.execute(
                "UPDATE instances SET runtime_status = 'Running', output = NULL, last_updated_ms = ?1 WHERE instance_id = ?2",
                params![now, instance_id],
            )
            .map_err(sql)?;
            // With nothing to run again, one step replays the orchestrator (its code may be fixed).
            if rerun == 0 {
                let mut nudge = HistoryEvent::new(EventType::GenericEvent, from_ms(now));
                nudge.details = Some(format!("rewound: {reason}"));
                let message =
                    Message { instance_id: instance_id.to_string(), execution_id: None, event: nudge, visible_at: None };
                insert_event(tx, &message, now)?;
            }
            Ok(rerun)
        })
    }

    fn next_wake(&self) -> Result<Option<DateTime<Utc>>, TaskHubError> {
        let conn = self.lock();
        let next: Option<i64> = conn
            .query_row(
                "SELECT MIN(t) FROM (SELECT MIN(visible_ms) AS t FROM new_events \
                 UNION ALL SELECT MIN(lock_expires_ms) FROM activities)",
                [],
                |r| r.get(0),
            )
            .map_err(sql)?;
        Ok(next.map(from_ms))
    }
}

fn read_history(tx: &Transaction<'_>, instance_id: &str) -> Result<Vec<HistoryEvent>, TaskHubError> {
    let mut statement = tx
        .prepare_cached("SELECT event FROM history WHERE instance_id = ?1 ORDER BY sequence")
        .map_err(sql)?;
    let rows = statement.query_map([instance_id], |r| r.get::<_, String>(0)).map_err(sql)?;
    let mut out = Vec::new();
    for row in rows {
        out.push(parse_event(&row.map_err(sql)?)?);
    }
    Ok(out)
}

fn query_filter(query: &InstanceQuery) -> (String, Vec<rusqlite::types::Value>) {
    use rusqlite::types::Value;
    let mut clauses =
        vec![if query.include_entities { "1 = 1".to_string() } else { "is_entity = 0".to_string() }];
    let mut values = Vec::new();
    if !query.statuses.is_empty() {
        let marks = vec!["?"; query.statuses.len()].join(", ");
        clauses.push(format!("runtime_status IN ({marks})"));
        values.extend(query.statuses.iter().map(|s| Value::Text(s.as_str().to_string())));
    }
    if let Some(from) = query.created_from {
        clauses.push("created_ms >= ?".into());
        values.push(Value::Integer(ms(from)));
    }
    if let Some(to) = query.created_to {
        clauses.push("created_ms <= ?".into());
        values.push(Value::Integer(ms(to)));
    }
    if let Some(prefix) = &query.instance_id_prefix {
        clauses.push("substr(instance_id, 1, ?) = ?".into());
        values.push(Value::Integer(prefix.chars().count() as i64));
        values.push(Value::Text(prefix.clone()));
    }
    (clauses.join(" AND "), values)
}

//! The task hub on PostgreSQL, for many hosts running one app on one database (selected, like
//! the queue store, by an `AzureWebJobsStorage` holding a `postgres://` URL).
//!
//! The tables are those of the SQLite hub, prefixed `fnwire_durable_`, with their own version
//! table (`fnwire_durable_schema`, the same rule as the queue store's: created or migrated at
//! open under an advisory lock, a newer version refused untouched). Connections, the I/O
//! thread and the migration rule are `fnwire-storage-postgres`'s (one copy).
//!
//! What makes it safe for many hosts:
//! * an instance is taken with `FOR UPDATE OF i SKIP LOCKED` and leased (`locked_by`,
//!   `lock_expires_ms`): hosts taking work together never take one instance twice nor wait on
//!   each other, and a dead host's instance is taken again once its lease expires;
//! * activities (and entity operations, which are events of the entity's instance) are
//!   competing work items taken the same way;
//! * a step, and an activity's result, commit only while the committer's lock token still
//!   holds the row, in one transaction;
//! * timers are events with a future `visible_ms`;
//! * every insert of work sends `NOTIFY fnwire_durable` (`events` or `activities`) at commit,
//!   so idle hosts wake at once ([`TaskHub::watch`]); they poll as well.
//!
//! Payloads and history events stay JSON text (`TEXT`, not `jsonb`): they are read back
//! byte for byte as they were written, and nothing queries inside them.
//!
//! Unlike the SQLite hub, nothing is released at start: other live hosts hold leases.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use fnwire_storage_postgres::deadpool_postgres::{self as deadpool, GenericClient};
use fnwire_storage_postgres::tokio_postgres::{self, Row, types::ToSql};
use fnwire_storage_postgres::{PgStore, PgStoreOptions, redact};

use crate::model::{EventType, HistoryEvent, RuntimeStatus};
use crate::sqlite::Clock;
use crate::taskhub::{
    ActivityWorkItem, InstancePage, InstanceQuery, InstanceRecord, InstanceStep, InstanceWorkItem, Message,
    NewInstance, ParentRef, TaskHub, TaskHubError, WorkKind, from_ms, instance_lease_lost, lease_ms, ms,
};

/// The channel new durable work is announced on; the payload is `events` or `activities`.
pub const WORK_CHANNEL: &str = "fnwire_durable";

/// The version table of the task hub's tables.
const VERSION_TABLE: &str = "fnwire_durable_schema";

/// Migration `n` takes the task hub's tables from version `n` to `n + 1`.
const MIGRATIONS: &[&str] = &["
CREATE TABLE fnwire_durable_instances (
    instance_id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    runtime_status TEXT NOT NULL,
    input TEXT,
    output TEXT,
    custom_status TEXT,
    parent_instance_id TEXT,
    parent_execution_id TEXT,
    parent_task_id BIGINT,
    created_ms BIGINT NOT NULL,
    last_updated_ms BIGINT NOT NULL,
    is_entity BOOLEAN NOT NULL DEFAULT FALSE,
    entity_state TEXT,
    locked_by TEXT,
    lock_expires_ms BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX fnwire_durable_instances_by_created ON fnwire_durable_instances (created_ms, instance_id);
CREATE TABLE fnwire_durable_history (
    instance_id TEXT NOT NULL,
    sequence BIGINT NOT NULL,
    event TEXT NOT NULL,
    PRIMARY KEY (instance_id, sequence)
);
CREATE TABLE fnwire_durable_events (
    id BIGSERIAL PRIMARY KEY,
    instance_id TEXT NOT NULL,
    execution_id TEXT,
    event_type INTEGER NOT NULL,
    event TEXT NOT NULL,
    visible_ms BIGINT NOT NULL
);
CREATE INDEX fnwire_durable_events_by_visible ON fnwire_durable_events (visible_ms, id);
CREATE INDEX fnwire_durable_events_by_instance ON fnwire_durable_events (instance_id, id);
CREATE TABLE fnwire_durable_activities (
    id BIGSERIAL PRIMARY KEY,
    instance_id TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    task_id BIGINT NOT NULL,
    name TEXT NOT NULL,
    input TEXT,
    locked_by TEXT,
    lock_expires_ms BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX fnwire_durable_activities_by_lock ON fnwire_durable_activities (lock_expires_ms, id);
CREATE INDEX fnwire_durable_activities_by_instance ON fnwire_durable_activities (instance_id);
"];

/// The version of the task hub's tables this fnwire writes and reads.
pub const TASK_HUB_SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Counts the durable work waiting in a database, for KEDA's `postgresql` scaler: events
/// visible now whose instance no live lease holds (for a suspended instance, only a resume or
/// a terminate), and activities no live lease holds.
pub fn pending_work_query() -> String {
    let now = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::bigint";
    format!(
        "SELECT (SELECT COUNT(*) FROM fnwire_durable_events e JOIN fnwire_durable_instances i \
         ON i.instance_id = e.instance_id WHERE e.visible_ms <= {now} \
         AND (i.locked_by IS NULL OR i.lock_expires_ms <= {now}) \
         AND (i.runtime_status <> 'Suspended' OR e.event_type IN (3, 20))) \
         + (SELECT COUNT(*) FROM fnwire_durable_activities WHERE lock_expires_ms <= {now})"
    )
}

/// The PostgreSQL task hub.
pub struct PgTaskHub {
    db: PgStore,
    clock: Clock,
}

impl std::fmt::Debug for PgTaskHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgTaskHub").field("database", &redact(self.db.url())).finish_non_exhaustive()
    }
}

/// A client error as the task hub reports it: the server's message and SQLSTATE.
fn sql(e: tokio_postgres::Error) -> TaskHubError {
    TaskHubError::Store(match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => e.to_string(),
    })
}

fn event_json(event: &HistoryEvent) -> String {
    serde_json::to_string(event).unwrap_or_default()
}

fn parse_event(text: &str) -> Result<HistoryEvent, TaskHubError> {
    serde_json::from_str(text)
        .map_err(|e| TaskHubError::Store(format!("a stored history event does not parse: {e}")))
}

fn new_token(owner: &str) -> String {
    format!("{owner}:{}", uuid::Uuid::new_v4().simple())
}

const INSTANCE_COLUMNS: &str = "instance_id, name, execution_id, runtime_status, input, output, custom_status, \
     parent_instance_id, parent_execution_id, parent_task_id, created_ms, last_updated_ms, entity_state";

fn read_instance(row: &Row) -> InstanceRecord {
    let status: String = row.get(3);
    let parent = row.get::<_, Option<String>>(7).map(|instance_id| ParentRef {
        instance_id,
        execution_id: row.get::<_, Option<String>>(8).unwrap_or_default(),
        task_id: row.get::<_, Option<i64>>(9).unwrap_or(-1),
    });
    InstanceRecord {
        instance_id: row.get(0),
        name: row.get(1),
        execution_id: row.get(2),
        status: RuntimeStatus::parse(&status).unwrap_or(RuntimeStatus::Pending),
        input: row.get(4),
        output: row.get(5),
        custom_status: row.get(6),
        parent,
        created: from_ms(row.get(10)),
        last_updated: from_ms(row.get(11)),
        entity_state: row.get(12),
    }
}

async fn notify(client: &impl GenericClient, kind: WorkKind) -> Result<(), TaskHubError> {
    let payload = match kind {
        WorkKind::Events => "events",
        WorkKind::Activities => "activities",
    };
    client.execute("SELECT pg_notify($1, $2)", &[&WORK_CHANNEL, &payload]).await.map_err(sql)?;
    Ok(())
}

async fn delete_instance(client: &impl GenericClient, instance_id: &str) -> Result<usize, TaskHubError> {
    for table in ["fnwire_durable_history", "fnwire_durable_events", "fnwire_durable_activities"] {
        client
            .execute(&format!("DELETE FROM {table} WHERE instance_id = $1"), &[&instance_id])
            .await
            .map_err(sql)?;
    }
    let n = client
        .execute("DELETE FROM fnwire_durable_instances WHERE instance_id = $1", &[&instance_id])
        .await
        .map_err(sql)?;
    Ok(n as usize)
}

async fn insert_instance(
    client: &impl GenericClient,
    instance: &NewInstance,
    now: i64,
) -> Result<String, TaskHubError> {
    let existing = client
        .query_opt(
            "SELECT runtime_status FROM fnwire_durable_instances WHERE instance_id = $1 FOR UPDATE",
            &[&instance.instance_id],
        )
        .await
        .map_err(sql)?;
    if let Some(row) = existing {
        let status = RuntimeStatus::parse(row.get(0)).unwrap_or(RuntimeStatus::Running);
        if !status.is_terminal() {
            return Err(TaskHubError::InstanceExists {
                instance_id: instance.instance_id.clone(),
                status: status.as_str(),
            });
        }
        delete_instance(client, &instance.instance_id).await?;
    }
    let execution_id = uuid::Uuid::new_v4().simple().to_string();
    let parent = instance.parent.as_ref();
    let inserted = client
        .execute(
            "INSERT INTO fnwire_durable_instances (instance_id, name, execution_id, runtime_status, input, \
             parent_instance_id, parent_execution_id, parent_task_id, created_ms, last_updated_ms) \
             VALUES ($1, $2, $3, 'Pending', $4, $5, $6, $7, $8, $8) ON CONFLICT (instance_id) DO NOTHING",
            &[
                &instance.instance_id,
                &instance.name,
                &execution_id,
                &instance.input,
                &parent.map(|p| &p.instance_id),
                &parent.map(|p| &p.execution_id),
                &parent.map(|p| p.task_id),
                &now,
            ],
        )
        .await
        .map_err(sql)?;
    if inserted == 0 {
        // Another host created it between the check and the insert.
        return Err(TaskHubError::InstanceExists {
            instance_id: instance.instance_id.clone(),
            status: RuntimeStatus::Pending.as_str(),
        });
    }
    Ok(execution_id)
}

async fn insert_event(client: &impl GenericClient, message: &Message, now: i64) -> Result<(), TaskHubError> {
    let visible = message.visible_at.map(ms).unwrap_or(now);
    let event_type = i32::from(message.event.event_type as u8);
    let statement = client
        .prepare_cached(
            "INSERT INTO fnwire_durable_events (instance_id, execution_id, event_type, event, visible_ms) \
             VALUES ($1, $2, $3, $4, $5)",
        )
        .await
        .map_err(sql)?;
    client
        .execute(
            &statement,
            &[
                &message.instance_id,
                &message.execution_id,
                &event_type,
                &event_json(&message.event),
                &visible,
            ],
        )
        .await
        .map_err(sql)?;
    Ok(())
}

/// Whether a message for `instance_id` has an instance to go to; an entity's instance is
/// created by its first message (by one host: the insert does nothing when another got there
/// first).
async fn instance_ready_for(
    client: &impl GenericClient,
    instance_id: &str,
    now: i64,
) -> Result<bool, TaskHubError> {
    let exists = client
        .query_opt("SELECT 1 FROM fnwire_durable_instances WHERE instance_id = $1", &[&instance_id])
        .await
        .map_err(sql)?
        .is_some();
    if exists {
        return Ok(true);
    }
    let Some(entity) = crate::model::EntityId::from_scheduler_id(instance_id) else {
        return Ok(false);
    };
    let execution_id = uuid::Uuid::new_v4().simple().to_string();
    client
        .execute(
            "INSERT INTO fnwire_durable_instances (instance_id, name, execution_id, runtime_status, created_ms, \
             last_updated_ms, is_entity) VALUES ($1, $2, $3, 'Running', $4, $4, TRUE) \
             ON CONFLICT (instance_id) DO NOTHING",
            &[&instance_id, &entity.name, &execution_id, &now],
        )
        .await
        .map_err(sql)?;
    Ok(true)
}

async fn create_with_start_event(
    client: &impl GenericClient,
    instance: &NewInstance,
    now: i64,
) -> Result<(), TaskHubError> {
    let execution_id = insert_instance(client, instance, now).await?;
    let message = instance.start_message(execution_id, from_ms(now));
    insert_event(client, &message, now).await
}

async fn read_history(
    client: &impl GenericClient,
    instance_id: &str,
) -> Result<Vec<HistoryEvent>, TaskHubError> {
    let statement = client
        .prepare_cached("SELECT event FROM fnwire_durable_history WHERE instance_id = $1 ORDER BY sequence")
        .await
        .map_err(sql)?;
    let rows = client.query(&statement, &[&instance_id]).await.map_err(sql)?;
    rows.iter().map(|r| parse_event(r.get(0))).collect()
}

/// A query's filters as SQL with `$n` parameters numbered from 1.
fn query_filter(query: &InstanceQuery) -> (Vec<String>, Vec<Box<dyn ToSql + Sync + Send>>) {
    let mut clauses =
        vec![if query.include_entities { "TRUE".to_string() } else { "NOT is_entity".to_string() }];
    let mut values: Vec<Box<dyn ToSql + Sync + Send>> = Vec::new();
    if !query.statuses.is_empty() {
        let statuses: Vec<String> = query.statuses.iter().map(|s| s.as_str().to_string()).collect();
        values.push(Box::new(statuses));
        clauses.push(format!("runtime_status = ANY(${})", values.len()));
    }
    if let Some(from) = query.created_from {
        values.push(Box::new(ms(from)));
        clauses.push(format!("created_ms >= ${}", values.len()));
    }
    if let Some(to) = query.created_to {
        values.push(Box::new(ms(to)));
        clauses.push(format!("created_ms <= ${}", values.len()));
    }
    if let Some(prefix) = &query.instance_id_prefix {
        values.push(Box::new(prefix.clone()));
        clauses.push(format!("starts_with(instance_id, ${})", values.len()));
    }
    (clauses, values)
}

fn params(values: &[Box<dyn ToSql + Sync + Send>]) -> Vec<&(dyn ToSql + Sync)> {
    values.iter().map(|v| v.as_ref() as &(dyn ToSql + Sync)).collect()
}

/// Runs `$body` (a block that may use `?` and `return`) in one transaction on a pooled
/// connection, bound to `$tx`, and commits it; an error rolls everything back.
macro_rules! transaction {
    ($hub:expr, $what:expr, |$tx:ident| $body:block) => {
        $hub.db.run(async {
            let mut conn = $hub.connection($what).await?;
            let owned = conn.transaction().await.map_err(sql)?;
            let out = {
                let $tx = &owned;
                async { $body }.await?
            };
            owned.commit().await.map_err(sql)?;
            Ok(out)
        })
    };
}

impl PgTaskHub {
    /// Connects to the database at `url` and creates or migrates the task hub's tables.
    pub fn open(url: &str) -> Result<PgTaskHub, TaskHubError> {
        PgTaskHub::open_with(url, Arc::new(Utc::now))
    }

    pub fn open_with(url: &str, clock: Clock) -> Result<PgTaskHub, TaskHubError> {
        let options = PgStoreOptions { clock: clock.clone(), ..PgStoreOptions::default() };
        let db = PgStore::open_with(url, options).map_err(|e| TaskHubError::Store(e.to_string()))?;
        db.migrate_tables(VERSION_TABLE, MIGRATIONS).map_err(|e| TaskHubError::Store(e.to_string()))?;
        Ok(PgTaskHub { db, clock })
    }

    /// The shared store the hub's connections belong to (the app's keys live there too).
    pub fn store(&self) -> &PgStore {
        &self.db
    }

    fn now_ms(&self) -> i64 {
        ms((self.clock)())
    }

    async fn connection(&self, what: &'static str) -> Result<deadpool::Object, TaskHubError> {
        self.db.connection(what).await.map_err(|e| TaskHubError::Store(e.to_string()))
    }
}

impl TaskHub for PgTaskHub {
    fn create_instance(&self, instance: &NewInstance) -> Result<(), TaskHubError> {
        let now = self.now_ms();
        transaction!(self, "starting an instance", |tx| {
            create_with_start_event(tx, instance, now).await?;
            notify(tx, WorkKind::Events).await
        })
    }

    fn send(&self, message: &Message) -> Result<(), TaskHubError> {
        let now = self.now_ms();
        transaction!(self, "sending an event", |tx| {
            if !instance_ready_for(tx, &message.instance_id, now).await? {
                return Err(TaskHubError::NoInstance(message.instance_id.clone()));
            }
            insert_event(tx, message, now).await?;
            notify(tx, WorkKind::Events).await
        })
    }

    fn lock_next_instance(
        &self,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<InstanceWorkItem>, TaskHubError> {
        let now = self.now_ms();
        let token = new_token(owner);
        let expires = now.saturating_add(lease_ms(lease));
        transaction!(self, "taking an instance", |tx| {
            // SKIP LOCKED: an instance another host is taking right now is passed over; a
            // suspended instance takes only a resume or a terminate.
            let picked = tx
                .query_opt(
                    "SELECT i.instance_id FROM fnwire_durable_events e \
                         JOIN fnwire_durable_instances i ON i.instance_id = e.instance_id \
                         WHERE e.visible_ms <= $1 AND (i.locked_by IS NULL OR i.lock_expires_ms <= $1) \
                         AND (i.runtime_status <> 'Suspended' OR e.event_type IN (3, 20)) \
                         ORDER BY e.visible_ms, e.id LIMIT 1 FOR UPDATE OF i SKIP LOCKED",
                    &[&now],
                )
                .await
                .map_err(sql)?;
            let Some(picked) = picked else { return Ok(None) };
            let instance_id: String = picked.get(0);
            let row = tx
                .query_one(
                    &format!(
                        "UPDATE fnwire_durable_instances SET locked_by = $1, lock_expires_ms = $2 \
                             WHERE instance_id = $3 RETURNING {INSTANCE_COLUMNS}"
                    ),
                    &[&token, &expires, &instance_id],
                )
                .await
                .map_err(sql)?;
            let instance = read_instance(&row);
            let history = read_history(tx, &instance_id).await?;
            let rows = tx
                .query(
                    "SELECT id, execution_id, event FROM fnwire_durable_events \
                         WHERE instance_id = $1 AND visible_ms <= $2 ORDER BY id",
                    &[&instance_id, &now],
                )
                .await
                .map_err(sql)?;
            let mut events = Vec::with_capacity(rows.len());
            for r in &rows {
                events.push((r.get::<_, i64>(0), r.get::<_, Option<String>>(1), parse_event(r.get(2))?));
            }
            Ok(Some(InstanceWorkItem { instance, history, events, lock_token: token.clone() }))
        })
    }

    fn complete_instance(&self, item: &InstanceWorkItem, step: &InstanceStep) -> Result<(), TaskHubError> {
        let now = self.now_ms();
        let instance_id = &item.instance.instance_id;
        transaction!(self, "committing an orchestration step", |tx| {
            let held = tx
                .execute(
                    "UPDATE fnwire_durable_instances SET locked_by = NULL, lock_expires_ms = 0, \
                         last_updated_ms = $1 WHERE instance_id = $2 AND locked_by = $3",
                    &[&now, instance_id, &item.lock_token],
                )
                .await
                .map_err(sql)?;
            if held == 0 {
                return Err(instance_lease_lost(instance_id));
            }
            if !step.consumed.is_empty() {
                tx.execute("DELETE FROM fnwire_durable_events WHERE id = ANY($1)", &[&step.consumed])
                    .await
                    .map_err(sql)?;
            }
            let execution_id = match &step.new_execution_id {
                Some(new_id) => {
                    tx.execute("DELETE FROM fnwire_durable_history WHERE instance_id = $1", &[instance_id])
                        .await
                        .map_err(sql)?;
                    tx.execute(
                        "UPDATE fnwire_durable_instances SET execution_id = $1 WHERE instance_id = $2",
                        &[new_id, instance_id],
                    )
                    .await
                    .map_err(sql)?;
                    new_id.clone()
                }
                None => item.instance.execution_id.clone(),
            };
            if !step.history.is_empty() {
                let next: i64 = tx
                        .query_one(
                            "SELECT COALESCE(MAX(sequence) + 1, 0) FROM fnwire_durable_history WHERE instance_id = $1",
                            &[instance_id],
                        )
                        .await
                        .map_err(sql)?
                        .get(0);
                let sequences: Vec<i64> = (0..step.history.len() as i64).map(|i| next + i).collect();
                let events: Vec<String> = step.history.iter().map(event_json).collect();
                tx.execute(
                    "INSERT INTO fnwire_durable_history (instance_id, sequence, event) \
                         SELECT $1, s, e FROM UNNEST($2::BIGINT[], $3::TEXT[]) AS t(s, e)",
                    &[instance_id, &sequences, &events],
                )
                .await
                .map_err(sql)?;
            }
            let status = step.status.map(|s| s.as_str());
            let entity_state_set = step.entity_state.is_some();
            let entity_state = step.entity_state.clone().flatten();
            tx.execute(
                "UPDATE fnwire_durable_instances SET runtime_status = COALESCE($2, runtime_status), \
                     input = COALESCE($3, input), output = COALESCE($4, output), \
                     custom_status = COALESCE($5, custom_status), \
                     entity_state = CASE WHEN $6 THEN $7 ELSE entity_state END WHERE instance_id = $1",
                &[
                    instance_id,
                    &status,
                    &step.input,
                    &step.output,
                    &step.custom_status,
                    &entity_state_set,
                    &entity_state,
                ],
            )
            .await
            .map_err(sql)?;
            if !step.activities.is_empty() {
                let task_ids: Vec<i64> = step.activities.iter().map(|a| a.task_id).collect();
                let names: Vec<&str> = step.activities.iter().map(|a| a.name.as_str()).collect();
                let inputs: Vec<Option<&str>> = step.activities.iter().map(|a| a.input.as_deref()).collect();
                tx.execute(
                        "INSERT INTO fnwire_durable_activities (instance_id, execution_id, task_id, name, input) \
                         SELECT $1, $2, t, n, i FROM UNNEST($3::BIGINT[], $4::TEXT[], $5::TEXT[]) AS u(t, n, i)",
                        &[instance_id, &execution_id, &task_ids, &names, &inputs],
                    )
                    .await
                    .map_err(sql)?;
                notify(tx, WorkKind::Activities).await?;
            }
            for instance in &step.new_instances {
                create_with_start_event(tx, instance, now).await?;
            }
            for message in &step.messages {
                // An event for an instance that is gone (purged) has nobody to go to.
                if instance_ready_for(tx, &message.instance_id, now).await? {
                    insert_event(tx, message, now).await?;
                }
            }
            if !step.new_instances.is_empty() || !step.messages.is_empty() {
                notify(tx, WorkKind::Events).await?;
            }
            Ok(())
        })
    }

    fn abandon_instance(&self, item: &InstanceWorkItem, delay: Duration) -> Result<(), TaskHubError> {
        let visible = self.now_ms().saturating_add(lease_ms(delay));
        let ids: Vec<i64> = item.events.iter().map(|(id, _, _)| *id).collect();
        transaction!(self, "giving back an instance", |tx| {
            tx.execute(
                "UPDATE fnwire_durable_instances SET locked_by = NULL, lock_expires_ms = 0 \
                     WHERE instance_id = $1 AND locked_by = $2",
                &[&item.instance.instance_id, &item.lock_token],
            )
            .await
            .map_err(sql)?;
            tx.execute(
                "UPDATE fnwire_durable_events SET visible_ms = $1 WHERE id = ANY($2)",
                &[&visible, &ids],
            )
            .await
            .map_err(sql)?;
            Ok(())
        })
    }

    fn lock_next_activity(
        &self,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<ActivityWorkItem>, TaskHubError> {
        let now = self.now_ms();
        let token = new_token(owner);
        let expires = now.saturating_add(lease_ms(lease));
        self.db.run(async {
            let conn = self.connection("taking an activity").await?;
            let statement = conn
                .prepare_cached(
                    "WITH picked AS (SELECT id FROM fnwire_durable_activities WHERE lock_expires_ms <= $1 \
                     ORDER BY lock_expires_ms, id LIMIT 1 FOR UPDATE SKIP LOCKED) \
                     UPDATE fnwire_durable_activities a SET locked_by = $2, lock_expires_ms = $3 \
                     FROM picked WHERE a.id = picked.id \
                     RETURNING a.id, a.instance_id, a.execution_id, a.task_id, a.name, a.input",
                )
                .await
                .map_err(sql)?;
            let row = conn.query_opt(&statement, &[&now, &token, &expires]).await.map_err(sql)?;
            Ok(row.map(|r| ActivityWorkItem {
                id: r.get(0),
                instance_id: r.get(1),
                execution_id: r.get(2),
                task_id: r.get(3),
                name: r.get(4),
                input: r.get(5),
                lock_token: token.clone(),
            }))
        })
    }

    fn complete_activity(&self, item: &ActivityWorkItem, result: HistoryEvent) -> Result<(), TaskHubError> {
        let now = self.now_ms();
        transaction!(self, "recording an activity's result", |tx| {
            let held = tx
                .execute(
                    "DELETE FROM fnwire_durable_activities WHERE id = $1 AND locked_by = $2",
                    &[&item.id, &item.lock_token],
                )
                .await
                .map_err(sql)?;
            if held == 0 {
                return Err(item.lease_lost());
            }
            let message = item.result_message(result);
            insert_event(tx, &message, now).await?;
            notify(tx, WorkKind::Events).await
        })
    }

    fn abandon_activity(&self, item: &ActivityWorkItem) -> Result<(), TaskHubError> {
        transaction!(self, "giving back an activity", |tx| {
            let n = tx
                .execute(
                    "UPDATE fnwire_durable_activities SET locked_by = NULL, lock_expires_ms = 0 \
                         WHERE id = $1 AND locked_by = $2",
                    &[&item.id, &item.lock_token],
                )
                .await
                .map_err(sql)?;
            if n > 0 {
                notify(tx, WorkKind::Activities).await?;
            }
            Ok(())
        })
    }

    fn renew_instance_lease(&self, item: &InstanceWorkItem, lease: Duration) -> Result<(), TaskHubError> {
        let expires = self.now_ms().saturating_add(lease_ms(lease));
        self.db.run(async {
            let conn = self.connection("renewing an instance's lease").await?;
            let n = conn
                .execute(
                    "UPDATE fnwire_durable_instances SET lock_expires_ms = $1 WHERE instance_id = $2 AND locked_by = $3",
                    &[&expires, &item.instance.instance_id, &item.lock_token],
                )
                .await
                .map_err(sql)?;
            if n == 0 {
                return Err(instance_lease_lost(&item.instance.instance_id));
            }
            Ok(())
        })
    }

    fn renew_activity_lease(&self, item: &ActivityWorkItem, lease: Duration) -> Result<(), TaskHubError> {
        let expires = self.now_ms().saturating_add(lease_ms(lease));
        self.db.run(async {
            let conn = self.connection("renewing an activity's lease").await?;
            let n = conn
                .execute(
                    "UPDATE fnwire_durable_activities SET lock_expires_ms = $1 WHERE id = $2 AND locked_by = $3",
                    &[&expires, &item.id, &item.lock_token],
                )
                .await
                .map_err(sql)?;
            if n == 0 {
                return Err(item.lease_lost());
            }
            Ok(())
        })
    }

    fn get_instance(&self, instance_id: &str) -> Result<Option<InstanceRecord>, TaskHubError> {
        self.db.run(async {
            let conn = self.connection("reading an instance").await?;
            let row = conn
                .query_opt(
                    &format!(
                        "SELECT {INSTANCE_COLUMNS} FROM fnwire_durable_instances WHERE instance_id = $1"
                    ),
                    &[&instance_id],
                )
                .await
                .map_err(sql)?;
            Ok(row.as_ref().map(read_instance))
        })
    }

    fn get_history(&self, instance_id: &str) -> Result<Vec<HistoryEvent>, TaskHubError> {
        self.db.run(async {
            let conn = self.connection("reading a history").await?;
            read_history(&conn, instance_id).await
        })
    }

    fn query_instances(&self, query: &InstanceQuery) -> Result<InstancePage, TaskHubError> {
        let (mut clauses, mut values) = query_filter(query);
        // The continuation is the last row's (created_ms, instance_id): a stable keyset page.
        if let Some((created, id)) = query.continuation.as_deref().and_then(|c| c.split_once(':')) {
            values.push(Box::new(created.parse::<i64>().unwrap_or(0)));
            values.push(Box::new(id.to_string()));
            let (c, i) = (values.len() - 1, values.len());
            clauses.push(format!("(created_ms, instance_id) > (${c}, ${i})"));
        }
        let page_size = if query.page_size == 0 { 100 } else { query.page_size };
        let text = format!(
            "SELECT {INSTANCE_COLUMNS} FROM fnwire_durable_instances WHERE {} \
             ORDER BY created_ms, instance_id LIMIT {}",
            clauses.join(" AND "),
            page_size + 1
        );
        self.db.run(async {
            let conn = self.connection("listing instances").await?;
            let rows = conn.query(&text, &params(&values)).await.map_err(sql)?;
            let mut instances: Vec<InstanceRecord> = rows.iter().map(read_instance).collect();
            let continuation = if instances.len() > page_size {
                instances.truncate(page_size);
                instances.last().map(|last| format!("{}:{}", ms(last.created), last.instance_id))
            } else {
                None
            };
            Ok(InstancePage { instances, continuation })
        })
    }

    fn purge_instance(&self, instance_id: &str) -> Result<usize, TaskHubError> {
        transaction!(self, "purging an instance", |tx| { delete_instance(tx, instance_id).await })
    }

    fn purge_instances(&self, query: &InstanceQuery) -> Result<usize, TaskHubError> {
        let (clauses, values) = query_filter(query);
        let text = format!(
            "SELECT instance_id FROM fnwire_durable_instances WHERE {} \
             AND runtime_status IN ('Completed', 'Failed', 'Terminated') FOR UPDATE",
            clauses.join(" AND ")
        );
        let text = &text;
        let values = &values;
        transaction!(self, "purging instances", |tx| {
            let rows = tx.query(text, &params(values)).await.map_err(sql)?;
            let mut purged = 0;
            for row in &rows {
                purged += delete_instance(tx, row.get(0)).await?;
            }
            Ok(purged)
        })
    }

    fn rewind(&self, instance_id: &str, reason: &str) -> Result<usize, TaskHubError> {
        let now = self.now_ms();
        transaction!(self, "rewinding an instance", |tx| {
            let record = tx
                    .query_opt(
                        &format!(
                            "SELECT {INSTANCE_COLUMNS} FROM fnwire_durable_instances WHERE instance_id = $1 FOR UPDATE"
                        ),
                        &[&instance_id],
                    )
                    .await
                    .map_err(sql)?
                    .as_ref()
                    .map(read_instance)
                    .ok_or_else(|| TaskHubError::NoInstance(instance_id.to_string()))?;
            if record.status != RuntimeStatus::Failed {
                return Err(TaskHubError::NotFailed {
                    instance_id: instance_id.to_string(),
                    status: record.status.as_str(),
                });
            }
            let rows = tx
                    .query(
                        "SELECT sequence, event FROM fnwire_durable_history WHERE instance_id = $1 ORDER BY sequence",
                        &[&instance_id],
                    )
                    .await
                    .map_err(sql)?;
            let history = rows
                .iter()
                .map(|r| parse_event(r.get(1)).map(|e| (r.get::<_, i64>(0), e)))
                .collect::<Result<Vec<_>, _>>()?;
            let mut rerun = 0;
            for (sequence, event) in &history {
                match event.event_type {
                    EventType::ExecutionFailed => {
                        tx.execute(
                            "DELETE FROM fnwire_durable_history WHERE instance_id = $1 AND sequence = $2",
                            &[&instance_id, sequence],
                        )
                        .await
                        .map_err(sql)?;
                    }
                    EventType::TaskFailed => {
                        let task_id = event.task_scheduled_id.unwrap_or(-1);
                        let Some(scheduled) = history
                            .iter()
                            .map(|(_, e)| e)
                            .find(|e| e.event_type == EventType::TaskScheduled && e.event_id == task_id)
                        else {
                            continue;
                        };
                        let mut set_aside = event.clone();
                        set_aside.event_type = EventType::GenericEvent;
                        set_aside.details = Some(format!("rewound: {reason}"));
                        tx.execute(
                                "UPDATE fnwire_durable_history SET event = $1 WHERE instance_id = $2 AND sequence = $3",
                                &[&event_json(&set_aside), &instance_id, sequence],
                            )
                            .await
                            .map_err(sql)?;
                        tx.execute(
                                "INSERT INTO fnwire_durable_activities (instance_id, execution_id, task_id, name, input) \
                                 VALUES ($1, $2, $3, $4, $5)",
                                &[&instance_id, &record.execution_id, &task_id, &scheduled.name, &scheduled.input],
                            )
                            .await
                            .map_err(sql)?;
                        rerun += 1;
                    }
                    _ => {}
                }
            }
            tx.execute(
                "UPDATE fnwire_durable_instances SET runtime_status = 'Running', output = NULL, \
                     last_updated_ms = $1 WHERE instance_id = $2",
                &[&now, &instance_id],
            )
            .await
            .map_err(sql)?;
            if rerun == 0 {
                // With nothing to run again, one step replays the orchestrator (its code may
                // be fixed).
                let mut nudge = HistoryEvent::new(EventType::GenericEvent, from_ms(now));
                nudge.details = Some(format!("rewound: {reason}"));
                let message = Message {
                    instance_id: instance_id.to_string(),
                    execution_id: None,
                    event: nudge,
                    visible_at: None,
                };
                insert_event(tx, &message, now).await?;
                notify(tx, WorkKind::Events).await?;
            } else {
                notify(tx, WorkKind::Activities).await?;
            }
            Ok(rerun)
        })
    }

    fn next_wake(&self) -> Result<Option<DateTime<Utc>>, TaskHubError> {
        // An event waits for its time and for its instance's lease (held by this host or
        // another), so the hosts that do not hold it sleep until then instead of polling.
        self.db.run(async {
            let conn = self.connection("reading the next wake-up").await?;
            let statement = conn
                .prepare_cached(
                    "SELECT LEAST(\
                     (SELECT MIN(GREATEST(e.visible_ms, CASE WHEN i.locked_by IS NULL THEN 0 ELSE i.lock_expires_ms END)) \
                      FROM fnwire_durable_events e JOIN fnwire_durable_instances i ON i.instance_id = e.instance_id \
                      WHERE i.runtime_status <> 'Suspended' OR e.event_type IN (3, 20)), \
                     (SELECT MIN(lock_expires_ms) FROM fnwire_durable_activities))",
                )
                .await
                .map_err(sql)?;
            let next: Option<i64> = conn.query_one(&statement, &[]).await.map_err(sql)?.get(0);
            Ok(next.map(from_ms))
        })
    }

    fn watch(&self, wake: Box<dyn Fn(WorkKind) -> bool + Send>) -> Result<(), TaskHubError> {
        fnwire_storage_postgres::listen_on(self.db.url(), WORK_CHANNEL, "new durable work", move |payload| {
            match payload {
                "activities" => wake(WorkKind::Activities),
                "events" => wake(WorkKind::Events),
                // After a lost connection came back: anything may have arrived meanwhile.
                _ => wake(WorkKind::Events) && wake(WorkKind::Activities),
            }
        })
        .map(drop)
        .map_err(|e| TaskHubError::Store(format!("cannot start listening for new durable work: {e}")))
    }
}

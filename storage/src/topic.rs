//! Service Bus queues and topics on the embedded store.
//!
//! A send to a topic puts a copy in every subscription whose rules let it through (after the
//! matching rules' actions), all in one transaction; a queue is a topic whose one subscription
//! takes everything. A subscription's copies are received with peek-lock: a receive locks a
//! copy for the subscription's lock duration under a fresh lock token and counts a delivery;
//! only the holder of the current token may complete, abandon, renew or dead-letter it. A copy
//! delivered `MaxDeliveryCount` times without completion moves to the subscription's dead-letter
//! queue (reason `MaxDeliveryCountExceeded`); an expired one is dropped or, where the
//! subscription asks, dead-lettered (`TTLExpiredException`). A message with a
//! `ScheduledEnqueueTimeUtc` stays invisible until then. Where the topic asks for duplicate
//! detection, a `MessageId` seen within the window is accepted and dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, Utc};
use fnwire_messaging::{
    EntityDecl, EntityKind, Message, QUEUE_SUBSCRIPTION, Rule, RuleSpec, SubscriptionDecl,
    SubscriptionOptions, SystemProperties, TopicOptions, Value,
};
use rusqlite::{Connection, OptionalExtension, params};

use crate::queue::{DEFAULT_MESSAGE_TTL, MessageBody, delete_held, insert as insert_queue_message};
use crate::{StorageError, Store, duration_ms, from_millis, millis};

/// Tables of the Service Bus entities, created with the rest of the schema.
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS sb_entities (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    default_ttl_ms INTEGER NOT NULL,
    duplicate_window_ms INTEGER,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS sb_subscriptions (
    entity TEXT NOT NULL,
    name TEXT NOT NULL,
    lock_ms INTEGER NOT NULL,
    max_delivery INTEGER NOT NULL,
    default_ttl_ms INTEGER,
    dead_letter_on_expiry INTEGER NOT NULL,
    rules TEXT NOT NULL,
    PRIMARY KEY (entity, name)
);
CREATE TABLE IF NOT EXISTS sb_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    entity TEXT NOT NULL,
    subscription TEXT NOT NULL,
    body BLOB NOT NULL,
    props TEXT NOT NULL,
    enqueued_ms INTEGER NOT NULL,
    visible_ms INTEGER NOT NULL,
    expires_ms INTEGER NOT NULL,
    delivery_count INTEGER NOT NULL DEFAULT 0,
    lock_token TEXT,
    locked INTEGER NOT NULL DEFAULT 0,
    dead_letter INTEGER NOT NULL DEFAULT 0,
    dead_letter_reason TEXT,
    dead_letter_description TEXT
);
CREATE INDEX IF NOT EXISTS sb_messages_ready ON sb_messages (entity, subscription, dead_letter, visible_ms, seq);
-- Each receive sweeps its subscription for expired copies and for copies past MaxDeliveryCount:
-- these keep both sweeps to the copies they change instead of every copy of the subscription.
CREATE INDEX IF NOT EXISTS sb_messages_by_expiry ON sb_messages (entity, subscription, dead_letter, expires_ms);
CREATE INDEX IF NOT EXISTS sb_messages_by_delivery ON sb_messages (entity, subscription, dead_letter, delivery_count);
CREATE TABLE IF NOT EXISTS sb_duplicates (
    entity TEXT NOT NULL,
    message_id TEXT NOT NULL,
    expires_ms INTEGER NOT NULL,
    PRIMARY KEY (entity, message_id)
);
";

/// Service Bus's dead-letter reasons and descriptions.
pub const MAX_DELIVERY_REASON: &str = "MaxDeliveryCountExceeded";
pub const TTL_EXPIRED_REASON: &str = "TTLExpiredException";

/// A message to send to a queue or topic (an output, or `fnwire topic send`).
#[derive(Debug, Clone, PartialEq)]
pub struct Outgoing {
    pub entity: String,
    pub message: Message,
}

impl Outgoing {
    pub fn new(entity: impl Into<String>, message: Message) -> Self {
        Outgoing { entity: entity.into(), message }
    }
}

/// What one send did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendOutcome {
    /// Copies made (one per subscription that took it; a queue's one).
    pub copies: usize,
    /// Dropped as a duplicate of a `MessageId` sent within the detection window.
    pub duplicate: bool,
}

/// A subscription's copy of a message, delivered under a lock.
#[derive(Debug, Clone, PartialEq)]
pub struct LockedMessage {
    pub entity: String,
    pub subscription: String,
    pub sequence_number: i64,
    pub message: Message,
    /// Deliveries so far, this one included.
    pub delivery_count: i64,
    pub enqueued_time: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    pub locked_until: DateTime<Utc>,
    pub lock_token: String,
}

impl LockedMessage {
    pub fn lock(&self) -> MessageLock {
        MessageLock {
            entity: self.entity.clone(),
            subscription: self.subscription.clone(),
            sequence_number: self.sequence_number,
            lock_token: self.lock_token.clone(),
        }
    }
}

/// What identifies a held copy: its subscription, sequence number and current lock token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageLock {
    pub entity: String,
    pub subscription: String,
    pub sequence_number: i64,
    pub lock_token: String,
}

/// A copy seen without locking it (active or dead-lettered).
#[derive(Debug, Clone, PartialEq)]
pub struct PeekedCopy {
    pub sequence_number: i64,
    pub message: Message,
    pub delivery_count: i64,
    pub enqueued_time: DateTime<Utc>,
    pub expires_at: DateTime<Utc>,
    /// Scheduled for later, locked, or ready.
    pub state: &'static str,
    pub dead_letter_reason: Option<String>,
    pub dead_letter_description: Option<String>,
}

/// One subscription with its message counts.
#[derive(Debug, Clone, PartialEq)]
pub struct SubscriptionSummary {
    pub name: String,
    pub options: SubscriptionOptions,
    pub rules: Vec<RuleSpec>,
    pub active: u64,
    pub dead_letters: u64,
}

/// One queue or topic with its subscriptions.
#[derive(Debug, Clone, PartialEq)]
pub struct EntitySummary {
    pub name: String,
    pub kind: EntityKind,
    pub options: TopicOptions,
    pub subscriptions: Vec<SubscriptionSummary>,
}

/// The properties column: system and application properties of a copy.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
struct StoredProperties {
    #[serde(default)]
    system: SystemProperties,
    #[serde(default)]
    properties: std::collections::BTreeMap<String, Value>,
}

/// The stored text of a copy's properties (both backends store this shape).
pub fn encode_properties(m: &Message) -> String {
    serde_json::to_string(&StoredProperties { system: m.system.clone(), properties: m.properties.clone() })
        .unwrap_or_else(|_| "{}".into())
}

/// A copy from its stored body and properties text.
pub fn decode_message(body: Vec<u8>, props: &str) -> Message {
    let stored: StoredProperties = serde_json::from_str(props)
        .unwrap_or(StoredProperties { system: SystemProperties::default(), properties: Default::default() });
    Message { body, system: stored.system, properties: stored.properties }
}

fn new_token() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn kind_text(kind: EntityKind) -> &'static str {
    kind.as_str()
}

fn kind_of(text: &str) -> EntityKind {
    if text == "queue" { EntityKind::Queue } else { EntityKind::Topic }
}

/// Compiled rules by their stored JSON, so a send parses each subscription's rules once per
/// store rather than once per message.
#[derive(Default)]
pub struct RuleCache(Mutex<HashMap<String, Arc<Vec<Rule>>>>);

impl std::fmt::Debug for RuleCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RuleCache").finish_non_exhaustive()
    }
}

impl RuleCache {
    /// The compiled rules of a subscription's stored rules text.
    pub fn get(&self, json: &str) -> Result<Arc<Vec<Rule>>, StorageError> {
        let mut cache = self.0.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(rules) = cache.get(json) {
            return Ok(rules.clone());
        }
        let specs: Vec<RuleSpec> = serde_json::from_str(json).map_err(|e| {
            StorageError::InvalidServiceBusEntity(format!("stored rules cannot be read ({e}): {json}"))
        })?;
        let rules = specs
            .iter()
            .map(Rule::compile)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| StorageError::InvalidServiceBusEntity(e.to_string()))?;
        let rules = Arc::new(rules);
        if cache.len() > 1024 {
            cache.clear();
        }
        cache.insert(json.to_string(), rules.clone());
        Ok(rules)
    }
}

/// Checks a subscription's rules before they are stored: a rule that does not parse is refused
/// here, when it is created, with the position and what was expected.
pub fn check_rules(rules: &[RuleSpec]) -> Result<String, StorageError> {
    for r in rules {
        Rule::compile(r).map_err(|e| StorageError::InvalidServiceBusEntity(e.to_string()))?;
    }
    serde_json::to_string(rules).map_err(|e| StorageError::InvalidServiceBusEntity(e.to_string()))
}

fn check_name(name: &str) -> Result<(), StorageError> {
    fnwire_messaging::validate_entity_name(name).map_err(StorageError::InvalidServiceBusEntity)
}

fn upsert_subscription(tx: &Connection, entity: &str, s: &SubscriptionDecl) -> Result<(), StorageError> {
    if s.name != QUEUE_SUBSCRIPTION {
        check_name(&s.name)?;
    }
    let rules = check_rules(&s.rules)?;
    tx.execute(
        "INSERT INTO sb_subscriptions (entity, name, lock_ms, max_delivery, default_ttl_ms, dead_letter_on_expiry, rules)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (entity, name) DO UPDATE SET lock_ms = ?3, max_delivery = ?4, default_ttl_ms = ?5,
             dead_letter_on_expiry = ?6, rules = ?7",
        params![
            entity,
            s.name,
            duration_ms(s.options.lock_duration),
            i64::from(s.options.max_delivery_count),
            s.options.default_ttl.map(duration_ms),
            s.options.dead_lettering_on_expiration,
            rules
        ],
    )
    .map(|_| ())
    .map_err(|e| StorageError::InvalidServiceBusEntity(format!("storing subscription `{entity}/{}`: {e}", s.name)))
}

struct SubscriptionRow {
    name: String,
    rules_json: String,
    default_ttl_ms: Option<i64>,
}

impl Store {
    fn sb_tx<T>(
        &self,
        what: &'static str,
        body: impl FnOnce(&Connection) -> Result<T, StorageError>,
    ) -> Result<T, StorageError> {
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.sql_error("starting a transaction", e))?;
        let out = body(&tx)?;
        tx.commit().map_err(|e| self.sql_error(what, e))?;
        Ok(out)
    }

    /// Creates or updates a queue or topic and the subscriptions it declares (their options and
    /// rules are replaced; subscriptions it does not name are kept).
    pub fn declare_entity(&self, decl: &EntityDecl) -> Result<(), StorageError> {
        check_name(&decl.name)?;
        let now = millis(self.now());
        self.sb_tx("declaring a queue or topic", |tx| {
            let existing: Option<String> = tx
                .query_row("SELECT kind FROM sb_entities WHERE name = ?1", params![decl.name], |r| r.get(0))
                .optional()
                .map_err(|e| self.sql_error("reading an entity", e))?;
            if let Some(kind) = existing.filter(|k| kind_of(k) != decl.kind) {
                return Err(StorageError::InvalidServiceBusEntity(format!(
                    "`{}` exists as a {kind}; it cannot also be a {} (delete it first with `fnwire topic delete {}`)",
                    decl.name,
                    decl.kind.as_str(),
                    decl.name
                )));
            }
            tx.execute(
                "INSERT INTO sb_entities (name, kind, default_ttl_ms, duplicate_window_ms, created_ms) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (name) DO UPDATE SET default_ttl_ms = ?3, duplicate_window_ms = ?4",
                params![
                    decl.name,
                    kind_text(decl.kind),
                    duration_ms(decl.options.default_ttl),
                    decl.options.duplicate_detection.map(duration_ms),
                    now
                ],
            )
            .map_err(|e| self.sql_error("storing an entity", e))?;
            for s in &decl.subscriptions {
                upsert_subscription(tx, &decl.name, s)?;
            }
            Ok(())
        })
    }

    /// Adds (or replaces) a subscription of an existing topic.
    pub fn create_subscription(&self, topic: &str, s: &SubscriptionDecl) -> Result<(), StorageError> {
        self.sb_tx("creating a subscription", |tx| {
            let kind = entity_kind(tx, topic).map_err(|e| self.sql_error("reading an entity", e))?;
            match kind {
                None => Err(StorageError::EntityNotFound { name: topic.into() }),
                Some(EntityKind::Queue) => Err(StorageError::InvalidServiceBusEntity(format!(
                    "`{topic}` is a queue: queues have no subscriptions (create a topic instead)"
                ))),
                Some(EntityKind::Topic) => upsert_subscription(tx, topic, s),
            }
        })
    }

    /// Deletes a subscription and its messages; false when there was none.
    pub fn delete_subscription(&self, topic: &str, name: &str) -> Result<bool, StorageError> {
        self.sb_tx("deleting a subscription", |tx| {
            let run = || -> rusqlite::Result<usize> {
                tx.execute(
                    "DELETE FROM sb_messages WHERE entity = ?1 AND subscription = ?2",
                    params![topic, name],
                )?;
                tx.execute(
                    "DELETE FROM sb_subscriptions WHERE entity = ?1 AND name = ?2",
                    params![topic, name],
                )
            };
            run().map(|n| n > 0).map_err(|e| self.sql_error("deleting a subscription", e))
        })
    }

    /// Deletes a queue or topic with its subscriptions and messages; false when there was none.
    pub fn delete_entity(&self, name: &str) -> Result<bool, StorageError> {
        self.sb_tx("deleting a queue or topic", |tx| {
            let run = || -> rusqlite::Result<usize> {
                tx.execute("DELETE FROM sb_messages WHERE entity = ?1", params![name])?;
                tx.execute("DELETE FROM sb_subscriptions WHERE entity = ?1", params![name])?;
                tx.execute("DELETE FROM sb_duplicates WHERE entity = ?1", params![name])?;
                tx.execute("DELETE FROM sb_entities WHERE name = ?1", params![name])
            };
            run().map(|n| n > 0).map_err(|e| self.sql_error("deleting an entity", e))
        })
    }

    /// Every queue and topic with its subscriptions, rules and live message counts.
    pub fn list_entities(&self) -> Result<Vec<EntitySummary>, StorageError> {
        let now = millis(self.now());
        let conn = self.lock();
        let run = || -> rusqlite::Result<Vec<EntitySummary>> {
            let mut out = Vec::new();
            let mut entities = conn.prepare(
                "SELECT name, kind, default_ttl_ms, duplicate_window_ms FROM sb_entities ORDER BY name",
            )?;
            let rows = entities.query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, i64>(2)?,
                    r.get::<_, Option<i64>>(3)?,
                ))
            })?;
            for row in rows {
                let (name, kind, ttl, window) = row?;
                let mut subs = conn.prepare(
                    "SELECT s.name, s.lock_ms, s.max_delivery, s.default_ttl_ms, s.dead_letter_on_expiry, s.rules,
                        (SELECT COUNT(*) FROM sb_messages m WHERE m.entity = s.entity AND m.subscription = s.name
                            AND m.dead_letter = 0 AND m.expires_ms > ?2),
                        (SELECT COUNT(*) FROM sb_messages m WHERE m.entity = s.entity AND m.subscription = s.name
                            AND m.dead_letter = 1)
                     FROM sb_subscriptions s WHERE s.entity = ?1 ORDER BY s.name",
                )?;
                let subscriptions = subs
                    .query_map(params![name, now], |r| {
                        let rules: String = r.get(5)?;
                        Ok(SubscriptionSummary {
                            name: r.get(0)?,
                            options: SubscriptionOptions {
                                lock_duration: Duration::from_millis(r.get::<_, i64>(1)?.max(0) as u64),
                                max_delivery_count: r.get::<_, i64>(2)?.clamp(1, i64::from(u32::MAX)) as u32,
                                default_ttl: r
                                    .get::<_, Option<i64>>(3)?
                                    .map(|t| Duration::from_millis(t.max(0) as u64)),
                                dead_lettering_on_expiration: r.get(4)?,
                            },
                            rules: serde_json::from_str(&rules).unwrap_or_default(),
                            active: r.get::<_, i64>(6)?.max(0) as u64,
                            dead_letters: r.get::<_, i64>(7)?.max(0) as u64,
                        })
                    })?
                    .collect::<rusqlite::Result<Vec<_>>>()?;
                out.push(EntitySummary {
                    name,
                    kind: kind_of(&kind),
                    options: TopicOptions {
                        default_ttl: Duration::from_millis(ttl.max(0) as u64),
                        duplicate_detection: window.map(|w| Duration::from_millis(w.max(0) as u64)),
                    },
                    subscriptions,
                });
            }
            Ok(out)
        };
        run().map_err(|e| self.sql_error("listing queues and topics", e))
    }

    /// Sends messages to queues and topics in one transaction: all or none.
    pub fn send(&self, messages: &[Outgoing]) -> Result<Vec<SendOutcome>, StorageError> {
        let now = millis(self.now());
        self.sb_tx("sending messages", |tx| messages.iter().map(|m| self.send_in(tx, m, now)).collect())
    }

    /// What every completion writes after settling its trigger message: the storage-queue
    /// outputs, then the Service Bus sends, inside the caller's transaction.
    fn put_and_send_in(
        &self,
        tx: &Connection,
        queue_outputs: &[MessageBody],
        sends: &[Outgoing],
        now: i64,
    ) -> Result<Vec<SendOutcome>, StorageError> {
        for m in queue_outputs {
            insert_queue_message(tx, &m.queue, &m.body, m.trace.as_ref(), now, DEFAULT_MESSAGE_TTL)
                .map_err(|e| self.sql_error("adding a queue message", e))?;
        }
        sends.iter().map(|m| self.send_in(tx, m, now)).collect()
    }

    fn send_in(&self, tx: &Connection, out: &Outgoing, now: i64) -> Result<SendOutcome, StorageError> {
        let sql = |e| self.sql_error("sending a message", e);
        let entity: Option<(i64, Option<i64>)> = tx
            .prepare_cached("SELECT default_ttl_ms, duplicate_window_ms FROM sb_entities WHERE name = ?1")
            .and_then(|mut s| s.query_row(params![out.entity], |r| Ok((r.get(0)?, r.get(1)?))).optional())
            .map_err(sql)?;
        let Some((default_ttl, window)) = entity else {
            return Err(StorageError::EntityNotFound { name: out.entity.clone() });
        };
        let mut message = out.message.clone();
        if message.system.message_id.is_none() {
            message.system.message_id = Some(uuid::Uuid::new_v4().simple().to_string());
        }
        if let (Some(window), Some(id)) = (window, message.system.message_id.as_deref()) {
            tx.prepare_cached("DELETE FROM sb_duplicates WHERE entity = ?1 AND expires_ms <= ?2")
                .and_then(|mut s| s.execute(params![out.entity, now]))
                .map_err(sql)?;
            let fresh = tx
                .prepare_cached("INSERT OR IGNORE INTO sb_duplicates (entity, message_id, expires_ms) VALUES (?1, ?2, ?3)")
                .and_then(|mut s| s.execute(params![out.entity, id, now.saturating_add(window)]))
                .map_err(sql)?;
            if fresh == 0 {
                return Ok(SendOutcome { copies: 0, duplicate: true });
            }
        }
        let subscriptions: Vec<SubscriptionRow> = tx
            .prepare_cached(
                "SELECT name, rules, default_ttl_ms FROM sb_subscriptions WHERE entity = ?1 ORDER BY name",
            )
            .and_then(|mut s| {
                s.query_map(params![out.entity], |r| {
                    Ok(SubscriptionRow { name: r.get(0)?, rules_json: r.get(1)?, default_ttl_ms: r.get(2)? })
                })?
                .collect()
            })
            .map_err(sql)?;
        let visible =
            message.system.scheduled_enqueue_time_utc.map(millis).filter(|t| *t > now).unwrap_or(now);
        let mut copies = 0;
        for s in subscriptions {
            let rules = self.rules.get(&s.rules_json)?;
            let Some(copy) = fnwire_messaging::route(&rules, &message) else { continue };
            // The shortest of the message's, the subscription's and the topic's time to live.
            let ttl = [
                copy.system.time_to_live_ms.map(|t| t.min(i64::MAX as u64) as i64),
                s.default_ttl_ms,
                Some(default_ttl),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(default_ttl);
            tx.prepare_cached(
                "INSERT INTO sb_messages (entity, subscription, body, props, enqueued_ms, visible_ms, expires_ms)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5, ?6)",
            )
            .and_then(|mut st| {
                st.execute(params![
                    out.entity,
                    s.name,
                    copy.body,
                    encode_properties(&copy),
                    visible,
                    visible.saturating_add(ttl)
                ])
            })
            .map_err(sql)?;
            copies += 1;
        }
        Ok(SendOutcome { copies, duplicate: false })
    }

    /// Locks up to `max` ready copies of a subscription for its lock duration, counting a
    /// delivery each. Copies past their time to live are dropped (or dead-lettered), and copies
    /// already delivered `MaxDeliveryCount` times (their holder died) are dead-lettered first.
    pub fn receive(
        &self,
        entity: &str,
        subscription: &str,
        max: usize,
    ) -> Result<Vec<LockedMessage>, StorageError> {
        let now = millis(self.now());
        self.sb_tx("receiving messages", |tx| {
            let sql = |e| self.sql_error("receiving messages", e);
            let options: Option<(i64, i64, bool)> = tx
                .prepare_cached(
                    "SELECT lock_ms, max_delivery, dead_letter_on_expiry FROM sb_subscriptions WHERE entity = ?1 AND name = ?2",
                )
                .and_then(|mut s| s.query_row(params![entity, subscription], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional())
                .map_err(sql)?;
            let Some((lock_ms, max_delivery, dead_letter_on_expiry)) = options else {
                return Err(StorageError::SubscriptionNotFound { topic: entity.into(), subscription: subscription.into() });
            };
            if dead_letter_on_expiry {
                tx.prepare_cached(
                    "UPDATE sb_messages SET dead_letter = 1, locked = 0, lock_token = NULL, dead_letter_reason = ?3,
                         dead_letter_description = 'The message expired and was dead lettered.'
                     WHERE entity = ?1 AND subscription = ?2 AND dead_letter = 0 AND expires_ms <= ?4",
                )
                .and_then(|mut s| s.execute(params![entity, subscription, TTL_EXPIRED_REASON, now]))
                .map_err(sql)?;
            } else {
                tx.prepare_cached(
                    "DELETE FROM sb_messages WHERE entity = ?1 AND subscription = ?2 AND dead_letter = 0 AND expires_ms <= ?3",
                )
                .and_then(|mut s| s.execute(params![entity, subscription, now]))
                .map_err(sql)?;
            }
            tx.prepare_cached(
                "UPDATE sb_messages SET dead_letter = 1, locked = 0, lock_token = NULL, dead_letter_reason = ?3,
                     dead_letter_description = 'Message could not be consumed after ' || delivery_count || ' delivery attempts.'
                 WHERE entity = ?1 AND subscription = ?2 AND dead_letter = 0 AND visible_ms <= ?4 AND delivery_count >= ?5",
            )
            .and_then(|mut s| s.execute(params![entity, subscription, MAX_DELIVERY_REASON, now, max_delivery]))
            .map_err(sql)?;
            let locked_until = now.saturating_add(lock_ms);
            let mut taken = Vec::new();
            {
                // The limit is in the text, not bound: a bound `LIMIT ?` expires the statement
                // on every rebinding, so each take would parse it anew (see `get_messages`).
                let mut select = tx
                    .prepare_cached(&format!(
                        "SELECT seq, body, props, delivery_count, enqueued_ms, expires_ms FROM sb_messages
                         WHERE entity = ?1 AND subscription = ?2 AND dead_letter = 0 AND visible_ms <= ?3
                         ORDER BY visible_ms, seq LIMIT {max}"
                    ))
                    .map_err(sql)?;
                let rows = select
                    .query_map(params![entity, subscription, now], |r| {
                        Ok((
                            r.get::<_, i64>(0)?,
                            r.get::<_, Vec<u8>>(1)?,
                            r.get::<_, String>(2)?,
                            r.get::<_, i64>(3)?,
                            r.get::<_, i64>(4)?,
                            r.get::<_, i64>(5)?,
                        ))
                    })
                    .map_err(sql)?;
                for row in rows {
                    let (seq, body, props, count, enqueued, expires) = row.map_err(sql)?;
                    taken.push(LockedMessage {
                        entity: entity.into(),
                        subscription: subscription.into(),
                        sequence_number: seq,
                        message: decode_message(body, &props),
                        delivery_count: count + 1,
                        enqueued_time: from_millis(enqueued),
                        expires_at: from_millis(expires),
                        locked_until: from_millis(locked_until),
                        lock_token: new_token(),
                    });
                }
            }
            let mut update = tx
                .prepare_cached(
                    "UPDATE sb_messages SET delivery_count = ?2, lock_token = ?3, visible_ms = ?4, locked = 1 WHERE seq = ?1",
                )
                .map_err(sql)?;
            for m in &taken {
                update.execute(params![m.sequence_number, m.delivery_count, m.lock_token, locked_until]).map_err(sql)?;
            }
            Ok(taken)
        })
    }

    fn held_changes(
        tx: &Connection,
        lock: &MessageLock,
        sql: &str,
        extra: &[&dyn rusqlite::ToSql],
    ) -> rusqlite::Result<usize> {
        let mut values: Vec<&dyn rusqlite::ToSql> =
            vec![&lock.entity, &lock.subscription, &lock.sequence_number, &lock.lock_token];
        values.extend_from_slice(extra);
        tx.prepare_cached(sql)?.execute(values.as_slice())
    }

    fn lost(lock: &MessageLock) -> StorageError {
        StorageError::LockLost {
            entity: lock.entity.clone(),
            subscription: lock.subscription.clone(),
            sequence_number: lock.sequence_number,
            lock_token: lock.lock_token.clone(),
        }
    }

    /// Completes a held copy (when `held` is given), adds storage-queue messages and sends
    /// Service Bus messages, in one transaction.
    pub fn complete_and_send(
        &self,
        held: Option<&MessageLock>,
        queue_outputs: &[MessageBody],
        sends: &[Outgoing],
    ) -> Result<Vec<SendOutcome>, StorageError> {
        for m in queue_outputs {
            crate::validate_queue_name(&m.queue)?;
        }
        let now = millis(self.now());
        self.sb_tx("completing a message", |tx| {
            if let Some(lock) = held {
                let n = Store::held_changes(
                    tx,
                    lock,
                    "DELETE FROM sb_messages WHERE entity = ?1 AND subscription = ?2 AND seq = ?3 AND lock_token = ?4 AND locked = 1",
                    &[],
                )
                .map_err(|e| self.sql_error("completing a message", e))?;
                if n != 1 {
                    return Err(Store::lost(lock));
                }
            }
            self.put_and_send_in(tx, queue_outputs, sends, now)
        })
    }

    /// Deletes a held storage-queue message (`queue`, `id`, `pop_receipt`), adds storage-queue
    /// messages and sends Service Bus messages, in one transaction: a stale pop receipt or a
    /// failed send leaves the message held and nothing added or sent.
    pub fn complete_queue_message_and_send(
        &self,
        held: (&str, &str, &str),
        queue_outputs: &[MessageBody],
        sends: &[Outgoing],
    ) -> Result<Vec<SendOutcome>, StorageError> {
        for m in queue_outputs {
            crate::validate_queue_name(&m.queue)?;
        }
        let (queue, id, pop_receipt) = held;
        let now = millis(self.now());
        self.sb_tx("completing a message", |tx| {
            // Dropping the transaction on an error rolls back whatever it wrote.
            if !delete_held(tx, queue, id, pop_receipt)
                .map_err(|e| self.sql_error("deleting a message", e))?
            {
                return Err(Store::mismatch(queue, id, pop_receipt));
            }
            self.put_and_send_in(tx, queue_outputs, sends, now)
        })
    }

    /// Gives a held copy back, ready again after `delay`. When the attempt does not count
    /// (no worker could run it), its delivery count goes back down.
    pub fn abandon(&self, lock: &MessageLock, delay: Duration, counted: bool) -> Result<(), StorageError> {
        let visible = millis(self.now()).saturating_add(duration_ms(delay));
        let uncount = i64::from(!counted);
        let conn = self.lock();
        let n = Store::held_changes(
            &conn,
            lock,
            "UPDATE sb_messages SET visible_ms = ?5, locked = 0, lock_token = NULL, delivery_count = MAX(delivery_count - ?6, 0)
             WHERE entity = ?1 AND subscription = ?2 AND seq = ?3 AND lock_token = ?4 AND locked = 1",
            &[&visible, &uncount],
        )
        .map_err(|e| self.sql_error("abandoning a message", e))?;
        if n == 1 { Ok(()) } else { Err(Store::lost(lock)) }
    }

    /// Extends a held copy's lock by the subscription's lock duration from now.
    pub fn renew_lock(&self, lock: &MessageLock) -> Result<DateTime<Utc>, StorageError> {
        let now = millis(self.now());
        let conn = self.lock();
        let lock_ms: Option<i64> = conn
            .prepare_cached("SELECT lock_ms FROM sb_subscriptions WHERE entity = ?1 AND name = ?2")
            .and_then(|mut s| s.query_row(params![lock.entity, lock.subscription], |r| r.get(0)).optional())
            .map_err(|e| self.sql_error("renewing a lock", e))?;
        let until = now.saturating_add(lock_ms.unwrap_or(60_000));
        let n = Store::held_changes(
            &conn,
            lock,
            "UPDATE sb_messages SET visible_ms = ?5 WHERE entity = ?1 AND subscription = ?2 AND seq = ?3 AND lock_token = ?4 AND locked = 1",
            &[&until],
        )
        .map_err(|e| self.sql_error("renewing a lock", e))?;
        if n == 1 { Ok(from_millis(until)) } else { Err(Store::lost(lock)) }
    }

    /// Moves a held copy to its subscription's dead-letter queue with a reason and description.
    pub fn dead_letter(
        &self,
        lock: &MessageLock,
        reason: &str,
        description: &str,
    ) -> Result<(), StorageError> {
        let conn = self.lock();
        let n = Store::held_changes(
            &conn,
            lock,
            "UPDATE sb_messages SET dead_letter = 1, locked = 0, lock_token = NULL, dead_letter_reason = ?5,
                 dead_letter_description = ?6
             WHERE entity = ?1 AND subscription = ?2 AND seq = ?3 AND lock_token = ?4 AND locked = 1",
            &[&reason, &description],
        )
        .map_err(|e| self.sql_error("dead-lettering a message", e))?;
        if n == 1 { Ok(()) } else { Err(Store::lost(lock)) }
    }

    /// Up to `max` copies of a subscription (its dead-letter queue with `dead_letters`), in
    /// delivery order, without locking them.
    pub fn peek_subscription(
        &self,
        entity: &str,
        subscription: &str,
        max: usize,
        dead_letters: bool,
    ) -> Result<Vec<PeekedCopy>, StorageError> {
        let now = millis(self.now());
        let conn = self.lock();
        let run = || -> rusqlite::Result<Vec<PeekedCopy>> {
            let mut stmt = conn.prepare_cached(
                "SELECT seq, body, props, delivery_count, enqueued_ms, expires_ms, visible_ms, locked,
                        dead_letter_reason, dead_letter_description
                 FROM sb_messages WHERE entity = ?1 AND subscription = ?2 AND dead_letter = ?3
                     AND (dead_letter = 1 OR expires_ms > ?4)
                 ORDER BY seq LIMIT ?5",
            )?;
            let rows = stmt.query_map(params![entity, subscription, dead_letters, now, max as i64], |r| {
                let visible: i64 = r.get(6)?;
                let locked: bool = r.get(7)?;
                Ok(PeekedCopy {
                    sequence_number: r.get(0)?,
                    message: decode_message(r.get(1)?, &r.get::<_, String>(2)?),
                    delivery_count: r.get(3)?,
                    enqueued_time: from_millis(r.get(4)?),
                    expires_at: from_millis(r.get(5)?),
                    state: if dead_letters {
                        "dead-lettered"
                    } else if locked && visible > now {
                        "locked"
                    } else if visible > now {
                        "scheduled"
                    } else {
                        "active"
                    },
                    dead_letter_reason: r.get(8)?,
                    dead_letter_description: r.get(9)?,
                })
            })?;
            rows.collect()
        };
        run().map_err(|e| self.sql_error("peeking messages", e))
    }

    /// Unlocks every locked copy (their delivery counts stay: those deliveries happened). A
    /// host calls it at start, as for storage queues.
    pub fn release_all_locks(&self) -> Result<usize, StorageError> {
        let now = millis(self.now());
        let conn = self.lock();
        conn.execute(
            "UPDATE sb_messages SET visible_ms = ?1, locked = 0, lock_token = NULL WHERE locked = 1 AND dead_letter = 0",
            params![now],
        )
        .map_err(|e| self.sql_error("releasing locked messages", e))
    }
}

fn entity_kind(tx: &Connection, name: &str) -> rusqlite::Result<Option<EntityKind>> {
    tx.query_row("SELECT kind FROM sb_entities WHERE name = ?1", params![name], |r| r.get::<_, String>(0))
        .optional()
        .map(|k| k.map(|k| kind_of(&k)))
}

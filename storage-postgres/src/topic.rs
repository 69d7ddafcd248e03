//! Service Bus queues and topics on PostgreSQL: the same semantics as the SQLite store
//! (`fnwire_storage`'s `topic.rs`), for many hosts on one database. Receives lock rows with
//! `FOR UPDATE SKIP LOCKED`, so competing hosts never take one copy and never wait for each
//! other; a send announces `servicebus:<entity>` on the queue channel, so idle listeners wake.

use std::time::Duration;

use deadpool_postgres::GenericClient;
use fnwire_messaging::{
    EntityDecl, EntityKind, QUEUE_SUBSCRIPTION, SubscriptionDecl, SubscriptionOptions, TopicOptions,
};
use fnwire_storage::{
    DEFAULT_MESSAGE_TTL, EntitySummary, LockedCopy, MAX_DELIVERY_REASON, MessageBody, MessageLock, Outgoing,
    PeekedCopy, SendOutcome, StorageError, SubscriptionSummary, TTL_EXPIRED_REASON, TopicStore, check_rules,
    decode_message, encode_properties, validate_queue_name,
};

use crate::{PgStore, QUEUE_CHANNEL, duration_ms, error_text, from_millis};

fn kind_of(text: &str) -> EntityKind {
    if text == "queue" { EntityKind::Queue } else { EntityKind::Topic }
}

fn lost(lock: &MessageLock) -> StorageError {
    StorageError::LockLost {
        entity: lock.entity.clone(),
        subscription: lock.subscription.clone(),
        sequence_number: lock.sequence_number,
        lock_token: lock.lock_token.clone(),
    }
}

fn ms(d: Duration) -> i64 {
    duration_ms(d)
}

impl PgStore {
    fn db(&self, what: &'static str) -> impl Fn(tokio_postgres::Error) -> StorageError + '_ {
        move |e| StorageError::Database { store: crate::redact(&self.url), what, detail: error_text(&e) }
    }

    async fn upsert_subscription(
        &self,
        tx: &impl GenericClient,
        entity: &str,
        s: &SubscriptionDecl,
    ) -> Result<(), StorageError> {
        if s.name != QUEUE_SUBSCRIPTION {
            fnwire_messaging::validate_entity_name(&s.name).map_err(StorageError::InvalidServiceBusEntity)?;
        }
        let rules = check_rules(&s.rules)?;
        let max = i64::from(s.options.max_delivery_count);
        let ttl = s.options.default_ttl.map(ms);
        tx.execute(
            "INSERT INTO fnwire_sb_subscriptions (entity, name, lock_ms, max_delivery, default_ttl_ms, dead_letter_on_expiry, rules)
             VALUES ($1, $2, $3, $4, $5, $6, $7)
             ON CONFLICT (entity, name) DO UPDATE SET lock_ms = $3, max_delivery = $4, default_ttl_ms = $5,
                 dead_letter_on_expiry = $6, rules = $7",
            &[&entity, &s.name, &ms(s.options.lock_duration), &max, &ttl, &s.options.dead_lettering_on_expiration, &rules],
        )
        .await
        .map_err(self.db("storing a subscription"))?;
        Ok(())
    }

    /// What every completion writes after settling its trigger message: the storage-queue
    /// outputs, then the Service Bus sends, inside the caller's transaction.
    async fn put_and_send_in(
        &self,
        tx: &impl GenericClient,
        queue_outputs: &[MessageBody],
        sends: &[Outgoing],
        now: i64,
    ) -> Result<Vec<SendOutcome>, StorageError> {
        for m in queue_outputs {
            crate::insert(tx, &m.queue, &m.body, m.trace.as_ref(), now, DEFAULT_MESSAGE_TTL)
                .await
                .map_err(self.db("adding a queue message"))?;
        }
        let mut outcomes = Vec::with_capacity(sends.len());
        for m in sends {
            outcomes.push(self.send_in(tx, m, now).await?);
        }
        Ok(outcomes)
    }

    async fn send_in(
        &self,
        tx: &impl GenericClient,
        out: &Outgoing,
        now: i64,
    ) -> Result<SendOutcome, StorageError> {
        let sql = self.db("sending a message");
        let entity = tx
            .query_opt(
                "SELECT default_ttl_ms, duplicate_window_ms FROM fnwire_sb_entities WHERE name = $1",
                &[&out.entity],
            )
            .await
            .map_err(&sql)?;
        let Some(entity) = entity else {
            return Err(StorageError::EntityNotFound { name: out.entity.clone() });
        };
        let (default_ttl, window): (i64, Option<i64>) = (entity.get(0), entity.get(1));
        let mut message = out.message.clone();
        if message.system.message_id.is_none() {
            message.system.message_id = Some(uuid::Uuid::new_v4().simple().to_string());
        }
        if let (Some(window), Some(id)) = (window, message.system.message_id.clone()) {
            tx.execute(
                "DELETE FROM fnwire_sb_duplicates WHERE entity = $1 AND expires_ms <= $2",
                &[&out.entity, &now],
            )
            .await
            .map_err(&sql)?;
            let fresh = tx
                .execute(
                    "INSERT INTO fnwire_sb_duplicates (entity, message_id, expires_ms) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    &[&out.entity, &id, &now.saturating_add(window)],
                )
                .await
                .map_err(&sql)?;
            if fresh == 0 {
                return Ok(SendOutcome { copies: 0, duplicate: true });
            }
        }
        let subscriptions = tx
            .query(
                "SELECT name, rules, default_ttl_ms FROM fnwire_sb_subscriptions WHERE entity = $1 ORDER BY name",
                &[&out.entity],
            )
            .await
            .map_err(&sql)?;
        let visible = message
            .system
            .scheduled_enqueue_time_utc
            .map(|t| t.timestamp_millis())
            .filter(|t| *t > now)
            .unwrap_or(now);
        let mut copies = 0;
        for row in subscriptions {
            let (name, rules_json, sub_ttl): (String, String, Option<i64>) =
                (row.get(0), row.get(1), row.get(2));
            let rules = self.rules.get(&rules_json)?;
            let Some(copy) = fnwire_messaging::route(&rules, &message) else { continue };
            let ttl = [
                copy.system.time_to_live_ms.map(|t| t.min(i64::MAX as u64) as i64),
                sub_ttl,
                Some(default_ttl),
            ]
            .into_iter()
            .flatten()
            .min()
            .unwrap_or(default_ttl);
            tx.execute(
                "INSERT INTO fnwire_sb_messages (entity, subscription, body, props, enqueued_ms, visible_ms, expires_ms)
                 VALUES ($1, $2, $3, $4, $5, $5, $6)",
                &[&out.entity, &name, &copy.body, &encode_properties(&copy), &visible, &visible.saturating_add(ttl)],
            )
            .await
            .map_err(&sql)?;
            copies += 1;
        }
        if copies > 0 {
            let key = format!("servicebus:{}", out.entity);
            tx.execute("SELECT pg_notify($1, $2)", &[&QUEUE_CHANNEL, &key]).await.map_err(&sql)?;
        }
        Ok(SendOutcome { copies, duplicate: false })
    }

    async fn held_change(
        &self,
        client: &impl GenericClient,
        lock: &MessageLock,
        sql: &str,
        extra: &[&(dyn tokio_postgres::types::ToSql + Sync)],
    ) -> Result<(), StorageError> {
        let mut params: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
            vec![&lock.entity, &lock.subscription, &lock.sequence_number, &lock.lock_token];
        params.extend_from_slice(extra);
        let n = client.execute(sql, &params).await.map_err(self.db("changing a locked message"))?;
        if n == 1 { Ok(()) } else { Err(lost(lock)) }
    }
}

impl TopicStore for PgStore {
    fn declare_entity(&self, decl: &EntityDecl) -> Result<(), StorageError> {
        fnwire_messaging::validate_entity_name(&decl.name).map_err(StorageError::InvalidServiceBusEntity)?;
        let now = self.now();
        self.block(async {
            let mut conn = self.conn_async("declaring a queue or topic").await?;
            let tx = conn.transaction().await.map_err(self.db("declaring a queue or topic"))?;
            let existing = tx
                .query_opt("SELECT kind FROM fnwire_sb_entities WHERE name = $1", &[&decl.name])
                .await
                .map_err(self.db("reading an entity"))?;
            if let Some(kind) = existing.map(|r| r.get::<_, String>(0)).filter(|k| kind_of(k) != decl.kind) {
                return Err(StorageError::InvalidServiceBusEntity(format!(
                    "`{}` exists as a {kind}; it cannot also be a {} (delete it first with `fnwire topic delete {}`)",
                    decl.name,
                    decl.kind.as_str(),
                    decl.name
                )));
            }
            let window = decl.options.duplicate_detection.map(ms);
            tx.execute(
                "INSERT INTO fnwire_sb_entities (name, kind, default_ttl_ms, duplicate_window_ms, created_ms) VALUES ($1, $2, $3, $4, $5)
                 ON CONFLICT (name) DO UPDATE SET default_ttl_ms = $3, duplicate_window_ms = $4",
                &[&decl.name, &decl.kind.as_str(), &ms(decl.options.default_ttl), &window, &now],
            )
            .await
            .map_err(self.db("storing an entity"))?;
            for s in &decl.subscriptions {
                self.upsert_subscription(&tx, &decl.name, s).await?;
            }
            tx.commit().await.map_err(self.db("declaring a queue or topic"))
        })
    }

    fn create_subscription(&self, topic: &str, subscription: &SubscriptionDecl) -> Result<(), StorageError> {
        self.block(async {
            let mut conn = self.conn_async("creating a subscription").await?;
            let tx = conn.transaction().await.map_err(self.db("creating a subscription"))?;
            let kind = tx
                .query_opt("SELECT kind FROM fnwire_sb_entities WHERE name = $1", &[&topic])
                .await
                .map_err(self.db("reading an entity"))?
                .map(|r| kind_of(&r.get::<_, String>(0)));
            match kind {
                None => return Err(StorageError::EntityNotFound { name: topic.into() }),
                Some(EntityKind::Queue) => {
                    return Err(StorageError::InvalidServiceBusEntity(format!(
                        "`{topic}` is a queue: queues have no subscriptions (create a topic instead)"
                    )));
                }
                Some(EntityKind::Topic) => self.upsert_subscription(&tx, topic, subscription).await?,
            }
            tx.commit().await.map_err(self.db("creating a subscription"))
        })
    }

    fn delete_subscription(&self, topic: &str, name: &str) -> Result<bool, StorageError> {
        self.block(async {
            let mut conn = self.conn_async("deleting a subscription").await?;
            let tx = conn.transaction().await.map_err(self.db("deleting a subscription"))?;
            let sql = self.db("deleting a subscription");
            tx.execute(
                "DELETE FROM fnwire_sb_messages WHERE entity = $1 AND subscription = $2",
                &[&topic, &name],
            )
            .await
            .map_err(&sql)?;
            let n = tx
                .execute(
                    "DELETE FROM fnwire_sb_subscriptions WHERE entity = $1 AND name = $2",
                    &[&topic, &name],
                )
                .await
                .map_err(&sql)?;
            tx.commit().await.map_err(&sql)?;
            Ok(n > 0)
        })
    }

    fn delete_entity(&self, name: &str) -> Result<bool, StorageError> {
        self.block(async {
            let mut conn = self.conn_async("deleting a queue or topic").await?;
            let tx = conn.transaction().await.map_err(self.db("deleting a queue or topic"))?;
            let sql = self.db("deleting a queue or topic");
            for table in ["fnwire_sb_messages", "fnwire_sb_subscriptions", "fnwire_sb_duplicates"] {
                tx.execute(&format!("DELETE FROM {table} WHERE entity = $1"), &[&name])
                    .await
                    .map_err(&sql)?;
            }
            let n =
                tx.execute("DELETE FROM fnwire_sb_entities WHERE name = $1", &[&name]).await.map_err(&sql)?;
            tx.commit().await.map_err(&sql)?;
            Ok(n > 0)
        })
    }

    fn list_entities(&self) -> Result<Vec<EntitySummary>, StorageError> {
        let now = self.now();
        self.block(async {
            let conn = self.conn_async("listing queues and topics").await?;
            let sql = self.db("listing queues and topics");
            let entities = conn
                .query("SELECT name, kind, default_ttl_ms, duplicate_window_ms FROM fnwire_sb_entities ORDER BY name", &[])
                .await
                .map_err(&sql)?;
            let mut out = Vec::new();
            for e in entities {
                let name: String = e.get(0);
                let subs = conn
                    .query(
                        "SELECT s.name, s.lock_ms, s.max_delivery, s.default_ttl_ms, s.dead_letter_on_expiry, s.rules,
                            (SELECT COUNT(*) FROM fnwire_sb_messages m WHERE m.entity = s.entity AND m.subscription = s.name
                                AND NOT m.dead_letter AND m.expires_ms > $2),
                            (SELECT COUNT(*) FROM fnwire_sb_messages m WHERE m.entity = s.entity AND m.subscription = s.name
                                AND m.dead_letter)
                         FROM fnwire_sb_subscriptions s WHERE s.entity = $1 ORDER BY s.name",
                        &[&name, &now],
                    )
                    .await
                    .map_err(&sql)?;
                let subscriptions = subs
                    .iter()
                    .map(|r| SubscriptionSummary {
                        name: r.get(0),
                        options: SubscriptionOptions {
                            lock_duration: Duration::from_millis(r.get::<_, i64>(1).max(0) as u64),
                            max_delivery_count: r.get::<_, i64>(2).clamp(1, i64::from(u32::MAX)) as u32,
                            default_ttl: r.get::<_, Option<i64>>(3).map(|t| Duration::from_millis(t.max(0) as u64)),
                            dead_lettering_on_expiration: r.get(4),
                        },
                        rules: serde_json::from_str(&r.get::<_, String>(5)).unwrap_or_default(),
                        active: r.get::<_, i64>(6).max(0) as u64,
                        dead_letters: r.get::<_, i64>(7).max(0) as u64,
                    })
                    .collect();
                out.push(EntitySummary {
                    name,
                    kind: kind_of(&e.get::<_, String>(1)),
                    options: TopicOptions {
                        default_ttl: Duration::from_millis(e.get::<_, i64>(2).max(0) as u64),
                        duplicate_detection: e.get::<_, Option<i64>>(3).map(|w| Duration::from_millis(w.max(0) as u64)),
                    },
                    subscriptions,
                });
            }
            Ok(out)
        })
    }

    fn send(&self, messages: &[Outgoing]) -> Result<Vec<SendOutcome>, StorageError> {
        let now = self.now();
        self.block(async {
            let mut conn = self.conn_async("sending messages").await?;
            let tx = conn.transaction().await.map_err(self.db("sending messages"))?;
            let mut outcomes = Vec::with_capacity(messages.len());
            for m in messages {
                outcomes.push(self.send_in(&tx, m, now).await?);
            }
            tx.commit().await.map_err(self.db("sending messages"))?;
            Ok(outcomes)
        })
    }

    fn receive(&self, entity: &str, subscription: &str, max: usize) -> Result<Vec<LockedCopy>, StorageError> {
        let now = self.now();
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        self.block(async {
            let mut conn = self.conn_async("receiving messages").await?;
            let tx = conn.transaction().await.map_err(self.db("receiving messages"))?;
            let sql = self.db("receiving messages");
            let options = tx
                .query_opt(
                    "SELECT lock_ms, max_delivery, dead_letter_on_expiry FROM fnwire_sb_subscriptions WHERE entity = $1 AND name = $2",
                    &[&entity, &subscription],
                )
                .await
                .map_err(&sql)?;
            let Some(options) = options else {
                return Err(StorageError::SubscriptionNotFound { topic: entity.into(), subscription: subscription.into() });
            };
            let (lock_ms, max_delivery, dead_letter_on_expiry): (i64, i64, bool) =
                (options.get(0), options.get(1), options.get(2));
            if dead_letter_on_expiry {
                tx.execute(
                    "UPDATE fnwire_sb_messages SET dead_letter = TRUE, locked = FALSE, lock_token = NULL, dead_letter_reason = $3,
                         dead_letter_description = 'The message expired and was dead lettered.'
                     WHERE entity = $1 AND subscription = $2 AND NOT dead_letter AND expires_ms <= $4 AND (NOT locked OR visible_ms <= $4)",
                    &[&entity, &subscription, &TTL_EXPIRED_REASON, &now],
                )
                .await
                .map_err(&sql)?;
            } else {
                tx.execute(
                    "DELETE FROM fnwire_sb_messages WHERE entity = $1 AND subscription = $2 AND NOT dead_letter AND expires_ms <= $3
                         AND (NOT locked OR visible_ms <= $3)",
                    &[&entity, &subscription, &now],
                )
                .await
                .map_err(&sql)?;
            }
            tx.execute(
                "UPDATE fnwire_sb_messages SET dead_letter = TRUE, locked = FALSE, lock_token = NULL, dead_letter_reason = $3,
                     dead_letter_description = 'Message could not be consumed after ' || delivery_count || ' delivery attempts.'
                 WHERE entity = $1 AND subscription = $2 AND NOT dead_letter AND visible_ms <= $4 AND delivery_count >= $5",
                &[&entity, &subscription, &MAX_DELIVERY_REASON, &now, &max_delivery],
            )
            .await
            .map_err(&sql)?;
            let locked_until = now.saturating_add(lock_ms);
            let rows = tx
                .query(
                    "WITH picked AS (
                         SELECT seq FROM fnwire_sb_messages
                         WHERE entity = $1 AND subscription = $2 AND NOT dead_letter AND visible_ms <= $3
                         ORDER BY visible_ms, seq LIMIT $4
                         FOR UPDATE SKIP LOCKED)
                     UPDATE fnwire_sb_messages m
                     SET delivery_count = m.delivery_count + 1, lock_token = gen_random_uuid()::text,
                         visible_ms = $5, locked = TRUE
                     FROM picked WHERE m.seq = picked.seq
                     RETURNING m.seq, m.body, m.props, m.delivery_count, m.enqueued_ms, m.expires_ms, m.lock_token",
                    &[&entity, &subscription, &now, &limit, &locked_until],
                )
                .await
                .map_err(&sql)?;
            tx.commit().await.map_err(&sql)?;
            let mut taken: Vec<LockedCopy> = rows
                .iter()
                .map(|r| LockedCopy {
                    entity: entity.into(),
                    subscription: subscription.into(),
                    sequence_number: r.get(0),
                    message: decode_message(r.get(1), &r.get::<_, String>(2)),
                    delivery_count: r.get(3),
                    enqueued_time: from_millis(r.get(4)),
                    expires_at: from_millis(r.get(5)),
                    locked_until: from_millis(locked_until),
                    lock_token: r.get(6),
                })
                .collect();
            taken.sort_by_key(|m| m.sequence_number);
            Ok(taken)
        })
    }

    fn complete_and_send(
        &self,
        held: Option<&MessageLock>,
        queue_outputs: &[MessageBody],
        sends: &[Outgoing],
    ) -> Result<Vec<SendOutcome>, StorageError> {
        for m in queue_outputs {
            validate_queue_name(&m.queue)?;
        }
        let now = self.now();
        self.block(async {
            let mut conn = self.conn_async("completing a message").await?;
            let tx = conn.transaction().await.map_err(self.db("completing a message"))?;
            if let Some(lock) = held {
                self.held_change(
                    &tx,
                    lock,
                    "DELETE FROM fnwire_sb_messages WHERE entity = $1 AND subscription = $2 AND seq = $3 AND lock_token = $4 AND locked",
                    &[],
                )
                .await?;
            }
            let outcomes = self.put_and_send_in(&tx, queue_outputs, sends, now).await?;
            tx.commit().await.map_err(self.db("completing a message"))?;
            Ok(outcomes)
        })
    }

    fn complete_queue_message_and_send(
        &self,
        held: (&str, &str, &str),
        queue_outputs: &[MessageBody],
        sends: &[Outgoing],
    ) -> Result<Vec<SendOutcome>, StorageError> {
        for m in queue_outputs {
            validate_queue_name(&m.queue)?;
        }
        let (queue, id, pop_receipt) = held;
        let now = self.now();
        self.block(async {
            let mut conn = self.conn_async("completing a message").await?;
            let tx = conn.transaction().await.map_err(self.db("completing a message"))?;
            let deleted = tx
                .execute(
                    "DELETE FROM fnwire_messages WHERE queue = $1 AND id = $2 AND pop_receipt = $3",
                    &[&queue, &id, &pop_receipt],
                )
                .await
                .map_err(self.db("deleting a message"))?;
            if deleted != 1 {
                // Dropping the transaction rolls it back: nothing of this completion stays.
                return Err(crate::mismatch(queue, id, pop_receipt));
            }
            let outcomes = self.put_and_send_in(&tx, queue_outputs, sends, now).await?;
            tx.commit().await.map_err(self.db("completing a message"))?;
            Ok(outcomes)
        })
    }

    fn abandon(&self, lock: &MessageLock, delay: Duration, counted: bool) -> Result<(), StorageError> {
        let visible = self.now().saturating_add(ms(delay));
        let uncount = i64::from(!counted);
        self.block(async {
            let conn = self.conn_async("abandoning a message").await?;
            self.held_change(
                &conn,
                lock,
                "UPDATE fnwire_sb_messages SET visible_ms = $5, locked = FALSE, lock_token = NULL,
                     delivery_count = GREATEST(delivery_count - $6, 0)
                 WHERE entity = $1 AND subscription = $2 AND seq = $3 AND lock_token = $4 AND locked",
                &[&visible, &uncount],
            )
            .await
        })
    }

    fn renew_lock(&self, lock: &MessageLock) -> Result<chrono::DateTime<chrono::Utc>, StorageError> {
        let now = self.now();
        self.block(async {
            let conn = self.conn_async("renewing a lock").await?;
            let lock_ms: i64 = conn
                .query_opt(
                    "SELECT lock_ms FROM fnwire_sb_subscriptions WHERE entity = $1 AND name = $2",
                    &[&lock.entity, &lock.subscription],
                )
                .await
                .map_err(self.db("renewing a lock"))?
                .map_or(60_000, |r| r.get(0));
            let until = now.saturating_add(lock_ms);
            self.held_change(
                &conn,
                lock,
                "UPDATE fnwire_sb_messages SET visible_ms = $5
                 WHERE entity = $1 AND subscription = $2 AND seq = $3 AND lock_token = $4 AND locked",
                &[&until],
            )
            .await?;
            Ok(from_millis(until))
        })
    }

    fn dead_letter(&self, lock: &MessageLock, reason: &str, description: &str) -> Result<(), StorageError> {
        self.block(async {
            let conn = self.conn_async("dead-lettering a message").await?;
            self.held_change(
                &conn,
                lock,
                "UPDATE fnwire_sb_messages SET dead_letter = TRUE, locked = FALSE, lock_token = NULL,
                     dead_letter_reason = $5, dead_letter_description = $6
                 WHERE entity = $1 AND subscription = $2 AND seq = $3 AND lock_token = $4 AND locked",
                &[&reason, &description],
            )
            .await
        })
    }

    fn peek_subscription(
        &self,
        entity: &str,
        subscription: &str,
        max: usize,
        dead_letters: bool,
    ) -> Result<Vec<PeekedCopy>, StorageError> {
        let now = self.now();
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        self.block(async {
            let conn = self.conn_async("peeking messages").await?;
            let rows = conn
                .query(
                    "SELECT seq, body, props, delivery_count, enqueued_ms, expires_ms, visible_ms, locked,
                            dead_letter_reason, dead_letter_description
                     FROM fnwire_sb_messages WHERE entity = $1 AND subscription = $2 AND dead_letter = $3
                         AND (dead_letter OR expires_ms > $4)
                     ORDER BY seq LIMIT $5",
                    &[&entity, &subscription, &dead_letters, &now, &limit],
                )
                .await
                .map_err(self.db("peeking messages"))?;
            Ok(rows
                .iter()
                .map(|r| {
                    let visible: i64 = r.get(6);
                    let locked: bool = r.get(7);
                    PeekedCopy {
                        sequence_number: r.get(0),
                        message: decode_message(r.get(1), &r.get::<_, String>(2)),
                        delivery_count: r.get(3),
                        enqueued_time: from_millis(r.get(4)),
                        expires_at: from_millis(r.get(5)),
                        state: if dead_letters {
                            "dead-lettered"
                        } else if locked && visible > now {
                            "locked"
                        } else if visible > now {
                            "scheduled"
                        } else {
                            "active"
                        },
                        dead_letter_reason: r.get(8),
                        dead_letter_description: r.get(9),
                    }
                })
                .collect())
        })
    }

    fn recover_locks_at_start(&self) -> Result<usize, StorageError> {
        // Other live hosts may hold copies: a dead host's come back when their locks expire.
        Ok(0)
    }
}

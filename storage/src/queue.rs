//! Queues with Azure Storage Queue semantics.
//!
//! A message taken with [`Store::get_messages`] stays in the queue, invisible, until its
//! visibility timeout ends or it is deleted with the pop receipt it was taken with. Each take
//! raises its dequeue count and issues a new pop receipt, so a holder whose timeout ran out can
//! no longer delete or release it. Messages past their time-to-live are never returned.

use std::time::Duration;

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, params};

use crate::{StorageError, Store, duration_ms, from_millis, millis};

/// Azure's default message time-to-live: 7 days.
pub const DEFAULT_MESSAGE_TTL: Duration = Duration::from_secs(7 * 24 * 60 * 60);

/// The W3C trace context a message carries from the invocation that put it, kept beside the
/// body (never in it: apps read the body as they wrote it), so the invocation the message
/// triggers continues the same trace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageTrace {
    /// A W3C `traceparent` value: the putting invocation's span is the parent.
    pub traceparent: String,
    /// Its W3C `tracestate` value; empty when there was none.
    pub tracestate: String,
}

impl MessageTrace {
    /// The trace context of `traceparent`; none when it is empty.
    pub fn new(traceparent: impl Into<String>, tracestate: impl Into<String>) -> Option<Self> {
        let traceparent = traceparent.into();
        (!traceparent.is_empty()).then(|| MessageTrace { traceparent, tracestate: tracestate.into() })
    }

    /// The stored pair back: a message without a `traceparent` carries no trace.
    pub(crate) fn from_columns(traceparent: Option<String>, tracestate: Option<String>) -> Option<Self> {
        MessageTrace::new(traceparent?, tracestate.unwrap_or_default())
    }

    /// The `tracestate` column: NULL for none, so an absent state stays absent.
    pub(crate) fn tracestate_column(&self) -> Option<&str> {
        Some(self.tracestate.as_str()).filter(|s| !s.is_empty())
    }
}

/// A message body with the queue it goes to (an output of an invocation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageBody {
    pub queue: String,
    pub body: Vec<u8>,
    /// The trace context of the invocation that puts it, if any.
    pub trace: Option<MessageTrace>,
}

impl MessageBody {
    pub fn new(queue: impl Into<String>, body: impl Into<Vec<u8>>) -> Self {
        MessageBody { queue: queue.into(), body: body.into(), trace: None }
    }

    /// The message, carrying `trace` on to the invocation it triggers.
    pub fn with_trace(mut self, trace: Option<MessageTrace>) -> Self {
        self.trace = trace;
        self
    }
}

/// One completion of [`Store::complete_many`]: the held message to delete, if any, as
/// `(queue, id, pop receipt)`, and the messages to add with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    pub held: Option<(String, String, String)>,
    pub outputs: Vec<MessageBody>,
}

/// Why a shared transaction of completions did not commit.
enum GroupFailure {
    /// It could not start: nothing was tried.
    Begin(StorageError),
    /// A statement or the commit failed: everything was rolled back.
    Statement(StorageError),
}

/// A message taken off a queue, held until deleted, released or its visibility timeout ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeasedMessage {
    pub queue: String,
    pub id: String,
    pub body: Vec<u8>,
    /// How many times it was taken, this time included.
    pub dequeue_count: i64,
    pub insertion_time: DateTime<Utc>,
    pub expiration_time: DateTime<Utc>,
    /// When it becomes visible again unless deleted.
    pub next_visible_time: DateTime<Utc>,
    pub pop_receipt: String,
    /// The trace context it was put with; none for messages put from outside an invocation
    /// (`fnwire queue put`) or stored before messages carried one.
    pub trace: Option<MessageTrace>,
}

/// A message seen without taking it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeekedMessage {
    pub queue: String,
    pub id: String,
    pub body: Vec<u8>,
    pub dequeue_count: i64,
    pub insertion_time: DateTime<Utc>,
    pub expiration_time: DateTime<Utc>,
}

/// One queue and how many live messages it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueSummary {
    pub name: String,
    /// Messages a reader could take now.
    pub visible: u64,
    /// Messages held by a reader or waiting out a retry delay.
    pub invisible: u64,
    /// How long the oldest live message (visible or not) has been on the queue; `None` when the
    /// queue is empty. A growing age says the queue's readers are not keeping up.
    pub oldest_age: Option<Duration>,
}

/// The age of the oldest message, from its insertion time and the store's clock (both in ms).
pub fn queue_age_since(inserted_ms: Option<i64>, now_ms: i64) -> Option<Duration> {
    inserted_ms.map(|at| Duration::from_millis(now_ms.saturating_sub(at).max(0) as u64))
}

/// The queue that takes messages which failed `maxDequeueCount` times.
pub fn poison_queue_name(queue: &str) -> String {
    format!("{queue}-poison")
}

/// Checks Azure's queue naming rules: 3–63 characters, lower-case letters, digits and single
/// hyphens, starting and ending with a letter or digit. Poison queues may be longer.
pub fn validate_queue_name(name: &str) -> Result<(), StorageError> {
    let bad =
        |why: &str| Err(StorageError::InvalidQueueName { name: name.to_string(), why: why.to_string() });
    let len = name.chars().count();
    if len < 3 || (len > 63 && !name.ends_with("-poison")) {
        return bad("it must be 3 to 63 characters long");
    }
    if !name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        return bad("use only lower-case letters, digits and hyphens");
    }
    if name.starts_with('-') || name.ends_with('-') || name.contains("--") {
        return bad("hyphens must stand between letters or digits, one at a time");
    }
    Ok(())
}

fn new_receipt() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

pub(crate) fn insert(
    tx: &Connection,
    queue: &str,
    body: &[u8],
    trace: Option<&MessageTrace>,
    now_ms: i64,
    ttl: Duration,
) -> rusqlite::Result<PeekedMessage> {
    let id = uuid::Uuid::new_v4().to_string();
    let expires = now_ms.saturating_add(duration_ms(ttl));
    // Cached statements: these run once per message, and parsing them anew each time was a
    // visible share of a message's cost.
    tx.prepare_cached("INSERT OR IGNORE INTO queues (name, created_ms) VALUES (?1, ?2)")?
        .execute(params![queue, now_ms])?;
    tx.prepare_cached(
        "INSERT INTO messages (id, queue, body, inserted_ms, expires_ms, visible_ms, traceparent, tracestate)
         VALUES (?1, ?2, ?3, ?4, ?5, ?4, ?6, ?7)",
    )?
    .execute(params![
        id,
        queue,
        body,
        now_ms,
        expires,
        trace.map(|t| t.traceparent.as_str()),
        trace.and_then(MessageTrace::tracestate_column)
    ])?;
    Ok(PeekedMessage {
        queue: queue.to_string(),
        id,
        body: body.to_vec(),
        dequeue_count: 0,
        insertion_time: from_millis(now_ms),
        expiration_time: from_millis(expires),
    })
}

/// Runs `body` in an immediate transaction whose `BEGIN IMMEDIATE` and `COMMIT` are cached
/// statements: taking messages and committing completions are the store's hot paths, and
/// `Connection::transaction` parses both anew every time. When `body` or the commit fails,
/// nothing of it stays (the error already says what failed, so the rollback's own is dropped).
fn immediate_transaction<T, E>(
    conn: &Connection,
    begin_failed: impl FnOnce(rusqlite::Error) -> E,
    commit_failed: impl FnOnce(rusqlite::Error) -> E,
    body: impl FnOnce() -> Result<T, E>,
) -> Result<T, E> {
    let run = |sql: &str| conn.prepare_cached(sql).and_then(|mut s| s.execute([])).map(|_| ());
    run("BEGIN IMMEDIATE").map_err(begin_failed)?;
    let outcome = body().and_then(|value| run("COMMIT").map(|()| value).map_err(commit_failed));
    if outcome.is_err() && !conn.is_autocommit() {
        let _ = conn.execute_batch("ROLLBACK");
    }
    outcome
}

/// Removes a held message; a receipt that does not match is an error.
pub(crate) fn delete_held(
    tx: &Connection,
    queue: &str,
    id: &str,
    pop_receipt: &str,
) -> Result<bool, rusqlite::Error> {
    let n = tx
        .prepare_cached("DELETE FROM messages WHERE queue = ?1 AND id = ?2 AND pop_receipt = ?3")?
        .execute(params![queue, id, pop_receipt])?;
    Ok(n == 1)
}

impl Store {
    pub(crate) fn mismatch(queue: &str, id: &str, pop_receipt: &str) -> StorageError {
        StorageError::PopReceiptMismatch {
            queue: queue.to_string(),
            id: id.to_string(),
            pop_receipt: pop_receipt.to_string(),
        }
    }

    /// Adds a message (visible at once) with the given time-to-live (default 7 days).
    pub fn put(
        &self,
        queue: &str,
        body: &[u8],
        ttl: Option<Duration>,
    ) -> Result<PeekedMessage, StorageError> {
        validate_queue_name(queue)?;
        let now = millis(self.now());
        let mut conn = self.lock();
        let mut run = || -> rusqlite::Result<PeekedMessage> {
            let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            let m = insert(&tx, queue, body, None, now, ttl.unwrap_or(DEFAULT_MESSAGE_TTL))?;
            tx.commit()?;
            Ok(m)
        };
        run().map_err(|e| self.sql_error("adding a message", e))
    }

    /// Adds several messages in one transaction: all or none.
    pub fn put_many(&self, messages: &[MessageBody]) -> Result<(), StorageError> {
        self.complete_and_put(None, messages)
    }

    /// Deletes a held message (when `held` is given) and adds `outputs`, in one transaction:
    /// a crash leaves either the message and no outputs, or the outputs and no message.
    ///
    /// Callers completing at the same time share one transaction (see [`Store::complete_many`]);
    /// each still gets its own result.
    pub fn complete_and_put(
        &self,
        held: Option<(&str, &str, &str)>,
        outputs: &[MessageBody],
    ) -> Result<(), StorageError> {
        for m in outputs {
            validate_queue_name(&m.queue)?;
        }
        let completion = Completion {
            held: held.map(|(q, i, r)| (q.to_string(), i.to_string(), r.to_string())),
            outputs: outputs.to_vec(),
        };
        self.group.submit(self, completion)
    }

    /// Runs several completions in one transaction and returns one result per completion, in
    /// order. Each completion is all or nothing and independent of the others: a stale pop
    /// receipt or a failing statement fails only its own completion. When the shared
    /// transaction fails, each completion is retried in a transaction of its own, so every
    /// result is that completion's own.
    pub fn complete_many(&self, completions: &[Completion]) -> Vec<Result<(), StorageError>> {
        let valid: Vec<Result<(), StorageError>> = completions
            .iter()
            .map(|c| c.outputs.iter().try_for_each(|m| validate_queue_name(&m.queue)))
            .collect();
        let runnable: Vec<&Completion> =
            completions.iter().zip(&valid).filter(|(_, v)| v.is_ok()).map(|(c, _)| c).collect();
        let now = millis(self.now());
        let conn = self.lock();
        let mut ran = match self.complete_in_one_transaction(&conn, &runnable, now) {
            Ok(results) => results,
            // Nothing was written, and the reason (e.g. another process holding the database
            // past the busy timeout) is not one completion's: retrying one by one would only
            // wait that long again for each.
            Err(GroupFailure::Begin(e)) => runnable.iter().map(|_| Err(e.duplicate())).collect(),
            Err(GroupFailure::Statement(e)) if runnable.len() == 1 => vec![Err(e)],
            Err(GroupFailure::Statement(_)) => runnable
                .iter()
                .map(|c| match self.complete_in_one_transaction(&conn, &[*c], now) {
                    Ok(mut one) => one.remove(0),
                    Err(GroupFailure::Begin(e) | GroupFailure::Statement(e)) => Err(e),
                })
                .collect(),
        }
        .into_iter();
        // One result per runnable completion, in order; a missing one would be a bug here, and
        // is reported as a failure so the message is never taken as done.
        valid
            .into_iter()
            .map(|v| v.and_then(|()| ran.next().unwrap_or(Err(StorageError::CompletionBug))))
            .collect()
    }

    /// Runs `completions` in one transaction. A stale pop receipt fails only its completion
    /// (nothing of it was written); any SQL error rolls the whole transaction back.
    fn complete_in_one_transaction(
        &self,
        conn: &Connection,
        completions: &[&Completion],
        now: i64,
    ) -> Result<Vec<Result<(), StorageError>>, GroupFailure> {
        let statement = |what: &'static str| move |e| GroupFailure::Statement(self.sql_error(what, e));
        let begin_failed = |e| GroupFailure::Begin(self.sql_error("starting a transaction", e));
        immediate_transaction(conn, begin_failed, statement("committing"), || {
            let mut results = Vec::with_capacity(completions.len());
            for c in completions {
                if let Some((queue, id, receipt)) = &c.held {
                    if !delete_held(conn, queue, id, receipt).map_err(statement("deleting a message"))? {
                        results.push(Err(Store::mismatch(queue, id, receipt)));
                        continue;
                    }
                }
                for m in &c.outputs {
                    insert(conn, &m.queue, &m.body, m.trace.as_ref(), now, DEFAULT_MESSAGE_TTL)
                        .map_err(statement("adding a message"))?;
                }
                results.push(Ok(()));
            }
            Ok(results)
        })
    }

    /// Takes up to `max` visible messages, hiding each for `visibility_timeout`. They come in
    /// the order they became visible: insertion order for new messages, while a message given
    /// back with a delay queues up when its delay ends (Azure promises no order either). That
    /// order is the one of the `messages_by_queue` index, so a take reads only the rows it
    /// returns, not every visible message of the queue. Expired messages are removed on the way.
    pub fn get_messages(
        &self,
        queue: &str,
        max: usize,
        visibility_timeout: Duration,
    ) -> Result<Vec<LeasedMessage>, StorageError> {
        let now = millis(self.now());
        let visible_at = now.saturating_add(duration_ms(visibility_timeout));
        // The limit is part of the text, not a parameter: SQLite plans `LIMIT ?` by the bound
        // value, so rebinding it expires the statement and every take parsed the SELECT anew
        // (a callgrind profile of the `queue` row showed a re-prepare on each take). A listener
        // takes with one batch size, so this is one cached statement per size in use.
        let select_sql = format!(
            "SELECT id, body, dequeue_count, inserted_ms, expires_ms, traceparent, tracestate
             FROM messages
             WHERE queue = ?1 AND visible_ms <= ?2 ORDER BY visible_ms, seq LIMIT {max}"
        );
        let conn = self.lock();
        let taken = immediate_transaction(
            &conn,
            |e| e,
            |e| e,
            || {
                // `messages_by_expiry` makes this a range delete of the expired messages only, not
                // a visit of every message of the queue on every take.
                conn.prepare_cached("DELETE FROM messages WHERE queue = ?1 AND expires_ms <= ?2")?
                    .execute(params![queue, now])?;
                let mut taken = Vec::new();
                {
                    let mut select = conn.prepare_cached(&select_sql)?;
                    let rows = select.query_map(params![queue, now], |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, Vec<u8>>(1)?,
                            r.get::<_, i64>(2)?,
                            r.get::<_, i64>(3)?,
                            r.get::<_, i64>(4)?,
                            MessageTrace::from_columns(r.get(5)?, r.get(6)?),
                        ))
                    })?;
                    for row in rows {
                        let (id, body, count, inserted, expires, trace) = row?;
                        taken.push(LeasedMessage {
                            queue: queue.to_string(),
                            id,
                            body,
                            dequeue_count: count + 1,
                            insertion_time: from_millis(inserted),
                            expiration_time: from_millis(expires),
                            next_visible_time: from_millis(visible_at),
                            pop_receipt: new_receipt(),
                            trace,
                        });
                    }
                }
                {
                    let mut update = conn.prepare_cached(
                    "UPDATE messages SET dequeue_count = ?2, pop_receipt = ?3, visible_ms = ?4, leased = 1 WHERE id = ?1",
                )?;
                    for m in &taken {
                        update.execute(params![m.id, m.dequeue_count, m.pop_receipt, visible_at])?;
                    }
                }
                Ok(taken)
            },
        );
        taken.map_err(|e| self.sql_error("taking messages", e))
    }

    /// Deletes a held message.
    pub fn delete(&self, queue: &str, id: &str, pop_receipt: &str) -> Result<(), StorageError> {
        self.complete_and_put(Some((queue, id, pop_receipt)), &[])
    }

    /// Gives a held message back: visible again after `delay` (0 = at once). Returns the new
    /// pop receipt. This is how a failed invocation, a worker that died holding messages, or a
    /// host shutting down abandons its messages.
    pub fn release(
        &self,
        queue: &str,
        id: &str,
        pop_receipt: &str,
        delay: Duration,
    ) -> Result<String, StorageError> {
        self.give_back(queue, id, pop_receipt, delay, true)
    }

    /// Keeps a held message hidden for another `visibility_timeout` from now (same pop
    /// receipt), for invocations that run longer than the first timeout.
    pub fn renew(
        &self,
        queue: &str,
        id: &str,
        pop_receipt: &str,
        visibility_timeout: Duration,
    ) -> Result<(), StorageError> {
        let visible_at = millis(self.now()).saturating_add(duration_ms(visibility_timeout));
        let conn = self.lock();
        let n = conn
            .execute(
                "UPDATE messages SET visible_ms = ?4 WHERE queue = ?1 AND id = ?2 AND pop_receipt = ?3 AND leased = 1",
                params![queue, id, pop_receipt, visible_at],
            )
            .map_err(|e| self.sql_error("renewing a message's visibility timeout", e))?;
        if n == 1 { Ok(()) } else { Err(Store::mismatch(queue, id, pop_receipt)) }
    }

    /// Gives back a held message that was never attempted (e.g. no worker could take it): its
    /// dequeue count goes back down, so it does not move toward the poison queue.
    pub fn release_unattempted(
        &self,
        queue: &str,
        id: &str,
        pop_receipt: &str,
        delay: Duration,
    ) -> Result<String, StorageError> {
        self.give_back(queue, id, pop_receipt, delay, false)
    }

    /// Makes a held message visible again after `delay` with a fresh pop receipt; when the
    /// attempt does not count, its dequeue count goes back down.
    fn give_back(
        &self,
        queue: &str,
        id: &str,
        pop_receipt: &str,
        delay: Duration,
        attempted: bool,
    ) -> Result<String, StorageError> {
        let visible_at = millis(self.now()).saturating_add(duration_ms(delay));
        let receipt = new_receipt();
        let uncount = i64::from(!attempted);
        let conn = self.lock();
        let n = conn
            .execute(
                "UPDATE messages SET visible_ms = ?4, pop_receipt = ?5, leased = 0,
                     dequeue_count = MAX(dequeue_count - ?6, 0)
                 WHERE queue = ?1 AND id = ?2 AND pop_receipt = ?3",
                params![queue, id, pop_receipt, visible_at, receipt, uncount],
            )
            .map_err(|e| self.sql_error("releasing a message", e))?;
        if n == 1 { Ok(receipt) } else { Err(Store::mismatch(queue, id, pop_receipt)) }
    }

    /// Moves a held message to `<queue>-poison` (same id, body and insertion time; dequeue
    /// count reset) in one transaction. Returns the poison queue's name.
    pub fn move_to_poison(&self, queue: &str, id: &str, pop_receipt: &str) -> Result<String, StorageError> {
        let poison = poison_queue_name(queue);
        let now = millis(self.now());
        let mut conn = self.lock();
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.sql_error("starting a transaction", e))?;
        let run = || -> rusqlite::Result<usize> {
            tx.execute(
                "INSERT OR IGNORE INTO queues (name, created_ms) VALUES (?1, ?2)",
                params![poison, now],
            )?;
            tx.execute(
                "UPDATE messages SET queue = ?4, visible_ms = ?5, dequeue_count = 0, pop_receipt = NULL, leased = 0,
                     expires_ms = MAX(expires_ms, ?5 + ?6)
                 WHERE queue = ?1 AND id = ?2 AND pop_receipt = ?3",
                params![queue, id, pop_receipt, poison, now, duration_ms(DEFAULT_MESSAGE_TTL)],
            )
        };
        let n = run().map_err(|e| self.sql_error("moving a message to the poison queue", e))?;
        if n != 1 {
            return Err(Store::mismatch(queue, id, pop_receipt));
        }
        tx.commit().map_err(|e| self.sql_error("committing", e))?;
        Ok(poison)
    }

    /// Makes every held message visible at once (messages waiting out a retry delay keep it).
    /// A host calls it at start: whatever a previous, killed host held is processed again.
    pub fn release_all_leases(&self) -> Result<usize, StorageError> {
        let now = millis(self.now());
        let conn = self.lock();
        conn.execute(
            "UPDATE messages SET visible_ms = ?1, pop_receipt = NULL, leased = 0 WHERE leased = 1",
            params![now],
        )
        .map_err(|e| self.sql_error("releasing held messages", e))
    }

    /// Up to `max` visible messages, in the order [`Store::get_messages`] would take them,
    /// without taking them.
    pub fn peek(&self, queue: &str, max: usize) -> Result<Vec<PeekedMessage>, StorageError> {
        let now = millis(self.now());
        let conn = self.lock();
        let run = || -> rusqlite::Result<Vec<PeekedMessage>> {
            let mut stmt = conn.prepare_cached(
                "SELECT id, body, dequeue_count, inserted_ms, expires_ms FROM messages
                 WHERE queue = ?1 AND visible_ms <= ?2 AND expires_ms > ?2 ORDER BY visible_ms, seq LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![queue, now, max as i64], |r| {
                Ok(PeekedMessage {
                    queue: queue.to_string(),
                    id: r.get(0)?,
                    body: r.get(1)?,
                    dequeue_count: r.get(2)?,
                    insertion_time: from_millis(r.get(3)?),
                    expiration_time: from_millis(r.get(4)?),
                })
            })?;
            rows.collect()
        };
        run().map_err(|e| self.sql_error("peeking messages", e))
    }

    /// Every queue ever written to, by name, with its live message counts.
    pub fn list_queues(&self) -> Result<Vec<QueueSummary>, StorageError> {
        let now = millis(self.now());
        let conn = self.lock();
        let run = || -> rusqlite::Result<Vec<QueueSummary>> {
            let mut stmt = conn.prepare_cached(
                "SELECT q.name,
                        COALESCE(SUM(m.visible_ms <= ?1), 0),
                        COALESCE(SUM(m.visible_ms > ?1), 0),
                        MIN(m.inserted_ms)
                 FROM queues q LEFT JOIN messages m ON m.queue = q.name AND m.expires_ms > ?1
                 GROUP BY q.name ORDER BY q.name",
            )?;
            let rows = stmt.query_map(params![now], |r| {
                Ok(QueueSummary {
                    name: r.get(0)?,
                    visible: r.get::<_, i64>(1)?.max(0) as u64,
                    invisible: r.get::<_, i64>(2)?.max(0) as u64,
                    oldest_age: queue_age_since(r.get(3)?, now),
                })
            })?;
            rows.collect()
        };
        run().map_err(|e| self.sql_error("listing queues", e))
    }

    /// Live messages on a queue, visible or not.
    pub fn message_count(&self, queue: &str) -> Result<u64, StorageError> {
        let now = millis(self.now());
        let conn = self.lock();
        let n: Option<i64> = conn
            .query_row(
                "SELECT COUNT(*) FROM messages WHERE queue = ?1 AND expires_ms > ?2",
                params![queue, now],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql_error("counting messages", e))?;
        Ok(n.unwrap_or(0).max(0) as u64)
    }
}

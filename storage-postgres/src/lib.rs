//! fnwire's shared store on PostgreSQL: [`PgStore`] implements [`QueueStore`] so any number of
//! hosts run one app on one database with the guarantees one host has on SQLite.
//!
//! * Queue messages are competing consumers: a take locks the rows it picks with
//!   `FOR UPDATE SKIP LOCKED`, so two hosts never take one message, and neither waits for the
//!   other. A host that dies leaves its messages to reappear after their visibility timeout.
//! * A completion (delete plus output messages) is one transaction.
//! * Each timer occurrence is claimed by one host (a row with an expiry, the way Azure uses a
//!   blob lease).
//! * A message put on a queue sends `NOTIFY fnwire_queue` with the queue's name, so idle hosts
//!   listening ([`listen_for_queues`]) take it at once; they poll as well, so a lost
//!   notification only delays.
//!
//! The schema is created, or migrated, when a store opens, under an advisory lock so hosts
//! starting together do it once; a database whose schema is newer than this fnwire is refused
//! and left as it is.
//!
//! Times are the host's clock in milliseconds, as in the SQLite store; hosts sharing a
//! database need clocks in step (NTP), as visibility timeouts are compared across them.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use fnwire_storage::{
    Clock, DEFAULT_MESSAGE_TTL, LeasedMessage, MessageBody, PeekedMessage, QueueStore, QueueSummary,
    ScheduleStatus, StorageError, poison_queue_name, validate_queue_name,
};
use postgres::{GenericClient, NoTls};
use r2d2_postgres::PostgresConnectionManager;

mod keda;
mod schema;

pub use keda::{pending_durable_work_query, visible_messages_query};
pub use schema::SCHEMA_VERSION;

/// The channel new queue messages are announced on; the payload is the queue's name.
pub const QUEUE_CHANNEL: &str = "fnwire_queue";

type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;

/// Whether a storage connection setting names a PostgreSQL database.
pub fn is_postgres_url(setting: &str) -> bool {
    let s = setting.trim();
    s.starts_with("postgres://") || s.starts_with("postgresql://")
}

/// A URL with its password replaced, for logs and error messages.
pub fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_string() };
    let (authority, tail) = match rest.find('/') {
        Some(i) => rest.split_at(i),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split(':').next().unwrap_or("");
            let hidden = if userinfo.contains(':') { ":***" } else { "" };
            format!("{scheme}://{user}{hidden}@{host}{tail}")
        }
        None => url.to_string(),
    }
}

/// Options of [`PgStore::open_with`].
#[derive(Clone)]
pub struct PgStoreOptions {
    /// Most connections the store keeps open.
    pub pool_size: u32,
    /// How long a call waits for a connection (the database down, or the pool busy).
    pub connect_timeout: Duration,
    pub clock: Clock,
}

impl std::fmt::Debug for PgStoreOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStoreOptions")
            .field("pool_size", &self.pool_size)
            .field("connect_timeout", &self.connect_timeout)
            .finish_non_exhaustive()
    }
}

impl Default for PgStoreOptions {
    fn default() -> Self {
        PgStoreOptions { pool_size: 8, connect_timeout: Duration::from_secs(5), clock: Arc::new(Utc::now) }
    }
}

/// The PostgreSQL store (see the crate comment).
pub struct PgStore {
    pool: Pool,
    url: String,
    clock: Clock,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("url", &redact(&self.url)).finish_non_exhaustive()
    }
}

fn millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn duration_ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 4)
}

fn new_receipt() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// The server's own message and SQLSTATE when it sent one (the client's `Display` says only
/// "db error").
fn error_text(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} (SQLSTATE {})", db.message(), db.code().code()),
        None => e.to_string(),
    }
}

fn mismatch(queue: &str, id: &str, pop_receipt: &str) -> StorageError {
    StorageError::PopReceiptMismatch {
        queue: queue.to_string(),
        id: id.to_string(),
        pop_receipt: pop_receipt.to_string(),
    }
}

impl PgStore {
    /// Connects with default options and creates or migrates the schema.
    pub fn open(url: &str) -> Result<PgStore, StorageError> {
        PgStore::open_with(url, PgStoreOptions::default())
    }

    /// Connects and creates or migrates the schema. A URL that does not parse, a server that
    /// does not answer, or a schema newer than this fnwire is an error; nothing is changed.
    pub fn open_with(url: &str, options: PgStoreOptions) -> Result<PgStore, StorageError> {
        let store_name = redact(url);
        let fail = |what: &'static str, detail: String| StorageError::Database {
            store: store_name.clone(),
            what,
            detail,
        };
        let config: postgres::Config =
            url.parse().map_err(|e: postgres::Error| fail("reading the connection URL", e.to_string()))?;
        let manager = PostgresConnectionManager::new(config, NoTls);
        let pool = r2d2::Pool::builder()
            .max_size(options.pool_size)
            .min_idle(Some(0))
            .connection_timeout(options.connect_timeout)
            .build(manager)
            .map_err(|e| fail("connecting", e.to_string()))?;
        let store = PgStore { pool, url: url.to_string(), clock: options.clock };
        let mut conn = store.conn("connecting")?;
        schema::migrate(&mut conn).map_err(|e| match e {
            schema::MigrateError::TooNew(found) => {
                StorageError::SchemaTooNew { store: store_name.clone(), found, supported: SCHEMA_VERSION }
            }
            schema::MigrateError::Sql(e) => fail("creating or migrating the schema", error_text(&e)),
        })?;
        Ok(store)
    }

    /// The connection URL (with its password).
    pub fn url(&self) -> &str {
        &self.url
    }

    fn now(&self) -> i64 {
        millis((self.clock)())
    }

    fn conn(
        &self,
        what: &'static str,
    ) -> Result<r2d2::PooledConnection<PostgresConnectionManager<NoTls>>, StorageError> {
        self.pool.get().map_err(|e| self.error(what, e.to_string()))
    }

    fn error(&self, what: &'static str, detail: String) -> StorageError {
        StorageError::Database { store: redact(&self.url), what, detail }
    }

    fn sql(&self, what: &'static str) -> impl Fn(postgres::Error) -> StorageError + '_ {
        move |e| self.error(what, error_text(&e))
    }

    /// Runs `sql` (one row, one BIGINT column) and returns the value; for tests and tools.
    pub fn query_count(&self, sql: &str) -> Result<i64, StorageError> {
        let mut conn = self.conn("counting")?;
        let row = conn.query_one(sql, &[]).map_err(self.sql("counting"))?;
        row.try_get::<_, i64>(0).map_err(self.sql("counting"))
    }
}

/// Inserts one message and announces it; inside the caller's transaction, so the announcement
/// goes out at commit.
fn insert(
    client: &mut impl GenericClient,
    queue: &str,
    body: &[u8],
    now: i64,
    ttl: Duration,
) -> Result<PeekedMessage, postgres::Error> {
    let id = uuid::Uuid::new_v4().to_string();
    let expires = now.saturating_add(duration_ms(ttl));
    client.execute(
        "INSERT INTO fnwire_queues (name, created_ms) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        &[&queue, &now],
    )?;
    client.execute(
        "INSERT INTO fnwire_messages (id, queue, body, inserted_ms, expires_ms, visible_ms) VALUES ($1, $2, $3, $4, $5, $4)",
        &[&id, &queue, &body, &now, &expires],
    )?;
    client.execute("SELECT pg_notify($1, $2)", &[&QUEUE_CHANNEL, &queue])?;
    Ok(PeekedMessage {
        queue: queue.to_string(),
        id,
        body: body.to_vec(),
        dequeue_count: 0,
        insertion_time: from_millis(now),
        expiration_time: from_millis(expires),
    })
}

impl QueueStore for PgStore {
    fn describe(&self) -> String {
        redact(&self.url)
    }

    fn put(&self, queue: &str, body: &[u8], ttl: Option<Duration>) -> Result<PeekedMessage, StorageError> {
        validate_queue_name(queue)?;
        let now = self.now();
        let mut conn = self.conn("adding a message")?;
        let mut tx = conn.transaction().map_err(self.sql("adding a message"))?;
        let m = insert(&mut tx, queue, body, now, ttl.unwrap_or(DEFAULT_MESSAGE_TTL))
            .map_err(self.sql("adding a message"))?;
        tx.commit().map_err(self.sql("adding a message"))?;
        Ok(m)
    }

    fn complete_and_put(
        &self,
        held: Option<(&str, &str, &str)>,
        outputs: &[MessageBody],
    ) -> Result<(), StorageError> {
        for m in outputs {
            validate_queue_name(&m.queue)?;
        }
        let now = self.now();
        let mut conn = self.conn("completing a message")?;
        let mut tx = conn.transaction().map_err(self.sql("completing a message"))?;
        if let Some((queue, id, receipt)) = held {
            let n = tx
                .execute(
                    "DELETE FROM fnwire_messages WHERE queue = $1 AND id = $2 AND pop_receipt = $3",
                    &[&queue, &id, &receipt],
                )
                .map_err(self.sql("deleting a message"))?;
            if n != 1 {
                // Dropping the transaction rolls it back: nothing of this completion stays.
                return Err(mismatch(queue, id, receipt));
            }
        }
        for m in outputs {
            insert(&mut tx, &m.queue, &m.body, now, DEFAULT_MESSAGE_TTL)
                .map_err(self.sql("adding a message"))?;
        }
        tx.commit().map_err(self.sql("committing a completion"))
    }

    fn get_messages(
        &self,
        queue: &str,
        max: usize,
        visibility_timeout: Duration,
    ) -> Result<Vec<LeasedMessage>, StorageError> {
        let now = self.now();
        let visible_at = now.saturating_add(duration_ms(visibility_timeout));
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        let mut conn = self.conn("taking messages")?;
        conn.execute(
            "DELETE FROM fnwire_messages WHERE queue = $1 AND expires_ms <= $2 AND NOT leased",
            &[&queue, &now],
        )
        .map_err(self.sql("removing expired messages"))?;
        // SKIP LOCKED: rows another host is taking right now are passed over, not waited for.
        let rows = conn
            .query(
                "WITH picked AS (
                     SELECT seq FROM fnwire_messages
                     WHERE queue = $1 AND visible_ms <= $2 AND expires_ms > $2
                     ORDER BY visible_ms, seq LIMIT $3
                     FOR UPDATE SKIP LOCKED)
                 UPDATE fnwire_messages m
                 SET dequeue_count = m.dequeue_count + 1, pop_receipt = gen_random_uuid()::text,
                     visible_ms = $4, leased = TRUE
                 FROM picked WHERE m.seq = picked.seq
                 RETURNING m.seq, m.id, m.body, m.dequeue_count, m.inserted_ms, m.expires_ms, m.pop_receipt",
                &[&queue, &now, &limit, &visible_at],
            )
            .map_err(self.sql("taking messages"))?;
        let mut taken: Vec<(i64, LeasedMessage)> = rows
            .iter()
            .map(|r| {
                (
                    r.get::<_, i64>(0),
                    LeasedMessage {
                        queue: queue.to_string(),
                        id: r.get(1),
                        body: r.get(2),
                        dequeue_count: r.get(3),
                        insertion_time: from_millis(r.get(4)),
                        expiration_time: from_millis(r.get(5)),
                        next_visible_time: from_millis(visible_at),
                        pop_receipt: r.get(6),
                    },
                )
            })
            .collect();
        taken.sort_by_key(|(seq, _)| *seq);
        Ok(taken.into_iter().map(|(_, m)| m).collect())
    }

    fn release(
        &self,
        queue: &str,
        id: &str,
        pop_receipt: &str,
        delay: Duration,
    ) -> Result<String, StorageError> {
        self.give_back(queue, id, pop_receipt, delay, true)
    }

    fn release_unattempted(
        &self,
        queue: &str,
        id: &str,
        pop_receipt: &str,
        delay: Duration,
    ) -> Result<String, StorageError> {
        self.give_back(queue, id, pop_receipt, delay, false)
    }

    fn renew(
        &self,
        queue: &str,
        id: &str,
        pop_receipt: &str,
        visibility_timeout: Duration,
    ) -> Result<(), StorageError> {
        let visible_at = self.now().saturating_add(duration_ms(visibility_timeout));
        let mut conn = self.conn("renewing a message's visibility timeout")?;
        let n = conn
            .execute(
                "UPDATE fnwire_messages SET visible_ms = $4 WHERE queue = $1 AND id = $2 AND pop_receipt = $3 AND leased",
                &[&queue, &id, &pop_receipt, &visible_at],
            )
            .map_err(self.sql("renewing a message's visibility timeout"))?;
        if n == 1 { Ok(()) } else { Err(mismatch(queue, id, pop_receipt)) }
    }

    fn move_to_poison(&self, queue: &str, id: &str, pop_receipt: &str) -> Result<String, StorageError> {
        let poison = poison_queue_name(queue);
        let now = self.now();
        let ttl = duration_ms(DEFAULT_MESSAGE_TTL);
        let mut conn = self.conn("moving a message to the poison queue")?;
        let mut tx = conn.transaction().map_err(self.sql("moving a message to the poison queue"))?;
        tx.execute(
            "INSERT INTO fnwire_queues (name, created_ms) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            &[&poison, &now],
        )
        .map_err(self.sql("moving a message to the poison queue"))?;
        let n = tx
            .execute(
                "UPDATE fnwire_messages SET queue = $4, visible_ms = $5, dequeue_count = 0, pop_receipt = NULL,
                     leased = FALSE, expires_ms = GREATEST(expires_ms, $5::bigint + $6::bigint)
                 WHERE queue = $1 AND id = $2 AND pop_receipt = $3",
                &[&queue, &id, &pop_receipt, &poison, &now, &ttl],
            )
            .map_err(self.sql("moving a message to the poison queue"))?;
        if n != 1 {
            return Err(mismatch(queue, id, pop_receipt));
        }
        tx.commit().map_err(self.sql("moving a message to the poison queue"))?;
        Ok(poison)
    }

    fn recover_at_start(&self) -> Result<usize, StorageError> {
        // Other live hosts may hold messages: what a dead host held comes back when its
        // visibility timeout ends, never earlier.
        Ok(0)
    }

    fn peek(&self, queue: &str, max: usize) -> Result<Vec<PeekedMessage>, StorageError> {
        let now = self.now();
        let limit = i64::try_from(max).unwrap_or(i64::MAX);
        let mut conn = self.conn("peeking messages")?;
        let rows = conn
            .query(
                "SELECT id, body, dequeue_count, inserted_ms, expires_ms FROM fnwire_messages
                 WHERE queue = $1 AND visible_ms <= $2 AND expires_ms > $2 ORDER BY visible_ms, seq LIMIT $3",
                &[&queue, &now, &limit],
            )
            .map_err(self.sql("peeking messages"))?;
        Ok(rows
            .iter()
            .map(|r| PeekedMessage {
                queue: queue.to_string(),
                id: r.get(0),
                body: r.get(1),
                dequeue_count: r.get(2),
                insertion_time: from_millis(r.get(3)),
                expiration_time: from_millis(r.get(4)),
            })
            .collect())
    }

    fn list_queues(&self) -> Result<Vec<QueueSummary>, StorageError> {
        let now = self.now();
        let mut conn = self.conn("listing queues")?;
        let rows = conn
            .query(
                "SELECT q.name,
                        COUNT(m.seq) FILTER (WHERE m.visible_ms <= $1),
                        COUNT(m.seq) FILTER (WHERE m.visible_ms > $1)
                 FROM fnwire_queues q LEFT JOIN fnwire_messages m ON m.queue = q.name AND m.expires_ms > $1
                 GROUP BY q.name ORDER BY q.name",
                &[&now],
            )
            .map_err(self.sql("listing queues"))?;
        Ok(rows
            .iter()
            .map(|r| QueueSummary {
                name: r.get(0),
                visible: r.get::<_, i64>(1).max(0) as u64,
                invisible: r.get::<_, i64>(2).max(0) as u64,
            })
            .collect())
    }

    fn message_count(&self, queue: &str) -> Result<u64, StorageError> {
        let now = self.now();
        let mut conn = self.conn("counting messages")?;
        let row = conn
            .query_one(
                "SELECT COUNT(*) FROM fnwire_messages WHERE queue = $1 AND expires_ms > $2",
                &[&queue, &now],
            )
            .map_err(self.sql("counting messages"))?;
        Ok(row.get::<_, i64>(0).max(0) as u64)
    }

    fn schedule_status(&self, function: &str) -> Result<Option<ScheduleStatus>, StorageError> {
        let mut conn = self.conn("reading timer status")?;
        let row = conn
            .query_opt(
                "SELECT last, next, last_updated FROM fnwire_timer_status WHERE function = $1",
                &[&function],
            )
            .map_err(self.sql("reading timer status"))?;
        Ok(row.map(|r| ScheduleStatus { last: r.get(0), next: r.get(1), last_updated: r.get(2) }))
    }

    fn set_schedule_status(&self, function: &str, status: &ScheduleStatus) -> Result<(), StorageError> {
        let mut conn = self.conn("writing timer status")?;
        conn.execute(
            "INSERT INTO fnwire_timer_status (function, last, next, last_updated) VALUES ($1, $2, $3, $4)
             ON CONFLICT (function) DO UPDATE SET last = $2, next = $3, last_updated = $4",
            &[&function, &status.last, &status.next, &status.last_updated],
        )
        .map(|_| ())
        .map_err(self.sql("writing timer status"))
    }

    fn claim_timer_occurrence(
        &self,
        function: &str,
        due: DateTime<Utc>,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StorageError> {
        let now = self.now();
        let expires = now.saturating_add(duration_ms(lease));
        let due = millis(due);
        let mut conn = self.conn("claiming a timer occurrence")?;
        // The primary key makes the insert race-free: of hosts claiming together, one
        // inserts, the others update nothing (the claim is live) and get 0 rows.
        let n = conn
            .execute(
                "INSERT INTO fnwire_timer_occurrences (function, due_ms, owner, expires_ms) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (function, due_ms) DO UPDATE SET owner = $3, expires_ms = $4
                 WHERE NOT fnwire_timer_occurrences.done AND fnwire_timer_occurrences.expires_ms <= $5",
                &[&function, &due, &owner, &expires, &now],
            )
            .map_err(self.sql("claiming a timer occurrence"))?;
        Ok(n == 1)
    }

    fn finish_timer_occurrence(
        &self,
        function: &str,
        due: DateTime<Utc>,
        owner: &str,
    ) -> Result<(), StorageError> {
        let due = millis(due);
        let mut conn = self.conn("finishing a timer occurrence")?;
        conn.execute(
            "UPDATE fnwire_timer_occurrences SET done = TRUE WHERE function = $1 AND due_ms = $2 AND owner = $3",
            &[&function, &due, &owner],
        )
        .map_err(self.sql("finishing a timer occurrence"))?;
        conn.execute(
            "DELETE FROM fnwire_timer_occurrences WHERE function = $1 AND due_ms < $2",
            &[&function, &(due - 86_400_000)],
        )
        .map_err(self.sql("finishing a timer occurrence"))?;
        Ok(())
    }
}

impl PgStore {
    fn give_back(
        &self,
        queue: &str,
        id: &str,
        pop_receipt: &str,
        delay: Duration,
        attempted: bool,
    ) -> Result<String, StorageError> {
        let visible_at = self.now().saturating_add(duration_ms(delay));
        let receipt = new_receipt();
        let uncount: i64 = i64::from(!attempted);
        let mut conn = self.conn("releasing a message")?;
        let n = conn
            .execute(
                "UPDATE fnwire_messages SET visible_ms = $4, pop_receipt = $5, leased = FALSE,
                     dequeue_count = GREATEST(dequeue_count - $6, 0)
                 WHERE queue = $1 AND id = $2 AND pop_receipt = $3",
                &[&queue, &id, &pop_receipt, &visible_at, &receipt, &uncount],
            )
            .map_err(self.sql("releasing a message"))?;
        if n == 1 {
            // A message visible at once is new work for idle hosts.
            if delay.is_zero() {
                let _ = conn.execute("SELECT pg_notify($1, $2)", &[&QUEUE_CHANNEL, &queue]);
            }
            Ok(receipt)
        } else {
            Err(mismatch(queue, id, pop_receipt))
        }
    }
}

/// Listens for new queue messages on its own connection and calls `on_message` with each
/// queue's name, on a thread of its own, until `on_message` returns false. A lost connection
/// is opened again after a pause; meanwhile the callers' polling covers for it.
pub fn listen_for_queues(
    url: &str,
    on_message: impl Fn(&str) -> bool + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let url = url.to_string();
    std::thread::Builder::new().name("fnwire-pg-listen".into()).spawn(move || {
        loop {
            match listen_once(&url, &on_message) {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(
                        "listening for new queue messages on {}: {e}; polling until it is back",
                        redact(&url)
                    );
                    std::thread::sleep(Duration::from_secs(2));
                    // Wake the pollers in case messages came while the connection was down.
                    if !on_message("") {
                        return;
                    }
                }
            }
        }
    })
}

fn listen_once(url: &str, on_message: &impl Fn(&str) -> bool) -> Result<(), postgres::Error> {
    let mut client = postgres::Client::connect(url, NoTls)?;
    client.batch_execute(&format!("LISTEN {QUEUE_CHANNEL}"))?;
    loop {
        let mut notifications = client.notifications();
        // The timeout bounds how long a stop request (on_message returning false on a wake-up)
        // waits, and checks the connection now and then.
        let mut iter = notifications.timeout_iter(Duration::from_secs(5));
        use postgres::fallible_iterator::FallibleIterator;
        match iter.next()? {
            Some(n) => {
                if !on_message(n.payload()) {
                    return Ok(());
                }
            }
            None => {
                drop(iter);
                drop(notifications);
                client.simple_query("SELECT 1")?;
            }
        }
    }
}

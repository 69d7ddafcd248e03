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
use deadpool_postgres::GenericClient;
use fnwire_storage::{
    BlobBackend, Clock, DEFAULT_MESSAGE_TTL, LeasedMessage, MessageBody, MessageTrace, PeekedMessage,
    QueueStore, QueueSummary, ScheduleStatus, StorageError, normalize_blob_path, poison_queue_name,
    validate_queue_name,
};
use postgres::NoTls;

mod blob_trigger;
mod keda;
mod schema;
mod table;
pub mod testing;
mod topic;

pub use keda::visible_messages_query;
pub use schema::SCHEMA_VERSION;
/// The client crates, for code that runs its own SQL through [`PgStore::run`] (the durable task
/// hub), so every part of fnwire links one version of them.
pub use {deadpool_postgres, tokio_postgres};

/// The channel new queue messages are announced on; the payload is the queue's name.
pub const QUEUE_CHANNEL: &str = "fnwire_queue";

/// A tokio runtime on a thread of its own that drives the store's connections. It is created
/// and dropped on that thread, so a store may be made and dropped anywhere, in async code too
/// (a runtime dropped inside another one panics).
struct IoRuntime {
    handle: tokio::runtime::Handle,
    /// Dropping it ends the thread, which drops the runtime.
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl IoRuntime {
    fn start() -> std::io::Result<IoRuntime> {
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("fnwire-pg-io")
            .enable_all()
            .build()?;
        let handle = runtime.handle().clone();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        std::thread::Builder::new().name("fnwire-pg-runtime".into()).spawn(move || {
            runtime.block_on(async {
                let _ = stopped.await;
            });
        })?;
        Ok(IoRuntime { handle, _stop: stop })
    }
}

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
    pub pool_size: usize,
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
    pool: deadpool_postgres::Pool,
    runtime: IoRuntime,
    url: String,
    clock: Clock,
    /// Compiled subscription rules, by their stored text.
    rules: fnwire_storage::RuleCache,
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
fn error_text(e: &tokio_postgres::Error) -> String {
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
        let mut config: tokio_postgres::Config = url
            .parse()
            .map_err(|e: tokio_postgres::Error| fail("reading the connection URL", e.to_string()))?;
        // A server that does not answer fails a call instead of hanging it.
        config.connect_timeout(options.connect_timeout);
        config.keepalives(true);
        config.keepalives_idle(Duration::from_secs(10));
        let manager = deadpool_postgres::Manager::from_config(
            config,
            tokio_postgres::NoTls,
            deadpool_postgres::ManagerConfig { recycling_method: deadpool_postgres::RecyclingMethod::Fast },
        );
        let pool = deadpool_postgres::Pool::builder(manager)
            .max_size(options.pool_size)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(options.connect_timeout))
            .create_timeout(Some(options.connect_timeout))
            .build()
            .map_err(|e| fail("setting up the connection pool", e.to_string()))?;
        let runtime =
            IoRuntime::start().map_err(|e| fail("starting the database I/O thread", e.to_string()))?;
        let store = PgStore {
            pool,
            runtime,
            url: url.to_string(),
            clock: options.clock,
            rules: fnwire_storage::RuleCache::default(),
        };
        store.block(async {
            let mut conn = store.conn_async("connecting").await?;
            schema::migrate(&mut conn).await.map_err(|e| match e {
                schema::MigrateError::TooNew(found) => {
                    StorageError::SchemaTooNew { store: store_name.clone(), found, supported: SCHEMA_VERSION }
                }
                schema::MigrateError::Sql(e) => fail("creating or migrating the schema", error_text(&e)),
            })
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

    async fn conn_async(&self, what: &'static str) -> Result<deadpool_postgres::Object, StorageError> {
        self.pool.get().await.map_err(|e| {
            let detail = match &e {
                deadpool_postgres::PoolError::Backend(e) => error_text(e),
                other => other.to_string(),
            };
            self.error(what, detail)
        })
    }

    /// Runs one call's future to its end on the calling thread. The connections' sockets are
    /// driven by the store's own I/O runtime (entered here, so new connections register with
    /// it); waiting is a plain thread block, so this works on the blocking pool, on a plain
    /// thread, and in async code on any runtime.
    ///
    /// The call's future uses tokio resources (the pool's semaphore, its timeouts), and tokio
    /// charges every use to the budget of the task running on the current thread. Polled from
    /// inside a task, the call would spend that task's budget, and once it is spent each
    /// resource answers "not yet" and wakes itself at once: a plain `block_on` would poll it
    /// again for ever, because the budget is only refilled when the task yields, which a
    /// blocked task never does. So the call runs unconstrained by that budget, and on a worker
    /// of a multi-thread runtime it also hands the worker's other tasks to another thread
    /// while it blocks (`block_in_place`), so they do not wait for the database.
    fn block<T>(&self, call: impl std::future::Future<Output = T>) -> T {
        let on_multi_thread_runtime = tokio::runtime::Handle::try_current()
            .is_ok_and(|caller| caller.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        let run = || {
            let _inside = self.runtime.handle.enter();
            futures::executor::block_on(tokio::task::unconstrained(call))
        };
        if on_multi_thread_runtime { tokio::task::block_in_place(run) } else { run() }
    }

    fn error(&self, what: &'static str, detail: String) -> StorageError {
        StorageError::Database { store: redact(&self.url), what, detail }
    }

    fn sql(&self, what: &'static str) -> impl Fn(tokio_postgres::Error) -> StorageError + '_ {
        move |e| self.error(what, error_text(&e))
    }

    /// The value stored under `name`, storing `proposed` first if there is none: hosts starting
    /// together all get the first one stored (the app's keys, shared by every host).
    pub fn get_or_insert_secret(&self, name: &str, proposed: &str) -> Result<String, StorageError> {
        self.block(async {
            let conn = self.conn_async("reading the app's keys").await?;
            conn.execute(&conn.prepare_cached("INSERT INTO fnwire_secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING").await.map_err(self.sql("preparing a statement"))?,
                &[&name, &proposed],
            )
            .await
            .map_err(self.sql("storing the app's keys"))?;
            let row = conn
                .query_one("SELECT value FROM fnwire_secrets WHERE name = $1", &[&name])
                .await
                .map_err(self.sql("reading the app's keys"))?;
            Ok(row.get(0))
        })
    }

    /// Runs a call of the caller's own on this store's connections and I/O thread, blocking
    /// until it ends (see `block`); for parts of fnwire that keep their own tables here.
    pub fn run<T>(&self, call: impl std::future::Future<Output = T>) -> T {
        self.block(call)
    }

    /// A pooled connection, for use inside [`PgStore::run`]; `what` names the call in errors.
    pub async fn connection(&self, what: &'static str) -> Result<deadpool_postgres::Object, StorageError> {
        self.conn_async(what).await
    }

    /// A client error as this store reports it (the server's message and SQLSTATE, the
    /// database named without its password).
    pub fn database_error(&self, what: &'static str, e: &tokio_postgres::Error) -> StorageError {
        self.error(what, error_text(e))
    }

    /// Creates or migrates a set of tables with their own version table (see
    /// `schema::migrate_tables`): a version newer than `migrations` knows is
    /// [`StorageError::SchemaTooNew`], and nothing is changed.
    pub fn migrate_tables(&self, version_table: &str, migrations: &[&str]) -> Result<(), StorageError> {
        self.block(async {
            let mut conn = self.conn_async("connecting").await?;
            schema::migrate_tables(&mut conn, version_table, migrations).await.map_err(|e| match e {
                schema::MigrateError::TooNew(found) => StorageError::SchemaTooNew {
                    store: redact(&self.url),
                    found,
                    supported: i64::try_from(migrations.len()).unwrap_or(i64::MAX),
                },
                schema::MigrateError::Sql(e) => {
                    self.error("creating or migrating the schema", error_text(&e))
                }
            })
        })
    }

    /// Runs `sql` (one row, one BIGINT column) and returns the value; for tests and tools.
    pub fn query_count(&self, sql: &str) -> Result<i64, StorageError> {
        self.block(async {
            let conn = self.conn_async("counting").await?;
            let row = conn.query_one(sql, &[]).await.map_err(self.sql("counting"))?;
            row.try_get::<_, i64>(0).map_err(self.sql("counting"))
        })
    }
}

/// Inserts one message and announces it; inside the caller's transaction, so the announcement
/// goes out at commit.
pub(crate) async fn insert(
    client: &impl GenericClient,
    queue: &str,
    body: &[u8],
    trace: Option<&MessageTrace>,
    now: i64,
    ttl: Duration,
) -> Result<PeekedMessage, tokio_postgres::Error> {
    let id = uuid::Uuid::new_v4().to_string();
    let expires = now.saturating_add(duration_ms(ttl));
    client
        .execute(
            "INSERT INTO fnwire_queues (name, created_ms) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
            &[&queue, &now],
        )
        .await?;
    let traceparent = trace.map(|t| t.traceparent.as_str());
    let tracestate = trace.and_then(|t| Some(t.tracestate.as_str()).filter(|s| !s.is_empty()));
    client
        .execute(
            &client
                .prepare_cached(
                    "INSERT INTO fnwire_messages (id, queue, body, inserted_ms, expires_ms, visible_ms, traceparent, tracestate)
                     VALUES ($1, $2, $3, $4, $5, $4, $6, $7)",
                )
                .await?,
            &[&id, &queue, &body, &now, &expires, &traceparent, &tracestate],
        )
        .await?;
    client
        .execute(&client.prepare_cached("SELECT pg_notify($1, $2)").await?, &[&QUEUE_CHANNEL, &queue])
        .await?;
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

    fn topics(&self) -> Option<&dyn fnwire_storage::TopicStore> {
        Some(self)
    }

    fn put(&self, queue: &str, body: &[u8], ttl: Option<Duration>) -> Result<PeekedMessage, StorageError> {
        self.block(async {
            validate_queue_name(queue)?;
            let now = self.now();
            let mut conn = self.conn_async("adding a message").await?;
            let tx = conn.transaction().await.map_err(self.sql("adding a message"))?;
            let m = insert(&tx, queue, body, None, now, ttl.unwrap_or(DEFAULT_MESSAGE_TTL))
                .await
                .map_err(self.sql("adding a message"))?;
            tx.commit().await.map_err(self.sql("adding a message"))?;
            Ok(m)
        })
    }

    fn complete_and_put(
        &self,
        held: Option<(&str, &str, &str)>,
        outputs: &[MessageBody],
    ) -> Result<(), StorageError> {
        self.block(async {
            for m in outputs {
                validate_queue_name(&m.queue)?;
            }
            let now = self.now();
            let mut conn = self.conn_async("completing a message").await?;
            let tx = conn.transaction().await.map_err(self.sql("completing a message"))?;
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
                insert(&tx, &m.queue, &m.body, m.trace.as_ref(), now, DEFAULT_MESSAGE_TTL)
                    .await
                    .map_err(self.sql("adding a message"))?;
            }
            tx.commit().await.map_err(self.sql("committing a completion"))
        })
    }

    fn get_messages(
        &self,
        queue: &str,
        max: usize,
        visibility_timeout: Duration,
    ) -> Result<Vec<LeasedMessage>, StorageError> {
        self.block(async {
            let now = self.now();
            let visible_at = now.saturating_add(duration_ms(visibility_timeout));
            let limit = i64::try_from(max).unwrap_or(i64::MAX);
            let conn = self.conn_async("taking messages").await?;
            conn.execute(
                &conn
                    .prepare_cached(
                        "DELETE FROM fnwire_messages WHERE queue = $1 AND expires_ms <= $2 AND NOT leased",
                    )
                    .await
                    .map_err(self.sql("preparing a statement"))?,
                &[&queue, &now],
            )
            .await
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
                 RETURNING m.seq, m.id, m.body, m.dequeue_count, m.inserted_ms, m.expires_ms, m.pop_receipt,
                     m.traceparent, m.tracestate",
                    &[&queue, &now, &limit, &visible_at],
                )
                .await
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
                            trace: r.get::<_, Option<String>>(7).and_then(|tp| {
                                MessageTrace::new(tp, r.get::<_, Option<String>>(8).unwrap_or_default())
                            }),
                        },
                    )
                })
                .collect();
            taken.sort_by_key(|(seq, _)| *seq);
            Ok(taken.into_iter().map(|(_, m)| m).collect())
        })
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
        self.block(async {
        let visible_at = self.now().saturating_add(duration_ms(visibility_timeout));
        let conn = self.conn_async("renewing a message's visibility timeout").await?;
        let n = conn
            .execute(
                "UPDATE fnwire_messages SET visible_ms = $4 WHERE queue = $1 AND id = $2 AND pop_receipt = $3 AND leased",
                &[&queue, &id, &pop_receipt, &visible_at],
            )
            .await
            .map_err(self.sql("renewing a message's visibility timeout"))?;
        if n == 1 { Ok(()) } else { Err(mismatch(queue, id, pop_receipt)) }
            })
    }

    fn move_to_poison(&self, queue: &str, id: &str, pop_receipt: &str) -> Result<String, StorageError> {
        self.block(async {
        let poison = poison_queue_name(queue);
        let now = self.now();
        let ttl = duration_ms(DEFAULT_MESSAGE_TTL);
        let mut conn = self.conn_async("moving a message to the poison queue").await?;
        let tx = conn.transaction().await.map_err(self.sql("moving a message to the poison queue"))?;
        tx.execute(&tx.prepare_cached("INSERT INTO fnwire_queues (name, created_ms) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING").await.map_err(self.sql("preparing a statement"))?,
            &[&poison, &now],
        )
        .await
        .map_err(self.sql("moving a message to the poison queue"))?;
        let n = tx
            .execute(
                "UPDATE fnwire_messages SET queue = $4, visible_ms = $5, dequeue_count = 0, pop_receipt = NULL,
                     leased = FALSE, expires_ms = GREATEST(expires_ms, $5::bigint + $6::bigint)
                 WHERE queue = $1 AND id = $2 AND pop_receipt = $3",
                &[&queue, &id, &pop_receipt, &poison, &now, &ttl],
            )
            .await
            .map_err(self.sql("moving a message to the poison queue"))?;
        if n != 1 {
            return Err(mismatch(queue, id, pop_receipt));
        }
        tx.commit().await.map_err(self.sql("moving a message to the poison queue"))?;
        Ok(poison)
            })
    }

    fn recover_at_start(&self) -> Result<usize, StorageError> {
        // Other live hosts may hold messages: what a dead host held comes back when its
        // visibility timeout ends, never earlier.
        Ok(0)
    }

    fn peek(&self, queue: &str, max: usize) -> Result<Vec<PeekedMessage>, StorageError> {
        self.block(async {
            let now = self.now();
            let limit = i64::try_from(max).unwrap_or(i64::MAX);
            let conn = self.conn_async("peeking messages").await?;
            let rows = conn
                .query(
                    "SELECT id, body, dequeue_count, inserted_ms, expires_ms FROM fnwire_messages
                 WHERE queue = $1 AND visible_ms <= $2 AND expires_ms > $2 ORDER BY visible_ms, seq LIMIT $3",
                    &[&queue, &now, &limit],
                )
                .await
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
        })
    }

    fn list_queues(&self) -> Result<Vec<QueueSummary>, StorageError> {
        self.block(async {
            let now = self.now();
            let conn = self.conn_async("listing queues").await?;
            let rows = conn
                .query(
                    "SELECT q.name,
                        COUNT(m.seq) FILTER (WHERE m.visible_ms <= $1),
                        COUNT(m.seq) FILTER (WHERE m.visible_ms > $1),
                        MIN(m.inserted_ms)
                 FROM fnwire_queues q LEFT JOIN fnwire_messages m ON m.queue = q.name AND m.expires_ms > $1
                 GROUP BY q.name ORDER BY q.name",
                    &[&now],
                )
                .await
                .map_err(self.sql("listing queues"))?;
            Ok(rows
                .iter()
                .map(|r| QueueSummary {
                    name: r.get(0),
                    visible: r.get::<_, i64>(1).max(0) as u64,
                    invisible: r.get::<_, i64>(2).max(0) as u64,
                    oldest_age: fnwire_storage::queue_age_since(r.get(3), now),
                })
                .collect())
        })
    }

    fn message_count(&self, queue: &str) -> Result<u64, StorageError> {
        self.block(async {
            let now = self.now();
            let conn = self.conn_async("counting messages").await?;
            let row = conn
                .query_one(
                    "SELECT COUNT(*) FROM fnwire_messages WHERE queue = $1 AND expires_ms > $2",
                    &[&queue, &now],
                )
                .await
                .map_err(self.sql("counting messages"))?;
            Ok(row.get::<_, i64>(0).max(0) as u64)
        })
    }

    fn schedule_status(&self, function: &str) -> Result<Option<ScheduleStatus>, StorageError> {
        self.block(async {
            let conn = self.conn_async("reading timer status").await?;
            let row = conn
                .query_opt(
                    "SELECT last, next, last_updated FROM fnwire_timer_status WHERE function = $1",
                    &[&function],
                )
                .await
                .map_err(self.sql("reading timer status"))?;
            Ok(row.map(|r| ScheduleStatus { last: r.get(0), next: r.get(1), last_updated: r.get(2) }))
        })
    }

    fn set_schedule_status(&self, function: &str, status: &ScheduleStatus) -> Result<(), StorageError> {
        self.block(async {
            let conn = self.conn_async("writing timer status").await?;
            conn.execute(&conn.prepare_cached("INSERT INTO fnwire_timer_status (function, last, next, last_updated) VALUES ($1, $2, $3, $4)
             ON CONFLICT (function) DO UPDATE SET last = $2, next = $3, last_updated = $4").await.map_err(self.sql("preparing a statement"))?,
                &[&function, &status.last, &status.next, &status.last_updated],
            )
            .await
            .map(|_| ())
            .map_err(self.sql("writing timer status"))
        })
    }

    fn claim_timer_occurrence(
        &self,
        function: &str,
        due: DateTime<Utc>,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StorageError> {
        self.block(async {
        let now = self.now();
        let expires = now.saturating_add(duration_ms(lease));
        let due = millis(due);
        let conn = self.conn_async("claiming a timer occurrence").await?;
        // The primary key makes the insert race-free: of hosts claiming together, one
        // inserts, the others update nothing (the claim is live) and get 0 rows.
        let n = conn
            .execute(
                "INSERT INTO fnwire_timer_occurrences (function, due_ms, owner, expires_ms) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (function, due_ms) DO UPDATE SET owner = $3, expires_ms = $4
                 WHERE NOT fnwire_timer_occurrences.done AND fnwire_timer_occurrences.expires_ms <= $5",
                &[&function, &due, &owner, &expires, &now],
            )
            .await
            .map_err(self.sql("claiming a timer occurrence"))?;
        Ok(n == 1)
            })
    }

    fn as_table_store(&self) -> Option<&dyn fnwire_storage::TableStore> {
        Some(self)
    }

    fn finish_timer_occurrence(
        &self,
        function: &str,
        due: DateTime<Utc>,
        owner: &str,
    ) -> Result<(), StorageError> {
        self.block(async {
        let due = millis(due);
        let conn = self.conn_async("finishing a timer occurrence").await?;
        conn.execute(&conn.prepare_cached("UPDATE fnwire_timer_occurrences SET done = TRUE WHERE function = $1 AND due_ms = $2 AND owner = $3").await.map_err(self.sql("preparing a statement"))?,
            &[&function, &due, &owner],
        )
        .await
        .map_err(self.sql("finishing a timer occurrence"))?;
        conn.execute(&conn.prepare_cached("DELETE FROM fnwire_timer_occurrences WHERE function = $1 AND due_ms < $2").await.map_err(self.sql("preparing a statement"))?,
            &[&function, &(due - 86_400_000)],
        )
        .await
        .map_err(self.sql("finishing a timer occurrence"))?;
        Ok(())
            })
    }

    fn enqueue_blob_version(
        &self,
        function: &str,
        blob_path: &str,
        etag: &str,
        work: &MessageBody,
    ) -> Result<bool, StorageError> {
        self.record_blob_version(function, blob_path, etag, work)
    }
}

/// Blobs as rows of the shared database, so every host sees every blob: one row per blob,
/// written whole in one statement.
impl BlobBackend for PgStore {
    fn describe(&self) -> String {
        redact(&self.url)
    }

    fn read(&self, blob_path: &str) -> Result<Option<Vec<u8>>, std::io::Error> {
        let path = normalize_blob_path(blob_path).map_err(std::io::Error::other)?;
        self.block(async {
            let conn = self.conn_async("reading a blob").await?;
            let row = conn
                .query_opt("SELECT body FROM fnwire_blobs WHERE path = $1", &[&path])
                .await
                .map_err(self.sql("reading a blob"))?;
            Ok(row.map(|r| r.get(0)))
        })
        .map_err(|e: StorageError| std::io::Error::other(format!("reading blob `{path}`: {e}")))
    }

    fn write(&self, blob_path: &str, bytes: &[u8]) -> Result<(), std::io::Error> {
        let path = normalize_blob_path(blob_path).map_err(std::io::Error::other)?;
        let now = self.now();
        self.block(async {
            let conn = self.conn_async("writing a blob").await?;
            conn.execute(
                &conn
                    .prepare_cached(
                        "INSERT INTO fnwire_blobs (path, body, modified_ms, etag) VALUES ($1, $2, $3, $4)
                 ON CONFLICT (path) DO UPDATE SET body = $2, modified_ms = $3, etag = $4",
                    )
                    .await
                    .map_err(self.sql("preparing a statement"))?,
                &[&path, &bytes, &now, &blob_trigger::new_etag()],
            )
            .await
            .map_err(self.sql("writing a blob"))?;
            Ok(())
        })
        .map_err(|e: StorageError| std::io::Error::other(format!("writing blob `{path}`: {e}")))
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, std::io::Error> {
        let prefix = prefix.trim_matches('/').to_string();
        // LIKE with the prefix's own wildcards escaped: `a_b` lists `a_b/…` only.
        let pattern = format!("{}/%", prefix.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_"));
        self.block(async {
            let conn = self.conn_async("listing blobs").await?;
            let rows = conn
                .query("SELECT path FROM fnwire_blobs WHERE path LIKE $1 ORDER BY path", &[&pattern])
                .await
                .map_err(self.sql("listing blobs"))?;
            Ok(rows.iter().map(|r| r.get(0)).collect())
        })
        .map_err(|e: StorageError| std::io::Error::other(format!("listing blobs under `{prefix}`: {e}")))
    }

    fn read_with_properties(
        &self,
        blob_path: &str,
    ) -> Result<Option<(Vec<u8>, fnwire_storage::BlobProperties)>, std::io::Error> {
        self.blob_with_properties(blob_path)
    }

    fn list_properties(&self, prefix: &str) -> Result<Vec<fnwire_storage::BlobProperties>, std::io::Error> {
        self.blob_properties_under(prefix)
    }

    fn delete(&self, blob_path: &str) -> Result<bool, std::io::Error> {
        self.delete_blob(blob_path)
    }

    fn uri(&self, blob_path: &str) -> String {
        self.blob_uri(blob_path)
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
        self.block(async {
            let visible_at = self.now().saturating_add(duration_ms(delay));
            let receipt = new_receipt();
            let uncount: i64 = i64::from(!attempted);
            let conn = self.conn_async("releasing a message").await?;
            let n = conn
                .execute(
                    "UPDATE fnwire_messages SET visible_ms = $4, pop_receipt = $5, leased = FALSE,
                     dequeue_count = GREATEST(dequeue_count - $6, 0)
                 WHERE queue = $1 AND id = $2 AND pop_receipt = $3",
                    &[&queue, &id, &pop_receipt, &visible_at, &receipt, &uncount],
                )
                .await
                .map_err(self.sql("releasing a message"))?;
            if n == 1 {
                // A message visible at once is new work for idle hosts.
                if delay.is_zero() {
                    // Best effort: the release is done; pollers find the message anyway.
                    let _ = conn.execute("SELECT pg_notify($1, $2)", &[&QUEUE_CHANNEL, &queue]).await;
                }
                Ok(receipt)
            } else {
                Err(mismatch(queue, id, pop_receipt))
            }
        })
    }
}

/// Listens for new queue messages on its own connection and calls `on_message` with each
/// queue's name, on a thread of its own, until `on_message` returns false. A lost connection
/// is opened again after a pause; meanwhile the callers' polling covers for it.
pub fn listen_for_queues(
    url: &str,
    on_message: impl Fn(&str) -> bool + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    listen_on(url, QUEUE_CHANNEL, "new queue messages", on_message)
}

/// Listens on `channel` (a plain identifier) as [`listen_for_queues`] does on the queue
/// channel: `on_message` gets each payload, and `""` after a lost connection came back.
/// `what` names the notifications in the warning about a lost connection.
pub fn listen_on(
    url: &str,
    channel: &'static str,
    what: &'static str,
    on_message: impl Fn(&str) -> bool + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let url = url.to_string();
    std::thread::Builder::new().name("fnwire-pg-listen".into()).spawn(move || {
        loop {
            match listen_once(&url, channel, &on_message) {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!("listening for {what} on {}: {e}; polling until it is back", redact(&url));
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

fn listen_once(url: &str, channel: &str, on_message: &impl Fn(&str) -> bool) -> Result<(), postgres::Error> {
    let mut client = postgres::Client::connect(url, NoTls)?;
    client.batch_execute(&format!("LISTEN {channel}"))?;
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

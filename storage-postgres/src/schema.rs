//! The schema and its migrations. `fnwire_schema` holds the version; each migration moves it
//! up by one, in the transaction that changes the tables.

use tokio_postgres::Client;

/// The schema version this fnwire writes and reads.
pub const SCHEMA_VERSION: i64 = 2;

/// Any number, the same for every fnwire host: the advisory lock that serialises migrations.
const MIGRATION_LOCK: i64 = 0x666e_7769_7265;

pub(crate) enum MigrateError {
    TooNew(i64),
    Sql(tokio_postgres::Error),
}

impl From<tokio_postgres::Error> for MigrateError {
    fn from(e: tokio_postgres::Error) -> Self {
        MigrateError::Sql(e)
    }
}

/// Migration `n` takes the schema from version `n` to `n + 1`.
const MIGRATIONS: &[&str] = &["
CREATE TABLE fnwire_queues (
    name TEXT PRIMARY KEY,
    created_ms BIGINT NOT NULL
);
CREATE TABLE fnwire_messages (
    seq BIGSERIAL PRIMARY KEY,
    id TEXT NOT NULL UNIQUE,
    queue TEXT NOT NULL,
    body BYTEA NOT NULL,
    inserted_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    visible_ms BIGINT NOT NULL,
    dequeue_count BIGINT NOT NULL DEFAULT 0,
    pop_receipt TEXT,
    leased BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE INDEX fnwire_messages_by_queue ON fnwire_messages (queue, visible_ms, seq);
CREATE INDEX fnwire_messages_by_expiry ON fnwire_messages (queue, expires_ms);
CREATE TABLE fnwire_timer_status (
    function TEXT PRIMARY KEY,
    last TEXT NOT NULL,
    next TEXT NOT NULL,
    last_updated TEXT NOT NULL
);
CREATE TABLE fnwire_timer_occurrences (
    function TEXT NOT NULL,
    due_ms BIGINT NOT NULL,
    owner TEXT NOT NULL,
    expires_ms BIGINT NOT NULL,
    done BOOLEAN NOT NULL DEFAULT FALSE,
    PRIMARY KEY (function, due_ms)
);
CREATE TABLE fnwire_blobs (
    path TEXT PRIMARY KEY,
    body BYTEA NOT NULL,
    modified_ms BIGINT NOT NULL
);
CREATE TABLE fnwire_secrets (
    name TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
", "
CREATE TABLE fnwire_sb_entities (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    default_ttl_ms BIGINT NOT NULL,
    duplicate_window_ms BIGINT,
    created_ms BIGINT NOT NULL
);
CREATE TABLE fnwire_sb_subscriptions (
    entity TEXT NOT NULL,
    name TEXT NOT NULL,
    lock_ms BIGINT NOT NULL,
    max_delivery BIGINT NOT NULL,
    default_ttl_ms BIGINT,
    dead_letter_on_expiry BOOLEAN NOT NULL,
    rules TEXT NOT NULL,
    PRIMARY KEY (entity, name)
);
CREATE TABLE fnwire_sb_messages (
    seq BIGSERIAL PRIMARY KEY,
    entity TEXT NOT NULL,
    subscription TEXT NOT NULL,
    body BYTEA NOT NULL,
    props TEXT NOT NULL,
    enqueued_ms BIGINT NOT NULL,
    visible_ms BIGINT NOT NULL,
    expires_ms BIGINT NOT NULL,
    delivery_count BIGINT NOT NULL DEFAULT 0,
    lock_token TEXT,
    locked BOOLEAN NOT NULL DEFAULT FALSE,
    dead_letter BOOLEAN NOT NULL DEFAULT FALSE,
    dead_letter_reason TEXT,
    dead_letter_description TEXT
);
CREATE INDEX fnwire_sb_messages_ready ON fnwire_sb_messages (entity, subscription, dead_letter, visible_ms, seq);
CREATE TABLE fnwire_sb_duplicates (
    entity TEXT NOT NULL,
    message_id TEXT NOT NULL,
    expires_ms BIGINT NOT NULL,
    PRIMARY KEY (entity, message_id)
);
"];

/// Creates the schema, or brings it to [`SCHEMA_VERSION`]; a newer one is refused untouched.
pub(crate) async fn migrate(client: &mut Client) -> Result<(), MigrateError> {
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
    // Checked first rather than `IF NOT EXISTS`, whose notice the client would log each start.
    let exists: bool = tx.query_one("SELECT to_regclass('fnwire_schema') IS NOT NULL", &[]).await?.get(0);
    if !exists {
        tx.batch_execute("CREATE TABLE fnwire_schema (version BIGINT NOT NULL)").await?;
    }
    let found: i64 = tx.query_one("SELECT COALESCE(MAX(version), 0) FROM fnwire_schema", &[]).await?.get(0);
    if found > SCHEMA_VERSION {
        // Dropping the transaction rolls back: not even the version table is touched.
        return Err(MigrateError::TooNew(found));
    }
    for (from, sql) in MIGRATIONS.iter().enumerate().skip(usize::try_from(found).unwrap_or(0)) {
        tx.batch_execute(sql).await?;
        let to = i64::try_from(from).unwrap_or(0) + 1;
        tx.execute("DELETE FROM fnwire_schema", &[]).await?;
        tx.execute("INSERT INTO fnwire_schema (version) VALUES ($1)", &[&to]).await?;
    }
    tx.commit().await?;
    Ok(())
}

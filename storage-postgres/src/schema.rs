//! The schema and its migrations. `fnwire_schema` holds the version; each migration moves it
//! up by one, in the transaction that changes the tables.

use tokio_postgres::Client;

/// The schema version this fnwire writes and reads.
pub const SCHEMA_VERSION: i64 = 6;

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
const MIGRATIONS: &[&str] = &[
    "
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
",
    "
-- Azure Tables (see `table.rs`). Keys sort byte-wise (COLLATE \"C\"), as in SQLite and Azure.
CREATE TABLE fnwire_table_names (
    key TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    created_ms BIGINT NOT NULL
);
CREATE TABLE fnwire_table_entities (
    table_key TEXT NOT NULL,
    partition_key TEXT COLLATE \"C\" NOT NULL,
    row_key TEXT COLLATE \"C\" NOT NULL,
    properties TEXT NOT NULL,
    timestamp_us BIGINT NOT NULL,
    etag TEXT NOT NULL,
    PRIMARY KEY (table_key, partition_key, row_key)
);
",
    "
-- Blob versions for blob triggers: an ETag per write, and the latest version each
-- blob-trigger function has found.
ALTER TABLE fnwire_blobs ADD COLUMN etag TEXT NOT NULL DEFAULT '';
UPDATE fnwire_blobs SET etag = '0x' || upper(to_hex(modified_ms));
CREATE TABLE fnwire_blob_receipts (
    function TEXT NOT NULL,
    blob_path TEXT NOT NULL,
    etag TEXT NOT NULL,
    found_ms BIGINT NOT NULL,
    PRIMARY KEY (function, blob_path)
);
",
    "
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
",
    // Each receive sweeps its subscription for expired copies and for copies past
    // MaxDeliveryCount; with only the ready index, both read every copy of the subscription,
    // so a backlog made each receive cost as much as the backlog.
    "
CREATE INDEX fnwire_sb_messages_by_expiry ON fnwire_sb_messages (entity, subscription, dead_letter, expires_ms);
CREATE INDEX fnwire_sb_messages_by_delivery ON fnwire_sb_messages (entity, subscription, dead_letter, delivery_count);
",
    // The W3C trace context of the invocation that put a queue message, beside its body, so
    // the invocation it triggers continues the trace; NULL for messages put from outside an
    // invocation and for those stored before this version.
    "
ALTER TABLE fnwire_messages ADD COLUMN traceparent TEXT;
ALTER TABLE fnwire_messages ADD COLUMN tracestate TEXT;
"];

/// Creates the schema, or brings it to [`SCHEMA_VERSION`]; a newer one is refused untouched.
pub(crate) async fn migrate(client: &mut Client) -> Result<(), MigrateError> {
    migrate_tables(client, "fnwire_schema", MIGRATIONS).await
}

/// The version rule for one set of tables: `version_table` holds how many of `migrations` ran
/// (migration `n` takes it from `n` to `n + 1`); a higher number than there are migrations is
/// refused untouched. Other parts of fnwire that keep tables in the database (the durable task
/// hub) keep their own version table, so each set migrates on its own.
pub(crate) async fn migrate_tables(
    client: &mut Client,
    version_table: &str,
    migrations: &[&str],
) -> Result<(), MigrateError> {
    let supported = i64::try_from(migrations.len()).unwrap_or(i64::MAX);
    let tx = client.transaction().await?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK]).await?;
    // Checked first rather than `IF NOT EXISTS`, whose notice the client would log each start.
    let exists: bool = tx.query_one("SELECT to_regclass($1) IS NOT NULL", &[&version_table]).await?.get(0);
    if !exists {
        tx.batch_execute(&format!("CREATE TABLE {version_table} (version BIGINT NOT NULL)")).await?;
    }
    let found: i64 =
        tx.query_one(&format!("SELECT COALESCE(MAX(version), 0) FROM {version_table}"), &[]).await?.get(0);
    if found > supported {
        // Dropping the transaction rolls back: not even the version table is touched.
        return Err(MigrateError::TooNew(found));
    }
    for (from, sql) in migrations.iter().enumerate().skip(usize::try_from(found).unwrap_or(0)) {
        tx.batch_execute(sql).await?;
        let to = i64::try_from(from).unwrap_or(0) + 1;
        tx.execute(&format!("DELETE FROM {version_table}"), &[]).await?;
        tx.execute(&format!("INSERT INTO {version_table} (version) VALUES ($1)"), &[&to]).await?;
    }
    tx.commit().await?;
    Ok(())
}

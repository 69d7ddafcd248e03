//! The one store interface the host uses, whatever holds the data: [`QueueStore`]. The
//! embedded SQLite [`Store`] implements it, and so does the PostgreSQL store of the
//! `fnwire-storage-postgres` crate, which lets many hosts share one database.
//!
//! Every call blocks; the host makes them on tokio's blocking pool. The guarantees each
//! implementation keeps are those of Azure Storage queues: a taken message is hidden for its
//! visibility timeout and identified by a fresh pop receipt, only the holder of the current
//! receipt may delete, release, renew or poison it, and a completion (delete plus outputs) is
//! one transaction.

use std::time::Duration;

use chrono::{DateTime, Utc};
use fnwire_tables::{Entity, TableQuery};

use crate::topic::{
    EntitySummary, LockedMessage as LockedCopy, MessageLock, Outgoing, PeekedCopy, SendOutcome,
};
use crate::{
    BlobProperties, BlobStore, LeasedMessage, MessageBody, PeekedMessage, QueueSummary, ScheduleStatus,
    StorageError, Store, normalize_blob_path,
};
use fnwire_messaging::{EntityDecl, SubscriptionDecl};

/// Queues and timer state behind one interface (see the module comment).
pub trait QueueStore: Send + Sync + std::fmt::Debug + 'static {
    /// Where the data lives, for logs and errors (a file path, or a database URL without its
    /// password).
    fn describe(&self) -> String;

    /// Adds a message (visible at once) with the given time-to-live (default 7 days).
    fn put(&self, queue: &str, body: &[u8], ttl: Option<Duration>) -> Result<PeekedMessage, StorageError>;

    /// Adds several messages in one transaction: all or none.
    fn put_many(&self, messages: &[MessageBody]) -> Result<(), StorageError> {
        self.complete_and_put(None, messages)
    }

    /// Deletes a held message (when `held` is `(queue, id, pop_receipt)`) and adds `outputs`,
    /// in one transaction.
    fn complete_and_put(
        &self,
        held: Option<(&str, &str, &str)>,
        outputs: &[MessageBody],
    ) -> Result<(), StorageError>;

    /// Takes up to `max` visible messages, hiding each for `visibility_timeout`; each gets a
    /// new pop receipt and one more dequeue. Competing callers never take the same message.
    fn get_messages(
        &self,
        queue: &str,
        max: usize,
        visibility_timeout: Duration,
    ) -> Result<Vec<LeasedMessage>, StorageError>;

    /// Deletes a held message.
    fn delete(&self, queue: &str, id: &str, pop_receipt: &str) -> Result<(), StorageError> {
        self.complete_and_put(Some((queue, id, pop_receipt)), &[])
    }

    /// Gives a held message back, visible again after `delay`; returns the new pop receipt.
    fn release(
        &self,
        queue: &str,
        id: &str,
        pop_receipt: &str,
        delay: Duration,
    ) -> Result<String, StorageError>;

    /// As [`QueueStore::release`], but the attempt does not count toward the poison queue.
    fn release_unattempted(
        &self,
        queue: &str,
        id: &str,
        pop_receipt: &str,
        delay: Duration,
    ) -> Result<String, StorageError>;

    /// Keeps a held message hidden for another `visibility_timeout` (same pop receipt).
    fn renew(
        &self,
        queue: &str,
        id: &str,
        pop_receipt: &str,
        visibility_timeout: Duration,
    ) -> Result<(), StorageError>;

    /// Moves a held message to `<queue>-poison`; returns the poison queue's name.
    fn move_to_poison(&self, queue: &str, id: &str, pop_receipt: &str) -> Result<String, StorageError>;

    /// What a host does with messages held by a previous run when it starts. A store only
    /// one host uses gives them back at once; a shared store leaves them to their visibility
    /// timeouts, since another live host may hold them. Returns how many were given back.
    fn recover_at_start(&self) -> Result<usize, StorageError>;

    /// Up to `max` visible messages, without taking them.
    fn peek(&self, queue: &str, max: usize) -> Result<Vec<PeekedMessage>, StorageError>;

    /// Every queue ever written to, with its live message counts.
    fn list_queues(&self) -> Result<Vec<QueueSummary>, StorageError>;

    /// Live messages on a queue, visible or not.
    fn message_count(&self, queue: &str) -> Result<u64, StorageError>;

    /// The stored schedule status of a timer function.
    fn schedule_status(&self, function: &str) -> Result<Option<ScheduleStatus>, StorageError>;

    /// Stores a timer function's schedule status.
    fn set_schedule_status(&self, function: &str, status: &ScheduleStatus) -> Result<(), StorageError>;

    /// Claims one occurrence of a timer (`due` is its scheduled time) for `owner`: true for
    /// exactly one caller per occurrence while the claim has not expired (`lease` after the
    /// claim); a claim whose holder died before finishing may be taken again after it
    /// expires. Azure runs each occurrence once across instances with a blob lease; this is
    /// the same promise.
    fn claim_timer_occurrence(
        &self,
        function: &str,
        due: DateTime<Utc>,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StorageError>;

    /// Marks a claimed occurrence done, so it is never run again even after its lease ends.
    fn finish_timer_occurrence(
        &self,
        function: &str,
        due: DateTime<Utc>,
        owner: &str,
    ) -> Result<(), StorageError>;

    /// The same store's tables (Azure Tables entities), when it keeps them; their writes can
    /// then share a transaction with a trigger message's completion.
    fn as_table_store(&self) -> Option<&dyn TableStore> {
        None
    }
    /// Records that blob-trigger `function` has found version `etag` of `blob_path` and, when
    /// it had not found that version before, adds `work` (the message that runs the function
    /// for it) in the same transaction. True for exactly one caller per version, however many
    /// hosts scan at once: the receipt of Azure's blob trigger, kept as the latest version per
    /// blob and function.
    fn enqueue_blob_version(
        &self,
        function: &str,
        blob_path: &str,
        etag: &str,
        work: &MessageBody,
    ) -> Result<bool, StorageError>;

    /// The Service Bus queues and topics of this store, when it keeps them.
    fn topics(&self) -> Option<&dyn TopicStore> {
        None
    }
}

impl QueueStore for Store {
    fn describe(&self) -> String {
        self.path().display().to_string()
    }

    fn topics(&self) -> Option<&dyn TopicStore> {
        Some(self)
    }

    fn put(&self, queue: &str, body: &[u8], ttl: Option<Duration>) -> Result<PeekedMessage, StorageError> {
        Store::put(self, queue, body, ttl)
    }

    fn put_many(&self, messages: &[MessageBody]) -> Result<(), StorageError> {
        Store::put_many(self, messages)
    }

    fn complete_and_put(
        &self,
        held: Option<(&str, &str, &str)>,
        outputs: &[MessageBody],
    ) -> Result<(), StorageError> {
        Store::complete_and_put(self, held, outputs)
    }

    fn get_messages(
        &self,
        queue: &str,
        max: usize,
        visibility_timeout: Duration,
    ) -> Result<Vec<LeasedMessage>, StorageError> {
        Store::get_messages(self, queue, max, visibility_timeout)
    }

    fn release(
        &self,
        queue: &str,
        id: &str,
        pop_receipt: &str,
        delay: Duration,
    ) -> Result<String, StorageError> {
        Store::release(self, queue, id, pop_receipt, delay)
    }

    fn release_unattempted(
        &self,
        queue: &str,
        id: &str,
        pop_receipt: &str,
        delay: Duration,
    ) -> Result<String, StorageError> {
        Store::release_unattempted(self, queue, id, pop_receipt, delay)
    }

    fn renew(
        &self,
        queue: &str,
        id: &str,
        pop_receipt: &str,
        visibility_timeout: Duration,
    ) -> Result<(), StorageError> {
        Store::renew(self, queue, id, pop_receipt, visibility_timeout)
    }

    fn move_to_poison(&self, queue: &str, id: &str, pop_receipt: &str) -> Result<String, StorageError> {
        Store::move_to_poison(self, queue, id, pop_receipt)
    }

    fn recover_at_start(&self) -> Result<usize, StorageError> {
        // One host per embedded store (the host lock): whatever is held was held by a host
        // that is gone.
        Store::release_all_leases(self)
    }

    fn peek(&self, queue: &str, max: usize) -> Result<Vec<PeekedMessage>, StorageError> {
        Store::peek(self, queue, max)
    }

    fn list_queues(&self) -> Result<Vec<QueueSummary>, StorageError> {
        Store::list_queues(self)
    }

    fn message_count(&self, queue: &str) -> Result<u64, StorageError> {
        Store::message_count(self, queue)
    }

    fn schedule_status(&self, function: &str) -> Result<Option<ScheduleStatus>, StorageError> {
        Store::schedule_status(self, function)
    }

    fn set_schedule_status(&self, function: &str, status: &ScheduleStatus) -> Result<(), StorageError> {
        Store::set_schedule_status(self, function, status)
    }

    fn claim_timer_occurrence(
        &self,
        function: &str,
        due: DateTime<Utc>,
        owner: &str,
        lease: Duration,
    ) -> Result<bool, StorageError> {
        Store::claim_timer_occurrence(self, function, due, owner, lease)
    }

    fn finish_timer_occurrence(
        &self,
        function: &str,
        due: DateTime<Utc>,
        owner: &str,
    ) -> Result<(), StorageError> {
        Store::finish_timer_occurrence(self, function, due, owner)
    }

    fn as_table_store(&self) -> Option<&dyn TableStore> {
        Some(self)
    }

    fn enqueue_blob_version(
        &self,
        function: &str,
        blob_path: &str,
        etag: &str,
        work: &MessageBody,
    ) -> Result<bool, StorageError> {
        Store::enqueue_blob_version(self, function, blob_path, etag, work)
    }
}

/// Blobs behind one interface: files under a folder for one machine, rows of the shared
/// database for many hosts. Paths are `container/name…` (see [`crate::normalize_blob_path`]).
pub trait BlobBackend: Send + Sync + std::fmt::Debug + 'static {
    /// Where the blobs live, for logs and errors.
    fn describe(&self) -> String;
    /// Reads a blob; `Ok(None)` when it does not exist.
    fn read(&self, blob_path: &str) -> Result<Option<Vec<u8>>, std::io::Error>;
    /// Writes a blob whole: readers see the old or the new content, never a part.
    fn write(&self, blob_path: &str, bytes: &[u8]) -> Result<(), std::io::Error>;
    /// The blob paths under `prefix` (a container, or a container and a folder), sorted.
    fn list(&self, prefix: &str) -> Result<Vec<String>, std::io::Error>;
    /// Reads a blob with the properties of the version read; `Ok(None)` when it does not exist.
    fn read_with_properties(
        &self,
        blob_path: &str,
    ) -> Result<Option<(Vec<u8>, BlobProperties)>, std::io::Error>;
    /// The blobs under `prefix` with their properties, sorted by path.
    fn list_properties(&self, prefix: &str) -> Result<Vec<BlobProperties>, std::io::Error>;
    /// Deletes a blob; false when there was none.
    fn delete(&self, blob_path: &str) -> Result<bool, std::io::Error>;
    /// The blob's address as the blob trigger's `Uri` gives it.
    fn uri(&self, blob_path: &str) -> String;
}

impl BlobBackend for BlobStore {
    fn describe(&self) -> String {
        self.root().display().to_string()
    }

    fn read(&self, blob_path: &str) -> Result<Option<Vec<u8>>, std::io::Error> {
        BlobStore::read(self, blob_path)
    }

    fn write(&self, blob_path: &str, bytes: &[u8]) -> Result<(), std::io::Error> {
        BlobStore::write(self, blob_path, bytes).map(|_| ())
    }

    fn list(&self, prefix: &str) -> Result<Vec<String>, std::io::Error> {
        let mut paths = BlobStore::list(self, prefix)?;
        paths.sort();
        Ok(paths)
    }

    fn read_with_properties(
        &self,
        blob_path: &str,
    ) -> Result<Option<(Vec<u8>, BlobProperties)>, std::io::Error> {
        BlobStore::read_with_properties(self, blob_path)
    }

    fn list_properties(&self, prefix: &str) -> Result<Vec<BlobProperties>, std::io::Error> {
        BlobStore::list_properties(self, prefix)
    }

    fn delete(&self, blob_path: &str) -> Result<bool, std::io::Error> {
        BlobStore::delete(self, blob_path)
    }

    /// The file's `file://` URL: the blob is that file.
    fn uri(&self, blob_path: &str) -> String {
        let root = std::path::absolute(self.root()).unwrap_or_else(|_| self.root().to_path_buf());
        let path = normalize_blob_path(blob_path).unwrap_or_else(|_| blob_path.to_string());
        let root = root.to_string_lossy().replace('\\', "/");
        format!("file://{}/{path}", root.trim_end_matches('/'))
    }
}

/// Azure Tables entities behind one interface (`table.rs` for SQLite; the PostgreSQL store has
/// its own). Table names are case-insensitive, as in Azure; a write creates its table. Every
/// call blocks, like the queue calls.
pub trait TableStore: Send + Sync + std::fmt::Debug + 'static {
    /// Inserts or replaces entities (whole, as Azure's `InsertOrReplace`, whatever their ETag),
    /// all in one transaction; each gets a new `Timestamp` and `ETag`.
    fn upsert_entities(&self, table: &str, entities: &[Entity]) -> Result<(), StorageError> {
        self.complete_with_entities(
            None,
            &[],
            &[TableWrite {
                table: table.to_string(),
                entities: entities.to_vec(),
                mode: TableWriteMode::Upsert,
            }],
        )
    }

    /// Deletes a held trigger message (when `held` is `(queue, id, pop_receipt)`), adds queue
    /// `outputs` and writes `tables`, in one transaction: all or none.
    fn complete_with_entities(
        &self,
        held: Option<(&str, &str, &str)>,
        outputs: &[MessageBody],
        tables: &[TableWrite],
    ) -> Result<(), StorageError>;

    /// One entity, or `None`.
    fn get_entity(
        &self,
        table: &str,
        partition_key: &str,
        row_key: &str,
    ) -> Result<Option<Entity>, StorageError>;

    /// The entities passing the query's filter, in `PartitionKey`, `RowKey` order, at most
    /// `take`. A table that does not exist has none.
    fn query_entities(&self, table: &str, query: &TableQuery) -> Result<Vec<Entity>, StorageError>;

    /// Deletes one entity; whether it existed.
    fn delete_entity(&self, table: &str, partition_key: &str, row_key: &str) -> Result<bool, StorageError>;

    /// Deletes a table and its entities; whether it existed.
    fn delete_table(&self, table: &str) -> Result<bool, StorageError>;

    /// Every table, by name, with its entity count.
    fn list_tables(&self) -> Result<Vec<TableSummary>, StorageError>;
}

/// Entities to write to one table.
#[derive(Debug, Clone, PartialEq)]
pub struct TableWrite {
    pub table: String,
    pub entities: Vec<Entity>,
    pub mode: TableWriteMode,
}

/// What a [`TableWrite`] does with entities that exist already.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TableWriteMode {
    /// Every entity is inserted or replaced, whatever its ETag (`fnwire table put`).
    Upsert,
    /// As Azure's `table` output binding: each entity's ETag decides
    /// ([`fnwire_tables::Entity::output_write`]). An entity that exists when it is to be
    /// inserted ([`StorageError::EntityExists`](crate::StorageError::EntityExists)), or that is
    /// gone or changed when it is to be replaced
    /// ([`StorageError::EtagMismatch`](crate::StorageError::EtagMismatch)), fails the whole
    /// transaction.
    OutputBinding,
}

/// A table and how many entities it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableSummary {
    pub name: String,
    pub entities: u64,
}

/// Service Bus queues and topics behind one interface (see `topic.rs` for the semantics every
/// implementation keeps: copies per matching subscription in one transaction, peek-lock with
/// lock tokens, delivery counts, dead-letter queues, time to live, scheduled messages,
/// duplicate detection).
pub trait TopicStore: Send + Sync + std::fmt::Debug {
    /// Creates or updates a queue or topic and the subscriptions it declares.
    fn declare_entity(&self, decl: &EntityDecl) -> Result<(), StorageError>;
    /// Adds or replaces a subscription of an existing topic (its rules checked first).
    fn create_subscription(&self, topic: &str, subscription: &SubscriptionDecl) -> Result<(), StorageError>;
    fn delete_subscription(&self, topic: &str, name: &str) -> Result<bool, StorageError>;
    fn delete_entity(&self, name: &str) -> Result<bool, StorageError>;
    fn list_entities(&self) -> Result<Vec<EntitySummary>, StorageError>;
    /// Sends messages in one transaction.
    fn send(&self, messages: &[Outgoing]) -> Result<Vec<SendOutcome>, StorageError>;
    /// Locks up to `max` ready copies of a subscription (a queue's is `$queue`).
    fn receive(&self, entity: &str, subscription: &str, max: usize) -> Result<Vec<LockedCopy>, StorageError>;
    /// Completes a held copy with the invocation's queue outputs and sends, in one transaction.
    fn complete_and_send(
        &self,
        held: Option<&MessageLock>,
        queue_outputs: &[MessageBody],
        sends: &[Outgoing],
    ) -> Result<Vec<SendOutcome>, StorageError>;
    /// Deletes a held storage-queue message (`queue`, `id`, `pop_receipt`) with the
    /// invocation's queue outputs and sends, in one transaction: a stale pop receipt or a failed
    /// send leaves the message held and nothing added or sent.
    fn complete_queue_message_and_send(
        &self,
        held: (&str, &str, &str),
        queue_outputs: &[MessageBody],
        sends: &[Outgoing],
    ) -> Result<Vec<SendOutcome>, StorageError>;
    fn abandon(&self, lock: &MessageLock, delay: Duration, counted: bool) -> Result<(), StorageError>;
    fn renew_lock(&self, lock: &MessageLock) -> Result<DateTime<Utc>, StorageError>;
    fn dead_letter(&self, lock: &MessageLock, reason: &str, description: &str) -> Result<(), StorageError>;
    fn peek_subscription(
        &self,
        entity: &str,
        subscription: &str,
        max: usize,
        dead_letters: bool,
    ) -> Result<Vec<PeekedCopy>, StorageError>;
    /// What a host does at start with copies a previous run held (as `QueueStore::recover_at_start`).
    fn recover_locks_at_start(&self) -> Result<usize, StorageError>;
}

impl TopicStore for Store {
    fn declare_entity(&self, decl: &EntityDecl) -> Result<(), StorageError> {
        Store::declare_entity(self, decl)
    }
    fn create_subscription(&self, topic: &str, subscription: &SubscriptionDecl) -> Result<(), StorageError> {
        Store::create_subscription(self, topic, subscription)
    }
    fn delete_subscription(&self, topic: &str, name: &str) -> Result<bool, StorageError> {
        Store::delete_subscription(self, topic, name)
    }
    fn delete_entity(&self, name: &str) -> Result<bool, StorageError> {
        Store::delete_entity(self, name)
    }
    fn list_entities(&self) -> Result<Vec<EntitySummary>, StorageError> {
        Store::list_entities(self)
    }
    fn send(&self, messages: &[Outgoing]) -> Result<Vec<SendOutcome>, StorageError> {
        Store::send(self, messages)
    }
    fn receive(&self, entity: &str, subscription: &str, max: usize) -> Result<Vec<LockedCopy>, StorageError> {
        Store::receive(self, entity, subscription, max)
    }
    fn complete_and_send(
        &self,
        held: Option<&MessageLock>,
        queue_outputs: &[MessageBody],
        sends: &[Outgoing],
    ) -> Result<Vec<SendOutcome>, StorageError> {
        Store::complete_and_send(self, held, queue_outputs, sends)
    }
    fn complete_queue_message_and_send(
        &self,
        held: (&str, &str, &str),
        queue_outputs: &[MessageBody],
        sends: &[Outgoing],
    ) -> Result<Vec<SendOutcome>, StorageError> {
        Store::complete_queue_message_and_send(self, held, queue_outputs, sends)
    }
    fn abandon(&self, lock: &MessageLock, delay: Duration, counted: bool) -> Result<(), StorageError> {
        Store::abandon(self, lock, delay, counted)
    }
    fn renew_lock(&self, lock: &MessageLock) -> Result<DateTime<Utc>, StorageError> {
        Store::renew_lock(self, lock)
    }
    fn dead_letter(&self, lock: &MessageLock, reason: &str, description: &str) -> Result<(), StorageError> {
        Store::dead_letter(self, lock, reason, description)
    }
    fn peek_subscription(
        &self,
        entity: &str,
        subscription: &str,
        max: usize,
        dead_letters: bool,
    ) -> Result<Vec<PeekedCopy>, StorageError> {
        Store::peek_subscription(self, entity, subscription, max, dead_letters)
    }
    fn recover_locks_at_start(&self) -> Result<usize, StorageError> {
        // One host per embedded store: whatever is locked was locked by a host that is gone.
        Store::release_all_locks(self)
    }
}

//! The task hub: where instances, their history, their pending events and the activity work
//! items live. [`TaskHub`] is the one interface the engine uses; `sqlite::SqliteTaskHub` is the
//! embedded implementation, `postgres::PgTaskHub` the one many hosts share.
//!
//! The rules every implementation keeps:
//! * an instance is worked on by one dispatcher at a time: [`TaskHub::lock_next_instance`]
//!   takes a lease on it, which expires, so a killed host's instance is picked up again;
//! * [`TaskHub::complete_instance`] commits one step whole (history appended, consumed events
//!   deleted, activities, timers, messages to other instances, new instances, status) or
//!   nothing, and only while the lease is still held;
//! * activities are competing work items with leases; a result is accepted only from the
//!   holder of the lease, and a lost lease means the activity runs again (at least once).
//!
//! All calls block; the host makes them on the blocking pool.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::model::{EventType, HistoryEvent, RuntimeStatus};

/// A task hub call failed.
#[derive(Debug, thiserror::Error)]
pub enum TaskHubError {
    #[error(
        "an orchestration instance with the id '{instance_id}' already exists and is {status}; use another id, or wait until it has finished"
    )]
    InstanceExists { instance_id: String, status: &'static str },
    #[error("no orchestration instance has the id '{0}'")]
    NoInstance(String),
    #[error("the lease on {what} expired before its work was committed; another dispatcher will do it again")]
    LeaseLost { what: String },
    #[error("instance '{instance_id}' is {status}; only a Failed instance can be rewound")]
    NotFailed { instance_id: String, status: &'static str },
    #[error("the task hub store failed: {0}")]
    Store(String),
}

/// An instance to create (a client's start, a sub-orchestration, or an entity's first message).
#[derive(Clone, Debug, PartialEq)]
pub struct NewInstance {
    pub instance_id: String,
    pub name: String,
    /// JSON text.
    pub input: Option<String>,
    pub parent: Option<ParentRef>,
    /// When it starts (a scheduled start); now if `None`.
    pub start_at: Option<DateTime<Utc>>,
}

impl NewInstance {
    /// The `ExecutionStarted` event that begins the instance's first execution, as both hubs
    /// write it: the orchestration's name and input, and the parent of a sub-orchestration.
    pub(crate) fn start_message(&self, execution_id: String, now: DateTime<Utc>) -> Message {
        let mut started = HistoryEvent::new(EventType::ExecutionStarted, now);
        started.name = Some(self.name.clone());
        started.version = Some(String::new());
        started.input = self.input.clone();
        if let Some(parent) = &self.parent {
            started.instance_id = Some(parent.instance_id.clone());
        }
        Message {
            instance_id: self.instance_id.clone(),
            execution_id: Some(execution_id),
            event: started,
            visible_at: self.start_at,
        }
    }
}

/// Milliseconds since the epoch, as both hubs store times.
pub(crate) fn ms(time: DateTime<Utc>) -> i64 {
    time.timestamp_millis()
}

pub(crate) fn from_ms(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// A lease as milliseconds, saturating far below overflow so `now + lease` stays valid.
pub(crate) fn lease_ms(lease: Duration) -> i64 {
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX / 2)
}

/// Where a sub-orchestration reports its end.
#[derive(Clone, Debug, PartialEq)]
pub struct ParentRef {
    pub instance_id: String,
    pub execution_id: String,
    pub task_id: i64,
}

/// An event for an instance, visible from `visible_at` (timers) or at once.
#[derive(Clone, Debug, PartialEq)]
pub struct Message {
    pub instance_id: String,
    /// The execution the event belongs to; `None` for events any execution takes (raised
    /// events, terminate, entity operations).
    pub execution_id: Option<String>,
    pub event: HistoryEvent,
    pub visible_at: Option<DateTime<Utc>>,
}

/// An activity to run for an instance.
#[derive(Clone, Debug, PartialEq)]
pub struct NewActivity {
    pub task_id: i64,
    pub name: String,
    pub input: Option<String>,
}

/// A locked instance: its record, its history, and the events that arrived for it.
#[derive(Clone, Debug)]
pub struct InstanceWorkItem {
    pub instance: InstanceRecord,
    pub history: Vec<HistoryEvent>,
    /// New events in arrival order, with the store's ids (to delete them on completion).
    pub events: Vec<(i64, Option<String>, HistoryEvent)>,
    pub lock_token: String,
}

/// One step's writes, committed at once by [`TaskHub::complete_instance`].
#[derive(Clone, Debug, Default)]
pub struct InstanceStep {
    /// Store ids of the events this step consumed.
    pub consumed: Vec<i64>,
    /// Continue-as-new: the history starts over (with `history`) under `new_execution_id`.
    pub new_execution_id: Option<String>,
    pub history: Vec<HistoryEvent>,
    pub status: Option<RuntimeStatus>,
    /// JSON text; `Some` replaces what is stored.
    pub input: Option<String>,
    pub output: Option<String>,
    pub custom_status: Option<String>,
    pub activities: Vec<NewActivity>,
    pub messages: Vec<Message>,
    pub new_instances: Vec<NewInstance>,
    /// Entities: the state after the batch (`Some(None)`: the entity was deleted).
    pub entity_state: Option<Option<String>>,
}

/// What the task hub knows of an instance.
#[derive(Clone, Debug, PartialEq)]
pub struct InstanceRecord {
    pub instance_id: String,
    pub name: String,
    pub execution_id: String,
    pub status: RuntimeStatus,
    pub input: Option<String>,
    pub output: Option<String>,
    pub custom_status: Option<String>,
    pub parent: Option<ParentRef>,
    pub created: DateTime<Utc>,
    pub last_updated: DateTime<Utc>,
    pub entity_state: Option<String>,
}

/// A leased activity work item.
#[derive(Clone, Debug, PartialEq)]
pub struct ActivityWorkItem {
    pub id: i64,
    pub instance_id: String,
    pub execution_id: String,
    pub task_id: i64,
    pub name: String,
    pub input: Option<String>,
    pub lock_token: String,
}

impl ActivityWorkItem {
    /// The message that brings the activity's result back to its orchestration.
    pub(crate) fn result_message(&self, result: HistoryEvent) -> Message {
        Message {
            instance_id: self.instance_id.clone(),
            execution_id: Some(self.execution_id.clone()),
            event: result,
            visible_at: None,
        }
    }

    /// The error when another worker took this item over (its lease ran out).
    pub(crate) fn lease_lost(&self) -> TaskHubError {
        TaskHubError::LeaseLost { what: format!("activity '{}' (task {})", self.name, self.task_id) }
    }
}

/// The error when another worker took over the instance `instance_id` (its lease ran out).
pub(crate) fn instance_lease_lost(instance_id: &str) -> TaskHubError {
    TaskHubError::LeaseLost { what: format!("instance '{instance_id}'") }
}

/// Filters of the HTTP API's instance list.
#[derive(Clone, Debug, Default)]
pub struct InstanceQuery {
    pub statuses: Vec<RuntimeStatus>,
    pub created_from: Option<DateTime<Utc>>,
    pub created_to: Option<DateTime<Utc>>,
    pub instance_id_prefix: Option<String>,
    pub page_size: usize,
    /// Opaque, from the previous page.
    pub continuation: Option<String>,
    /// Entities are instances too; lists show orchestrations only unless asked.
    pub include_entities: bool,
}

#[derive(Clone, Debug, Default)]
pub struct InstancePage {
    pub instances: Vec<InstanceRecord>,
    pub continuation: Option<String>,
}

/// The task hub interface (see the module comment for its rules).
pub trait TaskHub: Send + Sync + std::fmt::Debug + 'static {
    /// Creates an instance and its `ExecutionStarted` event. An existing instance that has not
    /// finished is [`TaskHubError::InstanceExists`]; a finished one is replaced.
    fn create_instance(&self, instance: &NewInstance) -> Result<(), TaskHubError>;

    /// Adds an event for an existing instance; an entity instance is created by its first
    /// message.
    fn send(&self, message: &Message) -> Result<(), TaskHubError>;

    /// Leases the instance with the oldest visible event (a suspended instance only for a
    /// resume or a terminate), if any.
    fn lock_next_instance(
        &self,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<InstanceWorkItem>, TaskHubError>;

    /// Commits one step (see [`InstanceStep`]) and releases the lease.
    fn complete_instance(&self, item: &InstanceWorkItem, step: &InstanceStep) -> Result<(), TaskHubError>;

    /// Releases the lease without committing; the events stay for the next try, visible again
    /// after `delay`.
    fn abandon_instance(&self, item: &InstanceWorkItem, delay: Duration) -> Result<(), TaskHubError>;

    /// Leases the oldest activity work item, if any.
    fn lock_next_activity(
        &self,
        owner: &str,
        lease: Duration,
    ) -> Result<Option<ActivityWorkItem>, TaskHubError>;

    /// Deletes the work item and delivers its result (`TaskCompleted`/`TaskFailed`) to its
    /// instance, in one transaction, if the lease is still held.
    fn complete_activity(&self, item: &ActivityWorkItem, result: HistoryEvent) -> Result<(), TaskHubError>;

    /// Makes the activity visible again (its worker is gone).
    fn abandon_activity(&self, item: &ActivityWorkItem) -> Result<(), TaskHubError>;

    /// Extends the leases a dispatcher holds while work runs long.
    fn renew_instance_lease(&self, item: &InstanceWorkItem, lease: Duration) -> Result<(), TaskHubError>;
    fn renew_activity_lease(&self, item: &ActivityWorkItem, lease: Duration) -> Result<(), TaskHubError>;

    fn get_instance(&self, instance_id: &str) -> Result<Option<InstanceRecord>, TaskHubError>;
    fn get_history(&self, instance_id: &str) -> Result<Vec<HistoryEvent>, TaskHubError>;
    fn query_instances(&self, query: &InstanceQuery) -> Result<InstancePage, TaskHubError>;

    /// Deletes an instance with its history, events and work items; returns how many
    /// instances were deleted (0 or 1).
    fn purge_instance(&self, instance_id: &str) -> Result<usize, TaskHubError>;
    /// Deletes finished instances that match the query's filters.
    fn purge_instances(&self, query: &InstanceQuery) -> Result<usize, TaskHubError>;

    /// Rewinds a Failed instance: its failed activity results are set aside (kept in the
    /// history as `GenericEvent`s), those activities are scheduled again, the failure is
    /// removed, and the instance runs again. Returns how many activities run again.
    fn rewind(&self, instance_id: &str, reason: &str) -> Result<usize, TaskHubError>;

    /// When the next event or activity becomes visible (for the dispatcher's sleep).
    fn next_wake(&self) -> Result<Option<DateTime<Utc>>, TaskHubError>;

    /// Calls `wake` when other processes add work (a hub shared by many hosts), until it
    /// returns false. A hub only this process writes has nothing to watch: the engine wakes
    /// its own dispatchers.
    fn watch(&self, wake: Box<dyn Fn(WorkKind) -> bool + Send>) -> Result<(), TaskHubError> {
        drop(wake);
        Ok(())
    }
}

/// Which dispatchers new work is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WorkKind {
    /// Events for instances (orchestrations and entities).
    Events,
    Activities,
}

//! The orchestrator's API: [`OrchestrationContext`] and the durable tasks it creates.

use std::fmt;
use std::future::Future;
use std::marker::PhantomData;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context as TaskContext, Poll};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use super::engine::{NodeId, NodeKind, Outcome, Shared};
use super::history::format_time;

/// The handle an orchestrator function receives: everything it may do, deterministically.
///
/// An orchestrator is replayed from its history each time something it waits for happens, so
/// it must only await the tasks made here (never a tokio timer, a channel or I/O: the
/// orchestration fails with a message saying so), and read time and random ids only through
/// [`current_utc_datetime`](Self::current_utc_datetime) and [`new_guid`](Self::new_guid).
/// The context is not `Send`: an orchestrator runs inside one replay on one thread.
#[derive(Clone)]
pub struct OrchestrationContext {
    engine: Shared,
}

impl fmt::Debug for OrchestrationContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let engine = self.engine.borrow();
        f.debug_struct("OrchestrationContext")
            .field("instance_id", &engine.instance_id)
            .field("is_replaying", &engine.is_replaying)
            .finish_non_exhaustive()
    }
}

/// Why a durable task did not give a value: the activity, sub-orchestration or entity operation
/// failed (the message is `"<reason> \n <details>"`, as the durable libraries write it), or its
/// result did not have the type the orchestrator asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskError {
    message: String,
}

impl TaskError {
    /// The failure message.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TaskError {}

/// How the extension retries an activity or sub-orchestration (`retryOptions` on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryOptions {
    /// Delay before the first retry, in milliseconds (more than 0).
    pub first_retry_interval_ms: u64,
    /// Attempts in all, the first one included.
    pub max_number_of_attempts: u32,
}

impl RetryOptions {
    /// Retries after `first_retry_interval_ms`, up to `max_number_of_attempts` attempts in all.
    pub fn new(first_retry_interval_ms: u64, max_number_of_attempts: u32) -> Self {
        RetryOptions { first_retry_interval_ms, max_number_of_attempts }
    }

    fn to_json(self) -> Value {
        json!({
            "firstRetryIntervalInMilliseconds": self.first_retry_interval_ms,
            "maxNumberOfAttempts": self.max_number_of_attempts,
        })
    }
}

/// A durable entity: its name (the entity function's name) and key (which instance).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EntityId {
    /// The entity function's name.
    pub name: String,
    /// Which instance of the entity.
    pub key: String,
}

impl EntityId {
    /// The entity `name` with key `key`.
    pub fn new(name: impl Into<String>, key: impl Into<String>) -> Self {
        EntityId { name: name.into(), key: key.into() }
    }

    /// The instance id the extension schedules the entity under: `@<name lower-cased>@<key>`.
    pub fn scheduler_id(&self) -> String {
        format!("@{}@{}", self.name.to_lowercase(), self.key)
    }
}

impl fmt::Display for EntityId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.scheduler_id())
    }
}

/// A durable task: an activity call, a sub-orchestration, a timer, an external event, an entity
/// call, or a combination of these. Await it for its result; clone it to keep a handle (for
/// [`OrchestrationContext::task_any`], or to cancel a timer that lost a race).
///
/// A task is scheduled when it is first awaited (or when a `task_all`/`task_any` holding it is),
/// so tasks that are never awaited never run, and task ids follow the order of first awaits.
pub struct DurableTask<T> {
    engine: Shared,
    node: NodeId,
    _output: PhantomData<fn() -> T>,
}

impl<T> Clone for DurableTask<T> {
    fn clone(&self) -> Self {
        DurableTask { engine: Rc::clone(&self.engine), node: self.node, _output: PhantomData }
    }
}

impl<T> fmt::Debug for DurableTask<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let engine = self.engine.borrow();
        f.debug_struct("DurableTask").field("outcome", &engine.nodes[self.node].outcome).finish()
    }
}

/// A task of any output type, for [`OrchestrationContext::task_any`].
#[derive(Clone)]
pub struct TaskHandle {
    node: NodeId,
}

impl fmt::Debug for TaskHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle").field("node", &self.node).finish()
    }
}

impl<T> From<&DurableTask<T>> for TaskHandle {
    fn from(task: &DurableTask<T>) -> Self {
        TaskHandle { node: task.node }
    }
}

impl<T> From<DurableTask<T>> for TaskHandle {
    fn from(task: DurableTask<T>) -> Self {
        TaskHandle { node: task.node }
    }
}

impl<T> DurableTask<T> {
    fn new(engine: &Shared, node: NodeId) -> Self {
        DurableTask { engine: Rc::clone(engine), node, _output: PhantomData }
    }

    /// Whether the task has a result (or failed) by now in the replay.
    pub fn is_completed(&self) -> bool {
        self.engine.borrow().nodes[self.node].outcome != Outcome::Running
    }

    /// An untyped handle to the same task.
    pub fn handle(&self) -> TaskHandle {
        TaskHandle::from(self)
    }
}

impl DurableTask<()> {
    /// Cancels a timer that has not fired (e.g. the timeout that lost a `task_any`), so the
    /// orchestration can finish without waiting for it. Returns `false` if it already fired or
    /// is not a timer (an external event with no payload is a `DurableTask<()>` too).
    pub fn cancel(&self) -> bool {
        self.engine.borrow_mut().cancel_timer(self.node)
    }
}

impl<T: DeserializeOwned> Future for DurableTask<T> {
    type Output = Result<T, TaskError>;

    fn poll(self: Pin<&mut Self>, _cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let mut engine = self.engine.borrow_mut();
        engine.yield_task(self.node);
        match &engine.nodes[self.node].outcome {
            Outcome::Running => {
                engine.waiting_on_durable_task = true;
                Poll::Pending
            }
            Outcome::Succeeded(value) => {
                Poll::Ready(serde_json::from_value(value.clone()).map_err(|e| TaskError {
                    message: format!(
                        "the task's result `{value}` is not a `{}`: {e}",
                        std::any::type_name::<T>()
                    ),
                }))
            }
            Outcome::Failed(message) => Poll::Ready(Err(TaskError { message: message.clone() })),
        }
    }
}

impl OrchestrationContext {
    pub(crate) fn new(engine: Shared) -> Self {
        OrchestrationContext { engine }
    }

    /// This orchestration's instance id.
    pub fn instance_id(&self) -> String {
        self.engine.borrow().instance_id.clone()
    }

    /// The instance id of the orchestration that started this one as a sub-orchestration.
    pub fn parent_instance_id(&self) -> Option<String> {
        self.engine.borrow().parent_instance_id.clone()
    }

    /// Whether the code now running is being replayed (it ran before, in an earlier episode):
    /// use it to avoid logging the same thing twice.
    pub fn is_replaying(&self) -> bool {
        self.engine.borrow().is_replaying
    }

    /// The orchestration's input, deserialized.
    pub fn input<T: DeserializeOwned>(&self) -> Result<T, TaskError> {
        let engine = self.engine.borrow();
        // The extension sends the input as JSON text.
        let value = match &engine.input {
            Value::String(text) => super::engine::parse_payload(text),
            other => other.clone(),
        };
        serde_json::from_value(value.clone()).map_err(|e| TaskError {
            message: format!(
                "the input of orchestration `{}` (`{value}`) is not a `{}`: {e}",
                engine.instance_id,
                std::any::type_name::<T>()
            ),
        })
    }

    /// The orchestration's clock: the time of the episode being replayed (the latest
    /// `OrchestratorStarted` event so far), the same on every replay.
    pub fn current_utc_datetime(&self) -> DateTime<Utc> {
        self.engine.borrow().now
    }

    /// A new UUID, the same on every replay: a name-based (v5) UUID over the instance id, the
    /// orchestration's clock and a counter, computed as the official durable libraries do.
    pub fn new_guid(&self) -> uuid::Uuid {
        let mut engine = self.engine.borrow_mut();
        let name = format!("{}_{}_{}", engine.instance_id, format_time(&engine.now), engine.guid_counter);
        engine.guid_counter += 1;
        let namespace = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, GUID_NAMESPACE_NAME.as_bytes());
        uuid::Uuid::new_v5(&namespace, name.as_bytes())
    }

    /// Sets the custom status that status queries show (any JSON value).
    pub fn set_custom_status(&self, status: impl Serialize) {
        self.engine.borrow_mut().custom_status = serde_json::to_value(status).unwrap_or(Value::Null);
    }

    /// Calls activity `name` with `input`; await it for the activity's result.
    pub fn call_activity<T: DeserializeOwned>(&self, name: &str, input: impl Serialize) -> DurableTask<T> {
        self.action_task(input, |input| json!({"actionType": 0, "functionName": name, "input": input}), false)
    }

    /// Calls activity `name` with `input`, retried by the extension as `retry` says.
    pub fn call_activity_with_retry<T: DeserializeOwned>(
        &self,
        name: &str,
        retry: RetryOptions,
        input: impl Serialize,
    ) -> DurableTask<T> {
        let action = |input| json!({"actionType": 1, "functionName": name, "input": input, "retryOptions": retry.to_json()});
        self.with_retry(self.action_task::<T>(input, action, false), retry)
    }

    /// Starts orchestration `name` as a sub-orchestration (with its own instance id, or one the
    /// extension derives) and waits for its output.
    pub fn call_sub_orchestrator<T: DeserializeOwned>(
        &self,
        name: &str,
        input: impl Serialize,
        instance_id: Option<&str>,
    ) -> DurableTask<T> {
        self.action_task(
            input,
            |input| {
                json!({"actionType": 2, "functionName": name, "input": input, "instanceId": instance_id, "version": null})
            },
            false,
        )
    }

    /// [`call_sub_orchestrator`](Self::call_sub_orchestrator), retried as `retry` says.
    pub fn call_sub_orchestrator_with_retry<T: DeserializeOwned>(
        &self,
        name: &str,
        retry: RetryOptions,
        input: impl Serialize,
        instance_id: Option<&str>,
    ) -> DurableTask<T> {
        let action = |input| {
            json!({"actionType": 3, "functionName": name, "input": input, "retryOptions": retry.to_json(),
                   "instanceId": instance_id, "version": null})
        };
        self.with_retry(self.action_task::<T>(input, action, false), retry)
    }

    /// A durable timer that fires at `fire_at` (it survives restarts). Cancel it with
    /// [`DurableTask::cancel`] if the orchestration no longer waits for it.
    pub fn create_timer(&self, fire_at: DateTime<Utc>) -> DurableTask<()> {
        let node = self.engine.borrow_mut().timer(fire_at);
        DurableTask::new(&self.engine, node)
    }

    /// Waits for the external event `name` (raised through the durable client or the HTTP API);
    /// events raised before this is awaited are kept until it is.
    pub fn wait_for_external_event<T: DeserializeOwned>(&self, name: &str) -> DurableTask<T> {
        let node = self.engine.borrow_mut().event(name);
        DurableTask::new(&self.engine, node)
    }

    /// All of `tasks` at once (a `WhenAll`): their results in order, or the first failure.
    pub fn task_all<T: DeserializeOwned>(
        &self,
        tasks: impl IntoIterator<Item = DurableTask<T>>,
    ) -> DurableTask<Vec<T>> {
        let children: Vec<NodeId> = tasks.into_iter().map(|t| t.node).collect();
        let kind = NodeKind::WhenAll {
            children: children.clone(),
            pending: children.iter().copied().collect(),
            settled: false,
        };
        let node = self.engine.borrow_mut().compound(12, children, kind);
        DurableTask::new(&self.engine, node)
    }

    /// The first of `tasks` to complete (a `WhenAny`): its index in `tasks`. Await that task
    /// afterwards for its result (it is complete, so it returns at once).
    pub fn task_any<I>(&self, tasks: I) -> DurableTask<usize>
    where
        I: IntoIterator,
        I::Item: Into<TaskHandle>,
    {
        let children: Vec<NodeId> = tasks.into_iter().map(|t| t.into().node).collect();
        let kind =
            NodeKind::WhenAny { children: children.clone(), pending: children.iter().copied().collect() };
        let node = self.engine.borrow_mut().compound(11, children, kind);
        DurableTask::new(&self.engine, node)
    }

    /// Calls operation `operation` of entity `entity` and waits for its result.
    pub fn call_entity<T: DeserializeOwned>(
        &self,
        entity: &EntityId,
        operation: &str,
        input: impl Serialize,
    ) -> DurableTask<T> {
        let instance_id = entity.scheduler_id();
        self.action_task(
            input,
            |input| json!({"actionType": 7, "instanceId": instance_id, "operation": operation, "input": input}),
            true,
        )
    }

    /// Signals operation `operation` of entity `entity`: one-way, nothing to await. Fails only
    /// if `input` cannot be serialized as JSON.
    pub fn signal_entity(
        &self,
        entity: &EntityId,
        operation: &str,
        input: impl Serialize,
    ) -> Result<(), TaskError> {
        let input = serialize_input(input).map_err(|e| input_error("the signal", e))?;
        let action = json!({"actionType": 9, "instanceId": entity.scheduler_id(), "operation": operation, "input": input});
        self.engine.borrow_mut().fire_and_forget(action);
        Ok(())
    }

    /// Restarts the orchestration with `input` and a fresh history once this episode ends. Return
    /// right after calling it; nothing scheduled after it runs. Fails only if `input` cannot be
    /// serialized as JSON.
    pub fn continue_as_new(&self, input: impl Serialize) -> Result<(), TaskError> {
        let input = serialize_input(input).map_err(|e| input_error("continue_as_new", e))?;
        let mut engine = self.engine.borrow_mut();
        engine.fire_and_forget(json!({"actionType": 4, "input": input}));
        engine.continued_as_new = true;
        Ok(())
    }

    fn action_task<T>(
        &self,
        input: impl Serialize,
        action: impl FnOnce(Value) -> Value,
        entity_call: bool,
    ) -> DurableTask<T> {
        let mut engine = self.engine.borrow_mut();
        let node = match serialize_input(input) {
            Ok(input) => engine.atomic(action(input), entity_call),
            Err(e) => engine.failed(input_error("the task", e).message),
        };
        DurableTask::new(&self.engine, node)
    }

    fn with_retry<T>(&self, task: DurableTask<T>, retry: RetryOptions) -> DurableTask<T> {
        let children = vec![task.node];
        let kind = NodeKind::Retry {
            children: children.clone(),
            pending: children.iter().copied().collect(),
            max_attempts: i64::from(retry.max_number_of_attempts),
            attempts: 1,
            waiting_on_timer: false,
            error: None,
        };
        // The official library wraps a retried call in a one-task `WhenAll`; so does this.
        let node = self.engine.borrow_mut().compound(12, children, kind);
        DurableTask::new(&self.engine, node)
    }
}

/// The name whose v5 UUID (in the OID namespace) is the namespace of [`OrchestrationContext::new_guid`].
const GUID_NAMESPACE_NAME: &str = "9e952958-5e33-4daf-827f-2fa12937b875";

fn input_error(what: &str, error: serde_json::Error) -> TaskError {
    TaskError { message: format!("the input of {what} could not be serialized as JSON: {error}") }
}

/// Action inputs are JSON text inside the action JSON.
fn serialize_input(input: impl Serialize) -> Result<Value, serde_json::Error> {
    serde_json::to_string(&input).map(Value::String)
}

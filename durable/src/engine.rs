//! The durable engine: dispatchers that take work from the task hub, invoke the app's
//! orchestrator, activity and entity functions, and commit each step.
//!
//! Functions are invoked through a [`FunctionInvoker`] the host provides (its one invocation
//! pipeline); the engine never talks to a worker itself. Task hub calls run on the blocking
//! pool. A [`tokio::sync::Notify`] wakes the dispatchers when this host adds work; otherwise
//! they poll with back-off and sleep until the next timer.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use futures::future::BoxFuture;
use serde_json::Value;
use tokio::sync::Notify;

use crate::model::{
    EntityBatchInput, EntityBatchOutput, EntityId, EntityOperation, EntityRef, EntityRequest, EntityResponse,
    EventType, HistoryEvent, OrchestrationTriggerInput, RuntimeStatus, json_text_to_value,
    parse_orchestrator_state, state_from_failure_message,
};
use crate::replay::{Completion, Decision, replay};
use crate::taskhub::{
    ActivityWorkItem, InstanceStep, InstanceWorkItem, Message, NewActivity, NewInstance, ParentRef, TaskHub,
    TaskHubError, WorkKind,
};

/// A .NET `TimeSpan` (`d.hh:mm:ss`) of 100 years: the longest timer the task hub stores as one.
const NO_TIMER_LIMIT: &str = "36500.00:00:00";

/// The three kinds of durable functions, by trigger binding type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DurableKind {
    Orchestrator,
    Activity,
    Entity,
}

impl DurableKind {
    /// Reads a trigger binding type (case-insensitive, as the host matches binding types).
    pub fn from_trigger_type(binding_type: &str) -> Option<DurableKind> {
        [
            ("orchestrationTrigger", DurableKind::Orchestrator),
            ("activityTrigger", DurableKind::Activity),
            ("entityTrigger", DurableKind::Entity),
        ]
        .into_iter()
        .find(|(name, _)| name.eq_ignore_ascii_case(binding_type))
        .map(|(_, kind)| kind)
    }
}

/// How an invocation of a durable function ended.
#[derive(Clone, Debug, PartialEq)]
pub enum InvokeOutcome {
    /// The function's return value (JSON; a string return is `Value::String`).
    Returned(Option<Value>),
    /// The function failed with this message.
    Failed(String),
    /// No worker took it (starting, restarting): try again later, it did not run.
    NotRun(String),
}

/// A trigger's value as it goes to the worker.
#[derive(Clone, Debug, PartialEq)]
pub enum TriggerValue {
    /// JSON text (`TypedData.json`).
    Json(String),
    /// Plain text (`TypedData.string`): an activity input that is a JSON string arrives as its
    /// content, as the extension hands it over.
    Text(String),
}

/// Runs a durable function through the host's invocation pipeline.
pub trait FunctionInvoker: Send + Sync + 'static {
    fn invoke(
        &self,
        function: &str,
        kind: DurableKind,
        trigger: TriggerValue,
    ) -> BoxFuture<'static, InvokeOutcome>;
}

/// The app's durable functions by kind; names match case-insensitively, as in Azure.
#[derive(Clone, Debug, Default)]
pub struct DurableFunctions {
    by_kind: HashMap<(DurableKind, String), String>,
}

impl DurableFunctions {
    pub fn add(&mut self, kind: DurableKind, name: &str) {
        self.by_kind.insert((kind, name.to_lowercase()), name.to_string());
    }

    /// The function's own spelling, if the app has a function of this kind with this name.
    pub fn find(&self, kind: DurableKind, name: &str) -> Option<&str> {
        self.by_kind.get(&(kind, name.to_lowercase())).map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.by_kind.is_empty()
    }
}

/// Engine settings.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// Lease on an instance (an orchestration or entity step); renewed while the step runs.
    pub lease: Duration,
    /// Lease on an activity work item; renewed while the activity runs. A dead host's
    /// activities run again elsewhere once it ends.
    pub activity_lease: Duration,
    /// Activities run at once per host.
    pub max_concurrent_activities: usize,
    /// Orchestrator and entity steps run at once per host.
    pub max_concurrent_orchestrations: usize,
    /// Longest sleep between polls when idle.
    pub max_poll_interval: Duration,
    pub task_hub_name: String,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            lease: Duration::from_secs(60),
            activity_lease: Duration::from_secs(60),
            max_concurrent_activities: 10,
            max_concurrent_orchestrations: 4,
            max_poll_interval: Duration::from_millis(500),
            task_hub_name: "TestHubName".into(),
        }
    }
}

/// Shared by the dispatchers, the HTTP API and the client binding.
pub struct Engine {
    pub hub: Arc<dyn TaskHub>,
    pub functions: DurableFunctions,
    pub options: EngineOptions,
    invoker: Arc<dyn FunctionInvoker>,
    /// Wakes the instance dispatchers (new events) and the activity dispatchers (new work).
    instance_work: Notify,
    activity_work: Notify,
    owner: String,
    /// When a failure to take work was last logged, and how many were not logged since: every
    /// dispatcher polls, so a store that is down would otherwise log many lines a second.
    take_failures: std::sync::Mutex<(Option<std::time::Instant>, u64)>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("hub", &self.hub)
            .field("functions", &self.functions)
            .finish_non_exhaustive()
    }
}

/// Runs a task hub call on the blocking pool.
pub async fn blocking<T: Send + 'static>(
    hub: &Arc<dyn TaskHub>,
    f: impl FnOnce(&dyn TaskHub) -> Result<T, TaskHubError> + Send + 'static,
) -> Result<T, TaskHubError> {
    let hub = hub.clone();
    tokio::task::spawn_blocking(move || f(hub.as_ref()))
        .await
        .unwrap_or_else(|e| Err(TaskHubError::Store(format!("a task hub call stopped: {e}"))))
}

impl Engine {
    pub fn new(
        hub: Arc<dyn TaskHub>,
        functions: DurableFunctions,
        invoker: Arc<dyn FunctionInvoker>,
        options: EngineOptions,
    ) -> Arc<Engine> {
        Arc::new(Engine {
            hub,
            functions,
            options,
            invoker,
            instance_work: Notify::new(),
            activity_work: Notify::new(),
            owner: format!("host-{}", uuid::Uuid::new_v4().simple()),
            take_failures: std::sync::Mutex::new((None, 0)),
        })
    }

    /// Tells the dispatchers that events were added (by the HTTP API or a client).
    pub fn notify_events(&self) {
        self.instance_work.notify_waiters();
        self.instance_work.notify_one();
    }

    /// Tells the activity dispatchers that work items were added.
    pub fn notify_activities(&self) {
        self.activity_work.notify_waiters();
        self.activity_work.notify_one();
    }

    /// Starts the dispatcher tasks; they stop when the returned handles are aborted.
    pub fn start(self: &Arc<Engine>) -> Vec<tokio::task::JoinHandle<()>> {
        // Work other hosts add to a shared hub wakes this host's dispatchers at once; they poll
        // as well, so a hub that cannot watch only makes the wait longer.
        let engine = Arc::downgrade(self);
        let watched = self.hub.watch(Box::new(move |kind| {
            let Some(engine) = engine.upgrade() else { return false };
            match kind {
                WorkKind::Events => engine.notify_events(),
                WorkKind::Activities => engine.notify_activities(),
            }
            true
        }));
        if let Err(e) = watched {
            tracing::warn!("durable: {e}; the task hub is polled instead");
        }
        let mut tasks = Vec::new();
        for _ in 0..self.options.max_concurrent_orchestrations.max(1) {
            tasks.push(tokio::spawn(self.clone().instance_loop()));
        }
        for _ in 0..self.options.max_concurrent_activities.max(1) {
            tasks.push(tokio::spawn(self.clone().activity_loop()));
        }
        tasks
    }

    async fn idle_wait(&self, notify: &Notify, backoff: &mut Duration) {
        let next = blocking(&self.hub, |hub| hub.next_wake()).await.ok().flatten();
        let mut sleep = *backoff;
        if let Some(at) = next {
            let until = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            sleep = sleep.min(until.max(Duration::from_millis(1)));
        }
        tokio::select! {
            _ = notify.notified() => *backoff = Duration::from_millis(5),
            _ = tokio::time::sleep(sleep) => {
                *backoff = (*backoff * 2).min(self.options.max_poll_interval);
            }
        }
    }

    async fn instance_loop(self: Arc<Engine>) {
        let mut backoff = Duration::from_millis(5);
        loop {
            let owner = self.owner.clone();
            let lease = self.options.lease;
            match blocking(&self.hub, move |hub| hub.lock_next_instance(&owner, lease)).await {
                Ok(Some(item)) => {
                    backoff = Duration::from_millis(5);
                    self.run_instance(item).await;
                }
                Ok(None) => self.idle_wait(&self.instance_work, &mut backoff).await,
                Err(e) => {
                    self.log_take_failure("work", &e);
                    self.idle_wait(&self.instance_work, &mut backoff).await;
                }
            }
        }
    }

    async fn activity_loop(self: Arc<Engine>) {
        let mut backoff = Duration::from_millis(5);
        loop {
            let owner = self.owner.clone();
            let lease = self.options.activity_lease;
            match blocking(&self.hub, move |hub| hub.lock_next_activity(&owner, lease)).await {
                Ok(Some(item)) => {
                    backoff = Duration::from_millis(5);
                    self.run_activity(item).await;
                }
                Ok(None) => self.idle_wait(&self.activity_work, &mut backoff).await,
                Err(e) => {
                    self.log_take_failure("an activity", &e);
                    self.idle_wait(&self.activity_work, &mut backoff).await;
                }
            }
        }
    }

    /// Logs a failure to take work at most once every 10 s, with how many were not logged.
    fn log_take_failure(&self, what: &str, e: &TaskHubError) {
        let mut failures = self.take_failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let (last, suppressed) = &mut *failures;
        if last.is_some_and(|at| at.elapsed() < Duration::from_secs(10)) {
            *suppressed += 1;
            return;
        }
        let more = match *suppressed {
            0 => String::new(),
            n => format!(" ({n} more failures since the last report)"),
        };
        tracing::error!(
            "durable: could not take {what} from the task hub: {e}{more}; retrying with back-off"
        );
        *last = Some(std::time::Instant::now());
        *suppressed = 0;
    }

    /// Keeps a lease alive while `work` runs.
    async fn with_renewal<T>(
        &self,
        lease: Duration,
        renew: impl Fn() -> BoxFuture<'static, Result<(), TaskHubError>>,
        work: impl std::future::Future<Output = T>,
    ) -> T {
        let period = lease / 3;
        tokio::pin!(work);
        loop {
            tokio::select! {
                out = &mut work => return out,
                _ = tokio::time::sleep(period) => {
                    if let Err(e) = renew().await {
                        tracing::warn!("durable: {e}");
                    }
                }
            }
        }
    }

    async fn run_activity(&self, item: ActivityWorkItem) {
        let Some(function) = self.functions.find(DurableKind::Activity, &item.name).map(str::to_string)
        else {
            let mut failed = HistoryEvent::new(EventType::TaskFailed, Utc::now());
            failed.task_scheduled_id = Some(item.task_id);
            failed.reason = Some(format!(
                "The function '{}' doesn't exist, is disabled, or is not an activity function. Add an activity function with this name to the app",
                item.name
            ));
            self.finish_activity(item, failed).await;
            return;
        };
        // The history holds the input serialized; the activity gets it parsed once.
        let trigger = match item.input.as_deref().map(json_text_to_value) {
            Some(Value::String(text)) => TriggerValue::Text(text),
            Some(other) => TriggerValue::Json(other.to_string()),
            None => TriggerValue::Json("null".into()),
        };
        let hub = self.hub.clone();
        let (renew_item, lease) = (item.clone(), self.options.activity_lease);
        let renew = move || -> BoxFuture<'static, Result<(), TaskHubError>> {
            let (hub, item) = (hub.clone(), renew_item.clone());
            Box::pin(async move { blocking(&hub, move |h| h.renew_activity_lease(&item, lease)).await })
        };
        let outcome = self
            .with_renewal(lease, renew, self.invoker.invoke(&function, DurableKind::Activity, trigger))
            .await;
        let mut event = match outcome {
            InvokeOutcome::Returned(value) => {
                let mut e = HistoryEvent::new(EventType::TaskCompleted, Utc::now());
                e.result = Some(value.as_ref().map(activity_result_text).unwrap_or_else(|| "null".into()));
                e
            }
            InvokeOutcome::Failed(message) => {
                let mut e = HistoryEvent::new(EventType::TaskFailed, Utc::now());
                e.reason = Some(message.clone());
                e.details = Some(message);
                e
            }
            InvokeOutcome::NotRun(why) => {
                tracing::warn!("durable: activity '{}' did not run ({why}); it will be retried", item.name);
                let hub_item = item.clone();
                let _ = blocking(&self.hub, move |h| h.abandon_activity(&hub_item)).await;
                tokio::time::sleep(Duration::from_millis(200)).await;
                return;
            }
        };
        event.task_scheduled_id = Some(item.task_id);
        self.finish_activity(item, event).await;
    }

    async fn finish_activity(&self, item: ActivityWorkItem, event: HistoryEvent) {
        let name = item.name.clone();
        match blocking(&self.hub, move |h| h.complete_activity(&item, event)).await {
            Ok(()) => self.notify_events(),
            Err(e) => tracing::warn!("durable: the result of activity '{name}' was not recorded: {e}"),
        }
    }

    async fn run_instance(&self, item: InstanceWorkItem) {
        let is_entity = item.instance.instance_id.starts_with('@');
        let hub = self.hub.clone();
        let (renew_item, lease) = (item.clone(), self.options.lease);
        let renew = move || -> BoxFuture<'static, Result<(), TaskHubError>> {
            let (hub, item) = (hub.clone(), renew_item.clone());
            Box::pin(async move { blocking(&hub, move |h| h.renew_instance_lease(&item, lease)).await })
        };
        let step = if is_entity {
            self.with_renewal(lease, renew, self.entity_step(&item)).await
        } else {
            self.with_renewal(lease, renew, self.orchestration_step(&item)).await
        };
        let instance_id = item.instance.instance_id.clone();
        match step {
            Some(step) => {
                let has_activities = !step.activities.is_empty();
                match blocking(&self.hub, move |h| h.complete_instance(&item, &step)).await {
                    Ok(()) => {
                        if has_activities {
                            self.notify_activities();
                        }
                        self.notify_events();
                    }
                    Err(e) => tracing::warn!("durable: the step of '{instance_id}' was not committed: {e}"),
                }
            }
            None => {
                let _ =
                    blocking(&self.hub, move |h| h.abandon_instance(&item, Duration::from_millis(500))).await;
            }
        }
    }

    /// Computes one orchestration step; `None` leaves the events for a later try.
    async fn orchestration_step(&self, item: &InstanceWorkItem) -> Option<InstanceStep> {
        let now = Utc::now();
        let instance = &item.instance;
        let mut step = InstanceStep::default();
        let mut status = instance.status;
        let mut fresh: Vec<HistoryEvent> = Vec::new();
        let mut control: Vec<HistoryEvent> = Vec::new();
        for (id, execution, event) in &item.events {
            // Results for an earlier execution (before continue-as-new) have nobody to go to.
            if execution.as_deref().is_some_and(|e| e != instance.execution_id) || status.is_terminal() {
                step.consumed.push(*id);
                continue;
            }
            match event.event_type {
                EventType::ExecutionTerminated => {
                    step.consumed.push(*id);
                    control.push(event.clone());
                    status = RuntimeStatus::Terminated;
                }
                EventType::ExecutionSuspended => {
                    step.consumed.push(*id);
                    control.push(event.clone());
                    status = RuntimeStatus::Suspended;
                }
                EventType::ExecutionResumed => {
                    step.consumed.push(*id);
                    control.push(event.clone());
                    if status == RuntimeStatus::Suspended {
                        status = RuntimeStatus::Running;
                    }
                }
                _ if status == RuntimeStatus::Suspended => {}
                _ => {
                    step.consumed.push(*id);
                    fresh.push(event.clone());
                }
            }
        }
        if status == RuntimeStatus::Terminated && !instance.status.is_terminal() {
            let reason = control.iter().rev().find(|e| e.event_type == EventType::ExecutionTerminated);
            let reason_text = reason.and_then(|e| e.input.clone()).unwrap_or_else(|| "null".into());
            let mut history = vec![HistoryEvent::new(EventType::OrchestratorStarted, now)];
            history.extend(control.iter().cloned());
            history.push(HistoryEvent::new(EventType::OrchestratorCompleted, now));
            step.history = history;
            step.status = Some(RuntimeStatus::Terminated);
            step.output = Some(reason_text.clone());
            self.report_to_parent(
                item,
                &mut step,
                Err(format!("The orchestration was terminated: {reason_text}")),
            );
            return Some(step);
        }
        if status.is_terminal() || (fresh.is_empty() && status == instance.status) {
            step.history = control;
            return Some(step);
        }
        if status == RuntimeStatus::Suspended || fresh.is_empty() {
            step.history = control;
            step.status = Some(status);
            return Some(step);
        }
        let Some(orchestrator) =
            self.functions.find(DurableKind::Orchestrator, &instance.name).map(str::to_string)
        else {
            let error = format!(
                "The function '{}' doesn't exist, is disabled, or is not an orchestrator function. Add an orchestrator function with this name to the app",
                instance.name
            );
            return Some(self.fail_step(item, step, control, fresh, now, error));
        };

        let mut history: Vec<HistoryEvent> = item
            .history
            .iter()
            .cloned()
            .map(|mut e| {
                e.is_played = true;
                e
            })
            .collect();
        let episode_start = history.len();
        history.push(HistoryEvent::new(EventType::OrchestratorStarted, now));
        history.extend(control.iter().cloned());
        history.extend(fresh.iter().cloned());
        let input = history
            .iter()
            .find(|e| e.event_type == EventType::ExecutionStarted)
            .and_then(|e| e.input.clone())
            .or_else(|| instance.input.clone())
            .map(|text| json_text_to_value(&text))
            .unwrap_or(Value::Null);
        let trigger = OrchestrationTriggerInput {
            history: history.clone(),
            input,
            instance_id: instance.instance_id.clone(),
            is_replaying: episode_start > 0,
            parent_instance_id: instance.parent.as_ref().map(|p| p.instance_id.clone()),
            upper_schema_version: 1,
            upper_schema_version_new: Some(2),
            // Schema V3 needs both (the Node library refuses to make a timer without them). The
            // task hub's timers have no maximum length, so no timer is ever "long" and split.
            long_running_timer_interval_duration: Some(NO_TIMER_LIMIT.into()),
            maximum_short_timer_duration: Some(NO_TIMER_LIMIT.into()),
            default_http_async_request_sleep_time_millseconds: Some(30_000),
        };
        let trigger_text = serde_json::to_string(&trigger).unwrap_or_default();
        let outcome = self
            .invoker
            .invoke(&orchestrator, DurableKind::Orchestrator, TriggerValue::Json(trigger_text))
            .await;
        let state = match outcome {
            InvokeOutcome::NotRun(why) => {
                tracing::warn!(
                    "durable: orchestrator '{orchestrator}' did not run ({why}); it will be retried"
                );
                return None;
            }
            InvokeOutcome::Returned(Some(value)) => parse_orchestrator_state(&value),
            InvokeOutcome::Returned(None) => {
                Err("the orchestrator returned nothing (an OrchestratorState was expected)".into())
            }
            InvokeOutcome::Failed(message) => match state_from_failure_message(&message) {
                Some(Ok(state)) => Ok(state),
                Some(Err(e)) => {
                    Err(format!("the orchestrator failed and its state does not parse ({e}): {message}"))
                }
                None => Err(format!("Orchestrator function '{orchestrator}' failed: {message}")),
            },
        };
        let state = match state {
            Ok(state) => state,
            Err(error) => return Some(self.fail_step(item, step, control, fresh, now, error)),
        };
        let outcome = match replay(&instance.instance_id, &history, &state) {
            Ok(outcome) => outcome,
            Err(error) => return Some(self.fail_step(item, step, control, fresh, now, error.to_string())),
        };

        let mut appended = history.split_off(episode_start);
        for e in &mut appended {
            e.is_played = false;
        }
        if let Some(custom) = &outcome.custom_status {
            step.custom_status = Some(custom.to_string());
        }
        for decision in outcome.decisions {
            self.apply_decision(item, &mut step, &mut appended, decision, now);
        }
        match outcome.completion {
            None => step.status = Some(RuntimeStatus::Running),
            Some(Completion::Completed { output }) => {
                let text = output.as_ref().map(Value::to_string).unwrap_or_else(|| "null".into());
                let mut done = HistoryEvent::new(EventType::ExecutionCompleted, now);
                done.result = Some(text.clone());
                done.orchestration_status = Some("Completed".into());
                appended.push(HistoryEvent::new(EventType::OrchestratorCompleted, now));
                appended.push(done);
                step.status = Some(RuntimeStatus::Completed);
                step.output = Some(text.clone());
                self.report_to_parent(item, &mut step, Ok(text));
            }
            Some(Completion::Failed { error }) => {
                let message = format!("Orchestrator function '{orchestrator}' failed: {error}");
                return Some(self.fail_step(item, step, control, fresh, now, message));
            }
            Some(Completion::ContinuedAsNew { input }) => {
                let input_text = input.as_ref().map(Value::to_string).unwrap_or_else(|| "null".into());
                let execution_id = uuid::Uuid::new_v4().simple().to_string();
                let mut started = HistoryEvent::new(EventType::ExecutionStarted, now);
                started.name = Some(instance.name.clone());
                started.version = Some(String::new());
                started.input = Some(input_text.clone());
                step.messages.push(Message {
                    instance_id: instance.instance_id.clone(),
                    execution_id: Some(execution_id.clone()),
                    event: started,
                    visible_at: None,
                });
                step.new_execution_id = Some(execution_id);
                step.activities.clear();
                step.messages.retain(|m| m.instance_id == instance.instance_id);
                step.history = Vec::new();
                step.status = Some(RuntimeStatus::ContinuedAsNew);
                step.input = Some(input_text);
                return Some(step);
            }
        }
        if step.status == Some(RuntimeStatus::Running) {
            appended.push(HistoryEvent::new(EventType::OrchestratorCompleted, now));
        }
        step.history = appended;
        Some(step)
    }

    fn apply_decision(
        &self,
        item: &InstanceWorkItem,
        step: &mut InstanceStep,
        appended: &mut Vec<HistoryEvent>,
        decision: Decision,
        now: DateTime<Utc>,
    ) {
        let instance = &item.instance;
        match decision {
            Decision::ScheduleActivity { task_id, name, input } => {
                let mut e = HistoryEvent::new(EventType::TaskScheduled, now);
                e.event_id = task_id;
                e.name = Some(name.clone());
                e.input = input.clone();
                appended.push(e);
                step.activities.push(NewActivity { task_id, name, input });
            }
            Decision::CreateTimer { task_id, fire_at } => {
                let mut created = HistoryEvent::new(EventType::TimerCreated, now);
                created.event_id = task_id;
                created.fire_at = Some(fire_at);
                appended.push(created);
                let mut fired = HistoryEvent::new(EventType::TimerFired, fire_at);
                fired.timer_id = Some(task_id);
                fired.fire_at = Some(fire_at);
                step.messages.push(Message {
                    instance_id: instance.instance_id.clone(),
                    execution_id: Some(instance.execution_id.clone()),
                    event: fired,
                    visible_at: Some(fire_at),
                });
            }
            Decision::StartSubOrchestration { task_id, name, instance_id, input } => {
                let child_id =
                    instance_id.unwrap_or_else(|| format!("{}:{task_id:04}", instance.instance_id));
                let mut e = HistoryEvent::new(EventType::SubOrchestrationInstanceCreated, now);
                e.event_id = task_id;
                e.name = Some(name.clone());
                e.instance_id = Some(child_id.clone());
                e.input = input.clone();
                appended.push(e);
                step.new_instances.push(NewInstance {
                    instance_id: child_id,
                    name,
                    input,
                    parent: Some(ParentRef {
                        instance_id: instance.instance_id.clone(),
                        execution_id: instance.execution_id.clone(),
                        task_id,
                    }),
                    start_at: None,
                });
            }
            Decision::SendEntityMessage { task_id, entity, request, fire_at } => {
                let request_text = serde_json::to_string(&request).unwrap_or_default();
                let mut sent = HistoryEvent::new(EventType::EventSent, now);
                sent.event_id = task_id;
                sent.instance_id = Some(entity.scheduler_id());
                sent.name = Some("op".into());
                sent.input = Some(request_text.clone());
                appended.push(sent);
                let mut raised = HistoryEvent::new(EventType::EventRaised, now);
                raised.name = Some("op".into());
                raised.input = Some(request_text);
                step.messages.push(Message {
                    instance_id: entity.scheduler_id(),
                    execution_id: None,
                    event: raised,
                    visible_at: fire_at,
                });
            }
        }
    }

    /// A step that fails the instance with `error` (shown in its status).
    fn fail_step(
        &self,
        item: &InstanceWorkItem,
        mut step: InstanceStep,
        control: Vec<HistoryEvent>,
        fresh: Vec<HistoryEvent>,
        now: DateTime<Utc>,
        error: String,
    ) -> InstanceStep {
        tracing::error!("durable: instance '{}' failed: {error}", item.instance.instance_id);
        let mut history = vec![HistoryEvent::new(EventType::OrchestratorStarted, now)];
        history.extend(control);
        history.extend(fresh);
        history.push(HistoryEvent::new(EventType::OrchestratorCompleted, now));
        let mut failed = HistoryEvent::new(EventType::ExecutionFailed, now);
        failed.reason = Some(error.clone());
        failed.orchestration_status = Some("Failed".into());
        history.push(failed);
        step.history = history;
        step.status = Some(RuntimeStatus::Failed);
        step.output = Some(Value::String(error.clone()).to_string());
        step.activities.clear();
        step.messages.clear();
        step.new_instances.clear();
        self.report_to_parent(item, &mut step, Err(error));
        step
    }

    /// A sub-orchestration tells its parent how it ended.
    fn report_to_parent(
        &self,
        item: &InstanceWorkItem,
        step: &mut InstanceStep,
        result: Result<String, String>,
    ) {
        let Some(parent) = &item.instance.parent else { return };
        let now = Utc::now();
        let event = match result {
            Ok(output) => {
                let mut e = HistoryEvent::new(EventType::SubOrchestrationInstanceCompleted, now);
                e.result = Some(output);
                e
            }
            Err(error) => {
                let mut e = HistoryEvent::new(EventType::SubOrchestrationInstanceFailed, now);
                e.reason = Some(error.clone());
                e.details = Some(error);
                e
            }
        };
        let mut event = event;
        event.task_scheduled_id = Some(parent.task_id);
        step.messages.push(Message {
            instance_id: parent.instance_id.clone(),
            execution_id: Some(parent.execution_id.clone()),
            event,
            visible_at: None,
        });
    }

    /// One entity batch: every operation message that arrived, in order.
    async fn entity_step(&self, item: &InstanceWorkItem) -> Option<InstanceStep> {
        let instance = &item.instance;
        let entity = EntityId::from_scheduler_id(&instance.instance_id)?;
        let mut step = InstanceStep {
            consumed: item.events.iter().map(|(id, _, _)| *id).collect(),
            ..Default::default()
        };
        let requests: Vec<EntityRequest> = item
            .events
            .iter()
            .filter(|(_, _, e)| e.event_type == EventType::EventRaised)
            .filter_map(|(_, _, e)| e.input.as_deref().and_then(|t| serde_json::from_str(t).ok()))
            .collect();
        if requests.is_empty() {
            return Some(step);
        }
        let Some(function) = self.functions.find(DurableKind::Entity, &entity.name).map(str::to_string)
        else {
            let error = format!(
                "The function '{}' doesn't exist, is disabled, or is not an entity function. Add an entity function with this name to the app",
                entity.name
            );
            tracing::error!("durable: entity '{}': {error}", instance.instance_id);
            for request in &requests {
                self.respond(&mut step, request, Some(Value::String(error.clone()).to_string()), true);
            }
            return Some(step);
        };
        let batch = EntityBatchInput {
            entity: EntityRef { name: entity.name.clone(), key: entity.key.clone() },
            exists: instance.entity_state.is_some(),
            state: instance.entity_state.clone(),
            batch: requests
                .iter()
                .map(|r| EntityOperation { name: r.op.clone(), input: r.input.clone(), is_signal: r.signal })
                .collect(),
        };
        let trigger = serde_json::to_string(&batch).unwrap_or_default();
        let outcome = self.invoker.invoke(&function, DurableKind::Entity, TriggerValue::Json(trigger)).await;
        let output: Result<EntityBatchOutput, String> = match outcome {
            InvokeOutcome::NotRun(why) => {
                tracing::warn!("durable: entity '{function}' did not run ({why}); it will be retried");
                return None;
            }
            InvokeOutcome::Returned(Some(Value::String(text))) => {
                serde_json::from_str(&text).map_err(|e| format!("the entity's answer does not parse: {e}"))
            }
            InvokeOutcome::Returned(Some(value)) => {
                serde_json::from_value(value).map_err(|e| format!("the entity's answer does not parse: {e}"))
            }
            InvokeOutcome::Returned(None) => Err("the entity function returned nothing".into()),
            InvokeOutcome::Failed(message) => Err(format!("Entity function '{function}' failed: {message}")),
        };
        match output {
            Ok(output) => {
                step.entity_state =
                    Some(if output.entity_exists { output.entity_state.clone() } else { None });
                for (i, request) in requests.iter().enumerate() {
                    let result = output.results.get(i);
                    let is_error = result.is_some_and(|r| r.is_error);
                    self.respond(&mut step, request, result.and_then(|r| r.result.clone()), is_error);
                }
                for signal in &output.signals {
                    if let Some(message) = signal_message(signal) {
                        step.messages.push(message);
                    }
                }
            }
            Err(error) => {
                // The batch is lost, the state unchanged; callers learn why.
                tracing::error!("durable: entity '{}': {error}", instance.instance_id);
                for request in &requests {
                    self.respond(&mut step, request, Some(Value::String(error.clone()).to_string()), true);
                }
            }
        }
        Some(step)
    }

    fn respond(
        &self,
        step: &mut InstanceStep,
        request: &EntityRequest,
        result: Option<String>,
        is_error: bool,
    ) {
        if request.signal {
            return;
        }
        let Some(parent) = &request.parent else { return };
        let response = EntityResponse { result, exception_type: is_error.then(|| "Exception".to_string()) };
        let mut raised = HistoryEvent::new(EventType::EventRaised, Utc::now());
        raised.name = Some(request.id.clone());
        raised.input = Some(serde_json::to_string(&response).unwrap_or_default());
        step.messages.push(Message {
            instance_id: parent.clone(),
            execution_id: None,
            event: raised,
            visible_at: None,
        });
    }
}

/// A signal an entity sends another (`{"target": {"name", "key"}, "name": op, "input": …}`).
fn signal_message(signal: &Value) -> Option<Message> {
    let target = signal.get("target")?;
    let name = target.get("name")?.as_str()?;
    let key = target.get("key")?.as_str()?;
    let op = signal.get("name")?.as_str()?.to_string();
    let entity = EntityId::new(name, key);
    let request = EntityRequest {
        id: uuid::Uuid::new_v4().to_string(),
        op,
        // The Node library sends the input as JSON text already ("" for none).
        input: match signal.get("input") {
            None | Some(Value::Null) => None,
            Some(Value::String(text)) if text.is_empty() => None,
            Some(Value::String(text)) => Some(text.clone()),
            Some(other) => Some(other.to_string()),
        },
        signal: true,
        parent: None,
    };
    let mut raised = HistoryEvent::new(EventType::EventRaised, Utc::now());
    raised.name = Some("op".into());
    raised.input = Some(serde_json::to_string(&request).ok()?);
    Some(Message { instance_id: entity.scheduler_id(), execution_id: None, event: raised, visible_at: None })
}

/// An activity's return value as the JSON text `TaskCompleted.Result` holds.
fn activity_result_text(value: &Value) -> String {
    value.to_string()
}

/// Turns JSON text from the store back into JSON for the status API (text that is not JSON
/// stays a string).
pub fn stored_json(text: &Option<String>) -> Value {
    text.as_deref().map(json_text_to_value).unwrap_or(Value::Null)
}

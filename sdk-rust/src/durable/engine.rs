//! The replay engine: runs an orchestrator future against its history and answers the
//! `OrchestratorState` the durable extension expects.
//!
//! It follows the official Python library's executor step for step, so both give the same
//! answer for the same history: events are processed in order; `OrchestratorStarted` moves the
//! orchestration's clock; `ExecutionStarted` first polls the orchestrator; each completion event
//! resolves the task it names (task ids follow scheduling order, external events go by name) and
//! polls the orchestrator again. A durable task is "yielded" when it is first polled: it then gets
//! its id and its action is recorded. All actions so far are answered every time.

use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context as TaskContext, Poll, Waker};

use chrono::{DateTime, Utc};
use serde_json::{Map, Value, json};

use super::history::{
    HistoryEvent, OrchestrationInput, ReplaySchema, event_type, format_time, parse_timespan,
};

pub(crate) type NodeId = usize;

/// The children a compound task still waits for (a set: a fan-out may have thousands).
pub(crate) type Pending = std::collections::HashSet<NodeId>;

/// Where a task stands.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    Running,
    Succeeded(Value),
    Failed(String),
}

/// How open tasks are found by completion events: by scheduling id, or by event name (external
/// events and entity responses).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum TaskKey {
    Id(i64),
    Name(String),
}

#[derive(Debug)]
pub(crate) enum NodeKind {
    /// Something with an action and a sequential id: an activity, a sub-orchestration, a timer,
    /// an entity call. `action` is `None` for the retry policy's internal placeholders.
    Atomic { action: Option<Value>, entity_call: bool },
    /// An external event, found by name.
    Event { action: Value },
    /// A `WhenAll` (`task_all`).
    WhenAll { children: Vec<NodeId>, pending: Pending, settled: bool },
    /// A `WhenAny` (`task_any`).
    WhenAny { children: Vec<NodeId>, pending: Pending },
    /// A call with a retry policy: the extension retries; each failure is followed by a timer
    /// (which takes a task id) and, unless attempts are used up, a rescheduled attempt.
    Retry {
        children: Vec<NodeId>,
        pending: Pending,
        max_attempts: i64,
        attempts: i64,
        waiting_on_timer: bool,
        error: Option<String>,
    },
    /// A timer longer than the host's short-timer maximum (schema V3): a `WhenAll` over one
    /// interval timer, plus one more interval each time one fires before `fire_at`.
    LongTimer { children: Vec<NodeId>, pending: Pending, fire_at: DateTime<Utc> },
}

#[derive(Debug)]
pub(crate) struct Node {
    pub kind: NodeKind,
    pub outcome: Outcome,
    pub scheduled: bool,
    pub played: bool,
    pub parent: Option<NodeId>,
    pub key: Option<TaskKey>,
    /// The action this node adds when yielded (compound nodes fix it when created, as the
    /// official library does).
    pub repr: ActionRepr,
}

/// An action as recorded: leaves point at nodes, so cancelling a timer later still shows in the
/// answer (the library shares the action object the same way).
#[derive(Debug, Clone)]
pub(crate) enum ActionRepr {
    Leaf(NodeId),
    Compound(i64, Vec<ActionRepr>),
    /// Schema V1: a flat group of leaves.
    Group(Vec<ActionRepr>),
}

/// State shared by the context, every durable task and the replay loop.
#[derive(Debug)]
pub(crate) struct Engine {
    pub schema: ReplaySchema,
    pub instance_id: String,
    pub parent_instance_id: Option<String>,
    pub input: Value,
    pub now: DateTime<Utc>,
    pub is_replaying: bool,
    pub custom_status: Value,
    pub continued_as_new: bool,
    pub guid_counter: u64,
    pub nodes: Vec<Node>,
    sequence: i64,
    open: HashMap<TaskKey, Vec<NodeId>>,
    deferred: HashMap<TaskKey, (usize, bool)>,
    /// Recorded actions: V1 one group per yield; V2/V3 one group.
    actions: Vec<ActionRepr>,
    history: Rc<Vec<HistoryEvent>>,
    processing_new_events: bool,
    /// Set by a durable task that is polled and not complete: the orchestrator is waiting on
    /// the history, which is the only thing it may wait on.
    pub waiting_on_durable_task: bool,
    /// Schema V3 timer limits: timers longer than `max_short_timer` are split into intervals of
    /// `long_timer_interval` (both must be given, as the library requires).
    pub timer_limits: Option<(chrono::Duration, chrono::Duration)>,
}

pub(crate) type Shared = Rc<RefCell<Engine>>;

impl Engine {
    fn new(input: OrchestrationInput, history: Rc<Vec<HistoryEvent>>, now: DateTime<Utc>) -> Engine {
        Engine {
            schema: ReplaySchema::choose(input.upper_schema_version, input.upper_schema_version_new),
            instance_id: input.instance_id,
            parent_instance_id: input.parent_instance_id,
            input: input.input,
            now,
            is_replaying: false,
            custom_status: Value::Null,
            continued_as_new: false,
            guid_counter: 0,
            nodes: Vec::new(),
            sequence: 0,
            open: HashMap::new(),
            deferred: HashMap::new(),
            actions: Vec::new(),
            history,
            processing_new_events: false,
            waiting_on_durable_task: false,
            timer_limits: input
                .maximum_short_timer_duration
                .as_deref()
                .and_then(parse_timespan)
                .zip(input.long_running_timer_interval_duration.as_deref().and_then(parse_timespan)),
        }
    }

    fn push(&mut self, kind: NodeKind, outcome: Outcome) -> NodeId {
        let id = self.nodes.len();
        self.nodes.push(Node {
            kind,
            outcome,
            scheduled: false,
            played: false,
            parent: None,
            key: None,
            repr: ActionRepr::Leaf(id),
        });
        id
    }

    /// A task with an action and a sequential id.
    pub fn atomic(&mut self, action: Value, entity_call: bool) -> NodeId {
        self.push(NodeKind::Atomic { action: Some(action), entity_call }, Outcome::Running)
    }

    /// A durable timer; with schema V3 timer limits, a long one is split into intervals.
    pub fn timer(&mut self, fire_at: DateTime<Utc>) -> NodeId {
        match self.timer_limits {
            Some((max_short, interval))
                if self.schema >= ReplaySchema::V3 && fire_at > self.now + max_short =>
            {
                let first = self.interval_timer(fire_at, max_short, interval);
                let kind =
                    NodeKind::LongTimer { children: vec![first], pending: Pending::from([first]), fire_at };
                self.compound(12, vec![first], kind)
            }
            _ => self.atomic(timer_action(fire_at), false),
        }
    }

    /// The next interval of a long timer: a whole interval, or what is left if that is short.
    fn interval_timer(
        &mut self,
        fire_at: DateTime<Utc>,
        max_short: chrono::Duration,
        interval: chrono::Duration,
    ) -> NodeId {
        let next = if fire_at - self.now > max_short { self.now + interval } else { fire_at };
        self.atomic(timer_action(next), false)
    }

    /// A task that failed before it could be scheduled (its input did not serialize).
    pub fn failed(&mut self, message: String) -> NodeId {
        let id = self.push(NodeKind::Atomic { action: None, entity_call: false }, Outcome::Failed(message));
        self.nodes[id].scheduled = true;
        id
    }

    pub fn event(&mut self, name: &str) -> NodeId {
        let action = json!({"actionType": 6, "externalEventName": name, "reason": "ExternalEvent"});
        let id = self.push(NodeKind::Event { action }, Outcome::Running);
        self.nodes[id].key = Some(TaskKey::Name(name.to_string()));
        id
    }

    /// `task_all`, `task_any` and retry wrappers: their action and, for children already
    /// complete, their state are fixed now, as the library fixes them when the task is built.
    pub fn compound(&mut self, action_type: i64, children: Vec<NodeId>, kind: NodeKind) -> NodeId {
        let repr = self.compound_repr(action_type, &children);
        let id = self.push(kind, Outcome::Running);
        self.nodes[id].repr = repr;
        for &child in &children {
            self.nodes[child].parent = Some(id);
        }
        if children.is_empty() {
            self.nodes[id].outcome = match action_type {
                12 => Outcome::Succeeded(Value::Array(Vec::new())),
                _ => Outcome::Succeeded(Value::Null),
            };
        }
        for child in children {
            if self.nodes[child].outcome != Outcome::Running {
                self.handle_completion(id, child);
            }
        }
        id
    }

    fn compound_repr(&self, action_type: i64, children: &[NodeId]) -> ActionRepr {
        if self.schema == ReplaySchema::V1 {
            let mut leaves = Vec::new();
            for &child in children {
                self.flatten_v1(child, &mut leaves);
            }
            return ActionRepr::Group(leaves);
        }
        let inner = children
            .iter()
            .filter(|&&child| !self.is_scheduled(child))
            .map(|&child| self.nodes[child].repr.clone())
            .collect();
        ActionRepr::Compound(action_type, inner)
    }

    fn flatten_v1(&self, node: NodeId, out: &mut Vec<ActionRepr>) {
        match &self.nodes[node].repr {
            ActionRepr::Group(leaves) => out.extend(leaves.iter().cloned()),
            other => out.push(other.clone()),
        }
    }

    fn children(&self, node: NodeId) -> &[NodeId] {
        match &self.nodes[node].kind {
            NodeKind::WhenAll { children, .. }
            | NodeKind::WhenAny { children, .. }
            | NodeKind::Retry { children, .. }
            | NodeKind::LongTimer { children, .. } => children,
            _ => &[],
        }
    }

    pub fn is_scheduled(&self, node: NodeId) -> bool {
        match &self.nodes[node].kind {
            NodeKind::Atomic { .. } | NodeKind::Event { .. } => self.nodes[node].scheduled,
            // A yielded compound is marked, so polling it again does not walk its children.
            _ => self.nodes[node].scheduled || self.children(node).iter().all(|&c| self.is_scheduled(c)),
        }
    }

    /// A task is awaited for the first time: it gets its id and its action is recorded.
    pub fn yield_task(&mut self, node: NodeId) {
        if self.is_scheduled(node) {
            self.nodes[node].scheduled = true;
            return;
        }
        self.add_to_open_tasks(node);
        if !self.is_scheduled(node) {
            let repr = self.nodes[node].repr.clone();
            self.add_action(repr);
            self.mark_scheduled(node);
        }
    }

    fn add_to_open_tasks(&mut self, node: NodeId) {
        if self.is_scheduled(node) {
            return;
        }
        match &self.nodes[node].kind {
            NodeKind::Atomic { .. } | NodeKind::Event { .. } => {
                let key = match self.nodes[node].key.clone() {
                    Some(key) => key,
                    None => {
                        let key = TaskKey::Id(self.sequence);
                        self.sequence += 1;
                        self.nodes[node].key = Some(key.clone());
                        key
                    }
                };
                self.open.entry(key.clone()).or_default().push(node);
                if let Some((event, success)) = self.deferred.remove(&key) {
                    self.set_task_value(event, success, key);
                }
            }
            _ => {
                for child in self.children(node).to_vec() {
                    self.add_to_open_tasks(child);
                }
            }
        }
    }

    fn mark_scheduled(&mut self, node: NodeId) {
        match &self.nodes[node].kind {
            NodeKind::Atomic { .. } | NodeKind::Event { .. } => {}
            _ => {
                for child in self.children(node).to_vec() {
                    self.mark_scheduled(child);
                }
            }
        }
        self.nodes[node].scheduled = true;
    }

    fn add_action(&mut self, repr: ActionRepr) {
        // Nothing is recorded after continue-as-new, as in the library.
        if self.continued_as_new {
            return;
        }
        match (self.schema, repr) {
            (ReplaySchema::V1, ActionRepr::Group(leaves)) => self.actions.push(ActionRepr::Group(leaves)),
            (ReplaySchema::V1, leaf) => self.actions.push(ActionRepr::Group(vec![leaf])),
            (_, repr) => self.actions.push(repr),
        }
    }

    /// Records an action that nothing waits for (signals, continue-as-new); it still takes an id.
    pub fn fire_and_forget(&mut self, action: Value) {
        let node = self.push(NodeKind::Atomic { action: Some(action), entity_call: false }, Outcome::Running);
        self.nodes[node].scheduled = true;
        self.add_action(ActionRepr::Leaf(node));
        self.sequence += 1;
    }

    /// Cancels a timer that has not fired: its action says `isCanceled`.
    pub fn cancel_timer(&mut self, node: NodeId) -> bool {
        if self.nodes[node].outcome != Outcome::Running {
            return false;
        }
        match &mut self.nodes[node].kind {
            NodeKind::Atomic { action: Some(action), .. } if action["actionType"] == 5 => {
                action["isCanceled"] = Value::Bool(true);
                true
            }
            // The library marks only the long timer's own action, which is never sent.
            NodeKind::LongTimer { .. } => true,
            _ => false,
        }
    }

    /// A completion event for `key`: resolves the latest open task waiting on it (the library
    /// pops the last one), or keeps the event until a task with that key is awaited.
    fn set_task_value(&mut self, event_index: usize, success: bool, key: TaskKey) -> bool {
        let node = match self.open.get_mut(&key) {
            Some(waiting) if !waiting.is_empty() => {
                let node = waiting.pop().expect("not empty");
                if waiting.is_empty() {
                    self.open.remove(&key);
                }
                node
            }
            _ => {
                self.deferred.insert(key, (event_index, success));
                return false;
            }
        };
        let history = Rc::clone(&self.history);
        let event = &history[event_index];
        let entity_call = matches!(self.nodes[node].kind, NodeKind::Atomic { entity_call: true, .. });
        let outcome = if success {
            let text = match event.event_type {
                event_type::EVENT_RAISED => event.input.as_deref(),
                event_type::TIMER_FIRED => None,
                _ => event.result.as_deref(),
            };
            let value = text.map(parse_payload).unwrap_or(Value::Null);
            if entity_call { entity_response(&value) } else { Outcome::Succeeded(value) }
        } else {
            Outcome::Failed(format!(
                "{} \n {}",
                event.reason.as_deref().unwrap_or("None"),
                event.details.as_deref().unwrap_or("None")
            ))
        };
        self.nodes[node].played = event.is_played || !self.processing_new_events;
        self.set_value(node, outcome);
        true
    }

    fn set_value(&mut self, node: NodeId, outcome: Outcome) {
        self.nodes[node].outcome = outcome;
        if let Some(parent) = self.nodes[node].parent {
            self.handle_completion(parent, node);
        }
    }

    fn handle_completion(&mut self, parent: NodeId, child: NodeId) {
        let played = self.nodes[child].played;
        self.nodes[parent].played = played;
        let child_outcome = self.nodes[child].outcome.clone();
        let mut next: Option<Outcome> = None;
        let mut reschedule = false;
        let mut long_timer_next: Option<DateTime<Utc>> = None;
        let parent_running = self.nodes[parent].outcome == Outcome::Running;
        match &mut self.nodes[parent].kind {
            NodeKind::WhenAll { children, pending, settled } => {
                pending.remove(&child);
                if !*settled {
                    match child_outcome {
                        Outcome::Failed(message) => {
                            *settled = true;
                            next = Some(Outcome::Failed(message));
                        }
                        _ if pending.is_empty() => {
                            *settled = true;
                            let children = children.clone();
                            let values = children
                                .iter()
                                .map(|&c| match &self.nodes[c].outcome {
                                    Outcome::Succeeded(v) => v.clone(),
                                    _ => Value::Null,
                                })
                                .collect();
                            next = Some(Outcome::Succeeded(Value::Array(values)));
                        }
                        _ => {}
                    }
                }
            }
            NodeKind::WhenAny { children, pending } => {
                pending.remove(&child);
                if parent_running {
                    let index = children.iter().position(|&c| c == child).unwrap_or_default();
                    next = Some(Outcome::Succeeded(Value::from(index)));
                }
            }
            NodeKind::LongTimer { pending, fire_at, .. } => {
                pending.remove(&child);
                if parent_running {
                    match child_outcome {
                        Outcome::Failed(message) => next = Some(Outcome::Failed(message)),
                        _ if *fire_at > self.now => long_timer_next = Some(*fire_at),
                        _ if pending.is_empty() => next = Some(Outcome::Succeeded(Value::Null)),
                        _ => {}
                    }
                }
            }
            NodeKind::Retry { pending, max_attempts, attempts, waiting_on_timer, error, .. } => {
                pending.remove(&child);
                if *waiting_on_timer {
                    *waiting_on_timer = false;
                    if *attempts >= *max_attempts {
                        *waiting_on_timer = true;
                        next = Some(Outcome::Failed(error.clone().unwrap_or_default()));
                    } else {
                        *attempts += 1;
                        reschedule = true;
                    }
                } else {
                    match child_outcome {
                        Outcome::Succeeded(value) => {
                            if pending.is_empty() {
                                next = Some(Outcome::Succeeded(value));
                            }
                        }
                        Outcome::Failed(message) => {
                            *waiting_on_timer = true;
                            *error = Some(message);
                            reschedule = true;
                        }
                        Outcome::Running => {}
                    }
                }
            }
            _ => {}
        }
        if reschedule {
            // The retry timer, or the next attempt: each takes the next task id.
            let placeholder =
                self.push(NodeKind::Atomic { action: None, entity_call: false }, Outcome::Running);
            self.nodes[placeholder].parent = Some(parent);
            if let NodeKind::Retry { pending, .. } = &mut self.nodes[parent].kind {
                pending.insert(placeholder);
            }
            self.add_to_open_tasks(placeholder);
        }
        if let (Some(fire_at), Some((max_short, interval))) = (long_timer_next, self.timer_limits) {
            // The next interval is scheduled at once, as its own action.
            let timer = self.interval_timer(fire_at, max_short, interval);
            self.nodes[timer].parent = Some(parent);
            if let NodeKind::LongTimer { pending, .. } = &mut self.nodes[parent].kind {
                pending.insert(timer);
            }
            self.add_to_open_tasks(timer);
            self.add_action(ActionRepr::Leaf(timer));
            self.nodes[timer].scheduled = true;
        }
        if let Some(outcome) = next {
            self.set_value(parent, outcome);
        }
    }

    fn render_repr(&self, repr: &ActionRepr) -> Value {
        match repr {
            ActionRepr::Leaf(node) => match &self.nodes[*node].kind {
                NodeKind::Atomic { action: Some(action), .. } | NodeKind::Event { action, .. } => {
                    action.clone()
                }
                _ => Value::Null,
            },
            ActionRepr::Compound(action_type, inner) => json!({
                "actionType": action_type,
                "compoundActions": inner.iter().map(|r| self.render_repr(r)).collect::<Vec<_>>(),
            }),
            ActionRepr::Group(leaves) => Value::Array(leaves.iter().map(|r| self.render_repr(r)).collect()),
        }
    }

    fn render_actions(&self) -> Value {
        let rendered: Vec<Value> = self.actions.iter().map(|r| self.render_repr(r)).collect();
        match self.schema {
            ReplaySchema::V1 => Value::Array(rendered),
            _ => Value::Array(vec![Value::Array(rendered)]),
        }
    }

    /// The `OrchestratorState` JSON, with the fields the library leaves out when empty.
    fn state(&self, is_done: bool, output: &Value, error: Option<&str>) -> Value {
        let mut state = Map::new();
        state.insert("isDone".into(), Value::Bool(is_done));
        if self.schema != ReplaySchema::V1 {
            state.insert("schemaVersion".into(), Value::from(self.schema as i64));
        }
        state.insert("actions".into(), self.render_actions());
        if !output.is_null() {
            state.insert("output".into(), output.clone());
        }
        if let Some(error) = error.filter(|e| !e.is_empty()) {
            state.insert("error".into(), Value::String(error.into()));
        }
        if is_truthy(&self.custom_status) {
            state.insert("customStatus".into(), self.custom_status.clone());
        }
        Value::Object(state)
    }
}

fn timer_action(fire_at: DateTime<Utc>) -> Value {
    json!({"actionType": 5, "fireAt": format_time(&fire_at), "isCanceled": false})
}

/// Python's truthiness, which decides whether `customStatus` is sent.
fn is_truthy(value: &Value) -> bool {
    match value {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// Payloads in the history are JSON text; text that is not JSON is kept as a string.
pub(crate) fn parse_payload(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// An entity's answer to a call: `{"result": "<json>", "exceptionType": ...}`; the presence of
/// `exceptionType` marks a failed operation.
fn entity_response(value: &Value) -> Outcome {
    let result = match value.get("result") {
        Some(Value::String(text)) => parse_payload(text),
        Some(other) => other.clone(),
        None => Value::Null,
    };
    if value.get("exceptionType").is_some() {
        Outcome::Failed(match result {
            Value::String(text) => text,
            other => other.to_string(),
        })
    } else {
        Outcome::Succeeded(result)
    }
}

/// How an orchestrator invocation ends, for the host.
#[derive(Debug, Clone, PartialEq)]
pub enum Answer {
    /// The `OrchestratorState` JSON (the invocation's return value).
    State(String),
    /// The orchestrator failed: the invocation fails with this message, which carries the state
    /// after `$OutOfProcData$:` as the extension expects.
    Failed(String),
}

/// What the orchestrator function returned, serialized.
pub(crate) type OrchestratorOutput = Result<Value, String>;

/// Replays `orchestrator` against the trigger JSON `body` and answers the host.
pub(crate) fn replay<F>(body: &str, orchestrator: F) -> Answer
where
    F: FnOnce(Shared) -> Pin<Box<dyn Future<Output = OrchestratorOutput>>>,
{
    let input: OrchestrationInput = match serde_json::from_str(body) {
        Ok(input) => input,
        Err(e) => {
            return Answer::Failed(format!(
                "the orchestration trigger's value is not the durable extension's JSON ({e}); \
                 check that the host runs the durable extension's out-of-process protocol"
            ));
        }
    };
    let Some(first_start) =
        input.history.iter().find(|e| e.event_type == event_type::ORCHESTRATOR_STARTED).map(|e| e.timestamp)
    else {
        return Answer::Failed(format!(
            "the history of orchestration `{}` has no OrchestratorStarted event ({} events); the host must \
             send at least OrchestratorStarted and ExecutionStarted",
            input.instance_id,
            input.history.len()
        ));
    };
    if !input.history.iter().any(|e| e.event_type == event_type::EXECUTION_STARTED) {
        return Answer::Failed(format!(
            "the history of orchestration `{}` has no ExecutionStarted event ({} events); the host must send \
             at least OrchestratorStarted and ExecutionStarted",
            input.instance_id,
            input.history.len()
        ));
    }
    let mut input = input;
    let history = Rc::new(std::mem::take(&mut input.history));
    let engine: Shared = Rc::new(RefCell::new(Engine::new(input, Rc::clone(&history), first_start)));
    // Events from the last OrchestratorStarted on are new; those before it are replayed.
    let new_events_start =
        history.iter().rposition(|e| e.event_type == event_type::ORCHESTRATOR_STARTED).unwrap_or(0);
    let started_replaying = history.get(1).is_some_and(|e| e.is_played) || new_events_start > 0;

    let mut future: Option<Pin<Box<dyn Future<Output = OrchestratorOutput>>>> = None;
    let mut orchestrator = Some(orchestrator);
    let mut finished: Option<OrchestratorOutput> = None;

    for (index, event) in history.iter().enumerate() {
        if index >= new_events_start {
            engine.borrow_mut().processing_new_events = true;
        }
        let resumed = match event.event_type {
            event_type::ORCHESTRATOR_STARTED => {
                let mut engine = engine.borrow_mut();
                if event.timestamp > engine.now {
                    engine.now = event.timestamp;
                }
                None
            }
            event_type::EXECUTION_STARTED if future.is_none() => {
                if let Some(start) = orchestrator.take() {
                    future = Some(start(Rc::clone(&engine)));
                }
                Some(started_replaying)
            }
            event_type::EVENT_SENT => {
                rekey_entity_call(&engine, event);
                None
            }
            event_type::TASK_COMPLETED | event_type::SUB_ORCHESTRATION_COMPLETED => {
                complete(&engine, index, true, event.task_scheduled_id.map(TaskKey::Id))
            }
            event_type::TASK_FAILED | event_type::SUB_ORCHESTRATION_FAILED => {
                complete(&engine, index, false, event.task_scheduled_id.map(TaskKey::Id))
            }
            event_type::TIMER_FIRED => complete(&engine, index, true, event.timer_id.map(TaskKey::Id)),
            event_type::EVENT_RAISED => complete(&engine, index, true, event.name.clone().map(TaskKey::Name)),
            _ => None,
        };
        let (Some(replaying), Some(running)) = (resumed, future.as_mut()) else { continue };
        engine.borrow_mut().is_replaying = replaying;
        if let Some(done) = poll_orchestrator(&engine, running) {
            finished = Some(done);
        }
        if finished.is_some() || engine.borrow().continued_as_new {
            break;
        }
    }
    // The future holds the context; drop it before reading the engine's final state.
    drop(future);
    let engine = engine.borrow();
    match finished {
        Some(Ok(output)) => Answer::State(engine.state(true, &output, None).to_string()),
        Some(Err(message)) => {
            let state = engine.state(false, &Value::Null, Some(&message));
            Answer::Failed(format!("{message}\n\n$OutOfProcData$:{state}"))
        }
        None => Answer::State(engine.state(engine.continued_as_new, &Value::Null, None).to_string()),
    }
}

fn complete(engine: &Shared, index: usize, success: bool, key: Option<TaskKey>) -> Option<bool> {
    let key = key?;
    let mut engine = engine.borrow_mut();
    engine.set_task_value(index, success, key);
    let history = Rc::clone(&engine.history);
    Some(history[index].is_played || !engine.processing_new_events)
}

/// An entity call's request was sent: from now on its response is found by the request id.
fn rekey_entity_call(engine: &Shared, event: &HistoryEvent) {
    let mut engine = engine.borrow_mut();
    let key = TaskKey::Id(event.event_id);
    let Some(waiting) = engine.open.get(&key) else { return };
    let Some(&node) = waiting.last() else { return };
    if !matches!(engine.nodes[node].kind, NodeKind::Atomic { entity_call: true, .. }) {
        return;
    }
    let Some(request_id) =
        event.input.as_deref().map(parse_payload).and_then(|v| v["id"].as_str().map(str::to_string))
    else {
        return;
    };
    engine.open.remove(&key);
    let new_key = TaskKey::Name(request_id);
    engine.nodes[node].key = Some(new_key.clone());
    engine.open.entry(new_key).or_default().push(node);
}

/// Polls the orchestrator once. Every durable task it awaits is either complete (and returns at
/// once) or pending on the history; a future that is pending without waiting on any durable
/// task waits on something replay cannot see (a tokio timer, a channel, I/O) and fails the
/// orchestration, because its next replay could take another path.
fn poll_orchestrator(
    engine: &Shared,
    future: &mut Pin<Box<dyn Future<Output = OrchestratorOutput>>>,
) -> Option<OrchestratorOutput> {
    engine.borrow_mut().waiting_on_durable_task = false;
    let mut cx = TaskContext::from_waker(Waker::noop());
    let polled = crate::runtime::catch_panic(|| future.as_mut().poll(&mut cx));
    match polled {
        Ok(Poll::Ready(output)) => Some(output),
        Ok(Poll::Pending) if engine.borrow().waiting_on_durable_task => None,
        Ok(Poll::Pending) => Some(Err(format!(
            "orchestration `{}` awaited something that is not a durable task (a tokio timer, a channel, I/O or \
             another runtime's future): an orchestrator may only await the tasks of its OrchestrationContext \
             (call_activity, create_timer, wait_for_external_event, task_all, ...), because it is replayed from \
             its history; do such work in an activity",
            engine.borrow().instance_id
        ))),
        Err(panic) => Some(Err(format!("the orchestrator failed: {}", panic.message))),
    }
}

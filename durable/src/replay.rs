//! Replays an out-of-process orchestrator's actions against the instance's history, the way the
//! durable extension's shim does over the Durable Task Framework, to find what is new.
//!
//! The orchestrator answers with every action it has scheduled so far. The host plays those
//! actions as a program (V1: one group per yield, each group awaited with "any"; V2/V3: one
//! action after another, each awaited) while it walks the history in order: scheduling takes the
//! next task id, a history scheduling event must name the task the program scheduled under that
//! id, completion events resolve tasks and let the program go on. Whatever the program scheduled
//! that the history does not hold yet is a new decision for this step.

use std::collections::{BTreeMap, HashMap, VecDeque};

use chrono::{DateTime, Utc};
use serde_json::Value;

use crate::model::{
    Action, ActionType, EntityId, EntityRequest, EventType, HistoryEvent, OrchestratorState, RetryOptions,
};

/// Something the orchestration asked for that the history does not record yet.
#[derive(Clone, Debug, PartialEq)]
pub enum Decision {
    ScheduleActivity {
        task_id: i64,
        name: String,
        input: Option<String>,
    },
    CreateTimer {
        task_id: i64,
        fire_at: DateTime<Utc>,
    },
    StartSubOrchestration {
        task_id: i64,
        name: String,
        instance_id: Option<String>,
        input: Option<String>,
    },
    /// A call or a signal to an entity (`EventSent` in the history).
    SendEntityMessage {
        task_id: i64,
        entity: EntityId,
        request: EntityRequest,
        fire_at: Option<DateTime<Utc>>,
    },
}

impl Decision {
    pub fn task_id(&self) -> i64 {
        match self {
            Decision::ScheduleActivity { task_id, .. }
            | Decision::CreateTimer { task_id, .. }
            | Decision::StartSubOrchestration { task_id, .. }
            | Decision::SendEntityMessage { task_id, .. } => *task_id,
        }
    }
}

/// How this step ends the orchestration, if it does.
#[derive(Clone, Debug, PartialEq)]
pub enum Completion {
    Completed { output: Option<Value> },
    Failed { error: String },
    ContinuedAsNew { input: Option<Value> },
}

/// The result of one replay: the new decisions (in task-id order), the custom status and the
/// completion.
#[derive(Clone, Debug, PartialEq)]
pub struct ReplayOutcome {
    pub decisions: Vec<Decision>,
    pub custom_status: Option<Value>,
    pub completion: Option<Completion>,
}

/// Why the actions and the history do not fit; the instance fails with this message.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ReplayError {
    #[error(
        "non-deterministic orchestration: task id {task_id}: the history has {history}, but the orchestrator now schedules {actions}. An orchestrator must schedule the same tasks in the same order on every replay; restart the instance after changing its code"
    )]
    NonDeterministic { task_id: i64, history: String, actions: String },
    #[error(
        "non-deterministic orchestration: task id {task_id}: the history has {history}, but the orchestrator did not schedule any task with this id. An orchestrator must schedule the same tasks in the same order on every replay"
    )]
    MissingAction { task_id: i64, history: String },
    #[error("orchestrator action #{index} ({action}) is not valid: {problem}")]
    InvalidAction { index: usize, action: String, problem: String },
    #[error("orchestrator action {action} is not supported by fnwire's durable extension: {why}")]
    Unsupported { action: String, why: String },
    #[error(
        "with schemaVersion {schema}, the orchestrator's `actions` must hold one list of actions, but it holds {outer}"
    )]
    BadSchemaShape { schema: u8, outer: usize },
}

/// What the program scheduled under a task id.
#[derive(Clone, Debug)]
enum Scheduled {
    Activity { name: String, input: Option<String> },
    Timer { fire_at: DateTime<Utc> },
    SubOrchestration { name: String, instance_id: Option<String>, input: Option<String> },
    Entity { entity: EntityId, request: EntityRequest, fire_at: Option<DateTime<Utc>> },
}

impl Scheduled {
    fn describe(&self) -> String {
        match self {
            Scheduled::Activity { name, .. } => format!("CallActivity '{name}'"),
            Scheduled::Timer { fire_at } => {
                format!("CreateTimer at {}", crate::model::iso_time::format(fire_at))
            }
            Scheduled::SubOrchestration { name, .. } => format!("CallSubOrchestrator '{name}'"),
            Scheduled::Entity { entity, request, .. } => {
                let kind = if request.signal { "SignalEntity" } else { "CallEntity" };
                format!("{kind} '{}' operation '{}'", entity.scheduler_id(), request.op)
            }
        }
    }

    fn matches(&self, event: &HistoryEvent) -> bool {
        match (self, event.event_type) {
            (Scheduled::Activity { name, .. }, EventType::TaskScheduled) => {
                event.name.as_deref() == Some(name)
            }
            (Scheduled::Timer { .. }, EventType::TimerCreated) => true,
            (Scheduled::SubOrchestration { name, .. }, EventType::SubOrchestrationInstanceCreated) => {
                event.name.as_deref() == Some(name)
            }
            (Scheduled::Entity { entity, .. }, EventType::EventSent) => {
                event.instance_id.as_deref().and_then(EntityId::from_scheduler_id).as_ref() == Some(entity)
            }
            _ => false,
        }
    }

    fn into_decision(self, task_id: i64) -> Decision {
        match self {
            Scheduled::Activity { name, input } => Decision::ScheduleActivity { task_id, name, input },
            Scheduled::Timer { fire_at } => Decision::CreateTimer { task_id, fire_at },
            Scheduled::SubOrchestration { name, instance_id, input } => {
                Decision::StartSubOrchestration { task_id, name, instance_id, input }
            }
            Scheduled::Entity { entity, request, fire_at } => {
                Decision::SendEntityMessage { task_id, entity, request, fire_at }
            }
        }
    }
}

fn describe_history_event(event: &HistoryEvent) -> String {
    match (&event.name, &event.instance_id) {
        (Some(name), _) => format!("{} '{name}'", event.event_type.name()),
        (None, Some(instance)) => format!("{} to '{instance}'", event.event_type.name()),
        _ => event.event_type.name().to_string(),
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum State {
    Pending,
    Succeeded,
    Failed,
}

#[derive(Debug)]
enum NodeKind {
    /// Completed by a history event for its task id, or by an external event.
    Leaf,
    /// Fire-and-forget actions: complete at once.
    Immediate,
    All(Vec<usize>),
    Any,
    /// `…WithRetry`: the current attempt or the timer before the next.
    Retry {
        action: Box<Action>,
        options: RetryOptions,
        attempt: u32,
        waiting_on_timer: bool,
        index: usize,
    },
}

#[derive(Debug)]
struct Node {
    kind: NodeKind,
    state: State,
    parent: Option<usize>,
}

struct Replayer<'a> {
    instance_id: &'a str,
    next_task_id: i64,
    /// Scheduled by the program, not yet seen in the history.
    unconfirmed: BTreeMap<i64, Scheduled>,
    nodes: Vec<Node>,
    /// Leaf waiting on a task id's completion.
    by_task_id: HashMap<i64, usize>,
    /// Leaves waiting on an external event (entity responses wait on their request id).
    waiters: HashMap<String, VecDeque<usize>>,
    /// External events that arrived before anyone awaited them.
    buffered: HashMap<String, usize>,
    /// Entity calls by task id, whose request id the history's `EventSent` tells.
    entity_call_leaves: HashMap<i64, usize>,
    /// The orchestration's current time: the latest `OrchestratorStarted`.
    now: DateTime<Utc>,
    program: Program<'a>,
    error: Option<ReplayError>,
}

enum Program<'a> {
    /// One group per yield; each group is awaited with "any" of its tasks.
    Grouped { groups: &'a [Vec<Action>], next: usize, awaiting: Option<usize> },
    /// One action after another, each awaited.
    Sequential { actions: &'a [Action], next: usize, awaiting: Option<usize> },
}

/// Replays `state`'s actions against `history` (which holds every event up to now, including
/// the new ones this step handles) and returns what is new.
pub fn replay(
    instance_id: &str,
    history: &[HistoryEvent],
    state: &OrchestratorState,
) -> Result<ReplayOutcome, ReplayError> {
    let program = if state.schema_version == 0 {
        Program::Grouped { groups: &state.actions, next: 0, awaiting: None }
    } else {
        let flat: &[Action] = match state.actions.len() {
            0 => &[],
            1 => &state.actions[0],
            outer => return Err(ReplayError::BadSchemaShape { schema: state.schema_version, outer }),
        };
        Program::Sequential { actions: flat, next: 0, awaiting: None }
    };
    let start = history
        .iter()
        .find(|e| e.event_type == EventType::OrchestratorStarted)
        .map(|e| e.timestamp)
        .unwrap_or_else(|| history.first().map(|e| e.timestamp).unwrap_or_default());
    let mut replayer = Replayer {
        instance_id,
        next_task_id: 0,
        unconfirmed: BTreeMap::new(),
        nodes: Vec::new(),
        by_task_id: HashMap::new(),
        waiters: HashMap::new(),
        buffered: HashMap::new(),
        entity_call_leaves: HashMap::new(),
        now: start,
        program,
        error: None,
    };
    for event in history {
        replayer.process(event)?;
        if let Some(error) = replayer.error.take() {
            return Err(error);
        }
    }
    let decisions = replayer.unconfirmed.into_iter().map(|(id, s)| s.into_decision(id)).collect();
    let completion = if let Some(error) = &state.error {
        Some(Completion::Failed { error: error.clone() })
    } else if state.is_done {
        let continue_as_new =
            state.actions.iter().flatten().find(|a| a.action_type == ActionType::ContinueAsNew);
        match continue_as_new {
            Some(action) => Some(Completion::ContinuedAsNew { input: action.input.clone() }),
            None => Some(Completion::Completed { output: state.output.clone() }),
        }
    } else {
        None
    };
    // A failed or finished orchestration schedules nothing more.
    let decisions = if completion.is_some() { Vec::new() } else { decisions };
    Ok(ReplayOutcome { decisions, custom_status: state.custom_status.clone(), completion })
}

impl<'a> Replayer<'a> {
    fn process(&mut self, event: &HistoryEvent) -> Result<(), ReplayError> {
        match event.event_type {
            EventType::OrchestratorStarted if event.timestamp > self.now => self.now = event.timestamp,
            EventType::ExecutionStarted => self.run_program()?,
            EventType::TaskScheduled
            | EventType::TimerCreated
            | EventType::SubOrchestrationInstanceCreated
            | EventType::EventSent => self.confirm(event)?,
            EventType::TaskCompleted | EventType::SubOrchestrationInstanceCompleted => {
                self.complete_task(event.task_scheduled_id, State::Succeeded)?
            }
            EventType::TaskFailed | EventType::SubOrchestrationInstanceFailed => {
                self.complete_task(event.task_scheduled_id, State::Failed)?
            }
            EventType::TimerFired => self.complete_task(event.timer_id, State::Succeeded)?,
            EventType::EventRaised => {
                let name = event.name.clone().unwrap_or_default();
                match self.waiters.get_mut(&name).and_then(VecDeque::pop_front) {
                    Some(leaf) => {
                        self.resolve(leaf, State::Succeeded);
                        self.run_program()?;
                    }
                    None => *self.buffered.entry(name).or_default() += 1,
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn confirm(&mut self, event: &HistoryEvent) -> Result<(), ReplayError> {
        let task_id = event.event_id;
        let Some(scheduled) = self.unconfirmed.get(&task_id) else {
            return Err(ReplayError::MissingAction { task_id, history: describe_history_event(event) });
        };
        if !scheduled.matches(event) {
            return Err(ReplayError::NonDeterministic {
                task_id,
                history: describe_history_event(event),
                actions: scheduled.describe(),
            });
        }
        self.unconfirmed.remove(&task_id);
        // An entity call waits for the response named by the request id the history recorded.
        if event.event_type == EventType::EventSent
            && let Some(leaf) = self.entity_call_leaves.remove(&task_id)
        {
            let request_id = event
                .input
                .as_deref()
                .and_then(|text| serde_json::from_str::<EntityRequest>(text).ok())
                .map(|r| r.id)
                .unwrap_or_default();
            self.await_event(leaf, request_id);
            self.run_program()?;
        }
        Ok(())
    }

    fn complete_task(&mut self, task_id: Option<i64>, state: State) -> Result<(), ReplayError> {
        // Completions for ids nobody waits on are duplicates (activities run at least once).
        if let Some(leaf) = task_id.and_then(|id| self.by_task_id.remove(&id)) {
            self.resolve(leaf, state);
            self.run_program()?;
        }
        Ok(())
    }

    fn new_node(&mut self, kind: NodeKind, parent: Option<usize>) -> usize {
        self.nodes.push(Node { kind, state: State::Pending, parent });
        self.nodes.len() - 1
    }

    fn schedule(&mut self, scheduled: Scheduled, parent: Option<usize>) -> (i64, usize) {
        let task_id = self.next_task_id;
        self.next_task_id += 1;
        self.unconfirmed.insert(task_id, scheduled);
        let leaf = self.new_node(NodeKind::Leaf, parent);
        self.by_task_id.insert(task_id, leaf);
        (task_id, leaf)
    }

    fn await_event(&mut self, leaf: usize, name: String) {
        match self.buffered.get_mut(&name) {
            Some(count) if *count > 0 => {
                *count -= 1;
                self.resolve(leaf, State::Succeeded);
            }
            _ => self.waiters.entry(name).or_default().push_back(leaf),
        }
    }

    /// Sets a node's state and lets its parents react.
    fn resolve(&mut self, node: usize, state: State) {
        if self.nodes[node].state != State::Pending {
            return;
        }
        self.nodes[node].state = state;
        let Some(parent) = self.nodes[node].parent else { return };
        if self.nodes[parent].state != State::Pending {
            return;
        }
        match &self.nodes[parent].kind {
            NodeKind::All(children) => {
                let states: Vec<State> = children.iter().map(|c| self.nodes[*c].state).collect();
                if states.iter().all(|s| *s != State::Pending) {
                    let all_ok = states.iter().all(|s| *s == State::Succeeded);
                    self.resolve(parent, if all_ok { State::Succeeded } else { State::Failed });
                }
            }
            NodeKind::Any => self.resolve(parent, State::Succeeded),
            NodeKind::Retry { .. } => self.retry_child_done(parent, state),
            NodeKind::Leaf | NodeKind::Immediate => {}
        }
    }

    fn retry_child_done(&mut self, retry: usize, child_state: State) {
        let NodeKind::Retry { action, options, attempt, waiting_on_timer, index } =
            &mut self.nodes[retry].kind
        else {
            return;
        };
        if *waiting_on_timer {
            *waiting_on_timer = false;
            // As the Durable Task Framework does, the attempt count is checked after the timer
            // that follows the last failure has fired.
            if *attempt >= options.max_number_of_attempts {
                self.resolve(retry, State::Failed);
                return;
            }
            *attempt += 1;
            let (action, index) = (action.as_ref().clone(), *index);
            if let Err(error) = self.schedule_call(&action, index, Some(retry)) {
                self.error.get_or_insert(error);
            }
            return;
        }
        if child_state == State::Succeeded {
            self.resolve(retry, State::Succeeded);
            return;
        }
        let delay = options.delay_before_retry(*attempt);
        *waiting_on_timer = true;
        let fire_at = self.now + chrono::Duration::from_std(delay).unwrap_or_default();
        self.schedule(Scheduled::Timer { fire_at }, Some(retry));
    }

    /// Schedules one attempt of an activity or sub-orchestrator call.
    fn schedule_call(
        &mut self,
        action: &Action,
        index: usize,
        parent: Option<usize>,
    ) -> Result<usize, ReplayError> {
        let name = required_name(action, index)?;
        // As the extension does, the action's input (JSON text from the Python library, a value
        // from Node's) is serialized for the history; the activity gets it back parsed once.
        let input = action.input.as_ref().map(Value::to_string);
        let scheduled = match action.action_type {
            ActionType::CallActivity | ActionType::CallActivityWithRetry => {
                Scheduled::Activity { name, input }
            }
            _ => Scheduled::SubOrchestration { name, instance_id: action.instance_id.clone(), input },
        };
        Ok(self.schedule(scheduled, parent).1)
    }

    /// Turns one action into a task node (scheduling what it schedules).
    fn invoke(&mut self, action: &Action, index: usize, parent: Option<usize>) -> Result<usize, ReplayError> {
        match action.action_type {
            ActionType::CallActivity | ActionType::CallSubOrchestrator => {
                self.schedule_call(action, index, parent)
            }
            ActionType::CallActivityWithRetry | ActionType::CallSubOrchestratorWithRetry => {
                let Some(options) = action.retry_options.clone() else {
                    return Err(invalid(action, index, "a retrying call needs `retryOptions`"));
                };
                if options.max_number_of_attempts == 0 {
                    return Err(invalid(
                        action,
                        index,
                        "`retryOptions.maxNumberOfAttempts` must be at least 1",
                    ));
                }
                let retry = self.new_node(
                    NodeKind::Retry {
                        action: Box::new(action.clone()),
                        options,
                        attempt: 1,
                        waiting_on_timer: false,
                        index,
                    },
                    parent,
                );
                self.schedule_call(action, index, Some(retry))?;
                Ok(retry)
            }
            ActionType::CreateTimer => {
                let Some(fire_at) = action.fire_at else {
                    return Err(invalid(action, index, "a timer needs `fireAt`"));
                };
                Ok(self.schedule(Scheduled::Timer { fire_at }, parent).1)
            }
            ActionType::WaitForExternalEvent => {
                let Some(name) = action.external_event_name.clone() else {
                    return Err(invalid(action, index, "waiting for an event needs `externalEventName`"));
                };
                let leaf = self.new_node(NodeKind::Leaf, parent);
                self.await_event(leaf, name);
                Ok(leaf)
            }
            ActionType::CallEntity | ActionType::SignalEntity | ActionType::ScheduledSignalEntity => {
                let entity =
                    action.instance_id.as_deref().and_then(EntityId::from_scheduler_id).ok_or_else(|| {
                        invalid(action, index, "`instanceId` must be an entity id `@name@key`")
                    })?;
                let Some(op) = action.operation.clone() else {
                    return Err(invalid(action, index, "an entity operation needs `operation`"));
                };
                let signal = action.action_type != ActionType::CallEntity;
                let request = EntityRequest {
                    id: uuid::Uuid::new_v4().to_string(),
                    op,
                    // Serialized once more for the entity, as for an activity.
                    input: action.input.as_ref().map(Value::to_string),
                    signal,
                    parent: (!signal).then(|| self.instance_id.to_string()),
                };
                let fire_at = if action.action_type == ActionType::ScheduledSignalEntity {
                    action.fire_at
                } else {
                    None
                };
                let (task_id, leaf) = self.schedule(Scheduled::Entity { entity, request, fire_at }, parent);
                self.by_task_id.remove(&task_id);
                if signal {
                    self.nodes[leaf].kind = NodeKind::Immediate;
                    self.resolve(leaf, State::Succeeded);
                } else {
                    self.entity_call_leaves.insert(task_id, leaf);
                }
                Ok(leaf)
            }
            ActionType::ContinueAsNew => {
                let node = self.new_node(NodeKind::Immediate, parent);
                self.resolve(node, State::Succeeded);
                Ok(node)
            }
            ActionType::CallHttp => Err(ReplayError::Unsupported {
                action: "CallHttp (8)".into(),
                why: "durable HTTP calls are not implemented; call the endpoint from an activity instead"
                    .into(),
            }),
            ActionType::WhenAll | ActionType::WhenAny => {
                let children = action.compound_actions.as_deref().unwrap_or_default();
                // Children are built unattached, so one that completes at once cannot settle
                // the compound before its other children exist.
                let mut ids = Vec::with_capacity(children.len());
                for child in children {
                    ids.push(self.invoke(child, index, None)?);
                }
                let all = action.action_type == ActionType::WhenAll;
                let kind = if all { NodeKind::All(ids.clone()) } else { NodeKind::Any };
                let node = self.new_node(kind, parent);
                for child in &ids {
                    self.nodes[*child].parent = Some(node);
                }
                self.settle_compound(node, &ids, all);
                Ok(node)
            }
        }
    }

    /// A compound whose children completed while it was being built.
    fn settle_compound(&mut self, node: usize, children: &[usize], all: bool) {
        let states: Vec<State> = children.iter().map(|c| self.nodes[*c].state).collect();
        if all && states.iter().all(|s| *s != State::Pending) {
            let ok = states.iter().all(|s| *s == State::Succeeded);
            self.resolve(node, if ok { State::Succeeded } else { State::Failed });
        } else if !all && states.iter().any(|s| *s != State::Pending) {
            self.resolve(node, State::Succeeded);
        }
    }

    /// Runs the program until it waits on a pending task or ends.
    fn run_program(&mut self) -> Result<(), ReplayError> {
        loop {
            let awaiting = match &self.program {
                Program::Grouped { awaiting, .. } | Program::Sequential { awaiting, .. } => *awaiting,
            };
            if let Some(node) = awaiting
                && self.nodes[node].state == State::Pending
            {
                return Ok(());
            }
            match &mut self.program {
                Program::Sequential { actions, next, .. } => {
                    let Some(action) = actions.get(*next) else { return Ok(()) };
                    let index = *next;
                    *next += 1;
                    let node = self.invoke(action, index, None)?;
                    if let Program::Sequential { awaiting, .. } = &mut self.program {
                        *awaiting = Some(node);
                    }
                }
                Program::Grouped { groups, next, .. } => {
                    let Some(group) = groups.get(*next) else { return Ok(()) };
                    let index = *next;
                    *next += 1;
                    let mut awaited = Vec::new();
                    for action in group {
                        let node = self.invoke(action, index, None)?;
                        // Fire-and-forget actions are not awaited in this schema.
                        if !matches!(self.nodes[node].kind, NodeKind::Immediate) {
                            awaited.push(node);
                        }
                    }
                    let waits = !awaited.is_empty();
                    let any = self.new_node(NodeKind::Any, None);
                    for node in &awaited {
                        self.nodes[*node].parent = Some(any);
                    }
                    if waits {
                        self.settle_compound(any, &awaited, false);
                    }
                    if let Program::Grouped { awaiting, .. } = &mut self.program {
                        *awaiting = waits.then_some(any);
                    }
                }
            }
        }
    }
}

fn required_name(action: &Action, index: usize) -> Result<String, ReplayError> {
    action.function_name.clone().ok_or_else(|| invalid(action, index, "a call needs `functionName`"))
}

fn invalid(action: &Action, index: usize, problem: &str) -> ReplayError {
    ReplayError::InvalidAction {
        index,
        action: format!("{} ({})", action.action_type.name(), action.action_type as u8),
        problem: problem.to_string(),
    }
}

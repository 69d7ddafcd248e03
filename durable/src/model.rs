//! The JSON the durable extension and the out-of-process libraries exchange, as serde types.
//!
//! Field names and numbers are those of the Durable Task Framework and the official libraries
//! (`azure-functions-durable`, `durable-functions`); `PROTOCOL.md` describes each shape.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;

/// Timestamps go out the way .NET writes UTC times (`2024-05-01T10:00:00.1234567Z` there; we
/// write microseconds), which every library's date parser reads.
pub mod iso_time {
    use super::*;

    pub fn format(time: &DateTime<Utc>) -> String {
        time.to_rfc3339_opts(SecondsFormat::Micros, true)
    }

    pub fn serialize<S: Serializer>(time: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format(time))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        parse(&text).map_err(serde::de::Error::custom)
    }

    /// Reads an ISO-8601 time; a time without a zone is UTC, as the libraries mean it.
    pub fn parse(text: &str) -> Result<DateTime<Utc>, String> {
        if let Ok(t) = DateTime::parse_from_rfc3339(text) {
            return Ok(t.with_timezone(&Utc));
        }
        chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%dT%H:%M:%S%.f")
            .map(|t| t.and_utc())
            .map_err(|e| format!("`{text}` is not an ISO-8601 time ({e})"))
    }
}

mod iso_time_opt {
    use super::*;

    pub fn serialize<S: Serializer>(time: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match time {
            Some(t) => iso_time::serialize(t, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        match Option::<String>::deserialize(d)? {
            Some(text) => iso_time::parse(&text).map(Some).map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

/// `EventType` numbers of the Durable Task Framework's history events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "u8", into = "u8")]
pub enum EventType {
    ExecutionStarted = 0,
    ExecutionCompleted = 1,
    ExecutionFailed = 2,
    ExecutionTerminated = 3,
    TaskScheduled = 4,
    TaskCompleted = 5,
    TaskFailed = 6,
    SubOrchestrationInstanceCreated = 7,
    SubOrchestrationInstanceCompleted = 8,
    SubOrchestrationInstanceFailed = 9,
    TimerCreated = 10,
    TimerFired = 11,
    OrchestratorStarted = 12,
    OrchestratorCompleted = 13,
    EventSent = 14,
    EventRaised = 15,
    ContinueAsNew = 16,
    GenericEvent = 17,
    HistoryState = 18,
    ExecutionSuspended = 19,
    ExecutionResumed = 20,
}

const EVENT_TYPES: [EventType; 21] = [
    EventType::ExecutionStarted,
    EventType::ExecutionCompleted,
    EventType::ExecutionFailed,
    EventType::ExecutionTerminated,
    EventType::TaskScheduled,
    EventType::TaskCompleted,
    EventType::TaskFailed,
    EventType::SubOrchestrationInstanceCreated,
    EventType::SubOrchestrationInstanceCompleted,
    EventType::SubOrchestrationInstanceFailed,
    EventType::TimerCreated,
    EventType::TimerFired,
    EventType::OrchestratorStarted,
    EventType::OrchestratorCompleted,
    EventType::EventSent,
    EventType::EventRaised,
    EventType::ContinueAsNew,
    EventType::GenericEvent,
    EventType::HistoryState,
    EventType::ExecutionSuspended,
    EventType::ExecutionResumed,
];

impl TryFrom<u8> for EventType {
    type Error = String;
    fn try_from(n: u8) -> Result<Self, String> {
        EVENT_TYPES
            .get(usize::from(n))
            .copied()
            .ok_or_else(|| format!("unknown history EventType {n} (known: 0..=20)"))
    }
}

impl From<EventType> for u8 {
    fn from(t: EventType) -> u8 {
        t as u8
    }
}

impl EventType {
    /// The name the HTTP API's `historyEvents` shows (`"TaskCompleted"`…).
    pub fn name(self) -> &'static str {
        match self {
            EventType::ExecutionStarted => "ExecutionStarted",
            EventType::ExecutionCompleted => "ExecutionCompleted",
            EventType::ExecutionFailed => "ExecutionFailed",
            EventType::ExecutionTerminated => "ExecutionTerminated",
            EventType::TaskScheduled => "TaskScheduled",
            EventType::TaskCompleted => "TaskCompleted",
            EventType::TaskFailed => "TaskFailed",
            EventType::SubOrchestrationInstanceCreated => "SubOrchestrationInstanceCreated",
            EventType::SubOrchestrationInstanceCompleted => "SubOrchestrationInstanceCompleted",
            EventType::SubOrchestrationInstanceFailed => "SubOrchestrationInstanceFailed",
            EventType::TimerCreated => "TimerCreated",
            EventType::TimerFired => "TimerFired",
            EventType::OrchestratorStarted => "OrchestratorStarted",
            EventType::OrchestratorCompleted => "OrchestratorCompleted",
            EventType::EventSent => "EventSent",
            EventType::EventRaised => "EventRaised",
            EventType::ContinueAsNew => "ContinueAsNew",
            EventType::GenericEvent => "GenericEvent",
            EventType::HistoryState => "HistoryState",
            EventType::ExecutionSuspended => "ExecutionSuspended",
            EventType::ExecutionResumed => "ExecutionResumed",
        }
    }
}

/// One history event as the orchestration trigger input carries it (PascalCase, as the Durable
/// Task Framework serializes them). Payloads (`Input`, `Result`) are JSON text in a string.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct HistoryEvent {
    pub event_type: EventType,
    /// The task id for scheduling events (TaskScheduled, TimerCreated, …); -1 otherwise.
    pub event_id: i64,
    pub is_played: bool,
    #[serde(with = "iso_time")]
    pub timestamp: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `ExecutionStarted` carries the orchestrator's version; the Python library requires it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_scheduled_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "iso_time_opt")]
    pub fire_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timer_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub orchestration_status: Option<String>,
}

impl HistoryEvent {
    /// An event of `event_type` with no payload, `EventId` -1, not yet played.
    pub fn new(event_type: EventType, timestamp: DateTime<Utc>) -> HistoryEvent {
        HistoryEvent {
            event_type,
            event_id: -1,
            is_played: false,
            timestamp,
            name: None,
            version: None,
            input: None,
            result: None,
            task_scheduled_id: None,
            fire_at: None,
            timer_id: None,
            instance_id: None,
            reason: None,
            details: None,
            orchestration_status: None,
        }
    }
}

/// The orchestration trigger's value: what the extension hands the orchestrator function.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrchestrationTriggerInput {
    pub history: Vec<HistoryEvent>,
    /// The stored input parsed once, as the extension hands it over. Inputs that came from a
    /// library are JSON text inside a JSON string (the clients encode twice), which is what
    /// the libraries' `get_input()` parses.
    pub input: Value,
    pub instance_id: String,
    pub is_replaying: bool,
    pub parent_instance_id: Option<String>,
    /// 1 = `ReplaySchema.V2` (flat action list), the highest the 1.x libraries know under this key.
    pub upper_schema_version: u8,
    /// 2 = `ReplaySchema.V3` (long timers split by the library).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upper_schema_version_new: Option<u8>,
    /// .NET `TimeSpan` text (`d.hh:mm:ss`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub long_running_timer_interval_duration: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_short_timer_duration: Option<String>,
    /// Spelled as the extension spells it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_http_async_request_sleep_time_millseconds: Option<u64>,
}

/// Action type numbers of the out-of-process orchestrator answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ActionType {
    CallActivity = 0,
    CallActivityWithRetry = 1,
    CallSubOrchestrator = 2,
    CallSubOrchestratorWithRetry = 3,
    ContinueAsNew = 4,
    CreateTimer = 5,
    WaitForExternalEvent = 6,
    CallEntity = 7,
    CallHttp = 8,
    SignalEntity = 9,
    ScheduledSignalEntity = 10,
    WhenAny = 11,
    WhenAll = 12,
}

const ACTION_TYPES: [(ActionType, &str); 13] = [
    (ActionType::CallActivity, "CallActivity"),
    (ActionType::CallActivityWithRetry, "CallActivityWithRetry"),
    (ActionType::CallSubOrchestrator, "CallSubOrchestrator"),
    (ActionType::CallSubOrchestratorWithRetry, "CallSubOrchestratorWithRetry"),
    (ActionType::ContinueAsNew, "ContinueAsNew"),
    (ActionType::CreateTimer, "CreateTimer"),
    (ActionType::WaitForExternalEvent, "WaitForExternalEvent"),
    (ActionType::CallEntity, "CallEntity"),
    (ActionType::CallHttp, "CallHttp"),
    (ActionType::SignalEntity, "SignalEntity"),
    (ActionType::ScheduledSignalEntity, "ScheduledSignalEntity"),
    (ActionType::WhenAny, "WhenAny"),
    (ActionType::WhenAll, "WhenAll"),
];

impl ActionType {
    pub fn name(self) -> &'static str {
        ACTION_TYPES[self as usize].1
    }
}

impl Serialize for ActionType {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u8(*self as u8)
    }
}

/// The extension reads action types with a string-enum converter, so both the number and the
/// name are accepted.
impl<'de> Deserialize<'de> for ActionType {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = Value::deserialize(d)?;
        let found = match &value {
            Value::Number(n) => n.as_u64().and_then(|n| ACTION_TYPES.get(n as usize)).map(|(t, _)| *t),
            Value::String(s) => {
                ACTION_TYPES.iter().find(|(_, name)| name.eq_ignore_ascii_case(s)).map(|(t, _)| *t)
            }
            _ => None,
        };
        found.ok_or_else(|| {
            serde::de::Error::custom(format!("unknown actionType {value} (known: 0..=12 or their names)"))
        })
    }
}

/// `retryOptions` of the `…WithRetry` actions. The Python library sends only the first two.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetryOptions {
    pub first_retry_interval_in_milliseconds: u64,
    pub max_number_of_attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backoff_coefficient: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_retry_interval_in_milliseconds: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_timeout_in_milliseconds: Option<u64>,
}

impl RetryOptions {
    /// The delay before retry number `attempt` (1 = the first retry), as the Durable Task
    /// Framework computes it: first interval × coefficient^(attempt-1), capped.
    pub fn delay_before_retry(&self, attempt: u32) -> std::time::Duration {
        let coefficient = self.backoff_coefficient.unwrap_or(1.0).max(1.0);
        let exponent = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let mut millis = self.first_retry_interval_in_milliseconds as f64 * coefficient.powi(exponent);
        if let Some(cap) = self.max_retry_interval_in_milliseconds {
            millis = millis.min(cap as f64);
        }
        // Bounded to a year so a huge coefficient cannot overflow the timer's time.
        std::time::Duration::from_millis(millis.clamp(0.0, 365.0 * 86_400_000.0) as u64)
    }
}

/// One action of an orchestrator answer. Which fields are set depends on `actionType`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    pub action_type: ActionType,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_name: Option<String>,
    /// Activity and sub-orchestrator inputs arrive as JSON text from the Python library and as
    /// plain JSON from the Node library; both are kept as the JSON value they are.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compound_actions: Option<Vec<Action>>,
    #[serde(default, skip_serializing_if = "Option::is_none", with = "iso_time_opt")]
    pub fire_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_event_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_canceled: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_options: Option<RetryOptions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_request: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

/// The orchestrator function's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrchestratorState {
    #[serde(default)]
    pub is_done: bool,
    /// Schema 0 (V1): one inner list per yield. Schema 1 and 2: one inner list holding the flat
    /// list of actions (the libraries keep the outer list for compatibility).
    #[serde(default)]
    pub actions: Vec<Vec<Action>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_status: Option<Value>,
    #[serde(default, deserialize_with = "schema_version", skip_serializing_if = "is_zero")]
    pub schema_version: u8,
}

fn is_zero(n: &u8) -> bool {
    *n == 0
}

/// The extension reads `schemaVersion` with a string-enum converter too.
fn schema_version<'de, D: Deserializer<'de>>(d: D) -> Result<u8, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(0),
        Value::Number(n) => n
            .as_u64()
            .and_then(|n| u8::try_from(n).ok())
            .ok_or_else(|| serde::de::Error::custom("schemaVersion out of range")),
        Value::String(s) => match s.as_str() {
            "Original" | "V1" => Ok(0),
            "ReplayPatchV1" | "V2" => Ok(1),
            "V3" => Ok(2),
            other => other
                .parse()
                .map_err(|_| serde::de::Error::custom(format!("unknown schemaVersion `{other}`"))),
        },
        other => Err(serde::de::Error::custom(format!("schemaVersion must be a number, got {other}"))),
    }
}

/// The marker a failed orchestrator puts between its error message and its state.
pub const OUT_OF_PROC_DATA_MARKER: &str = "$OutOfProcData$:";

/// Reads the orchestrator's state from a failed invocation's exception message
/// (`"<message>\n\n$OutOfProcData$:<OrchestratorState JSON>"`), if it carries one.
pub fn state_from_failure_message(message: &str) -> Option<Result<OrchestratorState, serde_json::Error>> {
    let at = message.find(OUT_OF_PROC_DATA_MARKER)?;
    Some(serde_json::from_str(&message[at + OUT_OF_PROC_DATA_MARKER.len()..]))
}

/// Reads an orchestrator function's return value: a JSON object, or JSON text holding one (the
/// Python library returns a string).
pub fn parse_orchestrator_state(value: &Value) -> Result<OrchestratorState, String> {
    let parsed = match value {
        Value::String(text) => serde_json::from_str(text),
        other => serde_json::from_value(other.clone()),
    };
    parsed.map_err(|e| format!("the orchestrator's answer is not an OrchestratorState ({e})"))
}

/// An entity id as the scheduler writes it: `@<name>@<key>`, the name lower-cased.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct EntityId {
    pub name: String,
    pub key: String,
}

impl EntityId {
    pub fn new(name: &str, key: &str) -> EntityId {
        EntityId { name: name.to_lowercase(), key: key.to_string() }
    }

    pub fn scheduler_id(&self) -> String {
        format!("@{}@{}", self.name, self.key)
    }

    pub fn from_scheduler_id(text: &str) -> Option<EntityId> {
        let rest = text.strip_prefix('@')?;
        let (name, key) = rest.split_once('@')?;
        Some(EntityId::new(name, key))
    }
}

/// The request an orchestration or client sends an entity (`EventSent`'s `Input`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EntityRequest {
    pub id: String,
    pub op: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<String>,
    #[serde(default)]
    pub signal: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<String>,
}

/// The entity's answer to a call, delivered to the caller as an `EventRaised` named by the
/// request id. `exceptionType` present means the operation failed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityResponse {
    pub result: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception_type: Option<String>,
}

/// The entity trigger's value: the entity's state and a batch of operations.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EntityBatchInput {
    #[serde(rename = "self")]
    pub entity: EntityRef,
    pub exists: bool,
    pub state: Option<String>,
    pub batch: Vec<EntityOperation>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EntityRef {
    pub name: String,
    pub key: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityOperation {
    pub name: String,
    pub input: Option<String>,
    pub is_signal: bool,
}

/// The entity function's answer.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityBatchOutput {
    pub entity_exists: bool,
    pub entity_state: Option<String>,
    pub results: Vec<EntityOperationResult>,
    #[serde(default)]
    pub signals: Vec<Value>,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityOperationResult {
    pub is_error: bool,
    pub result: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<f64>,
}

/// Runtime status names of the HTTP API and the status JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RuntimeStatus {
    Pending,
    Running,
    Completed,
    ContinuedAsNew,
    Failed,
    Terminated,
    Suspended,
}

const RUNTIME_STATUSES: [(RuntimeStatus, &str); 7] = [
    (RuntimeStatus::Pending, "Pending"),
    (RuntimeStatus::Running, "Running"),
    (RuntimeStatus::Completed, "Completed"),
    (RuntimeStatus::ContinuedAsNew, "ContinuedAsNew"),
    (RuntimeStatus::Failed, "Failed"),
    (RuntimeStatus::Terminated, "Terminated"),
    (RuntimeStatus::Suspended, "Suspended"),
];

impl RuntimeStatus {
    pub fn as_str(self) -> &'static str {
        RUNTIME_STATUSES[self as usize].1
    }

    /// Case-insensitive, as the HTTP API's `runtimeStatus` filter is.
    pub fn parse(text: &str) -> Option<RuntimeStatus> {
        RUNTIME_STATUSES.iter().find(|(_, n)| n.eq_ignore_ascii_case(text.trim())).map(|(s, _)| *s)
    }

    /// Completed, Failed and Terminated instances run no more.
    pub fn is_terminal(self) -> bool {
        matches!(self, RuntimeStatus::Completed | RuntimeStatus::Failed | RuntimeStatus::Terminated)
    }
}

impl Serialize for RuntimeStatus {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for RuntimeStatus {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        RuntimeStatus::parse(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown runtimeStatus `{text}`")))
    }
}

/// Turns a payload the libraries send as JSON text back into JSON where possible (status
/// output, custom status), and keeps other text as a JSON string.
pub fn json_text_to_value(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

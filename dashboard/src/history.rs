//! The invocation history: a ring of the last N invocations per function, each with what its
//! trigger sent, what it answered and the log lines its worker wrote, plus a live feed of what
//! changes. Memory stays flat: rings, log lines per invocation and rendered values are all
//! bounded.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, SecondsFormat, Utc};
use fnwire_observe::{InvocationFinished, InvocationObserver, InvocationStarted, Outcome, WorkerLog};
use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use crate::render::{self, KeptRequest, KeptResponse};

/// How many invocations per function the history keeps when nothing says otherwise.
pub const DEFAULT_HISTORY_PER_FUNCTION: usize = 100;
/// The most a configuration may ask for: beyond it one busy function alone could hold
/// hundreds of megabytes of rendered inputs.
pub const MAX_HISTORY_PER_FUNCTION: usize = 10_000;
/// Log lines kept per invocation; later ones are counted, not kept.
pub const MAX_LOGS_PER_INVOCATION: usize = 200;
/// Characters kept of one log line.
const MAX_LOG_CHARS: usize = 4096;
/// Live events a slow page may fall behind before it misses some.
const LIVE_BACKLOG: usize = 1024;

/// One worker log line of an invocation.
#[derive(Debug, Clone, Serialize)]
pub struct LogLine {
    pub at: String,
    pub level: &'static str,
    pub worker: String,
    /// True for the function's own logs, false for the worker runtime's.
    pub user: bool,
    pub message: String,
}

/// One invocation as the dashboard keeps it.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InvocationRecord {
    pub id: String,
    pub function: String,
    pub reason: String,
    /// Formatted only when a summary is made (a page asks): formatting it for every invocation
    /// was a visible part of the host's instructions per request.
    #[serde(rename = "startedAt", serialize_with = "serialize_timestamp")]
    pub started: SystemTime,
    /// `Running` until it ends, then the pipeline's outcome.
    pub outcome: &'static str,
    pub duration_ms: Option<f64>,
    pub error: Option<String>,
    /// The workers that wrote its log lines (empty until one does).
    pub workers: Vec<String>,
    #[serde(skip)]
    duration: Option<Duration>,
    /// What the trigger sent and the worker answered, rendered only when a page asks.
    #[serde(skip)]
    trigger: KeptRequest,
    #[serde(skip)]
    outputs: Option<KeptResponse>,
    #[serde(skip)]
    logs: Vec<LogLine>,
    #[serde(skip)]
    logs_dropped: usize,
}

impl InvocationRecord {
    /// The summary the lists and the live feed show.
    pub fn summary(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Everything: the summary plus trigger data, outputs and log lines.
    pub fn detail(&self) -> Value {
        let mut detail = self.summary();
        detail["trigger"] = self.trigger.render();
        detail["outputs"] = self.outputs.as_ref().map_or(Value::Null, KeptResponse::render);
        detail["logs"] = serde_json::to_value(&self.logs).unwrap_or(Value::Null);
        detail["logsDropped"] = json!(self.logs_dropped);
        detail
    }

    /// Whether `needle` (lower-case) appears in its name, id, error, log lines or data.
    fn contains(&self, needle: &str) -> bool {
        let hit = |text: &str| text.to_lowercase().contains(needle);
        hit(&self.function)
            || hit(&self.id)
            || hit(&self.reason)
            || self.error.as_deref().is_some_and(hit)
            || self.logs.iter().any(|l| hit(&l.message))
            || hit(&self.trigger.render().to_string())
            || hit(&self.outputs.as_ref().map_or(Value::Null, KeptResponse::render).to_string())
    }
}

/// What to list: each part narrows the list; none given lists everything kept.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InvocationFilter {
    pub function: Option<String>,
    /// `Running`, `Succeeded`, `Failed`, `Cancelled` or `NotRun` (any letter case).
    pub outcome: Option<String>,
    /// Text to find in the name, id, error, logs, trigger data or outputs (any letter case).
    pub text: Option<String>,
}

impl InvocationFilter {
    pub fn matches(&self, record: &InvocationRecord) -> bool {
        self.function.as_deref().is_none_or(|f| f == record.function)
            && self.outcome.as_deref().is_none_or(|o| o.eq_ignore_ascii_case(record.outcome))
            && self.text.as_deref().is_none_or(|t| t.is_empty() || record.contains(&t.to_lowercase()))
    }
}

/// A change the live feed reports.
#[derive(Debug, Clone)]
pub struct LiveEvent {
    /// `started`, `finished` or `log`.
    pub kind: &'static str,
    pub function: String,
    /// The invocation's outcome when the event happened (`Running` until it ends).
    pub outcome: &'static str,
    /// The invocation's summary (for `log`: the line, with `invocationId` and `function`).
    pub data: Value,
}

impl LiveEvent {
    /// Whether the feed filtered by `filter` shows it; text is looked for in what the event
    /// carries (the summary or the log line).
    pub fn matches(&self, filter: &InvocationFilter) -> bool {
        filter.function.as_deref().is_none_or(|f| f == self.function)
            && filter.outcome.as_deref().is_none_or(|o| o.eq_ignore_ascii_case(self.outcome))
            && filter.text.as_deref().is_none_or(|t| {
                t.is_empty() || self.data.to_string().to_lowercase().contains(&t.to_lowercase())
            })
    }
}

/// Per-function counts since the host started (the ring only keeps the last N).
#[derive(Debug, Default, Clone, Copy)]
struct Counts {
    invocations: u64,
    failures: u64,
    last_started: Option<SystemTime>,
}

#[derive(Debug, Default)]
struct State {
    rings: HashMap<String, VecDeque<InvocationRecord>>,
    counts: HashMap<String, Counts>,
    /// Invocation id → function, for the invocations the rings hold.
    owners: HashMap<String, String>,
}

impl State {
    fn find_mut(&mut self, id: &str) -> Option<&mut InvocationRecord> {
        let function = self.owners.get(id)?;
        self.rings.get_mut(function)?.iter_mut().rev().find(|r| r.id == id)
    }
}

/// Per-function statistics.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionStats {
    /// Invocations started since the host started.
    pub invocations: u64,
    /// Of those, the ones that ended `Failed`.
    pub failures: u64,
    /// Duration percentiles over the finished invocations the history still keeps.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    pub last_started_at: Option<String>,
}

/// The history one host keeps; it observes the host's invocation pipeline.
#[derive(Debug)]
pub struct History {
    per_function: usize,
    state: Mutex<State>,
    live: broadcast::Sender<LiveEvent>,
}

pub(crate) fn timestamp(t: SystemTime) -> String {
    DateTime::<Utc>::from(t).to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn serialize_timestamp<S: serde::Serializer>(t: &SystemTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&timestamp(*t))
}

fn millis(d: Duration) -> f64 {
    (d.as_secs_f64() * 1_000_000.0).round() / 1000.0
}

impl History {
    /// A history keeping the last `per_function` invocations of each function (at least 1, at
    /// most [`MAX_HISTORY_PER_FUNCTION`]).
    pub fn new(per_function: usize) -> Arc<History> {
        Arc::new(History {
            per_function: per_function.clamp(1, MAX_HISTORY_PER_FUNCTION),
            state: Mutex::default(),
            live: broadcast::channel(LIVE_BACKLOG).0,
        })
    }

    pub fn per_function(&self) -> usize {
        self.per_function
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Every change from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.live.subscribe()
    }

    /// Whether a page follows the live feed (what [`History::publish`] sends is wanted).
    fn watched(&self) -> bool {
        self.live.receiver_count() > 0
    }

    fn publish(
        &self,
        kind: &'static str,
        function: &str,
        outcome: &'static str,
        data: impl FnOnce() -> Value,
    ) {
        if self.live.receiver_count() > 0 {
            let _ = self.live.send(LiveEvent { kind, function: function.to_string(), outcome, data: data() });
        }
    }

    /// Keeps attaching worker log lines to their invocations until the history is dropped.
    pub fn follow_worker_logs(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        let weak: Weak<History> = Arc::downgrade(self);
        let mut logs = fnwire_observe::worker_logs();
        tokio::spawn(async move {
            loop {
                let line = match logs.recv().await {
                    Ok(line) => line,
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return,
                };
                let Some(history) = weak.upgrade() else { return };
                history.add_log(&line);
            }
        })
    }

    /// Attaches one worker log line to its invocation, if the history still keeps it.
    pub fn add_log(&self, line: &WorkerLog) {
        if line.invocation_id.is_empty() {
            return;
        }
        let mut state = self.state();
        let Some(record) = state.find_mut(&line.invocation_id) else { return };
        if !record.workers.contains(&line.worker_id) {
            record.workers.push(line.worker_id.clone());
        }
        if record.logs.len() >= MAX_LOGS_PER_INVOCATION {
            record.logs_dropped += 1;
            return;
        }
        let log = LogLine {
            at: timestamp(line.at),
            level: line.level.as_str(),
            worker: line.worker_id.clone(),
            user: line.user,
            message: render::shortened(&line.message, MAX_LOG_CHARS),
        };
        if self.live.receiver_count() > 0 {
            let mut data = serde_json::to_value(&log).unwrap_or(Value::Null);
            data["invocationId"] = json!(record.id);
            data["function"] = json!(record.function);
            let (function, outcome) = (record.function.clone(), record.outcome);
            record.logs.push(log);
            drop(state);
            self.publish("log", &function, outcome, || data);
        } else {
            record.logs.push(log);
        }
    }

    /// The invocations kept that match `filter`, newest first, at most `limit`.
    pub fn list(&self, filter: &InvocationFilter, limit: usize) -> Vec<Value> {
        let state = self.state();
        let mut matching: Vec<&InvocationRecord> =
            state.rings.values().flat_map(|ring| ring.iter()).filter(|r| filter.matches(r)).collect();
        matching.sort_by(|a, b| b.started.cmp(&a.started).then_with(|| b.id.cmp(&a.id)));
        matching.into_iter().take(limit).map(InvocationRecord::summary).collect()
    }

    /// One invocation with its data and logs, if the history still keeps it.
    pub fn get(&self, id: &str) -> Option<Value> {
        self.state().find_mut(id).map(|r| r.detail())
    }

    /// How many invocations the history holds in all.
    pub fn len(&self) -> usize {
        self.state().rings.values().map(VecDeque::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Statistics of one function (zeros if it never ran).
    pub fn stats(&self, function: &str) -> FunctionStats {
        let state = self.state();
        let counts = state.counts.get(function).copied().unwrap_or_default();
        let mut durations: Vec<Duration> = state
            .rings
            .get(function)
            .map(|ring| ring.iter().filter_map(|r| r.duration).collect())
            .unwrap_or_default();
        durations.sort_unstable();
        FunctionStats {
            invocations: counts.invocations,
            failures: counts.failures,
            p50_ms: percentile(&durations, 50).map(millis),
            p99_ms: percentile(&durations, 99).map(millis),
            last_started_at: counts.last_started.map(timestamp),
        }
    }
}

/// The nearest-rank percentile of sorted durations.
fn percentile(sorted: &[Duration], p: usize) -> Option<Duration> {
    if sorted.is_empty() {
        return None;
    }
    let rank = (p * sorted.len()).div_ceil(100).max(1);
    sorted.get(rank - 1).copied()
}

impl InvocationObserver for History {
    fn started(&self, event: &InvocationStarted<'_>) {
        let record = InvocationRecord {
            id: event.invocation_id.to_string(),
            function: event.function.to_string(),
            reason: event.reason.to_string(),
            started: event.at,
            outcome: "Running",
            duration_ms: None,
            error: None,
            workers: Vec::new(),
            duration: None,
            trigger: KeptRequest::of(event.request),
            outputs: None,
            logs: Vec::new(),
            logs_dropped: 0,
        };
        // Serialized only for a page watching live: it was a tenth of the host's instructions
        // per HTTP request (callgrind), spent with no page open.
        let summary = self.watched().then(|| (record.summary(), record.function.clone()));
        let mut state = self.state();
        let State { rings, counts, owners } = &mut *state;
        let count = counts.entry(record.function.clone()).or_default();
        count.invocations += 1;
        count.last_started = Some(event.at);
        let ring = rings.entry(record.function.clone()).or_default();
        while ring.len() >= self.per_function {
            if let Some(evicted) = ring.pop_front() {
                owners.remove(&evicted.id);
            }
        }
        owners.insert(record.id.clone(), record.function.clone());
        ring.push_back(record);
        drop(state);
        if let Some((summary, function)) = summary {
            self.publish("started", &function, "Running", || summary);
        }
    }

    fn finished(&self, event: &InvocationFinished<'_>) {
        let mut state = self.state();
        if event.outcome == Outcome::Failed {
            state.counts.entry(event.function.to_string()).or_default().failures += 1;
        }
        let Some(record) = state.find_mut(event.invocation_id) else { return };
        record.outcome = event.outcome.as_str();
        record.error = event.error.map(str::to_string);
        if event.outcome != Outcome::NotRun {
            record.duration = Some(event.duration);
            record.duration_ms = Some(millis(event.duration));
        }
        if let Some(response) = event.response {
            record.outputs = Some(KeptResponse::of(response));
        }
        let summary = self.watched().then(|| record.summary());
        let (function, outcome) = (record.function.clone(), record.outcome);
        drop(state);
        if let Some(summary) = summary {
            self.publish("finished", &function, outcome, || summary);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_take_the_nearest_rank() {
        let ds: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&ds, 50), Some(Duration::from_millis(50)));
        assert_eq!(percentile(&ds, 99), Some(Duration::from_millis(99)));
        assert_eq!(percentile(&ds[..1], 99), Some(Duration::from_millis(1)));
        assert_eq!(percentile(&[], 50), None);
    }
}

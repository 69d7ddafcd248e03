//! The host's Prometheus metrics: an [`InvocationObserver`] that counts what the invocation
//! pipeline reports (store commit latency included), plus what the host reads at scrape time
//! (queue depths, the oldest message's age, poison counts) and
//! the worker restarts the supervisor reports. Rendered in the text exposition format for
//! `GET /admin/metrics`.
//!
//! Label values are function and queue names, which the app declares: their number is bounded by
//! the app, not by traffic.

use std::collections::HashMap;
use std::sync::atomic::AtomicU64;
use std::sync::{Arc, PoisonError, RwLock};
use std::time::Duration;

use fnwire_observe::{InvocationFinished, InvocationObserver, InvocationStarted, Outcome};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::{Registry, Unit};

/// The content type of [`Metrics::render`]'s text: OpenMetrics, the text exposition Prometheus
/// scrapes (counters end in `_total`, the text in `# EOF`).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct FunctionLabels {
    function: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    function: String,
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct QueueLabels {
    queue: String,
}

/// One queue as the store reports it when the metrics are scraped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueDepth {
    pub queue: String,
    /// Messages a reader could take now.
    pub visible: u64,
    /// Messages held by a reader or waiting out a retry delay.
    pub invisible: u64,
    /// How long the oldest live message has been on the queue; `None` when it is empty.
    pub oldest_age: Option<Duration>,
}

/// Every metric the host exposes; one per host, shared by the pipeline (as an observer), the
/// supervisor's event reader and the `/admin/metrics` route.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    invocations: Family<OutcomeLabels, Counter>,
    failures: Family<FunctionLabels, Counter>,
    durations: Family<FunctionLabels, Histogram, fn() -> Histogram>,
    in_flight: Family<FunctionLabels, Gauge>,
    queue_messages: Family<QueueLabels, Gauge>,
    queue_poison_messages: Family<QueueLabels, Gauge>,
    queue_oldest_age: Family<QueueLabels, Gauge<f64, AtomicU64>>,
    store_commits: Histogram,
    worker_restarts: Counter<u64, AtomicU64>,
    /// Each function's series, found by name without building a label set (which allocates) on
    /// every invocation.
    by_function: RwLock<HashMap<String, Arc<FunctionSeries>>>,
}

/// One function's series (handles into the families above: they share the values).
#[derive(Debug)]
struct FunctionSeries {
    /// By `Outcome` (Succeeded, Failed, Cancelled, NotRun).
    ended: [Counter; 4],
    failures: Counter,
    duration: Histogram,
    in_flight: Gauge,
}

const OUTCOMES: [Outcome; 4] = [Outcome::Succeeded, Outcome::Failed, Outcome::Cancelled, Outcome::NotRun];

/// Invocation durations from 1 ms to about 16 min, each bucket twice the one before.
fn duration_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.001, 2.0, 20))
}

/// Store commits from 0.1 ms to about 13 s, each bucket twice the one before.
fn commit_histogram() -> Histogram {
    Histogram::new(exponential_buckets(0.0001, 2.0, 18))
}

/// A queue's poison queue, as Azure names it: `<queue>-poison`.
const POISON_SUFFIX: &str = "-poison";

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("fnwire");
        let invocations = Family::<OutcomeLabels, Counter>::default();
        let failures = Family::<FunctionLabels, Counter>::default();
        let durations = Family::<FunctionLabels, Histogram, fn() -> Histogram>::new_with_constructor(
            duration_histogram as fn() -> Histogram,
        );
        let in_flight = Family::<FunctionLabels, Gauge>::default();
        let queue_messages = Family::<QueueLabels, Gauge>::default();
        let queue_poison_messages = Family::<QueueLabels, Gauge>::default();
        let queue_oldest_age = Family::<QueueLabels, Gauge<f64, AtomicU64>>::default();
        let store_commits = commit_histogram();
        let worker_restarts = Counter::<u64, AtomicU64>::default();
        registry.register(
            "invocations",
            "Invocations that ended, by function and outcome (Succeeded, Failed, Cancelled, NotRun)",
            invocations.clone(),
        );
        registry.register(
            "invocation_failures",
            "Invocations that failed or were cancelled, by function",
            failures.clone(),
        );
        registry.register_with_unit(
            "invocation_duration",
            "Time from the hand-off to the worker to the outputs' delivery, by function",
            Unit::Seconds,
            durations.clone(),
        );
        registry.register(
            "invocations_in_flight",
            "Invocations handed to a worker and not yet ended, by function",
            in_flight.clone(),
        );
        registry.register(
            "queue_messages",
            "Messages on each queue of the app's store (visible and held), at scrape time",
            queue_messages.clone(),
        );
        registry.register(
            "queue_poison_messages",
            "Messages moved to each queue's poison queue (<queue>-poison), at scrape time",
            queue_poison_messages.clone(),
        );
        registry.register_with_unit(
            "queue_oldest_message_age",
            "How long the oldest message on each queue (not poison queues) has waited, at scrape time; \
             absent for an empty queue",
            Unit::Seconds,
            queue_oldest_age.clone(),
        );
        registry.register_with_unit(
            "store_commit_duration",
            "Time the store took to commit an invocation's outputs with its trigger message's completion \
             (one transaction)",
            Unit::Seconds,
            store_commits.clone(),
        );
        registry.register(
            "worker_restarts",
            "Worker processes that stopped unexpectedly and were restarted",
            worker_restarts.clone(),
        );
        Metrics {
            registry,
            invocations,
            failures,
            durations,
            in_flight,
            queue_messages,
            queue_poison_messages,
            queue_oldest_age,
            store_commits,
            worker_restarts,
            by_function: RwLock::default(),
        }
    }

    fn series(&self, function: &str) -> Arc<FunctionSeries> {
        let known = self.by_function.read().unwrap_or_else(PoisonError::into_inner).get(function).cloned();
        if let Some(series) = known {
            return series;
        }
        let labels = FunctionLabels { function: function.to_string() };
        let ended = OUTCOMES.map(|outcome| {
            let labels = OutcomeLabels { function: function.to_string(), outcome: outcome.as_str() };
            self.invocations.get_or_create_owned(&labels)
        });
        let series = Arc::new(FunctionSeries {
            ended,
            failures: self.failures.get_or_create_owned(&labels),
            duration: self.durations.get_or_create_owned(&labels),
            in_flight: self.in_flight.get_or_create_owned(&labels),
        });
        let mut all = self.by_function.write().unwrap_or_else(PoisonError::into_inner);
        all.entry(function.to_string()).or_insert(series).clone()
    }

    /// Counts a worker process that stopped unexpectedly.
    pub fn worker_restarted(&self) {
        self.worker_restarts.inc();
    }

    /// The metrics in the text exposition format, with the queues as `queues` says they are now.
    pub fn render(&self, queues: &[QueueDepth]) -> String {
        // Replaced, not updated: a deleted queue disappears from the next scrape.
        self.queue_messages.clear();
        self.queue_poison_messages.clear();
        self.queue_oldest_age.clear();
        for depth in queues {
            let messages = i64::try_from(depth.visible.saturating_add(depth.invisible)).unwrap_or(i64::MAX);
            match depth.queue.strip_suffix(POISON_SUFFIX) {
                Some(queue) => self
                    .queue_poison_messages
                    .get_or_create(&QueueLabels { queue: queue.to_string() })
                    .set(messages),
                None => {
                    let labels = QueueLabels { queue: depth.queue.clone() };
                    if let Some(age) = depth.oldest_age {
                        self.queue_oldest_age.get_or_create(&labels).set(age.as_secs_f64());
                    }
                    self.queue_messages.get_or_create(&labels).set(messages)
                }
            };
        }
        let mut text = String::new();
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, &self.registry);
        text
    }
}

impl InvocationObserver for Metrics {
    fn started(&self, event: &InvocationStarted<'_>) {
        self.series(event.function).in_flight.inc();
    }

    fn finished(&self, event: &InvocationFinished<'_>) {
        let series = self.series(event.function);
        // Every `finished` follows a `started`, also for inputs that could not be prepared or
        // an invocation no worker took: the gauge goes back down either way.
        series.in_flight.dec();
        if event.outcome != Outcome::NotRun && !event.duration.is_zero() {
            series.duration.observe(event.duration.as_secs_f64());
        }
        if let Some(commit) = event.commit {
            self.store_commits.observe(commit.as_secs_f64());
        }
        if matches!(event.outcome, Outcome::Failed | Outcome::Cancelled) {
            series.failures.inc();
        }
        let index = OUTCOMES.iter().position(|o| *o == event.outcome).unwrap_or(1);
        series.ended[index].inc();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fnwire_protocol::rpc::InvocationRequest;
    use std::time::{Duration, SystemTime};

    fn run(metrics: &Metrics, function: &str, outcome: Outcome, duration: Duration) {
        run_with_commit(metrics, function, outcome, duration, None);
    }

    fn run_with_commit(
        metrics: &Metrics,
        function: &str,
        outcome: Outcome,
        duration: Duration,
        commit: Option<Duration>,
    ) {
        let request = InvocationRequest::default();
        let at = SystemTime::now();
        metrics.started(&InvocationStarted {
            function,
            invocation_id: "1",
            reason: "test",
            at,
            request: &request,
        });
        let error = (outcome != Outcome::Succeeded).then_some("boom");
        metrics.finished(&InvocationFinished {
            function,
            invocation_id: "1",
            outcome,
            error,
            duration,
            response: None,
            worker: None,
            queued: Duration::ZERO,
            commit,
        });
    }

    fn line<'a>(text: &'a str, prefix: &str) -> &'a str {
        text.lines().find(|l| l.starts_with(prefix)).unwrap_or_else(|| panic!("no {prefix} in\n{text}"))
    }

    #[test]
    fn outcomes_failures_durations_and_queues_are_rendered() {
        let metrics = Metrics::new();
        run(&metrics, "hello", Outcome::Succeeded, Duration::from_millis(3));
        run(&metrics, "hello", Outcome::Failed, Duration::from_millis(5));
        run(&metrics, "hello", Outcome::NotRun, Duration::ZERO);
        run_with_commit(
            &metrics,
            "work",
            Outcome::Succeeded,
            Duration::from_millis(4),
            Some(Duration::from_micros(300)),
        );
        metrics.worker_restarted();
        let queues = [
            QueueDepth {
                queue: "orders".into(),
                visible: 2,
                invisible: 1,
                oldest_age: Some(Duration::from_millis(1500)),
            },
            QueueDepth { queue: "orders-poison".into(), visible: 4, invisible: 0, oldest_age: None },
            QueueDepth { queue: "idle".into(), visible: 0, invisible: 0, oldest_age: None },
        ];
        let text = metrics.render(&queues);
        let ended = |outcome: &str| {
            line(&text, &format!("fnwire_invocations_total{{function=\"hello\",outcome=\"{outcome}\"}}"))
                .to_string()
        };
        assert!(
            ended("Succeeded").ends_with(" 1")
                && ended("Failed").ends_with(" 1")
                && ended("NotRun").ends_with(" 1")
        );
        assert!(ended("Cancelled").ends_with(" 0"));
        assert!(line(&text, "fnwire_invocation_failures_total{function=\"hello\"}").ends_with(" 1"));
        // The one that never ran has no duration.
        assert!(line(&text, "fnwire_invocation_duration_seconds_count{function=\"hello\"}").ends_with(" 2"));
        assert!(line(&text, "fnwire_invocations_in_flight{function=\"hello\"}").ends_with(" 0"));
        assert!(line(&text, "fnwire_queue_messages{queue=\"orders\"}").ends_with(" 3"));
        assert!(line(&text, "fnwire_queue_poison_messages{queue=\"orders\"}").ends_with(" 4"));
        assert!(line(&text, "fnwire_queue_oldest_message_age_seconds{queue=\"orders\"}").ends_with(" 1.5"));
        // An empty queue has no oldest message; a poison queue's age is not a reader's backlog.
        assert!(!text.contains("fnwire_queue_oldest_message_age_seconds{queue=\"idle\"}"), "{text}");
        assert!(!text.contains("age_seconds{queue=\"orders-poison\"}"), "{text}");
        // Only the invocation that committed is counted, in the bucket its 0.3 ms falls in.
        assert!(line(&text, "fnwire_store_commit_duration_seconds_count").ends_with(" 1"));
        assert!(line(&text, "fnwire_store_commit_duration_seconds_bucket{le=\"0.0002\"}").ends_with(" 0"));
        assert!(line(&text, "fnwire_store_commit_duration_seconds_bucket{le=\"0.0004\"}").ends_with(" 1"));
        assert!(line(&text, "fnwire_worker_restarts_total").ends_with(" 1"));
        assert!(text.ends_with("# EOF\n"));
        // A queue that is gone leaves the next scrape.
        assert!(!metrics.render(&[]).contains("queue=\"orders\""));
    }
}

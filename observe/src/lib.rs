//! What the host tells its observers about the invocations it runs: the dashboard keeps them,
//! metrics count them, traces export them. The host's one invocation pipeline reports every
//! invocation's start and end to the [`Observers`] it was given; worker log lines, which arrive on
//! each worker's stream reader, go out on one process-wide [`worker_logs`] feed.
//!
//! This crate holds the event types and the fan-out only. It never stores, counts or exports
//! anything itself, and it never blocks: an observer that needs to do slow work hands the event
//! to a task of its own.

use std::cell::RefCell;
use std::fmt;
use std::future::Future;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use fnwire_protocol::rpc::{InvocationRequest, InvocationResponse};
use tokio::sync::broadcast;

/// An invocation the pipeline is about to hand to a worker.
#[derive(Debug)]
pub struct InvocationStarted<'a> {
    pub function: &'a str,
    pub invocation_id: &'a str,
    /// Why it runs, as the `Executing` log line says it (e.g. `Timer fired`, `This function was
    /// programmatically called via the host APIs.`).
    pub reason: &'a str,
    pub at: SystemTime,
    /// What the worker receives: trigger data, inputs, trace context.
    pub request: &'a InvocationRequest,
}

/// How an invocation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Succeeded,
    Failed,
    Cancelled,
    /// No worker took it (none live, or the pool is stopping); its trigger retries it.
    NotRun,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Succeeded => "Succeeded",
            Outcome::Failed => "Failed",
            Outcome::Cancelled => "Cancelled",
            Outcome::NotRun => "NotRun",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An invocation that ended, with or without a worker's response.
#[derive(Debug)]
pub struct InvocationFinished<'a> {
    pub function: &'a str,
    pub invocation_id: &'a str,
    pub outcome: Outcome,
    /// The error as the host logged it, for every outcome but `Succeeded`.
    pub error: Option<&'a str>,
    /// From the hand-off to the worker to the end (outputs delivered); zero when it never ran.
    pub duration: Duration,
    /// What the worker answered, when it answered.
    pub response: Option<&'a InvocationResponse>,
    /// The worker process that took it, when one did and an observer asked
    /// ([`InvocationObserver::follows_workers`]).
    pub worker: Option<&'a WorkerDispatch>,
    /// The part of `duration` spent waiting for a worker (all live workers busy or restarting);
    /// zero unless `worker` is known.
    pub queued: Duration,
    /// How long the store took to commit the outputs with the trigger message's completion (one
    /// transaction); `None` when the invocation came to no commit (no storage bindings, or it
    /// failed first).
    pub commit: Option<Duration>,
}

/// The worker process an invocation was handed to, as the worker pool reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerDispatch {
    /// The id the host gave the worker (`--workerId`).
    pub worker_id: String,
    pub pid: Option<u32>,
    /// When the pool handed the invocation to it.
    pub at: Instant,
}

tokio::task_local! {
    static DISPATCH: RefCell<Option<WorkerDispatch>>;
}

/// Runs `invocation` (the worker pool's call) and returns what the pool reported through
/// [`report_dispatch`] while it ran. A task-local, so the pool's signature stays the same for
/// the callers that do not care.
pub async fn following_dispatch<F: Future>(invocation: F) -> (F::Output, Option<WorkerDispatch>) {
    DISPATCH
        .scope(RefCell::new(None), async {
            let output = invocation.await;
            let dispatch = DISPATCH.with(|d| d.borrow_mut().take());
            (output, dispatch)
        })
        .await
}

/// Tells the [`following_dispatch`] around the current invocation, if any, which worker took it;
/// `make` is not called otherwise.
pub fn report_dispatch(make: impl FnOnce() -> WorkerDispatch) {
    let _ = DISPATCH.try_with(|d| *d.borrow_mut() = Some(make()));
}

/// Something that wants to hear about invocations. Calls come from the pipeline's tasks, so they
/// must return at once.
pub trait InvocationObserver: Send + Sync + fmt::Debug {
    fn started(&self, _event: &InvocationStarted<'_>) {}
    fn finished(&self, _event: &InvocationFinished<'_>) {}
    /// True when this observer uses [`InvocationFinished::worker`]; finding it out costs the
    /// pipeline a little, so it does only when an observer asks.
    fn follows_workers(&self) -> bool {
        false
    }
}

/// The observers one host reports to; cheap to clone, and free when empty.
#[derive(Clone, Default)]
pub struct Observers(Arc<[Arc<dyn InvocationObserver>]>);

impl fmt::Debug for Observers {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.iter()).finish()
    }
}

impl Observers {
    pub fn new(observers: Vec<Arc<dyn InvocationObserver>>) -> Self {
        Observers(observers.into())
    }

    /// A copy that also reports to `observer`.
    pub fn with(&self, observer: Arc<dyn InvocationObserver>) -> Self {
        let mut all: Vec<_> = self.0.to_vec();
        all.push(observer);
        Observers(all.into())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether any observer wants to know which worker ran each invocation.
    pub fn follow_workers(&self) -> bool {
        self.0.iter().any(|o| o.follows_workers())
    }

    pub fn started(&self, event: &InvocationStarted<'_>) {
        for observer in self.0.iter() {
            observer.started(event);
        }
    }

    pub fn finished(&self, event: &InvocationFinished<'_>) {
        for observer in self.0.iter() {
            observer.finished(event);
        }
    }
}

/// How severe a worker's log line is, as the worker said it (the protocol's `RpcLog.Level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Trace,
    Debug,
    Information,
    Warning,
    Error,
    Critical,
}

impl LogLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "Trace",
            LogLevel::Debug => "Debug",
            LogLevel::Information => "Information",
            LogLevel::Warning => "Warning",
            LogLevel::Error => "Error",
            LogLevel::Critical => "Critical",
        }
    }
}

/// One log line a worker sent.
#[derive(Debug, Clone)]
pub struct WorkerLog {
    /// Empty for a line outside any invocation (worker start-up, say).
    pub invocation_id: String,
    /// The function of that invocation, when the host knew it.
    pub function: Option<String>,
    pub worker_id: String,
    pub level: LogLevel,
    /// True for the function's own logs (`RpcLogCategory.User`), false for the worker's.
    pub user: bool,
    pub message: String,
    pub at: SystemTime,
}

/// How many log lines a slow subscriber may fall behind before it misses some (it is told how
/// many it missed; the workers never wait for it).
const WORKER_LOG_BACKLOG: usize = 4096;

fn worker_log_feed() -> &'static broadcast::Sender<WorkerLog> {
    // Process-wide, like the `tracing` dispatcher: worker streams are read by tasks the
    // supervisor makes for every worker (re)start, far from where a host is put together.
    static FEED: OnceLock<broadcast::Sender<WorkerLog>> = OnceLock::new();
    FEED.get_or_init(|| broadcast::channel(WORKER_LOG_BACKLOG).0)
}

/// Sends a worker's log line to whoever listens; free when nobody does.
pub fn publish_worker_log(make: impl FnOnce() -> WorkerLog) {
    let feed = worker_log_feed();
    if feed.receiver_count() > 0 {
        let _ = feed.send(make());
    }
}

/// Every worker log line from now on.
pub fn worker_logs() -> broadcast::Receiver<WorkerLog> {
    worker_log_feed().subscribe()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[derive(Debug, Default)]
    struct Recorder(Mutex<Vec<String>>);

    impl InvocationObserver for Recorder {
        fn started(&self, event: &InvocationStarted<'_>) {
            self.0.lock().unwrap().push(format!("started {} {}", event.function, event.invocation_id));
        }
        fn finished(&self, event: &InvocationFinished<'_>) {
            self.0.lock().unwrap().push(format!("finished {} {}", event.function, event.outcome));
        }
    }

    #[test]
    fn every_observer_hears_each_event_in_order() {
        let first = Arc::new(Recorder::default());
        let second = Arc::new(Recorder::default());
        let observers = Observers::default().with(first.clone()).with(second.clone());
        let request = InvocationRequest::default();
        observers.started(&InvocationStarted {
            function: "hello",
            invocation_id: "1",
            reason: "test",
            at: SystemTime::now(),
            request: &request,
        });
        observers.finished(&InvocationFinished {
            function: "hello",
            invocation_id: "1",
            outcome: Outcome::Failed,
            error: Some("boom"),
            duration: Duration::from_millis(3),
            response: None,
            worker: None,
            queued: Duration::ZERO,
            commit: None,
        });
        for recorder in [first, second] {
            assert_eq!(*recorder.0.lock().unwrap(), ["started hello 1", "finished hello Failed"]);
        }
    }

    #[tokio::test]
    async fn a_dispatch_reaches_the_invocation_that_follows_it_and_nothing_else() {
        let dispatch = || WorkerDispatch { worker_id: "w1".into(), pid: Some(7), at: Instant::now() };
        let mut made = false;
        report_dispatch(|| {
            made = true;
            dispatch()
        });
        assert!(!made, "a dispatch was made with no invocation following it");
        let ((), followed) = following_dispatch(async { report_dispatch(dispatch) }).await;
        assert_eq!(followed.map(|d| (d.worker_id, d.pid)), Some(("w1".to_string(), Some(7))));
        let ((), unreported) = following_dispatch(async {}).await;
        assert_eq!(unreported, None);
    }

    #[test]
    fn worker_logs_reach_subscribers_and_cost_nothing_without_them() {
        let mut made = false;
        publish_worker_log(|| {
            made = true;
            unreachable_log()
        });
        assert!(!made, "a log line was built with nobody listening");
        let mut logs = worker_logs();
        publish_worker_log(|| WorkerLog { message: "hi".into(), ..unreachable_log() });
        assert_eq!(logs.try_recv().unwrap().message, "hi");
    }

    fn unreachable_log() -> WorkerLog {
        WorkerLog {
            invocation_id: "1".into(),
            function: Some("hello".into()),
            worker_id: "w".into(),
            level: LogLevel::Information,
            user: true,
            message: String::new(),
            at: SystemTime::now(),
        }
    }
}

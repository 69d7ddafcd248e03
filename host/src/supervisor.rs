//! Worker supervision: one or more worker processes, restarted when they die or hang, with
//! invocations spread over them.
//!
//! * **Process count**: `FUNCTIONS_WORKER_PROCESS_COUNT` (app setting or environment; default 1,
//!   at most 10). Each process has its own worker id and stream; an invocation goes to the live
//!   worker with the fewest invocations in flight.
//! * **Death**: a worker whose process exits or whose stream closes is restarted after a back-off
//!   (first 100 ms, doubling up to 5 s; reset once a worker has run for a minute). Its in-flight
//!   invocations fail at once with [`InvokeError::WorkerDied`] (HTTP: 503). Invocations that
//!   arrive while no worker is live wait for one, up to `extensions.fnwire.workerRestartWait`
//!   (default 5 s), and only then get [`InvokeError::Unavailable`].
//! * **Hang**: a worker that declared `WorkerStatus` gets a `WorkerStatusRequest` every
//!   10 s; no answer within 20 s means it is hung: it is killed and restarted (its in-flight
//!   invocations get 503). The app settings (or environment variables)
//!   [`STATUS_INTERVAL_SETTING`] and [`STATUS_TIMEOUT_SETTING`] change the two, in seconds.
//!   Workers without `WorkerStatus` are not probed (Azure hosts only probe workers that
//!   declare it).
//! * **Give up**: as Azure hosts do, failures are counted per pool in a window
//!   (`extensions.fnwire.workerFailureWindow`, default 30 minutes); more than
//!   `extensions.fnwire.maxWorkerFailures` (default `3 × process count`; exit code 200, a
//!   requested restart, is not counted) and the pool stops restarting, says so in the log, every
//!   invocation gets [`InvokeError::Unavailable`] (HTTP: 503), and [`WorkerPool::given_up`]
//!   completes (`fnwire start` then exits non-zero, so a process manager restarts it).
//! * **Timeout**: `functionTimeout` from host.json (see [`crate::timeout`]): the host sends
//!   `InvocationCancel` (if the worker handles it) and the caller gets [`InvokeError::TimedOut`]
//!   (HTTP: 504) at once. The invocation then has `extensions.fnwire.functionTimeoutGracePeriod`
//!   (default 5 s) to end; if it has not, its worker process is restarted, as Azure hosts do,
//!   because a function stuck in a loop or a blocking call holds a worker thread for good. That
//!   restart is logged with the function's name and is not counted as a failure (a slow function
//!   is not a broken worker); the worker's other in-flight invocations fail as for a crash.
//! * **Reload** (`fnwire start --watch`): [`WorkerPool::reload`] starts a new worker per slot
//!   while the old one keeps serving; once the new one has loaded its functions it takes new
//!   invocations, and the old one finishes those it holds, then stops. A new worker that fails
//!   to start is logged and the old one keeps serving. The functions the new worker indexed are
//!   published through [`WorkerPool::reloaded_functions`], which the HTTP route table follows.
//! * **Events**: [`WorkerPool::subscribe`] reports every abandoned invocation (worker death or
//!   timeout) with its id, so trigger engines (queues) can make the message visible again.
//!   Callers of [`WorkerPool::invoke`] also get the error directly.

use std::collections::{HashSet, VecDeque};
use std::process::ExitStatus;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use fnwire_protocol::rpc::{InvocationRequest, InvocationResponse};
use tokio::sync::{broadcast, mpsc, watch};

use crate::app::WorkerLaunch;
use crate::channel::{ChannelError, WorkerChannel, capability};
use crate::config::{ConfigError, setting};
use crate::grpc::GrpcServer;
use crate::lifecycle::{self, IndexedFunction, LifecycleOptions, StartedWorker, StartupError};

/// The app setting that sets how many worker processes run.
pub const PROCESS_COUNT_SETTING: &str = "FUNCTIONS_WORKER_PROCESS_COUNT";
/// App setting: seconds between `WorkerStatusRequest` probes (default 10).
pub const STATUS_INTERVAL_SETTING: &str = "FNWIRE_WORKER_STATUS_INTERVAL";
/// App setting: seconds a worker has to answer a probe before it counts as hung (default 20).
pub const STATUS_TIMEOUT_SETTING: &str = "FNWIRE_WORKER_STATUS_TIMEOUT";
/// Default of `extensions.fnwire.functionTimeoutGracePeriod`.
pub const DEFAULT_TIMEOUT_GRACE: Duration = Duration::from_secs(5);
/// Default of `extensions.fnwire.workerRestartWait`.
pub const DEFAULT_RESTART_WAIT: Duration = Duration::from_secs(5);
/// Azure's upper bound for the process count.
pub const MAX_PROCESS_COUNT: usize = 10;
/// The exit code a worker uses to ask for a restart that is not a failure (Azure's
/// `IntentionalRestartExitCode`).
pub const INTENTIONAL_RESTART_EXIT_CODE: i32 = 200;

/// How the pool supervises its workers.
#[derive(Debug, Clone)]
pub struct SupervisorOptions {
    pub process_count: usize,
    /// `None`: invocations may run forever (`functionTimeout` -1).
    pub function_timeout: Option<Duration>,
    /// Failures tolerated in `failure_window` (Azure: 3 × process count).
    pub max_failures: usize,
    pub failure_window: Duration,
    pub first_backoff: Duration,
    pub max_backoff: Duration,
    pub health_interval: Duration,
    pub health_timeout: Duration,
    /// How long a timed-out invocation has to end after `InvocationCancel` before its worker
    /// is restarted.
    pub timeout_grace: Duration,
    /// How long an invocation waits for a worker when none is live (one is restarting).
    pub restart_wait: Duration,
    pub lifecycle: LifecycleOptions,
}

impl SupervisorOptions {
    pub fn new(process_count: usize, function_timeout: Option<Duration>) -> Self {
        let process_count = process_count.clamp(1, MAX_PROCESS_COUNT);
        SupervisorOptions {
            process_count,
            function_timeout,
            max_failures: 3 * process_count,
            failure_window: Duration::from_secs(30 * 60),
            first_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            health_interval: Duration::from_secs(10),
            health_timeout: Duration::from_secs(20),
            timeout_grace: DEFAULT_TIMEOUT_GRACE,
            restart_wait: DEFAULT_RESTART_WAIT,
            lifecycle: LifecycleOptions::default(),
        }
    }
}

/// Reads `FUNCTIONS_WORKER_PROCESS_COUNT` from the app settings, else the environment.
pub fn read_process_count(
    settings: &std::collections::BTreeMap<String, String>,
) -> Result<usize, ConfigError> {
    let Some(text) = setting(settings, PROCESS_COUNT_SETTING) else { return Ok(1) };
    let n: usize = text.trim().parse().ok().filter(|n| *n >= 1).ok_or_else(|| ConfigError::Setting {
        name: PROCESS_COUNT_SETTING,
        value: text.clone(),
        expected: PROCESS_COUNT_EXPECTED,
    })?;
    if n > MAX_PROCESS_COUNT {
        tracing::warn!(
            "{PROCESS_COUNT_SETTING} is {n}; running the maximum, {MAX_PROCESS_COUNT} worker processes"
        );
    }
    Ok(n.min(MAX_PROCESS_COUNT))
}

/// What [`PROCESS_COUNT_SETTING`] accepts (the bound is [`MAX_PROCESS_COUNT`]).
const PROCESS_COUNT_EXPECTED: &str = "a whole number from 1 to 10";
const _: () = assert!(MAX_PROCESS_COUNT == 10, "PROCESS_COUNT_EXPECTED names the bound");

/// Applies [`STATUS_INTERVAL_SETTING`] and [`STATUS_TIMEOUT_SETTING`] from the app settings,
/// else the environment.
pub fn read_health_settings(
    settings: &std::collections::BTreeMap<String, String>,
    options: &mut SupervisorOptions,
) -> Result<(), ConfigError> {
    for (name, target) in [
        (STATUS_INTERVAL_SETTING, &mut options.health_interval),
        (STATUS_TIMEOUT_SETTING, &mut options.health_timeout),
    ] {
        let Some(text) = setting(settings, name) else { continue };
        let secs: f64 =
            text.trim().parse().ok().filter(|s: &f64| s.is_finite() && *s > 0.0 && *s < 86400.0).ok_or_else(
                || ConfigError::Setting {
                    name,
                    value: text.clone(),
                    expected: "a number of seconds, e.g. 10 or 0.5",
                },
            )?;
        *target = Duration::from_secs_f64(secs);
    }
    Ok(())
}

/// Applies host.json `extensions.fnwire` supervision settings: `functionTimeoutGracePeriod`,
/// `workerRestartWait`, `workerFailureWindow` (time spans, `"hh:mm:ss"`) and
/// `maxWorkerFailures` (a whole number). Keys are matched without regard to case, as Azure
/// reads host.json.
pub fn read_supervision_settings(
    host_json: &serde_json::Value,
    options: &mut SupervisorOptions,
) -> Result<(), ConfigError> {
    let Some(section) = host_json.pointer("/extensions/fnwire") else { return Ok(()) };
    let Some(section) = section.as_object() else {
        return Err(ConfigError::Extension { message: "extensions.fnwire must be an object".into() });
    };
    let get = |key: &str| {
        section.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v).filter(|v| !v.is_null())
    };
    for (key, target) in [
        ("functionTimeoutGracePeriod", &mut options.timeout_grace),
        ("workerRestartWait", &mut options.restart_wait),
        ("workerFailureWindow", &mut options.failure_window),
    ] {
        let Some(value) = get(key) else { continue };
        let text = value.as_str().ok_or_else(|| ConfigError::Extension {
            message: format!(
                "extensions.fnwire.{key} must be a time span like \"00:00:05\", found `{value}`"
            ),
        })?;
        *target = crate::triggers::config::parse_timespan(text)
            .map_err(|e| ConfigError::Extension { message: format!("extensions.fnwire.{key}: {e}") })?;
    }
    if let Some(value) = get("maxWorkerFailures") {
        options.max_failures =
            value.as_u64().and_then(|n| usize::try_from(n).ok()).ok_or_else(|| ConfigError::Extension {
                message: format!(
                    "extensions.fnwire.maxWorkerFailures must be a whole number (failures tolerated before \
                     fnwire stops restarting the worker), found `{value}`"
                ),
            })?;
    }
    Ok(())
}

/// Why an invocation did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvokeError {
    /// No worker can take it (starting, restarting, or the host gave up).
    #[error("no worker is available: {0}")]
    Unavailable(String),
    /// The worker running it died.
    #[error("the worker running it stopped: {0}")]
    WorkerDied(String),
    /// `functionTimeout` passed.
    #[error("it ran longer than functionTimeout ({0:?})")]
    TimedOut(Duration),
}

/// What the pool reports to subscribers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerEvent {
    /// An invocation will get no response (its worker died, or it timed out). Whoever owns its
    /// trigger (e.g. a queue message) should retry it.
    InvocationAbandoned { invocation_id: String, function_name: String, error: InvokeError },
    /// A worker process stopped unexpectedly; it will be restarted unless the pool gave up.
    /// `in_flight`: the invocations still registered on it when its death was handled (best
    /// effort: callers may already have seen the failure; `InvocationAbandoned`, sent for each
    /// one, is the complete record).
    WorkerExited { slot: usize, pid: Option<u32>, reason: String, in_flight: Vec<String> },
    /// A worker (re)started and serves invocations.
    WorkerReady { slot: usize, pid: Option<u32> },
    /// Too many failures: no more restarts.
    GaveUp { reason: String },
}

#[derive(Clone)]
struct LiveWorker {
    channel: Arc<WorkerChannel>,
    exit: watch::Receiver<Option<ExitStatus>>,
    pid: Option<u32>,
    /// Asks this worker's supervisor to restart it; the message says why.
    restart: mpsc::UnboundedSender<String>,
}

#[derive(Default)]
struct Slot {
    live: RwLock<Option<LiveWorker>>,
    in_flight: Mutex<HashSet<String>>,
}

impl Slot {
    fn live(&self) -> Option<LiveWorker> {
        self.live.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
    fn set_live(&self, live: Option<LiveWorker>) {
        *self.live.write().unwrap_or_else(std::sync::PoisonError::into_inner) = live;
    }
    fn in_flight(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.in_flight.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// One process slot of the pool, as [`WorkerPool::slot_states`] reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotState {
    pub pid: Option<u32>,
    /// Whether a process serves invocations in the slot (false while it restarts).
    pub live: bool,
    /// Invocations running on it.
    pub in_flight: usize,
}

/// The app's worker processes.
pub struct WorkerPool {
    slots: Vec<Arc<Slot>>,
    options: SupervisorOptions,
    failures: Mutex<VecDeque<Instant>>,
    /// Why the pool stopped restarting workers, once it has.
    gave_up: watch::Sender<Option<String>>,
    /// Bumped whenever a worker becomes live, the pool gives up, or it shuts down: what
    /// invocations waiting for a worker watch.
    changes: watch::Sender<u64>,
    shutting_down: AtomicBool,
    shutdown_tx: watch::Sender<bool>,
    events: broadcast::Sender<WorkerEvent>,
    next: AtomicUsize,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// What the first worker declared (all workers run the same program).
    capabilities: std::collections::HashMap<String, String>,
    /// Bumped by [`WorkerPool::reload`]: each slot's supervisor replaces its worker.
    reload: watch::Sender<u64>,
    /// The functions the latest reloaded worker indexed (at first, those of the first start),
    /// for the HTTP route table to follow (see [`WorkerPool::reloaded_functions`]).
    functions: watch::Sender<Arc<Vec<IndexedFunction>>>,
}

impl std::fmt::Debug for WorkerPool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerPool").field("processes", &self.slots.len()).finish_non_exhaustive()
    }
}

impl WorkerPool {
    /// Starts the first worker and brings its functions up (an error here stops `fnwire start`,
    /// as a worker that never starts is a broken app); the other processes start in the
    /// background. Every worker is supervised from then on. The caller applies the probe
    /// settings ([`read_health_settings`]) to `options` first.
    pub async fn start(
        server: Arc<GrpcServer>,
        launch: WorkerLaunch,
        options: SupervisorOptions,
    ) -> Result<(Arc<WorkerPool>, Vec<IndexedFunction>), StartupError> {
        let (first, functions) = lifecycle::start_and_load(&server, &launch, &options.lifecycle).await?;
        let (events, _) = broadcast::channel(1024);
        let (shutdown_tx, _) = watch::channel(false);
        let pool = Arc::new(WorkerPool {
            slots: (0..options.process_count).map(|_| Arc::default()).collect(),
            options,
            failures: Mutex::default(),
            gave_up: watch::channel(None).0,
            changes: watch::channel(0).0,
            shutting_down: AtomicBool::new(false),
            shutdown_tx,
            events,
            next: AtomicUsize::new(0),
            tasks: Mutex::default(),
            capabilities: first.channel.capabilities(),
            reload: watch::channel(0).0,
            functions: watch::channel(Arc::new(functions.clone())).0,
        });
        // Serving starts as soon as this returns, before the supervision tasks first run.
        let (restart, restart_rx) = mpsc::unbounded_channel();
        pool.slots[0].set_live(Some(LiveWorker {
            channel: first.channel.clone(),
            exit: first.process.exit_watch(),
            pid: first.process.pid(),
            restart,
        }));
        let mut first = Some((first, restart_rx));
        let mut tasks = Vec::new();
        for slot in 0..pool.slots.len() {
            let worker = first.take();
            tasks.push(tokio::spawn(supervise(pool.clone(), slot, server.clone(), launch.clone(), worker)));
        }
        *pool.tasks.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = tasks;
        Ok((pool, functions))
    }

    /// Events about workers and abandoned invocations (see [`WorkerEvent`]).
    pub fn subscribe(&self) -> broadcast::Receiver<WorkerEvent> {
        self.events.subscribe()
    }

    /// How many worker processes the pool runs.
    pub fn process_count(&self) -> usize {
        self.slots.len()
    }

    /// The pids of the live workers.
    pub fn pids(&self) -> Vec<u32> {
        self.slots.iter().filter_map(|s| s.live().and_then(|l| l.pid)).collect()
    }

    /// Each process slot's state now (for the dashboard's workers page).
    pub fn slot_states(&self) -> Vec<SlotState> {
        self.slots
            .iter()
            .map(|slot| {
                let live = slot.live();
                SlotState {
                    pid: live.as_ref().and_then(|l| l.pid),
                    live: live.is_some(),
                    in_flight: slot.in_flight().len(),
                }
            })
            .collect()
    }

    /// `functionTimeout`, if any.
    pub fn function_timeout(&self) -> Option<Duration> {
        self.options.function_timeout
    }

    /// Why the pool stopped restarting workers, if it did.
    pub fn gave_up(&self) -> Option<String> {
        self.gave_up.borrow().clone()
    }

    /// Completes, with the reason, once the pool stops restarting workers (too many failures).
    /// Never completes otherwise.
    pub async fn given_up(&self) -> String {
        let mut rx = self.gave_up.subscribe();
        match rx.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone().unwrap_or_default(),
            // The pool owns the sender, so this cannot happen while `self` lives.
            Err(_) => std::future::pending().await,
        }
    }

    /// The capabilities the first worker declared (all workers run the same program).
    pub fn capabilities(&self) -> std::collections::HashMap<String, String> {
        self.capabilities.clone()
    }

    fn pick(&self) -> Result<(Arc<Slot>, LiveWorker), InvokeError> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let n = self.slots.len();
        let mut best: Option<(usize, Arc<Slot>, LiveWorker)> = None;
        for i in 0..n {
            let slot = &self.slots[(start + i) % n];
            let Some(live) = slot.live() else { continue };
            if live.channel.closed_reason().is_some() || live.exit.borrow().is_some() {
                continue;
            }
            let load = slot.in_flight().len();
            if best.as_ref().is_none_or(|(l, _, _)| load < *l) {
                best = Some((load, slot.clone(), live));
            }
        }
        match best {
            Some((_, slot, live)) => Ok((slot, live)),
            None => Err(InvokeError::Unavailable(match self.gave_up() {
                Some(reason) => reason,
                None if self.shutting_down.load(Ordering::Relaxed) => "the host is shutting down".into(),
                None => "the worker is restarting; try again in a moment".into(),
            })),
        }
    }

    /// [`WorkerPool::pick`], waiting up to `restart_wait` for a worker when none is live
    /// (one is restarting). Refuses at once when the pool gave up or shuts down.
    async fn pick_or_wait(&self) -> Result<(Arc<Slot>, LiveWorker), InvokeError> {
        // Subscribed before the first try, so a worker that becomes live in between is seen.
        let mut changes = self.changes.subscribe();
        let deadline = tokio::time::Instant::now() + self.options.restart_wait;
        loop {
            let refused = match self.pick() {
                Ok(picked) => return Ok(picked),
                Err(refused) => refused,
            };
            if self.gave_up().is_some() || self.shutting_down.load(Ordering::SeqCst) {
                return Err(refused);
            }
            match tokio::time::timeout_at(deadline, changes.changed()).await {
                Ok(Ok(())) => continue,
                _ => {
                    return Err(InvokeError::Unavailable(format!(
                        "no worker became ready within {:?} (a worker is restarting; see the log); try again in a \
                         moment, or raise extensions.fnwire.workerRestartWait in host.json",
                        self.options.restart_wait
                    )));
                }
            }
        }
    }

    /// Runs an invocation on the least busy live worker (waiting for one if a worker is
    /// restarting). Fails at once if that worker dies; after `functionTimeout` the worker is
    /// asked to cancel, the caller gets `TimedOut`, and the worker is restarted if the
    /// invocation has not ended after the grace period. Dropping the future (e.g. the HTTP
    /// client left) cancels the invocation on the worker.
    pub async fn invoke(
        &self,
        function_name: &str,
        request: InvocationRequest,
    ) -> Result<InvocationResponse, InvokeError> {
        let (slot, live) = self.pick_or_wait().await?;
        fnwire_observe::report_dispatch(|| fnwire_observe::WorkerDispatch {
            worker_id: live.channel.worker_id().to_string(),
            pid: live.pid,
            at: Instant::now(),
        });
        let invocation_id = request.invocation_id.clone();
        slot.in_flight().insert(invocation_id.clone());
        let mut guard = InFlight {
            slot: &slot,
            channel: &live.channel,
            invocation_id: &invocation_id,
            cancel_on_drop: true,
        };
        let mut exit = live.exit.clone();
        let timeout = self.options.function_timeout;
        // Owned, so that after a timeout it can outlive this call and tell whether the
        // invocation ends within the grace period.
        let mut call = Box::pin({
            let channel = live.channel.clone();
            let function_name = function_name.to_string();
            async move { channel.invoke(&function_name, request).await }
        });
        let ended = tokio::select! {
            r = &mut call => Some(match r {
                Ok(response) => Ok(response),
                Err(ChannelError::Closed(reason)) => Err(InvokeError::WorkerDied(reason)),
                Err(e) => Err(InvokeError::WorkerDied(e.to_string())),
            }),
            status = exit.wait_for(Option::is_some) => {
                let status = status.ok().and_then(|s| *s).map(|s| s.to_string()).unwrap_or_else(|| "unknown status".into());
                Some(Err(InvokeError::WorkerDied(format!("the worker process exited ({status})"))))
            }
            _ = async { match timeout { Some(t) => tokio::time::sleep(t).await, None => std::future::pending().await } } => None,
        };
        let result = match ended {
            Some(result) => result,
            None => {
                let t = timeout.unwrap_or_default();
                let grace = self.options.timeout_grace;
                if live.channel.has_capability(capability::HANDLES_INVOCATION_CANCEL_MESSAGE) {
                    tracing::warn!(
                        "'{function_name}' (Id={invocation_id}) exceeded functionTimeout ({t:?}); sent InvocationCancel; \
                         its worker is restarted if it has not ended within {grace:?}"
                    );
                } else {
                    tracing::warn!(
                        "'{function_name}' (Id={invocation_id}) exceeded functionTimeout ({t:?}); the worker does not \
                         handle InvocationCancel, so it is restarted if the invocation has not ended within {grace:?}"
                    );
                }
                live.channel.cancel(&invocation_id);
                let restart = live.restart.clone();
                let function_name = function_name.to_string();
                let invocation_id = invocation_id.clone();
                tokio::spawn(async move {
                    // Any end counts: a response (Cancelled or not) or the stream closing.
                    if tokio::time::timeout(grace, call).await.is_err() {
                        let _ = restart.send(format!(
                            "'{function_name}' (Id={invocation_id}) did not end within {grace:?} after functionTimeout \
                             ({t:?}) and its cancellation; a function stuck in a loop or a blocking call holds a worker \
                             thread, so the worker process is replaced"
                        ));
                    }
                });
                Err(InvokeError::TimedOut(t))
            }
        };
        guard.cancel_on_drop = false;
        if let Err(error) = &result {
            let _ = self.events.send(WorkerEvent::InvocationAbandoned {
                invocation_id: invocation_id.clone(),
                function_name: function_name.to_string(),
                error: error.clone(),
            });
        }
        result
    }

    /// Records a failure; returns the give-up reason if there were too many.
    fn record_failure(&self) -> Option<String> {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        failures.push_back(now);
        while failures.front().is_some_and(|t| now.duration_since(*t) > self.options.failure_window) {
            failures.pop_front();
        }
        if failures.len() <= self.options.max_failures {
            return None;
        }
        let reason = format!(
            "the worker failed {} times within {} minutes (the limit is {} for {} process(es)); fnwire stopped \
             restarting it. Fix the worker (see the errors above) and restart fnwire",
            failures.len(),
            self.options.failure_window.as_secs() / 60,
            self.options.max_failures,
            self.slots.len()
        );
        let first = self.gave_up.send_if_modified(|gave_up| {
            if gave_up.is_some() {
                return false;
            }
            *gave_up = Some(reason.clone());
            true
        });
        if first {
            tracing::error!("giving up: {reason}. Requests now get 503");
            let _ = self.events.send(WorkerEvent::GaveUp { reason: reason.clone() });
            self.changes.send_modify(|n| *n += 1);
        }
        Some(reason)
    }

    /// Replaces every worker with a fresh process of the same launch (the app's code changed):
    /// the old worker serves until the new one has loaded its functions (see the module docs).
    pub fn reload(&self) {
        self.reload.send_modify(|n| *n += 1);
    }

    /// The functions of the app as the latest reloaded worker indexed them; it changes each
    /// time a reload's new worker has loaded (one change per worker process). Workers
    /// restarted after a crash run the code they were started with and change nothing here.
    pub fn reloaded_functions(&self) -> watch::Receiver<Arc<Vec<IndexedFunction>>> {
        self.functions.subscribe()
    }

    /// Stops every worker (`WorkerTerminate`, grace period, then kill) and the supervision.
    pub async fn shutdown(&self) {
        self.shutting_down.store(true, Ordering::SeqCst);
        let _ = self.shutdown_tx.send(true);
        self.changes.send_modify(|n| *n += 1);
        let tasks =
            std::mem::take(&mut *self.tasks.lock().unwrap_or_else(std::sync::PoisonError::into_inner));
        for t in tasks {
            let _ = t.await;
        }
    }
}

/// Takes an invocation off its slot's in-flight set however `invoke` ends.
struct InFlight<'a> {
    slot: &'a Slot,
    channel: &'a WorkerChannel,
    invocation_id: &'a str,
    cancel_on_drop: bool,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.slot.in_flight().remove(self.invocation_id);
        if self.cancel_on_drop {
            tracing::info!("the caller went away; cancelling invocation {}", self.invocation_id);
            self.channel.cancel(self.invocation_id);
        }
    }
}

enum Ended {
    Shutdown,
    /// [`WorkerPool::reload`] asked for a new worker.
    Reload,
    Died {
        reason: String,
        counted: bool,
    },
}

fn exited(worker: &StartedWorker, status: Option<ExitStatus>) -> Ended {
    let code = status.and_then(|s| s.code());
    let status = status.map(|s| s.to_string()).unwrap_or_else(|| "unknown status".into());
    let detail = crate::lifecycle::describe_stderr(&worker.process.last_stderr_lines());
    Ended::Died {
        reason: format!("the worker process exited unexpectedly ({status}){detail}"),
        counted: code != Some(INTENTIONAL_RESTART_EXIT_CODE),
    }
}

/// Waits until the worker dies, hangs, is asked to restart, or the host shuts down.
async fn watch_worker(
    pool: &WorkerPool,
    worker: &mut StartedWorker,
    restart: &mut mpsc::UnboundedReceiver<String>,
    reload: &mut watch::Receiver<u64>,
) -> Ended {
    let mut shutdown = pool.shutdown_tx.subscribe();
    let probe = worker.channel.has_capability(capability::WORKER_STATUS);
    let interval = pool.options.health_interval;
    let health_timeout = pool.options.health_timeout;
    let channel = worker.channel.clone();
    let hung = async move {
        if !probe {
            return std::future::pending::<String>().await;
        }
        loop {
            tokio::time::sleep(interval).await;
            match channel.worker_status(health_timeout).await {
                Ok(()) => {}
                Err(ChannelError::Timeout { .. }) => {
                    return format!("it did not answer WorkerStatusRequest within {health_timeout:?} (hung)");
                }
                // A closed stream is reported by the branch below.
                Err(_) => return std::future::pending::<String>().await,
            }
        }
    };
    tokio::select! {
        _ = stopping(&mut shutdown) => Ended::Shutdown,
        Ok(()) = reload.changed() => Ended::Reload,
        status = worker.process.wait() => exited(worker, status),
        reason = worker.channel.closed() => {
            // A dying process usually drops its stream first: give it a moment so the log
            // names the exit status rather than a transport error.
            match worker.process.wait_timeout(Duration::from_secs(2)).await {
                Some(status) => exited(worker, Some(status)),
                None => Ended::Died { reason: format!("the worker's stream closed ({reason})"), counted: true },
            }
        }
        reason = hung => {
            worker.process.kill().await;
            Ended::Died { reason: format!("the worker was killed: {reason}"), counted: true }
        }
        Some(reason) = restart.recv() => {
            worker.process.kill().await;
            Ended::Died { reason: format!("restarting the worker: {reason}"), counted: false }
        }
    }
}

async fn supervise(
    pool: Arc<WorkerPool>,
    index: usize,
    server: Arc<GrpcServer>,
    launch: WorkerLaunch,
    mut first: Option<(StartedWorker, mpsc::UnboundedReceiver<String>)>,
) {
    let slot = pool.slots[index].clone();
    let mut backoff = pool.options.first_backoff;
    let mut shutdown = pool.shutdown_tx.subscribe();
    let mut reload = pool.reload.subscribe();
    loop {
        let started = match first.take() {
            Some((worker, restart_rx)) => Ok((worker, Some(restart_rx))),
            None => {
                tokio::select! {
                    r = start_loaded(&server, &launch, &pool.options.lifecycle) => r.map(|w| (w, None)),
                    _ = stopping(&mut shutdown) => return,
                }
            }
        };
        let ended = match started {
            Ok((mut worker, restart_rx)) => {
                let pid = worker.process.pid();
                let mut restart_rx = match restart_rx {
                    Some(rx) => rx,
                    None => {
                        let (restart, rx) = mpsc::unbounded_channel();
                        slot.set_live(Some(LiveWorker {
                            channel: worker.channel.clone(),
                            exit: worker.process.exit_watch(),
                            pid,
                            restart,
                        }));
                        rx
                    }
                };
                pool.changes.send_modify(|n| *n += 1);
                let _ = pool.events.send(WorkerEvent::WorkerReady { slot: index, pid });
                tracing::info!(target: "fnwire::worker", "worker {index} ready (pid {})", pid.unwrap_or_default());
                let ran_from = Instant::now();
                let ended = watch_worker(&pool, &mut worker, &mut restart_rx, &mut reload).await;
                if let Ended::Reload = ended {
                    first =
                        Some(replace_worker(&pool, &slot, index, &server, &launch, worker, restart_rx).await);
                    continue;
                }
                slot.set_live(None);
                if let Ended::Shutdown = ended {
                    worker.stop().await;
                    return;
                }
                // Whatever the worker was running gets no answer now.
                let abandoned: Vec<String> = slot.in_flight().iter().cloned().collect();
                if ran_from.elapsed() > Duration::from_secs(60) {
                    backoff = pool.options.first_backoff;
                }
                if let Ended::Died { reason, .. } = &ended {
                    let _ = pool.events.send(WorkerEvent::WorkerExited {
                        slot: index,
                        pid,
                        reason: reason.clone(),
                        in_flight: abandoned.clone(),
                    });
                    if !abandoned.is_empty() {
                        tracing::error!(
                            "{} invocation(s) were running on the worker: {}",
                            abandoned.len(),
                            abandoned.join(", ")
                        );
                    }
                }
                worker.process.kill().await;
                ended
            }
            Err(e) => {
                Ended::Died { reason: format!("the worker could not be restarted: {e}"), counted: true }
            }
        };
        if pool.shutting_down.load(Ordering::SeqCst) {
            return;
        }
        let Ended::Died { reason, counted } = ended else { return };
        tracing::error!("{reason}");
        if counted && pool.record_failure().is_some() {
            return;
        }
        if pool.gave_up().is_some() {
            return;
        }
        tracing::info!("restarting worker {index} in {backoff:?}");
        tokio::select! {
            _ = tokio::time::sleep(backoff) => {}
            _ = stopping(&mut shutdown) => return,
        }
        backoff = (backoff * 2).min(pool.options.max_backoff);
    }
}

/// Starts a new worker for `slot` while `old` keeps serving. When it is up it becomes the
/// slot's live worker and `old` retires in the background (it finishes what it holds, then
/// stops); the new one is returned. When it fails to start, `old` is returned and keeps serving.
async fn replace_worker(
    pool: &WorkerPool,
    slot: &Slot,
    index: usize,
    server: &GrpcServer,
    launch: &WorkerLaunch,
    old: StartedWorker,
    old_restart: mpsc::UnboundedReceiver<String>,
) -> (StartedWorker, mpsc::UnboundedReceiver<String>) {
    tracing::info!(target: "fnwire::worker", "reloading worker {index}: starting a new process");
    match lifecycle::start_and_load(server, launch, &pool.options.lifecycle).await {
        Ok((new, functions)) => {
            pool.functions.send_replace(Arc::new(functions));
            let (restart, restart_rx) = mpsc::unbounded_channel();
            slot.set_live(Some(LiveWorker {
                channel: new.channel.clone(),
                exit: new.process.exit_watch(),
                pid: new.process.pid(),
                restart,
            }));
            tokio::spawn(retire(old, pool.options.function_timeout));
            (new, restart_rx)
        }
        Err(e) => {
            tracing::error!(
                "the reloaded worker did not start ({e}); the previous worker keeps serving. Fix the app and save \
                 again"
            );
            (old, old_restart)
        }
    }
}

/// Lets a replaced worker finish the invocations it holds (up to `functionTimeout`, or 10
/// minutes without one), then stops it.
async fn retire(mut worker: StartedWorker, function_timeout: Option<Duration>) {
    let bound = tokio::time::Instant::now() + function_timeout.unwrap_or(Duration::from_secs(600));
    while worker.channel.invocations_in_flight() > 0
        && worker.process.exit_status().is_none()
        && tokio::time::Instant::now() < bound
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    worker.stop().await;
}

async fn start_loaded(
    server: &GrpcServer,
    launch: &WorkerLaunch,
    options: &LifecycleOptions,
) -> Result<StartedWorker, StartupError> {
    // A restarted worker is indexed and loaded again; the routes stay those of the latest start
    // or reload.
    let (worker, _) = lifecycle::start_and_load(server, launch, options).await?;
    Ok(worker)
}

/// Completes when the pool shuts down (the guard `wait_for` returns must not live across awaits).
async fn stopping(rx: &mut watch::Receiver<bool>) {
    let _ = rx.wait_for(|s| *s).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(options: SupervisorOptions) -> WorkerPool {
        WorkerPool {
            slots: (0..options.process_count).map(|_| Arc::default()).collect(),
            options,
            failures: Mutex::default(),
            gave_up: watch::channel(None).0,
            changes: watch::channel(0).0,
            shutting_down: AtomicBool::new(false),
            shutdown_tx: watch::channel(false).0,
            events: broadcast::channel(16).0,
            next: AtomicUsize::new(0),
            tasks: Mutex::default(),
            capabilities: Default::default(),
            reload: watch::channel(0).0,
            functions: watch::channel(Arc::default()).0,
        }
    }

    #[test]
    fn gives_up_after_three_failures_per_process_in_the_window() {
        let pool = pool(SupervisorOptions::new(2, None));
        let mut events = pool.subscribe();
        for _ in 0..6 {
            assert_eq!(pool.record_failure(), None);
        }
        let reason = pool.record_failure().expect("the 7th failure gives up");
        assert!(reason.contains("7 times") && reason.contains("limit is 6"), "{reason}");
        assert_eq!(pool.gave_up(), Some(reason.clone()));
        assert_eq!(events.try_recv().unwrap(), WorkerEvent::GaveUp { reason });
        // With nothing live, invocations are refused with the reason.
        let err = pool.pick().err().unwrap();
        assert!(matches!(err, InvokeError::Unavailable(r) if r.contains("stopped restarting")));
    }

    #[test]
    fn failures_outside_the_window_are_forgotten() {
        let mut options = SupervisorOptions::new(1, None);
        options.failure_window = Duration::ZERO;
        let pool = pool(options);
        for _ in 0..10 {
            assert_eq!(pool.record_failure(), None);
        }
    }

    #[test]
    fn process_count_and_probe_settings() {
        let settings = |k: &str, v: &str| std::collections::BTreeMap::from([(k.to_string(), v.to_string())]);
        assert_eq!(read_process_count(&settings(PROCESS_COUNT_SETTING, "3")).unwrap(), 3);
        assert_eq!(read_process_count(&settings(PROCESS_COUNT_SETTING, "64")).unwrap(), MAX_PROCESS_COUNT);
        assert!(read_process_count(&settings(PROCESS_COUNT_SETTING, "0")).is_err());
        let mut options = SupervisorOptions::new(1, None);
        read_health_settings(&settings(STATUS_TIMEOUT_SETTING, "0.5"), &mut options).unwrap();
        assert_eq!(options.health_timeout, Duration::from_millis(500));
        let e = read_health_settings(&settings(STATUS_INTERVAL_SETTING, "often"), &mut options).unwrap_err();
        assert!(e.to_string().contains("often"), "{e}");
    }

    #[test]
    fn supervision_settings_from_host_json() {
        let mut options = SupervisorOptions::new(2, None);
        read_supervision_settings(&serde_json::json!({"version": "2.0"}), &mut options).unwrap();
        assert_eq!(
            (options.timeout_grace, options.restart_wait, options.max_failures, options.failure_window),
            (DEFAULT_TIMEOUT_GRACE, DEFAULT_RESTART_WAIT, 6, Duration::from_secs(1800))
        );
        let doc = serde_json::json!({"extensions": {"fnwire": {
            "FunctionTimeoutGracePeriod": "00:00:00.25", "workerRestartWait": "00:00:10",
            "maxWorkerFailures": 0, "workerFailureWindow": "01:00:00", "storageDirectory": "elsewhere"}}});
        read_supervision_settings(&doc, &mut options).unwrap();
        assert_eq!(
            (options.timeout_grace, options.restart_wait, options.max_failures, options.failure_window),
            (Duration::from_millis(250), Duration::from_secs(10), 0, Duration::from_secs(3600))
        );
        for (doc, needle) in [
            (serde_json::json!({"extensions": {"fnwire": {"workerRestartWait": 5}}}), "workerRestartWait"),
            (serde_json::json!({"extensions": {"fnwire": {"maxWorkerFailures": -1}}}), "maxWorkerFailures"),
            (serde_json::json!({"extensions": {"fnwire": {"workerFailureWindow": "later"}}}), "later"),
            (serde_json::json!({"extensions": {"fnwire": []}}), "must be an object"),
        ] {
            let e = read_supervision_settings(&doc, &mut options).unwrap_err().to_string();
            assert!(e.contains(needle), "{e}");
        }
    }
}

//! fnwire's local dashboard: what runs, live.
//!
//! [`History`] observes the host's one invocation pipeline (it is an
//! [`fnwire_observe::InvocationObserver`]) and follows the workers' log lines; [`Dashboard`]
//! answers the JSON API under `/admin/api/…` (documented by the OpenAPI document it serves at
//! `/admin/api/openapi.json`) and the page under `/admin/ui`, from the history and the sources
//! the host passes: its functions and workers ([`AppSources`]), its store's queues, and the
//! durable task hub when the app has one.
//!
//! The host decides who may call it (the master key when it listens beyond the loopback) and
//! reads request bodies within its limits; this crate never listens on a socket itself.

mod api;
pub mod history;
pub mod render;

use std::fmt;
use std::sync::Arc;

use fnwire_storage::QueueStore;
use serde::Serialize;
use serde_json::Value;

pub use api::{API_PREFIX, DashboardBody, UI_PATH, is_dashboard_path};
pub use history::{DEFAULT_HISTORY_PER_FUNCTION, History, InvocationFilter, MAX_HISTORY_PER_FUNCTION};

/// One function as the functions page lists it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct FunctionInfo {
    pub name: String,
    /// The trigger's binding type (`httpTrigger`, `timerTrigger`, `queueTrigger`, …).
    pub trigger: String,
    /// What starts it: the route and methods, the schedule, the queue.
    pub target: String,
    /// The HTTP trigger's `authLevel`.
    pub auth_level: Option<String>,
    /// When a timer function runs next (RFC 3339).
    pub next_run: Option<String>,
    /// Why it cannot run, when it failed to load.
    pub error: Option<String>,
}

/// One worker process slot as the workers page lists it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct WorkerInfo {
    pub slot: usize,
    pub pid: Option<u32>,
    /// Whether a process serves invocations in this slot now.
    pub live: bool,
    /// How many times its process stopped and was started again.
    pub restarts: u64,
    /// Invocations it runs now.
    pub in_flight: usize,
}

/// What only the host knows: its functions and its worker processes. Both are read on each
/// request, so the pages show the state of the moment.
pub trait AppSources: Send + Sync + fmt::Debug {
    fn functions(&self) -> Vec<FunctionInfo>;
    fn workers(&self) -> Vec<WorkerInfo>;
}

/// The durable task hub's engine and its HTTP API settings; the orchestration actions go
/// through the durable HTTP API's own handler.
#[derive(Debug, Clone)]
pub struct DurableSource {
    pub engine: Arc<fnwire_durable::engine::Engine>,
    pub api: Arc<fnwire_durable::http::ApiConfig>,
}

/// Reads `extensions.fnwire.dashboard` of a `host.json` document: `historyPerFunction` (a whole
/// number from 1 to [`MAX_HISTORY_PER_FUNCTION`]). Missing means the default.
pub fn history_setting(host_json: &Value) -> Result<Option<usize>, String> {
    let Some(section) = host_json.pointer("/extensions/fnwire/dashboard") else { return Ok(None) };
    if section.is_null() {
        return Ok(None);
    }
    let Some(section) = section.as_object() else {
        return Err(format!(
            "extensions.fnwire.dashboard must be an object such as {{\"historyPerFunction\": 100}}, found `{section}`"
        ));
    };
    if let Some(unknown) = section.keys().find(|k| k.as_str() != "historyPerFunction") {
        return Err(format!(
            "extensions.fnwire.dashboard has an unknown setting `{unknown}`; the one setting is historyPerFunction"
        ));
    }
    match section.get("historyPerFunction") {
        None | Some(Value::Null) => Ok(None),
        Some(value) => match value.as_u64().and_then(|n| usize::try_from(n).ok()) {
            Some(n) if (1..=MAX_HISTORY_PER_FUNCTION).contains(&n) => Ok(Some(n)),
            _ => Err(format!(
                "extensions.fnwire.dashboard.historyPerFunction must be a whole number from 1 to \
                 {MAX_HISTORY_PER_FUNCTION} (invocations kept per function), found `{value}`"
            )),
        },
    }
}

/// The dashboard of one running app.
pub struct Dashboard {
    history: Arc<History>,
    sources: Arc<dyn AppSources>,
    queues: Option<Arc<dyn QueueStore>>,
    durable: Option<DurableSource>,
    /// Raised when the host stops: live feeds end so that the HTTP drain need not wait for them.
    closed: tokio::sync::watch::Sender<bool>,
    log_follower: tokio::task::JoinHandle<()>,
}

impl fmt::Debug for Dashboard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dashboard")
            .field("history", &self.history)
            .field("sources", &self.sources)
            .field("durable", &self.durable.is_some())
            .finish_non_exhaustive()
    }
}

impl Dashboard {
    /// A dashboard over `history` (which the host registered on its pipeline). Starts following
    /// the workers' log lines; must be called inside a Tokio runtime.
    pub fn new(
        history: Arc<History>,
        sources: Arc<dyn AppSources>,
        queues: Option<Arc<dyn QueueStore>>,
        durable: Option<DurableSource>,
    ) -> Dashboard {
        let log_follower = history.follow_worker_logs();
        Dashboard {
            history,
            sources,
            queues,
            durable,
            closed: tokio::sync::watch::channel(false).0,
            log_follower,
        }
    }

    pub fn history(&self) -> &Arc<History> {
        &self.history
    }

    /// Ends every live feed, now and for later requests (the host is stopping).
    pub fn close(&self) {
        self.closed.send_replace(true);
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        self.close();
        self.log_follower.abort();
    }
}

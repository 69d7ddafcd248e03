//! The host's health endpoints, at Azure's paths so probes and tools written for Azure work:
//! `GET|POST /admin/host/ping` (anonymous, empty body) and `GET /admin/host/status` (the master
//! key, as on Azure; JSON `HostStatus`: `id`, `state`, `version`, `versionDetails`,
//! `processUptime`, `errors`, plus `store`, the health of the store the triggers use).
//!
//! Ping answers 200 only while the host is `Running` and 503 while it starts or drains, so it
//! is the readiness probe: a draining pod leaves the Service before its listener closes.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use http_body_util::Full;
use serde::Serialize;

use crate::keys::{AuthLevel, Keys, presented_key};

pub const PING_PATH: &str = "/admin/host/ping";
pub const STATUS_PATH: &str = "/admin/host/status";

/// The host's state, named as Azure's `ScriptHostState` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostState {
    Starting,
    Running,
    /// Draining after SIGTERM or Ctrl-C: in-flight work finishes, nothing new is taken.
    Stopping,
    /// The app could not start (or its workers gave up).
    Error,
}

impl HostState {
    pub fn as_str(self) -> &'static str {
        match self {
            HostState::Starting => "Starting",
            HostState::Running => "Running",
            HostState::Stopping => "Stopping",
            HostState::Error => "Error",
        }
    }
}

/// A check of the store the app's triggers and bindings use: `Ok` or why it failed.
pub type StoreProbe = Arc<dyn Fn() -> Result<(), String> + Send + Sync>;

/// What the health endpoints report; shared by the host (which moves the state) and the HTTP
/// front door (which answers).
pub struct Health {
    state: tokio::sync::watch::Sender<HostState>,
    started: Instant,
    id: String,
    keys: OnceLock<Arc<Keys>>,
    store: OnceLock<(&'static str, StoreProbe)>,
    /// Why the store does not answer, while it does not (see [`Health::check_store`]).
    store_outage: Arc<Mutex<Option<String>>>,
}

impl std::fmt::Debug for Health {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Health").field("state", &self.state()).field("id", &self.id).finish_non_exhaustive()
    }
}

impl Default for Health {
    fn default() -> Self {
        Health::new()
    }
}

/// `GET /admin/host/status`'s body.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct HostStatus {
    pub id: String,
    pub state: &'static str,
    pub version: &'static str,
    pub version_details: String,
    /// Milliseconds since the host started, as Azure reports it.
    pub process_uptime: u64,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<String>,
    /// Absent until the store is open.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub store: Option<StoreHealth>,
}

#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreHealth {
    /// `sqlite` for the embedded store, `postgresql` for the shared one.
    pub kind: &'static str,
    /// `Healthy` or `Unhealthy`.
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl Health {
    pub fn new() -> Health {
        // The pod name in Kubernetes, the machine's name elsewhere: what tells replicas apart.
        let id = std::env::var("HOSTNAME").ok().filter(|h| !h.is_empty()).unwrap_or_else(|| "fnwire".into());
        Health {
            state: tokio::sync::watch::Sender::new(HostState::Starting),
            started: Instant::now(),
            id,
            keys: OnceLock::new(),
            store: OnceLock::new(),
            store_outage: Arc::new(Mutex::new(None)),
        }
    }

    /// Why the store does not answer, if the host found it down and it has not answered since.
    /// Functions that need the store answer 503 meanwhile, without running.
    pub fn store_outage(&self) -> Option<String> {
        self.store_outage.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }

    /// After a call that needed the store failed: checks whether the store answers. If it does
    /// not, the host reports the fault once, marks the store down (see [`Health::store_outage`])
    /// and checks again with back-off until it answers, then reports that it is back. Returns
    /// why it is down, or `None` when it answers (the failure was something else).
    pub async fn check_store(&self) -> Option<String> {
        let (kind, probe) = self.store.get()?;
        if let Some(reason) = self.store_outage() {
            return Some(reason);
        }
        let reason = run_probe(probe.clone()).await.err()?;
        let mut outage = self.store_outage.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if outage.is_none() {
            *outage = Some(reason.clone());
            tracing::error!(
                "the app's store ({kind}) does not answer: {reason}. Functions that need it answer 503 until it is \
                 back; fnwire checks again with back-off, and queue and durable work waits"
            );
            tokio::spawn(watch_recovery(self.store_outage.clone(), probe.clone()));
        }
        Some(reason)
    }

    pub fn state(&self) -> HostState {
        *self.state.borrow()
    }

    pub fn set_state(&self, state: HostState) {
        self.state.send_replace(state);
    }

    /// Completes once the host is stopping (at once if it is).
    pub async fn stopping(&self) {
        let _ = self.state.subscribe().wait_for(|s| *s == HostState::Stopping).await;
    }

    /// The keys `/admin/host/status` requires (the master key). Until they are loaded the
    /// endpoint answers 503.
    pub fn set_keys(&self, keys: Arc<Keys>) {
        let _ = self.keys.set(keys);
    }

    /// The store whose health the status reports.
    pub fn set_store(&self, kind: &'static str, probe: StoreProbe) {
        let _ = self.store.set((kind, probe));
    }

    /// The answer to a health request, or `None` when the path is not a health endpoint.
    pub async fn answer(
        &self,
        method: &Method,
        uri: &http::Uri,
        headers: &http::HeaderMap,
    ) -> Option<Response> {
        match uri.path() {
            PING_PATH => Some(self.ping(method)),
            STATUS_PATH => Some(self.status(method, uri, headers).await),
            _ => None,
        }
    }

    fn ping(&self, method: &Method) -> Response {
        if method != Method::GET && method != Method::POST && method != Method::HEAD {
            return method_not_allowed("GET, POST");
        }
        let status =
            if self.state() == HostState::Running { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
        let mut response = http::Response::new(Full::new(Bytes::new()));
        *response.status_mut() = status;
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store, no-cache"));
        response
    }

    async fn status(&self, method: &Method, uri: &http::Uri, headers: &http::HeaderMap) -> Response {
        if method != Method::GET && method != Method::HEAD {
            return method_not_allowed("GET");
        }
        let Some(keys) = self.keys.get() else {
            return plain(StatusCode::SERVICE_UNAVAILABLE, "the host is still starting; try again shortly");
        };
        if !keys.allows(AuthLevel::Admin, presented_key(headers, uri).as_deref()) {
            return plain(
                StatusCode::UNAUTHORIZED,
                "/admin/host/status needs the master key in the x-functions-key header or the code query \
                 parameter (`fnwire keys` prints it)",
            );
        }
        let store = match self.store.get() {
            None => None,
            Some((kind, probe)) => {
                let probe = probe.clone();
                let checked = tokio::task::spawn_blocking(move || probe())
                    .await
                    .unwrap_or_else(|e| Err(format!("the store check panicked: {e}")));
                Some(match checked {
                    Ok(()) => StoreHealth { kind, state: "Healthy", error: None },
                    Err(e) => StoreHealth { kind, state: "Unhealthy", error: Some(e) },
                })
            }
        };
        let mut errors = Vec::new();
        if let Some(StoreHealth { error: Some(e), .. }) = &store {
            errors.push(format!("store: {e}"));
        }
        let body = HostStatus {
            id: self.id.clone(),
            state: self.state().as_str(),
            version: env!("CARGO_PKG_VERSION"),
            version_details: format!("fnwire {}", env!("CARGO_PKG_VERSION")),
            process_uptime: u64::try_from(self.started.elapsed().as_millis()).unwrap_or(u64::MAX),
            errors,
            store,
        };
        let json = serde_json::to_vec(&body).unwrap_or_default();
        let mut response = http::Response::new(Full::new(Bytes::from(json)));
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
        response.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store, no-cache"));
        response
    }
}

type Response = http::Response<Full<Bytes>>;

/// Runs the store probe on the blocking pool.
async fn run_probe(probe: StoreProbe) -> Result<(), String> {
    tokio::task::spawn_blocking(move || probe())
        .await
        .unwrap_or_else(|e| Err(format!("the store check stopped: {e}")))
}

/// Probes a store found down, waiting longer each time (to 10 s), until it answers.
async fn watch_recovery(outage: Arc<Mutex<Option<String>>>, probe: StoreProbe) {
    let started = Instant::now();
    let mut wait = Duration::from_millis(250);
    loop {
        tokio::time::sleep(wait).await;
        let result = run_probe(probe.clone()).await;
        let mut state = outage.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match result {
            Ok(()) => {
                *state = None;
                tracing::info!(
                    "the app's store answers again after {:.1} s; functions that need it run again",
                    started.elapsed().as_secs_f64()
                );
                return;
            }
            Err(reason) => *state = Some(reason),
        }
        wait = (wait * 2).min(Duration::from_secs(10));
    }
}

fn plain(status: StatusCode, text: &str) -> Response {
    let mut response = http::Response::new(Full::new(Bytes::from(text.to_string())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    response
}

fn method_not_allowed(allow: &'static str) -> Response {
    let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, &format!("this endpoint accepts {allow}"));
    response.headers_mut().insert(header::ALLOW, HeaderValue::from_static(allow));
    response
}

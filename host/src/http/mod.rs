//! The HTTP front door: routes requests to HTTP-triggered functions through the worker.

pub mod admin_metrics;
pub mod body;
pub mod limits;
pub mod line_endings;
pub mod listener;
pub mod rejection;
pub mod request;
pub mod response;

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use http::header;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::invoke::{Invocation, InvocationError, Pipeline};
use crate::keys::{AuthLevel, Keys, presented_key};
use crate::log_limit::RateLimitedLog;
use crate::routes::{RouteMatch, RouteTable, path_segments};
use body::BodyBudget;
pub use limits::{DEFAULT_MAX_REQUEST_BODY, ListenerLimits};
use listener::{Admission, Connections, WatchedIo};
pub use rejection::Rejection;
pub use request::HttpCapabilities;

/// An HTTP-triggered function the host can route to.
#[derive(Debug, Clone)]
pub struct HttpFunction {
    pub name: String,
    pub function_id: String,
    /// Name of the trigger binding (the input the worker reads the request from).
    pub trigger_name: String,
    /// Name of the `http` output binding (`$return` or a parameter), if any.
    pub http_output: Option<String>,
    /// Why the function cannot run, if it cannot (it then answers 500).
    pub error: Option<String>,
    /// The trigger's `authLevel` (absent means `function`, as in Azure).
    pub auth_level: AuthLevel,
    /// Whether it has bindings the app's store serves (blobs, queues, the durable client): it
    /// answers 503 while the store does not answer.
    pub needs_store: bool,
}

/// Everything needed to serve requests once the worker is ready.
#[derive(Debug)]
pub struct ReadyApp {
    /// Runs invocations on the worker processes, with their storage bindings.
    pub pipeline: Pipeline,
    /// The keys `function` and `admin` routes require.
    pub keys: Arc<Keys>,
    pub routes: RouteTable,
    /// By function name.
    pub functions: HashMap<String, HttpFunction>,
    pub capabilities: HttpCapabilities,
    /// The durable extension's HTTP API, when the app has durable functions or clients.
    pub durable: Option<crate::durable::DurableApi>,
    /// The dashboard, unless `--no-dashboard`.
    pub dashboard: Option<DashboardRoutes>,
}

impl ReadyApp {
    /// The same app serving another route table and HTTP function list (after a reload).
    pub fn with_http_functions(
        &self,
        routes: RouteTable,
        functions: HashMap<String, HttpFunction>,
    ) -> ReadyApp {
        ReadyApp {
            pipeline: self.pipeline.clone(),
            keys: self.keys.clone(),
            routes,
            functions,
            capabilities: self.capabilities,
            durable: self.durable.clone(),
            dashboard: self.dashboard.clone(),
        }
    }
}

/// The dashboard's routes (`/admin/ui`, `/admin/api/…`), who may call them, and where.
#[derive(Debug, Clone)]
pub struct DashboardRoutes {
    pub dashboard: Arc<fnwire_dashboard::Dashboard>,
    /// The master key is required: the host listens beyond the loopback.
    pub requires_key: bool,
    /// `--dashboard-port`: the dashboard is served only on its own listener.
    pub own_port: Option<DashboardPorts>,
}

/// The two ports when the dashboard has its own (`--dashboard-port`), so that a request on the
/// wrong one is told where to go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DashboardPorts {
    pub dashboard: u16,
    pub app: u16,
}

/// Whether requests can be served right now.
#[derive(Debug, Clone)]
pub enum Availability {
    Starting,
    Ready(Arc<ReadyApp>),
    /// Requests get 503 with this reason.
    Unavailable(String),
}

/// Shared state of the HTTP server.
#[derive(Debug)]
pub struct HttpState {
    availability: RwLock<Availability>,
    route_prefix: String,
    limits: ListenerLimits,
    connections: Arc<Connections>,
    bodies: BodyBudget,
    /// Refused keys, at most one line per interval however many clients try.
    unauthorized_log: RateLimitedLog,
    /// Connections closed for a limit.
    connection_log: RateLimitedLog,
    /// What `/admin/host/ping` and `/admin/host/status` report.
    pub health: crate::health::Health,
    /// What `/admin/metrics` reports, once the app has started.
    pub metrics: admin_metrics::AdminMetrics,
    /// The `--dashboard-port` listener: it serves the dashboard and nothing else.
    dashboard_only: bool,
}

impl HttpState {
    pub fn new(route_prefix: &str, limits: ListenerLimits) -> Self {
        HttpState {
            availability: RwLock::new(Availability::Starting),
            route_prefix: route_prefix.trim_matches('/').to_string(),
            connections: Connections::new(limits.max_connections),
            bodies: BodyBudget::new(&limits),
            limits,
            unauthorized_log: RateLimitedLog::new(LOG_INTERVAL),
            connection_log: RateLimitedLog::new(LOG_INTERVAL),
            health: crate::health::Health::new(),
            metrics: admin_metrics::AdminMetrics::default(),
            dashboard_only: false,
        }
    }

    /// The state of the `--dashboard-port` listener: the dashboard's routes only, with limits
    /// (connections, bodies in flight) of its own, so the dashboard never takes the app's.
    pub fn dashboard_only(route_prefix: &str, limits: ListenerLimits) -> Self {
        HttpState { dashboard_only: true, ..HttpState::new(route_prefix, limits) }
    }

    /// The listener's limits.
    pub fn limits(&self) -> &ListenerLimits {
        &self.limits
    }

    /// HTTP connections open right now.
    pub fn open_connections(&self) -> usize {
        self.connections.count()
    }

    pub fn route_prefix(&self) -> &str {
        &self.route_prefix
    }

    pub fn set(&self, availability: Availability) {
        *self.availability.write().unwrap_or_else(std::sync::PoisonError::into_inner) = availability;
    }

    pub fn get(&self) -> Availability {
        self.availability.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
    }
}

type Body = Full<Bytes>;

/// What the listener sends: a whole body (functions, health, the durable API), or the
/// dashboard's, which may be a live feed.
pub type ResponseBody = http_body_util::Either<Body, fnwire_dashboard::DashboardBody>;

/// Repeated warnings (refused keys, closed connections) are logged at most once per interval.
const LOG_INTERVAL: std::time::Duration = std::time::Duration::from_secs(10);

/// Accepts connections until `stop` completes (or the listener fails). Each connection is
/// served on its own task, watched for the limits of [`listener`]; nothing a client sends can
/// stop the loop. On `stop` the listener is closed (new connections are refused) and the
/// returned [`GracefulShutdown`] still watches the open connections: its `shutdown()` lets their
/// requests in flight finish, then closes them.
pub async fn serve(
    listener: TcpListener,
    state: Arc<HttpState>,
    stop: crate::drain::StopSignal,
) -> GracefulShutdown {
    let graceful = GracefulShutdown::new();
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    // HTTP/1 deadlines are the connection watchdog's (it also covers the wait before hyper
    // knows the protocol); HTTP/2 needs the timer for its keep-alive pings.
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(state.limits.http2_max_concurrent_streams)
        .max_header_list_size(state.limits.http2_max_header_list_size)
        .max_pending_accept_reset_streams(Some(20))
        .keep_alive_interval(state.limits.keep_alive_timeout.map(|t| t / 2))
        .keep_alive_timeout(std::time::Duration::from_secs(20));
    let builder = Arc::new(builder);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop.stopped() => return graceful,
        };
        let (stream, _) = match accepted {
            Ok(s) => s,
            Err(e) => {
                // Usually "too many open files": wait a little instead of spinning.
                state.connection_log.warn(|suppressed| {
                    format!("accepting an HTTP connection failed: {e}{suppressed}; consider a lower maxConnections")
                });
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let slot = match state.connections.admit() {
            Admission::Admitted(slot) => slot,
            Admission::Full => {
                state.connection_log.warn(|suppressed| {
                    format!(
                        "closed a new HTTP connection: all {} connections (maxConnections) have a request in \
                         flight{suppressed}",
                        state.limits.max_connections
                    )
                });
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let builder = builder.clone();
        let watcher = graceful.watcher();
        let stop = stop.clone();
        tokio::spawn(async move {
            let limits = state.limits.clone();
            let watched = slot.watched.clone();
            let refuse_bare_line_feeds = limits.disable_http1_line_feed_terminators;
            let service = hyper::service::service_fn(move |req| {
                let state = state.clone();
                let in_flight = watched.request_started();
                let bare_line_feed = watched.saw_bare_line_feed();
                async move {
                    let response = if bare_line_feed {
                        // Answered, then the connection is closed: what follows the bad line
                        // cannot be trusted to be where the next request starts.
                        let mut response = Rejection::BareLineFeed.into_response();
                        response
                            .headers_mut()
                            .insert(header::CONNECTION, http::HeaderValue::from_static("close"));
                        response.map(http_body_util::Either::Left)
                    } else {
                        respond(req, &state).await
                    };
                    drop(in_flight);
                    Ok::<_, Infallible>(response)
                }
            });
            let io = TokioIo::new(WatchedIo::new(stream, slot.watched.clone(), refuse_bare_line_feeds));
            let connection = watcher.watch(builder.serve_connection(io, service));
            tokio::select! {
                result = connection => {
                    if let Err(e) = result {
                        tracing::debug!("HTTP connection ended with an error: {e}");
                    }
                }
                reason = slot.watched.closed(&limits) => {
                    tracing::debug!("closed an HTTP connection: {reason:?}");
                }
                // Draining: a connection with no request in flight (idle, or a head still arriving)
                // closes now; one with a request is closed by the graceful shutdown after its
                // response is written.
                () = idle_at_stop(&stop, &slot.watched) => {
                    tracing::debug!("closed an HTTP connection without a request in flight: the host is stopping");
                }
            }
            drop(slot);
        });
    }
}

/// Completes when the host stops while `watched` has no request in flight; never otherwise.
async fn idle_at_stop(stop: &crate::drain::StopSignal, watched: &listener::Watched) {
    stop.stopped().await;
    if watched.has_request_in_flight() {
        std::future::pending::<()>().await;
    }
}

/// Answers one request: the dashboard's routes, or [`handle`]'s.
async fn respond(req: http::Request<Incoming>, state: &HttpState) -> http::Response<ResponseBody> {
    if state.dashboard_only || fnwire_dashboard::is_dashboard_path(req.uri().path()) {
        return serve_dashboard(req, state)
            .await
            .unwrap_or_else(|rejection| rejection.into_response().map(http_body_util::Either::Left));
    }
    handle(req, state).await.map(http_body_util::Either::Left)
}

/// The dashboard: the master key is required when the host listens beyond the loopback.
async fn serve_dashboard(
    req: http::Request<Incoming>,
    state: &HttpState,
) -> Result<http::Response<ResponseBody>, Rejection> {
    let app = state.ready()?;
    let (parts, body) = req.into_parts();
    let Some(routes) = &app.dashboard else {
        return Err(Rejection::NotFound { path: parts.uri.path().to_string() });
    };
    if let Some(ports) = routes.own_port {
        let path = parts.uri.path();
        if !state.dashboard_only {
            return Err(Rejection::WrongPort {
                path: path.to_string(),
                port: ports.dashboard,
                what: "the dashboard",
            });
        }
        if !fnwire_dashboard::is_dashboard_path(path) {
            return Err(Rejection::WrongPort {
                path: path.to_string(),
                port: ports.app,
                what: "the app (its functions and the host's /admin routes)",
            });
        }
    }
    require_host(&parts)?;
    if routes.requires_key
        && !app.keys.allows(AuthLevel::Admin, presented_key(&parts.headers, &parts.uri).as_deref())
    {
        state.unauthorized_log.warn(|suppressed| {
            format!(
                "refused a request to the dashboard ({}): missing or wrong master key{suppressed}",
                rejection::shortened(parts.uri.path())
            )
        });
        return Err(Rejection::Unauthorized);
    }
    let held = state.bodies.read(&parts.headers, body).await?;
    let _reservation = held.reservation;
    let response = routes.dashboard.handle(&parts.method, &parts.uri, &parts.headers, held.bytes).await;
    Ok(response.map(http_body_util::Either::Right))
}

/// Answers one request: route, authorize, read the body, run the function through the
/// [`Pipeline`], map its response. Each way it can fail is a [`Rejection`].
pub async fn handle(req: http::Request<Incoming>, state: &HttpState) -> http::Response<Body> {
    if let Some(health) = state.health.answer(req.method(), req.uri(), req.headers()).await {
        return health;
    }
    if let Some(metrics) = state.metrics.answer(req.method(), req.uri(), req.headers()).await {
        return metrics;
    }
    serve_request(req, state).await.unwrap_or_else(Rejection::into_response)
}

async fn serve_request(
    req: http::Request<Incoming>,
    state: &HttpState,
) -> Result<http::Response<Body>, Rejection> {
    let app = state.ready()?;
    let (parts, body) = req.into_parts();
    require_host(&parts)?;
    if let Some(durable) = &app.durable
        && let Some(path) = durable_path(parts.uri.path())
    {
        return serve_durable(durable, &app, &parts, path, body, state).await;
    }
    let (function, params) = app.route(&parts, &state.route_prefix)?;
    // Checked before the body is read; the answer never says which keys exist.
    app.authorize(function, &parts, &state.unauthorized_log)?;
    // The reservation lives until the response is built: the invocation holds the bytes.
    // A body still arriving when the host starts to drain is not waited for: the request has not
    // run yet, and a stalled client must not hold the drain for its whole timeout.
    let held = tokio::select! {
        held = state.bodies.read(&parts.headers, body) => held?,
        () = state.health.stopping() => {
            return Err(Rejection::Unavailable("the host is stopping; send the request again".into()));
        }
    };
    let body = held.bytes;
    let _reservation = held.reservation;
    let invocation_id = new_invocation_id();
    function.loaded(&invocation_id)?;
    let store_unavailable =
        |reason: String| Rejection::StoreUnavailable { function: function.name.clone(), reason };
    if function.needs_store
        && let Some(reason) = state.health.store_outage()
    {
        return Err(store_unavailable(reason));
    }
    let request_parts = request::RequestParts {
        method: &parts.method,
        uri: &parts.uri,
        headers: &parts.headers,
        body: &body,
        params: &params,
    };
    let invocation = Invocation {
        function: function.name.clone(),
        reason: invocation_reason(&parts.method, parts.uri.path()),
        request: request::invocation_request(
            &invocation_id,
            &function.function_id,
            &function.trigger_name,
            &request_parts,
            app.capabilities,
        ),
        held: None,
    };
    // Dropping this future (the client went away) cancels the invocation on the worker.
    let response = match app.pipeline.run(invocation).await {
        Ok(response) => response,
        Err(error) => {
            // Inputs or outputs the store serves failed: if the store does not answer, that
            // is the answer (503, retry later); nothing was delivered.
            if function.needs_store
                && matches!(error, InvocationError::Inputs(_) | InvocationError::Outputs(_))
                && let Some(reason) = state.health.check_store().await
            {
                return Err(store_unavailable(reason));
            }
            return Err(Rejection::Invocation {
                function: function.name.clone(),
                invocation_id: invocation_id.clone(),
                error: Box::new(error),
            });
        }
    };
    let data = function.http_output.as_deref().and_then(|name| response::http_output(&response, name));
    let mapped = response::to_http_response(data);
    for w in &mapped.warnings {
        tracing::warn!("'{}' (Id={invocation_id}): {w}", function.name);
    }
    Ok(mapped.response.map(Full::new))
}

/// A new invocation id, a hyphenated v4 UUID as Azure's host makes them, encoded on the stack
/// and copied once (`to_string` went through `Display` and grew its string).
fn new_invocation_id() -> String {
    uuid::Uuid::new_v4().hyphenated().encode_lower(&mut uuid::Uuid::encode_buffer()).to_owned()
}

/// `HTTP GET /api/hello`, the reason the `Executing` line gives, in one allocation.
fn invocation_reason(method: &http::Method, path: &str) -> String {
    let method = method.as_str();
    let mut reason = String::with_capacity("HTTP ".len() + method.len() + 1 + path.len());
    reason.push_str("HTTP ");
    reason.push_str(method);
    reason.push(' ');
    reason.push_str(path);
    reason
}

/// The part of a path under the durable API's base, if it is under it.
fn durable_path(path: &str) -> Option<&str> {
    path.strip_prefix(fnwire_durable::http::WEBHOOK_PATH)?.strip_prefix('/')
}

/// The durable HTTP API: the system key (or the master key) is required, as on Azure.
async fn serve_durable(
    durable: &crate::durable::DurableApi,
    app: &ReadyApp,
    parts: &http::request::Parts,
    path: &str,
    body: Incoming,
    state: &HttpState,
) -> Result<http::Response<Body>, Rejection> {
    let presented = presented_key(&parts.headers, &parts.uri);
    if !crate::durable::allows(&durable.api, &app.keys, presented.as_deref()) {
        state.unauthorized_log.warn(|suppressed| {
            format!(
                "refused a request to the durable API ({}): missing or wrong key{suppressed}",
                rejection::shortened(parts.uri.path())
            )
        });
        return Err(Rejection::Unauthorized);
    }
    // Within the listener's body limits first (memory, rate); then the API's own limit, on
    // bytes already held (one frame: no copy).
    let held = state.bodies.read(&parts.headers, body).await?;
    let _reservation = held.reservation;
    let body = match fnwire_durable::http::read_body(Full::new(held.bytes)).await {
        Ok(body) => body,
        Err(e) => return Ok(e.into_response().map(Full::new)),
    };
    let request = fnwire_durable::http::ApiRequest {
        method: &parts.method,
        path,
        query: parts.uri.query(),
        headers: &parts.headers,
        body,
    };
    let response = fnwire_durable::http::handle(&durable.engine, &durable.api, request).await;
    // The task hub failed (the API answers 503): if the store does not answer, the functions
    // that need it answer 503 at once until it is back.
    if response.status() == http::StatusCode::SERVICE_UNAVAILABLE {
        state.health.check_store().await;
    }
    Ok(response.map(Full::new))
}

impl HttpState {
    /// The app, once requests can be served.
    fn ready(&self) -> Result<Arc<ReadyApp>, Rejection> {
        match self.get() {
            Availability::Ready(app) => Ok(app),
            Availability::Starting => Err(Rejection::Starting),
            Availability::Unavailable(reason) => Err(Rejection::Unavailable(reason)),
        }
    }
}

impl ReadyApp {
    /// The function routed at the request's path and method, with the route's parameters.
    fn route(
        &self,
        parts: &http::request::Parts,
        route_prefix: &str,
    ) -> Result<(&HttpFunction, BTreeMap<String, String>), Rejection> {
        let path = parts.uri.path();
        let not_found = || Rejection::NotFound { path: path.to_string() };
        let segments = path_segments(path, route_prefix).ok_or_else(not_found)?;
        match self.routes.find(&segments, &parts.method) {
            RouteMatch::Found { function_name, params } => {
                Ok((self.functions.get(function_name).ok_or_else(not_found)?, params))
            }
            RouteMatch::NotFound => Err(not_found()),
            RouteMatch::MethodNotAllowed { allow } => Err(Rejection::MethodNotAllowed {
                path: path.to_string(),
                method: parts.method.clone(),
                allow,
            }),
        }
    }

    /// Refuses a request without the key the function's `authLevel` requires.
    fn authorize(
        &self,
        function: &HttpFunction,
        parts: &http::request::Parts,
        log: &RateLimitedLog,
    ) -> Result<(), Rejection> {
        if self.keys.allows(function.auth_level, presented_key(&parts.headers, &parts.uri).as_deref()) {
            return Ok(());
        }
        log.warn(|suppressed| {
            format!(
                "refused a request to '{}' ({}): missing or wrong key{suppressed}",
                function.name,
                rejection::shortened(parts.uri.path())
            )
        });
        Err(Rejection::Unauthorized)
    }
}

impl HttpFunction {
    /// Refuses to run a function that failed to load.
    fn loaded(&self, invocation_id: &str) -> Result<(), Rejection> {
        let Some(reason) = &self.error else { return Ok(()) };
        tracing::error!("'{}' cannot run (invocation {invocation_id}): {reason}", self.name);
        Err(Rejection::NotLoaded { function: self.name.clone(), invocation_id: invocation_id.to_string() })
    }
}

/// HTTP/1.1 requires `Host` (RFC 9112 §3.2: a server must answer 400 without one).
fn require_host(parts: &http::request::Parts) -> Result<(), Rejection> {
    if parts.version == http::Version::HTTP_11 && !parts.headers.contains_key(header::HOST) {
        return Err(Rejection::MissingHost);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invocation_ids_are_hyphenated_v4_uuids_each_new() {
        let (a, b) = (new_invocation_id(), new_invocation_id());
        assert_ne!(a, b);
        for id in [a, b] {
            let parsed = uuid::Uuid::parse_str(&id).unwrap();
            assert_eq!(parsed.get_version_num(), 4, "{id}");
            assert_eq!(parsed.hyphenated().to_string(), id, "lower-case, hyphenated: {id}");
        }
    }

    #[test]
    fn the_reason_names_method_and_path_as_before() {
        for (method, path) in
            [(http::Method::GET, "/api/hello"), (http::Method::from_bytes(b"PURGE").unwrap(), "/")]
        {
            assert_eq!(invocation_reason(&method, path), format!("HTTP {method} {path}"));
        }
    }
}

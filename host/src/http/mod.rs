//! The HTTP front door: routes requests to HTTP-triggered functions through the worker.

pub mod rejection;
pub mod request;
pub mod response;

use std::collections::{BTreeMap, HashMap};
use std::convert::Infallible;
use std::sync::{Arc, RwLock};

use bytes::Bytes;
use http::header;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use crate::invoke::{Invocation, Pipeline};
use crate::keys::{AuthLevel, Keys, presented_key};
use crate::routes::{RouteMatch, RouteTable, path_segments};
pub use rejection::Rejection;
pub use request::HttpCapabilities;

/// Default largest request body: 100 MiB, as Azure Functions allows.
pub const DEFAULT_MAX_REQUEST_BODY: usize = 100 * 1024 * 1024;

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
    max_request_body: usize,
    /// What `/admin/host/ping` and `/admin/host/status` report.
    pub health: crate::health::Health,
}

impl HttpState {
    pub fn new(route_prefix: &str, max_request_body: usize) -> Self {
        HttpState {
            availability: RwLock::new(Availability::Starting),
            route_prefix: route_prefix.trim_matches('/').to_string(),
            max_request_body,
            health: crate::health::Health::new(),
        }
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

/// Accepts connections until `stop` completes (or the listener fails). Each connection is
/// served on its own task; nothing a client sends can stop the loop. On `stop` the listener is
/// closed (new connections are refused) and the returned [`GracefulShutdown`] still watches
/// the open connections: its `shutdown()` lets their requests in flight finish, then closes them.
pub async fn serve(
    listener: TcpListener,
    state: Arc<HttpState>,
    stop: crate::drain::StopSignal,
) -> GracefulShutdown {
    let graceful = GracefulShutdown::new();
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = stop.stopped() => return graceful,
        };
        let (stream, _) = match accepted {
            Ok(s) => s,
            Err(e) => {
                // Usually "too many open files": wait a little instead of spinning.
                tracing::warn!("accepting an HTTP connection failed: {e}");
                tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        let watcher = graceful.watcher();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(req, &state).await) }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            if let Err(e) = watcher.watch(connection).await {
                tracing::debug!("HTTP connection ended with an error: {e}");
            }
        });
    }
}

/// Answers one request: route, authorize, read the body, run the function through the
/// [`Pipeline`], map its response. Each way it can fail is a [`Rejection`].
pub async fn handle(req: http::Request<Incoming>, state: &HttpState) -> http::Response<Body> {
    if let Some(health) = state.health.answer(req.method(), req.uri(), req.headers()).await {
        return health;
    }
    serve_request(req, state).await.unwrap_or_else(Rejection::into_response)
}

async fn serve_request(
    req: http::Request<Incoming>,
    state: &HttpState,
) -> Result<http::Response<Body>, Rejection> {
    let app = state.ready()?;
    let (parts, body) = req.into_parts();
    if let Some(durable) = &app.durable
        && let Some(path) = durable_path(parts.uri.path())
    {
        return serve_durable(durable, &app, &parts, path, body).await;
    }
    let (function, params) = app.route(&parts, &state.route_prefix)?;
    // Checked before the body is read; the answer never says which keys exist.
    app.authorize(function, &parts)?;
    let body = read_body(&parts.headers, body, state.max_request_body).await?;
    let invocation_id = uuid::Uuid::new_v4().to_string();
    function.loaded(&invocation_id)?;
    let request_parts = request::RequestParts {
        method: &parts.method,
        uri: &parts.uri,
        headers: &parts.headers,
        body: &body,
        params: &params,
    };
    let invocation = Invocation {
        function: function.name.clone(),
        reason: format!("HTTP {} {}", parts.method, parts.uri.path()),
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
    let response = app.pipeline.run(invocation).await.map_err(|error| Rejection::Invocation {
        function: function.name.clone(),
        invocation_id: invocation_id.clone(),
        error: Box::new(error),
    })?;
    let data = function.http_output.as_deref().and_then(|name| response::http_output(&response, name));
    let mapped = response::to_http_response(data);
    for w in &mapped.warnings {
        tracing::warn!("'{}' (Id={invocation_id}): {w}", function.name);
    }
    Ok(mapped.response.map(Full::new))
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
) -> Result<http::Response<Body>, Rejection> {
    let presented = presented_key(&parts.headers, &parts.uri);
    if !crate::durable::allows(&durable.api, &app.keys, presented.as_deref()) {
        tracing::warn!("refused a request to the durable API ({}): missing or wrong key", parts.uri.path());
        return Err(Rejection::Unauthorized);
    }
    let body = match fnwire_durable::http::read_body(body).await {
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
    Ok(fnwire_durable::http::handle(&durable.engine, &durable.api, request).await.map(Full::new))
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
    fn authorize(&self, function: &HttpFunction, parts: &http::request::Parts) -> Result<(), Rejection> {
        if self.keys.allows(function.auth_level, presented_key(&parts.headers, &parts.uri).as_deref()) {
            return Ok(());
        }
        tracing::warn!(
            "refused a request to '{}' ({}): missing or wrong key",
            function.name,
            parts.uri.path()
        );
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

/// Reads the whole body, refusing one larger than `limit` (by its `Content-Length` before
/// reading, else while reading).
async fn read_body(headers: &http::HeaderMap, body: Incoming, limit: usize) -> Result<Bytes, Rejection> {
    let declared_length = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared_length.is_some_and(|n| n > limit as u64) {
        return Err(Rejection::TooLarge { limit });
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(Rejection::TooLarge { limit }),
        Err(e) => Err(Rejection::UnreadableBody(e.to_string())),
    }
}

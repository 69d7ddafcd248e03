//! The HTTP front door: routes requests to HTTP-triggered functions through the worker.

pub mod request;
pub mod response;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::{Arc, RwLock};
use std::time::Instant;

use bytes::Bytes;
use fnwire_protocol::rpc::status_result;
use http::{HeaderValue, Method, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

use crate::keys::{AuthLevel, Keys, presented_key};
use crate::routes::{RouteMatch, RouteTable, path_segments};
use crate::supervisor::{InvokeError, WorkerPool};
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
    /// The worker processes invocations go to.
    pub workers: Arc<WorkerPool>,
    /// The keys `function` and `admin` routes require.
    pub keys: Arc<Keys>,
    pub routes: RouteTable,
    /// By function name.
    pub functions: HashMap<String, HttpFunction>,
    pub capabilities: HttpCapabilities,
    /// Blob inputs and queue/blob outputs of functions (none: outputs other than `http` are
    /// not delivered).
    pub bindings: Option<Arc<crate::bindings::AppBindings>>,
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
}

impl HttpState {
    pub fn new(route_prefix: &str, max_request_body: usize) -> Self {
        HttpState {
            availability: RwLock::new(Availability::Starting),
            route_prefix: route_prefix.trim_matches('/').to_string(),
            max_request_body,
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

fn plain(status: StatusCode, text: impl Into<String>) -> http::Response<Body> {
    let mut r = http::Response::new(Full::new(Bytes::from(text.into())));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

/// Accepts connections until the listener fails. Each connection is served on its own task;
/// nothing a client sends can stop the loop.
pub async fn serve(listener: TcpListener, state: Arc<HttpState>) {
    loop {
        let (stream, _) = match listener.accept().await {
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
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                let state = state.clone();
                async move { Ok::<_, Infallible>(handle(req, &state).await) }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            if let Err(e) = builder.serve_connection(TokioIo::new(stream), service).await {
                tracing::debug!("HTTP connection ended with an error: {e}");
            }
        });
    }
}

/// Answers one request.
pub async fn handle(req: http::Request<Incoming>, state: &HttpState) -> http::Response<Body> {
    let app = match state.get() {
        Availability::Ready(app) => app,
        Availability::Starting => {
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                "fnwire: the function app is still starting; try again in a moment\n",
            );
        }
        Availability::Unavailable(reason) => {
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("fnwire: no worker is available: {reason}\n"),
            );
        }
    };
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let not_found = || {
        plain(
            StatusCode::NOT_FOUND,
            format!(
                "fnwire: no function is routed at {path} (the routes are listed on the fnwire console)\n"
            ),
        )
    };
    let Some(segments) = path_segments(&path, &state.route_prefix) else { return not_found() };
    let (function_name, params) = match app.routes.find(&segments, &parts.method) {
        RouteMatch::Found { function_name, params } => (function_name.to_string(), params),
        RouteMatch::NotFound => return not_found(),
        RouteMatch::MethodNotAllowed { allow } => {
            let allow_text = allow.iter().map(Method::as_str).collect::<Vec<_>>().join(", ");
            let mut r = plain(
                StatusCode::METHOD_NOT_ALLOWED,
                format!("fnwire: {path} does not accept {}; allowed: {allow_text}\n", parts.method),
            );
            if let Ok(v) = HeaderValue::from_str(&allow_text) {
                r.headers_mut().insert(header::ALLOW, v);
            }
            return r;
        }
    };
    let Some(function) = app.functions.get(&function_name) else { return not_found() };
    // Checked before the body is read; the answer never says which keys exist.
    if !app.keys.allows(function.auth_level, presented_key(&parts.headers, &parts.uri).as_deref()) {
        tracing::warn!("refused a request to '{}' ({path}): missing or wrong key", function.name);
        return plain(
            StatusCode::UNAUTHORIZED,
            "fnwire: this function requires a key (x-functions-key header or code query parameter)\n",
        );
    }
    let too_large = || {
        plain(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!(
                "fnwire: the request body is larger than the limit of {} bytes\n",
                state.max_request_body
            ),
        )
    };
    let declared_length = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared_length.is_some_and(|n| n > state.max_request_body as u64) {
        return too_large();
    }
    let body = match Limited::new(body, state.max_request_body).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => return too_large(),
        Err(e) => {
            return plain(StatusCode::BAD_REQUEST, format!("fnwire: could not read the request body: {e}\n"));
        }
    };
    let invocation_id = uuid::Uuid::new_v4().to_string();
    if let Some(reason) = &function.error {
        tracing::error!("'{}' cannot run (invocation {invocation_id}): {reason}", function.name);
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "fnwire: function '{}' is not available (it failed to load); invocation id {invocation_id}. See the \
                 fnwire console for the reason.\n",
                function.name
            ),
        );
    }
    let request_parts = request::RequestParts {
        method: &parts.method,
        uri: &parts.uri,
        headers: &parts.headers,
        body: &body,
        params: &params,
    };
    let mut invocation = request::invocation_request(
        &invocation_id,
        &function.function_id,
        &function.trigger_name,
        &request_parts,
        app.capabilities,
    );
    let output_values = match app.bindings.as_ref().map(|b| b.prepare(&function.name, &mut invocation)) {
        Some(Err(e)) => {
            tracing::error!("'{}' (Id={invocation_id}) could not run: {e}", function.name);
            return plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!(
                    "fnwire: function '{}' could not run: {e}; invocation id {invocation_id}\n",
                    function.name
                ),
            );
        }
        Some(Ok(values)) => values,
        None => Default::default(),
    };
    tracing::info!("Executing '{}' (Id={invocation_id})", function.name);
    let started = Instant::now();
    // Dropping this future (the client went away) cancels the invocation on the worker.
    let outcome = app.workers.invoke(&function.name, invocation).await;
    let elapsed = started.elapsed().as_millis();
    let response = match outcome {
        Err(InvokeError::TimedOut(after)) => {
            tracing::error!(
                "'{}' (Id={invocation_id}) timed out after {after:?} (functionTimeout)",
                function.name
            );
            return plain(
                StatusCode::GATEWAY_TIMEOUT,
                format!(
                    "fnwire: function '{}' did not finish within functionTimeout ({after:?}); invocation id \
                     {invocation_id}\n",
                    function.name
                ),
            );
        }
        Err(InvokeError::Unavailable(reason)) => {
            tracing::error!("'{}' (Id={invocation_id}) could not run: {reason}", function.name);
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("fnwire: no worker is available: {reason}\n"),
            );
        }
        Err(InvokeError::WorkerDied(reason)) => {
            tracing::error!("'{}' (Id={invocation_id}) could not complete: {reason}", function.name);
            return plain(
                StatusCode::SERVICE_UNAVAILABLE,
                format!(
                    "fnwire: no worker is available: the worker running this request stopped ({reason})\n"
                ),
            );
        }
        Ok(r) => r,
    };
    let status = response.result.as_ref().map_or(status_result::Status::Failure as i32, |r| r.status);
    if status != status_result::Status::Success as i32 {
        let outcome =
            if status == status_result::Status::Cancelled as i32 { "was cancelled" } else { "failed" };
        let (message, stack) = response
            .result
            .as_ref()
            .and_then(|r| r.exception.as_ref())
            .map(|e| (e.message.clone(), e.stack_trace.clone()))
            .unwrap_or_default();
        let stack = if stack.is_empty() { String::new() } else { format!("\n{stack}") };
        tracing::error!(
            "Executed '{}' ({outcome}, Id={invocation_id}, Duration={elapsed}ms): {message}{stack}",
            function.name
        );
        // The exception text stays in the log: it can hold secrets or internals.
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "fnwire: function '{}' {outcome}; invocation id {invocation_id}. See the fnwire console for \
                 details.\n",
                function.name
            ),
        );
    }
    // Queue and blob outputs are delivered only now that the function succeeded.
    if let Some(bindings) = &app.bindings
        && let Err(e) = bindings.complete(&function.name, &output_values, &response, None)
    {
        tracing::error!(
            "Executed '{}' (Failed, Id={invocation_id}, Duration={elapsed}ms): the function succeeded but its outputs \
             could not be delivered: {e}",
            function.name
        );
        return plain(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!(
                "fnwire: function '{}' ran, but its outputs could not be delivered; invocation id {invocation_id}. \
                 See the fnwire console.\n",
                function.name
            ),
        );
    }
    tracing::info!("Executed '{}' (Succeeded, Id={invocation_id}, Duration={elapsed}ms)", function.name);
    let data = function.http_output.as_deref().and_then(|name| response::http_output(&response, name));
    let mapped = response::to_http_response(data);
    for w in &mapped.warnings {
        tracing::warn!("'{}' (Id={invocation_id}): {w}", function.name);
    }
    mapped.response.map(Full::new)
}

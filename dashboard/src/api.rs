//! The dashboard's HTTP surface: the JSON API under `/admin/api/…`, its live feed (server-sent
//! events), its OpenAPI document, and the page under `/admin/ui`.

use std::convert::Infallible;
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, Uri, header};
use http_body::Frame;
use http_body_util::{BodyExt, Full, StreamBody, combinators::UnsyncBoxBody};
use serde_json::{Value, json};

use crate::history::InvocationFilter;
use crate::{Dashboard, DurableSource};

/// Where the JSON API lives.
pub const API_PREFIX: &str = "/admin/api";
/// Where the page lives.
pub const UI_PATH: &str = "/admin/ui";

/// A dashboard response body: whole, or a live feed that ends when the client goes away or
/// the host stops.
pub type DashboardBody = UnsyncBoxBody<Bytes, Infallible>;

const PAGE: &str = include_str!("ui.html");
const OPENAPI: &str = include_str!("openapi.json");

/// Invocations a list returns when the request does not say.
const DEFAULT_LIST_LIMIT: usize = 100;
/// The most a list returns.
const MAX_LIST_LIMIT: usize = 1000;
/// Messages a peek returns at most.
const MAX_PEEK: usize = 32;
/// Visible messages looked through to find one by id (requeue, delete).
const MAX_MESSAGES_SEARCHED: usize = 1024;
/// A comment line on quiet live feeds, so proxies and browsers keep them open.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Whether the dashboard answers `path`.
pub fn is_dashboard_path(path: &str) -> bool {
    let under =
        |prefix: &str| path == prefix || path.strip_prefix(prefix).is_some_and(|rest| rest.starts_with('/'));
    under(API_PREFIX) || under(UI_PATH)
}

/// An API failure: its status and a message saying what happened and what to do.
#[derive(Debug)]
struct ApiError {
    status: StatusCode,
    message: String,
    /// The methods the path takes, for a 405 (RFC 9110 requires `Allow` with it).
    allow: Option<&'static str>,
}

impl ApiError {
    fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiError { status, message: message.into(), allow: None }
    }
    fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }
    fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
    fn store(error: impl std::fmt::Display) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the app's store did not answer: {error}; try again once it is back"),
        )
    }
}

fn whole(status: StatusCode, content_type: &'static str, body: impl Into<Bytes>) -> Response<DashboardBody> {
    let mut response = Response::new(Full::new(body.into()).boxed_unsync());
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    response
}

fn json_response(status: StatusCode, value: &Value) -> Response<DashboardBody> {
    whole(status, "application/json; charset=utf-8", value.to_string())
}

fn error_response(error: ApiError) -> Response<DashboardBody> {
    let mut response = json_response(error.status, &json!({ "error": error.message }));
    if let Some(allow) = error.allow.and_then(|a| HeaderValue::from_str(&a.replace(" or ", ", ")).ok()) {
        response.headers_mut().insert(header::ALLOW, allow);
    }
    response
}

/// The query string as pairs, later ones winning.
fn query_map(uri: &Uri) -> std::collections::HashMap<String, String> {
    form_urlencoded::parse(uri.query().unwrap_or("").as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect()
}

fn decoded_segments(path: &str) -> Result<Vec<String>, ApiError> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s).decode_utf8().map(|s| s.into_owned()).map_err(|_| {
                ApiError::bad_request(format!("the path segment `{s}` is not UTF-8 once decoded"))
            })
        })
        .collect()
}

const OUTCOMES: [&str; 5] = ["Running", "Succeeded", "Failed", "Cancelled", "NotRun"];

fn filter_from(query: &std::collections::HashMap<String, String>) -> Result<InvocationFilter, ApiError> {
    let non_empty = |key: &str| query.get(key).filter(|v| !v.is_empty()).cloned();
    let outcome = non_empty("outcome");
    if let Some(o) = &outcome
        && !OUTCOMES.iter().any(|known| known.eq_ignore_ascii_case(o))
    {
        return Err(ApiError::bad_request(format!(
            "outcome `{o}` is not an outcome; use one of {}",
            OUTCOMES.join(", ")
        )));
    }
    Ok(InvocationFilter { function: non_empty("function"), outcome, text: non_empty("text") })
}

fn number(
    query: &std::collections::HashMap<String, String>,
    key: &str,
    default: usize,
    max: usize,
) -> Result<usize, ApiError> {
    match query.get(key).filter(|v| !v.is_empty()) {
        None => Ok(default),
        Some(v) => match v.parse::<usize>() {
            Ok(n) if (1..=max).contains(&n) => Ok(n),
            _ => Err(ApiError::bad_request(format!("{key} `{v}` must be a whole number from 1 to {max}"))),
        },
    }
}

impl Dashboard {
    /// Answers one dashboard request (see [`is_dashboard_path`]); the host has read the body.
    pub async fn handle(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Response<DashboardBody> {
        self.route(method, uri, headers, body).await.unwrap_or_else(error_response)
    }

    async fn route(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        body: Bytes,
    ) -> Result<Response<DashboardBody>, ApiError> {
        let path = uri.path();
        if path == UI_PATH || path == "/admin/ui/" {
            return match *method {
                Method::GET | Method::HEAD => Ok(whole(StatusCode::OK, "text/html; charset=utf-8", PAGE)),
                _ => Err(method_not_allowed(method, path, "GET")),
            };
        }
        let Some(rest) = path.strip_prefix(API_PREFIX) else {
            return Err(ApiError::not_found(format!("{path} is not a dashboard page; open {UI_PATH}")));
        };
        let segments = decoded_segments(rest)?;
        let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
        let query = query_map(uri);
        match (method, segments.as_slice()) {
            (&Method::GET, ["openapi.json"]) => {
                Ok(whole(StatusCode::OK, "application/json; charset=utf-8", OPENAPI))
            }
            (&Method::GET, ["functions"]) => Ok(json_response(StatusCode::OK, &self.functions())),
            (&Method::GET, ["invocations"]) => {
                let filter = filter_from(&query)?;
                let limit = number(&query, "limit", DEFAULT_LIST_LIMIT, MAX_LIST_LIMIT)?;
                Ok(json_response(StatusCode::OK, &Value::Array(self.history.list(&filter, limit))))
            }
            (&Method::GET, ["invocations", "stream"]) => Ok(self.live_feed(filter_from(&query)?)),
            (&Method::GET, ["invocations", id]) => match self.history.get(id) {
                Some(detail) => Ok(json_response(StatusCode::OK, &detail)),
                None => Err(ApiError::not_found(format!(
                    "no invocation `{id}` in the history: it never ran here, or it is older than the last {} \
                     invocations of its function the history keeps (extensions.fnwire.dashboard.historyPerFunction)",
                    self.history.per_function()
                ))),
            },
            (&Method::GET, ["workers"]) => Ok(json_response(StatusCode::OK, &json!(self.sources.workers()))),
            (&Method::GET, ["queues"]) => self.queues_list().await,
            (&Method::GET, ["queues", queue, "messages"]) => {
                let limit = number(&query, "limit", MAX_PEEK, MAX_PEEK)?;
                self.peek(queue, limit).await
            }
            (&Method::DELETE, ["queues", queue, "messages", id]) => self.delete_message(queue, id).await,
            (&Method::POST, ["queues", queue, "messages", id, "requeue"]) => self.requeue(queue, id).await,
            (_, ["orchestrations", ..]) => {
                self.orchestrations(method, uri, headers, &segments[1..], body).await
            }
            (_, ["openapi.json" | "functions" | "invocations" | "workers" | "queues"])
            | (_, ["invocations", _] | ["queues", _, "messages"] | ["queues", _, "messages", _])
            | (_, ["queues", _, "messages", _, "requeue"]) => {
                Err(method_not_allowed(method, path, allowed(&segments)))
            }
            _ => Err(ApiError::not_found(format!(
                "{path} is not a dashboard API route; /admin/api/openapi.json lists them"
            ))),
        }
    }

    fn functions(&self) -> Value {
        let functions = self.sources.functions();
        Value::Array(
            functions
                .into_iter()
                .map(|f| {
                    let mut value = json!(f);
                    let stats = self.history.stats(&f.name);
                    if let (Some(object), Value::Object(stats)) = (value.as_object_mut(), json!(stats)) {
                        object.extend(stats);
                    }
                    value
                })
                .collect(),
        )
    }

    fn live_feed(&self, filter: InvocationFilter) -> Response<DashboardBody> {
        let events = self.history.subscribe();
        let closed = self.closed.subscribe();
        let state = (events, filter, true);
        let stream = futures::stream::unfold(state, move |(mut events, filter, first)| {
            let mut closed = closed.clone();
            async move {
                if first {
                    // Tells the page the feed is open; events follow as they happen.
                    return Some((Bytes::from_static(b"retry: 2000\n: open\n\n"), (events, filter, false)));
                }
                loop {
                    if *closed.borrow_and_update() {
                        return None;
                    }
                    let received = tokio::select! {
                        received = events.recv() => received,
                        _ = closed.changed() => return None,
                        () = tokio::time::sleep(KEEP_ALIVE) => {
                            return Some((Bytes::from_static(b": keep-alive\n\n"), (events, filter, false)));
                        }
                    };
                    match received {
                        Ok(event) if event.matches(&filter) => {
                            let text = format!("event: {}\ndata: {}\n\n", event.kind, event.data);
                            return Some((Bytes::from(text), (events, filter, false)));
                        }
                        Ok(_) => continue,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(missed)) => {
                            let text = format!("event: lagged\ndata: {{\"missed\":{missed}}}\n\n");
                            return Some((Bytes::from(text), (events, filter, false)));
                        }
                        Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
                    }
                }
            }
        });
        let body = StreamBody::new(stream.map(|bytes| Ok::<_, Infallible>(Frame::data(bytes))));
        let mut response = Response::new(body.boxed_unsync());
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream"));
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        response
    }

    fn store(&self) -> Result<std::sync::Arc<dyn fnwire_storage::QueueStore>, ApiError> {
        self.queues.clone().ok_or_else(|| ApiError::not_found("this app has no store, so no queues"))
    }

    async fn queues_list(&self) -> Result<Response<DashboardBody>, ApiError> {
        let store = self.store()?;
        let queues = blocking(move || store.list_queues()).await?.map_err(ApiError::store)?;
        let list: Vec<Value> = queues
            .iter()
            .map(|q| {
                let poison = queues.iter().find(|p| p.name == fnwire_storage::poison_queue_name(&q.name));
                json!({
                    "name": q.name,
                    "visible": q.visible,
                    "invisible": q.invisible,
                    "isPoison": q.name.ends_with("-poison"),
                    "poison": poison.map(|p| p.visible + p.invisible).unwrap_or(0),
                })
            })
            .collect();
        Ok(json_response(StatusCode::OK, &Value::Array(list)))
    }

    async fn peek(&self, queue: &str, limit: usize) -> Result<Response<DashboardBody>, ApiError> {
        let store = self.store()?;
        let name = queue.to_string();
        let peeked = blocking(move || store.peek(&name, limit)).await?.map_err(|e| queue_error(queue, e))?;
        let list: Vec<Value> = peeked.iter().map(message_json).collect();
        Ok(json_response(StatusCode::OK, &Value::Array(list)))
    }

    /// Takes visible messages of `queue` until the one with `id` turns up, gives the others
    /// back as they were (the look does not count as an attempt), and hands the found one to
    /// `act` with its pop receipt.
    async fn with_message<T: Send + 'static>(
        &self,
        queue: &str,
        id: &str,
        act: impl FnOnce(
            &dyn fnwire_storage::QueueStore,
            &fnwire_storage::LeasedMessage,
        ) -> Result<T, fnwire_storage::StorageError>
        + Send
        + 'static,
    ) -> Result<T, ApiError> {
        let store = self.store()?;
        let (queue_name, wanted) = (queue.to_string(), id.to_string());
        let found = blocking(move || {
            let mut taken = Vec::new();
            let mut act = Some(act);
            let mut result = None;
            while result.is_none() && taken.len() < MAX_MESSAGES_SEARCHED {
                let batch = store.get_messages(&queue_name, 32, Duration::from_secs(30))?;
                if batch.is_empty() {
                    break;
                }
                for message in batch {
                    if message.id == wanted
                        && let Some(act) = act.take()
                    {
                        result = Some(act(store.as_ref(), &message));
                    } else {
                        taken.push(message);
                    }
                }
            }
            for other in &taken {
                // Best effort: one that cannot be given back reappears after 30 seconds.
                let _ = store.release_unattempted(&queue_name, &other.id, &other.pop_receipt, Duration::ZERO);
            }
            Ok::<_, fnwire_storage::StorageError>(result)
        })
        .await?
        .map_err(|e| queue_error(queue, e))?;
        match found {
            Some(result) => result.map_err(|e| queue_error(queue, e)),
            None => Err(ApiError::not_found(format!(
                "no visible message `{id}` in queue `{queue}`: it was taken, deleted, or is being processed \
                 (only visible messages, up to {MAX_MESSAGES_SEARCHED}, are searched); refresh the list"
            ))),
        }
    }

    async fn delete_message(&self, queue: &str, id: &str) -> Result<Response<DashboardBody>, ApiError> {
        self.with_message(queue, id, |store, m| store.delete(&m.queue, &m.id, &m.pop_receipt)).await?;
        Ok(json_response(StatusCode::OK, &json!({ "deleted": id, "queue": queue })))
    }

    async fn requeue(&self, queue: &str, id: &str) -> Result<Response<DashboardBody>, ApiError> {
        let Some(target) = queue.strip_suffix("-poison").filter(|t| !t.is_empty()) else {
            return Err(ApiError::not_found(format!(
                "`{queue}` is not a poison queue; only messages of a `<queue>-poison` queue can be requeued"
            )));
        };
        let target_name = target.to_string();
        self.with_message(queue, id, move |store, m| {
            // One transaction: the message leaves the poison queue and lands on its queue.
            store.complete_and_put(
                Some((&m.queue, &m.id, &m.pop_receipt)),
                &[fnwire_storage::MessageBody::new(target_name, m.body.clone())],
            )
        })
        .await?;
        Ok(json_response(StatusCode::OK, &json!({ "requeued": id, "from": queue, "to": target })))
    }

    async fn orchestrations(
        &self,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        rest: &[&str],
        body: Bytes,
    ) -> Result<Response<DashboardBody>, ApiError> {
        let allow = match (method, rest) {
            (&Method::GET, [] | [_]) | (&Method::DELETE, [_]) => None,
            (&Method::POST, [_, "terminate"] | [_, "raiseEvent", _]) => None,
            (_, []) => Some("GET"),
            (_, [_]) => Some("GET or DELETE"),
            (_, [_, "terminate"] | [_, "raiseEvent", _]) => Some("POST"),
            _ => None,
        };
        if let Some(allow) = allow {
            return Err(method_not_allowed(method, uri.path(), allow));
        }
        let Some(DurableSource { engine, api }) = &self.durable else {
            return Err(ApiError::not_found(
                "this app has no durable functions, so no orchestrations; add an orchestrator to see them here",
            ));
        };
        let encode = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
        };
        let query = uri.query().unwrap_or("");
        // The dashboard's routes map onto the durable HTTP API's.
        let (path, query) = match (method, rest) {
            (&Method::GET, []) => ("instances".to_string(), query.to_string()),
            (&Method::GET, [id]) => (
                format!("instances/{}", encode(id)),
                "showHistory=true&showHistoryOutput=true&showInput=true".to_string(),
            ),
            (&Method::DELETE, [id]) => (format!("instances/{}", encode(id)), String::new()),
            (&Method::POST, [id, "terminate"]) => {
                (format!("instances/{}/terminate", encode(id)), query.to_string())
            }
            (&Method::POST, [id, "raiseEvent", event]) => {
                (format!("instances/{}/raiseEvent/{}", encode(id), encode(event)), String::new())
            }
            (_, [] | [_] | [_, "terminate"] | [_, "raiseEvent", _]) => {
                let allow = match rest {
                    [] => "GET",
                    [_] => "GET or DELETE",
                    _ => "POST",
                };
                return Err(method_not_allowed(method, uri.path(), allow));
            }
            _ => {
                return Err(ApiError::not_found(format!(
                    "{} {} is not a dashboard API route; /admin/api/openapi.json lists them",
                    method,
                    uri.path()
                )));
            }
        };
        let request =
            fnwire_durable::http::ApiRequest { method, path: &path, query: Some(&query), headers, body };
        let response = fnwire_durable::http::handle(engine, api, request).await;
        Ok(response.map(|b| Full::new(b).boxed_unsync()))
    }
}

fn allowed(segments: &[&str]) -> &'static str {
    match segments {
        ["queues", _, "messages", _] => "DELETE",
        ["queues", _, "messages", _, "requeue"] => "POST",
        _ => "GET",
    }
}

fn method_not_allowed(method: &Method, path: &str, allow: &'static str) -> ApiError {
    let mut error = ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {path}; use {allow}"),
    );
    error.allow = Some(allow);
    error
}

fn queue_error(queue: &str, error: fnwire_storage::StorageError) -> ApiError {
    match error {
        fnwire_storage::StorageError::InvalidQueueName { .. } => {
            ApiError::bad_request(format!("queue `{queue}`: {error}"))
        }
        other => ApiError::store(other),
    }
}

fn message_json(m: &fnwire_storage::PeekedMessage) -> Value {
    json!({
        "id": m.id,
        "body": crate::render::shortened(&String::from_utf8_lossy(&m.body), crate::render::MAX_VALUE_CHARS),
        "dequeueCount": m.dequeue_count,
        "insertedAt": m.insertion_time.to_rfc3339(),
        "expiresAt": m.expiration_time.to_rfc3339(),
    })
}

/// Runs store work on the blocking pool (the stores block on their database).
async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, format!("the store task failed: {e}")))
}

//! The durable HTTP API (`/runtime/webhooks/durabletask/…`), as the extension's
//! `HttpApiHandler` answers it, and the `durableClient` binding value that points at it.
//!
//! The same handler serves two doors: the host's public listener (which checks the system key
//! first) and a loopback-only listener without keys, the `rpcBaseUrl` the client libraries call
//! (Azure's `LocalHttpListener` does the same on 127.0.0.1:17071).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use chrono::{DateTime, SecondsFormat, Utc};
use http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use serde_json::{Value, json};

use crate::engine::{DurableKind, Engine, blocking, stored_json};
use crate::model::{EntityId, EntityRequest, EventType, HistoryEvent, RuntimeStatus, iso_time};
use crate::taskhub::{InstanceQuery, InstanceRecord, Message, NewInstance, TaskHubError};

/// The path under which the public API lives on the host's listener.
pub const WEBHOOK_PATH: &str = "/runtime/webhooks/durabletask";
/// The response and request header that carries the list's continuation token.
pub const CONTINUATION_HEADER: &str = "x-ms-continuation-token";
/// Largest request body the API reads (event payloads, inputs).
const MAX_BODY: usize = 16 * 1024 * 1024;

/// Where the API is reachable and with which key.
#[derive(Clone)]
pub struct ApiConfig {
    /// `http://127.0.0.1:7071/runtime/webhooks/durabletask` (no trailing slash).
    pub public_base: String,
    /// The key the public API requires (`code=` / `x-functions-key`), Azure's
    /// `durabletask_extension` system key.
    pub system_key: String,
    /// `http://127.0.0.1:<port>/durabletask/` on the loopback-only listener.
    pub rpc_base: String,
}

impl std::fmt::Debug for ApiConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ApiConfig")
            .field("public_base", &self.public_base)
            .field("rpc_base", &self.rpc_base)
            .finish()
    }
}

/// Every way an API request fails, with its status and message.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Gone(String),
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    TooLarge(String),
    #[error("the durable task hub failed: {0}")]
    Store(String),
}

impl From<TaskHubError> for ApiError {
    fn from(e: TaskHubError) -> Self {
        match e {
            TaskHubError::InstanceExists { .. } => ApiError::Conflict(e.to_string()),
            TaskHubError::NoInstance(_) => ApiError::NotFound(e.to_string()),
            other => ApiError::Store(other.to_string()),
        }
    }
}

impl ApiError {
    fn status(&self) -> StatusCode {
        match self {
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            // The store not answering is a fault that passes: the client may try again.
            ApiError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The extension's error body: `Message`, and `ExceptionMessage`, which the Python client
    /// shows when a start fails.
    pub fn into_response(self) -> Response<Bytes> {
        let message = self.to_string();
        json_response(self.status(), &json!({"Message": message, "ExceptionMessage": message}))
    }
}

fn json_response(status: StatusCode, body: &Value) -> Response<Bytes> {
    let mut response = Response::new(Bytes::from(body.to_string()));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json; charset=utf-8"));
    response
}

fn azure_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Everything but the unreserved characters of RFC 3986, so ids and keys stay readable.
const URL_COMPONENT: &percent_encoding::AsciiSet =
    &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~');

fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, URL_COMPONENT).to_string()
}

impl ApiConfig {
    fn common_query(&self, hub: &str) -> String {
        format!("taskHub={}&connection=Storage&code={}", encode(hub), encode(&self.system_key))
    }

    /// The management URLs of one instance (the check-status payload).
    pub fn management_payload(&self, hub: &str, instance_id: &str) -> Value {
        let base = format!("{}/instances/{}", self.public_base, encode(instance_id));
        let q = self.common_query(hub);
        json!({
            "id": instance_id,
            "purgeHistoryDeleteUri": format!("{base}?{q}"),
            "sendEventPostUri": format!("{base}/raiseEvent/{{eventName}}?{q}"),
            "statusQueryGetUri": format!("{base}?{q}"),
            "terminatePostUri": format!("{base}/terminate?reason={{text}}&{q}"),
            "rewindPostUri": format!("{base}/rewind?reason={{text}}&{q}"),
            "restartPostUri": format!("{base}/restart?{q}"),
            "suspendPostUri": format!("{base}/suspend?reason={{text}}&{q}"),
            "resumePostUri": format!("{base}/resume?reason={{text}}&{q}"),
        })
    }

    /// The `durableClient` binding's value.
    pub fn client_binding(&self, hub: &str) -> Value {
        // The libraries replace this placeholder with an instance id.
        let mut management = self.management_payload(hub, "INSTANCEID");
        management["id"] = json!("INSTANCEID");
        let code = encode(&self.system_key);
        json!({
            "taskHubName": hub,
            "creationUrls": {
                "createNewInstancePostUri": format!("{}/orchestrators/{{functionName}}[/{{instanceId}}]?code={code}", self.public_base),
                "createAndWaitOnNewInstancePostUri": format!(
                    "{}/orchestrators/{{functionName}}[/{{instanceId}}]?timeout={{timeoutInSeconds}}&pollingInterval={{intervalInSeconds}}&code={code}",
                    self.public_base
                ),
            },
            "managementUrls": management,
            "baseUrl": self.public_base,
            "requiredQueryStringParameters": format!("code={code}"),
            "rpcBaseUrl": self.rpc_base,
            "httpBaseUrl": self.public_base,
            "connectionName": "Storage",
        })
    }
}

/// One API request (`path` is relative to the API's base, without a leading slash).
#[derive(Debug)]
pub struct ApiRequest<'a> {
    pub method: &'a Method,
    pub path: &'a str,
    pub query: Option<&'a str>,
    pub headers: &'a HeaderMap,
    pub body: Bytes,
}

/// Answers one API request.
pub async fn handle(engine: &Arc<Engine>, config: &ApiConfig, request: ApiRequest<'_>) -> Response<Bytes> {
    route(engine, config, request).await.unwrap_or_else(ApiError::into_response)
}

fn query_map(query: Option<&str>) -> HashMap<String, String> {
    form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .map(|(k, v)| (k.to_lowercase(), v.into_owned()))
        .collect()
}

fn segments(path: &str) -> Vec<String> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| percent_encoding::percent_decode_str(s).decode_utf8_lossy().into_owned())
        .collect()
}

fn flag(query: &HashMap<String, String>, name: &str) -> bool {
    query.get(&name.to_lowercase()).is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// A request body as JSON text, if any; malformed JSON is a 400 naming the problem.
fn body_json(body: &Bytes, what: &str) -> Result<Option<String>, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::BadRequest(format!("the {what} is not UTF-8 text")))?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    serde_json::from_str::<Value>(text).map_err(|e| {
        ApiError::BadRequest(format!("the {what} is not valid JSON ({e}); send a JSON value"))
    })?;
    Ok(Some(text.to_string()))
}

async fn route(
    engine: &Arc<Engine>,
    config: &ApiConfig,
    request: ApiRequest<'_>,
) -> Result<Response<Bytes>, ApiError> {
    let parts = segments(request.path);
    let query = query_map(request.query);
    let parts: Vec<&str> = parts.iter().map(String::as_str).collect();
    let method = request.method;
    match (method, parts.as_slice()) {
        (&Method::POST, ["orchestrators", name]) => {
            start(engine, config, name, None, &query, &request.body).await
        }
        (&Method::POST, ["orchestrators", name, id]) => {
            start(engine, config, name, Some(id), &query, &request.body).await
        }
        (&Method::GET, ["instances"]) => list(engine, &query, request.headers).await,
        (&Method::DELETE, ["instances"]) => purge_many(engine, &query).await,
        (&Method::GET, ["instances", id]) => status(engine, config, id, &query).await,
        (&Method::DELETE, ["instances", id]) => purge_one(engine, id).await,
        (&Method::POST, ["instances", id, "raiseEvent", event]) => {
            raise_event(engine, id, event, &request.body).await
        }
        (&Method::POST, ["instances", id, "terminate"]) => {
            control(engine, id, EventType::ExecutionTerminated, &query).await
        }
        (&Method::POST, ["instances", id, "suspend"]) => {
            control(engine, id, EventType::ExecutionSuspended, &query).await
        }
        (&Method::POST, ["instances", id, "resume"]) => {
            control(engine, id, EventType::ExecutionResumed, &query).await
        }
        (&Method::POST, ["instances", id, "restart"]) => restart(engine, config, id, &query).await,
        (&Method::POST, ["instances", id, "rewind"]) => rewind(engine, id, &query).await,
        (&Method::GET, ["entities", name, key]) => entity_state(engine, name, key).await,
        (&Method::POST, ["entities", name, key]) => {
            signal_entity(engine, name, key, &query, &request.body).await
        }
        (_, ["orchestrators", ..] | ["instances", ..] | ["entities", ..]) => Err(ApiError::MethodNotAllowed(
            format!("{method} is not allowed on {}/{}", WEBHOOK_PATH, request.path),
        )),
        _ => Err(ApiError::NotFound(format!("{}/{} is not a durable API route", WEBHOOK_PATH, request.path))),
    }
}

fn check_status_response(
    config: &ApiConfig,
    hub: &str,
    instance_id: &str,
    status: StatusCode,
) -> Response<Bytes> {
    let payload = config.management_payload(hub, instance_id);
    let location = payload["statusQueryGetUri"].as_str().unwrap_or_default().to_string();
    let mut response = json_response(status, &payload);
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
    response
}

async fn start(
    engine: &Arc<Engine>,
    config: &ApiConfig,
    name: &str,
    instance_id: Option<&str>,
    query: &HashMap<String, String>,
    body: &Bytes,
) -> Result<Response<Bytes>, ApiError> {
    let Some(function) = engine.functions.find(DurableKind::Orchestrator, name).map(str::to_string) else {
        return Err(ApiError::NotFound(format!(
            "The function '{name}' doesn't exist, is disabled, or is not an orchestrator function. Start one of the app's orchestrator functions"
        )));
    };
    let input = body_json(body, "orchestration input")?;
    let instance_id =
        instance_id.map(str::to_string).unwrap_or_else(|| uuid::Uuid::new_v4().simple().to_string());
    if instance_id.starts_with('@') {
        return Err(ApiError::BadRequest(format!(
            "instance id '{instance_id}' starts with '@', which is reserved for entities; choose another id"
        )));
    }
    let new =
        NewInstance { instance_id: instance_id.clone(), name: function, input, parent: None, start_at: None };
    blocking(&engine.hub, move |hub| hub.create_instance(&new)).await?;
    engine.notify_events();
    let hub = engine.options.task_hub_name.clone();
    // `createAndWaitOnNewInstancePostUri`: wait up to `timeout` seconds for the result.
    if let Some(timeout) = query.get("timeout").and_then(|t| t.parse::<u64>().ok()) {
        let interval = query.get("pollinginterval").and_then(|t| t.parse::<u64>().ok()).unwrap_or(1).max(1);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout.min(3600));
        loop {
            let id = instance_id.clone();
            let record = blocking(&engine.hub, move |hub| hub.get_instance(&id)).await?;
            if let Some(record) = record.filter(|r| r.status.is_terminal()) {
                return Ok(json_response(StatusCode::OK, &stored_json(&record.output)));
            }
            if tokio::time::Instant::now() >= deadline {
                break;
            }
            tokio::time::sleep(Duration::from_secs(interval).min(Duration::from_millis(250))).await;
        }
    }
    Ok(check_status_response(config, &hub, &instance_id, StatusCode::ACCEPTED))
}

/// The status JSON of one instance, as the extension writes it.
pub fn status_json(
    record: &InstanceRecord,
    show_input: bool,
    history: Option<(&[HistoryEvent], bool)>,
) -> Value {
    let mut status = json!({
        "name": record.name,
        "instanceId": record.instance_id,
        "runtimeStatus": record.status.as_str(),
        "input": if show_input { stored_json(&record.input) } else { Value::Null },
        "customStatus": stored_json(&record.custom_status),
        "output": stored_json(&record.output),
        "createdTime": azure_time(record.created),
        "lastUpdatedTime": azure_time(record.last_updated),
    });
    if let Some((events, with_output)) = history {
        status["historyEvents"] = Value::Array(history_json(events, with_output));
    }
    status
}

/// History as the status API shows it: event names, function names, times; payloads only with
/// `showHistoryOutput`. Bookkeeping events (episode starts and ends) are left out.
fn history_json(events: &[HistoryEvent], with_output: bool) -> Vec<Value> {
    let mut scheduled: HashMap<i64, (&str, DateTime<Utc>)> = HashMap::new();
    let mut out = Vec::new();
    for event in events {
        match event.event_type {
            EventType::OrchestratorStarted | EventType::OrchestratorCompleted => continue,
            EventType::TaskScheduled | EventType::SubOrchestrationInstanceCreated => {
                scheduled
                    .insert(event.event_id, (event.name.as_deref().unwrap_or_default(), event.timestamp));
                continue;
            }
            _ => {}
        }
        let mut entry =
            json!({"EventType": event.event_type.name(), "Timestamp": iso_time::format(&event.timestamp)});
        let function = event.name.as_deref().map(|n| (n, None)).or_else(|| {
            event.task_scheduled_id.and_then(|id| scheduled.get(&id)).map(|(n, at)| (*n, Some(*at)))
        });
        if let Some((name, scheduled_at)) = function {
            let key = if event.event_type == EventType::EventRaised { "Name" } else { "FunctionName" };
            entry[key] = json!(name);
            if let Some(at) = scheduled_at {
                entry["ScheduledTime"] = json!(iso_time::format(&at));
            }
        }
        if let Some(fire_at) = &event.fire_at {
            entry["FireAt"] = json!(iso_time::format(fire_at));
        }
        if let Some(reason) = &event.reason {
            entry["Reason"] = json!(reason);
        }
        if let Some(details) = &event.details {
            entry["Details"] = json!(details);
        }
        if with_output {
            if let Some(result) = &event.result {
                entry["Result"] = crate::model::json_text_to_value(result);
            }
            if let Some(input) = &event.input {
                entry["Input"] = crate::model::json_text_to_value(input);
            }
        }
        if let Some(status) = &event.orchestration_status {
            entry["OrchestrationStatus"] = json!(status);
        }
        out.push(entry);
    }
    out
}

async fn find_instance(engine: &Arc<Engine>, instance_id: &str) -> Result<InstanceRecord, ApiError> {
    let id = instance_id.to_string();
    blocking(&engine.hub, move |hub| hub.get_instance(&id))
        .await?
        .filter(|r| !r.instance_id.starts_with('@'))
        .ok_or_else(|| ApiError::NotFound(format!("No instance with ID '{instance_id}' found.")))
}

async fn status(
    engine: &Arc<Engine>,
    config: &ApiConfig,
    instance_id: &str,
    query: &HashMap<String, String>,
) -> Result<Response<Bytes>, ApiError> {
    let record = find_instance(engine, instance_id).await?;
    let show_history = flag(query, "showHistory");
    let history = if show_history {
        let id = instance_id.to_string();
        Some(blocking(&engine.hub, move |hub| hub.get_history(&id)).await?)
    } else {
        None
    };
    let show_input = query.get("showinput").is_none_or(|v| !v.eq_ignore_ascii_case("false"));
    let body =
        status_json(&record, show_input, history.as_deref().map(|h| (h, flag(query, "showHistoryOutput"))));
    let running = matches!(
        record.status,
        RuntimeStatus::Pending
            | RuntimeStatus::Running
            | RuntimeStatus::ContinuedAsNew
            | RuntimeStatus::Suspended
    );
    if !running {
        return Ok(json_response(StatusCode::OK, &body));
    }
    let mut response = json_response(StatusCode::ACCEPTED, &body);
    let location = config.management_payload(&engine.options.task_hub_name, instance_id)["statusQueryGetUri"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    if let Ok(value) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("10"));
    Ok(response)
}

fn parse_time(query: &HashMap<String, String>, name: &str) -> Result<Option<DateTime<Utc>>, ApiError> {
    match query.get(&name.to_lowercase()) {
        Some(text) if !text.is_empty() => iso_time::parse(text)
            .map(Some)
            .map_err(|e| ApiError::BadRequest(format!("query parameter `{name}`: {e}"))),
        _ => Ok(None),
    }
}

fn instance_query(query: &HashMap<String, String>) -> Result<InstanceQuery, ApiError> {
    let mut statuses = Vec::new();
    if let Some(list) = query.get("runtimestatus") {
        for name in list.split(',').filter(|s| !s.trim().is_empty()) {
            statuses.push(RuntimeStatus::parse(name).ok_or_else(|| {
                ApiError::BadRequest(format!(
                    "query parameter `runtimeStatus`: `{name}` is not a runtime status (Pending, Running, Completed, ContinuedAsNew, Failed, Terminated, Suspended)"
                ))
            })?);
        }
    }
    let page_size = match query.get("top") {
        Some(text) => text.parse::<usize>().map_err(|_| {
            ApiError::BadRequest(format!("query parameter `top`: `{text}` is not a whole number"))
        })?,
        None => 100,
    };
    Ok(InstanceQuery {
        statuses,
        created_from: parse_time(query, "createdTimeFrom")?,
        created_to: parse_time(query, "createdTimeTo")?,
        instance_id_prefix: query.get("instanceidprefix").cloned(),
        page_size: page_size.clamp(1, 1000),
        continuation: None,
        include_entities: false,
    })
}

async fn list(
    engine: &Arc<Engine>,
    query: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Response<Bytes>, ApiError> {
    let mut filter = instance_query(query)?;
    filter.continuation = headers.get(CONTINUATION_HEADER).and_then(|v| v.to_str().ok()).map(str::to_string);
    let show_input = flag(query, "showInput");
    let page = blocking(&engine.hub, move |hub| hub.query_instances(&filter)).await?;
    let body: Vec<Value> = page.instances.iter().map(|r| status_json(r, show_input, None)).collect();
    let mut response = json_response(StatusCode::OK, &Value::Array(body));
    if let Some(token) = page.continuation.and_then(|t| HeaderValue::from_str(&t).ok()) {
        response.headers_mut().insert(CONTINUATION_HEADER, token);
    }
    Ok(response)
}

async fn purge_one(engine: &Arc<Engine>, instance_id: &str) -> Result<Response<Bytes>, ApiError> {
    let id = instance_id.to_string();
    let deleted = blocking(&engine.hub, move |hub| hub.purge_instance(&id)).await?;
    if deleted == 0 {
        return Err(ApiError::NotFound(format!("No instance with ID '{instance_id}' found.")));
    }
    Ok(json_response(StatusCode::OK, &json!({"instancesDeleted": deleted})))
}

async fn purge_many(
    engine: &Arc<Engine>,
    query: &HashMap<String, String>,
) -> Result<Response<Bytes>, ApiError> {
    let filter = instance_query(query)?;
    let deleted = blocking(&engine.hub, move |hub| hub.purge_instances(&filter)).await?;
    if deleted == 0 {
        return Err(ApiError::NotFound("No finished instances match the filter.".into()));
    }
    Ok(json_response(StatusCode::OK, &json!({"instancesDeleted": deleted})))
}

async fn send(engine: &Arc<Engine>, message: Message) -> Result<(), ApiError> {
    blocking(&engine.hub, move |hub| hub.send(&message)).await?;
    engine.notify_events();
    Ok(())
}

async fn raise_event(
    engine: &Arc<Engine>,
    instance_id: &str,
    event: &str,
    body: &Bytes,
) -> Result<Response<Bytes>, ApiError> {
    let record = find_instance(engine, instance_id).await?;
    if record.status.is_terminal() {
        return Err(ApiError::Gone(format!(
            "Instance '{instance_id}' is {}; it takes no more events",
            record.status.as_str()
        )));
    }
    let data = body_json(body, "event data")?;
    let mut raised = HistoryEvent::new(EventType::EventRaised, Utc::now());
    raised.name = Some(event.to_string());
    raised.input = Some(data.unwrap_or_else(|| "null".into()));
    send(
        engine,
        Message { instance_id: instance_id.to_string(), execution_id: None, event: raised, visible_at: None },
    )
    .await?;
    Ok(json_response(StatusCode::ACCEPTED, &Value::Null))
}

async fn control(
    engine: &Arc<Engine>,
    instance_id: &str,
    kind: EventType,
    query: &HashMap<String, String>,
) -> Result<Response<Bytes>, ApiError> {
    let record = find_instance(engine, instance_id).await?;
    if record.status.is_terminal() {
        return Err(ApiError::Gone(format!(
            "Instance '{instance_id}' is already {}",
            record.status.as_str()
        )));
    }
    let reason = query.get("reason").cloned().unwrap_or_default();
    let mut event = HistoryEvent::new(kind, Utc::now());
    event.input = Some(Value::String(reason.clone()).to_string());
    event.reason = Some(reason);
    send(
        engine,
        Message { instance_id: instance_id.to_string(), execution_id: None, event, visible_at: None },
    )
    .await?;
    Ok(json_response(StatusCode::ACCEPTED, &Value::Null))
}

async fn rewind(
    engine: &Arc<Engine>,
    instance_id: &str,
    query: &HashMap<String, String>,
) -> Result<Response<Bytes>, ApiError> {
    find_instance(engine, instance_id).await?;
    let (id, reason) = (instance_id.to_string(), query.get("reason").cloned().unwrap_or_default());
    match blocking(&engine.hub, move |hub| hub.rewind(&id, &reason)).await {
        Ok(_) => {}
        Err(e @ TaskHubError::NotFailed { .. }) => return Err(ApiError::Gone(e.to_string())),
        Err(e) => return Err(e.into()),
    }
    engine.notify_events();
    engine.notify_activities();
    Ok(json_response(StatusCode::ACCEPTED, &Value::Null))
}

async fn restart(
    engine: &Arc<Engine>,
    config: &ApiConfig,
    instance_id: &str,
    query: &HashMap<String, String>,
) -> Result<Response<Bytes>, ApiError> {
    let record = find_instance(engine, instance_id).await?;
    let new_id = query.get("restartwithnewinstanceid").is_none_or(|v| !v.eq_ignore_ascii_case("false"));
    let id = if new_id { uuid::Uuid::new_v4().simple().to_string() } else { instance_id.to_string() };
    let new = NewInstance {
        instance_id: id.clone(),
        name: record.name,
        input: record.input,
        parent: None,
        start_at: None,
    };
    blocking(&engine.hub, move |hub| hub.create_instance(&new)).await?;
    engine.notify_events();
    Ok(check_status_response(config, &engine.options.task_hub_name, &id, StatusCode::ACCEPTED))
}

async fn entity_state(engine: &Arc<Engine>, name: &str, key: &str) -> Result<Response<Bytes>, ApiError> {
    let id = EntityId::new(name, key).scheduler_id();
    let lookup = id.clone();
    let record = blocking(&engine.hub, move |hub| hub.get_instance(&lookup)).await?;
    match record.and_then(|r| r.entity_state) {
        Some(state) => Ok(json_response(StatusCode::OK, &crate::model::json_text_to_value(&state))),
        None => Err(ApiError::NotFound(format!("Entity '{id}' does not exist (it has no state)."))),
    }
}

async fn signal_entity(
    engine: &Arc<Engine>,
    name: &str,
    key: &str,
    query: &HashMap<String, String>,
    body: &Bytes,
) -> Result<Response<Bytes>, ApiError> {
    if engine.functions.find(DurableKind::Entity, name).is_none() {
        return Err(ApiError::NotFound(format!(
            "The function '{name}' doesn't exist, is disabled, or is not an entity function."
        )));
    }
    let op = query.get("op").cloned().unwrap_or_default();
    let input = body_json(body, "operation input")?;
    let entity = EntityId::new(name, key);
    // As for starts and events, the body (JSON text) is the stored payload; the libraries'
    // clients encode the input twice, so entities read JSON text inside a JSON string.
    let request =
        EntityRequest { id: uuid::Uuid::new_v4().to_string(), op, input, signal: true, parent: None };
    let mut raised = HistoryEvent::new(EventType::EventRaised, Utc::now());
    raised.name = Some("op".into());
    raised.input = Some(serde_json::to_string(&request).unwrap_or_default());
    send(
        engine,
        Message { instance_id: entity.scheduler_id(), execution_id: None, event: raised, visible_at: None },
    )
    .await?;
    Ok(json_response(StatusCode::ACCEPTED, &Value::Null))
}

/// Reads a whole request body, refusing one larger than the API takes.
pub async fn read_body<B>(body: B) -> Result<Bytes, ApiError>
where
    B: http_body::Body<Data = Bytes>,
    B::Error: std::error::Error + Send + Sync + 'static,
{
    match Limited::new(body, MAX_BODY).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => {
            Err(ApiError::TooLarge(format!("the request body is larger than {MAX_BODY} bytes")))
        }
        Err(e) => Err(ApiError::BadRequest(format!("the request body could not be read: {e}"))),
    }
}

/// Serves the API without keys on a loopback listener (the libraries' `rpcBaseUrl`), under
/// `/durabletask/`.
pub async fn serve_rpc(listener: tokio::net::TcpListener, engine: Arc<Engine>, config: Arc<ApiConfig>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(50)).await;
            continue;
        };
        let (engine, config) = (engine.clone(), config.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                let (engine, config) = (engine.clone(), config.clone());
                async move {
                    let (parts, body) = req.into_parts();
                    let response =
                        match (parts.uri.path().strip_prefix("/durabletask/"), read_body(body).await) {
                            (None, _) => {
                                ApiError::NotFound(format!("{} is not a durable API route", parts.uri.path()))
                                    .into_response()
                            }
                            (_, Err(e)) => e.into_response(),
                            (Some(path), Ok(body)) => {
                                let request = ApiRequest {
                                    method: &parts.method,
                                    path,
                                    query: parts.uri.query(),
                                    headers: &parts.headers,
                                    body,
                                };
                                handle(&engine, &config, request).await
                            }
                        };
                    Ok::<_, Infallible>(response.map(Full::new))
                }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(hyper_util::rt::TokioExecutor::new());
            let _ = builder.serve_connection(hyper_util::rt::TokioIo::new(stream), service).await;
        });
    }
}

//! [`DurableClient`]: starts, queries and signals orchestrations through the durable HTTP API
//! at the binding's `rpcBaseUrl`, as the official libraries' clients do.
//!
//! The HTTP client is hyper-util's, which the worker already links through tonic: no second
//! HTTP stack, no TLS (the API is on the host's loopback address).

use std::fmt;
use std::time::Duration;

use bytes::Bytes;
use fnwire_protocol::rpc::TypedData;
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::orchestration::EntityId;
use crate::convert::FromTypedData;
use crate::{FunctionError, HttpRequest, HttpResponse};

/// The `durableClient` binding's value, as the extension renders it.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ClientBinding {
    #[serde(default)]
    task_hub_name: String,
    #[serde(default)]
    management_urls: Map<String, Value>,
    #[serde(default)]
    rpc_base_url: Option<String>,
}

/// A client for the durable extension's HTTP API: declare it with
/// `#[durable_client_input(name = "client")]` on a `client: DurableClient` parameter.
#[derive(Clone)]
pub struct DurableClient {
    binding: ClientBinding,
    http: Client<HttpConnector, Full<Bytes>>,
}

impl fmt::Debug for DurableClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DurableClient")
            .field("task_hub_name", &self.binding.task_hub_name)
            .field("rpc_base_url", &self.binding.rpc_base_url)
            .finish_non_exhaustive()
    }
}

/// What went wrong talking to the durable HTTP API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DurableClientError {
    message: String,
    status: Option<StatusCode>,
}

impl DurableClientError {
    fn new(message: impl Into<String>) -> Self {
        DurableClientError { message: message.into(), status: None }
    }

    /// An error the API answered with `status`.
    fn answered(status: StatusCode, message: impl Into<String>) -> Self {
        DurableClientError { message: message.into(), status: Some(status) }
    }

    /// The message.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The durable API's status code, when it answered (e.g. 404 for an unknown orchestrator,
    /// 400 for a bad request); `None` when it could not be reached or answered nonsense.
    pub fn status(&self) -> Option<StatusCode> {
        self.status
    }
}

impl fmt::Display for DurableClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DurableClientError {}

/// An orchestration's status, in Azure's status JSON.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrchestrationStatus {
    /// The orchestrator's name.
    #[serde(default)]
    pub name: String,
    /// The instance id.
    #[serde(default)]
    pub instance_id: String,
    /// `Pending`, `Running`, `Completed`, `ContinuedAsNew`, `Failed`, `Terminated`, `Suspended`.
    #[serde(default)]
    pub runtime_status: String,
    /// The input, if asked for.
    #[serde(default)]
    pub input: Value,
    /// The custom status the orchestrator set.
    #[serde(default)]
    pub custom_status: Value,
    /// The output (or the failure details).
    #[serde(default)]
    pub output: Value,
    /// When the instance was created (ISO 8601).
    #[serde(default)]
    pub created_time: String,
    /// When it last changed (ISO 8601).
    #[serde(default)]
    pub last_updated_time: String,
    /// The history, if asked for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub history_events: Option<Vec<Value>>,
}

impl FromTypedData for DurableClient {
    fn from_typed_data(data: TypedData) -> Result<Self, FunctionError> {
        let text = String::from_typed_data(data)?;
        DurableClient::from_binding_json(&text).map_err(|e| FunctionError::new(e.message))
    }
}

impl DurableClient {
    /// A client from the `durableClient` binding's JSON.
    pub fn from_binding_json(text: &str) -> Result<Self, DurableClientError> {
        let binding: ClientBinding = serde_json::from_str(text).map_err(|e| {
            DurableClientError::new(format!(
                "the durableClient binding's value is not the durable extension's client JSON ({e}); \
                 check that the host runs the durable extension"
            ))
        })?;
        let http = Client::builder(TokioExecutor::new()).build_http();
        Ok(DurableClient { binding, http })
    }

    /// The task hub this client works on.
    pub fn task_hub_name(&self) -> &str {
        &self.binding.task_hub_name
    }

    fn base_url(&self) -> Result<&str, DurableClientError> {
        self.binding.rpc_base_url.as_deref().ok_or_else(|| {
            DurableClientError::new(
                "the durableClient binding has no `rpcBaseUrl`, so this client cannot reach the durable HTTP API; \
                 run the app under a host with the durable extension",
            )
        })
    }

    async fn request(
        &self,
        method: Method,
        url: &str,
        body: Option<String>,
    ) -> Result<(StatusCode, Bytes), DurableClientError> {
        let mut request = http::Request::builder().method(method.clone()).uri(url);
        if body.is_some() {
            request = request.header(http::header::CONTENT_TYPE, "application/json");
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| DurableClientError::new(format!("`{url}` is not a valid request URL: {e}")))?;
        let response = self.http.request(request).await.map_err(|e| {
            DurableClientError::new(format!("{method} {url} failed: {e}; is the host running?"))
        })?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| DurableClientError::new(format!("{method} {url}: reading the answer failed: {e}")))?
            .to_bytes();
        Ok((status, body))
    }

    /// Starts orchestrator `orchestrator` with `input` (JSON), as instance `instance_id` or a new
    /// one; returns the instance id.
    pub async fn start_new(
        &self,
        orchestrator: &str,
        instance_id: Option<&str>,
        input: impl Serialize,
    ) -> Result<String, DurableClientError> {
        let body = twice_encoded(&input).map_err(|e| {
            DurableClientError::new(format!("the input of `{orchestrator}` is not JSON: {e}"))
        })?;
        let mut url = format!("{}orchestrators/{}", self.base_url()?, encode(orchestrator));
        if let Some(id) = instance_id {
            url.push('/');
            url.push_str(&encode(id));
        }
        let (status, answer) = self.request(Method::POST, &url, body).await?;
        if status.as_u16() <= 202 {
            let id = serde_json::from_slice::<Value>(&answer)
                .ok()
                .and_then(|v| v["id"].as_str().map(str::to_string));
            return id.ok_or_else(|| {
                DurableClientError::new(format!(
                    "starting `{orchestrator}` answered {status} without an instance id: {}",
                    String::from_utf8_lossy(&answer)
                ))
            });
        }
        Err(DurableClientError::answered(
            status,
            format!("starting `{orchestrator}` failed with {status}: {}", String::from_utf8_lossy(&answer)),
        ))
    }

    /// The status of instance `instance_id`, or `None` if there is no such instance.
    pub async fn get_status(
        &self,
        instance_id: &str,
    ) -> Result<Option<OrchestrationStatus>, DurableClientError> {
        self.get_status_with(instance_id, false, false, true).await
    }

    /// The status with the history (and its outputs) and input as asked.
    pub async fn get_status_with(
        &self,
        instance_id: &str,
        show_history: bool,
        show_history_output: bool,
        show_input: bool,
    ) -> Result<Option<OrchestrationStatus>, DurableClientError> {
        let mut url = format!("{}instances/{}", self.base_url()?, encode(instance_id));
        let flags = [
            ("showInput", show_input),
            ("showHistory", show_history),
            ("showHistoryOutput", show_history_output),
        ];
        let query: Vec<String> =
            flags.iter().filter(|(_, on)| *on).map(|(name, _)| format!("{name}=true")).collect();
        if !query.is_empty() {
            url.push('?');
            url.push_str(&query.join("&"));
        }
        let (status, answer) = self.request(Method::GET, &url, None).await?;
        match status.as_u16() {
            404 if serde_json::from_slice::<OrchestrationStatus>(&answer)
                .map_or(true, |s| s.instance_id.is_empty()) =>
            {
                Ok(None)
            }
            200 | 202 | 400 | 404 | 500 => serde_json::from_slice(&answer).map(Some).map_err(|e| {
                DurableClientError::new(format!(
                    "the status of `{instance_id}` is not Azure's status JSON ({e}): {}",
                    String::from_utf8_lossy(&answer)
                ))
            }),
            _ => Err(DurableClientError::new(format!(
                "the status of `{instance_id}`: unexpected {status}: {}",
                String::from_utf8_lossy(&answer)
            ))),
        }
    }

    /// Raises event `event_name` with `data` on instance `instance_id`.
    pub async fn raise_event(
        &self,
        instance_id: &str,
        event_name: &str,
        data: impl Serialize,
    ) -> Result<(), DurableClientError> {
        if event_name.is_empty() {
            return Err(DurableClientError::new("raise_event needs an event name"));
        }
        // Sent even when null, as the official clients send it: JSON text inside a JSON string.
        let data =
            serde_json::to_string(&data).and_then(|text| serde_json::to_string(&text)).map_err(|e| {
                DurableClientError::new(format!("the data of event `{event_name}` is not JSON: {e}"))
            })?;
        let url = format!(
            "{}instances/{}/raiseEvent/{}",
            self.base_url()?,
            encode(instance_id),
            encode(event_name)
        );
        let (status, answer) = self.request(Method::POST, &url, Some(data)).await?;
        match status.as_u16() {
            200..=202 => Ok(()),
            410 => Err(DurableClientError::new(format!(
                "instance `{instance_id}` is gone: it completed or failed"
            ))),
            404 => Err(DurableClientError::new(format!("no instance with id `{instance_id}`"))),
            _ => Err(DurableClientError::new(format!(
                "raising `{event_name}` on `{instance_id}` failed with {status}: {}",
                String::from_utf8_lossy(&answer)
            ))),
        }
    }

    /// Terminates instance `instance_id`, giving `reason`.
    pub async fn terminate(&self, instance_id: &str, reason: &str) -> Result<(), DurableClientError> {
        let url = format!(
            "{}instances/{}/terminate?reason={}",
            self.base_url()?,
            encode(instance_id),
            encode(reason)
        );
        let (status, answer) = self.request(Method::POST, &url, None).await?;
        match status.as_u16() {
            200..=202 | 410 => Ok(()),
            404 => Err(DurableClientError::answered(status, format!("no instance with id `{instance_id}`"))),
            _ => Err(DurableClientError::answered(
                status,
                format!(
                    "terminating `{instance_id}` failed with {status}: {}",
                    String::from_utf8_lossy(&answer)
                ),
            )),
        }
    }

    /// Suspends instance `instance_id` (it keeps its events until resumed), giving `reason`.
    pub async fn suspend(&self, instance_id: &str, reason: &str) -> Result<(), DurableClientError> {
        self.control(instance_id, "suspend", reason).await
    }

    /// Resumes a suspended instance, giving `reason`.
    pub async fn resume(&self, instance_id: &str, reason: &str) -> Result<(), DurableClientError> {
        self.control(instance_id, "resume", reason).await
    }

    /// Rewinds a failed instance to before its failure, giving `reason`.
    pub async fn rewind(&self, instance_id: &str, reason: &str) -> Result<(), DurableClientError> {
        self.control(instance_id, "rewind", reason).await
    }

    async fn control(&self, instance_id: &str, verb: &str, reason: &str) -> Result<(), DurableClientError> {
        let url =
            format!("{}instances/{}/{verb}?reason={}", self.base_url()?, encode(instance_id), encode(reason));
        let (status, answer) = self.request(Method::POST, &url, None).await?;
        match status.as_u16() {
            200..=202 => Ok(()),
            404 => Err(DurableClientError::answered(status, format!("no instance with id `{instance_id}`"))),
            _ => Err(DurableClientError::answered(
                status,
                format!(
                    "{verb} of `{instance_id}` failed with {status}: {}",
                    String::from_utf8_lossy(&answer)
                ),
            )),
        }
    }

    /// Deletes the history and state of instance `instance_id`; returns how many instances were
    /// deleted (0 if there was none).
    pub async fn purge_instance_history(&self, instance_id: &str) -> Result<u64, DurableClientError> {
        let url = format!("{}instances/{}", self.base_url()?, encode(instance_id));
        let (status, answer) = self.request(Method::DELETE, &url, None).await?;
        match status.as_u16() {
            200 => Ok(serde_json::from_slice::<Value>(&answer)
                .ok()
                .and_then(|v| v["instancesDeleted"].as_u64())
                .unwrap_or_default()),
            404 => Ok(0),
            _ => Err(DurableClientError::answered(
                status,
                format!("purging `{instance_id}` failed with {status}: {}", String::from_utf8_lossy(&answer)),
            )),
        }
    }

    /// The statuses of the instances whose runtime status is one of `runtime_status` (all
    /// instances when empty), as the first page of the list API answers them.
    pub async fn get_status_by(
        &self,
        runtime_status: &[&str],
    ) -> Result<Vec<OrchestrationStatus>, DurableClientError> {
        let mut url = format!("{}instances/", self.base_url()?);
        if !runtime_status.is_empty() {
            url.push_str(&format!("?runtimeStatus={}", encode(&runtime_status.join(","))));
        }
        let (status, answer) = self.request(Method::GET, &url, None).await?;
        if status != StatusCode::OK {
            return Err(DurableClientError::answered(
                status,
                format!("listing instances failed with {status}: {}", String::from_utf8_lossy(&answer)),
            ));
        }
        serde_json::from_slice(&answer).map_err(|e| {
            DurableClientError::new(format!(
                "the instance list is not a list of Azure's status JSON ({e}): {}",
                String::from_utf8_lossy(&answer)
            ))
        })
    }

    /// Signals operation `operation` of entity `entity` with `input`.
    pub async fn signal_entity(
        &self,
        entity: &EntityId,
        operation: &str,
        input: impl Serialize,
    ) -> Result<(), DurableClientError> {
        let body = twice_encoded(&input)
            .map_err(|e| DurableClientError::new(format!("the input of `{operation}` is not JSON: {e}")))?;
        let url = format!(
            "{}entities/{}/{}?op={}",
            self.base_url()?,
            encode(&entity.name),
            encode(&entity.key),
            encode(operation)
        );
        let (status, answer) = self.request(Method::POST, &url, body).await?;
        match status.as_u16() {
            200..=202 => Ok(()),
            _ => Err(DurableClientError::answered(
                status,
                format!(
                    "signalling {entity} ({operation}) failed with {status}: {}",
                    String::from_utf8_lossy(&answer)
                ),
            )),
        }
    }

    /// The state of entity `entity`, or `None` if it does not exist.
    pub async fn read_entity_state<T: DeserializeOwned>(
        &self,
        entity: &EntityId,
    ) -> Result<Option<T>, DurableClientError> {
        let url = format!("{}entities/{}/{}", self.base_url()?, encode(&entity.name), encode(&entity.key));
        let (status, answer) = self.request(Method::GET, &url, None).await?;
        match status.as_u16() {
            200 => serde_json::from_slice(&answer).map(Some).map_err(|e| {
                DurableClientError::new(format!(
                    "the state of {entity} is not a `{}`: {e}",
                    std::any::type_name::<T>()
                ))
            }),
            404 => Ok(None),
            _ => Err(DurableClientError::new(format!(
                "reading {entity} failed with {status}: {}",
                String::from_utf8_lossy(&answer)
            ))),
        }
    }

    /// The management URLs of instance `instance_id` (`id`, `statusQueryGetUri`,
    /// `sendEventPostUri`, `terminatePostUri`, ...), with the origin of `request` if given, as
    /// the libraries answer them.
    pub fn create_http_management_payload(
        &self,
        request: Option<&HttpRequest>,
        instance_id: &str,
    ) -> Map<String, Value> {
        let template_id =
            self.binding.management_urls.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
        let origin = request.and_then(|r| origin_of(r.url()));
        self.binding
            .management_urls
            .iter()
            .map(|(key, value)| {
                let mut text = value.as_str().unwrap_or_default().to_string();
                if let (Some(origin), Some(own)) = (&origin, origin_of(&text)) {
                    text = text.replace(&own, origin);
                }
                if !template_id.is_empty() {
                    text = text.replace(&template_id, instance_id);
                }
                (key.clone(), Value::String(text))
            })
            .collect()
    }

    /// `202 Accepted` with the management URLs as JSON, `Location` (the status URL) and
    /// `Retry-After: 10`: the answer a client polls.
    pub fn create_check_status_response(&self, request: &HttpRequest, instance_id: &str) -> HttpResponse {
        let payload = self.create_http_management_payload(Some(request), instance_id);
        let location =
            payload.get("statusQueryGetUri").and_then(Value::as_str).unwrap_or_default().to_string();
        HttpResponse::new(StatusCode::ACCEPTED)
            .with_header("Content-Type", "application/json")
            .with_header("Location", location)
            .with_header("Retry-After", "10")
            .with_json(&payload)
    }

    /// Waits up to `timeout` (polling every `retry_interval`) for the instance to finish: `200`
    /// with its output when it completed, `200`/`500` with its status when terminated/failed,
    /// else the 202 of [`create_check_status_response`](Self::create_check_status_response).
    pub async fn wait_for_completion_or_create_check_status_response(
        &self,
        request: &HttpRequest,
        instance_id: &str,
        timeout: Duration,
        retry_interval: Duration,
    ) -> Result<HttpResponse, DurableClientError> {
        if retry_interval > timeout {
            return Err(DurableClientError::new(format!(
                "the timeout ({timeout:?}) must be longer than the retry interval ({retry_interval:?})"
            )));
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(status) = self.get_status(instance_id).await? {
                let json = |code: StatusCode, body: &Value| HttpResponse::new(code).with_json(body);
                let whole = serde_json::to_value(&status).unwrap_or(Value::Null);
                match status.runtime_status.as_str() {
                    "Completed" => return Ok(json(StatusCode::OK, &status.output)),
                    "Canceled" | "Terminated" => return Ok(json(StatusCode::OK, &whole)),
                    "Failed" => return Ok(json(StatusCode::INTERNAL_SERVER_ERROR, &whole)),
                    _ => {}
                }
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Ok(self.create_check_status_response(request, instance_id));
            }
            tokio::time::sleep(retry_interval.min(deadline - now)).await;
        }
    }
}

/// A request body as the official clients send it: the value's JSON text, sent as a JSON
/// string (they serialize it, then post it as JSON), so orchestrators and entities in any
/// language decode it the same way; no body for `null`.
fn twice_encoded(value: &impl Serialize) -> Result<Option<String>, serde_json::Error> {
    let text = serde_json::to_string(value)?;
    if text == "null" {
        return Ok(None);
    }
    serde_json::to_string(&text).map(Some)
}

/// `scheme://authority/` of a URL.
fn origin_of(url: &str) -> Option<String> {
    let uri: http::Uri = url.parse().ok()?;
    Some(format!("{}://{}/", uri.scheme_str()?, uri.authority()?))
}

/// Percent-encodes a path segment or query value.
fn encode(text: &str) -> String {
    form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>().replace('+', "%20")
}

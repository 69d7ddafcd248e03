//! What crosses between the Rust core and the `fnwire` Python package per invocation, as typed
//! `_native` classes (BRIDGE.md lists them).
//!
//! Decoding uses the Rust SDK's conversions (`HttpRequest`, `QueueMessage::from_trigger`,
//! `TimerInfo`); encoding goes through its checked `__bridge::ResponseFields`, so a status code,
//! a `SameSite` value or a cookie time means the same here as in Rust and Node.

use std::collections::HashMap;

use fnwire::__bridge::{CookieFields, ResponseFields};
use fnwire::protocol::rpc::TypedData;
use fnwire::protocol::rpc::typed_data::Data;
use fnwire::{
    FromTypedData, FunctionError, HttpRequest, HttpResponse, IntoTypedData, QueueMessage, ServiceBusMessage,
    TimerInfo,
};
use pyo3::exceptions::PyValueError;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyType};
use serde_json::Value;

/// How a parameter wants its input binding's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    Http,
    Timer,
    Queue,
    Blob,
    ServiceBus,
    Raw,
    /// The value with the trigger's metadata beside it (an azure.functions trigger whose
    /// converter reads the metadata, e.g. `serviceBusTrigger`).
    WithMetadata,
}

impl InputKind {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "http" => Some(InputKind::Http),
            "timer" => Some(InputKind::Timer),
            "queue" => Some(InputKind::Queue),
            "blob" => Some(InputKind::Blob),
            "service_bus" => Some(InputKind::ServiceBus),
            "raw" => Some(InputKind::Raw),
            "with_metadata" => Some(InputKind::WithMetadata),
            _ => None,
        }
    }
}

/// An input decoded in Rust, not yet a Python object (built without the GIL).
#[derive(Debug)]
pub enum Decoded {
    Http(HttpRequest),
    Timer(TimerInfo),
    Queue(QueueMessage),
    Blob(fnwire::Blob),
    ServiceBus(Box<ServiceBusMessage>),
    Raw(TypedData),
    WithMetadata(TypedData, Vec<(String, TypedData)>),
}

pub fn decode(
    kind: InputKind,
    data: TypedData,
    trigger_metadata: &HashMap<String, TypedData>,
) -> Result<Decoded, FunctionError> {
    Ok(match kind {
        InputKind::Http => Decoded::Http(HttpRequest::from_typed_data(data)?),
        InputKind::Timer => Decoded::Timer(TimerInfo::from_typed_data(data)?),
        InputKind::Queue => Decoded::Queue(QueueMessage::from_trigger(data, trigger_metadata)?),
        InputKind::Blob => Decoded::Blob(fnwire::Blob::from_trigger(data, trigger_metadata)?),
        InputKind::ServiceBus => {
            Decoded::ServiceBus(Box::new(ServiceBusMessage::from_trigger(data, trigger_metadata)?))
        }
        InputKind::Raw => Decoded::Raw(data),
        InputKind::WithMetadata => {
            let mut metadata: Vec<(String, TypedData)> =
                trigger_metadata.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            metadata.sort_by(|a, b| a.0.cmp(&b.0));
            Decoded::WithMetadata(data, metadata)
        }
    })
}

/// The HTTP request of an HTTP trigger. Header names are lower-case, in name order.
#[derive(Debug)]
#[pyclass(frozen, get_all, module = "fnwire._native")]
pub struct HttpRequestData {
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub query: HashMap<String, String>,
    pub params: HashMap<String, String>,
    pub body: Py<PyBytes>,
}

/// When a timer's schedule last fired and fires next, as the host formats the times.
#[derive(Debug)]
#[pyclass(frozen, get_all, module = "fnwire._native")]
pub struct ScheduleStatusData {
    pub last: String,
    pub next: String,
    pub last_updated: String,
}

/// What a timer trigger receives; `schedule` is the host's JSON text.
#[derive(Debug)]
#[pyclass(frozen, get_all, module = "fnwire._native")]
pub struct TimerData {
    pub is_past_due: bool,
    pub schedule: String,
    pub schedule_status: Option<Py<ScheduleStatusData>>,
}

/// A queue message with the metadata the queue trigger adds.
#[derive(Debug)]
#[pyclass(frozen, get_all, module = "fnwire._native")]
pub struct QueueMessageData {
    pub id: String,
    pub body: Py<PyBytes>,
    pub dequeue_count: i64,
    pub insertion_time: Option<String>,
    pub expiration_time: Option<String>,
    pub next_visible_time: Option<String>,
    pub pop_receipt: Option<String>,
}

/// A blob that triggered a function, with the blob trigger's metadata.
#[derive(Debug)]
#[pyclass(frozen, get_all, module = "fnwire._native")]
pub struct BlobData {
    /// `container/name` (`BlobTrigger`).
    pub path: String,
    pub content: Py<PyBytes>,
    pub uri: Option<String>,
    pub etag: Option<String>,
    pub content_type: Option<String>,
    pub last_modified: Option<String>,
    pub metadata: HashMap<String, String>,
    /// The trigger path's `{parameters}`.
    pub parameters: HashMap<String, String>,
}

/// A Service Bus message that triggered a function, with what the host sends beside it.
/// `application_properties` is JSON text (an object).
#[derive(Debug)]
#[pyclass(frozen, get_all, module = "fnwire._native")]
pub struct ServiceBusMessageData {
    pub body: Py<PyBytes>,
    pub application_properties: String,
    pub message_id: Option<String>,
    pub content_type: Option<String>,
    pub correlation_id: Option<String>,
    pub subject: Option<String>,
    pub to: Option<String>,
    pub reply_to: Option<String>,
    pub session_id: Option<String>,
    pub partition_key: Option<String>,
    pub delivery_count: i64,
    pub sequence_number: i64,
    pub enqueued_time_utc: Option<String>,
    pub expires_at_utc: Option<String>,
    pub lock_token: Option<String>,
}

/// JSON text, in both directions: a host value of kind JSON, or a value for the host to send as
/// JSON. Other values cross as `None`, `str`, `bytes`, `int` and `float`.
#[derive(Debug, Clone)]
#[pyclass(frozen, get_all, from_py_object, module = "fnwire._native")]
pub struct JsonText {
    pub text: String,
}

#[pymethods]
impl JsonText {
    #[new]
    fn new(text: String) -> Self {
        JsonText { text }
    }
}

/// A trigger's value with its metadata, each as a raw host value (see `raw_into_py`).
#[derive(Debug)]
#[pyclass(frozen, get_all, module = "fnwire._native")]
pub struct TriggerData {
    pub value: Py<PyAny>,
    pub metadata: Vec<(String, Py<PyAny>)>,
}

/// A host value no Python type stands for (e.g. a list of byte arrays); `kind` names it.
#[derive(Debug)]
#[pyclass(frozen, get_all, module = "fnwire._native")]
pub struct UnsupportedData {
    pub kind: String,
}

impl Decoded {
    /// The input as the `_native` object BRIDGE.md names for its kind.
    pub fn into_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(match self {
            Decoded::Http(req) => {
                let headers = req
                    .headers()
                    .iter()
                    .map(|(k, v)| {
                        (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned())
                    })
                    .collect();
                let data = HttpRequestData {
                    method: req.method().as_str().to_string(),
                    url: req.url().to_string(),
                    headers,
                    query: req.query_params().clone().into_iter().collect(),
                    params: req.params().clone().into_iter().collect(),
                    body: PyBytes::new(py, req.body()).unbind(),
                };
                Bound::new(py, data)?.into_any().unbind()
            }
            Decoded::Timer(timer) => {
                let schedule_status = match timer.schedule_status {
                    Some(s) => Some(
                        Bound::new(
                            py,
                            ScheduleStatusData { last: s.last, next: s.next, last_updated: s.last_updated },
                        )?
                        .unbind(),
                    ),
                    None => None,
                };
                let data = TimerData {
                    is_past_due: timer.is_past_due,
                    schedule: timer.schedule.to_string(),
                    schedule_status,
                };
                Bound::new(py, data)?.into_any().unbind()
            }
            Decoded::Queue(msg) => {
                let data = QueueMessageData {
                    id: msg.id,
                    body: PyBytes::new(py, &msg.body).unbind(),
                    dequeue_count: msg.dequeue_count,
                    insertion_time: msg.insertion_time,
                    expiration_time: msg.expiration_time,
                    next_visible_time: msg.next_visible_time,
                    pop_receipt: msg.pop_receipt,
                };
                Bound::new(py, data)?.into_any().unbind()
            }
            Decoded::Blob(blob) => {
                let data = BlobData {
                    content: PyBytes::new(py, &blob.content).unbind(),
                    path: blob.path,
                    uri: blob.uri,
                    etag: blob.etag,
                    content_type: blob.content_type,
                    last_modified: blob.last_modified,
                    metadata: blob.metadata,
                    parameters: blob.parameters,
                };
                Bound::new(py, data)?.into_any().unbind()
            }
            Decoded::ServiceBus(msg) => {
                let msg = *msg;
                let application_properties = serde_json::to_string(&msg.application_properties)
                    .map_err(|e| PyValueError::new_err(format!("application properties: {e}")))?;
                let data = ServiceBusMessageData {
                    body: PyBytes::new(py, &msg.body).unbind(),
                    application_properties,
                    message_id: msg.message_id,
                    content_type: msg.content_type,
                    correlation_id: msg.correlation_id,
                    subject: msg.subject,
                    to: msg.to,
                    reply_to: msg.reply_to,
                    session_id: msg.session_id,
                    partition_key: msg.partition_key,
                    delivery_count: msg.delivery_count,
                    sequence_number: msg.sequence_number,
                    enqueued_time_utc: msg.enqueued_time_utc,
                    expires_at_utc: msg.expires_at_utc,
                    lock_token: msg.lock_token,
                };
                Bound::new(py, data)?.into_any().unbind()
            }
            Decoded::Raw(data) => raw_into_py(py, data)?,
            Decoded::WithMetadata(data, metadata) => {
                let metadata = metadata
                    .into_iter()
                    .map(|(k, v)| Ok((k, raw_into_py(py, v)?)))
                    .collect::<PyResult<Vec<_>>>()?;
                Bound::new(py, TriggerData { value: raw_into_py(py, data)?, metadata })?.into_any().unbind()
            }
        })
    }
}

/// A host value for a parameter without a trigger type: `None`, `str`, `bytes`, `int`, `float`,
/// [`JsonText`], or [`UnsupportedData`].
fn raw_into_py(py: Python<'_>, data: TypedData) -> PyResult<Py<PyAny>> {
    let kind = fnwire::__bridge::kind_of(&data);
    Ok(match data.data {
        None => py.None(),
        Some(Data::String(s)) => PyString::new(py, &s).into_any().unbind(),
        Some(Data::Json(text)) => Bound::new(py, JsonText { text })?.into_any().unbind(),
        Some(Data::Bytes(b)) | Some(Data::Stream(b)) => PyBytes::new(py, &b).into_any().unbind(),
        Some(Data::Int(i)) => i.into_pyobject(py)?.into_any().unbind(),
        Some(Data::Double(d)) => d.into_pyobject(py)?.into_any().unbind(),
        Some(_) => Bound::new(py, UnsupportedData { kind: kind.to_string() })?.into_any().unbind(),
    })
}

/// A `Set-Cookie`, checked by the Rust SDK when it is made: `expires` in seconds since the Unix
/// epoch, `max_age` in seconds, `same_site` one of Strict, Lax, None (any case).
#[derive(Debug, Clone)]
#[pyclass(frozen, from_py_object, module = "fnwire._native")]
pub struct Cookie {
    cookie: fnwire::Cookie,
}

#[pymethods]
impl Cookie {
    #[new]
    #[pyo3(signature = (name, value, *, domain=None, path=None, expires=None, secure=None, http_only=None, same_site=None, max_age=None))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        name: String,
        value: String,
        domain: Option<String>,
        path: Option<String>,
        expires: Option<f64>,
        secure: Option<bool>,
        http_only: Option<bool>,
        same_site: Option<String>,
        max_age: Option<f64>,
    ) -> PyResult<Self> {
        let fields =
            CookieFields { name, value, domain, path, expires, secure, http_only, same_site, max_age };
        let cookie = fields.into_cookie().map_err(|e| PyValueError::new_err(e.to_string()))?;
        Ok(Cookie { cookie })
    }

    #[getter]
    fn name(&self) -> &str {
        &self.cookie.name
    }

    #[getter]
    fn value(&self) -> &str {
        &self.cookie.value
    }

    fn __repr__(&self) -> String {
        format!("<Cookie {}>", self.cookie.name)
    }
}

/// The status code as the Rust SDK accepts it (100 to 999); raises `ValueError` otherwise.
#[pyfunction]
pub fn check_status(code: i64) -> PyResult<u16> {
    fnwire::__bridge::status_code(code).map(|s| s.as_u16()).map_err(|e| PyValueError::new_err(e.to_string()))
}

/// An HTTP response for the host, checked by the Rust SDK when it is made.
#[derive(Debug, Clone)]
#[pyclass(frozen, from_py_object, module = "fnwire._native")]
pub struct HttpResponseData {
    response: HttpResponse,
}

#[pymethods]
impl HttpResponseData {
    #[new]
    fn new(
        status: i64,
        headers: Vec<(String, String)>,
        cookies: Vec<Cookie>,
        body: Vec<u8>,
    ) -> PyResult<Self> {
        let fields =
            ResponseFields { status: status as f64, headers, body: body.into(), ..ResponseFields::default() };
        let mut response = fields.into_response().map_err(|e| PyValueError::new_err(e.to_string()))?;
        for cookie in cookies {
            response = response.with_cookie(cookie.cookie);
        }
        Ok(HttpResponseData { response })
    }
}

/// fnwire's `HttpResponse` class, which the package's runner hands back as it is.
static RESPONSE_CLASS: PyOnceLock<Py<PyType>> = PyOnceLock::new();

/// A value a function produced for a binding, as the host value to send: a `fnwire.HttpResponse`
/// is read here field by field, in one conversion to the SDK's checked response, instead of being
/// copied into an `HttpResponseData` first; other values are read as [`OutputValue`]s.
pub fn output_data(value: &Bound<'_, PyAny>) -> PyResult<Result<TypedData, FunctionError>> {
    let py = value.py();
    if value.is_instance(RESPONSE_CLASS.import(py, "fnwire._types", "HttpResponse")?)? {
        return Ok(response_of(value)?.into_typed_data());
    }
    let value: OutputValue = value.extract()?;
    Ok(value.into_typed_data())
}

/// A `fnwire.HttpResponse` as the SDK's response: `status_code`, `headers` (a value that is a
/// list is a header sent once per item; names and values are `str()`-ed), `cookies` and the body.
/// A value the SDK's rules refuse raises `ValueError` with its message.
fn response_of(value: &Bound<'_, PyAny>) -> PyResult<HttpResponse> {
    let py = value.py();
    let status: i64 = value.getattr(intern!(py, "status_code"))?.extract()?;
    let mut headers = Vec::new();
    let mut add = |name: &Bound<'_, PyAny>, values: Bound<'_, PyAny>| -> PyResult<()> {
        let name = name.str()?.to_cow()?.into_owned();
        match values.cast::<PyList>() {
            Ok(list) => {
                for item in list.iter() {
                    headers.push((name.clone(), item.str()?.to_cow()?.into_owned()));
                }
            }
            Err(_) => headers.push((name, values.str()?.to_cow()?.into_owned())),
        }
        Ok(())
    };
    let header_values = value.getattr(intern!(py, "headers"))?;
    match header_values.cast::<PyDict>() {
        Ok(dict) => {
            for (name, values) in dict.iter() {
                add(&name, values)?;
            }
        }
        // A mapping the function put there itself.
        Err(_) => {
            for item in header_values.call_method0(intern!(py, "items"))?.try_iter()? {
                let (name, values): (Bound<'_, PyAny>, Bound<'_, PyAny>) = item?.extract()?;
                add(&name, values)?;
            }
        }
    }
    let body = value.getattr(intern!(py, "_body"))?;
    let body = bytes::Bytes::copy_from_slice(body.cast::<PyBytes>()?.as_bytes());
    let fields = ResponseFields { status: status as f64, headers, body, ..ResponseFields::default() };
    let mut response = fields.into_response().map_err(|e| PyValueError::new_err(e.to_string()))?;
    for cookie in value.getattr(intern!(py, "cookies"))?.try_iter()? {
        let cookie = cookie?;
        response = response.with_cookie(cookie.cast::<Cookie>()?.get().cookie.clone());
    }
    Ok(response)
}

/// A value a function produced for a binding.
#[derive(Debug, FromPyObject)]
pub enum OutputValue {
    Http(HttpResponseData),
    Json(JsonText),
    Text(String),
    Bytes(Vec<u8>),
}

impl OutputValue {
    pub fn into_typed_data(self) -> Result<TypedData, FunctionError> {
        let typed = |data: Data| TypedData { data: Some(data) };
        Ok(match self {
            OutputValue::Http(http) => http.response.into_typed_data()?,
            OutputValue::Json(json) => typed(Data::Json(json.text)),
            OutputValue::Text(text) => typed(Data::String(text)),
            OutputValue::Bytes(bytes) => typed(Data::Bytes(bytes.into())),
        })
    }
}

/// A function that returned: its return value (if any) and the values of its outputs, by
/// binding name in the order they were set.
#[derive(Debug)]
#[pyclass(frozen, module = "fnwire._native")]
pub struct Success {
    pub return_value: Option<Py<PyAny>>,
    pub outputs: Py<PyDict>,
}

#[pymethods]
impl Success {
    #[new]
    #[pyo3(signature = (return_value, outputs))]
    fn new(return_value: Option<Py<PyAny>>, outputs: Py<PyDict>) -> Self {
        Success { return_value, outputs }
    }
}

/// A function that raised: the exception's type name, message and formatted traceback.
#[derive(Debug, Clone)]
#[pyclass(frozen, get_all, from_py_object, module = "fnwire._native")]
pub struct Failure {
    pub error_type: String,
    pub message: String,
    pub traceback: String,
}

#[pymethods]
impl Failure {
    #[new]
    fn new(error_type: String, message: String, traceback: String) -> Self {
        Failure { error_type, message, traceback }
    }
}

/// How an invocation ended, as the package's runner reports it.
#[derive(Debug, FromPyObject)]
pub enum Outcome<'py> {
    Success(Bound<'py, Success>),
    Failure(Failure),
}

/// Parses JSON bytes with the same parser (and error messages) as the Rust SDK.
#[pyfunction]
pub fn parse_json<'py>(py: Python<'py>, data: &[u8], what: &str) -> PyResult<Bound<'py, PyAny>> {
    let value: Value = serde_json::from_slice(data)
        .map_err(|e| PyValueError::new_err(format!("{what} is not valid JSON: {e}")))?;
    json_into_py(py, &value)
}

fn json_into_py<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => b.into_pyobject(py)?.to_owned().into_any(),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                i.into_pyobject(py)?.into_any()
            } else if let Some(u) = n.as_u64() {
                u.into_pyobject(py)?.into_any()
            } else {
                n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any()
            }
        }
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let list = pyo3::types::PyList::empty(py);
            for item in items {
                list.append(json_into_py(py, item)?)?;
            }
            list.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, json_into_py(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

//! TypedData <-> the plain Python values the `fnwire` package wraps in its types.
//!
//! Decoding uses the Rust SDK's conversions (`HttpRequest::from_rpc`, `QueueMessage::from_trigger`,
//! `TimerInfo`), encoding its `HttpResponse`/`IntoTypedData`; only plain data (str, bytes, int,
//! tuples, dicts) crosses into Python. See BRIDGE.md for the shapes.

use std::time::{Duration, SystemTime};

use fnwire::protocol::rpc::TypedData;
use fnwire::protocol::rpc::typed_data::Data;
use fnwire::{
    Cookie, FunctionError, HttpRequest, HttpResponse, IntoTypedData, QueueMessage, SameSite, TimerInfo,
};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyString, PyTuple};
use serde_json::Value;

/// How a parameter wants its input binding's value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    Http,
    Timer,
    Queue,
    Raw,
}

impl InputKind {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "http" => Some(InputKind::Http),
            "timer" => Some(InputKind::Timer),
            "queue" => Some(InputKind::Queue),
            "raw" => Some(InputKind::Raw),
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
    Raw(TypedData),
}

pub fn decode(
    kind: InputKind,
    data: TypedData,
    trigger_metadata: &std::collections::HashMap<String, TypedData>,
) -> Result<Decoded, FunctionError> {
    use fnwire::FromTypedData;
    Ok(match kind {
        InputKind::Http => Decoded::Http(HttpRequest::from_typed_data(data)?),
        InputKind::Timer => Decoded::Timer(TimerInfo::from_typed_data(data)?),
        InputKind::Queue => Decoded::Queue(QueueMessage::from_trigger(data, trigger_metadata)?),
        InputKind::Raw => Decoded::Raw(data),
    })
}

impl Decoded {
    /// The plain Python value of the input.
    pub fn into_py(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let value = match self {
            Decoded::Http(req) => {
                let headers = PyList::empty(py);
                for (k, v) in req.headers().iter() {
                    headers.append((k, v))?;
                }
                let query = PyDict::new(py);
                for (k, v) in req.query_params() {
                    query.set_item(k, v)?;
                }
                let params = PyDict::new(py);
                for (k, v) in req.params() {
                    params.set_item(k, v)?;
                }
                let body = PyBytes::new(py, req.body());
                (req.method(), req.url(), headers, query, params, body).into_pyobject(py)?.into_any()
            }
            Decoded::Timer(timer) => {
                let schedule = timer.schedule.to_string();
                let status = timer.schedule_status.map(|s| (s.last, s.next, s.last_updated));
                (timer.is_past_due, schedule, status).into_pyobject(py)?.into_any()
            }
            Decoded::Queue(msg) => (
                msg.id,
                PyBytes::new(py, &msg.body),
                msg.dequeue_count,
                msg.insertion_time,
                msg.expiration_time,
                msg.next_visible_time,
                msg.pop_receipt,
            )
                .into_pyobject(py)?
                .into_any(),
            Decoded::Raw(data) => raw_into_py(py, data)?,
        };
        Ok(value.unbind())
    }
}

/// `(kind, value)`: `("none", None)`, `("string", str)`, `("bytes", bytes)`, `("json", str)`,
/// `("int", int)`, `("double", float)`; anything else as `("other", kind name)`.
fn raw_into_py(py: Python<'_>, data: TypedData) -> PyResult<Bound<'_, PyAny>> {
    let kind = fnwire::kind_of(&data);
    let pair = match data.data {
        None => ("none", py.None().into_bound(py)),
        Some(Data::String(s)) => ("string", PyString::new(py, &s).into_any()),
        Some(Data::Json(s)) => ("json", PyString::new(py, &s).into_any()),
        Some(Data::Bytes(b)) | Some(Data::Stream(b)) => ("bytes", PyBytes::new(py, &b).into_any()),
        Some(Data::Int(i)) => ("int", i.into_pyobject(py)?.into_any()),
        Some(Data::Double(d)) => ("double", d.into_pyobject(py)?.into_any()),
        Some(_) => ("other", PyString::new(py, kind).into_any()),
    };
    Ok(pair.into_pyobject(py)?.into_any())
}

/// A value returned or set by a Python function, tagged by the `fnwire` package (see
/// `fnwire/_worker.py`, `_encode`), as TypedData.
pub fn encode(value: &Bound<'_, PyAny>) -> PyResult<TypedData> {
    let tuple = value.cast::<PyTuple>()?;
    let tag: String = tuple.get_item(0)?.extract()?;
    let item = |i: usize| tuple.get_item(i);
    let typed = |data: Data| TypedData { data: Some(data) };
    Ok(match tag.as_str() {
        "string" => typed(Data::String(item(1)?.extract()?)),
        "json" => typed(Data::Json(item(1)?.extract()?)),
        "bytes" => typed(Data::Bytes(bytes::Bytes::from(item(1)?.extract::<Vec<u8>>()?))),
        "int" => typed(Data::Int(item(1)?.extract()?)),
        "double" => typed(Data::Double(item(1)?.extract()?)),
        "http" => http_response(tuple)?.into_typed_data().map_err(|e| PyValueError::new_err(e.message))?,
        other => return Err(PyValueError::new_err(format!("fnwire internal: unknown value tag `{other}`"))),
    })
}

/// `("http", status, [(name, value)], body bytes, [cookie tuples])`.
fn http_response(tuple: &Bound<'_, PyTuple>) -> PyResult<HttpResponse> {
    let status: u16 = tuple.get_item(1)?.extract()?;
    let mut response = HttpResponse::new(status);
    let headers: Vec<(String, String)> = tuple.get_item(2)?.extract()?;
    for (name, value) in headers {
        response = response.header(name, value);
    }
    let body: Vec<u8> = tuple.get_item(3)?.extract()?;
    response = response.body(body);
    let cookies = tuple.get_item(4)?;
    for cookie in cookies.try_iter()? {
        response = response.cookie(cookie_from(&cookie?)?);
    }
    Ok(response)
}

type CookieTuple =
    (String, String, Option<String>, Option<String>, Option<f64>, bool, bool, Option<String>, Option<f64>);

fn cookie_from(value: &Bound<'_, PyAny>) -> PyResult<Cookie> {
    let (name, value, domain, path, expires, secure, http_only, same_site, max_age): CookieTuple =
        value.extract()?;
    let mut cookie = Cookie::new(name, value);
    if secure {
        cookie = cookie.secure(true);
    }
    if http_only {
        cookie = cookie.http_only(true);
    }
    if let Some(domain) = domain {
        cookie = cookie.domain(domain);
    }
    if let Some(path) = path {
        cookie = cookie.path(path);
    }
    if let Some(at) = expires.filter(|t| t.is_finite() && *t >= 0.0) {
        cookie = cookie.expires(SystemTime::UNIX_EPOCH + Duration::from_secs_f64(at));
    }
    if let Some(age) = max_age.filter(|t| t.is_finite() && *t >= 0.0) {
        cookie = cookie.max_age(Duration::from_secs_f64(age));
    }
    cookie = match same_site.as_deref().map(str::to_ascii_lowercase).as_deref() {
        Some("strict") => cookie.same_site(SameSite::Strict),
        Some("lax") => cookie.same_site(SameSite::Lax),
        Some("none") => cookie.same_site(SameSite::None),
        _ => cookie,
    };
    Ok(cookie)
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
            let list = PyList::empty(py);
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

//! TypedData ↔ the plain objects that cross into JavaScript.
//!
//! Every shape here is a DTO; `lib/native.d.ts` is generated from these declarations by napi-rs
//! (`npm run build`), kinds are string enums, never free text. The JS layer turns the DTOs into
//! idiomatic values (`Headers`, `URLSearchParams`, parsed JSON) and back. What a response may
//! hold (status, SameSite, cookie times) is checked by the Rust SDK (`fnwire::__bridge`), the
//! same rules the Rust and Python SDKs apply.

// napi's Buffer has no Debug, so the DTOs holding it cannot derive it.
#![allow(missing_debug_implementations)]

use std::collections::HashMap;

use fnwire::__bridge::{CookieFields, ResponseFields};
use fnwire::{FromTypedData, FunctionError, HttpRequest, HttpResponse, IntoTypedData, Invocation};
use fnwire_protocol::rpc::TypedData;
use fnwire_protocol::rpc::typed_data::Data;
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;

/// What kind of value a [`DataIn`] holds, and so which of its fields is set.
#[napi(string_enum = "lowercase")]
#[derive(Debug, PartialEq, Eq)]
pub enum DataInKind {
    /// No value (null or missing).
    None,
    /// `text` holds the string.
    String,
    /// `text` holds JSON text.
    Json,
    /// `bytes` holds the bytes.
    Bytes,
    /// `number` holds the number.
    Number,
    /// `http` holds the decoded request.
    Http,
}

/// One value the host sent (an input binding or a trigger-metadata entry).
#[napi(object)]
pub struct DataIn {
    pub kind: DataInKind,
    /// The text of `string`, and the JSON text of `json`.
    pub text: Option<String>,
    pub bytes: Option<Buffer>,
    pub number: Option<f64>,
    pub http: Option<HttpRequestIn>,
}

/// An HTTP request, decoded from either the plain or the nullable maps.
#[napi(object)]
pub struct HttpRequestIn {
    pub method: String,
    pub url: String,
    pub headers: HashMap<String, String>,
    pub query: HashMap<String, String>,
    pub params: HashMap<String, String>,
    pub body: Buffer,
}

#[napi(object)]
pub struct NamedDataIn {
    pub name: String,
    pub data: DataIn,
}

#[napi(object)]
pub struct RetryIn {
    pub retry_count: i32,
    pub max_retry_count: i32,
    pub exception_message: Option<String>,
}

/// What the dispatch callback receives for one invocation.
#[napi(object)]
pub struct InvocationCall {
    /// Names this call in `invocationComplete`, `invocationFail` and `invocationLog`.
    pub call_id: u32,
    /// The id `defineFunction` returned.
    pub function_id: u32,
    pub invocation_id: String,
    pub function_name: String,
    pub trace_parent: String,
    pub trace_state: String,
    pub trace_attributes: HashMap<String, String>,
    pub retry: Option<RetryIn>,
    /// Input bindings in the host's order (the trigger first).
    pub inputs: Vec<NamedDataIn>,
    pub trigger_metadata: Vec<NamedDataIn>,
}

/// What kind of value a [`DataOut`] holds, and so which of its fields is read.
#[napi(string_enum = "lowercase")]
#[derive(Debug, PartialEq, Eq)]
pub enum DataOutKind {
    /// Nothing: the binding gets no value.
    None,
    /// `text` is sent as a string.
    String,
    /// `text` is sent as JSON.
    Json,
    /// `bytes` are sent as bytes.
    Bytes,
    /// `http` is sent as an HTTP response.
    Http,
}

/// The content type a response body gets when no header names one.
#[napi(string_enum = "lowercase")]
#[derive(Debug, PartialEq, Eq)]
pub enum BodyKind {
    /// `text/plain; charset=utf-8`.
    Text,
    /// `application/json`.
    Json,
    /// None: the body is sent as it is.
    Bytes,
}

/// One value a function produced (an output binding or its return value).
#[napi(object)]
pub struct DataOut {
    pub kind: DataOutKind,
    pub text: Option<String>,
    pub bytes: Option<Buffer>,
    pub http: Option<HttpResponseOut>,
}

/// An HTTP response; the Rust SDK checks it (status 100–999, headers, cookies).
#[napi(object)]
pub struct HttpResponseOut {
    pub status: f64,
    /// `[name, value]` pairs.
    pub headers: Vec<Vec<String>>,
    pub cookies: Vec<CookieOut>,
    pub body: Option<Buffer>,
    pub body_kind: Option<BodyKind>,
}

/// A `Set-Cookie`. Times are seconds, as in the Rust and Python SDKs (`lib/http.js` converts
/// a `Date` or JavaScript's milliseconds).
#[napi(object)]
pub struct CookieOut {
    pub name: String,
    pub value: String,
    pub domain: Option<String>,
    pub path: Option<String>,
    /// Seconds since the Unix epoch.
    pub expires: Option<f64>,
    pub secure: Option<bool>,
    pub http_only: Option<bool>,
    /// `Strict`, `Lax` or `None`, any case; anything else is the SDK's error.
    pub same_site: Option<String>,
    /// Seconds.
    pub max_age: Option<f64>,
}

#[napi(object)]
pub struct NamedDataOut {
    pub name: String,
    pub data: DataOut,
}

/// What a function produced.
#[napi(object)]
pub struct OutcomeOut {
    pub outputs: Vec<NamedDataOut>,
    pub return_value: Option<DataOut>,
}

fn data_in(kind: DataInKind) -> DataIn {
    DataIn { kind, text: None, bytes: None, number: None, http: None }
}

fn text_in(kind: DataInKind, text: String) -> DataIn {
    DataIn { text: Some(text), ..data_in(kind) }
}

/// A host value as a DTO. Kinds JS has no natural form for become their JSON text.
pub(crate) fn to_js(data: TypedData) -> DataIn {
    let Some(inner) = data.data else { return data_in(DataInKind::None) };
    match inner {
        Data::String(s) => text_in(DataInKind::String, s),
        Data::Json(j) => text_in(DataInKind::Json, j),
        Data::Bytes(b) | Data::Stream(b) => {
            DataIn { bytes: Some(Buffer::from(b.to_vec())), ..data_in(DataInKind::Bytes) }
        }
        Data::Int(i) => DataIn { number: Some(i as f64), ..data_in(DataInKind::Number) },
        Data::Double(d) => DataIn { number: Some(d), ..data_in(DataInKind::Number) },
        Data::Http(http) => match HttpRequest::from_typed_data(TypedData { data: Some(Data::Http(http)) }) {
            Ok(request) => {
                let map = |m: &std::collections::BTreeMap<String, String>| {
                    m.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<HashMap<_, _>>()
                };
                let http = HttpRequestIn {
                    method: request.method().as_str().to_string(),
                    url: request.url().to_string(),
                    headers: request
                        .headers()
                        .iter()
                        .map(|(k, v)| {
                            (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned())
                        })
                        .collect(),
                    query: map(request.query_params()),
                    params: map(request.params()),
                    body: Buffer::from(request.body().to_vec()),
                };
                DataIn { http: Some(http), ..data_in(DataInKind::Http) }
            }
            Err(e) => {
                tracing::warn!("{e}");
                data_in(DataInKind::None)
            }
        },
        other => match fnwire::__bridge::json_of(TypedData { data: Some(other) }) {
            Ok(value) => text_in(DataInKind::Json, value.to_string()),
            Err(_) => data_in(DataInKind::None),
        },
    }
}

/// The DTO for one invocation.
pub(crate) fn invocation_call(call_id: u32, function_id: u32, invocation: &Invocation) -> InvocationCall {
    let trace = invocation.trace_context();
    let named =
        |(name, data): (&String, &TypedData)| NamedDataIn { name: name.clone(), data: to_js(data.clone()) };
    InvocationCall {
        call_id,
        function_id,
        invocation_id: invocation.invocation_id().to_string(),
        function_name: invocation.function_name().to_string(),
        trace_parent: trace.trace_parent.clone(),
        trace_state: trace.trace_state.clone(),
        trace_attributes: trace.attributes.clone(),
        retry: invocation.retry_context().map(|r| RetryIn {
            retry_count: r.retry_count,
            max_retry_count: r.max_retry_count,
            exception_message: r.exception_message.clone(),
        }),
        inputs: invocation.inputs().iter().map(|(n, d)| named((n, d))).collect(),
        trigger_metadata: invocation.trigger_metadata().iter().map(named).collect(),
    }
}

/// A produced value as TypedData; `None` for nothing (undefined/null).
pub(crate) fn from_js(data: DataOut) -> Result<Option<TypedData>, FunctionError> {
    let typed = |d: Data| Ok(Some(TypedData { data: Some(d) }));
    match data.kind {
        DataOutKind::None => Ok(None),
        DataOutKind::String => typed(Data::String(data.text.unwrap_or_default())),
        DataOutKind::Json => typed(Data::Json(data.text.unwrap_or_else(|| "null".into()))),
        DataOutKind::Bytes => typed(Data::Bytes(data.bytes.map(|b| b.to_vec()).unwrap_or_default().into())),
        DataOutKind::Http => {
            let http = data.http.ok_or_else(|| FunctionError::new("an HTTP response without its fields"))?;
            http_response(http)?.into_typed_data().map(Some)
        }
    }
}

/// The response, checked by the Rust SDK.
pub(crate) fn http_response(http: HttpResponseOut) -> Result<HttpResponse, FunctionError> {
    let headers = http
        .headers
        .into_iter()
        .filter_map(|pair| match <[String; 2]>::try_from(pair) {
            Ok([name, value]) => Some((name, value)),
            Err(_) => None,
        })
        .collect();
    let cookies = http
        .cookies
        .into_iter()
        .map(|c| CookieFields {
            name: c.name,
            value: c.value,
            domain: c.domain,
            path: c.path,
            expires: c.expires,
            secure: c.secure,
            http_only: c.http_only,
            same_site: c.same_site,
            max_age: c.max_age,
        })
        .collect();
    let default_content_type = match http.body_kind {
        Some(BodyKind::Text) => Some("text/plain; charset=utf-8"),
        Some(BodyKind::Json) => Some("application/json"),
        Some(BodyKind::Bytes) | None => None,
    };
    let body = http.body.map(|b| b.to_vec()).unwrap_or_default().into();
    let fields = ResponseFields { status: http.status, headers, cookies, body, default_content_type };
    Ok(fields.into_response()?)
}

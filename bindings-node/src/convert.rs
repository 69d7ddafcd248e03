//! TypedData ↔ the plain objects that cross into JavaScript.
//!
//! Every shape here is a DTO mirrored by `lib/native.d.ts`: field names and order match. The JS
//! layer turns them into idiomatic values (`Headers`, `URLSearchParams`, parsed JSON) and back.

// napi's Buffer has no Debug, so the DTOs holding it cannot derive it.
#![allow(missing_debug_implementations)]

use std::collections::HashMap;
use std::time::{Duration, UNIX_EPOCH};

use fnwire::{Cookie, FunctionError, HttpRequest, HttpResponse, IntoTypedData, Invocation, SameSite};
use fnwire_protocol::rpc::TypedData;
use fnwire_protocol::rpc::typed_data::Data;
use napi::bindgen_prelude::Buffer;
use napi_derive::napi;

/// One value the host sent (an input binding or a trigger-metadata entry).
#[napi(object)]
pub struct DataIn {
    /// `none`, `string`, `json`, `bytes`, `number` or `http`.
    pub kind: String,
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

/// One value a function produced (an output binding or its return value).
#[napi(object)]
pub struct DataOut {
    /// `none`, `string`, `json`, `bytes` or `http`.
    pub kind: String,
    pub text: Option<String>,
    pub bytes: Option<Buffer>,
    pub http: Option<HttpResponseOut>,
}

#[napi(object)]
pub struct HttpResponseOut {
    pub status: u32,
    /// `[name, value]` pairs.
    pub headers: Vec<Vec<String>>,
    pub cookies: Vec<CookieOut>,
    pub body: Option<Buffer>,
    /// `text` or `json`: the body's content type unless a header names one; `bytes`: none.
    pub body_kind: Option<String>,
}

#[napi(object)]
pub struct CookieOut {
    pub name: String,
    pub value: String,
    pub domain: Option<String>,
    pub path: Option<String>,
    /// Milliseconds since the Unix epoch.
    pub expires: Option<f64>,
    pub secure: Option<bool>,
    pub http_only: Option<bool>,
    /// `Strict`, `Lax` or `None`.
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

fn data_in(kind: &str) -> DataIn {
    DataIn { kind: kind.to_string(), text: None, bytes: None, number: None, http: None }
}

fn text_in(kind: &str, text: String) -> DataIn {
    DataIn { text: Some(text), ..data_in(kind) }
}

/// A host value as a DTO. Kinds JS has no natural form for become their JSON text.
pub(crate) fn to_js(data: TypedData) -> DataIn {
    let Some(inner) = data.data else { return data_in("none") };
    match inner {
        Data::String(s) => text_in("string", s),
        Data::Json(j) => text_in("json", j),
        Data::Bytes(b) | Data::Stream(b) => {
            DataIn { bytes: Some(Buffer::from(b.to_vec())), ..data_in("bytes") }
        }
        Data::Int(i) => DataIn { number: Some(i as f64), ..data_in("number") },
        Data::Double(d) => DataIn { number: Some(d), ..data_in("number") },
        Data::Http(http) => {
            let request = HttpRequest::from_rpc(*http);
            let map = |m: &std::collections::BTreeMap<String, String>| {
                m.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<HashMap<_, _>>()
            };
            let http = HttpRequestIn {
                method: request.method().to_string(),
                url: request.url().to_string(),
                headers: request
                    .headers()
                    .iter()
                    .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
                    .collect(),
                query: map(request.query_params()),
                params: map(request.params()),
                body: Buffer::from(request.body().to_vec()),
            };
            DataIn { http: Some(http), ..data_in("http") }
        }
        other => match fnwire::json_of(TypedData { data: Some(other) }) {
            Ok(value) => text_in("json", value.to_string()),
            Err(_) => data_in("none"),
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
    match data.kind.as_str() {
        "none" => Ok(None),
        "string" => typed(Data::String(data.text.unwrap_or_default())),
        "json" => typed(Data::Json(data.text.unwrap_or_else(|| "null".into()))),
        "bytes" => typed(Data::Bytes(data.bytes.map(|b| b.to_vec()).unwrap_or_default().into())),
        "http" => {
            let http = data.http.ok_or_else(|| FunctionError::new("an HTTP response without its fields"))?;
            http_response(http)?.into_typed_data().map(Some)
        }
        other => Err(FunctionError::new(format!("fnwire cannot send a value of kind `{other}`"))),
    }
}

fn http_response(http: HttpResponseOut) -> Result<HttpResponse, FunctionError> {
    let status = u16::try_from(http.status).ok().filter(|s| (100..=999).contains(s)).ok_or_else(|| {
        FunctionError::new(format!("HTTP status {} is not a status code (100-999)", http.status))
    })?;
    let mut response = HttpResponse::new(status);
    for pair in http.headers {
        if let [name, value] = pair.as_slice() {
            response = response.header(name.clone(), value.clone());
        }
    }
    for c in http.cookies {
        let mut cookie = Cookie::new(c.name, c.value);
        cookie.domain = c.domain;
        cookie.path = c.path;
        cookie.secure = c.secure;
        cookie.http_only = c.http_only;
        cookie.expires = c
            .expires
            .filter(|ms| ms.is_finite() && *ms >= 0.0)
            .map(|ms| UNIX_EPOCH + Duration::from_millis(ms as u64));
        cookie.max_age = c.max_age.filter(|s| s.is_finite() && *s >= 0.0).map(Duration::from_secs_f64);
        cookie.same_site = match c.same_site.as_deref().map(str::to_ascii_lowercase).as_deref() {
            None => None,
            Some("strict") => Some(SameSite::Strict),
            Some("lax") => Some(SameSite::Lax),
            Some("none") => Some(SameSite::None),
            Some(other) => {
                return Err(FunctionError::new(format!(
                    "cookie `{}`: sameSite `{other}` is not Strict, Lax or None",
                    cookie.name
                )));
            }
        };
        response = response.cookie(cookie);
    }
    let default_type = match http.body_kind.as_deref() {
        Some("text") => Some("text/plain; charset=utf-8"),
        Some("json") => Some("application/json"),
        _ => None,
    };
    if let Some(content_type) = default_type
        && !response.headers().contains("content-type")
    {
        response = response.header("content-type", content_type);
    }
    if let Some(body) = http.body {
        response = response.body(body.to_vec());
    }
    Ok(response)
}

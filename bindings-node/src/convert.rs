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
use napi::bindgen_prelude::{Buffer, Either, FnArgs};
use napi_derive::napi;
use serde::Serialize;

/// One invocation as it crosses to JavaScript: the dispatch callback is called with
/// `(callId, functionId, head, triggerMetadata, buffers)`. `head` and `triggerMetadata` are JSON
/// text, because V8 parses JSON far faster than N-API sets properties one at a time (each set
/// makes and internalizes its key string); the trigger metadata is parsed only if the function
/// reads `context.triggerMetadata`. Byte values travel beside the text in `buffers` and are named
/// by their index. The shapes are the serde types below; `lib/app.js` documents the same shapes.
pub type InvocationCall = FnArgs<(u32, u32, String, String, Option<Vec<Buffer>>)>;

/// `head`: what every handler needs.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct CallHead<'a> {
    invocation_id: &'a str,
    function_name: &'a str,
    trace_parent: &'a str,
    trace_state: &'a str,
    trace_attributes: &'a HashMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    retry: Option<RetryIn<'a>>,
    /// Input bindings in the host's order (the trigger first).
    inputs: Vec<NamedDataIn<'a>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RetryIn<'a> {
    retry_count: i32,
    max_retry_count: i32,
    #[serde(skip_serializing_if = "Option::is_none")]
    exception_message: Option<&'a str>,
}

#[derive(Serialize)]
struct NamedDataIn<'a> {
    name: &'a str,
    data: DataIn,
}

/// One value the host sent (an input binding or a trigger-metadata entry); `kind` says which
/// fields are set. Kinds JavaScript has no natural form for become their JSON text.
#[derive(Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
enum DataIn {
    /// No value (null or missing).
    None,
    String {
        text: String,
    },
    /// `text` is JSON text, parsed on the JavaScript side (which reports text that does not parse).
    Json {
        text: String,
    },
    /// The bytes are `buffers[buffer]`.
    Bytes {
        buffer: usize,
    },
    /// `number`, or for a value JSON cannot hold, `text`: `NaN`, `Infinity` or `-Infinity`.
    Number {
        #[serde(skip_serializing_if = "Option::is_none")]
        number: Option<f64>,
        #[serde(skip_serializing_if = "Option::is_none")]
        text: Option<&'static str>,
    },
    Http {
        http: HttpRequestIn,
    },
}

/// An HTTP request, decoded from either the plain or the nullable maps.
#[derive(Serialize)]
struct HttpRequestIn {
    method: String,
    url: String,
    /// Lower-case names; of a repeated header, the last value.
    headers: serde_json::Map<String, serde_json::Value>,
    query: std::collections::BTreeMap<String, String>,
    params: std::collections::BTreeMap<String, String>,
    /// `buffers[body]`; absent for an empty body.
    #[serde(skip_serializing_if = "Option::is_none")]
    body: Option<usize>,
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

/// Collects the byte values of one call, which cross beside its JSON text.
#[derive(Default)]
struct Buffers(Vec<Buffer>);

impl Buffers {
    fn add(&mut self, bytes: &[u8]) -> usize {
        self.0.push(Buffer::from(bytes.to_vec()));
        self.0.len() - 1
    }
}

fn number_in(number: f64) -> DataIn {
    if number.is_finite() {
        DataIn::Number { number: Some(number), text: None }
    } else {
        let text = if number.is_nan() {
            "NaN"
        } else if number > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        };
        DataIn::Number { number: None, text: Some(text) }
    }
}

/// A host value as its DTO.
fn to_js(data: TypedData, buffers: &mut Buffers) -> DataIn {
    let Some(inner) = data.data else { return DataIn::None };
    match inner {
        Data::String(text) => DataIn::String { text },
        Data::Json(text) => DataIn::Json { text },
        Data::Bytes(b) | Data::Stream(b) => DataIn::Bytes { buffer: buffers.add(&b) },
        Data::Int(i) => number_in(i as f64),
        Data::Double(d) => number_in(d),
        Data::Http(http) => match HttpRequest::from_typed_data(TypedData { data: Some(Data::Http(http)) }) {
            Ok(request) => {
                let body = request.body();
                let http = HttpRequestIn {
                    method: request.method().as_str().to_string(),
                    url: request.url().to_string(),
                    headers: request
                        .headers()
                        .iter()
                        .map(|(k, v)| {
                            let value = String::from_utf8_lossy(v.as_bytes()).into_owned();
                            (k.as_str().to_string(), serde_json::Value::String(value))
                        })
                        .collect(),
                    query: request.query_params().clone(),
                    params: request.params().clone(),
                    body: (!body.is_empty()).then(|| buffers.add(body)),
                };
                DataIn::Http { http }
            }
            Err(e) => {
                tracing::warn!("{e}");
                DataIn::None
            }
        },
        other => match fnwire::__bridge::json_of(TypedData { data: Some(other) }) {
            Ok(value) => DataIn::Json { text: value.to_string() },
            Err(_) => DataIn::None,
        },
    }
}

/// The arguments of the dispatch callback for one invocation (see [`InvocationCall`]).
pub(crate) fn invocation_call(call_id: u32, function_id: u32, mut invocation: Invocation) -> InvocationCall {
    let mut buffers = Buffers::default();
    let names: Vec<String> = invocation.inputs().iter().map(|(name, _)| name.clone()).collect();
    let inputs = names
        .iter()
        .map(|name| NamedDataIn {
            name,
            data: to_js(invocation.take_input(name).unwrap_or_default(), &mut buffers),
        })
        .collect();
    let metadata: std::collections::BTreeMap<&str, DataIn> = invocation
        .trigger_metadata()
        .iter()
        .map(|(name, data)| (name.as_str(), to_js(data.clone(), &mut buffers)))
        .collect();
    let trace = invocation.trace_context();
    let head = CallHead {
        invocation_id: invocation.invocation_id(),
        function_name: invocation.function_name(),
        trace_parent: &trace.trace_parent,
        trace_state: &trace.trace_state,
        trace_attributes: &trace.attributes,
        retry: invocation.retry_context().map(|r| RetryIn {
            retry_count: r.retry_count,
            max_retry_count: r.max_retry_count,
            exception_message: r.exception_message.as_deref(),
        }),
        inputs,
    };
    // These types hold strings, numbers and string-keyed maps only, which always serialize.
    let head = serde_json::to_string(&head).unwrap_or_default();
    let metadata = serde_json::to_string(&metadata).unwrap_or_default();
    let buffers = (!buffers.0.is_empty()).then_some(buffers.0);
    FnArgs::from((call_id, function_id, head, metadata, buffers))
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
    let body = http.body.map(|b| b.to_vec()).unwrap_or_default().into();
    checked_response(http.status, headers, cookies, body, http.body_kind)
}

/// A response with no cookies whose headers arrive as one flat `[name, value, name, value, ...]`
/// list and whose body is the text or bytes to send: what `invocationCompleteHttp` receives.
pub(crate) fn flat_http_response(
    status: f64,
    headers: Vec<String>,
    body: Either<String, Buffer>,
    body_kind: Option<BodyKind>,
) -> Result<HttpResponse, FunctionError> {
    let mut pairs = Vec::with_capacity(headers.len() / 2);
    let mut headers = headers.into_iter();
    while let (Some(name), Some(value)) = (headers.next(), headers.next()) {
        pairs.push((name, value));
    }
    let body = match body {
        Either::A(text) => text.into_bytes().into(),
        Either::B(bytes) => bytes.to_vec().into(),
    };
    checked_response(status, pairs, Vec::new(), body, body_kind)
}

fn checked_response(
    status: f64,
    headers: Vec<(String, String)>,
    cookies: Vec<CookieFields>,
    body: bytes::Bytes,
    body_kind: Option<BodyKind>,
) -> Result<HttpResponse, FunctionError> {
    let default_content_type = match body_kind {
        Some(BodyKind::Text) => Some("text/plain; charset=utf-8"),
        Some(BodyKind::Json) => Some("application/json"),
        Some(BodyKind::Bytes) | None => None,
    };
    let fields = ResponseFields { status, headers, cookies, body, default_content_type };
    Ok(fields.into_response()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use fnwire_protocol::rpc::RpcHttp;
    use serde_json::{Value, json};

    fn typed(data: Data) -> TypedData {
        TypedData { data: Some(data) }
    }

    #[test]
    fn an_invocation_crosses_as_json_text_with_its_bytes_beside_it() {
        let http = RpcHttp {
            method: "POST".into(),
            url: "http://localhost:7071/api/echo/a?x=1".into(),
            headers: [("X-Custom".to_string(), "v".to_string())].into(),
            query: [("x".to_string(), "1".to_string())].into(),
            params: [("id".to_string(), "a".to_string())].into(),
            body: Some(Box::new(typed(Data::Bytes(b"hi".to_vec().into())))),
            ..RpcHttp::default()
        };
        let invocation = Invocation::new("inv-1", "echo")
            .with_input("req", typed(Data::Http(Box::new(http))))
            .with_input("blob", typed(Data::Bytes(b"blob".to_vec().into())))
            .with_trigger_metadata("Count", typed(Data::Int(3)))
            .with_trigger_metadata("Ratio", typed(Data::Double(f64::NAN)))
            .with_trigger_metadata("Query", typed(Data::Json(r#"{"x":"1"}"#.into())));
        let (call_id, function_id, head, metadata, buffers) = invocation_call(7, 2, invocation).data;
        assert_eq!((call_id, function_id), (7, 2));
        let head: Value = serde_json::from_str(&head).unwrap();
        assert_eq!(head["invocationId"], "inv-1");
        assert_eq!(head["functionName"], "echo");
        assert!(head.get("retry").is_none());
        let request = &head["inputs"][0];
        assert_eq!(request["name"], "req");
        assert_eq!(request["data"]["kind"], "http");
        let http = &request["data"]["http"];
        assert_eq!(http["method"], "POST");
        assert_eq!(http["headers"], json!({"x-custom": "v"}));
        assert_eq!(http["query"], json!({"x": "1"}));
        assert_eq!(http["params"], json!({"id": "a"}));
        assert_eq!(head["inputs"][1]["data"], json!({"kind": "bytes", "buffer": 1}));
        let buffers = buffers.expect("the body and the blob cross as buffers");
        assert_eq!(buffers[http["body"].as_u64().unwrap() as usize].to_vec(), b"hi");
        assert_eq!(buffers[1].to_vec(), b"blob");
        let metadata: Value = serde_json::from_str(&metadata).unwrap();
        assert_eq!(metadata["Count"], json!({"kind": "number", "number": 3.0}));
        assert_eq!(metadata["Ratio"], json!({"kind": "number", "text": "NaN"}));
        assert_eq!(metadata["Query"], json!({"kind": "json", "text": r#"{"x":"1"}"#}));
    }

    #[test]
    fn an_empty_body_and_no_bytes_send_no_buffers() {
        let http =
            RpcHttp { method: "GET".into(), url: "http://localhost/api/hello".into(), ..RpcHttp::default() };
        let invocation =
            Invocation::new("inv-2", "hello").with_input("req", typed(Data::Http(Box::new(http))));
        let (_, _, head, metadata, buffers) = invocation_call(1, 0, invocation).data;
        let head: Value = serde_json::from_str(&head).unwrap();
        assert!(head["inputs"][0]["data"]["http"].get("body").is_none());
        assert!(buffers.is_none());
        assert_eq!(metadata, "{}");
    }

    #[test]
    fn a_flat_response_pairs_its_headers_and_keeps_its_body() {
        let headers = ["x-a", "1", "x-a", "2"].map(String::from).to_vec();
        let response =
            flat_http_response(201.0, headers, Either::A("made".into()), Some(BodyKind::Text)).unwrap();
        let Some(Data::Http(http)) = response.into_typed_data().unwrap().data else { panic!("not HTTP") };
        assert_eq!(http.status_code, "201");
        assert_eq!(http.headers["x-a"], "1, 2");
        assert_eq!(http.headers["content-type"], "text/plain; charset=utf-8");
        assert_eq!(http.body.unwrap().data, Some(Data::Bytes(b"made".to_vec().into())));
        let error = flat_http_response(42.0, Vec::new(), Either::A(String::new()), None).unwrap_err();
        assert!(error.message.contains("42"), "{}", error.message);
    }
}

//! `@azure/functions` v4 apps on the fnwire core: the native half of `@azure/functions-core`.
//!
//! The library talks to its worker in FunctionRpc terms: it registers raw binding objects, and per
//! invocation its invocation model reads an `RpcInvocationRequest` and answers an
//! `RpcInvocationResponse`, both as the camelCase objects Microsoft's worker builds with
//! protobufjs (one-of members present only when set, enums as lower-case strings, bytes as
//! `Uint8Array`). This module turns fnwire's invocations into those objects and the answers back
//! into TypedData, and checks registrations with `fnwire-metadata`; `lib/azure-core.js` only
//! provides the module and calls through. Each shape below is declared once here and mirrored by
//! the generated `lib/native.d.ts`.

// napi's typed arrays have no Debug, so the objects holding them cannot derive it.
#![allow(missing_debug_implementations)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::worker::{LogLevel, answer_call, call_js, invocation_fail, invocation_log};
use fnwire::runtime::FunctionDefinition;
use fnwire::{FromTypedData, FunctionError, HttpRequest, Invocation, InvocationOutcome, InvocationResult};
use fnwire_metadata::{Binding, CATALOG, FunctionMetadata};
use fnwire_protocol::rpc::typed_data::Data;
use fnwire_protocol::rpc::{
    CollectionBytes, CollectionDouble, CollectionSInt64, CollectionString, NullableBool, NullableDouble,
    NullableString, NullableTimestamp, RpcHttp, RpcHttpCookie, TypedData, nullable_bool, nullable_double,
    nullable_string, nullable_timestamp, rpc_http_cookie,
};
use napi::Status;
use napi::bindgen_prelude::Uint8Array;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use serde_json::Value;

// ---------------------------------------------------------------------------------------------
// The RPC-shaped objects

/// `RpcTypedData`: exactly one member is set.
#[napi(object)]
#[derive(Default)]
pub struct RpcTypedData {
    pub string: Option<String>,
    pub json: Option<String>,
    pub bytes: Option<Uint8Array>,
    pub stream: Option<Uint8Array>,
    pub http: Option<RpcHttpData>,
    pub int: Option<i64>,
    pub double: Option<f64>,
    pub collection_bytes: Option<RpcCollectionBytes>,
    pub collection_string: Option<RpcCollectionString>,
    pub collection_double: Option<RpcCollectionDouble>,
    pub collection_sint64: Option<RpcCollectionSint64>,
}

#[napi(object)]
pub struct RpcCollectionBytes {
    pub bytes: Vec<Uint8Array>,
}

#[napi(object)]
pub struct RpcCollectionString {
    pub string: Vec<String>,
}

#[napi(object)]
pub struct RpcCollectionDouble {
    pub double: Vec<f64>,
}

#[napi(object)]
pub struct RpcCollectionSint64 {
    pub sint64: Vec<i64>,
}

/// `RpcHttpData`: a request (method, url, maps, body) coming in, a response (statusCode,
/// headers, cookies, body) going out.
#[napi(object)]
#[derive(Default)]
pub struct RpcHttpData {
    pub method: Option<String>,
    pub url: Option<String>,
    pub headers: Option<HashMap<String, String>>,
    pub query: Option<HashMap<String, String>>,
    pub params: Option<HashMap<String, String>>,
    pub body: Option<RpcHttpBody>,
    pub status_code: Option<String>,
    pub cookies: Option<Vec<RpcHttpCookieData>>,
    pub enable_content_negotiation: Option<bool>,
}

/// The body of an `RpcHttpData`: the library reads and writes only these two members.
#[napi(object)]
#[derive(Default)]
pub struct RpcHttpBody {
    pub bytes: Option<Uint8Array>,
    pub string: Option<String>,
}

#[napi(object)]
pub struct RpcHttpCookieData {
    pub name: Option<String>,
    pub value: Option<String>,
    pub domain: Option<RpcNullableString>,
    pub path: Option<RpcNullableString>,
    pub expires: Option<RpcNullableTimestamp>,
    pub secure: Option<RpcNullableBool>,
    pub http_only: Option<RpcNullableBool>,
    /// `none`, `lax`, `strict` or `explicitNone`.
    pub same_site: Option<String>,
    pub max_age: Option<RpcNullableDouble>,
}

#[napi(object)]
pub struct RpcNullableString {
    pub value: Option<String>,
}

#[napi(object)]
pub struct RpcNullableBool {
    pub value: Option<bool>,
}

#[napi(object)]
pub struct RpcNullableDouble {
    pub value: Option<f64>,
}

#[napi(object)]
pub struct RpcNullableTimestamp {
    pub value: Option<RpcTimestamp>,
}

#[napi(object)]
pub struct RpcTimestamp {
    pub seconds: Option<i64>,
    pub nanos: Option<i32>,
}

#[napi(object)]
pub struct RpcParameterBinding {
    pub name: String,
    pub data: Option<RpcTypedData>,
}

#[napi(object)]
pub struct RpcTraceContext {
    pub trace_parent: String,
    pub trace_state: String,
    pub attributes: HashMap<String, String>,
}

#[napi(object)]
pub struct RpcException {
    pub message: Option<String>,
}

#[napi(object)]
pub struct RpcRetryContext {
    pub retry_count: i32,
    pub max_retry_count: i32,
    pub exception: Option<RpcException>,
}

/// `RpcInvocationRequest`, what the library's `getArguments` reads.
#[napi(object)]
pub struct RpcInvocationRequest {
    pub invocation_id: String,
    pub function_id: String,
    pub input_data: Vec<RpcParameterBinding>,
    pub trigger_metadata: HashMap<String, RpcTypedData>,
    pub trace_context: RpcTraceContext,
    pub retry_context: Option<RpcRetryContext>,
}

/// `RpcInvocationResponse`, what the library's `getResponse` returns.
#[napi(object)]
pub struct RpcInvocationResponse {
    pub invocation_id: Option<String>,
    pub output_data: Option<Vec<RpcParameterBinding>>,
    pub return_value: Option<RpcTypedData>,
}

/// `RpcBindingInfo` in the function metadata the invocation model reads.
#[napi(object)]
pub struct RpcBindingInfo {
    #[napi(js_name = "type")]
    pub binding_type: String,
    /// `in`, `out` or `inout`.
    pub direction: String,
    /// `string`, `binary` or `stream`; absent when the binding names none.
    pub data_type: Option<String>,
}

/// `RpcFunctionMetadata` as the invocation model reads it (`coreCtx.metadata`).
#[napi(object)]
pub struct RpcFunctionMetadata {
    pub name: String,
    pub function_id: String,
    pub bindings: HashMap<String, RpcBindingInfo>,
    pub raw_bindings: Vec<String>,
}

/// What `azureRegisterFunction` answers.
#[napi(object)]
pub struct AzureFunction {
    /// Names the function in `AzureInvocationCall.functionIndex` and `azureUnregisterFunction`.
    pub index: u32,
    pub metadata: RpcFunctionMetadata,
}

/// What the dispatch callback receives for one invocation of an `@azure/functions` function.
#[napi(object)]
pub struct AzureInvocationCall {
    /// Names this call in `azureInvocationComplete`, `azureInvocationFail` and `azureInvocationLog`.
    pub call_id: u32,
    pub function_index: u32,
    pub request: RpcInvocationRequest,
}

// ---------------------------------------------------------------------------------------------
// Registration

/// The functions the app registered through `@azure/functions-core`, by index; `None` once
/// disposed.
static FUNCTIONS: Mutex<Vec<Option<FunctionMetadata>>> = Mutex::new(Vec::new());

fn functions() -> MutexGuard<'static, Vec<Option<FunctionMetadata>>> {
    FUNCTIONS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Checks a `registerFunction` call and records the function. `metadata` is the library's
/// `{name, bindings: {<name>: {type, direction, ...options}}, retryOptions?}`; `script_file` is the
/// entry file being loaded. The error names the function and lists every problem.
#[napi]
pub fn azure_register_function(metadata: Value, script_file: String) -> napi::Result<AzureFunction> {
    let function = function_metadata(&metadata, &script_file).map_err(napi::Error::from_reason)?;
    let mut registered = functions();
    let taken = registered
        .iter()
        .flatten()
        .map(|f| f.name.clone())
        .chain(crate::define::registered().into_iter().map(|f| f.metadata.name));
    for other in taken.collect::<Vec<_>>() {
        if other.eq_ignore_ascii_case(&function.name) {
            return Err(napi::Error::from_reason(format!(
                "app.generic('{}'): a function named '{other}' is already registered; function names must be \
                 unique (case-insensitively): rename one of them",
                function.name
            )));
        }
    }
    let index = u32::try_from(registered.len())
        .map_err(|_| napi::Error::from_reason("too many functions registered"))?;
    let answer = AzureFunction { index, metadata: rpc_metadata(&function) };
    registered.push(Some(function));
    Ok(answer)
}

/// Forgets a function registered during startup (the `Disposable` `registerFunction` returned).
#[napi]
pub fn azure_unregister_function(index: u32) {
    if let Some(slot) = functions().get_mut(index as usize) {
        *slot = None;
    }
}

/// How many `@azure/functions` functions are registered.
#[napi]
pub fn azure_function_count() -> u32 {
    u32::try_from(functions().iter().flatten().count()).unwrap_or(u32::MAX)
}

/// The library's metadata as fnwire's model, validated the way the host will check it.
fn function_metadata(metadata: &Value, script_file: &str) -> Result<FunctionMetadata, String> {
    let name = match metadata.get("name") {
        Some(Value::String(name)) if !name.is_empty() => name.clone(),
        other => {
            return Err(format!(
                "@azure/functions registered a function without a name (got {}); give app.http/app.generic \
                 a function name as the first argument",
                other.map_or_else(|| "nothing".to_string(), Value::to_string)
            ));
        }
    };
    let site = format!("function '{name}'");
    if metadata.get("retryOptions").is_some_and(|r| !r.is_null()) {
        return Err(format!(
            "{site} sets `retry`, and fnwire does not run retry policies yet: remove the `retry` option \
             (fnwire's queues already redeliver a failed message)"
        ));
    }
    let Some(bindings) = metadata.get("bindings").and_then(Value::as_object) else {
        return Err(format!(
            "{site} has no `bindings` object; register it with app.http(...) or app.generic(...)"
        ));
    };
    let mut problems = Vec::new();
    let mut function = FunctionMetadata::new(name.clone());
    function.script_file = script_file.to_string();
    for (binding_name, binding) in bindings {
        // As Microsoft's worker renders raw bindings: every option of the binding, then its name.
        let mut object = match binding {
            Value::Object(object) => object.clone(),
            other => {
                problems.push(format!("binding '{binding_name}' is not an object but `{other}`"));
                continue;
            }
        };
        object.insert("name".to_string(), Value::String(binding_name.clone()));
        match Binding::from_json(&Value::Object(object)) {
            Ok(binding) => {
                check_known_binding(&binding, &mut problems);
                function.bindings.push(binding);
            }
            Err(e) => problems.push(e.to_string()),
        }
    }
    if problems.is_empty()
        && let Err(errors) = function.validate()
    {
        problems.extend(errors.into_iter().map(|e| e.to_string()));
    }
    if problems.is_empty() {
        Ok(function)
    } else {
        let list: Vec<String> = problems.iter().map(|p| format!("  - {p}")).collect();
        Err(format!("{site} is not a valid function:\n{}", list.join("\n")))
    }
}

/// A binding type fnwire serves itself (HTTP, timer, queue, blob) must carry the keys fnwire's
/// host needs to serve it, with values of the right kind.
fn check_known_binding(binding: &Binding, problems: &mut Vec<String>) {
    let Some(kind) = CATALOG.iter().find(|k| {
        k.binding_type.eq_ignore_ascii_case(&binding.binding_type) && k.direction == binding.direction
    }) else {
        return;
    };
    for spec in kind.keys {
        match binding.properties.iter().find(|(k, _)| k.eq_ignore_ascii_case(spec.json_name)) {
            Some((_, value)) if !value.is_null() => {
                if let Err(why) = spec.normalize(value.clone()) {
                    let why = why.replace(&format!("`{}`", spec.name), &format!("`{}`", spec.json_name));
                    problems.push(format!("binding '{}' ({}): {why}", binding.name, binding.binding_type));
                }
            }
            _ if spec.required => problems.push(format!(
                "binding '{}' ({}) has no `{}`, which fnwire needs to serve it ({})",
                binding.name,
                binding.binding_type,
                spec.json_name,
                spec.kind.describe().replace('`', "")
            )),
            _ => {}
        }
    }
}

fn rpc_metadata(function: &FunctionMetadata) -> RpcFunctionMetadata {
    let bindings = function
        .bindings
        .iter()
        .map(|b| {
            let info = RpcBindingInfo {
                binding_type: b.binding_type.clone(),
                direction: b.direction.as_str().to_string(),
                data_type: b.data_type.map(|d| d.as_str().to_string()),
            };
            (b.name.clone(), info)
        })
        .collect();
    RpcFunctionMetadata {
        name: function.name.clone(),
        function_id: function.function_id(),
        bindings,
        raw_bindings: function.raw_bindings(),
    }
}

// ---------------------------------------------------------------------------------------------
// Invocation

/// The JS function every `@azure/functions` invocation is handed to.
pub type AzureDispatchFn =
    ThreadsafeFunction<AzureInvocationCall, napi::Unknown<'static>, AzureInvocationCall, Status, false>;

static DISPATCH: Mutex<Option<AzureDispatchFn>> = Mutex::new(None);

/// Sets the callback that runs `@azure/functions` invocations. The worker takes it when it starts.
#[napi]
pub fn azure_attach(dispatch: AzureDispatchFn) {
    *DISPATCH.lock().unwrap_or_else(|p| p.into_inner()) = Some(dispatch);
}

/// The registered `@azure/functions` functions as definitions the worker serves. Takes the
/// dispatch callback, so it is released with the definitions when the worker stops.
pub(crate) fn take_definitions() -> Result<Vec<FunctionDefinition>, String> {
    let registered: Vec<(u32, FunctionMetadata)> = functions()
        .iter()
        .enumerate()
        .filter_map(|(i, f)| Some((u32::try_from(i).ok()?, f.clone()?)))
        .collect();
    let dispatch = DISPATCH.lock().unwrap_or_else(|p| p.into_inner()).take();
    if registered.is_empty() {
        return Ok(Vec::new());
    }
    let dispatch = Arc::new(dispatch.ok_or(
        "@azure/functions functions are registered, but the worker was started without their dispatch callback",
    )?);
    Ok(registered
        .into_iter()
        .map(|(index, metadata)| {
            let dispatch = dispatch.clone();
            let with_trigger_metadata = library_reads_trigger_metadata(&metadata);
            FunctionDefinition::new(metadata, move |invocation: Invocation| {
                invoke(dispatch.clone(), index, with_trigger_metadata, invocation)
            })
        })
        .collect())
}

/// The library ignores the trigger metadata of HTTP and timer triggers (it reads the request and
/// the timer from the input instead), so building it for them is wasted work on every call.
fn library_reads_trigger_metadata(metadata: &FunctionMetadata) -> bool {
    metadata.trigger().is_none_or(|trigger| {
        let kind = trigger.binding_type.to_ascii_lowercase();
        kind != "httptrigger" && kind != "timertrigger"
    })
}

async fn invoke(
    dispatch: Arc<AzureDispatchFn>,
    function_index: u32,
    with_trigger_metadata: bool,
    invocation: Invocation,
) -> InvocationResult {
    call_js(move |call_id| {
        let call = AzureInvocationCall {
            call_id,
            function_index,
            request: invocation_request(invocation, with_trigger_metadata)?,
        };
        Ok(dispatch.call(call, ThreadsafeFunctionCallMode::NonBlocking))
    })
    .await
}

/// Ends an invocation with the invocation model's response.
#[napi]
pub fn azure_invocation_complete(call_id: u32, response: RpcInvocationResponse) {
    answer_call(call_id, || invocation_outcome(response));
}

/// Ends an invocation whose response is an HTTP return value and nothing else (what every HTTP
/// function answers). The members arrive as arguments: reading the whole response object through
/// N-API looks up some 25 members by name, which cost more than converting the response itself.
#[napi]
pub fn azure_invocation_complete_http(
    call_id: u32,
    status_code: Option<String>,
    headers: Option<HashMap<String, String>>,
    body: Option<RpcHttpBody>,
    cookies: Option<Vec<RpcHttpCookieData>>,
    enable_content_negotiation: Option<bool>,
) {
    answer_call(call_id, || {
        let http = RpcHttpData {
            status_code,
            headers,
            body,
            cookies,
            enable_content_negotiation,
            ..Default::default()
        };
        http_response_out(http).map_err(|e| e.in_binding("$return")).map(|http| InvocationOutcome {
            outputs: Vec::new(),
            return_value: Some(TypedData { data: Some(Data::Http(Box::new(http))) }),
        })
    });
}

/// Ends an invocation as failed; `stack` reaches the host's log as the exception's stack trace.
#[napi]
pub fn azure_invocation_fail(call_id: u32, message: String, stack: Option<String>) {
    invocation_fail(call_id, message, stack, None);
}

/// Sends a user log for a running invocation. `level` is an `RpcLogLevel`: `trace`, `debug`,
/// `information`, `warning`, `error` or `critical`. Returns false when the invocation has ended.
#[napi]
pub fn azure_invocation_log(call_id: u32, level: String, message: String) -> bool {
    // The library's levels include `none`; anything unknown logs at the default level.
    let level = match level.as_str() {
        "trace" => LogLevel::Trace,
        "debug" => LogLevel::Debug,
        "warning" => LogLevel::Warning,
        "error" => LogLevel::Error,
        "critical" => LogLevel::Critical,
        _ => LogLevel::Information,
    };
    invocation_log(call_id, level, message)
}

// ---------------------------------------------------------------------------------------------
// Conversions

fn invocation_request(
    invocation: Invocation,
    with_trigger_metadata: bool,
) -> Result<RpcInvocationRequest, FunctionError> {
    let trace = invocation.trace_context();
    let mut input_data = Vec::with_capacity(invocation.inputs().len());
    for (name, data) in invocation.inputs() {
        let data = typed_data_in(data.clone()).map_err(|e| e.in_binding(name))?;
        input_data.push(RpcParameterBinding { name: name.clone(), data: Some(data) });
    }
    let mut trigger_metadata = HashMap::new();
    if with_trigger_metadata {
        for (name, data) in invocation.trigger_metadata() {
            // Metadata the library could not read is left out rather than failing the invocation.
            if let Ok(data) = typed_data_in(data.clone()) {
                trigger_metadata.insert(name.clone(), data);
            }
        }
    }
    Ok(RpcInvocationRequest {
        invocation_id: invocation.invocation_id().to_string(),
        function_id: invocation.function_id().to_string(),
        input_data,
        trigger_metadata,
        trace_context: RpcTraceContext {
            trace_parent: trace.trace_parent.clone(),
            trace_state: trace.trace_state.clone(),
            attributes: trace.attributes.clone(),
        },
        retry_context: invocation.retry_context().map(|r| RpcRetryContext {
            retry_count: r.retry_count,
            max_retry_count: r.max_retry_count,
            exception: r.exception_message.clone().map(|message| RpcException { message: Some(message) }),
        }),
    })
}

fn bytes_in(bytes: &[u8]) -> Uint8Array {
    Uint8Array::new(bytes.to_vec())
}

/// A host value as the library's `RpcTypedData`. HTTP requests arrive with plain maps, whichever
/// form (plain or nullable) the host used.
fn typed_data_in(data: TypedData) -> Result<RpcTypedData, FunctionError> {
    let Some(inner) = data.data else { return Ok(RpcTypedData::default()) };
    Ok(match inner {
        Data::String(s) => RpcTypedData { string: Some(s), ..Default::default() },
        Data::Json(j) => RpcTypedData { json: Some(j), ..Default::default() },
        Data::Bytes(b) => RpcTypedData { bytes: Some(bytes_in(&b)), ..Default::default() },
        Data::Stream(b) => RpcTypedData { stream: Some(bytes_in(&b)), ..Default::default() },
        Data::Int(i) => RpcTypedData { int: Some(i), ..Default::default() },
        Data::Double(d) => RpcTypedData { double: Some(d), ..Default::default() },
        Data::Http(http) => RpcTypedData { http: Some(http_request_in(*http)?), ..Default::default() },
        Data::CollectionBytes(c) => RpcTypedData {
            collection_bytes: Some(RpcCollectionBytes {
                bytes: c.bytes.iter().map(|b| bytes_in(b)).collect(),
            }),
            ..Default::default()
        },
        Data::CollectionString(c) => RpcTypedData {
            collection_string: Some(RpcCollectionString { string: c.string }),
            ..Default::default()
        },
        Data::CollectionDouble(c) => RpcTypedData {
            collection_double: Some(RpcCollectionDouble { double: c.double }),
            ..Default::default()
        },
        Data::CollectionSint64(c) => RpcTypedData {
            collection_sint64: Some(RpcCollectionSint64 { sint64: c.sint64 }),
            ..Default::default()
        },
        // SDK-type (deferred) bindings: fnwire advertises no support, so hosts do not send them.
        Data::ModelBindingData(_) | Data::CollectionModelBindingData(_) => RpcTypedData::default(),
    })
}

fn http_request_in(http: RpcHttp) -> Result<RpcHttpData, FunctionError> {
    let request = HttpRequest::from_typed_data(TypedData { data: Some(Data::Http(Box::new(http))) })?;
    let map = |m: &std::collections::BTreeMap<String, String>| {
        m.iter().map(|(k, v)| (k.clone(), v.clone())).collect::<HashMap<_, _>>()
    };
    let headers = request
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    Ok(RpcHttpData {
        method: Some(request.method().as_str().to_string()),
        url: Some(request.url().to_string()),
        headers: Some(headers),
        query: Some(map(request.query_params())),
        params: Some(map(request.params())),
        body: Some(RpcHttpBody { bytes: Some(bytes_in(request.body())), string: None }),
        ..Default::default()
    })
}

fn invocation_outcome(response: RpcInvocationResponse) -> InvocationResult {
    let mut outputs = Vec::new();
    for binding in response.output_data.unwrap_or_default() {
        let name = binding.name;
        if let Some(data) = binding.data {
            let data = typed_data_out(data).map_err(|e| e.in_binding(&name))?;
            if data.data.is_some() {
                outputs.push((name, data));
            }
        }
    }
    let return_value = match response.return_value {
        Some(data) => {
            Some(typed_data_out(data).map_err(|e| e.in_binding("$return"))?).filter(|d| d.data.is_some())
        }
        None => None,
    };
    Ok(InvocationOutcome { outputs, return_value })
}

/// The library's `RpcTypedData` as TypedData; an object with no member set is empty TypedData.
fn typed_data_out(data: RpcTypedData) -> Result<TypedData, FunctionError> {
    let inner = if let Some(s) = data.string {
        Some(Data::String(s))
    } else if let Some(j) = data.json {
        Some(Data::Json(j))
    } else if let Some(b) = data.bytes {
        Some(Data::Bytes(b.to_vec().into()))
    } else if let Some(b) = data.stream {
        Some(Data::Stream(b.to_vec().into()))
    } else if let Some(http) = data.http {
        Some(Data::Http(Box::new(http_response_out(http)?)))
    } else if let Some(i) = data.int {
        Some(Data::Int(i))
    } else if let Some(d) = data.double {
        Some(Data::Double(d))
    } else if let Some(c) = data.collection_bytes {
        Some(Data::CollectionBytes(CollectionBytes {
            bytes: c.bytes.into_iter().map(|b| b.to_vec().into()).collect(),
        }))
    } else if let Some(c) = data.collection_string {
        Some(Data::CollectionString(CollectionString { string: c.string }))
    } else if let Some(c) = data.collection_double {
        Some(Data::CollectionDouble(CollectionDouble { double: c.double }))
    } else {
        data.collection_sint64.map(|c| Data::CollectionSint64(CollectionSInt64 { sint64: c.sint64 }))
    };
    Ok(TypedData { data: inner })
}

fn http_response_out(http: RpcHttpData) -> Result<RpcHttp, FunctionError> {
    let status_code = http.status_code.unwrap_or_default();
    if !status_code.is_empty() && !status_code.parse::<u16>().is_ok_and(|s| (100..=999).contains(&s)) {
        return Err(FunctionError::new(format!(
            "the HTTP response's status `{status_code}` is not a status code (an integer from 100 to 999)"
        )));
    }
    let body = http.body.map(|body| {
        let data = match (body.bytes, body.string) {
            (Some(bytes), _) => Data::Bytes(bytes.to_vec().into()),
            (None, Some(text)) => Data::String(text),
            (None, None) => Data::Bytes(Default::default()),
        };
        Box::new(TypedData { data: Some(data) })
    });
    let cookies = http.cookies.unwrap_or_default().into_iter().map(cookie_out).collect::<Result<_, _>>()?;
    Ok(RpcHttp {
        status_code,
        headers: http.headers.unwrap_or_default(),
        // The host renders a response without a body as the JSON of the whole object.
        body: body.or_else(|| Some(Box::new(TypedData { data: Some(Data::Bytes(Default::default())) }))),
        cookies,
        enable_content_negotiation: http.enable_content_negotiation.unwrap_or(false),
        ..RpcHttp::default()
    })
}

fn cookie_out(cookie: RpcHttpCookieData) -> Result<RpcHttpCookie, FunctionError> {
    let name = cookie.name.unwrap_or_default();
    let text = |s: Option<RpcNullableString>| {
        s.and_then(|s| s.value).map(|v| NullableString { string: Some(nullable_string::String::Value(v)) })
    };
    let flag = |b: Option<RpcNullableBool>| {
        b.and_then(|b| b.value).map(|v| NullableBool { bool: Some(nullable_bool::Bool::Value(v)) })
    };
    let same_site = match cookie.same_site.as_deref().unwrap_or("none") {
        "none" => rpc_http_cookie::SameSite::None,
        "lax" => rpc_http_cookie::SameSite::Lax,
        "strict" => rpc_http_cookie::SameSite::Strict,
        "explicitNone" => rpc_http_cookie::SameSite::ExplicitNone,
        other => {
            return Err(FunctionError::new(format!(
                "cookie `{name}`: sameSite `{other}` is not none, lax, strict or explicitNone"
            )));
        }
    };
    Ok(RpcHttpCookie {
        value: cookie.value.unwrap_or_default(),
        domain: text(cookie.domain),
        path: text(cookie.path),
        expires: cookie.expires.and_then(|t| t.value).map(|t| NullableTimestamp {
            timestamp: Some(nullable_timestamp::Timestamp::Value(prost_types::Timestamp {
                seconds: t.seconds.unwrap_or_default(),
                nanos: t.nanos.unwrap_or_default(),
            })),
        }),
        secure: flag(cookie.secure),
        http_only: flag(cookie.http_only),
        same_site: same_site as i32,
        max_age: cookie
            .max_age
            .and_then(|d| d.value)
            .map(|v| NullableDouble { double: Some(nullable_double::Double::Value(v)) }),
        name,
    })
}

/// Binding metadata helpers shared with the tests.
#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn register(metadata: Value) -> Result<FunctionMetadata, String> {
        function_metadata(&metadata, "src/functions/hello.js")
    }

    #[test]
    fn trigger_metadata_is_built_only_for_triggers_whose_metadata_the_library_reads() {
        let with_trigger = |binding_type: &str| {
            let function = register(json!({
                "name": "f",
                "bindings": {"t": {"type": binding_type, "direction": "in", "queueName": "q", "schedule": "0 * * * * *"}}
            }))
            .unwrap();
            library_reads_trigger_metadata(&function)
        };
        assert!(!with_trigger("httpTrigger"));
        assert!(!with_trigger("timerTrigger"));
        assert!(with_trigger("queueTrigger"));
    }

    #[test]
    fn raw_bindings_keep_every_option_the_library_rendered() {
        let function = register(json!({
            "name": "hello",
            "bindings": {
                "httpTrigger7699d38ab4": {
                    "route": "hello/{name?}", "methods": ["GET", "POST"], "authLevel": "anonymous",
                    "type": "httpTrigger", "direction": "in", "properties": {"supportsDeferredBinding": "false"}
                },
                "$return": {"type": "http", "direction": "out"}
            }
        }))
        .unwrap();
        let raw: Vec<Value> =
            function.raw_bindings().iter().map(|r| serde_json::from_str(r).unwrap()).collect();
        assert_eq!(
            raw[0],
            json!({"type": "httpTrigger", "direction": "in", "name": "httpTrigger7699d38ab4", "route": "hello/{name?}",
                   "methods": ["GET", "POST"], "authLevel": "anonymous",
                   "properties": {"supportsDeferredBinding": "false"}})
        );
        assert_eq!(raw[1], json!({"type": "http", "direction": "out", "name": "$return"}));
        assert_eq!(function.script_file, "src/functions/hello.js");
        let rpc = rpc_metadata(&function);
        assert_eq!(rpc.bindings["$return"].direction, "out");
        assert_eq!(rpc.bindings["httpTrigger7699d38ab4"].binding_type, "httpTrigger");
        assert_eq!(rpc.function_id, function.function_id());
    }

    #[test]
    fn every_problem_is_named_with_the_function() {
        let error = register(json!({
            "name": "jobs",
            "bindings": {
                "queueTrigger1": {"type": "queueTrigger", "direction": "in", "connection": "AzureWebJobsStorage"},
                "timer_2": {"type": "timerTrigger", "direction": "in", "schedule": "0 * * * * *"}
            }
        }))
        .unwrap_err();
        assert!(error.starts_with("function 'jobs' is not a valid function:"), "{error}");
        assert!(error.contains("binding 'queueTrigger1' (queueTrigger) has no `queueName`"), "{error}");
        let error = register(json!({
            "name": "jobs",
            "bindings": {
                "queueTrigger1": {"type": "queueTrigger", "direction": "in", "queueName": "jobs"},
                "timer2": {"type": "timerTrigger", "direction": "in", "schedule": "0 * * * * *"}
            }
        }))
        .unwrap_err();
        assert!(error.contains("2 triggers"), "{error}");
    }

    #[test]
    fn retry_policies_are_refused_with_what_to_do() {
        let error = register(json!({
            "name": "tick",
            "bindings": {"t": {"type": "timerTrigger", "direction": "in", "schedule": "0 * * * * *"}},
            "retryOptions": {"strategy": "fixedDelay", "maxRetryCount": 3}
        }))
        .unwrap_err();
        assert!(error.contains("remove the `retry` option"), "{error}");
    }

    #[test]
    fn host_values_take_the_library_shapes() {
        let http = RpcHttp {
            method: "POST".into(),
            url: "http://localhost:7071/api/echo/a?x=1".into(),
            nullable_headers: [(
                "X-Custom".to_string(),
                NullableString { string: Some(nullable_string::String::Value("v".into())) },
            )]
            .into(),
            params: [("id".to_string(), "a".to_string())].into(),
            body: Some(Box::new(TypedData { data: Some(Data::Bytes(b"hi".to_vec().into())) })),
            ..RpcHttp::default()
        };
        let data = typed_data_in(TypedData { data: Some(Data::Http(Box::new(http))) }).unwrap();
        let http = data.http.unwrap();
        assert!(data.string.is_none() && data.json.is_none());
        assert_eq!(http.method.as_deref(), Some("POST"));
        assert_eq!(http.headers.unwrap()["x-custom"], "v");
        assert_eq!(http.query.unwrap()["x"], "1");
        assert_eq!(http.params.unwrap()["id"], "a");
        assert_eq!(http.body.unwrap().bytes.unwrap().to_vec(), b"hi");
        let number = typed_data_in(TypedData { data: Some(Data::Int(-7)) }).unwrap();
        assert_eq!(number.int, Some(-7));
        let none = typed_data_in(TypedData { data: None }).unwrap();
        assert!(none.string.is_none() && none.bytes.is_none() && none.http.is_none());
    }

    #[test]
    fn responses_become_typed_data() {
        let response = RpcInvocationResponse {
            invocation_id: Some("i".into()),
            output_data: Some(vec![
                RpcParameterBinding {
                    name: "outqueue".into(),
                    data: Some(RpcTypedData { string: Some("q".into()), ..Default::default() }),
                },
                RpcParameterBinding { name: "unset".into(), data: None },
            ]),
            return_value: Some(RpcTypedData {
                http: Some(RpcHttpData {
                    status_code: Some("201".into()),
                    headers: Some([("x-test".to_string(), "1".to_string())].into()),
                    cookies: Some(vec![RpcHttpCookieData {
                        name: Some("session".into()),
                        value: Some("abc".into()),
                        domain: None,
                        path: Some(RpcNullableString { value: Some("/".into()) }),
                        expires: None,
                        secure: None,
                        http_only: Some(RpcNullableBool { value: Some(true) }),
                        same_site: Some("none".into()),
                        max_age: None,
                    }]),
                    body: Some(RpcHttpBody {
                        bytes: Some(Uint8Array::new(b"created".to_vec())),
                        string: None,
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            }),
        };
        let outcome = invocation_outcome(response).unwrap();
        assert_eq!(outcome.outputs.len(), 1);
        assert_eq!(outcome.outputs[0].1.data, Some(Data::String("q".into())));
        let Some(Data::Http(http)) = outcome.return_value.unwrap().data else { panic!("not HTTP") };
        assert_eq!(http.status_code, "201");
        assert_eq!(http.headers["x-test"], "1");
        assert_eq!(http.body.unwrap().data, Some(Data::Bytes(b"created".to_vec().into())));
        assert_eq!(http.cookies[0].name, "session");
        assert_eq!(http.cookies[0].same_site, rpc_http_cookie::SameSite::None as i32);
        assert!(http.cookies[0].secure.is_none());
    }

    #[test]
    fn a_bad_status_fails_the_invocation_with_the_value() {
        let http = RpcHttpData { status_code: Some("abc".into()), ..Default::default() };
        let error = http_response_out(http).unwrap_err();
        assert!(error.message.contains("`abc`"), "{}", error.message);
    }

    #[test]
    fn an_http_response_always_has_a_body() {
        let http =
            http_response_out(RpcHttpData { status_code: Some("204".into()), ..Default::default() }).unwrap();
        assert_eq!(http.body.unwrap().data, Some(Data::Bytes(Default::default())));
    }
}

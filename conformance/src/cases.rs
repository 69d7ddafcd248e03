//! Invocation cases read from `scenarios/invocations/*.toml`: a request to build the way a host
//! builds it, and what the response must hold (CONTRACT.md §1.4–§1.6). The file format is
//! documented in `conformance/README.md`.

use std::collections::BTreeMap;

use bytes::Bytes;
use fnwire_host::http::request::{HttpCapabilities, RequestParts, invocation_request};
use fnwire_protocol::rpc::{
    InvocationRequest, InvocationResponse, ParameterBinding, RpcHttp, RpcHttpCookie, RpcTraceContext,
    TypedData, nullable_bool, nullable_double, nullable_string, parameter_binding, rpc_http_cookie, rpc_log,
    status_result, typed_data,
};
use serde::Deserialize;
use serde_json::Value;

use crate::session::Invoked;
use crate::typed::{self, DataSpec};

/// Every HTTP request the runner builds comes from this host (CONTRACT.md §1.3).
pub const HOST_HEADER: &str = "localhost:7071";

/// One `scenarios/invocations/<function>.toml` file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CaseFile {
    pub function: String,
    #[serde(rename = "case")]
    pub cases: Vec<Case>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Case {
    pub name: String,
    pub description: String,
    pub request: RequestSpec,
    #[serde(default)]
    pub expect: Expectation,
    /// Filled in after parsing: the function the file is about.
    #[serde(skip)]
    pub function: String,
}

/// A request body, written one of three ways (or none: no body).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BodySpec {
    /// UTF-8 text.
    pub body: Option<String>,
    /// Bytes as hex digits.
    pub body_hex: Option<String>,
    /// The contract pattern of this many bytes (byte i = i mod 251).
    pub body_pattern: Option<usize>,
}

impl BodySpec {
    fn bytes(&self) -> Result<Option<Vec<u8>>, String> {
        let set = [self.body.is_some(), self.body_hex.is_some(), self.body_pattern.is_some()];
        if set.iter().filter(|s| **s).count() > 1 {
            return Err("set only one of body, body_hex, body_pattern".into());
        }
        Ok(if let Some(text) = &self.body {
            Some(text.as_bytes().to_vec())
        } else if let Some(hex) = &self.body_hex {
            Some(typed::parse_hex(hex)?)
        } else {
            self.body_pattern.map(typed::pattern)
        })
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RequestSpec {
    /// Set for HTTP triggers: the request method (the trigger binding is `req`).
    pub method: Option<String>,
    /// The route path after `/api/`.
    pub path: Option<String>,
    /// The URL's query string as sent (percent-encoded), without `?`.
    pub query: Option<String>,
    /// Route parameters, as the host's route matching produced them.
    #[serde(default)]
    pub params: BTreeMap<String, String>,
    /// Request headers (lower-case names); `host: localhost:7071` is added unless given.
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    #[serde(flatten)]
    pub body: BodySpec,
    /// Input bindings (after the HTTP trigger, for HTTP functions).
    #[serde(default)]
    pub inputs: Vec<InputSpec>,
    #[serde(default)]
    pub trigger_metadata: BTreeMap<String, DataSpec>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InputSpec {
    pub name: String,
    #[serde(flatten)]
    pub data: DataSpec,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Expectation {
    /// `Success` (default), `Failure` or `Cancelled`.
    pub status: Option<String>,
    /// Text `exception.message` must contain (for failures).
    pub exception_contains: Option<String>,
    /// User logs that must arrive before the response, in this order.
    pub logs: Option<Vec<LogSpec>>,
    /// The return value read as an HTTP response.
    pub http: Option<HttpExpectation>,
    pub return_value: Option<ValueExpectation>,
    /// The exact set of `output_data` entries (`[]`: none).
    pub output_data: Option<Vec<OutputExpectation>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSpec {
    pub level: String,
    pub message: String,
}

/// A value: `text` (string, or bytes holding that UTF-8), `json` (string, bytes or json whose
/// text parses to an equal JSON value) or `none = true` (absent or nothing set).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ValueExpectation {
    pub text: Option<String>,
    pub json: Option<String>,
    pub none: Option<bool>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OutputExpectation {
    pub name: String,
    #[serde(flatten)]
    pub value: ValueExpectation,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HttpExpectation {
    /// Expected status (missing `status_code` means 200).
    pub status: Option<u16>,
    /// Compared by media type, plus `charset` when given here.
    pub content_type: Option<String>,
    /// Headers that must be present with exactly these values (names ignore case).
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
    /// Headers that must not be present.
    #[serde(default)]
    pub absent_headers: Vec<String>,
    #[serde(flatten)]
    pub body: BodySpec,
    /// The body parsed as JSON must equal this JSON text (key order and spacing do not matter).
    pub body_json: Option<String>,
    /// The exact list of cookies.
    pub cookies: Option<Vec<CookieExpectation>>,
}

/// A cookie; every field not written must be absent (or its default).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CookieExpectation {
    pub name: String,
    pub value: String,
    pub path: Option<String>,
    pub domain: Option<String>,
    pub secure: Option<bool>,
    pub http_only: Option<bool>,
    /// `None` (unspecified), `Lax`, `Strict` or `ExplicitNone`.
    pub same_site: Option<String>,
    pub max_age: Option<f64>,
}

/// Reads every case file.
pub fn load(files: &[(&str, &str)]) -> Result<Vec<Case>, String> {
    let mut cases = Vec::new();
    for (path, text) in files {
        let file: CaseFile =
            toml::from_str(text).map_err(|e| format!("scenario file `{path}` is not valid: {e}"))?;
        for mut case in file.cases {
            case.function = file.function.clone();
            cases.push(case);
        }
    }
    Ok(cases)
}

impl Case {
    /// The scenario name: `<function>.<case>`.
    pub fn scenario_name(&self) -> String {
        format!("{}.{}", self.function, self.name)
    }

    pub fn is_http(&self) -> bool {
        self.request.method.is_some()
    }

    /// Builds the `InvocationRequest` as a host would for a worker with `caps`.
    pub fn build_request(
        &self,
        invocation_id: &str,
        function_id: &str,
        caps: HttpCapabilities,
    ) -> Result<InvocationRequest, String> {
        let spec = &self.request;
        let mut request = match &spec.method {
            Some(method) => {
                let parts = HttpParts::new(spec)?;
                let method = http::Method::from_bytes(method.as_bytes())
                    .map_err(|_| format!("`{method}` is not an HTTP method"))?;
                let request_parts = RequestParts {
                    method: &method,
                    uri: &parts.uri,
                    headers: &parts.headers,
                    body: &parts.body,
                    params: &spec.params,
                };
                invocation_request(invocation_id, function_id, "req", &request_parts, caps)
            }
            None => InvocationRequest {
                invocation_id: invocation_id.to_string(),
                function_id: function_id.to_string(),
                input_data: Vec::new(),
                trigger_metadata: Default::default(),
                trace_context: Some(RpcTraceContext {
                    trace_parent: format!(
                        "00-{}-{}-01",
                        uuid::Uuid::new_v4().simple(),
                        &uuid::Uuid::new_v4().simple().to_string()[..16]
                    ),
                    ..Default::default()
                }),
                retry_context: None,
            },
        };
        for input in &spec.inputs {
            let data = input.data.to_typed_data().map_err(|e| format!("input `{}`: {e}", input.name))?;
            request.input_data.push(ParameterBinding {
                name: input.name.clone(),
                rpc_data: Some(parameter_binding::RpcData::Data(data)),
            });
        }
        request.trigger_metadata.extend(typed::metadata_map(&spec.trigger_metadata)?);
        Ok(request)
    }

    /// Checks a response against the expectation; the error lists every difference.
    pub fn check(&self, invocation_id: &str, invoked: &Invoked) -> Result<String, String> {
        let response = &invoked.response;
        let mut problems = Vec::new();
        let status_ok = check_result(&self.expect, response, &mut problems);
        if let Some(logs) = &self.expect.logs {
            check_logs(logs, &invoked.logs, &mut problems);
        }
        let failed_as_expected = self.expect.status.as_deref().is_some_and(|s| s != "Success");
        if status_ok && !failed_as_expected {
            if let Some(http) = &self.expect.http {
                match read_http(response.return_value.as_ref()) {
                    Ok(rpc) => check_http(http, rpc, invocation_id, &mut problems),
                    Err(e) => problems.push(e),
                }
            }
            if let Some(value) = &self.expect.return_value {
                if let Err(e) = check_value(value, response.return_value.as_ref()) {
                    problems.push(format!("return_value: {e}"));
                }
            }
            if let Some(outputs) = &self.expect.output_data {
                check_outputs(outputs, response, &mut problems);
            }
        }
        if problems.is_empty() {
            Ok(format!("answered in {} ms", invoked.elapsed.as_millis()))
        } else {
            Err(problems.join("; "))
        }
    }
}

struct HttpParts {
    uri: http::Uri,
    headers: http::HeaderMap,
    body: Bytes,
}

impl HttpParts {
    fn new(spec: &RequestSpec) -> Result<Self, String> {
        let path = spec.path.as_deref().unwrap_or_default().trim_start_matches('/');
        let mut uri_text = format!("/api/{path}");
        if let Some(q) = spec.query.as_deref().filter(|q| !q.is_empty()) {
            uri_text.push('?');
            uri_text.push_str(q);
        }
        let uri: http::Uri =
            uri_text.parse().map_err(|e| format!("`{uri_text}` is not a valid request URI: {e}"))?;
        let mut headers = http::HeaderMap::new();
        if !spec.headers.keys().any(|k| k.eq_ignore_ascii_case("host")) {
            headers.insert(http::header::HOST, http::HeaderValue::from_static(HOST_HEADER));
        }
        for (name, value) in &spec.headers {
            let n = http::HeaderName::from_bytes(name.as_bytes())
                .map_err(|_| format!("`{name}` is not a valid header name"))?;
            let v = http::HeaderValue::from_str(value)
                .map_err(|_| format!("header `{name}`: `{value}` is not a valid header value"))?;
            headers.append(n, v);
        }
        let body = Bytes::from(spec.body.bytes()?.unwrap_or_default());
        Ok(HttpParts { uri, headers, body })
    }
}

fn status_text(response: &InvocationResponse) -> String {
    match &response.result {
        None => "no result (Failure on the wire)".into(),
        Some(r) => {
            let name = fnwire_host::channel::status_name(r.status);
            match r.exception.as_ref().map(|e| e.message.as_str()).filter(|m| !m.is_empty()) {
                Some(message) => format!("{name} with exception {message:?}"),
                None => name.to_string(),
            }
        }
    }
}

/// Checks status and exception; false when the status is not the expected one.
fn check_result(expect: &Expectation, response: &InvocationResponse, problems: &mut Vec<String>) -> bool {
    let wanted = expect.status.as_deref().unwrap_or("Success");
    let actual = response.result.as_ref().map(|r| r.status).unwrap_or(status_result::Status::Failure as i32);
    let actual_name = fnwire_host::channel::status_name(actual);
    if !actual_name.eq_ignore_ascii_case(wanted) {
        problems.push(format!("expected result.status {wanted}, received {}", status_text(response)));
        return false;
    }
    if let Some(text) = &expect.exception_contains {
        let message = response.result.as_ref().and_then(|r| r.exception.as_ref()).map(|e| e.message.as_str());
        match message {
            Some(m) if m.contains(text.as_str()) => {}
            Some(m) => {
                problems.push(format!("expected exception.message containing {text:?}, received {m:?}"))
            }
            None => problems
                .push(format!("expected exception.message containing {text:?}, received no exception")),
        }
    }
    true
}

fn level_name(level: i32) -> &'static str {
    rpc_log::Level::try_from(level).map(|l| l.as_str_name()).unwrap_or("unknown")
}

fn check_logs(expected: &[LogSpec], received: &[fnwire_protocol::rpc::RpcLog], problems: &mut Vec<String>) {
    let user: Vec<_> =
        received.iter().filter(|l| l.log_category == rpc_log::RpcLogCategory::User as i32).collect();
    let mut next = 0;
    for want in expected {
        let found = user[next..]
            .iter()
            .position(|l| l.message == want.message && level_name(l.level).eq_ignore_ascii_case(&want.level));
        match found {
            Some(offset) => next += offset + 1,
            None => {
                let got: Vec<String> =
                    user.iter().map(|l| format!("{} {:?}", level_name(l.level), l.message)).collect();
                let others = received.len() - user.len();
                problems.push(format!(
                    "expected the user log {} {:?} (category User, this invocation's id, before the response, in \
                     the listed order); received user logs before the response: [{}]{}",
                    want.level,
                    want.message,
                    got.join(", "),
                    if others > 0 { format!(" and {others} non-user log(s) with this invocation id") } else { String::new() }
                ));
                return;
            }
        }
    }
}

/// The return value as an `RpcHttp` (CONTRACT.md §1.4).
pub fn read_http(data: Option<&TypedData>) -> Result<&RpcHttp, String> {
    match data.and_then(|d| d.data.as_ref()) {
        Some(typed_data::Data::Http(rpc)) => Ok(rpc),
        _ => Err(format!(
            "expected return_value to be TypedData.http (the HTTP response), received {}",
            typed::describe(data)
        )),
    }
}

/// The response body's bytes; `None` when `body` is not set (or not a body-like value).
pub fn http_body(rpc: &RpcHttp) -> Result<Vec<u8>, String> {
    let body = rpc.body.as_deref();
    if body.is_none() {
        return Err(
            "expected RpcHttp.body to be set (even when empty: hosts render a response without `body` as \
                    the JSON of the whole object), received no body"
                .into(),
        );
    }
    match body.and_then(|b| b.data.as_ref()) {
        None => {
            Err("expected RpcHttp.body to hold bytes, string or json, received a TypedData with nothing set"
                .into())
        }
        Some(typed_data::Data::Bytes(b)) => Ok(b.to_vec()),
        Some(typed_data::Data::String(s)) | Some(typed_data::Data::Json(s)) => Ok(s.as_bytes().to_vec()),
        Some(_) => Err(format!(
            "expected RpcHttp.body to hold bytes, string or json, received {}",
            typed::describe(body)
        )),
    }
}

fn header<'a>(rpc: &'a RpcHttp, name: &str) -> Option<&'a str> {
    rpc.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// `(media type, charset)` of a content type, lower-cased.
fn media_type(value: &str) -> (String, Option<String>) {
    let mut parts = value.split(';');
    let media = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let charset = parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim().eq_ignore_ascii_case("charset").then(|| v.trim().trim_matches('"').to_ascii_lowercase())
    });
    (media, charset)
}

fn check_http(expect: &HttpExpectation, rpc: &RpcHttp, invocation_id: &str, problems: &mut Vec<String>) {
    let want_status = expect.status.unwrap_or(200);
    let status =
        if rpc.status_code.trim().is_empty() { Ok(200) } else { rpc.status_code.trim().parse::<u16>() };
    match status {
        Ok(s) if s == want_status => {}
        _ => problems.push(format!(
            "expected status {want_status}, received status_code {:?}{}",
            rpc.status_code,
            http_body(rpc).map(|b| format!(" with body {}", typed::describe_bytes(&b))).unwrap_or_default()
        )),
    }
    if let Some(want) = &expect.content_type {
        let (want_media, want_charset) = media_type(want);
        match header(rpc, "content-type") {
            None => problems
                .push(format!("expected header content-type {want:?}, received no content-type header")),
            Some(got) => {
                let (media, charset) = media_type(got);
                let charset_ok = want_charset.is_none() || charset == want_charset;
                if media != want_media || !charset_ok {
                    problems.push(format!("expected content-type {want:?}, received {got:?}"));
                }
            }
        }
    }
    for (name, want) in &expect.headers {
        match header(rpc, name) {
            Some(got) if got == want => {}
            Some(got) => problems.push(format!("expected header {name}: {want:?}, received {got:?}")),
            None => problems.push(format!("expected header {name}: {want:?}, received no such header")),
        }
    }
    for name in &expect.absent_headers {
        if let Some(got) = header(rpc, name) {
            problems.push(format!("expected no {name} header, received {name}: {got:?}"));
        }
    }
    let needs_body = expect.body.bytes().ok().flatten().is_some()
        || expect.body_json.is_some()
        || expect.body.body_pattern.is_some();
    match http_body(rpc) {
        Err(e) => problems.push(e),
        Ok(body) if needs_body => check_body(expect, &body, invocation_id, problems),
        Ok(_) => {}
    }
    if let Some(cookies) = &expect.cookies {
        check_cookies(cookies, &rpc.cookies, problems);
    }
}

fn check_body(expect: &HttpExpectation, body: &[u8], invocation_id: &str, problems: &mut Vec<String>) {
    if let Some(len) = expect.body.body_pattern {
        if body.len() != len {
            problems.push(format!("expected a body of {len} pattern bytes, received {} bytes", body.len()));
        } else if let Some(at) = typed::pattern_mismatch(body) {
            problems.push(format!(
                "expected the pattern (byte i = i mod 251), received byte {} at offset {at} (expected {})",
                body[at],
                at % 251
            ));
        }
        return;
    }
    if let Some(json_text) = &expect.body_json {
        let json_text = json_text.replace("${invocation_id}", invocation_id);
        let want: Value = match serde_json::from_str(&json_text) {
            Ok(v) => v,
            Err(e) => {
                problems
                    .push(format!("the scenario's body_json is not valid JSON ({e}); fix the scenario file"));
                return;
            }
        };
        match serde_json::from_slice::<Value>(body) {
            Ok(got) if got == want => {}
            Ok(got) => problems.push(format!("expected JSON body {want}, received {got}")),
            Err(e) => problems.push(format!(
                "expected JSON body {want}, received a body that is not JSON ({e}): {}",
                typed::describe_bytes(body)
            )),
        }
        return;
    }
    match expect.body.bytes() {
        Ok(Some(want)) if want != body => problems.push(format!(
            "expected body {}, received {}",
            typed::describe_bytes(&want),
            typed::describe_bytes(body)
        )),
        Ok(_) => {}
        Err(e) => {
            problems.push(format!("the scenario's expected body is not valid ({e}); fix the scenario file"))
        }
    }
}

fn nullable_str(v: &Option<fnwire_protocol::rpc::NullableString>) -> Option<String> {
    v.as_ref().and_then(|n| n.string.as_ref()).map(|nullable_string::String::Value(s)| s.clone())
}

fn nullable_bool(v: &Option<fnwire_protocol::rpc::NullableBool>) -> Option<bool> {
    v.as_ref().and_then(|n| n.bool.as_ref()).map(|nullable_bool::Bool::Value(b)| *b)
}

fn nullable_f64(v: &Option<fnwire_protocol::rpc::NullableDouble>) -> Option<f64> {
    v.as_ref().and_then(|n| n.double.as_ref()).map(|nullable_double::Double::Value(d)| *d)
}

fn describe_cookie(c: &RpcHttpCookie) -> String {
    format!(
        "{{name {:?}, value {:?}, path {:?}, domain {:?}, secure {:?}, http_only {:?}, same_site {}, expires {}, \
         max_age {:?}}}",
        c.name,
        c.value,
        nullable_str(&c.path),
        nullable_str(&c.domain),
        nullable_bool(&c.secure),
        nullable_bool(&c.http_only),
        rpc_http_cookie::SameSite::try_from(c.same_site).map(|s| s.as_str_name()).unwrap_or("unknown"),
        if c.expires.as_ref().is_some_and(|e| e.timestamp.is_some()) { "set" } else { "absent" },
        nullable_f64(&c.max_age),
    )
}

fn check_cookies(expected: &[CookieExpectation], received: &[RpcHttpCookie], problems: &mut Vec<String>) {
    let all: Vec<String> = received.iter().map(describe_cookie).collect();
    if expected.len() != received.len() {
        problems.push(format!(
            "expected {} cookie(s) in RpcHttp.cookies, received {}: [{}]",
            expected.len(),
            received.len(),
            all.join(", ")
        ));
        return;
    }
    for want in expected {
        let Some(got) = received.iter().find(|c| c.name == want.name) else {
            problems.push(format!("expected a cookie named {:?}, received [{}]", want.name, all.join(", ")));
            continue;
        };
        let mut diffs = Vec::new();
        if got.value != want.value {
            diffs.push(format!("value {:?}", want.value));
        }
        // Absent and the default value are the same thing on the wire's nullable types.
        if nullable_str(&got.path).unwrap_or_default() != want.path.clone().unwrap_or_default() {
            diffs.push(format!("path {:?}", want.path.clone().unwrap_or_default()));
        }
        if nullable_str(&got.domain).unwrap_or_default() != want.domain.clone().unwrap_or_default() {
            diffs.push(format!("domain {:?} (absent or empty)", want.domain.clone().unwrap_or_default()));
        }
        if nullable_bool(&got.secure).unwrap_or(false) != want.secure.unwrap_or(false) {
            diffs.push(format!("secure {}", want.secure.unwrap_or(false)));
        }
        if nullable_bool(&got.http_only).unwrap_or(false) != want.http_only.unwrap_or(false) {
            diffs.push(format!("http_only {}", want.http_only.unwrap_or(false)));
        }
        let same_site =
            rpc_http_cookie::SameSite::try_from(got.same_site).map(|s| s.as_str_name()).unwrap_or("unknown");
        if !same_site.eq_ignore_ascii_case(want.same_site.as_deref().unwrap_or("None")) {
            diffs.push(format!("same_site {}", want.same_site.as_deref().unwrap_or("None")));
        }
        if got.expires.as_ref().is_some_and(|e| e.timestamp.is_some()) {
            diffs.push("no expires".into());
        }
        if nullable_f64(&got.max_age) != want.max_age {
            diffs.push(match want.max_age {
                Some(m) => format!("max_age {m}"),
                None => "no max_age".into(),
            });
        }
        if !diffs.is_empty() {
            problems.push(format!(
                "cookie {:?}: expected {}, received {}",
                want.name,
                diffs.join(", "),
                describe_cookie(got)
            ));
        }
    }
}

/// Checks one value against `text` / `json` / `none`.
pub fn check_value(expect: &ValueExpectation, data: Option<&TypedData>) -> Result<(), String> {
    if expect.none == Some(true) {
        return if typed::is_empty(data) {
            Ok(())
        } else {
            Err(format!(
                "expected no value (unset, or TypedData with nothing set), received {}",
                typed::describe(data)
            ))
        };
    }
    if let Some(text) = &expect.text {
        let ok = match data.and_then(|d| d.data.as_ref()) {
            Some(typed_data::Data::String(s)) => s == text,
            Some(typed_data::Data::Bytes(b)) => b.as_ref() == text.as_bytes(),
            _ => false,
        };
        return if ok {
            Ok(())
        } else {
            Err(format!(
                "expected the text {} (as string, or bytes holding it), received {}",
                typed::describe_bytes(text.as_bytes()),
                typed::describe(data)
            ))
        };
    }
    if let Some(json_text) = &expect.json {
        let want: Value = serde_json::from_str(json_text).map_err(|e| {
            format!("the scenario's JSON `{json_text}` is not valid ({e}); fix the scenario file")
        })?;
        let got = typed::text_bytes(data).and_then(|b| serde_json::from_slice::<Value>(&b).ok());
        return match got {
            Some(got) if got == want => Ok(()),
            _ => Err(format!(
                "expected a JSON text equal to {want} (as string, bytes or json), received {}",
                typed::describe(data)
            )),
        };
    }
    Ok(())
}

fn check_outputs(expected: &[OutputExpectation], response: &InvocationResponse, problems: &mut Vec<String>) {
    let names: Vec<&str> = response.output_data.iter().map(|p| p.name.as_str()).collect();
    let mut want_names: Vec<&str> = expected.iter().map(|o| o.name.as_str()).collect();
    let mut got_names = names.clone();
    want_names.sort_unstable();
    got_names.sort_unstable();
    if want_names != got_names {
        problems.push(format!("expected output_data entries {want_names:?}, received {got_names:?}"));
    }
    for want in expected {
        let Some(entry) = response.output_data.iter().find(|p| p.name == want.name) else { continue };
        let data = match &entry.rpc_data {
            Some(parameter_binding::RpcData::Data(d)) => Some(d),
            _ => None,
        };
        if let Err(e) = check_value(&want.value, data) {
            problems.push(format!("output `{}`: {e}", want.name));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_case_file_parses() {
        let cases = load(
            crate::embedded::SCENARIO_FILES
                .iter()
                .filter(|(p, _)| p.starts_with("invocations/"))
                .copied()
                .collect::<Vec<_>>()
                .as_slice(),
        )
        .unwrap();
        assert!(cases.len() > 30, "{}", cases.len());
        for case in &cases {
            let req = case.build_request("i", "f", HttpCapabilities::default());
            assert!(req.is_ok(), "{}: {:?}", case.scenario_name(), req.err());
        }
    }

    #[test]
    fn content_types_compare_by_media_type_and_named_charset() {
        assert_eq!(media_type("Text/Plain; Charset=UTF-8"), ("text/plain".into(), Some("utf-8".into())));
        let rpc = RpcHttp {
            headers: [("Content-Type".to_string(), "text/plain; charset=utf-8".to_string())].into(),
            body: Some(Box::new(TypedData { data: Some(typed_data::Data::String("x".into())) })),
            ..Default::default()
        };
        let mut problems = Vec::new();
        let expect = HttpExpectation { content_type: Some("text/plain".into()), ..Default::default() };
        check_http(&expect, &rpc, "i", &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
        let expect = HttpExpectation { content_type: Some("application/json".into()), ..Default::default() };
        check_http(&expect, &rpc, "i", &mut problems);
        assert_eq!(problems.len(), 1, "{problems:?}");
    }

    #[test]
    fn a_response_without_body_fails() {
        let rpc = RpcHttp::default();
        let mut problems = Vec::new();
        check_http(&HttpExpectation::default(), &rpc, "i", &mut problems);
        assert!(problems.iter().any(|p| p.contains("RpcHttp.body to be set")), "{problems:?}");
    }

    #[test]
    fn values_compare_as_text_or_json() {
        let s = |t: &str| TypedData { data: Some(typed_data::Data::String(t.into())) };
        let b = |t: &str| TypedData { data: Some(typed_data::Data::Bytes(Bytes::from(t.to_string()))) };
        let text = ValueExpectation { text: Some("hi".into()), ..Default::default() };
        assert!(check_value(&text, Some(&s("hi"))).is_ok());
        assert!(check_value(&text, Some(&b("hi"))).is_ok());
        assert!(check_value(&text, Some(&s("ho"))).is_err());
        let json = ValueExpectation { json: Some(r#"{"a":1,"b":2}"#.into()), ..Default::default() };
        assert!(check_value(&json, Some(&s(r#"{"b":2, "a":1}"#))).is_ok());
        assert!(check_value(&json, Some(&s(r#"{"a":1}"#))).is_err());
        let none = ValueExpectation { none: Some(true), ..Default::default() };
        assert!(check_value(&none, None).is_ok());
        assert!(check_value(&none, Some(&TypedData::default())).is_ok());
        assert!(check_value(&none, Some(&s(""))).is_err());
    }
}

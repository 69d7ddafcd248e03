//! The conformance contract app (`conformance/CONTRACT.md`) in Rust, on the fnwire SDK.
//!
//! Every function behaves exactly as the contract says; where they disagree, the contract wins
//! and this file is the bug. Run it with
//! `fnwire-conformance run --app conformance/apps/rust`, or serve it with
//! `fnwire start conformance/apps/rust`.

use std::time::Duration;

use fnwire::http::{Method, StatusCode};
use fnwire::{
    Context, Cookie, HttpRequest, HttpResponse, Out, QueueMessage, TimerInfo, binding, blob_output,
    http_trigger, queue_output, queue_trigger, timer_trigger,
};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

const LARGE_DEFAULT: usize = 16 * 1024 * 1024;
const LARGE_MAX: usize = 64 * 1024 * 1024;
const SLEEP_MAX_MS: u64 = 600_000;

fn text(status: StatusCode, body: impl Into<String>) -> HttpResponse {
    HttpResponse::new(status).with_text(body)
}

/// `Some(n)` when `raw` is decimal digits only and at most `max`.
fn parse_bounded(raw: &str, max: u64) -> Option<u64> {
    if raw.is_empty() || !raw.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse::<u64>().ok().filter(|n| *n <= max)
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The contract's test pattern: byte i = i mod 251.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i % 251) as u8).collect()
}

fn greeting(name: &str) -> String {
    format!("Grüße, {name}! ☃ 日本語 🚀")
}

/// §3.1: describes the request it got.
#[http_trigger(
    route = "echo/{category}/{id}",
    methods = "GET,POST,PUT,DELETE,PATCH",
    auth_level = "anonymous"
)]
pub fn http_echo(req: HttpRequest, ctx: Context) -> HttpResponse {
    let headers: serde_json::Map<String, Value> = req
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), Value::from(String::from_utf8_lossy(v.as_bytes()))))
        .collect();
    HttpResponse::ok().with_json(&json!({
        "method": req.method().as_str(),
        "url": req.url(),
        "headers": headers,
        "query": req.query_params(),
        "params": req.params(),
        "bodyLength": req.body().len(),
        "invocationId": ctx.invocation_id(),
        "functionName": ctx.function_name(),
    }))
}

/// §3.2: bytes in, the same bytes out.
#[http_trigger(route = "binary", methods = "POST", auth_level = "anonymous")]
pub fn http_binary(req: HttpRequest) -> HttpResponse {
    HttpResponse::ok().with_header("content-type", "application/octet-stream").with_body(req.into_body())
}

/// §3.3: JSON in, JSON out.
#[http_trigger(route = "json", methods = "POST", auth_level = "anonymous")]
pub fn http_json(req: HttpRequest) -> HttpResponse {
    // Parsing bytes also rejects a body that is not UTF-8.
    match serde_json::from_slice::<Value>(req.body()) {
        Ok(value) => HttpResponse::ok().with_json(&json!({ "kind": json_kind(&value), "received": value })),
        Err(_) => text(StatusCode::BAD_REQUEST, "invalid JSON"),
    }
}

/// §3.4: non-ASCII text.
#[http_trigger(route = "text", methods = "GET,POST", auth_level = "anonymous")]
pub fn http_text(req: HttpRequest) -> HttpResponse {
    if req.method() == Method::POST {
        return match std::str::from_utf8(req.body()) {
            Ok(name) => text(StatusCode::OK, greeting(name)),
            Err(_) => text(StatusCode::BAD_REQUEST, "invalid UTF-8"),
        };
    }
    let name = req.query("name").filter(|n| !n.is_empty()).unwrap_or("Welt");
    text(StatusCode::OK, greeting(name))
}

/// §3.5: status, headers and a cookie.
#[http_trigger(name = "req", route = "custom", methods = "GET", auth_level = "anonymous")]
pub fn http_custom() -> HttpResponse {
    HttpResponse::created()
        .with_header("x-fnwire-custom", "yes")
        .with_header("cache-control", "no-store")
        .with_cookie(Cookie::new("session", "abc123").with_path("/").with_http_only(true))
        .with_text("created")
}

/// §3.6: an empty body, and the request body's length in a header.
#[http_trigger(route = "empty", methods = "GET,POST", auth_level = "anonymous")]
pub fn http_empty(req: HttpRequest) -> HttpResponse {
    HttpResponse::ok()
        .with_header("x-request-body-length", req.body().len().to_string())
        .with_body(Vec::new())
}

/// §3.7: 16 MiB both ways.
#[http_trigger(route = "large", methods = "GET,POST", auth_level = "anonymous")]
pub fn http_large(req: HttpRequest) -> HttpResponse {
    if req.method() == Method::POST {
        let digest = Sha256::digest(req.body());
        let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
        return HttpResponse::ok().with_json(&json!({ "length": req.body().len(), "sha256": hex }));
    }
    let size = match req.query("size").filter(|s| !s.is_empty()) {
        None => Some(LARGE_DEFAULT),
        Some(raw) => parse_bounded(raw, LARGE_MAX as u64).map(|n| n as usize),
    };
    match size {
        Some(n) => {
            HttpResponse::ok().with_header("content-type", "application/octet-stream").with_body(pattern(n))
        }
        None => text(StatusCode::BAD_REQUEST, "invalid size"),
    }
}

/// §3.8: fails the ordinary Rust way, with an error.
#[http_trigger(name = "req", route = "fail", methods = "GET", auth_level = "anonymous")]
pub fn http_fail() -> Result<HttpResponse, fnwire::Error> {
    Err(fnwire::Error::msg("fnwire conformance: deliberate failure"))
}

/// §3.9: user logs at three levels, through `tracing`.
#[http_trigger(name = "req", route = "logs", methods = "GET", auth_level = "anonymous")]
pub fn http_logs() -> HttpResponse {
    tracing::info!("conformance log: information");
    tracing::warn!("conformance log: warning");
    tracing::error!("conformance log: error");
    text(StatusCode::OK, "logged")
}

/// §3.10: waits without holding a thread.
#[http_trigger(route = "sleep", methods = "GET", auth_level = "anonymous")]
pub async fn http_sleep(req: HttpRequest) -> HttpResponse {
    let Some(ms) = req.query("ms").and_then(|raw| parse_bounded(raw, SLEEP_MAX_MS)) else {
        return text(StatusCode::BAD_REQUEST, "invalid ms");
    };
    tokio::time::sleep(Duration::from_millis(ms)).await;
    text(StatusCode::OK, format!("slept {ms}"))
}

/// §3.11: reads an environment variable at invocation time.
#[http_trigger(route = "env", methods = "GET", auth_level = "anonymous")]
pub fn http_env(req: HttpRequest) -> HttpResponse {
    let Some(name) = req.query("name").filter(|n| !n.is_empty()) else {
        return text(StatusCode::BAD_REQUEST, "missing name");
    };
    let value = std::env::var(name).ok();
    HttpResponse::ok().with_json(&json!({ "name": name, "value": value }))
}

/// §3.12: two outputs plus a return value.
#[http_trigger(route = "multi", methods = "POST", auth_level = "anonymous")]
#[queue_output(name = "outqueue", queue = "fnwire-multi-queue", connection = "AzureWebJobsStorage")]
#[blob_output(name = "outblob", path = "fnwire-multi/out.txt", connection = "AzureWebJobsStorage")]
pub fn http_multi(req: HttpRequest, outqueue: Out<String>, outblob: Out<String>) -> HttpResponse {
    let body = req.text();
    outqueue.set(format!("queue:{body}"));
    outblob.set(format!("blob:{body}"));
    text(StatusCode::OK, format!("multi:{body}"))
}

/// §3.13: a binding type fnwire does not know.
#[http_trigger(name = "req", route = "generic", methods = "GET", auth_level = "anonymous")]
#[binding(
    type = "fnwireProbe",
    direction = "in",
    name = "probe",
    probe_setting = "alpha",
    probe_count = 3,
    enabled = true,
    label = "Grüße",
    tags = ["one", "two"]
)]
pub fn http_generic(probe: Option<String>) -> HttpResponse {
    let probe = probe.filter(|p| !p.is_empty()).unwrap_or_else(|| "<none>".to_string());
    text(StatusCode::OK, format!("probe:{probe}"))
}

/// §3.14: queue trigger metadata and a queue output.
#[queue_trigger(name = "msg", queue = "fnwire-in", connection = "AzureWebJobsStorage")]
#[queue_output(name = "outmsg", queue = "fnwire-out", connection = "AzureWebJobsStorage")]
pub fn queue_copy(msg: QueueMessage, outmsg: Out<String>) {
    let copy = json!({ "body": msg.text(), "id": msg.id, "dequeueCount": msg.dequeue_count });
    outmsg.set(copy.to_string());
}

/// §3.15: a non-HTTP return value.
#[queue_trigger(name = "msg", queue = "fnwire-return-in", connection = "AzureWebJobsStorage")]
#[queue_output(queue = "fnwire-return-out", connection = "AzureWebJobsStorage")]
pub fn queue_return(msg: QueueMessage) -> String {
    format!("returned:{}", msg.text())
}

/// §3.16: timer trigger and IsPastDue.
#[timer_trigger(name = "timer", schedule = "0 */5 * * * *", run_on_startup = false, use_monitor = false)]
pub fn timer_tick(timer: TimerInfo) {
    tracing::info!("timer_tick isPastDue={}", timer.is_past_due);
}

fn main() -> std::process::ExitCode {
    fnwire::run()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_numbers_are_digits_only() {
        assert_eq!(parse_bounded("50", 100), Some(50));
        assert_eq!(parse_bounded("101", 100), None);
        assert_eq!(parse_bounded("-5", 100), None);
        assert_eq!(parse_bounded("1e3", 10_000), None);
        assert_eq!(parse_bounded("", 100), None);
    }

    #[test]
    fn the_pattern_wraps_at_251() {
        let p = pattern(253);
        assert_eq!((p[250], p[251], p[252]), (250, 0, 1));
    }
}

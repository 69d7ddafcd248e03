//! The limits of the host's listeners: how many connections, how long a client may take, how
//! many request-body bytes may be held at once. Defaults follow Kestrel, the server in front of
//! Azure Functions (keep-alive 130 s, request headers 30 s, minimum body rate 240 bytes/s after a
//! 5 s grace, 100 HTTP/2 streams), so an app behaves here as it does there; each is a setting in
//! `host.json` under `extensions.fnwire` and most are flags of `fnwire start`.

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::config::{ConfigError, read_host_json};

/// Where the settings live in `host.json`.
pub const SECTION: &str = "extensions.fnwire";

/// Limits of the HTTP and gRPC listeners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListenerLimits {
    /// Open HTTP connections at most; past it the longest-waiting connection without a request
    /// in flight is closed to make room, else the new one is.
    pub max_connections: usize,
    /// How long a connection may wait for its next request. `None`: forever.
    pub keep_alive_timeout: Option<Duration>,
    /// How long a client may take to send a request's head once it started. `None`: forever.
    pub request_headers_timeout: Option<Duration>,
    /// The slowest a body may arrive, on average since it started, once the grace has passed.
    pub min_body_rate: Option<MinDataRate>,
    /// Largest accepted request body (413 past it).
    pub max_request_body: usize,
    /// Request bodies being read or held by invocations at once (503 past it).
    pub max_concurrent_bodies: usize,
    /// Bytes of request bodies held at once, summed over all requests (503 past it).
    pub max_body_bytes_in_flight: usize,
    /// Concurrent streams per HTTP/2 connection.
    pub http2_max_concurrent_streams: u32,
    /// Largest HTTP/2 header block.
    pub http2_max_header_list_size: u32,
    /// How long a worker's connection may take to prove who it is (send `StartStream`).
    pub worker_handshake_timeout: Duration,
    /// Worker connections that have not proven who they are yet, at most.
    pub max_pending_worker_connections: usize,
    /// Refuse (400) HTTP/1 request heads whose lines end with a bare LF instead of CRLF, as
    /// Kestrel's `DisableHttp1LineFeedTerminators` switch does. Off by default, as in Kestrel.
    pub disable_http1_line_feed_terminators: bool,
}

/// Kestrel's `MinRequestBodyDataRate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MinDataRate {
    pub bytes_per_second: u64,
    pub grace: Duration,
}

impl MinDataRate {
    /// The instant by which `received` bytes must have arrived for a body that started at
    /// `started`: the grace, plus one second per `bytes_per_second` bytes.
    pub fn deadline(&self, started: tokio::time::Instant, received: u64) -> tokio::time::Instant {
        let owed = Duration::from_secs_f64(received as f64 / self.bytes_per_second.max(1) as f64);
        started + self.grace + owed
    }
}

/// Default largest request body: 100 MiB, as Azure Functions allows.
pub const DEFAULT_MAX_REQUEST_BODY: usize = 100 * 1024 * 1024;
/// Default budget of request-body bytes in flight: a few maximum-size bodies at once.
pub const DEFAULT_MAX_BODY_BYTES_IN_FLIGHT: usize = 256 * 1024 * 1024;

impl Default for ListenerLimits {
    fn default() -> Self {
        ListenerLimits {
            max_connections: default_max_connections(),
            keep_alive_timeout: Some(Duration::from_secs(130)),
            request_headers_timeout: Some(Duration::from_secs(30)),
            min_body_rate: Some(MinDataRate { bytes_per_second: 240, grace: Duration::from_secs(5) }),
            max_request_body: DEFAULT_MAX_REQUEST_BODY,
            max_concurrent_bodies: 512,
            max_body_bytes_in_flight: DEFAULT_MAX_BODY_BYTES_IN_FLIGHT,
            http2_max_concurrent_streams: 100,
            http2_max_header_list_size: 32 * 1024,
            worker_handshake_timeout: Duration::from_secs(30),
            max_pending_worker_connections: 16,
            disable_http1_line_feed_terminators: false,
        }
    }
}

/// Open-file descriptors the process may hold (soft limit), when the system says.
fn open_file_limit() -> Option<u64> {
    // Linux exposes the limit without unsafe code; elsewhere the fixed default applies.
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.split_whitespace().nth(3)?.parse().ok()
}

/// Connections the host can hold without running out of file descriptors: the open-file limit
/// less room for the worker's stream, the store, blobs and logs; between 64 and 10,000.
pub fn default_max_connections() -> usize {
    const RESERVE: u64 = 128;
    match open_file_limit() {
        Some(limit) => limit.saturating_sub(RESERVE).clamp(64, 10_000) as usize,
        None => 1_000,
    }
}

/// Values given on the command line; each overrides `host.json`.
#[derive(Debug, Clone, Default)]
pub struct LimitOverrides {
    pub max_connections: Option<usize>,
    pub max_request_body: Option<usize>,
    pub max_body_bytes_in_flight: Option<usize>,
    pub keep_alive_timeout_secs: Option<u64>,
    pub request_headers_timeout_secs: Option<u64>,
}

fn bad(key: &str, expected: &str, found: &Value) -> ConfigError {
    ConfigError::Extension { message: format!("{SECTION}.{key} must be {expected}, found `{found}`") }
}

fn count(section: &Value, key: &str) -> Result<Option<u64>, ConfigError> {
    match section.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => match v.as_u64() {
            Some(n) if n > 0 => Ok(Some(n)),
            _ => Err(bad(key, "a positive whole number", v)),
        },
    }
}

/// A duration: a .NET TimeSpan ("00:02:10") as Azure writes them, or a number of seconds;
/// `-1` turns the limit off. `Ok(None)`: not set.
fn duration(section: &Value, key: &str) -> Result<Option<Option<Duration>>, ConfigError> {
    let expected = "a duration (\"hh:mm:ss\" or seconds) or -1 (no limit)";
    match section.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Number(n)) => match n.as_f64() {
            Some(-1.0) => Ok(Some(None)),
            Some(s) if s > 0.0 && s.is_finite() => Ok(Some(Some(Duration::from_secs_f64(s)))),
            _ => Err(bad(key, expected, v)),
        },
        Some(v) => crate::timeout::parse_function_timeout(v).map(Some).map_err(|_| bad(key, expected, v)),
    }
}

impl ListenerLimits {
    /// The defaults, then `host.json`'s `extensions.fnwire`, then the command line.
    pub fn read(app_dir: &Path, overrides: &LimitOverrides) -> Result<Self, ConfigError> {
        let doc = read_host_json(app_dir)?;
        let mut limits = Self::from_host_json(&doc)?;
        let o = overrides;
        if let Some(n) = o.max_connections {
            limits.max_connections = n.max(1);
        }
        if let Some(n) = o.max_request_body {
            limits.max_request_body = n;
        }
        if let Some(n) = o.max_body_bytes_in_flight {
            limits.max_body_bytes_in_flight = n;
        }
        if let Some(s) = o.keep_alive_timeout_secs {
            limits.keep_alive_timeout = (s > 0).then(|| Duration::from_secs(s));
        }
        if let Some(s) = o.request_headers_timeout_secs {
            limits.request_headers_timeout = (s > 0).then(|| Duration::from_secs(s));
        }
        limits.check()?;
        Ok(limits)
    }

    /// The limits a `host.json` document sets (defaults for the rest).
    pub fn from_host_json(doc: &Value) -> Result<Self, ConfigError> {
        let mut limits = ListenerLimits::default();
        let Some(section) = doc.pointer("/extensions/fnwire").filter(|v| !v.is_null()) else {
            return Ok(limits);
        };
        if !section.is_object() {
            return Err(bad("", "an object", section));
        }
        let as_usize = |n: u64| usize::try_from(n).unwrap_or(usize::MAX);
        let as_u32 = |n: u64| u32::try_from(n).unwrap_or(u32::MAX);
        if let Some(n) = count(section, "maxConnections")? {
            limits.max_connections = as_usize(n);
        }
        if let Some(d) = duration(section, "keepAliveTimeout")? {
            limits.keep_alive_timeout = d;
        }
        if let Some(d) = duration(section, "requestHeadersTimeout")? {
            limits.request_headers_timeout = d;
        }
        if let Some(rate) = section.get("minRequestBodyDataRate").filter(|v| !v.is_null()) {
            limits.min_body_rate = min_rate(rate)?;
        }
        if let Some(n) = count(section, "maxRequestBodySize")? {
            limits.max_request_body = as_usize(n);
        }
        if let Some(n) = count(section, "maxConcurrentRequestBodies")? {
            limits.max_concurrent_bodies = as_usize(n);
        }
        if let Some(n) = count(section, "maxRequestBodyBytesInFlight")? {
            limits.max_body_bytes_in_flight = as_usize(n);
        }
        if let Some(n) = count(section, "http2MaxConcurrentStreams")? {
            limits.http2_max_concurrent_streams = as_u32(n);
        }
        if let Some(n) = count(section, "http2MaxHeaderListSize")? {
            limits.http2_max_header_list_size = as_u32(n);
        }
        if let Some(d) = duration(section, "workerHandshakeTimeout")? {
            limits.worker_handshake_timeout = d.unwrap_or(Duration::from_secs(24 * 3600));
        }
        if let Some(n) = count(section, "maxPendingWorkerConnections")? {
            limits.max_pending_worker_connections = as_usize(n);
        }
        match section.get("disableHttp1LineFeedTerminators") {
            None | Some(Value::Null) => {}
            Some(Value::Bool(b)) => limits.disable_http1_line_feed_terminators = *b,
            Some(v) => return Err(bad("disableHttp1LineFeedTerminators", "true or false", v)),
        }
        Ok(limits)
    }

    /// Refuses limits that contradict each other.
    fn check(&self) -> Result<(), ConfigError> {
        if self.max_body_bytes_in_flight < self.max_request_body {
            return Err(ConfigError::Extension {
                message: format!(
                    "{SECTION}.maxRequestBodyBytesInFlight ({}) is smaller than the largest accepted body ({} \
                     bytes, maxRequestBodySize or --max-request-body), so a body of that size could never be \
                     accepted; raise the budget or lower the largest body",
                    self.max_body_bytes_in_flight, self.max_request_body
                ),
            });
        }
        Ok(())
    }
}

/// `{"bytesPerSecond": 240, "gracePeriod": "00:00:05"}`, or `-1` for no minimum.
fn min_rate(value: &Value) -> Result<Option<MinDataRate>, ConfigError> {
    let key = "minRequestBodyDataRate";
    let expected = "{\"bytesPerSecond\": <number>, \"gracePeriod\": \"hh:mm:ss\"} or -1 (no minimum)";
    if value.as_i64() == Some(-1) {
        return Ok(None);
    }
    if !value.is_object() {
        return Err(bad(key, expected, value));
    }
    let defaults = MinDataRate { bytes_per_second: 240, grace: Duration::from_secs(5) };
    let bytes_per_second = match value.get("bytesPerSecond") {
        None => defaults.bytes_per_second,
        Some(v) => v.as_u64().filter(|n| *n > 0).ok_or_else(|| bad(key, expected, value))?,
    };
    let grace = match duration(value, "gracePeriod").map_err(|_| bad(key, expected, value))? {
        None => defaults.grace,
        Some(d) => d.ok_or_else(|| bad(key, expected, value))?,
    };
    Ok(Some(MinDataRate { bytes_per_second, grace }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn defaults_apply_without_a_section() {
        let limits = ListenerLimits::from_host_json(&json!({"version": "2.0"})).unwrap();
        assert_eq!(limits, ListenerLimits::default());
        assert_eq!(limits.keep_alive_timeout, Some(Duration::from_secs(130)));
        assert!(limits.max_connections >= 64);
    }

    #[test]
    fn the_section_sets_each_limit() {
        let doc = json!({"extensions": {"fnwire": {
            "maxConnections": 16,
            "keepAliveTimeout": "00:00:03",
            "requestHeadersTimeout": 2,
            "minRequestBodyDataRate": {"bytesPerSecond": 100, "gracePeriod": "00:00:01"},
            "maxRequestBodySize": 1000,
            "maxConcurrentRequestBodies": 2,
            "maxRequestBodyBytesInFlight": 4000,
            "http2MaxConcurrentStreams": 10,
            "workerHandshakeTimeout": "00:00:04",
            "maxPendingWorkerConnections": 3,
            "disableHttp1LineFeedTerminators": true
        }}});
        let l = ListenerLimits::from_host_json(&doc).unwrap();
        assert_eq!(l.max_connections, 16);
        assert_eq!(l.keep_alive_timeout, Some(Duration::from_secs(3)));
        assert_eq!(l.request_headers_timeout, Some(Duration::from_secs(2)));
        assert_eq!(
            l.min_body_rate,
            Some(MinDataRate { bytes_per_second: 100, grace: Duration::from_secs(1) })
        );
        assert_eq!(
            (l.max_request_body, l.max_concurrent_bodies, l.max_body_bytes_in_flight),
            (1000, 2, 4000)
        );
        assert_eq!(l.http2_max_concurrent_streams, 10);
        assert_eq!(l.worker_handshake_timeout, Duration::from_secs(4));
        assert_eq!(l.max_pending_worker_connections, 3);
        assert!(l.disable_http1_line_feed_terminators);
    }

    #[test]
    fn minus_one_turns_a_limit_off() {
        let doc = json!({"extensions": {"fnwire": {"keepAliveTimeout": -1, "minRequestBodyDataRate": -1}}});
        let l = ListenerLimits::from_host_json(&doc).unwrap();
        assert_eq!((l.keep_alive_timeout, l.min_body_rate), (None, None));
    }

    #[test]
    fn wrong_values_name_the_key_and_the_value() {
        for (section, key) in [
            (json!({"maxConnections": 0}), "maxConnections"),
            (json!({"maxConnections": "many"}), "maxConnections"),
            (json!({"keepAliveTimeout": "soon"}), "keepAliveTimeout"),
            (json!({"minRequestBodyDataRate": {"bytesPerSecond": 0}}), "minRequestBodyDataRate"),
            (json!({"disableHttp1LineFeedTerminators": "yes"}), "disableHttp1LineFeedTerminators"),
        ] {
            let e = ListenerLimits::from_host_json(&json!({"extensions": {"fnwire": section}})).unwrap_err();
            let text = e.to_string();
            assert!(text.contains(&format!("extensions.fnwire.{key}")) && text.contains("found"), "{text}");
        }
    }

    #[test]
    fn a_budget_smaller_than_one_body_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let overrides = LimitOverrides {
            max_request_body: Some(10_000),
            max_body_bytes_in_flight: Some(100),
            ..Default::default()
        };
        let e = ListenerLimits::read(dir.path(), &overrides).unwrap_err().to_string();
        assert!(e.contains("maxRequestBodyBytesInFlight (100)") && e.contains("10000"), "{e}");
    }

    #[test]
    fn the_rate_deadline_grows_with_the_bytes_received() {
        let rate = MinDataRate { bytes_per_second: 100, grace: Duration::from_secs(5) };
        let t0 = tokio::time::Instant::now();
        assert_eq!(rate.deadline(t0, 0), t0 + Duration::from_secs(5));
        assert_eq!(rate.deadline(t0, 1000), t0 + Duration::from_secs(15));
    }
}

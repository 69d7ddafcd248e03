//! An HTTP request becomes an `RpcHttp` and an `InvocationRequest`, as Azure hosts build them.

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use fnwire_protocol::rpc::{
    InvocationRequest, NullableString, ParameterBinding, RpcHttp, RpcTraceContext, TypedData,
    nullable_string, parameter_binding, typed_data,
};
use http::HeaderMap;

use crate::channel::capability;

/// The worker capabilities that change how a request is encoded.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct HttpCapabilities {
    /// `RawHttpBodyBytes`: the body travels as `bytes`.
    pub raw_body_bytes: bool,
    /// `RpcHttpBodyOnly`: only `body` is set, never `rawBody`, and JSON is not parsed.
    pub body_only: bool,
    /// `UseNullableValueDictionaryForHttp`: `nullable_*` maps instead of `headers`/`query`/`params`.
    pub nullable_maps: bool,
    /// `IgnoreEmptyValuedRpcHttpHeaders`: headers with empty values are left out.
    pub ignore_empty_headers: bool,
    /// `RpcHttpTriggerMetadataRemoved`: the request is not repeated in trigger metadata.
    pub trigger_metadata_removed: bool,
}

impl HttpCapabilities {
    /// Reads the flags from a worker's declared capabilities (any non-empty value declares one).
    pub fn from_capabilities(caps: &HashMap<String, String>) -> Self {
        let has = |k: &str| caps.get(k).is_some_and(|v| !v.is_empty());
        HttpCapabilities {
            raw_body_bytes: has(capability::RAW_HTTP_BODY_BYTES),
            body_only: has(capability::RPC_HTTP_BODY_ONLY),
            nullable_maps: has(capability::USE_NULLABLE_VALUE_DICTIONARY_FOR_HTTP),
            ignore_empty_headers: has(capability::IGNORE_EMPTY_VALUED_RPC_HTTP_HEADERS),
            trigger_metadata_removed: has(capability::RPC_HTTP_TRIGGER_METADATA_REMOVED),
        }
    }
}

/// The parts of a request the mapping needs.
#[derive(Debug, Clone)]
pub struct RequestParts<'a> {
    pub method: &'a http::Method,
    pub uri: &'a http::Uri,
    pub headers: &'a HeaderMap,
    pub body: &'a Bytes,
    /// Route values from the matched template.
    pub params: &'a BTreeMap<String, String>,
}

fn typed(data: typed_data::Data) -> TypedData {
    TypedData { data: Some(data) }
}

fn nullable(value: &str) -> NullableString {
    NullableString { string: Some(nullable_string::String::Value(value.to_string())) }
}

/// Header values lower-cased by name, several values of one name joined with ", ".
pub fn header_values(headers: &HeaderMap) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for (name, value) in headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        // `http` keeps header names lower-case already.
        out.entry(name.as_str().to_owned())
            .and_modify(|v| {
                v.push_str(", ");
                v.push_str(&value);
            })
            .or_insert(value);
    }
    out
}

/// Query parameters, decoded; a repeated key's values are joined with ",".
pub fn query_values(uri: &http::Uri) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    if let Some(q) = uri.query() {
        for (k, v) in form_urlencoded::parse(q.as_bytes()) {
            out.entry(k.into_owned())
                .and_modify(|existing| {
                    existing.push(',');
                    existing.push_str(&v);
                })
                .or_insert_with(|| v.into_owned());
        }
    }
    out
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.split(';').next().unwrap_or_default().trim().to_ascii_lowercase())
        .unwrap_or_default()
}

fn is_binary_content_type(ct: &str) -> bool {
    ct == "application/octet-stream" || ct.starts_with("multipart/")
}

/// The absolute request URL as the worker sees it: `http://{Host}{path}{?query}`.
pub fn request_url(uri: &http::Uri, headers: &HeaderMap) -> String {
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| uri.authority().map(http::uri::Authority::as_str))
        .unwrap_or("localhost");
    let path_and_query = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    // One allocation of the right size: this runs for every request.
    let mut url = String::with_capacity("http://".len() + host.len() + path_and_query.len());
    url.push_str("http://");
    url.push_str(host);
    url.push_str(path_and_query);
    url
}

/// Builds the `RpcHttp` a worker receives for a request.
pub fn to_rpc_http(req: &RequestParts<'_>, caps: HttpCapabilities) -> RpcHttp {
    rpc_http(req, caps, header_values(req.headers), query_values(req.uri))
}

/// [`to_rpc_http`] with the header and query maps already made (the invocation needs them for
/// its trigger metadata too, and making them twice was a visible part of each request's cost).
fn rpc_http(
    req: &RequestParts<'_>,
    caps: HttpCapabilities,
    headers: BTreeMap<String, String>,
    query: BTreeMap<String, String>,
) -> RpcHttp {
    let mut rpc = RpcHttp {
        method: req.method.as_str().to_string(),
        url: request_url(req.uri, req.headers),
        ..Default::default()
    };
    if caps.nullable_maps {
        rpc.nullable_headers = headers.iter().map(|(k, v)| (k.clone(), nullable(v))).collect();
        rpc.nullable_query = query.iter().map(|(k, v)| (k.clone(), nullable(v))).collect();
        rpc.nullable_params = req.params.iter().map(|(k, v)| (k.clone(), nullable(v))).collect();
    } else {
        rpc.headers =
            headers.into_iter().filter(|(_, v)| !(caps.ignore_empty_headers && v.is_empty())).collect();
        rpc.query = query.into_iter().filter(|(_, v)| !v.is_empty()).collect();
        rpc.params = req.params.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    }
    if !req.body.is_empty() {
        let ct = content_type(req.headers);
        let as_string = || typed(typed_data::Data::String(String::from_utf8_lossy(req.body).into_owned()));
        let as_bytes = || typed(typed_data::Data::Bytes(req.body.clone()));
        if caps.body_only {
            let body =
                if caps.raw_body_bytes || is_binary_content_type(&ct) { as_bytes() } else { as_string() };
            rpc.body = Some(Box::new(body));
        } else if is_binary_content_type(&ct) {
            rpc.body = Some(Box::new(as_bytes()));
            rpc.raw_body = Some(Box::new(if caps.raw_body_bytes { as_bytes() } else { as_string() }));
        } else {
            let raw = if caps.raw_body_bytes { as_bytes() } else { as_string() };
            let body = if ct == "application/json" || ct.ends_with("+json") {
                match serde_json::from_slice::<serde_json::Value>(req.body) {
                    Ok(v) => typed(typed_data::Data::Json(v.to_string())),
                    Err(_) => as_string(),
                }
            } else {
                as_string()
            };
            rpc.body = Some(Box::new(body));
            rpc.raw_body = Some(Box::new(raw));
        }
    }
    rpc
}

/// The trace context for an invocation: a child of an incoming W3C `traceparent`, or a new trace.
pub fn trace_context(headers: &HeaderMap) -> RpcTraceContext {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    continue_trace(header("traceparent"), header("tracestate"))
}

/// The trace context of an invocation that continues `traceparent` (the same trace, a span id
/// of its own) with its `tracestate`, or that starts a new trace when `traceparent` is missing
/// or malformed (its `tracestate` is then dropped, as W3C asks).
pub fn continue_trace(traceparent: Option<&str>, tracestate: Option<&str>) -> RpcTraceContext {
    let incoming = traceparent.and_then(parse_traceparent);
    // Ids are the hex digits of v4 UUIDs (a span id the first 16), encoded on the stack: the
    // `traceparent` is the only string this allocates for a new trace.
    let new_id = || {
        let mut digits = [0u8; 32];
        uuid::Uuid::new_v4().simple().encode_lower(&mut digits);
        digits
    };
    let span_digits = new_id();
    let trace_digits;
    let (trace_id, flags): (&[u8], &str) = match incoming {
        Some((trace_id, _, flags)) => (trace_id.as_bytes(), flags),
        None => {
            trace_digits = new_id();
            (&trace_digits, "01")
        }
    };
    let mut trace_parent = String::with_capacity(TRACEPARENT_LEN);
    trace_parent.push_str("00-");
    trace_parent.push_str(std::str::from_utf8(trace_id).unwrap_or_default());
    trace_parent.push('-');
    trace_parent.push_str(std::str::from_utf8(&span_digits[..16]).unwrap_or_default());
    trace_parent.push('-');
    trace_parent.push_str(flags);
    let mut attributes = HashMap::new();
    let trace_state = match incoming {
        Some((_, parent_id, _)) => {
            // For the host's span of the invocation (its parent); the pipeline removes it before
            // the worker sees the context.
            attributes.insert(
                fnwire_telemetry::trace_id::PARENT_SPAN_ID_ATTRIBUTE.to_string(),
                parent_id.to_string(),
            );
            tracestate.unwrap_or_default().to_string()
        }
        None => String::new(),
    };
    RpcTraceContext { trace_parent, trace_state, attributes, baggage: HashMap::new() }
}

/// `00-<32 hex>-<16 hex>-<2 hex>`.
const TRACEPARENT_LEN: usize = 55;

/// Parses `00-<32 hex trace id>-<16 hex parent id>-<2 hex flags>`; returns trace id, parent id
/// and flags.
fn parse_traceparent(value: &str) -> Option<(&str, &str, &str)> {
    let mut parts = value.trim().split('-');
    let (Some(version), Some(trace_id), Some(parent_id), Some(flags), None) =
        (parts.next(), parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return None;
    };
    let hex = |s: &str, n: usize| {
        s.len() == n && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let all_zero = |s: &str| s.bytes().all(|b| b == b'0');
    if !hex(version, 2) || version == "ff" || !hex(trace_id, 32) || !hex(parent_id, 16) || !hex(flags, 2) {
        return None;
    }
    if all_zero(trace_id) || all_zero(parent_id) {
        return None;
    }
    Some((trace_id, parent_id, flags))
}

/// Builds the `InvocationRequest` for an HTTP-triggered function.
pub fn invocation_request(
    invocation_id: &str,
    function_id: &str,
    trigger_name: &str,
    req: &RequestParts<'_>,
    caps: HttpCapabilities,
) -> InvocationRequest {
    let query = query_values(req.uri);
    let headers = header_values(req.headers);
    let mut trigger_metadata: HashMap<String, TypedData> =
        HashMap::with_capacity(2 + query.len() + req.params.len());
    let json_map = |m: &BTreeMap<String, String>| serde_json::to_string(m).unwrap_or_else(|_| "{}".into());
    trigger_metadata.insert("Query".into(), typed(typed_data::Data::Json(json_map(&query))));
    trigger_metadata.insert("Headers".into(), typed(typed_data::Data::Json(json_map(&headers))));
    for (k, v) in query.iter().chain(req.params.iter()) {
        trigger_metadata.insert(k.clone(), typed(typed_data::Data::String(v.clone())));
    }
    let rpc = rpc_http(req, caps, headers, query);
    if !req.body.is_empty()
        && content_type(req.headers) == "application/json"
        && let Ok(serde_json::Value::Object(fields)) = serde_json::from_slice::<serde_json::Value>(req.body)
    {
        for (k, v) in fields {
            let data = match v {
                serde_json::Value::String(s) => typed_data::Data::String(s),
                other => typed_data::Data::Json(other.to_string()),
            };
            trigger_metadata.entry(k).or_insert_with(|| typed(data));
        }
    }
    if !caps.trigger_metadata_removed {
        let http = typed(typed_data::Data::Http(Box::new(rpc.clone())));
        trigger_metadata.insert("$request".into(), http.clone());
        trigger_metadata.insert(trigger_name.to_string(), http);
    }
    InvocationRequest {
        invocation_id: invocation_id.to_string(),
        function_id: function_id.to_string(),
        input_data: vec![ParameterBinding {
            name: trigger_name.to_string(),
            rpc_data: Some(parameter_binding::RpcData::Data(typed(typed_data::Data::Http(Box::new(rpc))))),
        }],
        trigger_metadata,
        trace_context: Some(trace_context(req.headers)),
        retry_context: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Owned {
        method: http::Method,
        uri: http::Uri,
        headers: HeaderMap,
        body: Bytes,
        params: BTreeMap<String, String>,
    }

    impl Owned {
        fn new(method: &str, uri: &str, headers: &[(&str, &str)], body: &[u8]) -> Self {
            let mut map = HeaderMap::new();
            for (k, v) in headers {
                map.append(http::HeaderName::from_bytes(k.as_bytes()).unwrap(), v.parse().unwrap());
            }
            Owned {
                method: method.parse().unwrap(),
                uri: uri.parse().unwrap(),
                headers: map,
                body: Bytes::copy_from_slice(body),
                params: BTreeMap::from([("name".to_string(), "Bob".to_string())]),
            }
        }
        fn parts(&self) -> RequestParts<'_> {
            RequestParts {
                method: &self.method,
                uri: &self.uri,
                headers: &self.headers,
                body: &self.body,
                params: &self.params,
            }
        }
    }

    const SDK: HttpCapabilities = HttpCapabilities {
        raw_body_bytes: true,
        body_only: true,
        nullable_maps: false,
        ignore_empty_headers: false,
        trigger_metadata_removed: true,
    };

    fn data(t: &Option<Box<TypedData>>) -> Option<&typed_data::Data> {
        t.as_ref().and_then(|t| t.data.as_ref())
    }

    #[test]
    fn maps_method_url_headers_query_params_and_bytes_body() {
        let o = Owned::new(
            "POST",
            "/api/hello/Bob?name=Ada&empty=&x=1&x=2",
            &[("Host", "localhost:7071"), ("X-Multi", "a"), ("x-multi", "b"), ("Content-Type", "text/plain")],
            b"hi",
        );
        let rpc = to_rpc_http(&o.parts(), SDK);
        assert_eq!(rpc.method, "POST");
        assert_eq!(rpc.url, "http://localhost:7071/api/hello/Bob?name=Ada&empty=&x=1&x=2");
        assert_eq!(rpc.headers["x-multi"], "a, b");
        assert_eq!(rpc.headers["content-type"], "text/plain");
        assert_eq!(rpc.query["name"], "Ada");
        assert_eq!(rpc.query["x"], "1,2");
        assert!(!rpc.query.contains_key("empty"), "empty query values are left out");
        assert_eq!(rpc.params["name"], "Bob");
        assert_eq!(data(&rpc.body), Some(&typed_data::Data::Bytes(Bytes::from_static(b"hi"))));
        assert!(rpc.raw_body.is_none());
        assert!(rpc.nullable_headers.is_empty());
    }

    #[test]
    fn empty_body_is_absent() {
        let o = Owned::new("GET", "/api/x", &[], b"");
        assert!(to_rpc_http(&o.parts(), SDK).body.is_none());
        assert!(to_rpc_http(&o.parts(), HttpCapabilities::default()).body.is_none());
    }

    #[test]
    fn without_raw_bytes_the_body_is_a_string_unless_binary() {
        let caps = HttpCapabilities { body_only: true, ..Default::default() };
        let o = Owned::new("POST", "/", &[("content-type", "application/json")], b"{\"a\":1}");
        let rpc = to_rpc_http(&o.parts(), caps);
        assert_eq!(data(&rpc.body), Some(&typed_data::Data::String("{\"a\":1}".into())));
        let o = Owned::new("POST", "/", &[("content-type", "application/octet-stream")], b"\x00\x01");
        let rpc = to_rpc_http(&o.parts(), caps);
        assert_eq!(data(&rpc.body), Some(&typed_data::Data::Bytes(Bytes::from_static(b"\x00\x01"))));
    }

    #[test]
    fn legacy_mode_parses_json_and_sets_raw_body() {
        let o =
            Owned::new("POST", "/", &[("content-type", "application/json; charset=utf-8")], b"{\"a\": 1}");
        let rpc = to_rpc_http(&o.parts(), HttpCapabilities::default());
        assert_eq!(data(&rpc.body), Some(&typed_data::Data::Json("{\"a\":1}".into())));
        assert_eq!(data(&rpc.raw_body), Some(&typed_data::Data::String("{\"a\": 1}".into())));
        let o = Owned::new("POST", "/", &[("content-type", "application/json")], b"{oops");
        let rpc = to_rpc_http(&o.parts(), HttpCapabilities::default());
        assert_eq!(data(&rpc.body), Some(&typed_data::Data::String("{oops".into())));
    }

    #[test]
    fn nullable_maps_replace_plain_maps_and_keep_empty_values() {
        let caps = HttpCapabilities { nullable_maps: true, ..SDK };
        let o = Owned::new("GET", "/api/x?empty=&a=1", &[("x-empty", "")], b"");
        let rpc = to_rpc_http(&o.parts(), caps);
        assert!(rpc.headers.is_empty() && rpc.query.is_empty() && rpc.params.is_empty());
        assert_eq!(rpc.nullable_query["empty"], nullable(""));
        assert_eq!(rpc.nullable_headers["x-empty"], nullable(""));
        assert_eq!(rpc.nullable_params["name"], nullable("Bob"));
    }

    #[test]
    fn empty_headers_can_be_ignored() {
        let o = Owned::new("GET", "/", &[("x-empty", "")], b"");
        assert!(to_rpc_http(&o.parts(), SDK).headers.contains_key("x-empty"));
        let caps = HttpCapabilities { ignore_empty_headers: true, ..SDK };
        assert!(!to_rpc_http(&o.parts(), caps).headers.contains_key("x-empty"));
    }

    #[test]
    fn invocation_carries_trigger_input_metadata_and_trace() {
        let o = Owned::new(
            "POST",
            "/api/hello/Bob?q=1",
            &[
                ("content-type", "application/json"),
                ("traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"),
                ("tracestate", "k=v"),
            ],
            b"{\"field\":\"v\",\"n\":2}",
        );
        let inv = invocation_request("inv-1", "fn-1", "req", &o.parts(), SDK);
        assert_eq!(inv.invocation_id, "inv-1");
        assert_eq!(inv.function_id, "fn-1");
        assert_eq!(inv.input_data.len(), 1);
        assert_eq!(inv.input_data[0].name, "req");
        let md = &inv.trigger_metadata;
        assert_eq!(md["Query"].data, Some(typed_data::Data::Json("{\"q\":\"1\"}".into())));
        assert!(matches!(&md["Headers"].data, Some(typed_data::Data::Json(j)) if j.contains("traceparent")));
        assert_eq!(md["q"].data, Some(typed_data::Data::String("1".into())));
        assert_eq!(md["name"].data, Some(typed_data::Data::String("Bob".into())));
        assert_eq!(md["field"].data, Some(typed_data::Data::String("v".into())));
        assert_eq!(md["n"].data, Some(typed_data::Data::Json("2".into())));
        assert!(!md.contains_key("$request"), "the SDK declared RpcHttpTriggerMetadataRemoved");
        let tc = inv.trace_context.unwrap();
        assert!(tc.trace_parent.starts_with("00-0af7651916cd43dd8448eb211c80319c-"), "{}", tc.trace_parent);
        assert!(!tc.trace_parent.contains("b7ad6b7169203331"), "the invocation gets its own span id");
        assert!(tc.trace_parent.ends_with("-01"));
        assert_eq!(tc.trace_state, "k=v");
        assert_eq!(
            tc.attributes.get(fnwire_telemetry::trace_id::PARENT_SPAN_ID_ATTRIBUTE).map(String::as_str),
            Some("b7ad6b7169203331"),
            "the caller's span, for the host's span of the invocation"
        );
        let legacy = invocation_request("i", "f", "req", &o.parts(), HttpCapabilities::default());
        assert!(
            legacy.trigger_metadata.contains_key("$request") && legacy.trigger_metadata.contains_key("req")
        );
    }

    #[test]
    fn a_new_trace_is_started_without_or_with_an_invalid_traceparent() {
        for headers in [vec![], vec![("traceparent", "garbage")]] {
            let o = Owned::new("GET", "/", &headers, b"");
            let tc = trace_context(o.parts().headers);
            assert!(parse_traceparent(&tc.trace_parent).is_some(), "{}", tc.trace_parent);
            assert!(tc.trace_state.is_empty());
            assert!(tc.attributes.is_empty(), "no caller: {:?}", tc.attributes);
        }
    }
}

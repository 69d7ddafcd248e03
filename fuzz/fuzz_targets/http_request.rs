//! Any request a client can make becomes an `RpcHttp` and an `InvocationRequest` under every
//! combination of worker capabilities, without a panic. Input: one byte of capability flags,
//! then a raw HTTP/1.1 request (head parsed by `httparse`, hyper's own parser; the rest is the
//! body).

#![no_main]

use std::collections::BTreeMap;

use bytes::Bytes;
use fnwire_host::http::HttpCapabilities;
use fnwire_host::http::request::{RequestParts, invocation_request};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&bits, raw)) = data.split_first() else { return };
    let mut header_slots = [httparse::EMPTY_HEADER; 64];
    let mut parsed = httparse::Request::new(&mut header_slots);
    let Ok(httparse::Status::Complete(head_len)) = parsed.parse(raw) else { return };
    let Some(Ok(method)) = parsed.method.map(|m| http::Method::from_bytes(m.as_bytes())) else { return };
    let Some(Ok(uri)) = parsed.path.map(|p| p.parse::<http::Uri>()) else { return };
    let mut headers = http::HeaderMap::new();
    for h in parsed.headers.iter() {
        if let (Ok(name), Ok(value)) =
            (http::HeaderName::from_bytes(h.name.as_bytes()), http::HeaderValue::from_bytes(h.value))
        {
            headers.append(name, value);
        }
    }
    let params: BTreeMap<String, String> =
        [("name".to_string(), "value".to_string()), ("id".to_string(), String::new())].into();
    let body = Bytes::copy_from_slice(&raw[head_len..]);
    let capabilities = HttpCapabilities {
        raw_body_bytes: bits & 1 != 0,
        body_only: bits & 2 != 0,
        nullable_maps: bits & 4 != 0,
        ignore_empty_headers: bits & 8 != 0,
        trigger_metadata_removed: bits & 16 != 0,
    };
    let parts = RequestParts { method: &method, uri: &uri, headers: &headers, body: &body, params: &params };
    let request = invocation_request("invocation", "function", "req", &parts, capabilities);
    assert_eq!(request.input_data.len(), 1);
});

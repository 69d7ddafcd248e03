//! A worker's `InvocationResponse` becomes an HTTP response, as Azure hosts convert it.

use bytes::Bytes;
use fnwire_protocol::rpc::{
    InvocationResponse, RpcHttp, RpcHttpCookie, TypedData, nullable_bool, nullable_double, nullable_string,
    nullable_timestamp, parameter_binding, rpc_http_cookie, typed_data,
};
use http::{HeaderName, HeaderValue, StatusCode, header};
use serde_json::Value;

/// The binding name that means the function's return value.
const RETURN: &str = "$return";

/// Headers a worker may not set: the host frames the body itself.
const FRAMING_HEADERS: &[&str] = &["content-length", "transfer-encoding", "connection"];

/// Finds the data of the `http` output binding: `return_value` for `$return`, else the
/// `output_data` entry with that name.
pub fn http_output<'a>(response: &'a InvocationResponse, binding_name: &str) -> Option<&'a TypedData> {
    if binding_name == RETURN {
        return response.return_value.as_ref();
    }
    response.output_data.iter().find(|p| p.name == binding_name).and_then(|p| match &p.rpc_data {
        Some(parameter_binding::RpcData::Data(d)) => Some(d),
        _ => None,
    })
}

/// The HTTP response, and any problems worth logging (headers that could not be used, …).
#[derive(Debug)]
pub struct MappedResponse {
    pub response: http::Response<Bytes>,
    pub warnings: Vec<String>,
}

/// Converts the http output value into a response. `None` (no value) is an empty 200.
pub fn to_http_response(data: Option<&TypedData>) -> MappedResponse {
    let mut out = Builder::default();
    match data.and_then(|d| d.data.as_ref()) {
        None => {}
        Some(typed_data::Data::Http(rpc)) => out.apply_rpc_http(rpc),
        Some(typed_data::Data::Json(text)) => match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(obj)) if obj.contains_key("body") => out.apply_json_descriptor(&obj),
            _ => out.body(Bytes::from(text.clone()), "application/json; charset=utf-8"),
        },
        Some(other) => out.apply_body(other),
    }
    out.finish()
}

#[derive(Default)]
struct Builder {
    status: Option<StatusCode>,
    headers: http::HeaderMap,
    body: Bytes,
    default_content_type: Option<&'static str>,
    warnings: Vec<String>,
}

impl Builder {
    fn body(&mut self, body: Bytes, content_type: &'static str) {
        self.body = body;
        self.default_content_type = Some(content_type);
    }

    fn apply_body(&mut self, data: &typed_data::Data) {
        match data {
            typed_data::Data::String(s) => self.body(Bytes::from(s.clone()), "text/plain; charset=utf-8"),
            typed_data::Data::Json(j) => self.body(Bytes::from(j.clone()), "application/json; charset=utf-8"),
            typed_data::Data::Bytes(b) | typed_data::Data::Stream(b) => {
                self.body(b.clone(), "application/octet-stream")
            }
            typed_data::Data::Int(i) => self.body(Bytes::from(i.to_string()), "text/plain; charset=utf-8"),
            typed_data::Data::Double(d) => self.body(Bytes::from(d.to_string()), "text/plain; charset=utf-8"),
            typed_data::Data::Http(_) => {
                self.warnings.push("an http body cannot itself be an http value; answered with an empty body".into())
            }
            _ => self.warnings.push(
                "the http body is a collection or model-binding value, which HTTP responses cannot carry; answered \
                 with an empty body"
                    .into(),
            ),
        }
    }

    fn status_from_text(&mut self, text: &str) {
        // Azure hosts parse the string and fall back to 200 when it is missing or invalid.
        self.status = text.trim().parse::<u16>().ok().and_then(|c| StatusCode::from_u16(c).ok());
        if self.status.is_none() && !text.trim().is_empty() {
            self.warnings.push(format!("status code `{text}` is not a valid HTTP status; answered 200"));
        }
    }

    fn header(&mut self, name: &str, value: &str) {
        if FRAMING_HEADERS.iter().any(|h| name.eq_ignore_ascii_case(h)) {
            return;
        }
        match (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            (Ok(n), Ok(v)) => {
                if n == header::CONTENT_TYPE {
                    self.headers.insert(n, v);
                } else {
                    self.headers.append(n, v);
                }
            }
            _ => self
                .warnings
                .push(format!("response header `{name}: {value}` is not valid HTTP and was left out")),
        }
    }

    fn apply_rpc_http(&mut self, rpc: &RpcHttp) {
        self.status_from_text(&rpc.status_code);
        let mut names: Vec<&String> = rpc.headers.keys().collect();
        names.sort();
        for name in names {
            self.header(name, &rpc.headers[name]);
        }
        for cookie in &rpc.cookies {
            match HeaderValue::from_str(&set_cookie(cookie)) {
                Ok(v) => {
                    self.headers.append(header::SET_COOKIE, v);
                }
                Err(_) => {
                    self.warnings.push(format!("cookie `{}` is not valid HTTP and was left out", cookie.name))
                }
            }
        }
        if let Some(body) = rpc.body.as_ref().and_then(|b| b.data.as_ref()) {
            self.apply_body(body);
        }
    }

    fn apply_json_descriptor(&mut self, obj: &serde_json::Map<String, Value>) {
        let status = obj.get("statusCode").or_else(|| obj.get("status"));
        match status {
            Some(Value::Number(n)) => self.status_from_text(&n.to_string()),
            Some(Value::String(s)) => self.status_from_text(s),
            _ => {}
        }
        if let Some(Value::Object(headers)) = obj.get("headers") {
            let text = |v: &Value| match v {
                Value::String(s) => s.clone(),
                other => other.to_string(),
            };
            for (k, v) in headers {
                match v {
                    // Several values of one header (e.g. two `Set-Cookie`s): each is kept, in order.
                    Value::Array(values) => values.iter().for_each(|v| self.header(k, &text(v))),
                    v => self.header(k, &text(v)),
                }
            }
        }
        match obj.get("body") {
            Some(Value::String(s)) => self.body(Bytes::from(s.clone()), "text/plain; charset=utf-8"),
            Some(Value::Null) | None => {}
            Some(other) => self.body(Bytes::from(other.to_string()), "application/json; charset=utf-8"),
        }
    }

    fn finish(mut self) -> MappedResponse {
        if !self.headers.contains_key(header::CONTENT_TYPE)
            && !self.body.is_empty()
            && let Some(ct) = self.default_content_type
        {
            self.headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
        }
        let mut response = http::Response::new(self.body);
        *response.status_mut() = self.status.unwrap_or(StatusCode::OK);
        *response.headers_mut() = self.headers;
        MappedResponse { response, warnings: self.warnings }
    }
}

/// Renders a cookie as a `Set-Cookie` value. SameSite `None` (0) means "unspecified" (no
/// attribute); `ExplicitNone` is `SameSite=None`.
pub fn set_cookie(c: &RpcHttpCookie) -> String {
    let mut s = format!("{}={}", c.name, c.value);
    let string = |n: &Option<fnwire_protocol::rpc::NullableString>| {
        n.as_ref().and_then(|n| n.string.as_ref()).map(|nullable_string::String::Value(v)| v.clone())
    };
    let boolean = |n: &Option<fnwire_protocol::rpc::NullableBool>| {
        n.as_ref().and_then(|n| n.bool.as_ref()).map(|nullable_bool::Bool::Value(v)| *v)
    };
    if let Some(domain) = string(&c.domain) {
        s.push_str(&format!("; Domain={domain}"));
    }
    if let Some(path) = string(&c.path) {
        s.push_str(&format!("; Path={path}"));
    }
    if let Some(nullable_timestamp::Timestamp::Value(ts)) =
        c.expires.as_ref().and_then(|e| e.timestamp.as_ref())
        && let Some(when) = chrono::DateTime::from_timestamp(ts.seconds, 0)
    {
        s.push_str(&format!("; Expires={}", when.format("%a, %d %b %Y %H:%M:%S GMT")));
    }
    if let Some(nullable_double::Double::Value(max_age)) = c.max_age.as_ref().and_then(|m| m.double.as_ref())
    {
        s.push_str(&format!("; Max-Age={}", max_age.trunc() as i64));
    }
    if boolean(&c.secure) == Some(true) {
        s.push_str("; Secure");
    }
    if boolean(&c.http_only) == Some(true) {
        s.push_str("; HttpOnly");
    }
    match rpc_http_cookie::SameSite::try_from(c.same_site) {
        Ok(rpc_http_cookie::SameSite::Lax) => s.push_str("; SameSite=Lax"),
        Ok(rpc_http_cookie::SameSite::Strict) => s.push_str("; SameSite=Strict"),
        Ok(rpc_http_cookie::SameSite::ExplicitNone) => s.push_str("; SameSite=None"),
        _ => {}
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use fnwire_protocol::rpc::{
        NullableBool, NullableDouble, NullableString, NullableTimestamp, ParameterBinding,
    };
    use std::collections::HashMap;

    fn typed(d: typed_data::Data) -> TypedData {
        TypedData { data: Some(d) }
    }

    fn http_value(status: &str, headers: &[(&str, &str)], body: Option<typed_data::Data>) -> TypedData {
        typed(typed_data::Data::Http(Box::new(RpcHttp {
            status_code: status.into(),
            headers: headers.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<HashMap<_, _>>(),
            body: body.map(|b| Box::new(typed(b))),
            ..Default::default()
        })))
    }

    fn text(r: &http::Response<Bytes>) -> &str {
        std::str::from_utf8(r.body()).unwrap()
    }

    #[test]
    fn finds_the_output_by_binding_name() {
        let resp = InvocationResponse {
            return_value: Some(typed(typed_data::Data::String("ret".into()))),
            output_data: vec![ParameterBinding {
                name: "res".into(),
                rpc_data: Some(parameter_binding::RpcData::Data(typed(typed_data::Data::String(
                    "out".into(),
                )))),
            }],
            ..Default::default()
        };
        assert_eq!(http_output(&resp, "$return").unwrap().data, Some(typed_data::Data::String("ret".into())));
        assert_eq!(http_output(&resp, "res").unwrap().data, Some(typed_data::Data::String("out".into())));
        assert!(http_output(&resp, "other").is_none());
    }

    #[test]
    fn status_headers_and_body_of_an_rpc_http() {
        let v = http_value(
            "201",
            &[("Content-Type", "text/plain"), ("X-A", "1"), ("content-length", "999")],
            Some(typed_data::Data::String("Hello, Ada!".into())),
        );
        let m = to_http_response(Some(&v));
        assert!(m.warnings.is_empty(), "{:?}", m.warnings);
        assert_eq!(m.response.status(), StatusCode::CREATED);
        assert_eq!(m.response.headers()["content-type"], "text/plain");
        assert_eq!(m.response.headers()["x-a"], "1");
        assert!(!m.response.headers().contains_key("content-length"), "the host frames the body");
        assert_eq!(text(&m.response), "Hello, Ada!");
    }

    #[test]
    fn missing_or_invalid_status_is_200() {
        for s in ["", "abc", "99999"] {
            let m = to_http_response(Some(&http_value(s, &[], Some(typed_data::Data::String("x".into())))));
            assert_eq!(m.response.status(), StatusCode::OK, "{s:?}");
        }
    }

    #[test]
    fn every_body_kind_renders() {
        let cases = [
            (typed_data::Data::String("s".into()), "s", "text/plain; charset=utf-8"),
            (typed_data::Data::Json("{\"a\":1}".into()), "{\"a\":1}", "application/json; charset=utf-8"),
            (typed_data::Data::Bytes(Bytes::from_static(b"b")), "b", "application/octet-stream"),
            (typed_data::Data::Stream(Bytes::from_static(b"st")), "st", "application/octet-stream"),
            (typed_data::Data::Int(-5), "-5", "text/plain; charset=utf-8"),
            (typed_data::Data::Double(1.5), "1.5", "text/plain; charset=utf-8"),
        ];
        for (body, expected, ct) in cases {
            let m = to_http_response(Some(&http_value("200", &[], Some(body))));
            assert_eq!(text(&m.response), expected);
            assert_eq!(m.response.headers()["content-type"], ct);
        }
        // A bare value (not an RpcHttp) is the body itself.
        let m = to_http_response(Some(&typed(typed_data::Data::String("plain".into()))));
        assert_eq!(text(&m.response), "plain");
        let m = to_http_response(None);
        assert_eq!(m.response.status(), StatusCode::OK);
        assert!(m.response.body().is_empty());
    }

    fn values_of(m: &MappedResponse, name: &str) -> Vec<String> {
        m.response.headers().get_all(name).iter().map(|v| v.to_str().unwrap().to_string()).collect()
    }

    #[test]
    fn legacy_json_descriptor() {
        let v = typed(typed_data::Data::Json(
            r#"{"status":404,"headers":{"x-b":"2"},"body":{"error":"missing"}}"#.into(),
        ));
        let m = to_http_response(Some(&v));
        assert_eq!(m.response.status(), StatusCode::NOT_FOUND);
        assert_eq!(m.response.headers()["x-b"], "2");
        assert_eq!(text(&m.response), r#"{"error":"missing"}"#);
        // JSON without a body key is just a JSON body.
        let m = to_http_response(Some(&typed(typed_data::Data::Json(r#"{"a":1}"#.into()))));
        assert_eq!(text(&m.response), r#"{"a":1}"#);
    }

    #[test]
    fn every_value_of_a_repeated_header_is_kept_in_order() {
        let v = typed(typed_data::Data::Json(
            r#"{"status":200,"headers":{"Set-Cookie":["a=1","b=2"],"Link":["</x>","</y>"]},"body":""}"#
                .into(),
        ));
        let m = to_http_response(Some(&v));
        assert_eq!(values_of(&m, "set-cookie"), ["a=1", "b=2"]);
        assert_eq!(values_of(&m, "link"), ["</x>", "</y>"]);
        // RpcHttp: joined values stay one line, in order; every cookie is its own Set-Cookie.
        let mut value = http_value("200", &[("link", "</x>, </y>")], None);
        if let Some(typed_data::Data::Http(h)) = &mut value.data {
            for name in ["a", "b"] {
                h.cookies.push(RpcHttpCookie { name: name.into(), value: "1".into(), ..Default::default() });
            }
        }
        let m = to_http_response(Some(&value));
        assert_eq!(values_of(&m, "link"), ["</x>, </y>"]);
        assert_eq!(values_of(&m, "set-cookie"), ["a=1", "b=1"]);
    }

    #[test]
    fn invalid_headers_are_dropped_with_a_warning() {
        let m =
            to_http_response(Some(&http_value("200", &[("bad header", "x"), ("x-ok", "bad\nvalue")], None)));
        assert_eq!(m.warnings.len(), 2, "{:?}", m.warnings);
        assert_eq!(m.response.status(), StatusCode::OK);
    }

    #[test]
    fn cookies_become_set_cookie_with_same_site_mapping() {
        let nstr = |s: &str| Some(NullableString { string: Some(nullable_string::String::Value(s.into())) });
        let nbool = |b| Some(NullableBool { bool: Some(nullable_bool::Bool::Value(b)) });
        let full = RpcHttpCookie {
            name: "id".into(),
            value: "42".into(),
            domain: nstr("example.com"),
            path: nstr("/"),
            expires: Some(NullableTimestamp {
                timestamp: Some(nullable_timestamp::Timestamp::Value(prost_types::Timestamp {
                    seconds: 1_700_000_000,
                    nanos: 0,
                })),
            }),
            secure: nbool(true),
            http_only: nbool(true),
            same_site: rpc_http_cookie::SameSite::Strict as i32,
            max_age: Some(NullableDouble { double: Some(nullable_double::Double::Value(60.0)) }),
        };
        assert_eq!(
            set_cookie(&full),
            "id=42; Domain=example.com; Path=/; Expires=Tue, 14 Nov 2023 22:13:20 GMT; Max-Age=60; Secure; HttpOnly; \
             SameSite=Strict"
        );
        let mut c = RpcHttpCookie { name: "a".into(), value: "b".into(), ..Default::default() };
        assert_eq!(set_cookie(&c), "a=b", "SameSite None (0) means unspecified");
        c.same_site = rpc_http_cookie::SameSite::ExplicitNone as i32;
        assert_eq!(set_cookie(&c), "a=b; SameSite=None");
        c.same_site = rpc_http_cookie::SameSite::Lax as i32;
        assert_eq!(set_cookie(&c), "a=b; SameSite=Lax");

        let v = typed(typed_data::Data::Http(Box::new(RpcHttp {
            cookies: vec![full, c],
            body: Some(Box::new(typed(typed_data::Data::String(String::new())))),
            ..Default::default()
        })));
        let m = to_http_response(Some(&v));
        assert_eq!(m.response.headers().get_all("set-cookie").iter().count(), 2);
    }
}

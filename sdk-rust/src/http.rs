//! HTTP trigger input ([`HttpRequest`]) and output ([`HttpResponse`], [`Cookie`]).

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use fnwire_protocol::rpc::typed_data::Data;
use fnwire_protocol::rpc::{
    NullableBool, NullableDouble, NullableString, NullableTimestamp, RpcHttp, RpcHttpCookie, TypedData,
    nullable_bool, nullable_double, nullable_string, nullable_timestamp, rpc_http_cookie,
};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::FunctionError;
use crate::convert::{FromTypedData, IntoTypedData, kind_of, parse_json, typed};

/// HTTP headers with case-insensitive names, in the order they were added.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    entries: Vec<(String, String)>,
}

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Headers::default()
    }

    /// The value of a header, by case-insensitive name.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.entries.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    /// Whether the header is present.
    pub fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// Sets a header, replacing any header with the same name (case-insensitively).
    pub fn insert(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into();
        let value = value.into();
        match self.entries.iter_mut().find(|(k, _)| k.eq_ignore_ascii_case(&name)) {
            Some(entry) => *entry = (name, value),
            None => self.entries.push((name, value)),
        }
    }

    /// Removes a header; returns its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let index = self.entries.iter().position(|(k, _)| k.eq_ignore_ascii_case(name))?;
        Some(self.entries.remove(index).1)
    }

    /// Name-value pairs in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

impl<K: Into<String>, V: Into<String>> FromIterator<(K, V)> for Headers {
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let mut headers = Headers::new();
        for (k, v) in iter {
            headers.insert(k, v);
        }
        headers
    }
}

/// The request that triggered an HTTP function.
///
/// Build one with [`HttpRequest::new`] to call a function from a unit test.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpRequest {
    method: String,
    url: String,
    headers: Headers,
    query: BTreeMap<String, String>,
    params: BTreeMap<String, String>,
    body: Bytes,
}

impl HttpRequest {
    /// A request with no headers and an empty body. Query parameters are read from `url`.
    pub fn new(method: impl Into<String>, url: impl Into<String>) -> Self {
        let url = url.into();
        let query = query_from_url(&url);
        HttpRequest { method: method.into(), url, query, ..HttpRequest::default() }
    }

    /// Adds a header (builder style).
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Adds a query parameter (builder style).
    pub fn with_query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.insert(name.into(), value.into());
        self
    }

    /// Adds a route parameter (builder style).
    pub fn with_param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.insert(name.into(), value.into());
        self
    }

    /// Sets the body (builder style).
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// The method, e.g. `GET`.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The full URL the client asked for, with the query string.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The path part of the URL, e.g. `/api/hello/Ada`.
    pub fn path(&self) -> &str {
        let after_scheme = self.url.split_once("://").map_or(self.url.as_str(), |(_, rest)| rest);
        let path_and_query = after_scheme.find('/').map_or("/", |i| &after_scheme[i..]);
        path_and_query.split(['?', '#']).next().unwrap_or("/")
    }

    /// All headers (names are lower-case as hosts send them; lookups ignore case anyway).
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// One header, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// One query-string parameter.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query.get(name).map(String::as_str)
    }

    /// All query-string parameters.
    pub fn query_params(&self) -> &BTreeMap<String, String> {
        &self.query
    }

    /// One route parameter, e.g. `name` for the route `hello/{name?}`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params.get(name).map(String::as_str)
    }

    /// All route parameters.
    pub fn params(&self) -> &BTreeMap<String, String> {
        &self.params
    }

    /// The raw body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Takes the body out of the request.
    pub fn into_body(self) -> Bytes {
        self.body
    }

    /// The body as text. Bytes that are not UTF-8 are replaced by U+FFFD; use
    /// [`HttpRequest::body`] to see them as they are.
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// The body parsed as JSON into `T`. The error says whether the body is not JSON at all or
    /// does not fit `T`, and where (line and column).
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, crate::Error> {
        if self.body.is_empty() {
            return Err(crate::Error::msg(format!(
                "the request body is empty, expected JSON for `{}` (send a body with Content-Type: application/json)",
                std::any::type_name::<T>()
            )));
        }
        parse_json(&self.body, "the request body").map_err(|e| crate::Error::msg(e.message))
    }

    /// Builds the request from what the host sends. Hosts fill either the plain maps or the
    /// `nullable_*` maps (capability `UseNullableValueDictionaryForHttp`); both are read.
    pub fn from_rpc(http: RpcHttp) -> Self {
        let mut headers = Headers::new();
        for (k, v) in http.headers {
            headers.insert(k, v);
        }
        for (k, v) in http.nullable_headers {
            if let Some(v) = nullable(v) {
                headers.insert(k, v);
            }
        }
        // The URL has every query parameter, including empty ones the plain map drops; the maps
        // then win because the host decoded them.
        let mut query = query_from_url(&http.url);
        query.extend(http.query);
        query.extend(http.nullable_query.into_iter().filter_map(|(k, v)| Some((k, nullable(v)?))));
        let mut params: BTreeMap<String, String> = http.params.into_iter().collect();
        params.extend(http.nullable_params.into_iter().filter_map(|(k, v)| Some((k, nullable(v)?))));
        let body = http.body.or(http.raw_body).map(|b| body_bytes(*b)).unwrap_or_default();
        let mut sorted_headers: Vec<(String, String)> = headers.entries;
        sorted_headers.sort();
        HttpRequest {
            method: http.method,
            url: http.url,
            headers: Headers { entries: sorted_headers },
            query,
            params,
            body,
        }
    }
}

fn nullable(v: NullableString) -> Option<String> {
    v.string.map(|nullable_string::String::Value(s)| s)
}

fn body_bytes(data: TypedData) -> Bytes {
    match data.data {
        Some(Data::Bytes(b)) | Some(Data::Stream(b)) => b,
        Some(Data::String(s)) | Some(Data::Json(s)) => Bytes::from(s),
        Some(Data::Int(i)) => Bytes::from(i.to_string()),
        Some(Data::Double(d)) => Bytes::from(d.to_string()),
        _ => Bytes::new(),
    }
}

fn query_from_url(url: &str) -> BTreeMap<String, String> {
    let Some((_, rest)) = url.split_once('?') else { return BTreeMap::new() };
    let query = rest.split('#').next().unwrap_or_default();
    form_urlencoded::parse(query.as_bytes()).into_owned().collect()
}

impl FromTypedData for HttpRequest {
    fn from_typed_data(data: TypedData) -> Result<Self, FunctionError> {
        match data.data {
            Some(Data::Http(http)) => Ok(HttpRequest::from_rpc(*http)),
            _ => Err(FunctionError::new(format!(
                "expected an HTTP request, but the host sent {}; HttpRequest parameters belong to \
                 functions with an HTTP trigger",
                kind_of(&data)
            ))),
        }
    }
}

/// How a cookie may be sent with cross-site requests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    Lax,
    Strict,
    /// `SameSite=None` (browsers require `Secure` with it).
    None,
}

/// A `Set-Cookie` for an [`HttpResponse`].
#[derive(Debug, Clone, PartialEq)]
pub struct Cookie {
    pub name: String,
    pub value: String,
    pub domain: Option<String>,
    pub path: Option<String>,
    pub expires: Option<SystemTime>,
    pub secure: Option<bool>,
    pub http_only: Option<bool>,
    pub same_site: Option<SameSite>,
    pub max_age: Option<Duration>,
}

impl Cookie {
    /// A cookie with only a name and value.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Cookie {
            name: name.into(),
            value: value.into(),
            domain: None,
            path: None,
            expires: None,
            secure: None,
            http_only: None,
            same_site: None,
            max_age: None,
        }
    }

    pub fn domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    pub fn path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    pub fn expires(mut self, at: SystemTime) -> Self {
        self.expires = Some(at);
        self
    }

    pub fn secure(mut self, secure: bool) -> Self {
        self.secure = Some(secure);
        self
    }

    pub fn http_only(mut self, http_only: bool) -> Self {
        self.http_only = Some(http_only);
        self
    }

    pub fn same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = Some(same_site);
        self
    }

    pub fn max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// The cookie as the protocol carries it.
    pub fn to_rpc(&self) -> RpcHttpCookie {
        let text = |s: &Option<String>| {
            s.clone().map(|v| NullableString { string: Some(nullable_string::String::Value(v)) })
        };
        let flag = |b: Option<bool>| b.map(|v| NullableBool { bool: Some(nullable_bool::Bool::Value(v)) });
        RpcHttpCookie {
            name: self.name.clone(),
            value: self.value.clone(),
            domain: text(&self.domain),
            path: text(&self.path),
            expires: self.expires.map(|t| NullableTimestamp {
                timestamp: Some(nullable_timestamp::Timestamp::Value(timestamp(t))),
            }),
            secure: flag(self.secure),
            http_only: flag(self.http_only),
            // Protocol `None` (0) means "unspecified"; an explicit `SameSite=None` is `ExplicitNone`.
            same_site: match self.same_site {
                Option::None => rpc_http_cookie::SameSite::None,
                Some(SameSite::Lax) => rpc_http_cookie::SameSite::Lax,
                Some(SameSite::Strict) => rpc_http_cookie::SameSite::Strict,
                Some(SameSite::None) => rpc_http_cookie::SameSite::ExplicitNone,
            } as i32,
            max_age: self
                .max_age
                .map(|d| NullableDouble { double: Some(nullable_double::Double::Value(d.as_secs_f64())) }),
        }
    }
}

fn timestamp(t: SystemTime) -> prost_types::Timestamp {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => prost_types::Timestamp { seconds: d.as_secs() as i64, nanos: d.subsec_nanos() as i32 },
        Err(e) => {
            let d = e.duration();
            prost_types::Timestamp { seconds: -(d.as_secs() as i64), nanos: 0 }
        }
    }
}

/// The response of an HTTP function.
///
/// ```
/// # use fnwire::HttpResponse;
/// let res = HttpResponse::ok().header("x-request", "1").text("hello");
/// assert_eq!(res.status(), 200);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    status: u16,
    headers: Headers,
    cookies: Vec<Cookie>,
    body: Bytes,
}

impl Default for HttpResponse {
    fn default() -> Self {
        HttpResponse::ok()
    }
}

impl HttpResponse {
    /// An empty response with this status code.
    pub fn new(status: u16) -> Self {
        HttpResponse { status, headers: Headers::new(), cookies: Vec::new(), body: Bytes::new() }
    }

    /// 200 OK.
    pub fn ok() -> Self {
        HttpResponse::new(200)
    }

    /// 201 Created.
    pub fn created() -> Self {
        HttpResponse::new(201)
    }

    /// 204 No Content.
    pub fn no_content() -> Self {
        HttpResponse::new(204)
    }

    /// 400 Bad Request.
    pub fn bad_request() -> Self {
        HttpResponse::new(400)
    }

    /// 404 Not Found.
    pub fn not_found() -> Self {
        HttpResponse::new(404)
    }

    /// 500 Internal Server Error.
    pub fn internal_server_error() -> Self {
        HttpResponse::new(500)
    }

    /// Changes the status code.
    pub fn with_status(mut self, status: u16) -> Self {
        self.status = status;
        self
    }

    /// Sets a header, replacing one of the same name.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.insert(name, value);
        self
    }

    /// Adds a `Set-Cookie`.
    pub fn cookie(mut self, cookie: Cookie) -> Self {
        self.cookies.push(cookie);
        self
    }

    /// A text body, with `Content-Type: text/plain; charset=utf-8` unless one is set already.
    pub fn text(self, text: impl Into<String>) -> Self {
        let text: String = text.into();
        self.default_content_type("text/plain; charset=utf-8").body(text)
    }

    /// A JSON body, with `Content-Type: application/json` unless one is set already.
    ///
    /// If `value` cannot be serialized (e.g. a map with non-string keys), the response becomes a
    /// 500 whose body says why; use [`HttpResponse::try_json`] to handle that yourself.
    pub fn json<T: Serialize + ?Sized>(self, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => self.default_content_type("application/json").body(body),
            Err(e) => {
                let message = format!(
                    "could not serialize the response body `{}` as JSON: {e}",
                    std::any::type_name::<T>()
                );
                tracing::error!("{message}");
                HttpResponse::internal_server_error().text(message)
            }
        }
    }

    /// Like [`HttpResponse::json`], but returns the serialization error.
    pub fn try_json<T: Serialize + ?Sized>(self, value: &T) -> Result<Self, crate::Error> {
        let body = serde_json::to_vec(value)?;
        Ok(self.default_content_type("application/json").body(body))
    }

    /// A raw body; the content type is left as it is.
    pub fn body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    fn default_content_type(mut self, content_type: &str) -> Self {
        if !self.headers.contains("content-type") {
            self.headers.insert("content-type", content_type);
        }
        self
    }

    pub fn status(&self) -> u16 {
        self.status
    }

    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    pub fn cookies(&self) -> &[Cookie] {
        &self.cookies
    }

    pub fn body_bytes(&self) -> &Bytes {
        &self.body
    }

    /// The response as the protocol carries it: the status code is a string, and the body is
    /// always present (hosts treat an RpcHttp without body as something else entirely).
    pub fn into_rpc(self) -> RpcHttp {
        RpcHttp {
            status_code: self.status.to_string(),
            headers: self.headers.entries.into_iter().collect(),
            body: Some(Box::new(typed(Data::Bytes(self.body)))),
            cookies: self.cookies.iter().map(Cookie::to_rpc).collect(),
            ..RpcHttp::default()
        }
    }
}

impl IntoTypedData for HttpResponse {
    fn into_typed_data(self) -> Result<TypedData, FunctionError> {
        Ok(typed(Data::Http(Box::new(self.into_rpc()))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fnwire_protocol::rpc::typed_data::Data;

    fn ns(v: &str) -> NullableString {
        NullableString { string: Some(nullable_string::String::Value(v.into())) }
    }

    /// The Python worker transcript's shape: plain maps, no body.
    #[test]
    fn request_from_plain_maps() {
        let http = RpcHttp {
            method: "GET".into(),
            url: "http://localhost:7071/api/hello/Ada?x=1".into(),
            headers: [("user-agent".into(), "fake-host".into()), ("host".into(), "localhost:7071".into())]
                .into(),
            params: [("name".into(), "Ada".into())].into(),
            query: [("x".into(), "1".into())].into(),
            ..RpcHttp::default()
        };
        let req = HttpRequest::from_rpc(http);
        assert_eq!(req.method(), "GET");
        assert_eq!(req.path(), "/api/hello/Ada");
        assert_eq!(req.header("User-Agent"), Some("fake-host"));
        assert_eq!(req.param("name"), Some("Ada"));
        assert_eq!(req.query("x"), Some("1"));
        assert!(req.body().is_empty());
    }

    /// The Node worker transcript's shape: nullable maps and a bytes body.
    #[test]
    fn request_from_nullable_maps_and_bytes_body() {
        let http = RpcHttp {
            method: "POST".into(),
            url: "http://localhost:7071/api/echo?empty=&k=v".into(),
            body: Some(Box::new(typed(Data::Bytes(Bytes::from_static(b"{\"v\": 42}"))))),
            nullable_headers: [("content-type".into(), ns("application/json"))].into(),
            nullable_params: [("id".into(), ns("7"))].into(),
            nullable_query: [("k".into(), ns("v"))].into(),
            ..RpcHttp::default()
        };
        let req = HttpRequest::from_rpc(http);
        assert_eq!(req.header("content-type"), Some("application/json"));
        assert_eq!(req.param("id"), Some("7"));
        assert_eq!(req.query("k"), Some("v"));
        assert_eq!(req.query("empty"), Some(""));
        let v: serde_json::Value = req.json().unwrap();
        assert_eq!(v["v"], 42);
        assert_eq!(req.text(), "{\"v\": 42}");
    }

    #[test]
    fn request_body_from_string_and_bad_json_error() {
        let http = RpcHttp {
            method: "POST".into(),
            url: "http://h/api/x".into(),
            body: Some(Box::new(typed(Data::String("{not json".into())))),
            ..RpcHttp::default()
        };
        let req = HttpRequest::from_rpc(http);
        assert_eq!(req.text(), "{not json");
        let err = req.json::<serde_json::Value>().unwrap_err().to_string();
        assert!(err.contains("the request body is not valid JSON"), "{err}");
        assert!(err.contains("line 1 column 2"), "{err}");
        let empty = HttpRequest::new("POST", "http://h/").json::<serde_json::Value>().unwrap_err();
        assert!(empty.to_string().contains("request body is empty"));
    }

    #[test]
    fn response_to_rpc_http() {
        let res = HttpResponse::created()
            .header("x-test", "1")
            .cookie(Cookie::new("sid", "abc").path("/").http_only(true).same_site(SameSite::None))
            .text("Hello, Ada!");
        let TypedData { data: Some(Data::Http(http)) } = res.into_typed_data().unwrap() else {
            panic!("expected http")
        };
        assert_eq!(http.status_code, "201");
        assert_eq!(http.headers["content-type"], "text/plain; charset=utf-8");
        assert_eq!(http.headers["x-test"], "1");
        assert_eq!(http.body.unwrap().data, Some(Data::Bytes(Bytes::from_static(b"Hello, Ada!"))));
        let cookie = &http.cookies[0];
        assert_eq!(cookie.name, "sid");
        assert_eq!(cookie.path, Some(ns("/")));
        assert_eq!(cookie.http_only, Some(NullableBool { bool: Some(nullable_bool::Bool::Value(true)) }));
        assert_eq!(cookie.same_site, rpc_http_cookie::SameSite::ExplicitNone as i32);
        assert_eq!(cookie.secure, None);
    }

    #[test]
    fn empty_response_still_has_a_body_and_json_sets_content_type() {
        let http = HttpResponse::no_content().into_rpc();
        assert_eq!(http.body.unwrap().data, Some(Data::Bytes(Bytes::new())));
        let http = HttpResponse::ok().json(&serde_json::json!({"a": 1})).into_rpc();
        assert_eq!(http.headers["content-type"], "application/json");
        let explicit = HttpResponse::ok().header("Content-Type", "text/html").text("<p>").into_rpc();
        assert_eq!(explicit.headers.len(), 1);
        assert_eq!(explicit.headers["Content-Type"], "text/html");
    }
}

//! HTTP trigger input ([`HttpRequest`]) and output ([`HttpResponse`], [`Cookie`]), in the
//! `http` crate's types ([`Method`], [`StatusCode`], [`HeaderMap`]).
//!
//! Builders consume `self` and are named `with_*`; getters are nouns. The rules for what a
//! response may hold (status codes 100–999, the three `SameSite` values, cookie times) live here
//! once: the Python and Node layers check their users' values through [`crate::__bridge`].

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use fnwire_protocol::rpc::typed_data::Data;
use fnwire_protocol::rpc::{
    NullableBool, NullableDouble, NullableString, NullableTimestamp, RpcHttp, RpcHttpCookie, TypedData,
    nullable_bool, nullable_double, nullable_string, nullable_timestamp, rpc_http_cookie,
};
use http::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use http::{HeaderMap, Method, StatusCode};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::FunctionError;
use crate::convert::{FromTypedData, IntoTypedData, kind_of, parse_json, typed};

/// A value that cannot be part of an HTTP response: names the value and what is accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidHttpValue {
    message: String,
}

impl InvalidHttpValue {
    pub(crate) fn new(message: impl Into<String>) -> Self {
        InvalidHttpValue { message: message.into() }
    }
}

impl fmt::Display for InvalidHttpValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for InvalidHttpValue {}

impl From<InvalidHttpValue> for FunctionError {
    fn from(error: InvalidHttpValue) -> Self {
        FunctionError::new(error.message)
    }
}

/// The request that triggered an HTTP function.
///
/// Build one with [`HttpRequest::new`] to call a function from a unit test:
///
/// ```
/// use fnwire::HttpRequest;
/// use fnwire::http::Method;
///
/// let req = HttpRequest::new(Method::POST, "http://localhost/api/echo?x=1")
///     .with_header("content-type", "application/json")
///     .with_body(r#"{"n": 1}"#);
/// assert_eq!(req.method(), Method::POST);
/// assert_eq!(req.query("x"), Some("1"));
/// assert_eq!(req.header("Content-Type"), Some("application/json"));
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct HttpRequest {
    method: Method,
    url: String,
    headers: HeaderMap,
    query: BTreeMap<String, String>,
    params: BTreeMap<String, String>,
    body: Bytes,
}

impl HttpRequest {
    /// A request with no headers and an empty body. Query parameters are read from `url`.
    pub fn new(method: Method, url: impl Into<String>) -> Self {
        let url = url.into();
        let query = query_from_url(&url);
        HttpRequest { method, url, query, ..HttpRequest::default() }
    }

    /// Adds a header. A name or value that HTTP does not allow (e.g. a space in the name, a line
    /// break in the value) is skipped with a warning in the log.
    pub fn with_header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        if let Some((name, value)) = header_pair(name.as_ref(), value.as_ref()) {
            self.headers.append(name, value);
        }
        self
    }

    /// Adds a query parameter.
    pub fn with_query(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.query.insert(name.into(), value.into());
        self
    }

    /// Adds a route parameter.
    pub fn with_param(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.params.insert(name.into(), value.into());
        self
    }

    /// Sets the body.
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// The method, e.g. [`Method::GET`].
    pub fn method(&self) -> &Method {
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

    /// All headers (lookups ignore case).
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// One header's value as text, by case-insensitive name; `None` when it is absent or not
    /// visible ASCII (read those through [`HttpRequest::headers`]).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
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
    /// does not fit `T`, and where (line and column); it is a `400 Bad Request`, so `req.json()?`
    /// in an HTTP function answers the caller with it.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, crate::Error> {
        if self.body.is_empty() {
            return Err(crate::Error::bad_request(format!(
                "the request body is empty, expected JSON for `{}` (send a body with Content-Type: application/json)",
                std::any::type_name::<T>()
            )));
        }
        parse_json(&self.body, "the request body").map_err(|e| crate::Error::bad_request(e.message))
    }

    /// Builds the request from what the host sends. Hosts fill either the plain maps or the
    /// `nullable_*` maps (capability `UseNullableValueDictionaryForHttp`); both are read.
    pub(crate) fn from_rpc(http: RpcHttp) -> Result<Self, FunctionError> {
        let method = Method::from_bytes(http.method.as_bytes()).map_err(|_| {
            FunctionError::new(format!(
                "the host sent an HTTP request whose method {:?} is not an HTTP method",
                http.method
            ))
        })?;
        // Sorted by name, so every language sees the headers in the same order.
        let mut pairs: Vec<(String, String)> = http.headers.into_iter().collect();
        pairs.extend(http.nullable_headers.into_iter().filter_map(|(k, v)| Some((k, nullable(v)?))));
        pairs.sort();
        let mut headers = HeaderMap::with_capacity(pairs.len());
        for (name, value) in pairs {
            if let Some((name, value)) = header_pair(&name, &value) {
                headers.insert(name, value);
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
        Ok(HttpRequest { method, url: http.url, headers, query, params, body })
    }
}

/// A header as the `http` crate holds it, or why HTTP does not allow it. Values may hold
/// non-ASCII bytes (HTTP's obs-text), as hosts pass them through.
fn checked_header(name: &str, value: &str) -> Result<(HeaderName, HeaderValue), InvalidHttpValue> {
    let header_name = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
        InvalidHttpValue::new(format!(
            "header name {name:?} is not a valid HTTP header name; use letters, digits and `-`"
        ))
    })?;
    let header_value = HeaderValue::from_bytes(value.as_bytes()).map_err(|_| {
        InvalidHttpValue::new(format!(
            "the value of header {name:?} is not a valid HTTP header value (it holds a line break or \
             another control character); remove or encode those characters"
        ))
    })?;
    Ok((header_name, header_value))
}

/// A header for a request, or `None` (with a warning) if HTTP does not allow it.
fn header_pair(name: &str, value: &str) -> Option<(HeaderName, HeaderValue)> {
    checked_header(name, value).map_err(|e| tracing::warn!("skipping a request header: {e}")).ok()
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
    const INPUT_KIND: crate::bind::InputKind = crate::bind::InputKind::Http;
    fn from_typed_data(data: TypedData) -> Result<Self, FunctionError> {
        match data.data {
            Some(Data::Http(http)) => HttpRequest::from_rpc(*http),
            _ => Err(FunctionError::new(format!(
                "expected an HTTP request, but the host sent {}; HttpRequest parameters belong to \
                 functions with an HTTP trigger",
                kind_of(&data)
            ))),
        }
    }
}

/// How a cookie may be sent with cross-site requests.
///
/// Parsed from text case-insensitively (`"lax"`, `"Strict"`, `"NONE"`); anything else is an
/// error, in Rust, Python and Node alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SameSite {
    /// `SameSite=Lax`: sent with top-level navigations from other sites.
    Lax,
    /// `SameSite=Strict`: never sent with requests from other sites.
    Strict,
    /// `SameSite=None` (browsers require `Secure` with it).
    None,
}

impl FromStr for SameSite {
    type Err = InvalidHttpValue;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.to_ascii_lowercase().as_str() {
            "lax" => Ok(SameSite::Lax),
            "strict" => Ok(SameSite::Strict),
            "none" => Ok(SameSite::None),
            _ => Err(InvalidHttpValue::new(format!(
                "same_site {text:?} is not a SameSite value; use Strict, Lax or None"
            ))),
        }
    }
}

impl fmt::Display for SameSite {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            SameSite::Lax => "Lax",
            SameSite::Strict => "Strict",
            SameSite::None => "None",
        })
    }
}

/// A `Set-Cookie` for an [`HttpResponse`].
///
/// ```
/// use std::time::Duration;
/// use fnwire::{Cookie, SameSite};
///
/// let cookie = Cookie::new("sid", "abc")
///     .with_path("/")
///     .with_http_only(true)
///     .with_same_site(SameSite::Lax)
///     .with_max_age(Duration::from_secs(3600));
/// assert_eq!(cookie.path.as_deref(), Some("/"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Cookie {
    /// The cookie's name.
    pub name: String,
    /// The cookie's value.
    pub value: String,
    /// `Domain`: the hosts the cookie is sent to.
    pub domain: Option<String>,
    /// `Path`: the URL path prefix the cookie is sent with.
    pub path: Option<String>,
    /// `Expires`: when the browser drops the cookie.
    pub expires: Option<SystemTime>,
    /// `Secure`: sent over HTTPS only.
    pub secure: Option<bool>,
    /// `HttpOnly`: hidden from scripts in the page.
    pub http_only: Option<bool>,
    /// `SameSite`.
    pub same_site: Option<SameSite>,
    /// `Max-Age`: how long the browser keeps the cookie (whole seconds on the wire).
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

    /// Sets `Domain`.
    pub fn with_domain(mut self, domain: impl Into<String>) -> Self {
        self.domain = Some(domain.into());
        self
    }

    /// Sets `Path`.
    pub fn with_path(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    /// Sets `Expires`.
    pub fn with_expires(mut self, at: SystemTime) -> Self {
        self.expires = Some(at);
        self
    }

    /// Sets `Secure`.
    pub fn with_secure(mut self, secure: bool) -> Self {
        self.secure = Some(secure);
        self
    }

    /// Sets `HttpOnly`.
    pub fn with_http_only(mut self, http_only: bool) -> Self {
        self.http_only = Some(http_only);
        self
    }

    /// Sets `SameSite`.
    pub fn with_same_site(mut self, same_site: SameSite) -> Self {
        self.same_site = Some(same_site);
        self
    }

    /// Sets `Max-Age`.
    pub fn with_max_age(mut self, max_age: Duration) -> Self {
        self.max_age = Some(max_age);
        self
    }

    /// Reads a `Set-Cookie` header value (`sid=abc; Path=/; HttpOnly`). Attributes the protocol
    /// cannot carry (e.g. `Partitioned`) are dropped; a negative `Max-Age` becomes 0 (delete now).
    ///
    /// ```
    /// use fnwire::{Cookie, SameSite};
    ///
    /// let cookie = Cookie::parse_set_cookie("sid=abc; Path=/; HttpOnly; SameSite=Lax").unwrap();
    /// assert_eq!((cookie.name.as_str(), cookie.value.as_str()), ("sid", "abc"));
    /// assert_eq!((cookie.http_only, cookie.same_site), (Some(true), Some(SameSite::Lax)));
    /// ```
    pub fn parse_set_cookie(text: &str) -> Result<Cookie, InvalidHttpValue> {
        let parsed = cookie::Cookie::parse(text).map_err(|e| {
            InvalidHttpValue::new(format!(
                "Set-Cookie {text:?} cannot be read ({e}); write `name=value` followed by `; Attribute` parts, or \
                 set the cookie as a cookie instead of a header"
            ))
        })?;
        Ok(Cookie {
            name: parsed.name().to_string(),
            value: parsed.value().to_string(),
            domain: parsed.domain().map(str::to_string),
            path: parsed.path().map(str::to_string),
            expires: parsed.expires_datetime().map(SystemTime::from),
            secure: parsed.secure(),
            http_only: parsed.http_only(),
            same_site: parsed.same_site().map(|s| match s {
                cookie::SameSite::Lax => SameSite::Lax,
                cookie::SameSite::Strict => SameSite::Strict,
                cookie::SameSite::None => SameSite::None,
            }),
            max_age: parsed.max_age().map(|d| Duration::try_from(d).unwrap_or(Duration::ZERO)),
        })
    }

    /// The cookie as the protocol carries it.
    pub(crate) fn to_rpc(&self) -> RpcHttpCookie {
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
/// use fnwire::HttpResponse;
/// use fnwire::http::StatusCode;
///
/// let res = HttpResponse::ok().with_header("x-request", "1").with_text("hello");
/// assert_eq!(res.status(), StatusCode::OK);
/// assert_eq!(res.body().as_ref(), b"hello");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct HttpResponse {
    status: StatusCode,
    headers: HeaderMap,
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
    pub fn new(status: StatusCode) -> Self {
        HttpResponse { status, headers: HeaderMap::new(), cookies: Vec::new(), body: Bytes::new() }
    }

    /// 200 OK.
    pub fn ok() -> Self {
        HttpResponse::new(StatusCode::OK)
    }

    /// 201 Created.
    pub fn created() -> Self {
        HttpResponse::new(StatusCode::CREATED)
    }

    /// 204 No Content.
    pub fn no_content() -> Self {
        HttpResponse::new(StatusCode::NO_CONTENT)
    }

    /// 400 Bad Request.
    pub fn bad_request() -> Self {
        HttpResponse::new(StatusCode::BAD_REQUEST)
    }

    /// 404 Not Found.
    pub fn not_found() -> Self {
        HttpResponse::new(StatusCode::NOT_FOUND)
    }

    /// 500 Internal Server Error.
    pub fn internal_server_error() -> Self {
        HttpResponse::new(StatusCode::INTERNAL_SERVER_ERROR)
    }

    /// Changes the status code.
    pub fn with_status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Sets a header, replacing any of the same name (names ignore case). A name or value that
    /// HTTP does not allow (e.g. a space in the name, a line break in the value) is left out
    /// with a warning in the log; use [`HttpResponse::try_with_header`] to handle that yourself.
    pub fn with_header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        match checked_header(name.as_ref(), value.as_ref()) {
            Ok((name, value)) => {
                self.headers.insert(name, value);
            }
            Err(e) => tracing::warn!("{e}"),
        }
        self
    }

    /// Like [`HttpResponse::with_header`], but returns the error for a name or value HTTP does
    /// not allow.
    pub fn try_with_header(mut self, name: &str, value: &str) -> Result<Self, InvalidHttpValue> {
        let (name, value) = checked_header(name, value)?;
        self.headers.insert(name, value);
        Ok(self)
    }

    /// Adds a header, keeping earlier values of the same name (e.g. two `Link` headers); the
    /// client receives every value, in order. A name or value HTTP does not allow is left out
    /// with a warning, as in [`HttpResponse::with_header`].
    pub fn with_added_header(mut self, name: impl AsRef<str>, value: impl AsRef<str>) -> Self {
        match checked_header(name.as_ref(), value.as_ref()) {
            Ok((name, value)) => {
                self.headers.append(name, value);
            }
            Err(e) => tracing::warn!("{e}"),
        }
        self
    }

    /// Like [`HttpResponse::with_added_header`], but returns the error for a name or value HTTP
    /// does not allow.
    pub fn try_with_added_header(mut self, name: &str, value: &str) -> Result<Self, InvalidHttpValue> {
        let (name, value) = checked_header(name, value)?;
        self.headers.append(name, value);
        Ok(self)
    }

    /// Adds a `Set-Cookie`.
    pub fn with_cookie(mut self, cookie: Cookie) -> Self {
        self.cookies.push(cookie);
        self
    }

    /// A text body, with `Content-Type: text/plain; charset=utf-8` unless one is set already.
    pub fn with_text(self, text: impl Into<String>) -> Self {
        let text: String = text.into();
        self.with_default_content_type("text/plain; charset=utf-8").with_body(text)
    }

    /// A JSON body, with `Content-Type: application/json` unless one is set already.
    ///
    /// If `value` cannot be serialized (e.g. a map with non-string keys), the response becomes a
    /// 500 whose body says why; use [`HttpResponse::try_with_json`] to handle that yourself.
    pub fn with_json<T: Serialize + ?Sized>(self, value: &T) -> Self {
        match serde_json::to_vec(value) {
            Ok(body) => self.with_default_content_type("application/json").with_body(body),
            Err(e) => {
                let message = format!(
                    "could not serialize the response body `{}` as JSON: {e}",
                    std::any::type_name::<T>()
                );
                tracing::error!("{message}");
                HttpResponse::internal_server_error().with_text(message)
            }
        }
    }

    /// Like [`HttpResponse::with_json`], but returns the serialization error.
    pub fn try_with_json<T: Serialize + ?Sized>(self, value: &T) -> Result<Self, crate::Error> {
        let body = serde_json::to_vec(value)?;
        Ok(self.with_default_content_type("application/json").with_body(body))
    }

    /// A raw body; the content type is left as it is.
    pub fn with_body(mut self, body: impl Into<Bytes>) -> Self {
        self.body = body.into();
        self
    }

    /// Sets `Content-Type` unless a header sets it already.
    pub fn with_default_content_type(mut self, content_type: &'static str) -> Self {
        if !self.headers.contains_key(CONTENT_TYPE) {
            self.headers.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
        }
        self
    }

    /// The status code.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The headers, to change them in place.
    pub fn headers_mut(&mut self) -> &mut HeaderMap {
        &mut self.headers
    }

    /// The `Set-Cookie`s.
    pub fn cookies(&self) -> &[Cookie] {
        &self.cookies
    }

    /// The body.
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// The response as the protocol carries it: the status code is a string, and the body is
    /// always present (hosts treat an RpcHttp without body as something else entirely).
    ///
    /// The protocol's `headers` is a map, so a header with several values travels as one entry,
    /// its values joined with `, ` in order, as Azure hosts join them (HTTP allows it for every
    /// header but `Set-Cookie`). `Set-Cookie` headers become `cookies` entries, after those of
    /// [`HttpResponse::with_cookie`]; one that cannot be read is left out with a warning.
    pub(crate) fn into_rpc(self) -> RpcHttp {
        let mut headers = std::collections::HashMap::with_capacity(self.headers.keys_len());
        let mut cookies: Vec<RpcHttpCookie> = self.cookies.iter().map(Cookie::to_rpc).collect();
        for name in self.headers.keys() {
            let values = self.headers.get_all(name).iter().map(|v| String::from_utf8_lossy(v.as_bytes()));
            if name == http::header::SET_COOKIE {
                for value in values {
                    match Cookie::parse_set_cookie(&value) {
                        Ok(cookie) => cookies.push(cookie.to_rpc()),
                        Err(e) => tracing::warn!("{e}; the cookie was left out"),
                    }
                }
                continue;
            }
            let values: Vec<Cow<'_, str>> = values.collect();
            headers.insert(name.as_str().to_string(), values.join(", "));
        }
        RpcHttp {
            status_code: self.status.as_u16().to_string(),
            headers,
            body: Some(Box::new(typed(Data::Bytes(self.body)))),
            cookies,
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
        let req = HttpRequest::from_rpc(http).unwrap();
        assert_eq!(req.method(), Method::GET);
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
        let req = HttpRequest::from_rpc(http).unwrap();
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
        let req = HttpRequest::from_rpc(http).unwrap();
        assert_eq!(req.text(), "{not json");
        let err = req.json::<serde_json::Value>().unwrap_err().to_string();
        assert!(err.contains("the request body is not valid JSON"), "{err}");
        assert!(err.contains("line 1 column 2"), "{err}");
        let empty = HttpRequest::new(Method::POST, "http://h/").json::<serde_json::Value>().unwrap_err();
        assert!(empty.to_string().contains("request body is empty"));
    }

    #[test]
    fn response_to_rpc_http() {
        let res = HttpResponse::created()
            .with_header("x-test", "1")
            .with_cookie(
                Cookie::new("sid", "abc").with_path("/").with_http_only(true).with_same_site(SameSite::None),
            )
            .with_text("Hello, Ada!");
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
        let http = HttpResponse::ok().with_json(&serde_json::json!({"a": 1})).into_rpc();
        assert_eq!(http.headers["content-type"], "application/json");
        let explicit =
            HttpResponse::ok().with_header("Content-Type", "text/html").with_text("<p>").into_rpc();
        assert_eq!(explicit.headers.len(), 1);
        assert_eq!(explicit.headers["content-type"], "text/html");
    }

    #[test]
    fn headers_http_does_not_allow_are_errors_or_skipped() {
        let err = HttpResponse::ok().try_with_header("bad name", "x").unwrap_err();
        assert!(
            err.to_string().contains("header name \"bad name\" is not a valid HTTP header name"),
            "{err}"
        );
        let err = HttpResponse::ok().try_with_header("x-a", "line\nbreak").unwrap_err();
        assert!(err.to_string().contains("holds a line break"), "{err}");
        assert!(HttpResponse::ok().with_header("bad name", "x").headers().is_empty());
        let repeated = HttpResponse::ok().with_header("x-a", "1").with_header("X-A", "2");
        assert_eq!(repeated.headers()["x-a"], "2");
    }

    #[test]
    fn several_values_of_one_header_are_joined() {
        let mut res = HttpResponse::ok();
        res.headers_mut().append("vary", HeaderValue::from_static("origin"));
        res.headers_mut().append("vary", HeaderValue::from_static("accept"));
        assert_eq!(res.into_rpc().headers["vary"], "origin, accept");
    }

    #[test]
    fn added_headers_keep_every_value_and_set_cookie_headers_become_cookies() {
        let res = HttpResponse::ok()
            .with_cookie(Cookie::new("first", "1"))
            .with_added_header("Link", "</a>; rel=preload")
            .with_added_header("link", "</b>; rel=preload")
            .with_added_header("Set-Cookie", "sid=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age=60")
            .with_added_header("Set-Cookie", "theme=dark; Expires=Wed, 21 Oct 2037 07:28:00 GMT; Secure")
            .with_added_header("Set-Cookie", "gone=x; Max-Age=-1")
            .with_added_header("Set-Cookie", "no equals sign");
        let rpc = res.into_rpc();
        assert_eq!(rpc.headers["link"], "</a>; rel=preload, </b>; rel=preload");
        assert!(!rpc.headers.contains_key("set-cookie"), "{:?}", rpc.headers);
        let names: Vec<&str> = rpc.cookies.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["first", "sid", "theme", "gone"], "the unreadable one is left out");
        let sid = &rpc.cookies[1];
        assert_eq!(sid.path, Some(ns("/")));
        assert_eq!(sid.same_site, rpc_http_cookie::SameSite::Strict as i32);
        assert_eq!(sid.max_age, Some(NullableDouble { double: Some(nullable_double::Double::Value(60.0)) }));
        let theme = &rpc.cookies[2];
        let Some(NullableTimestamp { timestamp: Some(nullable_timestamp::Timestamp::Value(at)) }) =
            &theme.expires
        else {
            panic!("no Expires: {theme:?}")
        };
        assert_eq!(at.seconds, 2_139_722_880);
        assert_eq!(theme.secure, Some(NullableBool { bool: Some(nullable_bool::Bool::Value(true)) }));
        let gone = &rpc.cookies[3];
        assert_eq!(gone.max_age, Some(NullableDouble { double: Some(nullable_double::Double::Value(0.0)) }));
        let e = Cookie::parse_set_cookie("no equals sign").unwrap_err().to_string();
        assert!(e.contains("no equals sign") && e.contains("name=value"), "{e}");
    }

    #[test]
    fn an_unknown_method_from_the_host_is_an_error() {
        let http = RpcHttp { method: "GE T".into(), url: "http://h/".into(), ..RpcHttp::default() };
        let err = HttpRequest::from_rpc(http).unwrap_err();
        assert!(err.message.contains("method \"GE T\" is not an HTTP method"), "{err}");
    }
}

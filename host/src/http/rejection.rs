//! Every way an HTTP request can fail before the function's own response is sent, each with
//! the status and body it answers with. Bodies are plain text, start with `fnwire:` and say
//! what to do; a function's exception text never reaches the client (it can hold secrets or
//! internals), only the console.

use bytes::Bytes;
use http::{HeaderValue, Method, StatusCode, header};
use http_body_util::Full;

use crate::invoke::InvocationError;
use crate::supervisor::InvokeError;

/// Why a request got no answer from its function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejection {
    /// The worker is still starting.
    Starting,
    /// No worker can serve requests (the host is stopping, or gave up restarting the worker).
    Unavailable(String),
    /// An HTTP/1.1 request without `Host`.
    MissingHost,
    /// A request head ended a line with a bare LF, and `disableHttp1LineFeedTerminators` is set.
    BareLineFeed,
    /// No route matches the path.
    NotFound { path: String },
    /// The dashboard has its own port (`--dashboard-port`) and the request came to the other
    /// one: `what` is served on `port`.
    WrongPort { path: String, port: u16, what: &'static str },
    /// A route matches the path, but not the method.
    MethodNotAllowed { path: String, method: Method, allow: Vec<Method> },
    /// The function needs a key that the request did not present.
    Unauthorized,
    /// The body is larger than `--max-request-body`.
    TooLarge { limit: usize },
    /// Reading the body failed (the client went away, a malformed chunk).
    UnreadableBody(String),
    /// The body arrived slower than the minimum data rate.
    BodyTooSlow { bytes_per_second: u64 },
    /// The host holds as many request bodies (or body bytes) as its limits allow; `what` says
    /// which limit.
    Busy { what: String },
    /// The function failed to load when the host started.
    NotLoaded { function: String, invocation_id: String },
    /// The invocation ran (or was tried) and did not succeed. Boxed: every step of a request
    /// returns a `Rejection`, and this one is large.
    Invocation { function: String, invocation_id: String, error: Box<InvocationError> },
    /// The function needs the app's store, which does not answer (the reason).
    StoreUnavailable { function: String, reason: String },
}

/// A response with a plain-text body.
pub fn plain(status: StatusCode, text: impl Into<String>) -> http::Response<Full<Bytes>> {
    let mut r = http::Response::new(Full::new(Bytes::from(text.into())));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r
}

impl Rejection {
    /// The status this rejection answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Rejection::Starting
            | Rejection::Unavailable(_)
            | Rejection::Busy { .. }
            | Rejection::StoreUnavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Rejection::BodyTooSlow { .. } => StatusCode::REQUEST_TIMEOUT,
            Rejection::NotFound { .. } | Rejection::WrongPort { .. } => StatusCode::NOT_FOUND,
            Rejection::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Rejection::Unauthorized => StatusCode::UNAUTHORIZED,
            Rejection::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Rejection::UnreadableBody(_) | Rejection::MissingHost | Rejection::BareLineFeed => {
                StatusCode::BAD_REQUEST
            }
            Rejection::NotLoaded { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            Rejection::Invocation { error, .. } => match error.as_ref() {
                InvocationError::Worker(InvokeError::TimedOut(_)) => StatusCode::GATEWAY_TIMEOUT,
                InvocationError::Worker(InvokeError::Unavailable(_) | InvokeError::WorkerDied(_)) => {
                    StatusCode::SERVICE_UNAVAILABLE
                }
                InvocationError::Inputs(_)
                | InvocationError::Function { .. }
                | InvocationError::Outputs(_) => StatusCode::INTERNAL_SERVER_ERROR,
            },
        }
    }

    /// The body the client reads.
    pub fn body(&self) -> String {
        match self {
            Rejection::Starting => {
                "fnwire: the function app is still starting; try again in a moment\n".into()
            }
            Rejection::Unavailable(reason) => format!("fnwire: no worker is available: {reason}\n"),
            Rejection::MissingHost => {
                "fnwire: an HTTP/1.1 request must carry a Host header (RFC 9112); add one\n".into()
            }
            Rejection::BareLineFeed => "fnwire: a line of the request head ends with a bare LF; HTTP/1.1 \
                                          requires CRLF (RFC 9112 §2.2), and this host refuses bare LF \
                                          (extensions.fnwire.disableHttp1LineFeedTerminators in host.json)\n"
                .into(),
            Rejection::NotFound { path } => format!(
                "fnwire: no function is routed at {} (the routes are listed on the fnwire console)\n",
                shortened(path)
            ),
            Rejection::WrongPort { path, port, what } => {
                format!("fnwire: {} is not served on this port: {what} is on port {port}\n", shortened(path))
            }
            Rejection::MethodNotAllowed { path, method, allow } => {
                let (path, method) = (shortened(path), shortened(method.as_str()));
                format!("fnwire: {path} does not accept {method}; allowed: {}\n", allow_list(allow))
            }
            Rejection::Unauthorized => {
                "fnwire: this function requires a key (x-functions-key header or code query parameter)\n"
                    .into()
            }
            Rejection::TooLarge { limit } => {
                format!("fnwire: the request body is larger than the limit of {limit} bytes\n")
            }
            Rejection::UnreadableBody(e) => format!("fnwire: could not read the request body: {e}\n"),
            Rejection::BodyTooSlow { bytes_per_second } => format!(
                "fnwire: the request body arrived slower than {bytes_per_second} bytes per second; send it \
                 faster (the limit is extensions.fnwire.minRequestBodyDataRate in host.json)\n"
            ),
            Rejection::Busy { what } => format!(
                "fnwire: the host is busy: {what}; retry after the time in Retry-After (the limits are \
                 maxConcurrentRequestBodies and maxRequestBodyBytesInFlight in host.json's extensions.fnwire)\n"
            ),
            Rejection::StoreUnavailable { function, reason } => format!(
                "fnwire: function '{function}' needs the app's store, which does not answer ({reason}); nothing \
                 was done. fnwire checks it again with back-off: retry after the time in Retry-After\n"
            ),
            Rejection::NotLoaded { function, invocation_id } => format!(
                "fnwire: function '{function}' is not available (it failed to load); invocation id {invocation_id}. \
                 See the fnwire console for the reason.\n"
            ),
            Rejection::Invocation { function, invocation_id, error } => match error.as_ref() {
                InvocationError::Inputs(e) => {
                    format!(
                        "fnwire: function '{function}' could not run: {e}; invocation id {invocation_id}\n"
                    )
                }
                InvocationError::Worker(InvokeError::TimedOut(after)) => format!(
                    "fnwire: function '{function}' did not finish within functionTimeout ({after:?}); invocation id \
                     {invocation_id}\n"
                ),
                InvocationError::Worker(InvokeError::Unavailable(reason)) => {
                    format!("fnwire: no worker is available: {reason}\n")
                }
                InvocationError::Worker(InvokeError::WorkerDied(reason)) => format!(
                    "fnwire: no worker is available: the worker running this request stopped ({reason})\n"
                ),
                InvocationError::Function { cancelled, .. } => format!(
                    "fnwire: function '{function}' {}; invocation id {invocation_id}. See the fnwire console for \
                     details.\n",
                    if *cancelled { "was cancelled" } else { "failed" }
                ),
                InvocationError::Outputs(_) => format!(
                    "fnwire: function '{function}' ran, but its outputs could not be delivered; invocation id \
                     {invocation_id}. See the fnwire console.\n"
                ),
            },
        }
    }

    /// The response: status, plain-text body, and `Allow` for a wrong method.
    pub fn into_response(self) -> http::Response<Full<Bytes>> {
        let mut response = plain(self.status(), self.body());
        if let Rejection::MethodNotAllowed { allow, .. } = &self
            && let Ok(v) = HeaderValue::from_str(&allow_list(allow))
        {
            response.headers_mut().insert(header::ALLOW, v);
        }
        if matches!(self, Rejection::Busy { .. }) {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        if matches!(self, Rejection::StoreUnavailable { .. }) {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
        }
        response
    }
}

/// Text from the client, cut to a length that fits a log line or an error body: a request
/// can carry a method or path of many kilobytes.
pub fn shortened(text: &str) -> String {
    const MAX_CHARS: usize = 64;
    if text.chars().count() <= MAX_CHARS {
        return text.to_string();
    }
    let head: String = text.chars().take(MAX_CHARS).collect();
    format!("{head}… ({} bytes)", text.len())
}

fn allow_list(allow: &[Method]) -> String {
    allow.iter().map(Method::as_str).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bindings::BindingError;
    use std::time::Duration;

    fn invocation(error: InvocationError) -> Rejection {
        Rejection::Invocation { function: "f".into(), invocation_id: "inv".into(), error: Box::new(error) }
    }

    #[test]
    fn each_rejection_knows_its_status_and_body() {
        let cases = [
            (Rejection::Starting, 503, "still starting"),
            (Rejection::Unavailable("stopping".into()), 503, "no worker is available: stopping"),
            (Rejection::NotFound { path: "/api/x".into() }, 404, "no function is routed at /api/x"),
            (
                Rejection::WrongPort { path: "/admin/ui".into(), port: 7072, what: "the dashboard" },
                404,
                "/admin/ui is not served on this port: the dashboard is on port 7072",
            ),
            (Rejection::Unauthorized, 401, "requires a key"),
            (Rejection::MissingHost, 400, "must carry a Host header"),
            (Rejection::BareLineFeed, 400, "ends with a bare LF"),
            (Rejection::TooLarge { limit: 10 }, 413, "limit of 10 bytes"),
            (Rejection::UnreadableBody("reset".into()), 400, "could not read the request body: reset"),
            (
                Rejection::NotLoaded { function: "f".into(), invocation_id: "inv".into() },
                500,
                "failed to load",
            ),
            (
                invocation(InvocationError::Inputs(BindingError::Commit("blob input `b`".into()))),
                500,
                "could not run: blob input `b`",
            ),
            (invocation(InvokeError::TimedOut(Duration::from_secs(2)).into()), 504, "functionTimeout (2s)"),
            (invocation(InvokeError::Unavailable("restarting".into()).into()), 503, "available: restarting"),
            (invocation(InvokeError::WorkerDied("exit 1".into()).into()), 503, "stopped (exit 1)"),
            (
                invocation(InvocationError::Function { cancelled: true, message: "s".into() }),
                500,
                "was cancelled",
            ),
            (
                invocation(InvocationError::Outputs(BindingError::Commit("q".into()))),
                500,
                "outputs could not be delivered",
            ),
        ];
        for (rejection, status, text) in cases {
            let body = rejection.body();
            assert_eq!(rejection.status().as_u16(), status, "{rejection:?}");
            assert!(body.starts_with("fnwire: ") && body.contains(text), "{rejection:?}: {body}");
        }
    }

    #[test]
    fn the_function_error_text_stays_out_of_the_body() {
        let secret = "password=hunter2";
        let body = invocation(InvocationError::Function { cancelled: false, message: secret.into() }).body();
        assert!(body.contains("'f' failed; invocation id inv") && !body.contains(secret), "{body}");
    }

    #[test]
    fn a_wrong_method_lists_the_allowed_ones() {
        let r = Rejection::MethodNotAllowed {
            path: "/api/x".into(),
            method: Method::DELETE,
            allow: vec![Method::GET, Method::POST],
        }
        .into_response();
        assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(r.headers()[header::ALLOW], "GET, POST");
    }

    #[test]
    fn a_huge_method_or_path_is_not_echoed_whole() {
        let method = Method::from_bytes("X".repeat(70_000).as_bytes()).unwrap();
        let path = format!("/api/{}", "p".repeat(10_000));
        let body = Rejection::MethodNotAllowed { path, method, allow: vec![Method::GET] }.body();
        assert!(body.len() < 400, "{} bytes", body.len());
        assert!(body.contains("(70000 bytes)") && body.contains("allowed: GET"), "{body}");
    }

    #[test]
    fn busy_answers_carry_retry_after() {
        let r = Rejection::Busy { what: "2 request bodies".into() }.into_response();
        assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(r.headers()[header::RETRY_AFTER], "1");
        assert_eq!(Rejection::BodyTooSlow { bytes_per_second: 240 }.status(), StatusCode::REQUEST_TIMEOUT);
    }
}

//! Support for the Python and Node layers. Not a public API: names here change together with
//! `bindings-python` and `bindings-node`.
//!
//! The rules for what a function may send back live here once, so the three languages agree:
//! a status code is a whole number from 100 to 999, `SameSite` is `Strict`, `Lax` or `None`
//! (any case, anything else is an error), and cookie times cross the bridges in seconds
//! (`expires` since the Unix epoch, `max_age` as a duration).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::StatusCode;

pub use crate::convert::{json_of, kind_of, text_of};
use crate::http_binding::InvalidHttpValue;
use crate::{Cookie, HttpResponse, SameSite};

/// A status code from a language whose integers are wider than `u16`: 100 to 999, or an error
/// naming the value.
pub fn status_code(code: i64) -> Result<StatusCode, InvalidHttpValue> {
    u16::try_from(code).ok().and_then(|c| StatusCode::from_u16(c).ok()).ok_or_else(|| {
        InvalidHttpValue::new(format!(
            "status code {code} is not an HTTP status code; use a whole number from 100 to 999"
        ))
    })
}

/// A status code from a language whose numbers are floats (JavaScript): a whole number from 100
/// to 999, or the same error as [`status_code`].
pub fn status_code_from_number(code: f64) -> Result<StatusCode, InvalidHttpValue> {
    if code.is_finite() && code.fract() == 0.0 && code.abs() < 1e15 {
        status_code(code as i64)
    } else {
        Err(InvalidHttpValue::new(format!(
            "status code {code} is not an HTTP status code; use a whole number from 100 to 999"
        )))
    }
}

/// `SameSite` from its name, any case.
pub fn same_site(text: &str) -> Result<SameSite, InvalidHttpValue> {
    text.parse()
}

/// A cookie as the bridges carry it: times in seconds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CookieFields {
    /// The cookie's name.
    pub name: String,
    /// The cookie's value.
    pub value: String,
    /// `Domain`.
    pub domain: Option<String>,
    /// `Path`.
    pub path: Option<String>,
    /// `Expires`, in seconds since the Unix epoch (fractions allowed).
    pub expires: Option<f64>,
    /// `Secure`.
    pub secure: Option<bool>,
    /// `HttpOnly`.
    pub http_only: Option<bool>,
    /// `SameSite`, any case.
    pub same_site: Option<String>,
    /// `Max-Age`, in seconds.
    pub max_age: Option<f64>,
}

impl CookieFields {
    /// The checked cookie; the error names the cookie, the value and what is accepted.
    pub fn into_cookie(self) -> Result<Cookie, InvalidHttpValue> {
        let name = self.name;
        let in_cookie = |e: InvalidHttpValue| InvalidHttpValue::new(format!("cookie {name:?}: {e}"));
        let expires = match self.expires {
            None => None,
            Some(seconds) => Some(epoch_seconds(seconds).map_err(in_cookie)?),
        };
        let max_age = match self.max_age {
            None => None,
            Some(seconds) => Some(Duration::try_from_secs_f64(seconds).map_err(|_| {
                in_cookie(InvalidHttpValue::new(format!(
                    "max_age {seconds} is not a number of seconds; use 0 or more"
                )))
            })?),
        };
        let same_site = self.same_site.as_deref().map(same_site).transpose().map_err(in_cookie)?;
        Ok(Cookie {
            value: self.value,
            domain: self.domain,
            path: self.path,
            expires,
            secure: self.secure,
            http_only: self.http_only,
            same_site,
            max_age,
            name,
        })
    }
}

/// A point in time from seconds since the Unix epoch (before it when negative).
fn epoch_seconds(seconds: f64) -> Result<SystemTime, InvalidHttpValue> {
    let invalid = || {
        InvalidHttpValue::new(format!(
            "expires {seconds} is not a time; use seconds since the Unix epoch (or a date)"
        ))
    };
    let offset = Duration::try_from_secs_f64(seconds.abs()).map_err(|_| invalid())?;
    let at = if seconds >= 0.0 { UNIX_EPOCH.checked_add(offset) } else { UNIX_EPOCH.checked_sub(offset) };
    at.ok_or_else(invalid)
}

/// An HTTP response as the bridges carry it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ResponseFields {
    /// The status code, checked by [`status_code_from_number`] (integers of any language fit).
    pub status: f64,
    /// Name-value pairs, in order; every value of a repeated name is kept (`Set-Cookie`s become
    /// cookies), except `Content-Type`, where the last one wins.
    pub headers: Vec<(String, String)>,
    /// `Set-Cookie`s.
    pub cookies: Vec<CookieFields>,
    /// The body.
    pub body: Bytes,
    /// `Content-Type` to set when no header sets one.
    pub default_content_type: Option<&'static str>,
}

impl ResponseFields {
    /// The checked response; the error names the value and what is accepted.
    pub fn into_response(self) -> Result<HttpResponse, InvalidHttpValue> {
        let mut response = HttpResponse::new(status_code_from_number(self.status)?);
        for (name, value) in &self.headers {
            response = if name.eq_ignore_ascii_case("content-type") {
                response.try_with_header(name, value)?
            } else {
                response.try_with_added_header(name, value)?
            };
        }
        for cookie in self.cookies {
            response = response.with_cookie(cookie.into_cookie()?);
        }
        if let Some(content_type) = self.default_content_type {
            response = response.with_default_content_type(content_type);
        }
        Ok(response.with_body(self.body))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_codes_are_100_to_999() {
        assert_eq!(status_code(100).unwrap(), StatusCode::CONTINUE);
        assert_eq!(status_code(999).unwrap().as_u16(), 999);
        assert_eq!(status_code_from_number(204.0).unwrap(), StatusCode::NO_CONTENT);
        let err = status_code_from_number(200.5).unwrap_err().to_string();
        assert_eq!(err, "status code 200.5 is not an HTTP status code; use a whole number from 100 to 999");
        for bad in [99, 1000, -200, 0, i64::from(u16::MAX) + 200] {
            let err = status_code(bad).unwrap_err().to_string();
            assert_eq!(
                err,
                format!("status code {bad} is not an HTTP status code; use a whole number from 100 to 999")
            );
        }
    }

    #[test]
    fn same_site_ignores_case_and_rejects_the_rest() {
        assert_eq!(same_site("lax").unwrap(), SameSite::Lax);
        assert_eq!(same_site("STRICT").unwrap(), SameSite::Strict);
        assert_eq!(same_site("None").unwrap(), SameSite::None);
        let err = same_site("sometimes").unwrap_err().to_string();
        assert_eq!(err, "same_site \"sometimes\" is not a SameSite value; use Strict, Lax or None");
    }

    #[test]
    fn cookie_times_are_seconds() {
        let fields = CookieFields {
            name: "sid".into(),
            expires: Some(1_700_000_000.5),
            max_age: Some(90.0),
            same_site: Some("strict".into()),
            ..CookieFields::default()
        };
        let cookie = fields.into_cookie().unwrap();
        assert_eq!(cookie.expires, Some(UNIX_EPOCH + Duration::from_millis(1_700_000_000_500)));
        assert_eq!(cookie.max_age, Some(Duration::from_secs(90)));
        assert_eq!(cookie.same_site, Some(SameSite::Strict));
        let bad_age = CookieFields { name: "a".into(), max_age: Some(-1.0), ..CookieFields::default() };
        assert_eq!(
            bad_age.into_cookie().unwrap_err().to_string(),
            "cookie \"a\": max_age -1 is not a number of seconds; use 0 or more"
        );
        let bad_time = CookieFields { name: "a".into(), expires: Some(f64::NAN), ..CookieFields::default() };
        assert!(bad_time.into_cookie().unwrap_err().to_string().contains("expires NaN is not a time"));
    }

    #[test]
    fn responses_check_status_headers_and_set_a_default_type() {
        let fields = ResponseFields {
            status: 201.0,
            headers: vec![("X-One".into(), "1".into())],
            body: Bytes::from_static(b"hi"),
            default_content_type: Some("text/plain; charset=utf-8"),
            ..ResponseFields::default()
        };
        let response = fields.into_response().unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(response.headers()["x-one"], "1");
        assert_eq!(response.headers()["content-type"], "text/plain; charset=utf-8");
        let bad = ResponseFields { status: 42.0, ..ResponseFields::default() };
        assert!(bad.into_response().unwrap_err().to_string().starts_with("status code 42 "));
        let bad = ResponseFields {
            status: 200.0,
            headers: vec![("a b".into(), "x".into())],
            ..ResponseFields::default()
        };
        assert!(bad.into_response().unwrap_err().to_string().contains("header name \"a b\""));
    }
}

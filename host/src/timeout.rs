//! `functionTimeout` from `host.json`.
//!
//! The value is a .NET TimeSpan, `"hh:mm:ss"` (also `"d.hh:mm:ss"` and fractional seconds);
//! `"-1"` (or `-1`) means no limit. Without it, fnwire uses 30 minutes, Azure's default outside
//! the Consumption plan.

use std::path::Path;
use std::time::Duration;

use crate::config::{ConfigError, read_host_json};

/// The limit when `host.json` sets none.
pub const DEFAULT_FUNCTION_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// A `functionTimeout` value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FunctionTimeoutError {
    #[error("functionTimeout must be \"hh:mm:ss\" or -1, found `{0}`")]
    NotText(String),
    #[error("functionTimeout `{0}` is not \"hh:mm:ss\" (e.g. \"00:05:00\") or -1 (no limit)")]
    Malformed(String),
    #[error("functionTimeout `{0}` is zero; use a positive duration or -1 (no limit)")]
    Zero(String),
}

/// Parses a `functionTimeout` value; `Ok(None)` means unlimited.
pub fn parse_function_timeout(value: &serde_json::Value) -> Result<Option<Duration>, FunctionTimeoutError> {
    let text = match value {
        serde_json::Value::String(s) => s.trim().to_string(),
        serde_json::Value::Number(n) => n.to_string(),
        other => return Err(FunctionTimeoutError::NotText(other.to_string())),
    };
    if text == "-1" {
        return Ok(None);
    }
    let bad = || FunctionTimeoutError::Malformed(text.clone());
    let (days, rest) = match text.split_once('.') {
        Some((d, r)) if !d.contains(':') => (d.parse::<u64>().map_err(|_| bad())?, r),
        _ => (0, text.as_str()),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let [h, m, s] = parts.as_slice() else { return Err(bad()) };
    let h: u64 = h.parse().map_err(|_| bad())?;
    let m: u64 = m.parse().map_err(|_| bad())?;
    let s: f64 = s.parse().map_err(|_| bad())?;
    if m >= 60 || !(0.0..60.0).contains(&s) {
        return Err(bad());
    }
    let total = Duration::from_secs(days * 86400 + h * 3600 + m * 60) + Duration::from_secs_f64(s);
    if total.is_zero() {
        return Err(FunctionTimeoutError::Zero(text));
    }
    Ok(Some(total))
}

/// Reads `functionTimeout` from `<app>/host.json` (default [`DEFAULT_FUNCTION_TIMEOUT`]).
pub fn read_function_timeout(app_dir: &Path) -> Result<Option<Duration>, ConfigError> {
    let doc = read_host_json(app_dir)?;
    match doc.get("functionTimeout") {
        None | Some(serde_json::Value::Null) => Ok(Some(DEFAULT_FUNCTION_TIMEOUT)),
        Some(v) => parse_function_timeout(v).map_err(|e| ConfigError::HostJsonValue {
            path: app_dir.join("host.json"),
            message: e.to_string(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_timespans_and_unlimited() {
        assert_eq!(parse_function_timeout(&json!("00:05:00")), Ok(Some(Duration::from_secs(300))));
        assert_eq!(parse_function_timeout(&json!("00:00:01.5")), Ok(Some(Duration::from_millis(1500))));
        assert_eq!(parse_function_timeout(&json!("1.00:00:00")), Ok(Some(Duration::from_secs(86400))));
        assert_eq!(parse_function_timeout(&json!("-1")), Ok(None));
        assert_eq!(parse_function_timeout(&json!(-1)), Ok(None));
        assert!(parse_function_timeout(&json!("5 minutes")).unwrap_err().to_string().contains("5 minutes"));
        assert!(parse_function_timeout(&json!("00:61:00")).is_err());
        assert!(parse_function_timeout(&json!("00:00:00")).unwrap_err().to_string().contains("zero"));
        assert!(parse_function_timeout(&json!(true)).is_err());
    }

    #[test]
    fn reads_host_json_with_the_default() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_function_timeout(dir.path()).unwrap(), Some(DEFAULT_FUNCTION_TIMEOUT));
        std::fs::write(dir.path().join("host.json"), r#"{"version":"2.0","functionTimeout":"00:00:02"}"#)
            .unwrap();
        assert_eq!(read_function_timeout(dir.path()).unwrap(), Some(Duration::from_secs(2)));
        std::fs::write(dir.path().join("host.json"), r#"{"functionTimeout":"soon"}"#).unwrap();
        let e = read_function_timeout(dir.path()).unwrap_err().to_string();
        assert!(e.contains("host.json") && e.contains("soon"), "{e}");
    }
}

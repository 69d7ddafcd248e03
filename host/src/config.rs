//! Reading the app's configuration: `host.json` and app settings. Every reader of host.json
//! shares [`read_host_json`], and every way a setting can be wrong is a [`ConfigError`] that
//! names the file or setting, the value found, and what is expected.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// A setting of `host.json` or of the app settings cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// `host.json` exists but is not JSON.
    #[error("`{}` is not valid JSON; fix it or delete it", path.display())]
    HostJsonSyntax {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// A value in `host.json` has the wrong type or range (`message` names the key).
    #[error("`{}`: {message}", path.display())]
    HostJsonValue { path: PathBuf, message: String },
    /// A value in a `host.json` extension section (`message` names the key).
    #[error("host.json: {message}")]
    Extension { message: String },
    /// An app setting (or environment variable) has a value fnwire cannot use.
    #[error("{name} is `{value}`; it must be {expected}")]
    Setting { name: &'static str, value: String, expected: &'static str },
}

/// The app's `host.json`, or `null` when there is none (or it cannot be read: every setting
/// then has its default).
pub fn read_host_json(app_dir: &Path) -> Result<Value, ConfigError> {
    let path = app_dir.join("host.json");
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(Value::Null) };
    serde_json::from_str(&text).map_err(|source| ConfigError::HostJsonSyntax { path, source })
}

/// An app setting, else the environment variable of the same name.
pub fn setting(settings: &BTreeMap<String, String>, name: &str) -> Option<String> {
    settings.get(name).cloned().or_else(|| std::env::var(name).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_json_is_optional_but_must_be_json_when_present() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_host_json(dir.path()).unwrap(), Value::Null);
        std::fs::write(dir.path().join("host.json"), "{ nope").unwrap();
        let e = read_host_json(dir.path()).unwrap_err();
        assert!(e.to_string().contains("host.json") && e.to_string().contains("not valid JSON"), "{e}");
        assert!(std::error::Error::source(&e).is_some(), "the parser's message is kept as the cause");
    }
}

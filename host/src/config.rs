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

/// A log level as host.json `logging.logLevel` spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// `None`: nothing.
    Off,
    /// `Critical` and `Error` (the console has no separate critical level).
    Error,
    Warning,
    Information,
    Debug,
    Trace,
}

impl LogLevel {
    fn parse(text: &str) -> Option<LogLevel> {
        Some(match text.trim().to_ascii_lowercase().as_str() {
            "none" => LogLevel::Off,
            "critical" | "error" => LogLevel::Error,
            "warning" => LogLevel::Warning,
            "information" => LogLevel::Information,
            "debug" => LogLevel::Debug,
            "trace" => LogLevel::Trace,
            _ => return None,
        })
    }
}

/// host.json `logging.logLevel`, as Azure reads it: a level per category, the most specific key
/// winning (`Function.hello` over `Function` over `default`), keys compared without case.
///
/// fnwire's categories: `Function.<name>` for an invocation's `Executing`/`Executed` lines,
/// `Function.<name>.User` for the function's own logs, `Host.Worker` for what the worker process
/// prints, and `Host.General` for everything else the host says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLevels {
    default: LogLevel,
    /// `(lower-cased category prefix, level)`.
    rules: Vec<(String, LogLevel)>,
}

impl Default for LogLevels {
    fn default() -> Self {
        LogLevels { default: LogLevel::Information, rules: Vec::new() }
    }
}

impl LogLevels {
    /// Reads `logging.logLevel` from a host.json document (defaults when it has none).
    pub fn from_host_json(doc: &Value) -> Result<LogLevels, ConfigError> {
        let mut levels = LogLevels::default();
        let Some(section) = doc.pointer("/logging/logLevel").filter(|v| !v.is_null()) else {
            return Ok(levels);
        };
        let Some(section) = section.as_object() else {
            return Err(ConfigError::Extension {
                message: format!(
                    "logging.logLevel must be an object of category: level, e.g. {{\"default\": \"Information\"}}, \
                     found `{section}`"
                ),
            });
        };
        for (key, value) in section {
            let level = value.as_str().and_then(LogLevel::parse).ok_or_else(|| ConfigError::Extension {
                message: format!(
                    "logging.logLevel.{key} is `{value}`; use Trace, Debug, Information, Warning, Error, Critical or \
                     None"
                ),
            })?;
            if key.eq_ignore_ascii_case("default") {
                levels.default = level;
            } else {
                levels.rules.push((key.to_ascii_lowercase(), level));
            }
        }
        // Longest first: the first rule that matches is the most specific.
        levels.rules.sort_by_key(|(key, _)| std::cmp::Reverse(key.len()));
        Ok(levels)
    }

    /// The level of `category` (e.g. `Function.hello.User`).
    pub fn level_for(&self, category: &str) -> LogLevel {
        let matches = |key: &str| {
            category.len() >= key.len()
                && category[..key.len()].eq_ignore_ascii_case(key)
                && (category.len() == key.len() || category.as_bytes()[key.len()] == b'.')
        };
        self.rules.iter().find(|(key, _)| matches(key)).map(|(_, level)| *level).unwrap_or(self.default)
    }

    /// The one level every category has, when no key but `default` is set.
    pub fn uniform(&self) -> Option<LogLevel> {
        self.rules.is_empty().then_some(self.default)
    }

    /// The most detailed level any category has.
    pub fn most_detailed(&self) -> LogLevel {
        self.rules.iter().map(|(_, level)| *level).chain([self.default]).max().unwrap_or(self.default)
    }
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

    #[test]
    fn log_levels_pick_the_most_specific_category() {
        let doc = serde_json::json!({"logging": {"logLevel": {
            "default": "Warning", "Function": "Error", "function.hello": "Debug", "Function.hello.User": "None",
            "Host.Worker": "critical"}}});
        let levels = LogLevels::from_host_json(&doc).unwrap();
        assert_eq!(levels.level_for("Host.General"), LogLevel::Warning);
        assert_eq!(levels.level_for("Host.Worker"), LogLevel::Error);
        assert_eq!(levels.level_for("Function.other"), LogLevel::Error);
        assert_eq!(levels.level_for("Function.hello"), LogLevel::Debug);
        assert_eq!(levels.level_for("Function.hello.User"), LogLevel::Off);
        assert_eq!(levels.level_for("Function.hellothere"), LogLevel::Error, "a key matches whole segments");
        assert_eq!(levels.most_detailed(), LogLevel::Debug);
        assert_eq!(LogLevels::from_host_json(&Value::Null).unwrap(), LogLevels::default());
        let e =
            LogLevels::from_host_json(&serde_json::json!({"logging": {"logLevel": {"Function": "loud"}}}))
                .unwrap_err()
                .to_string();
        assert!(e.contains("logging.logLevel.Function") && e.contains("loud"), "{e}");
    }
}

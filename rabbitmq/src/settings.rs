//! What the RabbitMQ bindings read from the app: `extensions.rabbitMQ` in `host.json` and the
//! `amqp://` URI held by the setting a binding's `connectionStringSetting` names.

use std::str::FromStr;

use lapin::uri::{AMQPScheme, AMQPUri};
use serde_json::Value;

/// Azure's default `extensions.rabbitMQ.prefetchCount`.
pub const DEFAULT_PREFETCH_COUNT: u16 = 30;
/// How many times a message is tried before it is set aside. Azure's extension has this
/// number fixed at 5; fnwire reads it from `extensions.rabbitMQ.maxDeliveryCount`.
pub const DEFAULT_MAX_DELIVERY_COUNT: u32 = 5;
/// The header in which Azure's extension counts the failed attempts of a republished message.
pub const REQUEUE_COUNT_HEADER: &str = "x-ms-rabbitmq-requeuecount";
/// Suffix of the queue that takes messages which failed `maxDeliveryCount` times.
pub const POISON_SUFFIX: &str = "-poison";

/// Where a message goes after its last failed attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PoisonHandling {
    /// Published to `<queue>-poison` (declared durable if missing), then acknowledged.
    #[default]
    PoisonQueue,
    /// Rejected without requeue, so the broker hands it to the queue's dead-letter exchange
    /// (and drops it if the queue has none), as Azure's extension does.
    DeadLetterExchange,
}

/// `extensions.rabbitMQ` of `host.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionOptions {
    /// Messages the broker sends before any is acknowledged (AMQP `basic.qos`).
    pub prefetch_count: u16,
    /// Attempts before a message is set aside (see [`PoisonHandling`]).
    pub max_delivery_count: u32,
    pub poison_handling: PoisonHandling,
    /// The URI used by bindings without `connectionStringSetting` (Azure's
    /// `extensions.rabbitMQ.connectionString`).
    pub connection_string: Option<String>,
}

impl Default for ExtensionOptions {
    fn default() -> Self {
        ExtensionOptions {
            prefetch_count: DEFAULT_PREFETCH_COUNT,
            max_delivery_count: DEFAULT_MAX_DELIVERY_COUNT,
            poison_handling: PoisonHandling::default(),
            connection_string: None,
        }
    }
}

/// A RabbitMQ setting that cannot be used. Each message names the setting and what to write.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("host.json: extensions.rabbitMQ.{key} {expected}, found `{found}`")]
    HostJson { key: &'static str, expected: &'static str, found: String },
    #[error(
        "the setting `{setting}` (named by connectionStringSetting) is not set; add it to local.settings.json \
         (Values) or the environment, holding an amqp:// URI such as amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    MissingSetting { setting: String },
    #[error(
        "no RabbitMQ connection: set the binding's connectionStringSetting to the name of a setting holding an \
         amqp:// URI, or set extensions.rabbitMQ.connectionString in host.json"
    )]
    NoConnection,
    #[error(
        "the setting `{setting}` does not hold a usable RabbitMQ URI (`{shown}`): {reason}. Write it as \
         amqp://user:password@host:5672/vhost, e.g. amqp://guest:guest@127.0.0.1:5672/%2f"
    )]
    InvalidUri { setting: String, shown: String, reason: String },
}

fn get<'a>(section: &'a serde_json::Map<String, Value>, key: &str) -> Option<&'a Value> {
    // host.json keys are case-insensitive in Azure's configuration.
    section.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v).filter(|v| !v.is_null())
}

impl ExtensionOptions {
    /// Reads the `extensions.rabbitMQ` object (`None` when `host.json` has none).
    pub fn from_section(section: Option<&Value>) -> Result<Self, SettingsError> {
        let mut options = ExtensionOptions::default();
        let Some(section) = section.filter(|v| !v.is_null()) else { return Ok(options) };
        let Some(section) = section.as_object() else {
            return Err(SettingsError::HostJson {
                key: "",
                expected: "must be an object",
                found: section.to_string(),
            });
        };
        if let Some(v) = get(section, "prefetchCount") {
            options.prefetch_count =
                v.as_u64().filter(|n| (1..=u64::from(u16::MAX)).contains(n)).map(|n| n as u16).ok_or_else(
                    || SettingsError::HostJson {
                        key: "prefetchCount",
                        expected: "must be a whole number from 1 to 65535",
                        found: v.to_string(),
                    },
                )?;
        }
        if let Some(v) = get(section, "maxDeliveryCount") {
            options.max_delivery_count =
                v.as_u64().filter(|n| (1..=1000).contains(n)).map(|n| n as u32).ok_or_else(|| {
                    SettingsError::HostJson {
                        key: "maxDeliveryCount",
                        expected: "must be a whole number from 1 to 1000",
                        found: v.to_string(),
                    }
                })?;
        }
        if let Some(v) = get(section, "poisonHandling") {
            options.poison_handling = match v.as_str().map(str::to_ascii_lowercase).as_deref() {
                Some("poisonqueue") => PoisonHandling::PoisonQueue,
                Some("deadletterexchange") => PoisonHandling::DeadLetterExchange,
                _ => {
                    return Err(SettingsError::HostJson {
                        key: "poisonHandling",
                        expected: "must be \"poisonQueue\" or \"deadLetterExchange\"",
                        found: v.to_string(),
                    });
                }
            };
        }
        if let Some(v) = get(section, "connectionString") {
            let text = v.as_str().ok_or_else(|| SettingsError::HostJson {
                key: "connectionString",
                expected: "must be a string (an amqp:// URI)",
                found: v.to_string(),
            })?;
            options.connection_string = Some(text.to_string()).filter(|s| !s.trim().is_empty());
        }
        Ok(options)
    }
}

/// A broker to connect to. `Debug` and `Display` show the URI without its password.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    uri: String,
    shown: String,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

/// `uri` with the password (between `user:` and `@`) replaced, for logs and errors.
fn redact(uri: &str) -> String {
    let Some((scheme, rest)) = uri.split_once("://") else { return uri.to_string() };
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => match userinfo.split_once(':') {
            Some((user, _)) => format!("{scheme}://{user}:***@{host}{tail}"),
            None => uri.to_string(),
        },
        None => uri.to_string(),
    }
}

impl Endpoint {
    /// Checks the URI held by `setting`: it must parse as AMQP and use `amqp://` (fnwire is
    /// built without TLS).
    pub fn parse(setting: &str, value: &str) -> Result<Endpoint, SettingsError> {
        let value = value.trim();
        let shown = redact(value);
        let invalid = |reason: String| SettingsError::InvalidUri {
            setting: setting.to_string(),
            shown: shown.clone(),
            reason,
        };
        if !value.contains("://") {
            return Err(invalid("it is not a URI".into()));
        }
        let parsed = AMQPUri::from_str(value).map_err(invalid)?;
        if parsed.scheme == AMQPScheme::AMQPS {
            return Err(invalid("amqps:// (TLS) is not supported by fnwire; use amqp://".into()));
        }
        if parsed.authority.host.is_empty() {
            return Err(invalid("it names no host".into()));
        }
        Ok(Endpoint { uri: value.to_string(), shown })
    }

    /// Resolves a binding's connection: the setting its `connectionStringSetting` names, or
    /// `extensions.rabbitMQ.connectionString`.
    pub fn resolve(
        connection_string_setting: Option<&str>,
        options: &ExtensionOptions,
        setting: impl Fn(&str) -> Option<String>,
    ) -> Result<Endpoint, SettingsError> {
        match connection_string_setting.map(str::trim).filter(|s| !s.is_empty()) {
            Some(name) => {
                let value = setting(name)
                    .filter(|v| !v.trim().is_empty())
                    .ok_or_else(|| SettingsError::MissingSetting { setting: name.to_string() })?;
                Endpoint::parse(name, &value)
            }
            None => match &options.connection_string {
                Some(uri) => Endpoint::parse("extensions.rabbitMQ.connectionString", uri),
                None => Err(SettingsError::NoConnection),
            },
        }
    }

    pub(crate) fn uri(&self) -> &str {
        &self.uri
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn host_json_options_with_defaults_and_checks() {
        assert_eq!(ExtensionOptions::from_section(None).unwrap(), ExtensionOptions::default());
        let o = ExtensionOptions::from_section(Some(&json!({
            "PrefetchCount": 4, "maxDeliveryCount": 2, "poisonHandling": "deadLetterExchange",
            "connectionString": "amqp://h"
        })))
        .unwrap();
        assert_eq!(o.prefetch_count, 4);
        assert_eq!(o.max_delivery_count, 2);
        assert_eq!(o.poison_handling, PoisonHandling::DeadLetterExchange);
        assert_eq!(o.connection_string.as_deref(), Some("amqp://h"));
        for (bad, key) in [
            (json!({"prefetchCount": 0}), "prefetchCount"),
            (json!({"prefetchCount": "10"}), "prefetchCount"),
            (json!({"maxDeliveryCount": 0}), "maxDeliveryCount"),
            (json!({"poisonHandling": "drop"}), "poisonHandling"),
        ] {
            let e = ExtensionOptions::from_section(Some(&bad)).unwrap_err().to_string();
            assert!(e.contains(key), "{e}");
        }
    }

    #[test]
    fn uris_are_checked_and_passwords_never_shown() {
        let e = Endpoint::parse("Rabbit", "amqp://guest:secret@127.0.0.1:5672/%2f").unwrap();
        assert_eq!(e.to_string(), "amqp://guest:***@127.0.0.1:5672/%2f");
        assert_eq!(format!("{e:?}"), "amqp://guest:***@127.0.0.1:5672/%2f");
        let err = Endpoint::parse("Rabbit", "amqps://u:secret@host/").unwrap_err().to_string();
        assert!(err.contains("`Rabbit`") && err.contains("amqps") && !err.contains("secret"), "{err}");
        let err = Endpoint::parse("Rabbit", "localhost:5672").unwrap_err().to_string();
        assert!(err.contains("not a URI"), "{err}");
        let err = Endpoint::parse("Rabbit", "amqp://u:p@host:notaport/").unwrap_err().to_string();
        assert!(err.contains("`Rabbit`") && !err.contains(":p@"), "{err}");
    }

    #[test]
    fn a_binding_names_its_setting_or_falls_back_to_host_json() {
        let none = |_: &str| None;
        let e = Endpoint::resolve(Some("RabbitConn"), &ExtensionOptions::default(), none).unwrap_err();
        assert!(e.to_string().contains("`RabbitConn`"), "{e}");
        let e = Endpoint::resolve(None, &ExtensionOptions::default(), none).unwrap_err();
        assert_eq!(e, SettingsError::NoConnection);
        let options =
            ExtensionOptions { connection_string: Some("amqp://127.0.0.1".into()), ..Default::default() };
        assert!(Endpoint::resolve(None, &options, none).is_ok());
        let got = Endpoint::resolve(Some("C"), &options, |n| (n == "C").then(|| "amqp://h:1/v".into()));
        assert_eq!(got.unwrap().to_string(), "amqp://h:1/v");
    }
}

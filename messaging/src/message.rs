//! A Service Bus message as fnwire stores and delivers it: the body, the broker-defined system
//! properties a sender may set, and the application (user) properties.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The value of an application property, or of a filter expression. Service Bus properties
/// are strings, 64-bit integers, doubles and booleans; `Null` is a property set to null
/// (it exists, and `IS NULL` holds).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Value {
    Null,
    Bool(bool),
    Long(i64),
    Double(f64),
    Str(String),
}

impl Value {
    /// The value from a JSON scalar; arrays and objects are not property values.
    pub fn from_json(v: &serde_json::Value) -> Option<Value> {
        Some(match v {
            serde_json::Value::Null => Value::Null,
            serde_json::Value::Bool(b) => Value::Bool(*b),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => Value::Long(i),
                None => Value::Double(n.as_f64()?),
            },
            serde_json::Value::String(s) => Value::Str(s.clone()),
            _ => return None,
        })
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Value::Null => serde_json::Value::Null,
            Value::Bool(b) => serde_json::Value::Bool(*b),
            Value::Long(i) => serde_json::Value::from(*i),
            Value::Double(d) => serde_json::Number::from_f64(*d).map_or(serde_json::Value::Null, Into::into),
            Value::Str(s) => serde_json::Value::String(s.clone()),
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_string())
    }
}

impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Long(i)
    }
}

impl From<f64> for Value {
    fn from(d: f64) -> Self {
        Value::Double(d)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

/// The broker properties a sender sets (Service Bus names them; filters read them as `sys.*`).
/// Properties the broker assigns at enqueue (sequence number, enqueued time, delivery count)
/// live with the stored copy, not here.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SystemProperties {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub correlation_id: Option<String>,
    /// `Subject` in the current SDKs, `Label` in the older ones and in filters.
    #[serde(skip_serializing_if = "Option::is_none", alias = "Label")]
    pub subject: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reply_to_session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub partition_key: Option<String>,
    /// Milliseconds; the topic's default when unset.
    #[serde(skip_serializing_if = "Option::is_none", rename = "TimeToLiveMs")]
    pub time_to_live_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub scheduled_enqueue_time_utc: Option<DateTime<Utc>>,
}

/// The system properties a filter or an action may name, as `sys.<name>` (case-insensitive).
/// Naming any other is refused when the rule is created, as Service Bus refuses it.
pub const SETTABLE_SYSTEM_PROPERTIES: &[&str] = &[
    "MessageId",
    "ContentType",
    "CorrelationId",
    "Label",
    "Subject",
    "To",
    "ReplyTo",
    "ReplyToSessionId",
    "SessionId",
    "PartitionKey",
];

impl SystemProperties {
    fn slot(&mut self, name: &str) -> Option<&mut Option<String>> {
        Some(match name.to_ascii_lowercase().as_str() {
            "messageid" => &mut self.message_id,
            "contenttype" => &mut self.content_type,
            "correlationid" => &mut self.correlation_id,
            "label" | "subject" => &mut self.subject,
            "to" => &mut self.to,
            "replyto" => &mut self.reply_to,
            "replytosessionid" => &mut self.reply_to_session_id,
            "sessionid" => &mut self.session_id,
            "partitionkey" => &mut self.partition_key,
            _ => return None,
        })
    }

    /// A system property by its filter name (`Label`, `MessageId`…), if known and set.
    pub fn get(&self, name: &str) -> Option<&str> {
        match name.to_ascii_lowercase().as_str() {
            "messageid" => self.message_id.as_deref(),
            "contenttype" => self.content_type.as_deref(),
            "correlationid" => self.correlation_id.as_deref(),
            "label" | "subject" => self.subject.as_deref(),
            "to" => self.to.as_deref(),
            "replyto" => self.reply_to.as_deref(),
            "replytosessionid" => self.reply_to_session_id.as_deref(),
            "sessionid" => self.session_id.as_deref(),
            "partitionkey" => self.partition_key.as_deref(),
            _ => None,
        }
    }

    /// Sets (or with `None` clears) a system property; false when the name is not one.
    pub fn set(&mut self, name: &str, value: Option<String>) -> bool {
        match self.slot(name) {
            Some(slot) => {
                *slot = value;
                true
            }
            None => false,
        }
    }

    /// Whether `name` is a system property filters may use.
    pub fn is_known(name: &str) -> bool {
        SystemProperties::default().slot(name).is_some()
    }

    pub fn time_to_live(&self) -> Option<Duration> {
        self.time_to_live_ms.map(Duration::from_millis)
    }
}

/// A message as sent: what a subscription's rule filters and its action changes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Message {
    pub body: Vec<u8>,
    pub system: SystemProperties,
    /// Application properties (`ApplicationProperties`, formerly `UserProperties`).
    pub properties: BTreeMap<String, Value>,
}

impl Message {
    pub fn new(body: impl Into<Vec<u8>>) -> Self {
        Message { body: body.into(), ..Message::default() }
    }

    pub fn with_property(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.properties.insert(name.to_string(), value.into());
        self
    }

    pub fn with_system(mut self, name: &str, value: &str) -> Self {
        self.system.set(name, Some(value.to_string()));
        self
    }

    /// The application properties as a JSON object (the shape of `ApplicationProperties`).
    pub fn properties_json(&self) -> serde_json::Value {
        serde_json::Value::Object(self.properties.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
    }
}

/// The key of the JSON envelope an output uses to set a message's properties:
/// `{"$serviceBus": {"body": …, "applicationProperties": {…}, "correlationId": "…", …}}`.
/// Any other JSON value is the body itself.
pub const ENVELOPE_KEY: &str = "$serviceBus";

/// Why an output value is not a message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the {ENVELOPE_KEY} envelope is not valid: {0}")]
pub struct EnvelopeError(pub String);

impl Message {
    /// The message an output value stands for: an envelope (see [`ENVELOPE_KEY`]) sets the
    /// body and properties; any other JSON is the body (a string as its text, anything else
    /// as JSON text).
    pub fn from_output_json(value: &serde_json::Value) -> Result<Message, EnvelopeError> {
        let Some(envelope) = value.as_object().filter(|o| o.len() == 1).and_then(|o| o.get(ENVELOPE_KEY))
        else {
            return Ok(Message::new(match value {
                serde_json::Value::String(s) => s.clone().into_bytes(),
                other => other.to_string().into_bytes(),
            }));
        };
        let Some(fields) = envelope.as_object() else {
            return Err(EnvelopeError(format!("`{ENVELOPE_KEY}` must hold an object, found `{envelope}`")));
        };
        let mut m = Message::default();
        for (key, v) in fields {
            let text = || match v {
                serde_json::Value::String(s) => Ok(s.clone()),
                other => Err(EnvelopeError(format!("`{key}` must be a string, found `{other}`"))),
            };
            match key.to_ascii_lowercase().as_str() {
                "body" => {
                    m.body = match v {
                        serde_json::Value::String(s) => s.clone().into_bytes(),
                        other => other.to_string().into_bytes(),
                    }
                }
                "applicationproperties" | "userproperties" => {
                    let Some(props) = v.as_object() else {
                        return Err(EnvelopeError(format!("`{key}` must be an object, found `{v}`")));
                    };
                    for (name, value) in props {
                        let value = Value::from_json(value).ok_or_else(|| {
                            EnvelopeError(format!(
                                "application property `{name}` must be a string, number, boolean or null, found `{value}`"
                            ))
                        })?;
                        m.properties.insert(name.clone(), value);
                    }
                }
                "timetolive" => {
                    let ms = match v {
                        serde_json::Value::Number(n) => n.as_u64(),
                        serde_json::Value::String(s) => {
                            crate::entities::parse_duration(s).map(|d| d.as_millis() as u64)
                        }
                        _ => None,
                    };
                    m.system.time_to_live_ms = Some(ms.filter(|ms| *ms > 0).ok_or_else(|| {
                        EnvelopeError(format!(
                            "`timeToLive` must be milliseconds or a time span (PT5M, 00:05:00), found `{v}`"
                        ))
                    })?);
                }
                "scheduledenqueuetimeutc" | "scheduledenqueuetime" => {
                    let t = text()?;
                    let when = DateTime::parse_from_rfc3339(&t)
                        .map_err(|e| EnvelopeError(format!("`{key}` `{t}` is not an RFC 3339 time: {e}")))?;
                    m.system.scheduled_enqueue_time_utc = Some(when.with_timezone(&Utc));
                }
                name => {
                    let value = text()?;
                    if !m.system.set(name, Some(value)) {
                        return Err(EnvelopeError(format!(
                            "`{key}` is not a message property (use body, applicationProperties, contentType, correlationId, \
                             messageId, subject, to, replyTo, replyToSessionId, sessionId, partitionKey, timeToLive, \
                             scheduledEnqueueTimeUtc)"
                        )));
                    }
                }
            }
        }
        Ok(m)
    }
}

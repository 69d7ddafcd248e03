//! Service Bus messages ([`ServiceBusMessage`]): the trigger's input, and what a
//! `#[service_bus_output]` sends with its properties.

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use fnwire_protocol::rpc::TypedData;
use fnwire_protocol::rpc::typed_data::Data;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use crate::FunctionError;
use crate::convert::{IntoTypedData, kind_of, parse_json, text_of, typed};

/// A Service Bus message. As a trigger parameter it holds the message with what the host sends
/// beside it (delivery count, sequence number, times, lock token); as an output value it is
/// sent with its body, application properties and system properties (the received-only fields
/// are not sent).
///
/// ```
/// use fnwire::ServiceBusMessage;
/// let order = ServiceBusMessage::json(&serde_json::json!({"id": 7, "total": 150}))
///     .unwrap()
///     .with_property("type", "order")
///     .with_property("total", 150)
///     .with_correlation_id("cart-42");
/// assert_eq!(order.application_properties["total"], 150);
/// ```
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServiceBusMessage {
    /// The message content.
    pub body: Bytes,
    /// Application (user) properties: strings, numbers, booleans or null.
    pub application_properties: BTreeMap<String, Value>,
    /// `MessageId` (the broker gives one when a sender sets none).
    pub message_id: Option<String>,
    /// `ContentType`, e.g. `application/json`.
    pub content_type: Option<String>,
    /// `CorrelationId`.
    pub correlation_id: Option<String>,
    /// `Subject` (`Label` in older SDKs).
    pub subject: Option<String>,
    /// `To`.
    pub to: Option<String>,
    /// `ReplyTo`.
    pub reply_to: Option<String>,
    /// `ReplyToSessionId`.
    pub reply_to_session_id: Option<String>,
    /// `SessionId`.
    pub session_id: Option<String>,
    /// `PartitionKey`.
    pub partition_key: Option<String>,
    /// Time to live in milliseconds (sent only).
    pub time_to_live_ms: Option<u64>,
    /// Deliver no earlier than this RFC 3339 time.
    pub scheduled_enqueue_time_utc: Option<String>,
    /// Deliveries so far, this one included (received only).
    pub delivery_count: i64,
    /// The broker's number for the message (received only).
    pub sequence_number: i64,
    /// When it was enqueued, RFC 3339 (received only).
    pub enqueued_time_utc: Option<String>,
    /// When it expires, RFC 3339 (received only).
    pub expires_at_utc: Option<String>,
    /// The lock this delivery holds (received only).
    pub lock_token: Option<String>,
}

impl ServiceBusMessage {
    /// A message with this body.
    pub fn new(body: impl Into<Bytes>) -> Self {
        ServiceBusMessage { body: body.into(), ..ServiceBusMessage::default() }
    }

    /// A message whose body is `value` as JSON, with content type `application/json`.
    pub fn json<T: serde::Serialize>(value: &T) -> Result<Self, crate::Error> {
        let body =
            serde_json::to_vec(value).map_err(|e| crate::Error::msg(format!("could not serialize: {e}")))?;
        Ok(ServiceBusMessage {
            content_type: Some("application/json".into()),
            ..ServiceBusMessage::new(body)
        })
    }

    /// Sets an application property.
    pub fn with_property(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.application_properties.insert(name.to_string(), value.into());
        self
    }

    /// Sets `CorrelationId`.
    pub fn with_correlation_id(mut self, id: impl Into<String>) -> Self {
        self.correlation_id = Some(id.into());
        self
    }

    /// Sets `Subject` (`Label`).
    pub fn with_subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// Sets `MessageId` (duplicate detection reads it).
    pub fn with_message_id(mut self, id: impl Into<String>) -> Self {
        self.message_id = Some(id.into());
        self
    }

    /// Sets `SessionId`.
    pub fn with_session_id(mut self, id: impl Into<String>) -> Self {
        self.session_id = Some(id.into());
        self
    }

    /// Sets how long the message lives unless received.
    pub fn with_time_to_live(mut self, ttl: std::time::Duration) -> Self {
        self.time_to_live_ms = Some(ttl.as_millis().min(u128::from(u64::MAX)) as u64);
        self
    }

    /// Delivers no earlier than `when` (an RFC 3339 time such as `2027-01-02T03:04:05Z`).
    pub fn with_scheduled_enqueue_time(mut self, when: impl Into<String>) -> Self {
        self.scheduled_enqueue_time_utc = Some(when.into());
        self
    }

    /// The body as text; bytes that are not UTF-8 are replaced by U+FFFD.
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// The body parsed as JSON into `T`; the error says where the JSON is wrong.
    pub fn json_body<T: DeserializeOwned>(&self) -> Result<T, crate::Error> {
        parse_json(&self.body, "the Service Bus message").map_err(|e| crate::Error::msg(e.message))
    }

    /// Builds the message from the trigger value and the trigger metadata the host sends.
    pub fn from_trigger(
        data: TypedData,
        metadata: &HashMap<String, TypedData>,
    ) -> Result<Self, FunctionError> {
        let body = match data.data {
            Some(Data::String(s)) | Some(Data::Json(s)) => Bytes::from(s),
            Some(Data::Bytes(b)) | Some(Data::Stream(b)) => b,
            _ => {
                return Err(FunctionError::new(format!(
                    "expected a Service Bus message (text or bytes), but the host sent {}; ServiceBusMessage \
                     parameters belong to functions with a serviceBusTrigger",
                    kind_of(&data)
                )));
            }
        };
        let text = |key: &str| metadata.get(key).and_then(text_of);
        let number = |key: &str| -> Result<i64, FunctionError> {
            match text(key) {
                None => Ok(0),
                Some(t) => t.trim().parse().map_err(|_| {
                    FunctionError::new(format!("trigger metadata `{key}` is not a number: {t:?}"))
                }),
            }
        };
        let properties = match text("ApplicationProperties").or_else(|| text("UserProperties")) {
            None => BTreeMap::new(),
            Some(t) => match serde_json::from_str::<Value>(&t) {
                Ok(Value::Object(map)) => map.into_iter().collect(),
                _ => {
                    return Err(FunctionError::new(format!(
                        "trigger metadata `ApplicationProperties` is not a JSON object: {t:?}"
                    )));
                }
            },
        };
        Ok(ServiceBusMessage {
            body,
            application_properties: properties,
            message_id: text("MessageId").filter(|s| !s.is_empty()),
            content_type: text("ContentType"),
            correlation_id: text("CorrelationId"),
            subject: text("Subject").or_else(|| text("Label")),
            to: text("To"),
            reply_to: text("ReplyTo"),
            reply_to_session_id: text("ReplyToSessionId"),
            session_id: text("SessionId"),
            partition_key: text("PartitionKey"),
            time_to_live_ms: None,
            scheduled_enqueue_time_utc: text("ScheduledEnqueueTimeUtc"),
            delivery_count: number("DeliveryCount")?,
            sequence_number: number("SequenceNumber")?,
            enqueued_time_utc: text("EnqueuedTimeUtc"),
            expires_at_utc: text("ExpiresAtUtc"),
            lock_token: text("LockToken"),
        })
    }

    /// The `{"$serviceBus": {…}}` envelope the host reads an output's properties from.
    fn envelope(&self) -> Value {
        let mut fields = Map::new();
        let body = match std::str::from_utf8(&self.body) {
            Ok(text) => Value::String(text.to_string()),
            Err(_) => Value::String(String::from_utf8_lossy(&self.body).into_owned()),
        };
        fields.insert("body".into(), body);
        if !self.application_properties.is_empty() {
            let props: Map<String, Value> =
                self.application_properties.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
            fields.insert("applicationProperties".into(), Value::Object(props));
        }
        let optional = [
            ("messageId", &self.message_id),
            ("contentType", &self.content_type),
            ("correlationId", &self.correlation_id),
            ("subject", &self.subject),
            ("to", &self.to),
            ("replyTo", &self.reply_to),
            ("replyToSessionId", &self.reply_to_session_id),
            ("sessionId", &self.session_id),
            ("partitionKey", &self.partition_key),
            ("scheduledEnqueueTimeUtc", &self.scheduled_enqueue_time_utc),
        ];
        for (key, value) in optional {
            if let Some(v) = value {
                fields.insert(key.into(), Value::String(v.clone()));
            }
        }
        if let Some(ttl) = self.time_to_live_ms {
            fields.insert("timeToLive".into(), Value::from(ttl));
        }
        let mut outer = Map::new();
        outer.insert("$serviceBus".into(), Value::Object(fields));
        Value::Object(outer)
    }
}

impl IntoTypedData for ServiceBusMessage {
    fn into_typed_data(self) -> Result<TypedData, FunctionError> {
        Ok(typed(Data::Json(self.envelope().to_string())))
    }
}

/// Several messages from one output: one per element.
impl IntoTypedData for Vec<ServiceBusMessage> {
    fn into_typed_data(self) -> Result<TypedData, FunctionError> {
        Ok(typed(Data::Json(
            Value::Array(self.iter().map(ServiceBusMessage::envelope).collect()).to_string(),
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_trigger_metadata_and_sends_an_envelope() {
        let metadata: HashMap<String, TypedData> = [
            ("DeliveryCount".to_string(), typed(Data::Json("2".into()))),
            ("SequenceNumber".to_string(), typed(Data::Json("7".into()))),
            ("MessageId".to_string(), typed(Data::String("m-1".into()))),
            ("Label".to_string(), typed(Data::String("sales".into()))),
            ("EnqueuedTimeUtc".to_string(), typed(Data::Json("\"2027-01-02T03:04:05.000Z\"".into()))),
            ("UserProperties".to_string(), typed(Data::Json("{\"type\":\"order\",\"total\":150}".into()))),
        ]
        .into();
        let m = ServiceBusMessage::from_trigger(typed(Data::String("{\"n\":1}".into())), &metadata).unwrap();
        assert_eq!((m.delivery_count, m.sequence_number), (2, 7));
        assert_eq!(m.subject.as_deref(), Some("sales"));
        assert_eq!(m.enqueued_time_utc.as_deref(), Some("2027-01-02T03:04:05.000Z"));
        assert_eq!(m.application_properties["total"], 150);
        assert_eq!(m.json_body::<Value>().unwrap()["n"], 1);
        let sent = ServiceBusMessage::new("hi")
            .with_property("type", "quote")
            .with_correlation_id("c")
            .into_typed_data();
        let Some(Data::Json(text)) = sent.unwrap().data else { panic!("json") };
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["$serviceBus"]["body"], "hi");
        assert_eq!(v["$serviceBus"]["applicationProperties"]["type"], "quote");
        assert_eq!(v["$serviceBus"]["correlationId"], "c");
        assert!(ServiceBusMessage::from_trigger(TypedData::default(), &HashMap::new()).is_err());
    }
}

//! RabbitMQ trigger input ([`RabbitMqMessage`]).

use std::borrow::Cow;
use std::collections::HashMap;

use bytes::Bytes;
use fnwire_protocol::rpc::TypedData;
use fnwire_protocol::rpc::typed_data::Data;
use serde::de::DeserializeOwned;

use crate::FunctionError;
use crate::convert::{kind_of, parse_json, text_of};

/// A message from a RabbitMQ queue, with the metadata Azure's RabbitMQ extension sends beside
/// it (`DeliveryTag`, `ConsumerTag`, `Exchange`, `RoutingKey`, `Redelivered`,
/// `BasicProperties`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RabbitMqMessage {
    /// The message content.
    pub body: Bytes,
    /// The broker's number for this delivery on its channel.
    pub delivery_tag: u64,
    /// The tag of the host's consumer that received it.
    pub consumer_tag: String,
    /// The exchange it was published to (empty for the default exchange).
    pub exchange: String,
    /// The routing key it was published with (the queue's name through the default exchange).
    pub routing_key: String,
    /// Whether the broker delivered it before (e.g. to a consumer whose connection was lost).
    pub redelivered: bool,
    /// The AMQP properties with .NET's names (`ContentType`, `MessageId`, `CorrelationId`,
    /// `Headers`, `Timestamp`: `{"UnixTime": seconds}`…); unset ones are null.
    pub properties: serde_json::Value,
}

impl RabbitMqMessage {
    /// A message with just a body, e.g. to call a function from a test.
    pub fn new(body: impl Into<Bytes>) -> Self {
        RabbitMqMessage { body: body.into(), ..RabbitMqMessage::default() }
    }

    /// Builds the message from the trigger value and the invocation's trigger metadata.
    pub fn from_trigger(
        data: TypedData,
        metadata: &HashMap<String, TypedData>,
    ) -> Result<Self, FunctionError> {
        let body = match data.data {
            Some(Data::String(s)) | Some(Data::Json(s)) => Bytes::from(s),
            Some(Data::Bytes(b)) | Some(Data::Stream(b)) => b,
            _ => {
                return Err(FunctionError::new(format!(
                    "expected a RabbitMQ message (text or bytes), but the host sent {}; RabbitMqMessage \
                     parameters belong to functions with a rabbitMQTrigger",
                    kind_of(&data)
                )));
            }
        };
        let text = |key: &str| metadata.get(key).and_then(text_of);
        let delivery_tag = match text("DeliveryTag") {
            None => 0,
            Some(t) => t.trim().parse().map_err(|_| {
                FunctionError::new(format!("trigger metadata `DeliveryTag` is not a number: {t:?}"))
            })?,
        };
        let properties = match metadata.get("BasicProperties").and_then(|d| d.data.as_ref()) {
            Some(Data::Json(s)) => serde_json::from_str(s).map_err(|e| {
                FunctionError::new(format!("trigger metadata `BasicProperties` is not JSON: {e}"))
            })?,
            _ => serde_json::Value::Null,
        };
        Ok(RabbitMqMessage {
            body,
            delivery_tag,
            consumer_tag: text("ConsumerTag").unwrap_or_default(),
            exchange: text("Exchange").unwrap_or_default(),
            routing_key: text("RoutingKey").unwrap_or_default(),
            redelivered: text("Redelivered").is_some_and(|t| t.trim().eq_ignore_ascii_case("true")),
            properties,
        })
    }

    /// The body as text; bytes that are not UTF-8 are replaced by U+FFFD.
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// The body parsed as JSON into `T`; the error says where the JSON is wrong.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, crate::Error> {
        parse_json(&self.body, "the RabbitMQ message").map_err(|e| crate::Error::msg(e.message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::typed;

    #[test]
    fn reads_the_metadata_the_host_sends() {
        let metadata: HashMap<String, TypedData> = [
            ("DeliveryTag".to_string(), typed(Data::Json("7".into()))),
            ("Redelivered".to_string(), typed(Data::Json("true".into()))),
            ("RoutingKey".to_string(), typed(Data::String("orders".into()))),
            ("BasicProperties".to_string(), typed(Data::Json(r#"{"MessageId":"m-1"}"#.into()))),
        ]
        .into();
        let msg = RabbitMqMessage::from_trigger(typed(Data::String("{\"n\":1}".into())), &metadata).unwrap();
        assert_eq!(msg.delivery_tag, 7);
        assert!(msg.redelivered);
        assert_eq!(msg.routing_key, "orders");
        assert_eq!(msg.properties["MessageId"], "m-1");
        assert_eq!(msg.json::<serde_json::Value>().unwrap()["n"], 1);
        let bad = HashMap::from([("DeliveryTag".to_string(), typed(Data::Json("\"x\"".into())))]);
        assert!(RabbitMqMessage::from_trigger(typed(Data::String("x".into())), &bad).is_err());
        assert!(RabbitMqMessage::from_trigger(TypedData::default(), &HashMap::new()).is_err());
    }
}

//! A message taken from a queue, and the trigger metadata Azure's RabbitMQ extension gives a
//! function for it (`ConsumerTag`, `DeliveryTag`, `Redelivered`, `Exchange`, `RoutingKey`,
//! `BasicProperties`, `Body`).

use lapin::BasicProperties;
use lapin::types::{AMQPValue, FieldTable};
use serde_json::{Map, Value, json};

use crate::settings::REQUEUE_COUNT_HEADER;

/// One delivery, as the function sees it.
#[derive(Debug, Clone)]
pub struct Message {
    /// The queue it was consumed from.
    pub queue: String,
    pub body: Vec<u8>,
    pub delivery_tag: u64,
    pub consumer_tag: String,
    pub exchange: String,
    pub routing_key: String,
    pub redelivered: bool,
    pub properties: BasicProperties,
}

/// One trigger metadata value, typed as it travels to the worker.
#[derive(Debug, Clone, PartialEq)]
pub enum MetadataValue {
    Text(String),
    Json(Value),
    Bytes(Vec<u8>),
}

impl Message {
    /// Failed attempts so far: Azure's `x-ms-rabbitmq-requeuecount` header, 0 when absent.
    pub fn requeue_count(&self) -> u32 {
        header(&self.properties, REQUEUE_COUNT_HEADER)
            .and_then(integer)
            .map_or(0, |n| n.clamp(0, 1_000_000) as u32)
    }

    /// The trigger metadata, named as Azure's extension names its binding data.
    pub fn trigger_metadata(&self) -> Vec<(&'static str, MetadataValue)> {
        vec![
            ("ConsumerTag", MetadataValue::Text(self.consumer_tag.clone())),
            ("DeliveryTag", MetadataValue::Json(json!(self.delivery_tag))),
            ("Redelivered", MetadataValue::Json(json!(self.redelivered))),
            ("Exchange", MetadataValue::Text(self.exchange.clone())),
            ("RoutingKey", MetadataValue::Text(self.routing_key.clone())),
            ("BasicProperties", MetadataValue::Json(properties_json(&self.properties))),
            ("Body", MetadataValue::Bytes(self.body.clone())),
        ]
    }
}

fn header<'a>(properties: &'a BasicProperties, name: &str) -> Option<&'a AMQPValue> {
    properties.headers().as_ref()?.inner().iter().find(|(k, _)| k.as_str() == name).map(|(_, v)| v)
}

fn integer(value: &AMQPValue) -> Option<i64> {
    match value {
        AMQPValue::ShortShortInt(n) => Some(i64::from(*n)),
        AMQPValue::ShortShortUInt(n) => Some(i64::from(*n)),
        AMQPValue::ShortInt(n) => Some(i64::from(*n)),
        AMQPValue::ShortUInt(n) => Some(i64::from(*n)),
        AMQPValue::LongInt(n) => Some(i64::from(*n)),
        AMQPValue::LongUInt(n) => Some(i64::from(*n)),
        AMQPValue::LongLongInt(n) => Some(*n),
        AMQPValue::LongString(s) => std::str::from_utf8(s.as_bytes()).ok()?.trim().parse().ok(),
        _ => None,
    }
}

/// An AMQP field value as JSON. Byte strings that are UTF-8 become JSON strings (headers set
/// by other clients are usually text); other bytes become arrays of numbers.
fn value_json(value: &AMQPValue) -> Value {
    match value {
        AMQPValue::Boolean(b) => json!(b),
        AMQPValue::ShortShortInt(n) => json!(n),
        AMQPValue::ShortShortUInt(n) => json!(n),
        AMQPValue::ShortInt(n) => json!(n),
        AMQPValue::ShortUInt(n) => json!(n),
        AMQPValue::LongInt(n) => json!(n),
        AMQPValue::LongUInt(n) => json!(n),
        AMQPValue::LongLongInt(n) => json!(n),
        AMQPValue::Float(f) => json!(f),
        AMQPValue::Double(f) => json!(f),
        AMQPValue::DecimalValue(d) => json!(f64::from(d.value) / 10f64.powi(i32::from(d.scale))),
        AMQPValue::ShortString(s) => json!(s.as_str()),
        AMQPValue::LongString(s) => bytes_json(s.as_bytes()),
        AMQPValue::FieldArray(items) => Value::Array(items.as_slice().iter().map(value_json).collect()),
        AMQPValue::Timestamp(t) => json!({ "UnixTime": t }),
        AMQPValue::FieldTable(t) => table_json(t),
        AMQPValue::ByteArray(b) => bytes_json(b.as_slice()),
        AMQPValue::Void => Value::Null,
    }
}

fn bytes_json(bytes: &[u8]) -> Value {
    match std::str::from_utf8(bytes) {
        Ok(text) => json!(text),
        Err(_) => json!(bytes),
    }
}

fn table_json(table: &FieldTable) -> Value {
    Value::Object(table.inner().iter().map(|(k, v)| (k.to_string(), value_json(v))).collect())
}

/// The message's properties with the names and shape of .NET's `IBasicProperties` as Azure's
/// host serializes them for out-of-process workers (unset properties are null, `Timestamp` is
/// `{"UnixTime": seconds}`).
pub fn properties_json(p: &BasicProperties) -> Value {
    let text = |v: &Option<lapin::types::ShortString>| v.as_ref().map_or(Value::Null, |s| json!(s.as_str()));
    let delivery_mode = p.delivery_mode().unwrap_or(0);
    let mut out = Map::new();
    out.insert("AppId".into(), text(p.app_id()));
    out.insert("ClusterId".into(), text(p.cluster_id()));
    out.insert("ContentEncoding".into(), text(p.content_encoding()));
    out.insert("ContentType".into(), text(p.content_type()));
    out.insert("CorrelationId".into(), text(p.correlation_id()));
    out.insert("DeliveryMode".into(), json!(delivery_mode));
    out.insert("Expiration".into(), text(p.expiration()));
    out.insert("Headers".into(), p.headers().as_ref().map_or(Value::Null, table_json));
    out.insert("MessageId".into(), text(p.message_id()));
    out.insert("Persistent".into(), json!(delivery_mode == 2));
    out.insert("Priority".into(), json!(p.priority().unwrap_or(0)));
    out.insert("ReplyTo".into(), text(p.reply_to()));
    out.insert("Timestamp".into(), json!({ "UnixTime": p.timestamp().unwrap_or(0) }));
    out.insert("Type".into(), text(p.kind()));
    out.insert("UserId".into(), text(p.user_id()));
    Value::Object(out)
}

/// `properties` with the requeue count set to `count` (the copy republished after a failure).
pub(crate) fn with_requeue_count(properties: &BasicProperties, count: u32) -> BasicProperties {
    let mut headers = properties.headers().clone().unwrap_or_default();
    headers.insert(REQUEUE_COUNT_HEADER.into(), AMQPValue::LongInt(count.min(i32::MAX as u32) as i32));
    properties.clone().with_headers(headers)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(properties: BasicProperties) -> Message {
        Message {
            queue: "orders".into(),
            body: b"{\"id\":1}".to_vec(),
            delivery_tag: 7,
            consumer_tag: "ctag".into(),
            exchange: "".into(),
            routing_key: "orders".into(),
            redelivered: true,
            properties,
        }
    }

    #[test]
    fn metadata_has_azures_names_and_shapes() {
        let props = BasicProperties::default()
            .with_content_type("application/json".into())
            .with_message_id("m-1".into())
            .with_delivery_mode(2)
            .with_timestamp(1_700_000_000);
        let m = message(with_requeue_count(&props, 2));
        assert_eq!(m.requeue_count(), 2);
        let meta: std::collections::HashMap<_, _> = m.trigger_metadata().into_iter().collect();
        assert_eq!(meta["DeliveryTag"], MetadataValue::Json(json!(7)));
        assert_eq!(meta["Redelivered"], MetadataValue::Json(json!(true)));
        assert_eq!(meta["RoutingKey"], MetadataValue::Text("orders".into()));
        assert_eq!(meta["Body"], MetadataValue::Bytes(b"{\"id\":1}".to_vec()));
        let MetadataValue::Json(p) = &meta["BasicProperties"] else { panic!("not JSON") };
        assert_eq!(p["ContentType"], "application/json");
        assert_eq!(p["MessageId"], "m-1");
        assert_eq!(p["Persistent"], true);
        assert_eq!(p["Timestamp"]["UnixTime"], 1_700_000_000u64);
        assert_eq!(p["CorrelationId"], Value::Null);
        assert_eq!(p["Headers"][REQUEUE_COUNT_HEADER], 2);
    }

    #[test]
    fn requeue_count_reads_what_other_clients_write() {
        assert_eq!(message(BasicProperties::default()).requeue_count(), 0);
        let mut h = FieldTable::default();
        h.insert(REQUEUE_COUNT_HEADER.into(), AMQPValue::LongString("3".into()));
        assert_eq!(message(BasicProperties::default().with_headers(h)).requeue_count(), 3);
        let mut h = FieldTable::default();
        h.insert(REQUEUE_COUNT_HEADER.into(), AMQPValue::LongLongInt(-4));
        assert_eq!(message(BasicProperties::default().with_headers(h)).requeue_count(), 0);
    }
}

//! Queue trigger input ([`QueueMessage`]).

use std::borrow::Cow;
use std::collections::HashMap;

use bytes::Bytes;
use fnwire_protocol::rpc::TypedData;
use fnwire_protocol::rpc::typed_data::Data;
use serde::de::DeserializeOwned;

use crate::FunctionError;
use crate::convert::{kind_of, parse_json, text_of};

/// A message from a storage queue, with the metadata the host sends beside it.
///
/// Times are as the host formats them, e.g. `2026-01-01T00:00:00+00:00`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueMessage {
    /// Message id (`Id`).
    pub id: String,
    /// The message content.
    pub body: Bytes,
    /// How many times the message has been taken off the queue, this time included.
    pub dequeue_count: i64,
    /// When the message was added to the queue.
    pub insertion_time: Option<String>,
    /// When the message expires if nobody takes it.
    pub expiration_time: Option<String>,
    /// When the message becomes visible again if this invocation fails.
    pub next_visible_time: Option<String>,
    /// The receipt that proves this taking of the message.
    pub pop_receipt: Option<String>,
}

impl QueueMessage {
    /// A message with just a body, e.g. to call a function from a test.
    pub fn new(body: impl Into<Bytes>) -> Self {
        QueueMessage { body: body.into(), dequeue_count: 1, ..QueueMessage::default() }
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
                    "expected a queue message (text or bytes), but the host sent {}; QueueMessage \
                     parameters belong to functions with a queue trigger",
                    kind_of(&data)
                )));
            }
        };
        let text = |key: &str| metadata.get(key).and_then(text_of);
        let dequeue_count = match text("DequeueCount") {
            None => 0,
            Some(t) => t.trim().parse().map_err(|_| {
                FunctionError::new(format!("trigger metadata `DequeueCount` is not a number: {t:?}"))
            })?,
        };
        Ok(QueueMessage {
            id: text("Id").unwrap_or_default(),
            body,
            dequeue_count,
            insertion_time: text("InsertionTime"),
            expiration_time: text("ExpirationTime"),
            next_visible_time: text("NextVisibleTime"),
            pop_receipt: text("PopReceipt"),
        })
    }

    /// The body as text; bytes that are not UTF-8 are replaced by U+FFFD.
    pub fn text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// The body parsed as JSON into `T`; the error says where the JSON is wrong.
    pub fn json<T: DeserializeOwned>(&self) -> Result<T, crate::Error> {
        parse_json(&self.body, "the queue message").map_err(|e| crate::Error::msg(e.message))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::convert::typed;

    #[test]
    fn reads_transcript_metadata() {
        let metadata: HashMap<String, TypedData> = [
            ("InsertionTime".to_string(), typed(Data::Json("\"2026-01-01T00:00:00+00:00\"".into()))),
            ("DequeueCount".to_string(), typed(Data::Json("5".into()))),
            ("Id".to_string(), typed(Data::String("abc".into()))),
            ("PopReceipt".to_string(), typed(Data::Json("\"r1\"".into()))),
        ]
        .into();
        let msg = QueueMessage::from_trigger(typed(Data::String("payload-1".into())), &metadata).unwrap();
        assert_eq!(msg.id, "abc");
        assert_eq!(msg.text(), "payload-1");
        assert_eq!(msg.dequeue_count, 5);
        assert_eq!(msg.insertion_time.as_deref(), Some("2026-01-01T00:00:00+00:00"));
        assert_eq!(msg.pop_receipt.as_deref(), Some("r1"));
        assert_eq!(msg.expiration_time, None);
    }

    #[test]
    fn json_body_and_errors() {
        let msg =
            QueueMessage::from_trigger(typed(Data::Bytes(Bytes::from_static(b"{\"n\":1}"))), &HashMap::new())
                .unwrap();
        assert_eq!(msg.json::<serde_json::Value>().unwrap()["n"], 1);
        assert!(
            QueueMessage::new("x{")
                .json::<serde_json::Value>()
                .unwrap_err()
                .to_string()
                .contains("not valid JSON")
        );
        let bad = HashMap::from([("DequeueCount".to_string(), typed(Data::Json("\"many\"".into())))]);
        let err = QueueMessage::from_trigger(typed(Data::String("x".into())), &bad).unwrap_err();
        assert!(err.message.contains("DequeueCount"), "{err}");
        assert!(QueueMessage::from_trigger(TypedData::default(), &HashMap::new()).is_err());
    }
}

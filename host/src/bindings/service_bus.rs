//! `serviceBus` outputs (`queueName` or `topicName`) and the completion of the message that
//! triggered the invocation (a Service Bus copy, or a storage-queue message): that message, the
//! storage-queue outputs and the Service Bus sends go to the store in one transaction.
//!
//! An output value is one message, or one per element of an array or collection; each is a
//! body, or a `{"$serviceBus": {…}}` envelope that also sets the message's properties (see
//! `fnwire_messaging::Message::from_output_json`).

use fnwire_messaging::Message;
use fnwire_metadata::{Direction, FunctionMetadata};
use fnwire_protocol::rpc::{InvocationResponse, TypedData, typed_data};
use fnwire_storage::{MessageBody, Outgoing};

use super::expressions::ExpressionValues;
use super::outputs::{self, OutputValueError};
use super::{AppBindings, BindingError, BindingRole, HeldMessage};

fn value_messages(value: &TypedData) -> Result<Vec<Message>, String> {
    let json_items = |text: &str| -> Result<Vec<Message>, String> {
        match serde_json::from_str::<serde_json::Value>(text) {
            Ok(serde_json::Value::Array(items)) => {
                items.iter().map(|i| Message::from_output_json(i).map_err(|e| e.to_string())).collect()
            }
            Ok(v @ serde_json::Value::Object(_)) => {
                Ok(vec![Message::from_output_json(&v).map_err(|e| e.to_string())?])
            }
            _ => Ok(vec![Message::new(text.as_bytes())]),
        }
    };
    match value.data.as_ref() {
        Some(typed_data::Data::Json(text)) => json_items(text),
        // A string holding an envelope sets properties too (Python and Node return text).
        Some(typed_data::Data::String(text)) if text.trim_start().starts_with("{\"$serviceBus\"") => {
            json_items(text)
        }
        _ => outputs::queue_messages(value)
            .map(|bodies| bodies.into_iter().map(|b| Message::new(b.to_vec())).collect())
            .map_err(|e: OutputValueError| e.to_string()),
    }
}

/// `message` with the sending invocation's trace context, as Azure's Service Bus SDKs send it
/// (`Diagnostic-Id` and `traceparent`), so the function it triggers continues the same trace.
fn with_trace(mut message: Message, values: &ExpressionValues) -> Message {
    use crate::triggers::service_bus::{DIAGNOSTIC_ID_PROPERTY, TRACEPARENT_PROPERTY};
    let Some(traceparent) = values.traceparent() else { return message };
    if message.properties.contains_key(TRACEPARENT_PROPERTY)
        || message.properties.contains_key(DIAGNOSTIC_ID_PROPERTY)
    {
        return message;
    }
    for name in [DIAGNOSTIC_ID_PROPERTY, TRACEPARENT_PROPERTY] {
        message.properties.insert(name.to_string(), fnwire_messaging::Value::Str(traceparent.to_string()));
    }
    message
}

/// The Service Bus messages a successful invocation sends.
pub fn collect_sends(
    metadata: &FunctionMetadata,
    values: &ExpressionValues,
    response: &InvocationResponse,
) -> Result<Vec<Outgoing>, BindingError> {
    let has_return = metadata.bindings.iter().any(|b| b.name == outputs::RETURN);
    let mut sends = Vec::new();
    for b in metadata.bindings.iter().filter(|b| b.direction != Direction::In && !b.is_trigger()) {
        if !b.binding_type.eq_ignore_ascii_case("serviceBus") {
            continue;
        }
        let Some(value) = outputs::output_value(response, &b.name, has_return) else { continue };
        let role = BindingRole::ServiceBusOutput;
        let template =
            b.str_property("queueName").or_else(|| b.str_property("topicName")).unwrap_or_default();
        let entity = values.resolve(template).map_err(|error| BindingError::Expression {
            role,
            binding: b.name.clone(),
            error,
        })?;
        let messages = value_messages(&value).map_err(|error| BindingError::Blob {
            role,
            binding: b.name.clone(),
            path: entity.clone(),
            error,
        })?;
        sends.extend(messages.into_iter().map(|m| Outgoing::new(entity.clone(), with_trace(m, values))));
    }
    Ok(sends)
}

/// Completes a held message (a Service Bus copy, or a storage-queue message) with the queue
/// outputs and Service Bus sends, in one transaction.
pub fn complete(
    bindings: &AppBindings,
    held: Option<&HeldMessage>,
    messages: &[MessageBody],
    sends: &[Outgoing],
) -> Result<usize, BindingError> {
    let store = crate::triggers::service_bus::topics(bindings.store().as_ref())
        .map_err(|e| BindingError::Commit(e.to_string()))?;
    let commit = |e: fnwire_storage::StorageError| BindingError::Commit(e.to_string());
    match held {
        Some(HeldMessage::Queue { queue, id, pop_receipt }) => {
            store
                .complete_queue_message_and_send((queue, id, pop_receipt), messages, sends)
                .map_err(commit)?;
        }
        Some(HeldMessage::ServiceBus(lock)) => {
            store.complete_and_send(Some(lock), messages, sends).map_err(commit)?;
        }
        None => {
            store.complete_and_send(None, messages, sends).map_err(commit)?;
        }
    }
    for m in messages {
        bindings.signal(&m.queue).notify_one();
    }
    for s in sends {
        bindings.signal(&crate::triggers::service_bus::signal_key(&s.entity)).notify_one();
    }
    Ok(messages.len() + sends.len())
}

#[cfg(test)]
mod tests {
    use super::*;
    use fnwire_metadata::Binding;
    use fnwire_protocol::rpc::ParameterBinding;
    use fnwire_protocol::rpc::parameter_binding::RpcData;

    fn sends_of(returned: &str, traceparent: Option<&str>) -> Vec<Outgoing> {
        let mut metadata = FunctionMetadata::new("enqueue");
        metadata.bindings = vec![
            Binding::new("req", "httpTrigger", Direction::In),
            Binding::new("out", "serviceBus", Direction::Out).with("queueName", "orders"),
        ];
        let response = InvocationResponse {
            output_data: vec![ParameterBinding {
                name: "out".into(),
                rpc_data: Some(RpcData::Data(TypedData {
                    data: Some(typed_data::Data::Json(returned.into())),
                })),
            }],
            ..Default::default()
        };
        let mut values = ExpressionValues::default();
        values.set_traceparent(traceparent.map(String::from));
        collect_sends(&metadata, &values, &response).unwrap()
    }

    #[test]
    fn sends_carry_the_invocations_trace_unless_they_set_their_own() {
        let traceparent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let sends = sends_of(r#"["a", "b"]"#, Some(traceparent));
        assert_eq!(sends.len(), 2);
        for send in &sends {
            for name in ["Diagnostic-Id", "traceparent"] {
                assert_eq!(
                    send.message.properties.get(name),
                    Some(&fnwire_messaging::Value::Str(traceparent.into()))
                );
            }
        }
        let own = r#"{"$serviceBus": {"body": "c", "applicationProperties": {"Diagnostic-Id": "00-11111111111111111111111111111111-2222222222222222-01"}}}"#;
        let sends = sends_of(own, Some(traceparent));
        let kept = sends[0].message.properties.get("Diagnostic-Id");
        assert_eq!(
            kept,
            Some(&fnwire_messaging::Value::Str(
                "00-11111111111111111111111111111111-2222222222222222-01".into()
            ))
        );
        assert!(!sends[0].message.properties.contains_key("traceparent"));
        assert!(sends_of(r#""d""#, None)[0].message.properties.is_empty(), "no trace, no properties");
    }
}

//! Service Bus trigger and outputs: a topic subscription trigger whose message (with its
//! properties) reaches the function, and outputs that send messages with properties.
#![deny(warnings)]

use fnwire::__private::{Invocation, Registration, inventory};
use fnwire::protocol::rpc::TypedData;
use fnwire::protocol::rpc::typed_data::Data;
use fnwire::{Out, ServiceBusMessage, service_bus_output, service_bus_trigger};

#[service_bus_trigger(topic = "sales", subscription = "orders", connection = "ServiceBusConnection")]
#[service_bus_output(name = "shipping", queue = "shipping")]
pub fn ship(msg: ServiceBusMessage, shipping: Out<ServiceBusMessage>) {
    let total = msg.application_properties.get("total").cloned().unwrap_or_default();
    shipping.set(ServiceBusMessage::new(msg.body.clone()).with_property("total", total));
}

#[service_bus_trigger(queue = "jobs")]
#[service_bus_output(topic = "sales")]
pub async fn forward(body: String) -> Vec<ServiceBusMessage> {
    vec![ServiceBusMessage::new(body).with_property("type", "order")]
}

fn registration(name: &str) -> &'static Registration {
    inventory::iter::<Registration>
        .into_iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("`{name}` is not registered"))
}

fn main() {
    assert_eq!(
        registration("ship").bindings,
        [
            r#"{"type":"serviceBusTrigger","direction":"in","name":"msg","topicName":"sales","subscriptionName":"orders","connection":"ServiceBusConnection"}"#,
            r#"{"type":"serviceBus","direction":"out","name":"shipping","queueName":"shipping"}"#,
        ]
    );
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let invocation = Invocation::new("1", "ship")
        .with_input("msg", TypedData { data: Some(Data::String("{}".into())) })
        .with_trigger_metadata("UserProperties", TypedData { data: Some(Data::Json("{\"total\":150}".into())) });
    let outcome = runtime.block_on(registration("ship").invoke.call(invocation)).expect("ship succeeds");
    let Some(Data::Json(sent)) = outcome.outputs[0].1.data.clone() else { panic!("an envelope") };
    assert!(sent.contains(r#""applicationProperties":{"total":150}"#), "{sent}");
    let invocation = Invocation::new("2", "forward").with_input("body", TypedData { data: Some(Data::String("x".into())) });
    let outcome = runtime.block_on(registration("forward").invoke.call(invocation)).expect("forward succeeds");
    assert!(matches!(outcome.return_value, Some(TypedData { data: Some(Data::Json(ref t)) }) if t.starts_with("[{\"$serviceBus\"")));
}

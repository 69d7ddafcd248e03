//! The app behind `fnwire-bench topic-fanout`. Topic `fanout` has four subscriptions, each with
//! its own SQL filter (`servicebus.json`); the bench's messages pass all four, so each message is
//! delivered four times, once to each subscription's function. Each function puts one message on
//! the storage queue `fanout-done` (completed with the copy in one transaction), so the bench
//! counts deliveries in the store. The baseline: `plain` takes the same messages from one plain
//! storage queue and puts one on `plain-done`.

use fnwire::{
    HttpRequest, HttpResponse, QueueMessage, ServiceBusMessage, http_trigger, queue_output, queue_trigger,
    service_bus_trigger,
};

/// Answers 200 once the host serves the app (the bench waits for it).
#[http_trigger(route = "ready", methods = "get", auth_level = "anonymous")]
pub fn ready(_req: HttpRequest) -> HttpResponse {
    HttpResponse::ok().with_text("ready")
}

#[service_bus_trigger(topic = "fanout", subscription = "by-type", connection = "ServiceBusConnection")]
#[queue_output(queue = "fanout-done")]
pub async fn by_type(msg: ServiceBusMessage) -> String {
    format!("by-type {}", msg.message_id.unwrap_or_default())
}

#[service_bus_trigger(topic = "fanout", subscription = "by-total", connection = "ServiceBusConnection")]
#[queue_output(queue = "fanout-done")]
pub async fn by_total(msg: ServiceBusMessage) -> String {
    format!("by-total {}", msg.message_id.unwrap_or_default())
}

#[service_bus_trigger(topic = "fanout", subscription = "by-region", connection = "ServiceBusConnection")]
#[queue_output(queue = "fanout-done")]
pub async fn by_region(msg: ServiceBusMessage) -> String {
    format!("by-region {}", msg.message_id.unwrap_or_default())
}

#[service_bus_trigger(topic = "fanout", subscription = "by-sku", connection = "ServiceBusConnection")]
#[queue_output(queue = "fanout-done")]
pub async fn by_sku(msg: ServiceBusMessage) -> String {
    format!("by-sku {}", msg.message_id.unwrap_or_default())
}

#[queue_trigger(queue = "plain")]
#[queue_output(queue = "plain-done")]
pub async fn plain(msg: QueueMessage) -> String {
    format!("plain {}", msg.id)
}

fn main() -> std::process::ExitCode {
    fnwire::run()
}

//! Topics with filtered subscriptions. `POST /api/publish` sends orders and quotes to the topic
//! `sales`, with `type` and `total` as application properties; the subscription `orders` keeps
//! `type = 'order' AND total > 100` (its rule's action adds `priority = 'high'`), `quotes`
//! keeps `type = 'quote'`, and each triggers its own function. The sender knows only the topic,
//! the receivers only their subscriptions; the filters live in `servicebus.json`. Sales that
//! arrive on a RabbitMQ queue (the setting `OrdersInboxQueue` names it, `RabbitMQConnection` the
//! broker) are forwarded into the same topic.

use fnwire::http::StatusCode;
use fnwire::tracing;
use fnwire::{
    HttpRequest, HttpResponse, Out, RabbitMqMessage, ServiceBusMessage, blob_input, blob_output,
    http_trigger, rabbitmq_trigger, service_bus_output, service_bus_trigger,
};
use serde::Deserialize;
use serde_json::{Value, json};

/// What a client publishes: an order or a quote.
#[derive(Debug, Deserialize)]
struct Sale {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    total: f64,
}

fn sale_message(raw: &Value) -> Result<ServiceBusMessage, String> {
    let sale: Sale = serde_json::from_value(raw.clone())
        .map_err(|e| format!("{e}; send e.g. {{\"id\": \"o-1\", \"type\": \"order\", \"total\": 150}}"))?;
    if sale.kind != "order" && sale.kind != "quote" {
        return Err(format!("`type` is `{}`; use \"order\" or \"quote\"", sale.kind));
    }
    let message = ServiceBusMessage::json(raw).map_err(|e| e.to_string())?;
    Ok(message
        // The same id twice within the topic's window is dropped (duplicate detection).
        .with_message_id(sale.id.clone())
        .with_property("type", sale.kind)
        .with_property("total", sale.total)
        .with_property("id", sale.id))
}

// Publishes one sale, or an array of them, to the topic `sales`.
#[http_trigger(route = "publish", methods = "post", auth_level = "anonymous")]
#[service_bus_output(name = "sales", topic = "sales", connection = "ServiceBusConnection")]
pub fn publish(req: HttpRequest, sales: Out<Vec<ServiceBusMessage>>) -> HttpResponse {
    let body: Value = match req.json() {
        Ok(v) => v,
        Err(e) => return HttpResponse::bad_request().with_text(format!("the body is not JSON: {e}")),
    };
    let items = match body {
        Value::Array(items) => items,
        one => vec![one],
    };
    let mut messages = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        match sale_message(item) {
            Ok(m) => messages.push(m),
            Err(why) => return HttpResponse::bad_request().with_text(format!("sale {i}: {why}")),
        }
    }
    let count = messages.len();
    sales.set(messages);
    HttpResponse::new(StatusCode::ACCEPTED).with_json(&json!({ "published": count }))
}

// Forwards each sale from a RabbitMQ queue into the topic, as `publish` sends one. A message
// that is not a sale fails; the host redelivers it and, after `maxDeliveryCount` attempts,
// moves it to the queue `<OrdersInboxQueue>-poison`.
#[rabbitmq_trigger(queue = "%OrdersInboxQueue%", connection_string_setting = "RabbitMQConnection")]
#[service_bus_output(topic = "sales", connection = "ServiceBusConnection")]
pub fn forward(msg: RabbitMqMessage) -> Result<ServiceBusMessage, fnwire::Error> {
    let sale: Value = msg.json()?;
    let message = sale_message(&sale).map_err(|why| {
        fnwire::Error::msg(format!("RabbitMQ message {} is not a sale: {why}", msg.delivery_tag))
    })?;
    tracing::info!("forwarding sale {} from RabbitMQ queue {}", sale["id"], msg.routing_key);
    Ok(message)
}

// Big orders only: the subscription's filter chose them, its action marked them.
#[service_bus_trigger(topic = "sales", subscription = "orders", connection = "ServiceBusConnection")]
#[blob_output(path = "processed/{id}")]
pub fn handle_order(msg: ServiceBusMessage) -> Result<String, fnwire::Error> {
    let sale: Value = msg.json_body()?;
    let priority = msg.application_properties.get("priority").and_then(Value::as_str).unwrap_or("normal");
    tracing::info!("order {} for {} ({priority} priority)", sale["id"], sale["total"]);
    Ok(json!({"handledBy": "orders", "sale": sale, "priority": priority, "deliveryCount": msg.delivery_count})
        .to_string())
}

#[service_bus_trigger(topic = "sales", subscription = "quotes", connection = "ServiceBusConnection")]
#[blob_output(path = "processed/{id}")]
pub fn handle_quote(msg: ServiceBusMessage) -> Result<String, fnwire::Error> {
    let sale: Value = msg.json_body()?;
    tracing::info!("quote {} requested", sale["id"]);
    Ok(json!({"handledBy": "quotes", "sale": sale, "deliveryCount": msg.delivery_count}).to_string())
}

// What happened to a sale: 404 until a subscription's function handled it.
#[http_trigger(route = "processed/{id}", methods = "get", auth_level = "anonymous")]
#[blob_input(name = "record", path = "processed/{id}")]
pub fn processed(req: HttpRequest, record: Option<String>) -> HttpResponse {
    match record {
        Some(text) => HttpResponse::ok().with_header("content-type", "application/json").with_text(text),
        None => HttpResponse::not_found().with_text(format!(
            "sale `{}` was not handled (yet): no subscription took it, or it is on its way",
            req.param("id").unwrap_or_default()
        )),
    }
}

fn main() -> std::process::ExitCode {
    fnwire::run()
}

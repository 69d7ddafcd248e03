use fnwire::{Json, Out, RabbitMqMessage};
use fnwire::{rabbitmq_output, rabbitmq_trigger};

#[rabbitmq_trigger(queue = "orders", connection_string_setting = "RabbitMQConnection")]
#[rabbitmq_output(queue = "shipped", connection_string_setting = "RabbitMQConnection")]
pub fn ship(order: RabbitMqMessage) -> String {
    order.text().to_uppercase()
}

#[rabbitmq_trigger(queue = "audit", connection_string_setting = "RabbitMQConnection", data_type = "binary")]
#[rabbitmq_output(name = "copies", queue = "audit-copies", connection_string_setting = "RabbitMQConnection")]
pub async fn audit(body: Json<serde_json::Value>, copies: Out<String>) {
    copies.set(body.0.to_string());
}

fn main() {}

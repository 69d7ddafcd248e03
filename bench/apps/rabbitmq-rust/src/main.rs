//! The app behind `fnwire-bench rabbitmq`: `relay` takes each message of RabbitMQ queue
//! `fnwire-bench-in` and publishes it to `fnwire-bench-done`, so the bench counts finished
//! messages on the broker. The broker's URI is the `RabbitMQConnection` setting.

use fnwire::{HttpRequest, HttpResponse, http_trigger, rabbitmq_output, rabbitmq_trigger};

/// Answers 200 once the host serves the app (the bench waits for it).
#[http_trigger(route = "ready", methods = "get", auth_level = "anonymous")]
pub fn ready(_req: HttpRequest) -> HttpResponse {
    HttpResponse::ok().with_text("ready")
}

#[rabbitmq_trigger(queue = "fnwire-bench-in", connection_string_setting = "RabbitMQConnection")]
#[rabbitmq_output(queue = "fnwire-bench-done", connection_string_setting = "RabbitMQConnection")]
pub async fn relay(message: String) -> String {
    message
}

fn main() -> std::process::ExitCode {
    fnwire::run()
}

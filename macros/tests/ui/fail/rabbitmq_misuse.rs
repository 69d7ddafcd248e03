use fnwire::{HttpRequest, rabbitmq_trigger};

// No queue: the trigger cannot know what to consume.
#[rabbitmq_trigger(connection_string_setting = "RabbitMQConnection")]
pub fn no_queue(msg: String) {
    let _ = msg;
}

// A RabbitMQ message is data, never an HTTP request.
#[rabbitmq_trigger(queue = "orders", connection_string_setting = "RabbitMQConnection")]
pub fn wrong_type(req: HttpRequest) {
    let _ = req;
}

fn main() {}

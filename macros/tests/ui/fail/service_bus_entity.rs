use fnwire::{service_bus_output, service_bus_trigger};

#[service_bus_trigger(topic = "sales")]
pub fn no_subscription(msg: String) {
    let _ = msg;
}

#[service_bus_trigger(queue = "jobs")]
#[service_bus_output(queue = "a", topic = "b")]
pub fn both(msg: String) -> String {
    msg
}

fn main() {}

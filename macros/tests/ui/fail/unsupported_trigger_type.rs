use fnwire::QueueMessage;
use fnwire::queue_trigger;

#[queue_trigger(queue = "jobs")]
pub fn work(msg: std::net::TcpStream) {
    let _ = msg;
}

#[queue_trigger(queue = "jobs", name = "msg")]
pub fn also(ctx: QueueMessage) {
    let _ = ctx;
}

fn main() {}

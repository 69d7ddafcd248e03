use fnwire::QueueMessage;
use fnwire::{queue_output, queue_trigger};

#[queue_trigger(queue = "jobs")]
#[queue_output(name = "done", queue = "done")]
pub fn work(msg: QueueMessage) {
    let _ = msg;
}

fn main() {}

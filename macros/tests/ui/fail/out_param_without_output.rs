use fnwire::{Out, QueueMessage};
use fnwire::queue_trigger;

#[queue_trigger(queue = "jobs")]
pub fn work(msg: QueueMessage, done: Out<String>) {
    let _ = (msg, done);
}

fn main() {}

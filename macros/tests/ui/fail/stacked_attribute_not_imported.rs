use fnwire::{QueueMessage, queue_trigger};

// `queue_output` is not imported: stacked attributes are removed by the first one, but their
// paths must still resolve, as any attribute's would.
#[queue_trigger(queue = "jobs")]
#[queue_output(queue = "done")]
pub fn relay(msg: QueueMessage) -> String {
    msg.text().into_owned()
}

fn main() {}

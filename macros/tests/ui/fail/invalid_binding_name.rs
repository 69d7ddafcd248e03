use fnwire::{Out, QueueMessage};
use fnwire::{queue_output, queue_trigger};

#[queue_trigger(queue = "jobs")]
#[queue_output(name = "my_out", queue = "done")]
pub fn work(msg: QueueMessage, my_out: Out<String>) {
    let _ = (msg, my_out);
}

#[queue_trigger(queue = "jobs")]
pub fn underscored(job_msg: QueueMessage) {
    let _ = job_msg;
}

fn main() {}

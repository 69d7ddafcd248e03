use fnwire::{QueueMessage, TimerInfo};
use fnwire::{queue_output, queue_trigger, timer_trigger};

#[timer_trigger(run_on_startup = true)]
pub fn tick(timer: TimerInfo) {
    let _ = timer;
}

#[queue_trigger(queue = "jobs")]
#[queue_output(connection = "Storage")]
pub fn relay(msg: QueueMessage) -> String {
    let _ = msg;
    String::new()
}

fn main() {}

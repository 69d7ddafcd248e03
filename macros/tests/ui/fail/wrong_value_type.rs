use fnwire::TimerInfo;
use fnwire::timer_trigger;

#[timer_trigger(schedule = 5, run_on_startup = "yes")]
pub fn tick(timer: TimerInfo) {
    let _ = timer;
}

fn main() {}

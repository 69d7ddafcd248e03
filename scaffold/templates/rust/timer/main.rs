//! A timer function. `fnwire start --watch` and watch the log: `tick` runs every five seconds.

use fnwire::{TimerInfo, timer_trigger};

/// Runs on the schedule (NCRONTAB, with seconds): every five seconds.
#[timer_trigger(schedule = "*/5 * * * * *")]
pub fn tick(timer: TimerInfo) {
    fnwire::tracing::info!(past_due = timer.is_past_due, "tick");
}

fn main() -> std::process::ExitCode {
    fnwire::run()
}

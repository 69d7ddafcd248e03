use fnwire::timer_trigger;

#[timer_trigger(schedule = "0 * * * * *")]
pub const unsafe fn tick() {}

fn main() {}

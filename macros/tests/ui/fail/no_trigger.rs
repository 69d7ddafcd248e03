use fnwire::Context;
use fnwire::queue_output;

#[queue_output(queue = "done")]
pub fn relay(ctx: Context) -> String {
    let _ = ctx;
    String::new()
}

fn main() {}

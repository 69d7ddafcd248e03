use fnwire::http_trigger;

#[http_trigger(route = "hello")]
pub struct Hello;

fn main() {}

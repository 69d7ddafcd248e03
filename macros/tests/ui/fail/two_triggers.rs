use fnwire::{HttpRequest, HttpResponse};
use fnwire::{http_trigger, queue_trigger};

#[http_trigger(route = "hello")]
#[queue_trigger(queue = "jobs")]
pub fn hello(req: HttpRequest) -> HttpResponse {
    let _ = req;
    HttpResponse::ok()
}

fn main() {}

use fnwire::{HttpRequest, HttpResponse};
use fnwire::http_trigger;

#[http_trigger(rout = "hello")]
pub fn hello(req: HttpRequest) -> HttpResponse {
    let _ = req;
    HttpResponse::ok()
}

fn main() {}

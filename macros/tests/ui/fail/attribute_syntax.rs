use fnwire::{HttpRequest, HttpResponse};
use fnwire::http_trigger;

#[http_trigger(route)]
pub fn hello(req: HttpRequest) -> HttpResponse {
    let _ = req;
    HttpResponse::ok()
}

const ROUTE: &str = "x";

#[http_trigger(route = ROUTE)]
pub fn constant(req: HttpRequest) -> HttpResponse {
    let _ = req;
    HttpResponse::ok()
}

fn main() {}

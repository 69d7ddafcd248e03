use fnwire::{HttpRequest, HttpResponse};
use fnwire::http_trigger;

#[http_trigger(methods = ["GET", "FETCH"], auth_level = "public")]
pub fn hello(req: HttpRequest) -> HttpResponse {
    let _ = req;
    HttpResponse::ok()
}

fn main() {}

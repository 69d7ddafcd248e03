use fnwire::{HttpRequest, HttpResponse};
use fnwire::http_trigger;

#[http_trigger]
pub fn hello<T: Default>(req: HttpRequest) -> HttpResponse {
    let _ = (req, T::default());
    HttpResponse::ok()
}

fn main() {}

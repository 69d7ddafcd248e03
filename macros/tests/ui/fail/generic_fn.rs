use fnwire::{HttpRequest, HttpResponse};
use fnwire_macros::http_trigger;

#[http_trigger]
pub fn hello<T: Default>(req: HttpRequest) -> HttpResponse {
    let _ = (req, T::default());
    HttpResponse::ok()
}

fn main() {}

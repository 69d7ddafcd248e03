use fnwire::{HttpRequest, HttpResponse};
use fnwire::http_trigger;

pub struct Api;

impl Api {
    #[http_trigger]
    pub fn hello(&self, req: HttpRequest) -> HttpResponse {
        let _ = req;
        HttpResponse::ok()
    }
}

fn main() {}

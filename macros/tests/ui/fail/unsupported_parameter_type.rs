use fnwire::{HttpRequest, HttpResponse};
use fnwire::http_trigger;

pub struct Database;

#[http_trigger]
pub fn hello(req: HttpRequest, db: Database) -> HttpResponse {
    let _ = (req, db);
    HttpResponse::ok()
}

fn main() {}

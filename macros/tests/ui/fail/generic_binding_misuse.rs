use fnwire::{HttpRequest, HttpResponse};
use fnwire::{binding, http_trigger};

#[http_trigger]
#[binding(name = "items", command_text = "SELECT 1")]
#[binding(type = "sql", direction = "sideways", name = "rows")]
pub fn list(req: HttpRequest, items: String, rows: String) -> HttpResponse {
    let _ = (req, items, rows);
    HttpResponse::ok()
}

fn main() {}

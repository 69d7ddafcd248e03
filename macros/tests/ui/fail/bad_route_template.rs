use fnwire::{HttpRequest, HttpResponse, http_trigger};

#[http_trigger(route = "todos/{id", methods = "get")]
pub async fn unclosed(req: HttpRequest) -> HttpResponse {
    let _ = req;
    HttpResponse::ok()
}

#[http_trigger(route = "todos/{id:integer}")]
pub async fn unknown_constraint(req: HttpRequest) -> HttpResponse {
    let _ = req;
    HttpResponse::ok()
}

#[http_trigger(route = "files/{*rest}/{name}")]
pub async fn catch_all_not_last(req: HttpRequest) -> HttpResponse {
    let _ = req;
    HttpResponse::ok()
}

fn main() {}

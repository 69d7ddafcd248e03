use fnwire::{HttpRequest, HttpResponse, Out};
use fnwire::{blob_output, http_trigger, queue_output};

#[http_trigger]
#[blob_output(name = "doc", path = "docs/{rand-guid}")]
#[queue_output(name = "Doc", queue = "docs")]
pub fn save(req: HttpRequest, doc: Out<String>) -> HttpResponse {
    let _ = (req, doc);
    HttpResponse::ok()
}

#[http_trigger]
#[queue_output(queue = "audit")]
pub fn audit(req: HttpRequest) -> HttpResponse {
    let _ = req;
    HttpResponse::ok()
}

#[http_trigger]
#[blob_output(name = "doc", path = "a/{rand-guid}")]
#[blob_output(name = "doc", path = "b/{rand-guid}")]
pub fn twice(req: HttpRequest, doc: Out<String>) -> HttpResponse {
    let _ = (req, doc);
    HttpResponse::ok()
}

fn main() {}

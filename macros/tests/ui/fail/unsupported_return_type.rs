use fnwire::HttpRequest;
use fnwire::http_trigger;

pub struct Page;

#[http_trigger]
pub async fn hello(req: HttpRequest) -> Page {
    let _ = req;
    Page
}

fn main() {}

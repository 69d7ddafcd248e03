use fnwire::{Context, HttpRequest, HttpResponse};
use fnwire::http_trigger;

pub struct Pair(pub Context);

#[http_trigger]
pub fn hello(req: HttpRequest, Pair(ctx): Pair, _: Context) -> HttpResponse {
    let _ = (req, ctx);
    HttpResponse::ok()
}

fn main() {}

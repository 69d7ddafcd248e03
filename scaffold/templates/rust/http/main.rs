//! HTTP functions. `fnwire start --watch`, then `curl localhost:7071/api/hello?name=Ada`.

use fnwire::{HttpRequest, HttpResponse, http_trigger};

/// Greets by name: from the route (`/api/hello/Bob`), else the `name` query parameter, else "world".
#[http_trigger(route = "hello/{name?}", methods = "get,post", auth_level = "anonymous")]
pub async fn hello(req: HttpRequest) -> HttpResponse {
    let name = [req.param("name"), req.query("name")]
        .into_iter()
        .flatten()
        .find(|name| !name.is_empty())
        .unwrap_or("world");
    HttpResponse::ok().with_text(format!("Hello, {name}!"))
}

fn main() -> std::process::ExitCode {
    fnwire::run()
}

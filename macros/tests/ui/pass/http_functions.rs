//! HTTP functions: sync and async, private and `pub`, default and named response, paths with
//! and without `fnwire::`. `main` checks what was registered and calls a function directly.
// Stacked attributes are stripped before the compiler sees them; their imports must still count
// as used, so any warning fails these cases.
#![deny(warnings)]

use fnwire::__private::{Registration, inventory};
use fnwire::http::Method;
use fnwire::{Context, HttpRequest, HttpResponse, Out};
use fnwire::{http_output, http_trigger};

#[http_trigger(route = "hello/{name?}", methods = "get,post", auth_level = "anonymous")]
pub async fn hello(req: HttpRequest, ctx: Context) -> HttpResponse {
    let _ = ctx;
    HttpResponse::ok().with_text(format!("hello {}", req.param("name").unwrap_or("world")))
}

/// A private sync function with its response on a parameter and its own function name.
#[fnwire::http_trigger(route = "items", methods = ["PUT"], function_name = "PutItem")]
#[fnwire::http_output(name = "res")]
fn put_item(req: HttpRequest, res: Out<HttpResponse>) -> Result<(), String> {
    if req.body().is_empty() {
        return Err("empty body".to_string());
    }
    res.set(HttpResponse::created());
    Ok(())
}

/// `http_output` is imported and only ever stacked: the import must not be reported unused.
#[http_trigger(route = "echo")]
#[http_output(name = "res")]
pub fn echo(req: HttpRequest, res: Out<HttpResponse>) {
    res.set(HttpResponse::ok().with_text(req.text().into_owned()));
}

fn registration(name: &str) -> &'static Registration {
    inventory::iter::<Registration>
        .into_iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("`{name}` is not registered"))
}

fn main() {
    let hello = registration("hello");
    assert_eq!(
        hello.bindings,
        [
            r#"{"type":"httpTrigger","direction":"in","name":"req","route":"hello/{name?}","methods":["get","post"],"authLevel":"anonymous"}"#,
            r#"{"type":"http","direction":"out","name":"$return"}"#,
        ]
    );
    assert!(hello.location.ends_with("http_functions.rs:13"), "{}", hello.location);

    let put = registration("PutItem");
    assert_eq!(
        put.bindings,
        [
            r#"{"type":"httpTrigger","direction":"in","name":"req","route":"items","methods":["put"]}"#,
            r#"{"type":"http","direction":"out","name":"res"}"#,
        ]
    );

    assert_eq!(registration("echo").bindings[1], r#"{"type":"http","direction":"out","name":"res"}"#);

    // The function itself is untouched: a unit test calls it like any other.
    let res = Out::detached("res");
    assert_eq!(put_item(HttpRequest::new(Method::PUT, "http://localhost/api/items"), res.clone()), Err("empty body".into()));
    assert!(!res.is_set());
    let req = HttpRequest::new(Method::PUT, "http://localhost/api/items").with_body("x");
    assert_eq!(put_item(req, res.clone()), Ok(()));
    assert!(res.is_set());
}

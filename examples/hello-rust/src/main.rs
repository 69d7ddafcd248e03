//! The hello app. Run it with `fnwire start examples/hello-rust`, then:
//!
//! ```text
//! curl localhost:7071/api/hello?name=Ada          # Hello, Ada!
//! curl localhost:7071/api/hello/Bob               # Hello, Bob!
//! curl -d '{"n":1}' localhost:7071/api/echo       # {"n":1}
//! curl -i localhost:7071/api/boom                 # 500, with the invocation id
//! curl -d 'hello' localhost:7071/api/enqueue       # 202; `work` writes HELLO to queue done
//! fnwire queue peek done --app examples/hello-rust # and to .fnwire/blobs/done/<id>.txt
//! curl -i localhost:7071/api/secret               # 401: `secret` needs a key
//! fnwire keys examples/hello-rust                  # prints the master and function keys
//! curl -H "x-functions-key: <key>" localhost:7071/api/secret   # 200 (or ?code=<key>)
//! ```
//!
//! The Python and Node examples implement the same functions with the same answers.

use fnwire::http::StatusCode;
use fnwire::{
    HttpRequest, HttpResponse, Out, QueueMessage, TimerInfo, blob_output, http_trigger, queue_output,
    queue_trigger, timer_trigger,
};

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

/// Answers a JSON body with the same JSON; anything else is a 400 that says why.
#[http_trigger(route = "echo", methods = "post", auth_level = "anonymous")]
pub async fn echo(req: HttpRequest) -> HttpResponse {
    match req.json::<serde_json::Value>() {
        Ok(value) => HttpResponse::ok().with_json(&value),
        Err(err) => HttpResponse::bad_request().with_text(format!("echo expects a JSON body: {err}")),
    }
}

/// Answers the request body as it came, whatever its bytes (the benchmark's large-body row).
#[http_trigger(route = "mirror", methods = "post", auth_level = "anonymous")]
pub async fn mirror(req: HttpRequest) -> HttpResponse {
    HttpResponse::ok().with_header("content-type", "application/octet-stream").with_body(req.into_body())
}

/// Always fails: shows what a failing function looks like to clients (500) and in the log.
#[http_trigger(route = "boom", auth_level = "anonymous")]
pub fn boom(req: HttpRequest) -> Result<HttpResponse, fnwire::Error> {
    Err(fnwire::Error::msg(format!("boom: {} {} fails on purpose", req.method(), req.path())))
}

/// Needs the function key (or the master key): shows `authLevel = "function"`.
#[http_trigger(route = "secret", methods = "get", auth_level = "function")]
pub fn secret(_req: HttpRequest) -> HttpResponse {
    HttpResponse::ok().with_text("You have the key.")
}

/// Puts the request body on queue `jobs` (`work` picks it up) and answers 202 with a note.
#[http_trigger(route = "enqueue", methods = "post", auth_level = "anonymous")]
#[queue_output(name = "job", queue = "jobs")]
pub fn enqueue(req: HttpRequest, job: Out<String>) -> HttpResponse {
    let body = req.text().into_owned();
    if body.is_empty() {
        return HttpResponse::bad_request().with_text("enqueue expects a body: the text of the job");
    }
    job.set(body);
    HttpResponse::new(StatusCode::ACCEPTED).with_text("queued on jobs\n")
}

/// Upper-cases each message on `jobs`: the result goes to queue `done` and to blob
/// `done/<message id>.txt`. Both are written only if this succeeds.
#[queue_trigger(queue = "jobs")]
#[queue_output(name = "done", queue = "done")]
#[blob_output(name = "copy", path = "done/{Id}.txt")]
pub fn work(job: QueueMessage, done: Out<String>, copy: Out<String>) {
    let text = job.text().to_uppercase();
    tracing::info!(id = %job.id, dequeue_count = job.dequeue_count, "working on {}", job.text());
    done.set(text.clone());
    copy.set(text);
}

/// Logs every two seconds.
#[timer_trigger(schedule = "*/2 * * * * *")]
pub fn tick(timer: TimerInfo) {
    tracing::info!(past_due = timer.is_past_due, "tick");
}

fn main() -> std::process::ExitCode {
    fnwire::run()
}

#[cfg(test)]
mod tests {
    use super::*;
    use fnwire::http::Method;

    // The annotated functions stay plain Rust functions.
    #[tokio::test]
    async fn hello_prefers_the_route_then_the_query() {
        let req = HttpRequest::new(Method::GET, "http://localhost/api/hello/Bob?name=Ada")
            .with_param("name", "Bob");
        assert_eq!(hello(req).await.body().as_ref(), b"Hello, Bob!");
        let req =
            HttpRequest::new(Method::GET, "http://localhost/api/hello?name=Ada").with_query("name", "Ada");
        assert_eq!(hello(req).await.body().as_ref(), b"Hello, Ada!");
        let req = HttpRequest::new(Method::GET, "http://localhost/api/hello");
        assert_eq!(hello(req).await.body().as_ref(), b"Hello, world!");
    }
}

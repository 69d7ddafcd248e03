//! Queue functions. `fnwire start --watch`, then `curl -d hello localhost:7071/api/enqueue`
//! (or `fnwire queue put jobs hello`) and `fnwire queue peek done`.

use fnwire::http::StatusCode;
use fnwire::{HttpRequest, HttpResponse, Out, QueueMessage, http_trigger, queue_output, queue_trigger};

/// Puts the request body on queue `jobs`, where `work` picks it up.
#[http_trigger(route = "enqueue", methods = "post", auth_level = "anonymous")]
#[queue_output(name = "job", queue = "jobs")]
pub fn enqueue(req: HttpRequest, job: Out<String>) -> HttpResponse {
    let text = req.text().into_owned();
    if text.is_empty() {
        return HttpResponse::bad_request().with_text("enqueue expects a body: the text of the job");
    }
    job.set(text);
    HttpResponse::new(StatusCode::ACCEPTED).with_text("queued on jobs\n")
}

/// Upper-cases each message on `jobs` and puts the result on queue `done`.
#[queue_trigger(queue = "jobs")]
#[queue_output(name = "done", queue = "done")]
pub fn work(job: QueueMessage, done: Out<String>) {
    fnwire::tracing::info!(id = %job.id, "working on {}", job.text());
    done.set(job.text().to_uppercase());
}

fn main() -> std::process::ExitCode {
    fnwire::run()
}

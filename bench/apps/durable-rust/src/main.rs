//! The app behind `fnwire-bench durable-chain` and `durable-fanout`: the same work written twice,
//! once as Durable Functions and once as plain queue-trigger hops, so that one host run measures
//! both on the same embedded store.
//!
//! * `chain5` calls activity `step` five times in a row; `hop_1` … `hop_5` do the same five
//!   steps as queue triggers (`hop-1` → … → `chain-done`), started by `POST /api/hops`.
//! * `fan_out` calls activity `square` once per number below its input and sums the results;
//!   `POST /api/fan` puts the same numbers on queue `fan`, which `fan_square` answers into
//!   `fan-done`.

use fnwire::durable::{OrchestrationContext, TaskError};
use fnwire::http::StatusCode;
use fnwire::{
    HttpRequest, HttpResponse, Out, QueueMessage, activity_trigger, http_trigger, orchestration_trigger,
    queue_output, queue_trigger,
};
use serde_json::Value;

/// The work of one step: both forms append the same mark, so a finished chain of either form
/// reads `<input>.....`.
fn step_text(text: &str) -> String {
    format!("{text}.")
}

/// Answers 200 once the host serves the app (the bench waits for it).
#[http_trigger(route = "ready", methods = "get", auth_level = "anonymous")]
pub fn ready(_req: HttpRequest) -> HttpResponse {
    HttpResponse::ok().with_text("ready")
}

#[orchestration_trigger]
pub async fn chain5(ctx: OrchestrationContext) -> Result<String, TaskError> {
    let mut value: String = ctx.input()?;
    for _ in 0..5 {
        value = ctx.call_activity("step", &value).await?;
    }
    Ok(value)
}

#[activity_trigger]
pub fn step(text: String) -> Result<String, fnwire::Error> {
    Ok(step_text(&text))
}

#[orchestration_trigger]
pub async fn fan_out(ctx: OrchestrationContext) -> Result<i64, TaskError> {
    let count: i64 = ctx.input()?;
    let squares = ctx.task_all((0..count).map(|n| ctx.call_activity::<i64>("square", n))).await?;
    Ok(squares.iter().sum())
}

#[activity_trigger]
pub fn square(n: i64) -> Result<i64, fnwire::Error> {
    Ok(n * n)
}

/// Starts one queue chain: the body goes to `hop-1`.
#[http_trigger(route = "hops", methods = "post", auth_level = "anonymous")]
#[queue_output(name = "first", queue = "hop-1")]
pub fn start_hops(req: HttpRequest, first: Out<String>) -> HttpResponse {
    first.set(req.text().into_owned());
    HttpResponse::new(StatusCode::ACCEPTED)
}

#[queue_trigger(queue = "hop-1")]
#[queue_output(name = "next", queue = "hop-2")]
pub fn hop_1(message: QueueMessage, next: Out<String>) {
    next.set(step_text(&message.text()));
}

#[queue_trigger(queue = "hop-2")]
#[queue_output(name = "next", queue = "hop-3")]
pub fn hop_2(message: QueueMessage, next: Out<String>) {
    next.set(step_text(&message.text()));
}

#[queue_trigger(queue = "hop-3")]
#[queue_output(name = "next", queue = "hop-4")]
pub fn hop_3(message: QueueMessage, next: Out<String>) {
    next.set(step_text(&message.text()));
}

#[queue_trigger(queue = "hop-4")]
#[queue_output(name = "next", queue = "hop-5")]
pub fn hop_4(message: QueueMessage, next: Out<String>) {
    next.set(step_text(&message.text()));
}

#[queue_trigger(queue = "hop-5")]
#[queue_output(name = "next", queue = "chain-done")]
pub fn hop_5(message: QueueMessage, next: Out<String>) {
    next.set(step_text(&message.text()));
}

/// Puts the numbers below the body's count on queue `fan`, one message each (a JSON array on a
/// queue output is one message per element).
#[http_trigger(route = "fan", methods = "post", auth_level = "anonymous")]
#[queue_output(name = "numbers", queue = "fan")]
pub fn start_fan(req: HttpRequest, numbers: Out<Value>) -> HttpResponse {
    let Ok(count) = req.text().trim().parse::<i64>() else {
        return HttpResponse::bad_request()
            .with_text(format!("fan expects a count as its body, e.g. 1000; got `{}`", req.text()));
    };
    numbers.set(Value::from((0..count).collect::<Vec<i64>>()));
    HttpResponse::new(StatusCode::ACCEPTED)
}

#[queue_trigger(queue = "fan")]
#[queue_output(name = "done", queue = "fan-done")]
pub fn fan_square(message: QueueMessage, done: Out<String>) -> Result<(), fnwire::Error> {
    let n: i64 = message.json()?;
    done.set((n * n).to_string());
    Ok(())
}

fn main() -> std::process::ExitCode {
    fnwire::run()
}

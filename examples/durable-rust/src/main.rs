//! The six Durable Functions patterns in Rust: function chaining, fan-out/fan-in, the async
//! HTTP API, a monitor with a recurring durable timer, human interaction with an event and a
//! timeout, and an aggregator entity. Routes and names match `examples/durable-python`, so the
//! same `curl` commands drive both (see README.md).

use std::time::Duration;

use chrono::Duration as Span;
use fnwire::durable::{DurableClient, EntityContext, EntityId, OrchestrationContext, TaskError};
use fnwire::http::StatusCode;
use fnwire::{
    HttpRequest, HttpResponse, activity_trigger, durable_client_input, entity_trigger, http_trigger,
    orchestration_trigger,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// Why a request is refused: the status and the message for the caller.
type Refusal = (StatusCode, String);

fn refuse((status, message): Refusal) -> HttpResponse {
    HttpResponse::new(status).with_text(message)
}

/// The request body as JSON (an empty body is `null`), or the 400 that says why not.
fn body_json(req: &HttpRequest) -> Result<Value, Refusal> {
    if req.body().is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(req.body()).map_err(|e| {
        (StatusCode::BAD_REQUEST, format!("the request body is not JSON ({e}); send e.g. '\"Tokyo\"' or '5'"))
    })
}

/// Starts orchestrator `name` with the request's body as input; an unknown orchestrator or a
/// bad body is the durable API's 4xx, passed on with its message.
async fn start(req: &HttpRequest, client: &DurableClient) -> Result<String, Refusal> {
    let name = req.param("name").unwrap_or_default().to_string();
    let input = body_json(req)?;
    client.start_new(&name, None, input).await.map_err(|e| {
        (e.status().filter(|s| s.is_client_error()).unwrap_or(StatusCode::BAD_GATEWAY), e.to_string())
    })
}

// Async HTTP API: start any orchestrator, answer 202 with the management URLs.
#[http_trigger(route = "orchestrators/{name}", methods = "post", auth_level = "anonymous")]
#[durable_client_input(name = "client")]
pub async fn http_start(req: HttpRequest, client: DurableClient) -> HttpResponse {
    match start(&req, &client).await {
        Ok(id) => client.create_check_status_response(&req, &id),
        Err(refusal) => refuse(refusal),
    }
}

// The same, but waits up to 5 s for the output before falling back to the 202.
#[http_trigger(route = "run/{name}", methods = "post", auth_level = "anonymous")]
#[durable_client_input(name = "client")]
pub async fn http_run(req: HttpRequest, client: DurableClient) -> Result<HttpResponse, fnwire::Error> {
    let id = match start(&req, &client).await {
        Ok(id) => id,
        Err(refusal) => return Ok(refuse(refusal)),
    };
    let waited = client
        .wait_for_completion_or_create_check_status_response(
            &req,
            &id,
            Duration::from_secs(5),
            Duration::from_millis(200),
        )
        .await?;
    Ok(waited)
}

#[http_trigger(route = "status/{id}", methods = "get", auth_level = "anonymous")]
#[durable_client_input(name = "client")]
pub async fn status(req: HttpRequest, client: DurableClient) -> Result<HttpResponse, fnwire::Error> {
    let id = req.param("id").unwrap_or_default();
    Ok(match client.get_status(id).await? {
        Some(status) => HttpResponse::ok().with_json(&status),
        None => HttpResponse::not_found().with_text(format!("no instance `{id}`")),
    })
}

// Human interaction: raise the event the `approval` orchestrator waits for.
#[http_trigger(route = "approve/{id}", methods = "post", auth_level = "anonymous")]
#[durable_client_input(name = "client")]
pub async fn approve(req: HttpRequest, client: DurableClient) -> Result<HttpResponse, fnwire::Error> {
    let answer = String::from_utf8_lossy(req.body()).trim().to_string();
    let answer = if answer.is_empty() { "yes".to_string() } else { answer };
    client.raise_event(req.param("id").unwrap_or_default(), "Approval", answer).await?;
    Ok(HttpResponse::new(StatusCode::ACCEPTED))
}

// Aggregator: signal and read the counter entity from outside any orchestration.
#[http_trigger(route = "counter/{key}/{op}", methods = "post", auth_level = "anonymous")]
#[durable_client_input(name = "client")]
pub async fn signal_counter(req: HttpRequest, client: DurableClient) -> Result<HttpResponse, fnwire::Error> {
    let entity = EntityId::new("counter", req.param("key").unwrap_or_default());
    let input = match body_json(&req) {
        Ok(input) => input,
        Err(refusal) => return Ok(refuse(refusal)),
    };
    client.signal_entity(&entity, req.param("op").unwrap_or_default(), input).await?;
    Ok(HttpResponse::new(StatusCode::ACCEPTED))
}

#[http_trigger(route = "counter/{key}", methods = "get", auth_level = "anonymous")]
#[durable_client_input(name = "client")]
pub async fn read_counter(req: HttpRequest, client: DurableClient) -> Result<HttpResponse, fnwire::Error> {
    let entity = EntityId::new("counter", req.param("key").unwrap_or_default());
    Ok(match client.read_entity_state::<i64>(&entity).await? {
        Some(value) => HttpResponse::ok().with_json(&value),
        None => HttpResponse::not_found().with_text("no such counter"),
    })
}

// 1. Function chaining.
#[orchestration_trigger]
pub async fn chain(ctx: OrchestrationContext) -> Result<Vec<String>, TaskError> {
    let city: String = ctx.input()?;
    let first: String = ctx.call_activity("say_hello", city).await?;
    let second: String = ctx.call_activity("say_hello", &first).await?;
    let third: String = ctx.call_activity("say_hello", &second).await?;
    Ok(vec![first, second, third])
}

#[activity_trigger]
pub fn say_hello(name: String) -> Result<String, fnwire::Error> {
    Ok(format!("Hello {name}"))
}

// 2. Fan-out / fan-in.
#[orchestration_trigger]
pub async fn fan_out_fan_in(ctx: OrchestrationContext) -> Result<i64, TaskError> {
    let count: i64 = ctx.input()?;
    let squares = ctx.task_all((0..count).map(|n| ctx.call_activity::<i64>("square", n))).await?;
    Ok(squares.iter().sum())
}

#[activity_trigger]
pub fn square(n: i64) -> Result<i64, fnwire::Error> {
    Ok(n * n)
}

// 4. Monitor: check, sleep on a durable timer, check again.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MonitorInput {
    done_after: u32,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Check {
    check: u32,
    done_after: u32,
}

#[orchestration_trigger]
pub async fn monitor(ctx: OrchestrationContext) -> Result<Value, TaskError> {
    let input: MonitorInput = ctx.input()?;
    let mut checks = 0;
    loop {
        checks += 1;
        let state: String =
            ctx.call_activity("check_job", Check { check: checks, done_after: input.done_after }).await?;
        ctx.set_custom_status(json!({"checks": checks, "state": state}));
        if state == "done" {
            return Ok(json!({"checks": checks}));
        }
        ctx.create_timer(ctx.current_utc_datetime() + Span::seconds(1)).await?;
    }
}

#[activity_trigger]
pub fn check_job(job: Check) -> Result<&'static str, fnwire::Error> {
    Ok(if job.check >= job.done_after { "done" } else { "running" })
}

// 5. Human interaction: an event, or a timeout.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalInput {
    timeout_seconds: i64,
}

#[orchestration_trigger]
pub async fn approval(ctx: OrchestrationContext) -> Result<String, TaskError> {
    let input: ApprovalInput = ctx.input()?;
    let deadline = ctx.current_utc_datetime() + Span::seconds(input.timeout_seconds);
    let event = ctx.wait_for_external_event::<String>("Approval");
    let timer = ctx.create_timer(deadline);
    let winner = ctx.task_any([event.handle(), timer.handle()]).await?;
    if winner == 0 {
        timer.cancel();
        return Ok(format!("approved: {}", event.await?));
    }
    Ok("timed out".into())
}

// 6. Aggregator: a counter entity, called from an orchestration.
#[entity_trigger]
pub fn counter(ctx: EntityContext) -> Result<i64, fnwire::Error> {
    let mut value: i64 = ctx.state_or(|| 0)?;
    match ctx.operation_name() {
        "add" => value += ctx.input::<i64>()?,
        "reset" => value = 0,
        "get" => {}
        other => {
            return Err(fnwire::Error::msg(format!(
                "counter has no operation `{other}`: use add, reset or get"
            )));
        }
    }
    ctx.set_state(value)?;
    Ok(value)
}

#[orchestration_trigger]
pub async fn count_with_entity(ctx: OrchestrationContext) -> Result<i64, TaskError> {
    let entity = EntityId::new("counter", ctx.input::<String>()?);
    ctx.signal_entity(&entity, "add", 10)?;
    ctx.call_entity(&entity, "add", 5).await
}

fn main() -> std::process::ExitCode {
    fnwire::run()
}

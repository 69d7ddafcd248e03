//! Golden replays: the histories in `tests/durable/golden.json` were replayed by the official
//! Python library (`tests/durable/generate.py`); the Rust replay engine must answer the same
//! `OrchestratorState` (and the same failure message) for each. Each orchestrator below is the
//! Rust twin of the Python one with the same case name.

use chrono::Duration;
use fnwire::durable::{Answer, EntityId, OrchestrationContext, RetryOptions, TaskError, replay};
use serde_json::{Value, json};

const GOLDEN: &str = include_str!("../durable/golden.json");

async fn chain(ctx: OrchestrationContext) -> Result<Vec<String>, TaskError> {
    let x = ctx.call_activity("Hello", "Tokyo").await?;
    let y = ctx.call_activity("Hello", "Seattle").await?;
    let z = ctx.call_activity("Hello", "London").await?;
    Ok(vec![x, y, z])
}

async fn fan_out(ctx: OrchestrationContext) -> Result<i64, TaskError> {
    let count: i64 = ctx.input()?;
    let tasks = (0..count).map(|i| ctx.call_activity::<i64>("Work", i));
    let results = ctx.task_all(tasks).await?;
    ctx.call_activity("Sum", results).await
}

async fn approval(ctx: OrchestrationContext) -> Result<Value, TaskError> {
    let deadline = ctx.current_utc_datetime() + Duration::hours(1);
    let timer = ctx.create_timer(deadline);
    let decision = ctx.wait_for_external_event::<String>("Approval");
    let winner = ctx.task_any([decision.handle(), timer.handle()]).await?;
    if winner == 0 {
        timer.cancel();
        return Ok(json!({"approved": decision.await?}));
    }
    Ok(json!("timed out"))
}

async fn retries(ctx: OrchestrationContext) -> Result<String, TaskError> {
    ctx.call_activity_with_retry("Flaky", RetryOptions::new(1000, 2), "job").await
}

async fn sub_orchestration(ctx: OrchestrationContext) -> Result<Vec<Value>, TaskError> {
    let a = ctx.call_sub_orchestrator("Child", json!({"n": 1}), Some("child-1")).await?;
    let b = ctx.call_sub_orchestrator("Child", json!({"n": 2}), None).await?;
    Ok(vec![a, b])
}

async fn continue_as_new(ctx: OrchestrationContext) -> Result<Option<i64>, TaskError> {
    let n: i64 = ctx.input()?;
    ctx.call_activity::<()>("Tick", n).await?;
    if n < 3 {
        ctx.continue_as_new(n + 1)?;
        return Ok(None);
    }
    Ok(Some(n))
}

async fn custom_status(ctx: OrchestrationContext) -> Result<i64, TaskError> {
    ctx.set_custom_status(json!({"stage": "started"}));
    let a: i64 = ctx.call_activity("Step", 1).await?;
    ctx.set_custom_status(json!({"stage": "halfway", "after": a}));
    let b: i64 = ctx.call_activity("Step", 2).await?;
    Ok(a + b)
}

async fn failure(ctx: OrchestrationContext) -> Result<(), String> {
    ctx.call_activity::<Value>("Step", 1).await.map_err(|e| e.to_string())?;
    Err("order 42 has no items".into())
}

async fn activity_failure(ctx: OrchestrationContext) -> Result<Value, TaskError> {
    ctx.call_activity("Charge", json!({"amount": 10})).await
}

async fn entity(ctx: OrchestrationContext) -> Result<i64, TaskError> {
    let counter = EntityId::new("Counter", "mine");
    ctx.signal_entity(&counter, "add", 5)?;
    ctx.call_entity(&counter, "get", ()).await
}

async fn guids_and_time(ctx: OrchestrationContext) -> Result<Vec<String>, TaskError> {
    let format =
        |ctx: &OrchestrationContext| ctx.current_utc_datetime().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string();
    let first = ctx.new_guid().to_string();
    let second = ctx.new_guid().to_string();
    let now = format(&ctx);
    ctx.call_activity::<()>("Record", [&first, &second, &now]).await?;
    let third = ctx.new_guid().to_string();
    let later = format(&ctx);
    Ok(vec![first, second, now, third, later])
}

async fn timer_then_activity(ctx: OrchestrationContext) -> Result<Value, TaskError> {
    ctx.create_timer(ctx.current_utc_datetime() + Duration::minutes(5)).await?;
    ctx.call_activity("After", ()).await
}

async fn replaying(ctx: OrchestrationContext) -> Result<Vec<bool>, TaskError> {
    let mut seen = vec![ctx.is_replaying()];
    ctx.call_activity::<String>("A", 1).await?;
    seen.push(ctx.is_replaying());
    ctx.call_activity::<String>("A", 2).await?;
    seen.push(ctx.is_replaying());
    Ok(seen)
}

async fn early_event(ctx: OrchestrationContext) -> Result<Vec<String>, TaskError> {
    let first = ctx.call_activity("A", 1).await?;
    let value = ctx.wait_for_external_event("Go").await?;
    Ok(vec![first, value])
}

async fn sub_with_retry(ctx: OrchestrationContext) -> Result<Value, TaskError> {
    ctx.call_sub_orchestrator_with_retry("Child", RetryOptions::new(500, 3), [1, 2], Some("child-r")).await
}

async fn long_timer(ctx: OrchestrationContext) -> Result<&'static str, TaskError> {
    ctx.create_timer(ctx.current_utc_datetime() + Duration::days(2) + Duration::hours(12)).await?;
    Ok("woke")
}

fn run(case: &str, body: &str) -> Answer {
    match case.split('/').next().unwrap() {
        "chain" => replay(body, chain),
        "fan-out" => replay(body, fan_out),
        "approval" => replay(body, approval),
        "retries" => replay(body, retries),
        "sub-orchestration" => replay(body, sub_orchestration),
        "continue-as-new" => replay(body, continue_as_new),
        "custom-status" => replay(body, custom_status),
        "failure" if case.ends_with("activity-failed") => replay(body, activity_failure),
        "failure" => replay(body, failure),
        "entity" => replay(body, entity),
        "guids" => replay(body, guids_and_time),
        "timer" => replay(body, timer_then_activity),
        "replaying" => replay(body, replaying),
        "sub-retry" => replay(body, sub_with_retry),
        "long-timer" => replay(body, long_timer),
        "early-event" => replay(body, early_event),
        other => panic!("no Rust orchestrator for golden case group `{other}`"),
    }
}

/// Action inputs are JSON text; Python and serde_json space it differently, so they are
/// compared as JSON values.
fn normalize(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, item) in map.iter_mut() {
                if key == "input"
                    && let Value::String(text) = item
                    && let Ok(parsed) = serde_json::from_str::<Value>(text)
                {
                    *item = json!({"json": parsed});
                    continue;
                }
                normalize(item);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(normalize),
        _ => {}
    }
}

#[test]
fn the_rust_engine_answers_like_the_official_python_library() {
    let golden: Value = serde_json::from_str(GOLDEN).unwrap();
    let cases = golden["cases"].as_array().unwrap();
    assert!(cases.len() >= 35, "{} golden cases", cases.len());
    let mut mismatches = Vec::new();
    for case in cases {
        let name = case["case"].as_str().unwrap();
        let body = case["input"].to_string();
        let mut expected = case["state"].clone();
        normalize(&mut expected);
        let (mut state, error) = match run(name, &body) {
            Answer::State(state) => (serde_json::from_str::<Value>(&state).unwrap(), None),
            Answer::Failed(message) => {
                let (error, state) =
                    message.split_once("\n\n$OutOfProcData$:").expect("failure carries its state");
                (serde_json::from_str::<Value>(state).unwrap(), Some(error.to_string()))
            }
        };
        normalize(&mut state);
        let expected_error = case.get("error").and_then(Value::as_str).map(str::to_string);
        if state != expected || error != expected_error {
            mismatches.push(format!(
                "{name}:\n  python: {expected} {expected_error:?}\n  rust:   {state} {error:?}"
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} of {} cases differ:\n{}",
        mismatches.len(),
        cases.len(),
        mismatches.join("\n")
    );
}

/// The Rust twin of the Python `counter` entity in `generate.py`.
fn counter(ctx: fnwire::durable::EntityContext) -> Result<i64, String> {
    let mut value: i64 = ctx.state_or(|| 0).map_err(|e| e.to_string())?;
    match ctx.operation_name() {
        "add" => value += ctx.input::<i64>().map_err(|e| e.to_string())?,
        "reset" => value = 0,
        "fail" => {
            return Err(format!("counter cannot {}", ctx.input::<String>().map_err(|e| e.to_string())?));
        }
        _ => {}
    }
    ctx.set_state(value).map_err(|e| e.to_string())?;
    Ok(value)
}

/// Entity answers compared as values: the clock readings are zeroed, JSON texts parsed.
fn entity_answer(mut answer: Value) -> Value {
    let parse = |v: &mut Value| {
        if let Some(text) = v.as_str() {
            *v = serde_json::from_str(text).unwrap_or(Value::Null);
        }
    };
    parse(&mut answer["entityState"]);
    for result in answer["results"].as_array_mut().unwrap() {
        assert!(result["duration"].is_u64() && result["startTime"].is_u64(), "{result}");
        result["duration"] = json!(0);
        result["startTime"] = json!(0);
        parse(&mut result["result"]);
    }
    answer
}

#[test]
fn entity_batches_are_answered_like_the_official_python_library() {
    use fnwire::__private::{Invocation, run_entity};
    use fnwire::protocol::rpc::TypedData;
    use fnwire::protocol::rpc::typed_data::Data;

    let golden: Value = serde_json::from_str(GOLDEN).unwrap();
    let cases = golden["entities"].as_array().unwrap();
    assert!(cases.len() >= 3);
    for case in cases {
        let name = case["case"].as_str().unwrap();
        let invocation = Invocation::new("1", "counter")
            .with_input("ctx", TypedData { data: Some(Data::String(case["input"].to_string())) });
        let outcome = run_entity(invocation, "ctx", counter).unwrap_or_else(|e| panic!("{name}: {e}"));
        let Some(Data::Json(text)) = outcome.return_value.and_then(|d| d.data) else {
            panic!("{name}: no JSON")
        };
        let rust = entity_answer(serde_json::from_str(&text).unwrap());
        let python = entity_answer(case["output"].clone());
        assert_eq!(rust, python, "{name}");
    }
}

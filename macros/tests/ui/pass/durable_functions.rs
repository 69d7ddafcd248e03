//! Durable functions: an orchestrator, activities (async and blocking), entities (blocking and
//! async) and a durable client input; `main` runs each through its generated invoker.
#![deny(warnings)]

use fnwire::__private::{Invocation, Registration, inventory};
use fnwire::durable::{DurableClient, EntityContext, OrchestrationContext, TaskError};
use fnwire::protocol::rpc::TypedData;
use fnwire::protocol::rpc::typed_data::Data;
use fnwire::{
    HttpRequest, HttpResponse, activity_trigger, durable_client_input, entity_trigger, http_trigger,
    orchestration_trigger,
};

#[orchestration_trigger(orchestration = "Greetings")]
pub async fn greetings(ctx: OrchestrationContext) -> Result<Vec<String>, TaskError> {
    let first: String = ctx.call_activity("shout", "tokyo").await?;
    let second: String = ctx.call_activity("shout", format!("{first}-osaka")).await?;
    Ok(vec![first, second])
}

#[derive(serde::Deserialize)]
pub struct Order {
    id: u32,
    items: Vec<String>,
}

#[activity_trigger]
pub async fn shout(city: String) -> Result<String, fnwire::Error> {
    Ok(city.to_uppercase())
}

#[activity_trigger(activity = "CountItems")]
pub fn count_items(order: Order) -> Result<serde_json::Value, fnwire::Error> {
    Ok(serde_json::json!({"id": order.id, "count": order.items.len()}))
}

#[entity_trigger(entity_name = "Counter")]
pub fn counter(ctx: EntityContext) -> Result<(), fnwire::Error> {
    let value: i64 = ctx.state_or(|| 0)?;
    match ctx.operation_name() {
        "add" => ctx.set_state(value + ctx.input::<i64>()?)?,
        "get" => ctx.set_result(value)?,
        other => return Err(fnwire::Error::msg(format!("no operation `{other}`"))),
    }
    Ok(())
}

#[entity_trigger]
pub async fn tally(ctx: EntityContext) -> Result<i64, fnwire::Error> {
    let value: i64 = ctx.state_or(|| 0)? + 1;
    ctx.set_state(value)?;
    Ok(value)
}

#[http_trigger(route = "start/{name}")]
#[durable_client_input(name = "client")]
pub async fn start(req: HttpRequest, client: DurableClient) -> Result<HttpResponse, fnwire::Error> {
    let id = client.start_new("Greetings", None, ()).await?;
    Ok(client.create_check_status_response(&req, &id))
}

fn registration(name: &str) -> &'static Registration {
    inventory::iter::<Registration>
        .into_iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("`{name}` is not registered"))
}

fn json(text: &str) -> TypedData {
    TypedData { data: Some(Data::Json(text.to_string())) }
}

fn returned_json(outcome: fnwire::InvocationOutcome) -> serde_json::Value {
    match outcome.return_value.and_then(|d| d.data) {
        Some(Data::Json(text)) => serde_json::from_str(&text).expect("JSON"),
        other => panic!("expected a JSON return value, got {other:?}"),
    }
}

fn main() {
    assert_eq!(
        registration("greetings").bindings,
        [r#"{"type":"orchestrationTrigger","direction":"in","name":"ctx","orchestration":"Greetings"}"#]
    );
    assert_eq!(registration("shout").bindings, [r#"{"type":"activityTrigger","direction":"in","name":"city"}"#]);
    assert_eq!(
        registration("counter").bindings,
        [r#"{"type":"entityTrigger","direction":"in","name":"ctx","entityName":"Counter"}"#]
    );
    assert_eq!(
        registration("start").bindings,
        [
            r#"{"type":"httpTrigger","direction":"in","name":"req","route":"start/{name}"}"#,
            r#"{"type":"durableClient","direction":"in","name":"client"}"#,
            r#"{"type":"http","direction":"out","name":"$return"}"#,
        ]
    );

    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let call = |name: &str, binding: &str, data: TypedData| {
        let invocation = Invocation::new("1", name).with_input(binding, data);
        runtime.block_on(registration(name).invoke.call(invocation))
    };

    // The orchestrator's first episode: one activity scheduled, its input JSON text.
    let start = r#"{"history": [
        {"EventType": 12, "EventId": -1, "IsPlayed": false, "Timestamp": "2026-11-30T08:00:00Z"},
        {"EventType": 0, "EventId": -1, "IsPlayed": false, "Timestamp": "2026-11-30T08:00:00Z", "Name": "Greetings", "Version": ""}
    ], "input": null, "instanceId": "abc", "isReplaying": false, "parentInstanceId": null, "upperSchemaVersion": 1}"#;
    let state = returned_json(call("greetings", "ctx", json(start)).expect("the orchestrator answers"));
    assert_eq!(
        state,
        serde_json::json!({"isDone": false, "schemaVersion": 1,
            "actions": [[{"actionType": 0, "functionName": "shout", "input": "\"tokyo\""}]]})
    );

    // Activities: JSON text in, JSON out.
    assert_eq!(returned_json(call("shout", "city", json("\"tokyo\"")).unwrap()), "TOKYO");
    let counted = call("count_items", "order", json(r#"{"id": 7, "items": ["a", "b"]}"#)).unwrap();
    assert_eq!(returned_json(counted), serde_json::json!({"id": 7, "count": 2}));
    let wrong = call("count_items", "order", json("\"not an order\"")).unwrap_err();
    assert!(wrong.message.contains("the activity input `\"not an order\"` is not a `"), "{}", wrong.message);

    // Entities: a batch of operations over the state.
    let batch = r#"{"self": {"name": "counter", "key": "k"}, "exists": true, "state": "40",
        "batch": [{"name": "add", "input": "\"2\"", "isSignal": true}, {"name": "get", "input": null, "isSignal": false},
                  {"name": "reset", "input": null, "isSignal": true}]}"#;
    let answer = returned_json(call("counter", "ctx", json(batch)).unwrap());
    assert_eq!(answer["entityExists"], true);
    assert_eq!(answer["entityState"], "42");
    let results: Vec<(bool, String)> = answer["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["isError"].as_bool().unwrap(), r["result"].as_str().unwrap().to_string()))
        .collect();
    assert_eq!(
        results,
        [(false, "null".into()), (false, "42".into()), (true, "\"no operation `reset`\"".into())]
    );
    let tallied = returned_json(
        call("tally", "ctx", json(r#"{"self": {"name": "tally", "key": "k"}, "exists": false, "state": null,
            "batch": [{"name": "bump", "input": null}, {"name": "bump", "input": null}]}"#))
        .unwrap(),
    );
    assert_eq!(tallied["entityState"], "2");
    assert_eq!(tallied["results"][1]["result"], "2");
}

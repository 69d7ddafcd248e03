//! Golden replay cases: histories as the host builds them, the official Python library's
//! answer to each (recorded by `tests/fixtures/generate.py`), and the outcome the Durable Task
//! Framework's semantics call for.

use fnwire_durable::model::{OrchestrationTriggerInput, OrchestratorState, state_from_failure_message};
use fnwire_durable::replay::{Completion, Decision, replay};
use serde_json::{Value, json};

const CASES: &str = include_str!("../fixtures/replay_cases.json");

fn decision_json(decision: &Decision) -> Value {
    match decision {
        Decision::ScheduleActivity { task_id, name, input } => {
            json!({"kind": "ScheduleActivity", "taskId": task_id, "name": name, "input": input})
        }
        Decision::CreateTimer { task_id, fire_at } => {
            json!({"kind": "CreateTimer", "taskId": task_id, "fireAt": fnwire_durable::model::iso_time::format(fire_at)})
        }
        Decision::StartSubOrchestration { task_id, name, instance_id, input } => json!({
            "kind": "StartSubOrchestration", "taskId": task_id, "name": name, "instanceId": instance_id, "input": input
        }),
        Decision::SendEntityMessage { task_id, entity, request, .. } => {
            let mut value = json!({
                "kind": "SendEntityMessage", "taskId": task_id, "entity": entity.scheduler_id(),
                "op": request.op, "signal": request.signal
            });
            if let Some(input) = &request.input {
                value["input"] = json!(input);
            }
            value
        }
    }
}

fn check_completion(name: &str, completion: Option<&Completion>, expected: Option<&Value>) {
    match (completion, expected) {
        (None, None) => {}
        (Some(Completion::Completed { output }), Some(e)) if e["kind"] == "Completed" => {
            assert_eq!(output.as_ref().unwrap_or(&Value::Null), &e["output"], "{name}: output");
        }
        (Some(Completion::ContinuedAsNew { input }), Some(e)) if e["kind"] == "ContinuedAsNew" => {
            assert_eq!(input.as_ref().unwrap_or(&Value::Null), &e["input"], "{name}: continue-as-new input");
        }
        (Some(Completion::Failed { error }), Some(e)) if e["kind"] == "Failed" => {
            let wanted = e["errorContains"].as_str().unwrap();
            assert!(error.contains(wanted), "{name}: error `{error}` lacks `{wanted}`");
        }
        (got, wanted) => panic!("{name}: completion {got:?}, expected {wanted:?}"),
    }
}

#[test]
fn every_golden_case_replays_to_the_expected_outcome() {
    let file: Value = serde_json::from_str(CASES).unwrap();
    let cases = file["cases"].as_array().unwrap();
    assert!(cases.len() >= 25, "the fixture file lost cases");
    for case in cases {
        let name = case["name"].as_str().unwrap();
        let trigger: OrchestrationTriggerInput = serde_json::from_value(case["trigger"].clone())
            .unwrap_or_else(|e| panic!("{name}: trigger input does not parse: {e}"));
        // What the host sends must be exactly what the library was given.
        assert_eq!(serde_json::to_value(&trigger).unwrap(), case["trigger"], "{name}: trigger round trip");
        let state: OrchestratorState = match (&case["state"], case["failure"].as_str()) {
            (Value::Null, Some(message)) => state_from_failure_message(message)
                .unwrap_or_else(|| panic!("{name}: failure without $OutOfProcData$"))
                .unwrap(),
            (state, _) => {
                serde_json::from_value(state.clone()).unwrap_or_else(|e| panic!("{name}: state: {e}"))
            }
        };
        let expected = &case["expected"];
        let outcome = replay(&trigger.instance_id, &trigger.history, &state);
        if let Some(wanted) = expected["error"].as_str() {
            let error = outcome.expect_err(name).to_string();
            assert!(error.contains(wanted), "{name}: error `{error}` lacks `{wanted}`");
            continue;
        }
        let outcome = outcome.unwrap_or_else(|e| panic!("{name}: {e}"));
        let decisions: Vec<Value> = outcome.decisions.iter().map(decision_json).collect();
        assert_eq!(Value::Array(decisions), expected["decisions"], "{name}: decisions");
        check_completion(name, outcome.completion.as_ref(), expected.get("completion"));
        if let Some(status) = expected.get("customStatus") {
            assert_eq!(outcome.custom_status.as_ref(), Some(status), "{name}: custom status");
        }
    }
}

#[test]
fn a_v2_answer_with_two_outer_lists_is_refused_with_the_shape() {
    let state: OrchestratorState =
        serde_json::from_value(json!({"isDone": false, "schemaVersion": 1, "actions": [[], []]})).unwrap();
    let error = replay("i", &[], &state).unwrap_err().to_string();
    assert!(error.contains("must hold one list of actions, but it holds 2"), "{error}");
}

#[test]
fn action_types_are_read_as_numbers_or_names_and_unknown_ones_are_named() {
    let by_name: OrchestratorState = serde_json::from_value(json!({
        "isDone": false, "schemaVersion": "ReplayPatchV1",
        "actions": [[{"actionType": "CallActivity", "functionName": "f"}]]
    }))
    .unwrap();
    assert_eq!(by_name.schema_version, 1);
    let error =
        serde_json::from_value::<OrchestratorState>(json!({"actions": [[{"actionType": 42}]]})).unwrap_err();
    assert!(error.to_string().contains("unknown actionType 42"), "{error}");
}

//! Durable functions beyond the golden histories: determinism misuse, failures, bad input, and
//! the durable client against a loopback HTTP server that answers as the durable HTTP API.

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use fnwire::durable::{Answer, DurableClient, EntityId, OrchestrationContext, TaskError, replay};
use fnwire::{HttpRequest, http};
use http_body_util::{BodyExt, Full};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};

const START: &str = r#"{"history": [
    {"EventType": 12, "EventId": -1, "IsPlayed": false, "Timestamp": "2026-11-30T08:00:00.5Z"},
    {"EventType": 0, "EventId": -1, "IsPlayed": false, "Timestamp": "2026-11-30T08:00:00.5Z", "Name": "o", "Version": ""}
], "input": "{\"n\": 3}", "instanceId": "abc", "isReplaying": false, "parentInstanceId": null, "upperSchemaVersion": 1}"#;

fn failure(answer: Answer) -> (String, Value) {
    match answer {
        Answer::Failed(message) => {
            let (error, state) =
                message.split_once("\n\n$OutOfProcData$:").expect("the failure carries its state");
            (error.to_string(), serde_json::from_str(state).unwrap())
        }
        Answer::State(state) => panic!("expected a failure, got {state}"),
    }
}

#[test]
fn awaiting_something_that_is_not_a_durable_task_fails_the_orchestration() {
    // After the activity completes (second episode), the orchestrator awaits a channel.
    let mut body: Value = serde_json::from_str(START).unwrap();
    let more = json!([
        {"EventType": 4, "EventId": 0, "IsPlayed": false, "Timestamp": "2026-11-30T08:00:00.6Z", "Name": "a", "Input": "1"},
        {"EventType": 13, "EventId": -1, "IsPlayed": false, "Timestamp": "2026-11-30T08:00:00.7Z"},
        {"EventType": 12, "EventId": -1, "IsPlayed": false, "Timestamp": "2026-11-30T08:00:01Z"},
        {"EventType": 5, "EventId": -1, "IsPlayed": false, "Timestamp": "2026-11-30T08:00:01Z", "TaskScheduledId": 0, "Result": "\"A\""}
    ]);
    body["history"].as_array_mut().unwrap().extend(more.as_array().unwrap().iter().cloned());
    let (error, state) = failure(replay(&body.to_string(), |ctx: OrchestrationContext| async move {
        let (_keep, waiting) = futures::channel::oneshot::channel::<u32>();
        let first: String = ctx.call_activity("a", 1).await.map_err(|e| e.to_string())?;
        assert_eq!(first, "A");
        waiting.await.map_err(|e| e.to_string())
    }));
    assert!(error.contains("orchestration `abc` awaited something that is not a durable task"), "{error}");
    assert_eq!(state["isDone"], false);
    assert_eq!(state["error"], error);
    assert_eq!(state["actions"][0].as_array().unwrap().len(), 1);

    // A tokio timer inside a runtime: the same verdict, not a hang.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let answer = runtime.block_on(async {
        replay(START, |_ctx: OrchestrationContext| async move {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            Ok::<_, TaskError>(())
        })
    });
    let (error, _) = failure(answer);
    assert!(error.contains("not a durable task"), "{error}");
}

#[test]
fn a_pending_durable_task_is_not_misuse() {
    let answer = replay(START, |ctx: OrchestrationContext| async move {
        let n: i64 = ctx.input::<Value>()?["n"].as_i64().unwrap_or_default();
        let tasks = (0..n).map(|i| ctx.call_activity::<i64>("square", i));
        Ok::<_, TaskError>(ctx.task_all(tasks).await?.iter().sum::<i64>())
    });
    let Answer::State(state) = answer else { panic!("{answer:?}") };
    let state: Value = serde_json::from_str(&state).unwrap();
    assert_eq!(state["isDone"], false);
    assert_eq!(state["actions"][0][0]["actionType"], 12);
    assert_eq!(state["actions"][0][0]["compoundActions"].as_array().unwrap().len(), 3);
}

#[test]
fn a_panicking_orchestrator_fails_with_its_message() {
    let (error, state) = failure(replay(START, |_ctx: OrchestrationContext| async move {
        if true {
            panic!("inventory is negative");
        }
        Ok::<_, TaskError>(())
    }));
    assert!(error.contains("inventory is negative"), "{error}");
    assert_eq!(state["actions"], json!([[]]));
}

#[test]
fn malformed_trigger_input_is_reported_not_replayed() {
    let orchestrator = |_ctx: OrchestrationContext| async move { Ok::<_, TaskError>(()) };
    let Answer::Failed(message) = replay("{not json", orchestrator) else { panic!() };
    assert!(message.contains("is not the durable extension's JSON"), "{message}");
    let Answer::Failed(message) = replay(r#"{"history": [], "instanceId": "x"}"#, orchestrator) else {
        panic!()
    };
    assert!(message.contains("has no OrchestratorStarted event"), "{message}");
    let only_started =
        r#"{"history": [{"EventType": 12, "Timestamp": "2026-11-30T08:00:00Z"}], "instanceId": "x"}"#;
    let Answer::Failed(message) = replay(only_started, orchestrator) else { panic!() };
    assert!(message.contains("orchestration `x` has no ExecutionStarted event (1 events)"), "{message}");
}

#[test]
fn wrong_input_types_are_task_errors_that_name_the_type() {
    let (error, _) = failure(replay(START, |ctx: OrchestrationContext| async move {
        let n: Vec<String> = ctx.input()?;
        Ok::<_, TaskError>(n)
    }));
    assert!(error.contains("the input of orchestration `abc`"), "{error}");
    assert!(error.contains("Vec<alloc::string::String>"), "{error}");
}

/// What the fake API saw: method, path with query, body.
type Seen = Arc<Mutex<Vec<(String, String, String)>>>;

/// A loopback server answering as the durable HTTP API does for the calls the client makes.
async fn durable_api() -> (String, Seen) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/runtime/webhooks/durabletask/", listener.local_addr().unwrap());
    let seen: Seen = Arc::default();
    let record = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let record = Arc::clone(&record);
            tokio::spawn(async move {
                let service = service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let record = Arc::clone(&record);
                    async move {
                        let method = request.method().to_string();
                        let path = request.uri().path_and_query().map(|p| p.to_string()).unwrap_or_default();
                        let body = request.into_body().collect().await.unwrap().to_bytes();
                        record.lock().unwrap().push((
                            method.clone(),
                            path.clone(),
                            String::from_utf8_lossy(&body).into(),
                        ));
                        let path = path.trim_start_matches("/runtime/webhooks/durabletask/");
                        let (status, answer) = match (method.as_str(), path) {
                            ("POST", p) if p.starts_with("orchestrators/") => (202, json!({"id": "inst-1"})),
                            ("GET", "instances/done?showInput=true") => (
                                200,
                                json!({"name": "Hello", "instanceId": "done", "runtimeStatus": "Completed",
                                       "input": null, "customStatus": null, "output": ["HELLO"],
                                       "createdTime": "2026-11-30T08:00:00Z", "lastUpdatedTime": "2026-11-30T08:00:01Z"}),
                            ),
                            ("GET", p) if p.starts_with("instances/running") => (
                                202,
                                json!({"name": "Hello", "instanceId": "running", "runtimeStatus": "Running",
                                       "createdTime": "2026-11-30T08:00:00Z", "lastUpdatedTime": "2026-11-30T08:00:01Z"}),
                            ),
                            ("GET", "instances/?runtimeStatus=Running%2CPending") => (
                                200,
                                json!([{"name": "Hello", "instanceId": "running", "runtimeStatus": "Running",
                                        "createdTime": "2026-11-30T08:00:00Z", "lastUpdatedTime": "2026-11-30T08:00:01Z"}]),
                            ),
                            ("GET", p) if p.starts_with("instances/") => {
                                (404, json!({"message": "no such instance"}))
                            }
                            ("POST", p)
                                if p.contains("/suspend?")
                                    || p.contains("/resume?")
                                    || p.contains("/rewind?") =>
                            {
                                (202, Value::Null)
                            }
                            ("DELETE", "instances/done") => (200, json!({"instancesDeleted": 1})),
                            ("DELETE", _) => (404, Value::Null),
                            ("POST", p) if p.contains("/raiseEvent/") || p.contains("/terminate") => {
                                (202, Value::Null)
                            }
                            ("POST", p) if p.starts_with("entities/") => (202, Value::Null),
                            ("GET", "entities/Counter/mine") => (200, json!(42)),
                            _ => (404, Value::Null),
                        };
                        let body =
                            if answer.is_null() { Bytes::new() } else { Bytes::from(answer.to_string()) };
                        Ok::<_, Infallible>(
                            hyper::Response::builder().status(status).body(Full::new(body)).unwrap(),
                        )
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (base, seen)
}

fn client_for(base: &str) -> DurableClient {
    let public = "http://localhost:7071/runtime/webhooks/durabletask";
    DurableClient::from_binding_json(
        &json!({
            "taskHubName": "hub",
            "managementUrls": {
                "id": "INSTANCEID",
                "statusQueryGetUri": format!("{public}/instances/INSTANCEID?taskHub=hub&code=k"),
                "sendEventPostUri": format!("{public}/instances/INSTANCEID/raiseEvent/{{eventName}}?code=k"),
                "terminatePostUri": format!("{public}/instances/INSTANCEID/terminate?reason={{text}}&code=k"),
            },
            "rpcBaseUrl": base,
        })
        .to_string(),
    )
    .unwrap()
}

#[tokio::test]
async fn the_durable_client_calls_the_durable_http_api() {
    let (base, seen) = durable_api().await;
    let client = client_for(&base);
    assert_eq!(client.start_new("Hello", None, json!({"city": "Tokyo"})).await.unwrap(), "inst-1");
    assert_eq!(client.start_new("Hello", Some("my id"), ()).await.unwrap(), "inst-1");
    let done = client.get_status("done").await.unwrap().expect("the instance exists");
    assert_eq!((done.runtime_status.as_str(), done.output.clone()), ("Completed", json!(["HELLO"])));
    assert_eq!(client.get_status("missing").await.unwrap(), None);
    client.raise_event("running", "Approval", true).await.unwrap();
    client.terminate("running", "no longer needed").await.unwrap();
    client.suspend("running", "pause").await.unwrap();
    client.resume("running", "go on").await.unwrap();
    client.rewind("running", "retry").await.unwrap();
    assert_eq!(client.purge_instance_history("done").await.unwrap(), 1);
    assert_eq!(client.purge_instance_history("missing").await.unwrap(), 0);
    let listed = client.get_status_by(&["Running", "Pending"]).await.unwrap();
    assert_eq!(listed.iter().map(|s| s.instance_id.as_str()).collect::<Vec<_>>(), ["running"]);
    let counter = EntityId::new("Counter", "mine");
    client.signal_entity(&counter, "add", 5).await.unwrap();
    assert_eq!(client.read_entity_state::<i64>(&counter).await.unwrap(), Some(42));

    let seen = seen.lock().unwrap().clone();
    let calls: Vec<(&str, &str, &str)> =
        seen.iter().map(|(m, p, b)| (m.as_str(), p.as_str(), b.as_str())).collect();
    let base_path = "/runtime/webhooks/durabletask/";
    assert_eq!(
        calls,
        [
            // Bodies are JSON text inside a JSON string, as the official clients post them.
            ("POST", &*format!("{base_path}orchestrators/Hello"), r#""{\"city\":\"Tokyo\"}""#),
            ("POST", &*format!("{base_path}orchestrators/Hello/my%20id"), ""),
            ("GET", &*format!("{base_path}instances/done?showInput=true"), ""),
            ("GET", &*format!("{base_path}instances/missing?showInput=true"), ""),
            ("POST", &*format!("{base_path}instances/running/raiseEvent/Approval"), r#""true""#),
            ("POST", &*format!("{base_path}instances/running/terminate?reason=no%20longer%20needed"), ""),
            ("POST", &*format!("{base_path}instances/running/suspend?reason=pause"), ""),
            ("POST", &*format!("{base_path}instances/running/resume?reason=go%20on"), ""),
            ("POST", &*format!("{base_path}instances/running/rewind?reason=retry"), ""),
            ("DELETE", &*format!("{base_path}instances/done"), ""),
            ("DELETE", &*format!("{base_path}instances/missing"), ""),
            ("GET", &*format!("{base_path}instances/?runtimeStatus=Running%2CPending"), ""),
            ("POST", &*format!("{base_path}entities/Counter/mine?op=add"), r#""5""#),
            ("GET", &*format!("{base_path}entities/Counter/mine"), ""),
        ]
    );
}

#[tokio::test]
async fn check_status_responses_point_at_the_instance_on_the_callers_origin() {
    let (base, _) = durable_api().await;
    let client = client_for(&base);
    let request = HttpRequest::new(http::Method::POST, "http://example.test:8080/api/start/Hello");
    let response = client.create_check_status_response(&request, "inst-1");
    assert_eq!(response.status(), 202);
    let status_url =
        "http://example.test:8080/runtime/webhooks/durabletask/instances/inst-1?taskHub=hub&code=k";
    assert_eq!(response.headers()["Location"], status_url);
    assert_eq!(response.headers()["Retry-After"], "10");
    let body: Value = serde_json::from_slice(response.body()).unwrap();
    assert_eq!(body["id"], "inst-1");
    assert_eq!(body["statusQueryGetUri"], status_url);

    // Completed: 200 with the output. Still running at the deadline: the 202 above.
    let waited = client
        .wait_for_completion_or_create_check_status_response(
            &request,
            "done",
            Duration::from_millis(200),
            Duration::from_millis(50),
        )
        .await
        .unwrap();
    assert_eq!(waited.status(), 200);
    assert_eq!(serde_json::from_slice::<Value>(waited.body()).unwrap(), json!(["HELLO"]));
    let pending = client
        .wait_for_completion_or_create_check_status_response(
            &request,
            "running",
            Duration::from_millis(60),
            Duration::from_millis(20),
        )
        .await
        .unwrap();
    assert_eq!(pending.status(), 202);
    let unreachable = client_for("http://127.0.0.1:9/");
    let error = unreachable.start_new("Hello", None, ()).await.unwrap_err();
    assert!(
        error.message().contains("failed") && error.message().contains("is the host running?"),
        "{error}"
    );
}

#[test]
fn only_a_pending_timer_can_be_cancelled() {
    let answer = replay(START, |ctx: OrchestrationContext| async move {
        let timer = ctx.create_timer(ctx.current_utc_datetime() + chrono::Duration::minutes(1));
        let event = ctx.wait_for_external_event::<()>("Go");
        let winner = ctx.task_any([timer.handle(), event.handle()]);
        let cancelled = (timer.cancel(), event.cancel());
        assert_eq!(cancelled, (true, false));
        winner.await?;
        Ok::<_, TaskError>(())
    });
    let Answer::State(state) = answer else { panic!("{answer:?}") };
    let state: Value = serde_json::from_str(&state).unwrap();
    let any = &state["actions"][0][0];
    assert_eq!(any["actionType"], 11);
    assert_eq!(any["compoundActions"][0]["isCanceled"], true);
    assert_eq!(any["compoundActions"][1]["actionType"], 6);
}

#[test]
fn entities_signal_other_entities_and_can_delete_themselves() {
    use fnwire::__private::{Invocation, run_entity};
    use fnwire::durable::EntityContext;
    use fnwire::protocol::rpc::TypedData;
    use fnwire::protocol::rpc::typed_data::Data;

    let batch = json!({"self": {"name": "relay", "key": "r"}, "exists": true, "state": "{\"seen\": 1}",
        "batch": [{"name": "forward", "input": "\"\\\"hi\\\"\""}, {"name": "delete", "input": null}]});
    let invocation = Invocation::new("1", "relay")
        .with_input("ctx", TypedData { data: Some(Data::Json(batch.to_string())) });
    let relay = |ctx: EntityContext| -> Result<(), fnwire::Error> {
        match ctx.operation_name() {
            "forward" => {
                let text: String = ctx.input()?;
                ctx.signal_entity(&EntityId::new("Log", "main"), "append", &text)?;
                ctx.set_result(text.len())
            }
            _ => {
                ctx.destruct_on_exit();
                Ok(())
            }
        }
    };
    let outcome = run_entity(invocation, "ctx", relay).unwrap();
    let Some(Data::Json(text)) = outcome.return_value.and_then(|d| d.data) else { panic!("no JSON answer") };
    let answer: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(answer["entityExists"], false);
    assert_eq!(answer["entityState"], "null");
    assert_eq!(answer["results"][0]["result"], "2");
    assert_eq!(answer["results"][1]["result"], "null");
    assert_eq!(
        answer["signals"],
        json!([{"target": {"name": "Log", "key": "main"}, "name": "append", "input": "\"hi\""}])
    );

    // A batch that is not the extension's JSON fails the invocation with a message.
    let invocation =
        Invocation::new("2", "relay").with_input("ctx", TypedData { data: Some(Data::Json("[]".into())) });
    let error = run_entity(invocation, "ctx", relay).unwrap_err();
    assert!(error.message.contains("is not the durable extension's entity batch JSON"), "{}", error.message);
}

#[test]
fn a_finished_fan_out_of_two_thousand_activities_replays_to_its_sum() {
    let n = 2000u64;
    let at = |t: &str| format!("2026-11-30T08:00:0{t}Z");
    let mut history = vec![
        json!({"EventType": 12, "Timestamp": at("0")}),
        json!({"EventType": 0, "Timestamp": at("0"), "Name": "fan", "Version": ""}),
    ];
    history.extend((0..n).map(
        |i| json!({"EventType": 4, "EventId": i, "Timestamp": at("0"), "Name": "sq", "Input": i.to_string()}),
    ));
    history.push(json!({"EventType": 13, "Timestamp": at("0")}));
    history.push(json!({"EventType": 12, "Timestamp": at("1")}));
    // Completions arrive in any order.
    history.extend((0..n).rev().map(|i| json!({"EventType": 5, "TaskScheduledId": i, "Timestamp": at("1"), "Result": (i * i).to_string()})));
    let body =
        json!({"history": history, "input": n.to_string(), "instanceId": "fan", "upperSchemaVersion": 1});
    let answer = replay(&body.to_string(), |ctx: OrchestrationContext| async move {
        let n: u64 = ctx.input()?;
        let squares = ctx.task_all((0..n).map(|i| ctx.call_activity::<u64>("sq", i))).await?;
        Ok::<_, TaskError>(squares.iter().sum::<u64>())
    });
    let Answer::State(state) = answer else { panic!("{answer:?}") };
    let state: Value = serde_json::from_str(&state).unwrap();
    assert_eq!(state["isDone"], true);
    assert_eq!(state["output"], json!((0..n).map(|i| i * i).sum::<u64>()));
    let actions = state["actions"][0][0]["compoundActions"].as_array().unwrap();
    assert_eq!(actions.len(), n as usize);
    assert_eq!(actions[1234]["input"], "1234");
}

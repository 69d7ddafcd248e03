//! Connection lifecycle: start, init, indexing, loading, status, environment reload, shutdown.

use std::collections::HashMap;
use std::time::Duration;

use fnwire::protocol::rpc::status_result::Status;
use fnwire::protocol::rpc::streaming_message::Content;
use fnwire::protocol::rpc::{
    FunctionEnvironmentReloadRequest, FunctionLoadRequest, FunctionLoadRequestCollection,
    FunctionsMetadataRequest, RpcFunctionMetadata, WorkerInitRequest, WorkerStatusRequest, WorkerTerminate,
};
use fnwire::runtime::WorkerError;

use crate::functions::{self, hello, relay, slow, text};
use crate::host::{REQUEST_ID, TestHost, WORKER_ID};

#[tokio::test]
async fn start_stream_comes_first_then_init_succeeds_with_capabilities() {
    let mut host = TestHost::start(vec![hello()]).await;
    let first = host.recv().await;
    assert_eq!(first.request_id, REQUEST_ID);
    let Some(Content::StartStream(start)) = first.content else { panic!("first message: {first:?}") };
    assert_eq!(start.worker_id, WORKER_ID);

    host.send_with_id(
        "init-1",
        Content::WorkerInitRequest(WorkerInitRequest {
            host_version: "4.1037.0.0".into(),
            capabilities: HashMap::from([("MultiStream".into(), "10".into())]),
            ..Default::default()
        }),
    );
    let (_, init) = host
        .recv_until(|m| match &m.content {
            Some(Content::WorkerInitResponse(r)) => Some(r.clone()),
            _ => None,
        })
        .await;
    assert_eq!(init.result.as_ref().unwrap().status, Status::Success as i32);
    for key in [
        "RawHttpBodyBytes",
        "RpcHttpBodyOnly",
        "RpcHttpTriggerMetadataRemoved",
        "TypedDataCollection",
        "WorkerStatus",
        "HandlesWorkerTerminateMessage",
        "HandlesInvocationCancelMessage",
        "SupportsLoadResponseCollection",
    ] {
        assert_eq!(init.capabilities.get(key).map(String::as_str), Some("true"), "capability {key}");
    }
    assert!(init.capabilities.values().all(|v| v == "true"), "no capability may be declared off: {init:?}");
    let metadata = init.worker_metadata.unwrap();
    assert_eq!(metadata.runtime_name, "rust");
    assert_eq!(metadata.worker_version, env!("CARGO_PKG_VERSION"));
    assert!(
        ["x64", "arm64"].contains(&metadata.worker_bitness.as_str()) || !metadata.worker_bitness.is_empty()
    );
    assert!(metadata.runtime_version.starts_with("1."), "rustc version: {:?}", metadata.runtime_version);
}

#[tokio::test]
async fn metadata_reports_raw_bindings_and_deterministic_ids() {
    let mut host = TestHost::start(vec![hello(), relay()]).await;
    host.recv().await; // StartStream
    host.send(Content::FunctionsMetadataRequest(FunctionsMetadataRequest {
        function_app_directory: "/app".into(),
    }));
    let (_, response) = host
        .recv_until(|m| match &m.content {
            Some(Content::FunctionMetadataResponse(r)) => Some(r.clone()),
            _ => None,
        })
        .await;
    assert_eq!(response.result.unwrap().status, Status::Success as i32);
    assert!(!response.use_default_metadata_indexing);
    let results = response.function_metadata_results;
    assert_eq!(results.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["hello", "relay"]);
    let hello_meta = &results[0];
    assert_eq!(hello_meta.function_id, functions::http_metadata("hello").function_id());
    assert_ne!(hello_meta.function_id, results[1].function_id);
    assert_eq!(hello_meta.language, "rust");
    assert_eq!(hello_meta.directory, "/app");
    assert_eq!(hello_meta.properties.get("worker_indexed").map(String::as_str), Some("True"));
    assert_eq!(hello_meta.raw_bindings, functions::http_metadata("hello").raw_bindings());
    let trigger: serde_json::Value = serde_json::from_str(&hello_meta.raw_bindings[0]).unwrap();
    assert_eq!(trigger["type"], "httpTrigger");
    assert_eq!(trigger["name"], "req");
    assert_eq!(trigger["authLevel"], "anonymous");
    assert_eq!(hello_meta.bindings["$return"].r#type, "http");
}

fn load_request(function_id: &str, name: &str) -> FunctionLoadRequest {
    FunctionLoadRequest {
        function_id: function_id.into(),
        metadata: Some(RpcFunctionMetadata { name: name.into(), ..Default::default() }),
        managed_dependency_enabled: false,
    }
}

#[tokio::test]
async fn loads_single_and_collection_and_rejects_unknown_functions() {
    let mut host = TestHost::start(vec![hello(), relay()]).await;
    host.recv().await;
    let hello_id = functions::http_metadata("hello").function_id();

    // Worker indexing: our own id.
    host.send(Content::FunctionLoadRequest(load_request(&hello_id, "hello")));
    let (_, single) = host
        .recv_until(|m| match &m.content {
            Some(Content::FunctionLoadResponse(r)) => Some(r.clone()),
            _ => None,
        })
        .await;
    assert_eq!(single.function_id, hello_id);
    assert_eq!(single.result.unwrap().status, Status::Success as i32);

    // Host indexing: a host-made id, identified by name; plus one function the worker lacks.
    host.send(Content::FunctionLoadRequestCollection(FunctionLoadRequestCollection {
        function_load_requests: vec![
            load_request("host-guid-relay", "relay"),
            load_request("host-guid-x", "missing"),
        ],
    }));
    let (_, collection) = host
        .recv_until(|m| match &m.content {
            Some(Content::FunctionLoadResponseCollection(r)) => Some(r.function_load_responses.clone()),
            _ => None,
        })
        .await;
    assert_eq!(collection[0].function_id, "host-guid-relay");
    assert_eq!(collection[0].result.as_ref().unwrap().status, Status::Success as i32);
    assert_eq!(collection[1].function_id, "host-guid-x");
    let failure = collection[1].result.as_ref().unwrap();
    assert_eq!(failure.status, Status::Failure as i32);
    let message = &failure.exception.as_ref().unwrap().message;
    assert!(message.contains("`missing`") && message.contains("hello, relay"), "{message}");

    // The host-indexed id now routes to `relay`.
    host.invoke("inv-relay", "host-guid-relay", vec![("msg", text("ping"))]);
    let (_, response) = host.invocation_response().await;
    assert_eq!(response.result.unwrap().status, Status::Success as i32);
    assert_eq!(response.output_data[0].name, "done");
}

#[tokio::test]
async fn status_request_is_answered_with_its_request_id() {
    let mut host = TestHost::start(vec![hello()]).await;
    host.recv().await;
    host.send_with_id("status-42", Content::WorkerStatusRequest(WorkerStatusRequest {}));
    let (_, request_id) = host
        .recv_until(|m| {
            matches!(m.content, Some(Content::WorkerStatusResponse(_))).then(|| m.request_id.clone())
        })
        .await;
    assert_eq!(request_id, "status-42");
}

#[tokio::test]
async fn environment_reload_replaces_the_environment() {
    // Keep everything else the process has, so parallel tests are not disturbed; the stale
    // variable must disappear and the new one appear.
    let stale = "FNWIRE_TEST_STALE_VARIABLE";
    let mut environment: HashMap<String, String> = std::env::vars().filter(|(k, _)| k != stale).collect();
    environment.insert("FNWIRE_TEST_RELOADED".into(), "yes".into());
    set_stale_variable(stale);
    let cwd = std::env::current_dir().unwrap().to_string_lossy().into_owned();

    let mut host = TestHost::start(vec![hello()]).await;
    host.recv().await;
    host.send(Content::FunctionEnvironmentReloadRequest(FunctionEnvironmentReloadRequest {
        environment_variables: environment,
        function_app_directory: cwd,
    }));
    let (_, reload) = host
        .recv_until(|m| match &m.content {
            Some(Content::FunctionEnvironmentReloadResponse(r)) => Some(r.clone()),
            _ => None,
        })
        .await;
    assert_eq!(reload.result.unwrap().status, Status::Success as i32);
    assert_eq!(reload.capabilities.get("WorkerStatus").map(String::as_str), Some("true"));
    assert_eq!(reload.worker_metadata.unwrap().runtime_name, "rust");
    assert_eq!(std::env::var("FNWIRE_TEST_RELOADED").as_deref(), Ok("yes"));
    assert!(std::env::var(stale).is_err(), "the old environment must be cleared");

    // A directory that does not exist: Failure saying so, and the worker keeps serving.
    let environment: HashMap<String, String> = std::env::vars().collect();
    host.send(Content::FunctionEnvironmentReloadRequest(FunctionEnvironmentReloadRequest {
        environment_variables: environment,
        function_app_directory: "/definitely/not/here".into(),
    }));
    let (_, reload) = host
        .recv_until(|m| match &m.content {
            Some(Content::FunctionEnvironmentReloadResponse(r)) => Some(r.clone()),
            _ => None,
        })
        .await;
    let result = reload.result.unwrap();
    assert_eq!(result.status, Status::Failure as i32);
    assert!(result.exception.unwrap().message.contains("/definitely/not/here"));
    host.send_with_id("after", Content::WorkerStatusRequest(WorkerStatusRequest {}));
    host.recv_until(|m| matches!(m.content, Some(Content::WorkerStatusResponse(_))).then_some(())).await;
}

#[allow(unsafe_code)]
fn set_stale_variable(name: &str) {
    // SAFETY: a test-only variable nothing else reads.
    unsafe { std::env::set_var(name, "1") };
}

/// For an async function (a task) and a plain one (a blocking-pool thread) alike.
#[tokio::test]
async fn terminate_finishes_in_flight_work_then_run_returns_ok() {
    for slow_function in [slow(), functions::blocking_slow()] {
        let mut host = TestHost::start(vec![slow_function]).await;
        let metadata = host.handshake().await;
        host.invoke("inv-slow", &metadata[0].function_id, vec![]);
        host.send(Content::WorkerTerminate(WorkerTerminate {
            grace_period: Some(prost_types::Duration { seconds: 5, nanos: 0 }),
        }));
        let (_, response) = host.invocation_response().await;
        assert_eq!(response.invocation_id, "inv-slow");
        assert_eq!(response.result.unwrap().status, Status::Success as i32, "{}", metadata[0].name);
        host.expect_stream_end().await;
        host.worker_result().await.expect("run() returns Ok after WorkerTerminate");
    }
}

#[tokio::test]
async fn terminate_cancels_work_that_outlives_the_grace_period() {
    let (dropped_tx, mut dropped) = tokio::sync::mpsc::unbounded_channel();
    let mut host = TestHost::start(vec![functions::hang(dropped_tx)]).await;
    let metadata = host.handshake().await;
    host.invoke("inv-hang", &metadata[0].function_id, vec![]);
    let started = tokio::time::timeout(crate::host::PATIENCE, dropped.recv()).await.unwrap();
    assert_eq!(started.as_deref(), Some("started:inv-hang"));
    host.send(Content::WorkerTerminate(WorkerTerminate {
        grace_period: Some(prost_types::Duration { seconds: 0, nanos: 50_000_000 }),
    }));
    let (_, response) = host.invocation_response().await;
    assert_eq!(response.result.unwrap().status, Status::Cancelled as i32);
    let dropped = tokio::time::timeout(crate::host::PATIENCE, dropped.recv()).await;
    assert_eq!(dropped.unwrap().as_deref(), Some("inv-hang"));
    host.worker_result().await.expect("run() returns Ok");
}

#[tokio::test]
async fn host_closing_the_stream_stops_the_worker() {
    let mut host = TestHost::start_with(vec![hello()], |w| w.shutdown_grace(Duration::from_secs(5))).await;
    host.handshake().await;
    host.close_stream();
    host.worker_result().await.expect("run() returns Ok when the host ends the stream");
}

#[tokio::test]
async fn unreachable_host_is_a_clear_error() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let args = fnwire::protocol::WorkerArgs {
        host_uri: format!("http://127.0.0.1:{port}/"),
        worker_id: "w".into(),
        request_id: "r".into(),
        grpc_max_message_length: Some(1 << 20),
    };
    let error = fnwire::runtime::Worker::new(args).function(hello()).run().await.unwrap_err();
    assert!(matches!(error, WorkerError::Connect { .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.contains(&format!("127.0.0.1:{port}")) && text.contains("started by a host"), "{text}");
}

#[tokio::test]
async fn invalid_definitions_are_reported_before_connecting() {
    let args = fnwire::protocol::WorkerArgs {
        host_uri: "http://127.0.0.1:1/".into(),
        worker_id: "w".into(),
        request_id: "r".into(),
        grpc_max_message_length: None,
    };
    let no_trigger = fnwire::runtime::FunctionDefinition::new(
        fnwire::metadata::FunctionMetadata::new("bad_one").with_binding(fnwire::metadata::Binding::new(
            "my_out",
            "queue",
            fnwire::metadata::Direction::Out,
        )),
        |_i: fnwire::Invocation| async move { functions::returned("x") },
    );
    let error = fnwire::runtime::Worker::new(args)
        .function(hello())
        .function(hello())
        .function(no_trigger)
        .run()
        .await;
    let Err(WorkerError::InvalidFunctions(errors)) = error else { panic!("{error:?}") };
    let text = errors.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n");
    assert!(text.contains("function `hello`") && text.contains("unique"), "{text}");
    assert!(text.contains("function `bad_one`") && text.contains("no trigger"), "{text}");
    assert!(text.contains("`my_out` is not a valid binding name"), "{text}");
}

/// `fnwire::run()` started by hand (no host arguments) says how to start it and exits non-zero.
/// The test binary re-runs itself as the child, so `run()` sees the test harness's arguments only.
#[test]
fn run_without_host_arguments_explains_and_fails() {
    const CHILD: &str = "FNWIRE_IT_RUN_CHILD";
    if std::env::var_os(CHILD).is_some() {
        let code = fnwire::run();
        std::process::exit(if code == std::process::ExitCode::from(2) { 2 } else { 1 });
    }
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "lifecycle::run_without_host_arguments_explains_and_fails", "--nocapture"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("fnwire: missing worker arguments"), "{stderr}");
    assert!(stderr.contains("--functions-uri") && stderr.contains("fnwire start"), "{stderr}");
}

#[tokio::test]
async fn host_closing_the_stream_lets_in_flight_work_finish() {
    let mut host = TestHost::start(vec![slow()]).await;
    let metadata = host.handshake().await;
    host.invoke("inv-slow", &metadata[0].function_id, vec![]);
    host.close_stream();
    let (_, response) = host.invocation_response().await;
    assert_eq!(response.invocation_id, "inv-slow");
    assert_eq!(response.result.unwrap().status, Status::Success as i32);
    host.worker_result().await.expect("run() returns Ok");
}

#[tokio::test]
async fn terminate_answers_cancelled_for_blocking_work_that_outlives_the_grace_period() {
    let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let (release, release_rx) = std::sync::mpsc::channel();
    let mut host = TestHost::start(vec![functions::gate(events_tx, release_rx)]).await;
    let metadata = host.handshake().await;
    host.invoke("inv-gate", &metadata[0].function_id, vec![]);
    let started = tokio::time::timeout(crate::host::PATIENCE, events.recv()).await.unwrap();
    assert_eq!(started.as_deref(), Some("started:inv-gate"));
    host.send(Content::WorkerTerminate(WorkerTerminate {
        grace_period: Some(prost_types::Duration { seconds: 0, nanos: 50_000_000 }),
    }));
    let (_, response) = host.invocation_response().await;
    assert_eq!(response.invocation_id, "inv-gate");
    assert_eq!(response.result.unwrap().status, Status::Cancelled as i32);
    host.worker_result().await.expect("run() returns Ok");
    release.send(()).unwrap();
}

/// The Python and Node layers report their own runtime: in the init response (and the reload
/// response, which uses the same metadata) and as the language of every function they index.
#[tokio::test]
async fn a_worker_reports_the_language_runtime_it_is_given() {
    let mut host = TestHost::start_with(vec![hello()], |w| w.runtime("python", "3.11.7")).await;
    let start = host.recv().await;
    assert!(matches!(start.content, Some(Content::StartStream(_))), "first message: {start:?}");
    host.send(Content::WorkerInitRequest(WorkerInitRequest::default()));
    let (_, init) = host
        .recv_until(|m| match &m.content {
            Some(Content::WorkerInitResponse(r)) => Some(r.clone()),
            _ => None,
        })
        .await;
    let metadata = init.worker_metadata.unwrap();
    assert_eq!((metadata.runtime_name.as_str(), metadata.runtime_version.as_str()), ("python", "3.11.7"));
    host.send(Content::FunctionsMetadataRequest(FunctionsMetadataRequest {
        function_app_directory: "/app".into(),
    }));
    let (_, functions) = host
        .recv_until(|m| match &m.content {
            Some(Content::FunctionMetadataResponse(r)) => Some(r.function_metadata_results.clone()),
            _ => None,
        })
        .await;
    assert_eq!(functions[0].language, "python");
}

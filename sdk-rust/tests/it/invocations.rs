//! Invocations: round trips, concurrency, cancellation, failures.

use std::collections::{HashMap, HashSet};

use bytes::Bytes;
use fnwire::protocol::rpc::status_result::Status;
use fnwire::protocol::rpc::streaming_message::Content;
use fnwire::protocol::rpc::typed_data::Data;
use fnwire::protocol::rpc::{
    InvocationCancel, InvocationResponse, NullableString, RpcHttp, TypedData, nullable_string,
    parameter_binding,
};

use crate::functions::{self, blocking_boom, boom, failing, gathered, hang, hello, relay, text};
use crate::host::TestHost;

fn http_request(url: &str, body: &str) -> TypedData {
    TypedData {
        data: Some(Data::Http(Box::new(RpcHttp {
            method: "POST".into(),
            url: url.into(),
            body: Some(Box::new(TypedData { data: Some(Data::Bytes(Bytes::from(body.to_string()))) })),
            nullable_headers: HashMap::from([(
                "content-type".to_string(),
                NullableString { string: Some(nullable_string::String::Value("text/plain".into())) },
            )]),
            nullable_params: HashMap::from([(
                "name".to_string(),
                NullableString { string: Some(nullable_string::String::Value("Ada".into())) },
            )]),
            ..RpcHttp::default()
        }))),
    }
}

fn status(response: &InvocationResponse) -> i32 {
    response.result.as_ref().unwrap().status
}

fn ids(metadata: &[fnwire::protocol::rpc::RpcFunctionMetadata]) -> HashMap<String, String> {
    metadata.iter().map(|m| (m.name.clone(), m.function_id.clone())).collect()
}

#[tokio::test]
async fn http_invocation_round_trip() {
    let mut host = TestHost::start(vec![hello()]).await;
    let ids = ids(&host.handshake().await);
    host.invoke("inv-1", &ids["hello"], vec![("req", http_request("http://localhost/api/hello/Ada", "hi"))]);
    let (_, response) = host.invocation_response().await;
    assert_eq!(response.invocation_id, "inv-1");
    assert_eq!(status(&response), Status::Success as i32);
    let Some(Data::Http(http)) = response.return_value.unwrap().data else { panic!("expected http") };
    assert_eq!(http.status_code, "200");
    assert_eq!(http.headers["content-type"], "text/plain; charset=utf-8");
    assert_eq!(http.headers["x-test"], "1");
    assert_eq!(http.body.unwrap().data, Some(Data::Bytes(Bytes::from_static(b"Hello, Ada! body=hi"))));
}

#[tokio::test]
async fn output_bindings_are_sent_as_output_data() {
    let mut host = TestHost::start(vec![relay()]).await;
    let ids = ids(&host.handshake().await);
    host.send(Content::InvocationRequest(fnwire::protocol::rpc::InvocationRequest {
        invocation_id: "inv-q".into(),
        function_id: ids["relay"].clone(),
        input_data: vec![fnwire::protocol::rpc::ParameterBinding {
            name: "msg".into(),
            rpc_data: Some(parameter_binding::RpcData::Data(text("payload-1"))),
        }],
        trigger_metadata: HashMap::from([
            ("DequeueCount".to_string(), TypedData { data: Some(Data::Json("1".into())) }),
            ("Id".to_string(), text("abc")),
        ]),
        ..Default::default()
    }));
    let (_, response) = host.invocation_response().await;
    assert_eq!(status(&response), Status::Success as i32);
    assert_eq!(response.return_value, None);
    assert_eq!(response.output_data.len(), 1);
    assert_eq!(response.output_data[0].name, "done");
    assert_eq!(response.output_data[0].rpc_data, Some(parameter_binding::RpcData::Data(text("PAYLOAD-1"))));
}

#[tokio::test]
async fn many_invocations_run_concurrently_and_all_are_answered() {
    const N: usize = 64;
    let mut host = TestHost::start(vec![gathered(N)]).await;
    let ids = ids(&host.handshake().await);
    // Each invocation waits until all N are in flight, so this only completes if the worker
    // runs them at the same time.
    for i in 0..N {
        host.invoke(&format!("inv-{i}"), &ids["gathered"], vec![("req", text(&"x".repeat(i)))]);
    }
    let mut answered = HashSet::new();
    let mut order = Vec::new();
    while answered.len() < N {
        let (_, response) = host.invocation_response().await;
        assert_eq!(status(&response), Status::Success as i32, "{response:?}");
        let i: usize = response.invocation_id.trim_start_matches("inv-").parse().unwrap();
        let expected = format!("echo:{}", "x".repeat(i));
        assert_eq!(response.return_value, Some(text(&expected)));
        assert!(answered.insert(i), "answered twice: {i}");
        order.push(i);
    }
}

#[tokio::test]
async fn cancel_drops_the_invocation_and_answers_cancelled() {
    let (dropped_tx, mut dropped) = tokio::sync::mpsc::unbounded_channel();
    let mut host = TestHost::start(vec![hang(dropped_tx), hello()]).await;
    let ids = ids(&host.handshake().await);
    host.invoke("inv-hang", &ids["hang"], vec![]);
    let started = tokio::time::timeout(crate::host::PATIENCE, dropped.recv()).await.unwrap();
    assert_eq!(started.as_deref(), Some("started:inv-hang"));
    host.send(Content::InvocationCancel(InvocationCancel {
        invocation_id: "inv-hang".into(),
        grace_period: None,
    }));
    let (_, response) = host.invocation_response().await;
    assert_eq!(response.invocation_id, "inv-hang");
    assert_eq!(status(&response), Status::Cancelled as i32);
    let dropped = tokio::time::timeout(crate::host::PATIENCE, dropped.recv()).await;
    assert_eq!(dropped.unwrap().as_deref(), Some("inv-hang"), "the function's future was dropped");
    // Cancelling something unknown is ignored; the worker still serves.
    host.send(Content::InvocationCancel(InvocationCancel {
        invocation_id: "nope".into(),
        grace_period: None,
    }));
    host.invoke("inv-after", &ids["hello"], vec![("req", http_request("http://h/api/hello", ""))]);
    let (_, response) = host.invocation_response().await;
    assert_eq!((response.invocation_id.as_str(), status(&response)), ("inv-after", Status::Success as i32));
}

#[tokio::test]
async fn unknown_function_fails_the_invocation_and_the_worker_keeps_serving() {
    let mut host = TestHost::start(vec![hello()]).await;
    let ids = ids(&host.handshake().await);
    host.invoke("inv-unknown", "no-such-function", vec![]);
    let (_, response) = host.invocation_response().await;
    assert_eq!(response.invocation_id, "inv-unknown");
    let result = response.result.unwrap();
    assert_eq!(result.status, Status::Failure as i32);
    let message = result.exception.unwrap().message;
    assert!(message.contains("no-such-function") && message.contains("hello"), "{message}");

    host.invoke("inv-ok", &ids["hello"], vec![("req", http_request("http://h/api/hello", ""))]);
    let (_, response) = host.invocation_response().await;
    assert_eq!(status(&response), Status::Success as i32);
}

#[tokio::test]
async fn errors_and_panics_fail_only_their_invocation() {
    let mut host = TestHost::start(vec![failing(), boom(), blocking_boom(), hello()]).await;
    let ids = ids(&host.handshake().await);

    host.invoke("inv-fail", &ids["failing"], vec![]);
    let (_, response) = host.invocation_response().await;
    let result = response.result.unwrap();
    assert_eq!(result.status, Status::Failure as i32);
    let exception = result.exception.unwrap();
    assert_eq!(exception.message, functions::fail().message);
    assert_eq!(exception.stack_trace, "at fail (tests/it/functions.rs)");

    for (id, function, message) in
        [("inv-boom", "boom", "the function panicked: kaboom"), ("inv-bb", "blockingboom", "blocking kaboom")]
    {
        host.invoke(id, &ids[function], vec![]);
        let (_, response) = host.invocation_response().await;
        assert_eq!(response.invocation_id, id);
        let result = response.result.unwrap();
        assert_eq!(result.status, Status::Failure as i32);
        let exception = result.exception.unwrap();
        assert!(exception.message.contains(message), "{exception:?}");
        assert!(
            exception.stack_trace.contains("panicked at") && exception.stack_trace.contains("functions.rs")
        );
        assert_eq!(exception.r#type, "panic");
    }

    host.invoke("inv-next", &ids["hello"], vec![("req", http_request("http://h/api/hello", ""))]);
    let (_, response) = host.invocation_response().await;
    assert_eq!(status(&response), Status::Success as i32);
}

#[tokio::test]
async fn a_wrong_input_type_is_a_failure_naming_the_binding() {
    let mut host = TestHost::start(vec![hello()]).await;
    let ids = ids(&host.handshake().await);
    host.invoke("inv-bad", &ids["hello"], vec![("req", text("not http"))]);
    let (_, response) = host.invocation_response().await;
    let result = response.result.unwrap();
    assert_eq!(result.status, Status::Failure as i32);
    let message = result.exception.unwrap().message;
    assert!(
        message.starts_with("binding `req`: expected an HTTP request, but the host sent a string"),
        "{message}"
    );
}

/// Messages above gRPC's default 4 MiB limit pass both ways: the worker configures its limits
/// from the host's arguments (none given here = unlimited).
#[tokio::test]
async fn large_messages_pass_both_ways() {
    let mut host = TestHost::start(vec![hello()]).await;
    let ids = ids(&host.handshake().await);
    let body = "x".repeat(6 * 1024 * 1024);
    host.invoke("inv-big", &ids["hello"], vec![("req", http_request("http://h/api/hello/Big", &body))]);
    let (_, response) = host.invocation_response().await;
    assert_eq!(status(&response), Status::Success as i32);
    let Some(Data::Http(http)) = response.return_value.unwrap().data else { panic!("expected http") };
    let Some(Data::Bytes(returned)) = http.body.unwrap().data else { panic!("expected bytes") };
    assert_eq!(returned.len(), "Hello, Ada! body=".len() + body.len());
}

#[tokio::test]
async fn blocking_functions_answer_from_the_pool_with_logs_first_and_panics_contained() {
    let mut host = TestHost::start(vec![functions::blocking_chatty(), functions::blocking_panic()]).await;
    let ids = ids(&host.handshake().await);
    for i in 0..16 {
        host.invoke(&format!("inv-{i}"), &ids["blockingchatty"], vec![("msg", text(&format!("job {i}")))]);
    }
    let mut answered = HashSet::new();
    while answered.len() < 16 {
        let message = host.recv().await;
        match message.content {
            Some(Content::RpcLog(log)) => {
                assert!(!answered.contains(&log.invocation_id), "a log arrived after its response: {log:?}");
                let i = log.invocation_id.trim_start_matches("inv-");
                assert_eq!(log.message, format!("blocking job {i} on=pool"));
                assert_eq!(log.category, "blockingchatty");
            }
            Some(Content::InvocationResponse(response)) => {
                assert_eq!(status(&response), Status::Success as i32, "{response:?}");
                let i = response.invocation_id.trim_start_matches("inv-").to_string();
                let expected = text(&format!("JOB {i}"));
                assert_eq!(
                    response.output_data[0].rpc_data,
                    Some(parameter_binding::RpcData::Data(expected))
                );
                assert!(answered.insert(response.invocation_id.clone()), "answered twice: {response:?}");
            }
            _ => {}
        }
    }
    host.invoke("inv-panic", &ids["blockingpanic"], vec![]);
    let (_, response) = host.invocation_response().await;
    let result = response.result.unwrap();
    assert_eq!(result.status, Status::Failure as i32);
    let exception = result.exception.unwrap();
    assert!(exception.message.contains("the function panicked: pool kaboom"), "{exception:?}");
    assert_eq!(exception.r#type, "panic");
    host.invoke("inv-after", &ids["blockingchatty"], vec![("msg", text("still"))]);
    let (_, response) = host.invocation_response().await;
    assert_eq!((response.invocation_id.as_str(), status(&response)), ("inv-after", Status::Success as i32));
}

/// A blocking function's thread cannot be stopped, so a cancel is answered when the thread ends:
/// until then the host sees the invocation running (and replaces a worker whose thread stays
/// stuck past its grace period).
#[tokio::test]
async fn cancel_of_a_blocking_function_answers_cancelled_when_its_thread_ends() {
    let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel();
    let (release, release_rx) = std::sync::mpsc::channel();
    let mut host = TestHost::start(vec![functions::gate(events_tx, release_rx), hello()]).await;
    let ids = ids(&host.handshake().await);
    host.invoke("inv-gate", &ids["gate"], vec![]);
    let started = tokio::time::timeout(crate::host::PATIENCE, events.recv()).await.unwrap();
    assert_eq!(started.as_deref(), Some("started:inv-gate"));
    host.send(Content::InvocationCancel(InvocationCancel {
        invocation_id: "inv-gate".into(),
        grace_period: None,
    }));
    // Messages are handled in order: had the cancel been answered at once, its response would
    // come before this one.
    host.invoke("inv-during", &ids["hello"], vec![("req", http_request("http://h/api/hello", ""))]);
    let (_, response) = host.invocation_response().await;
    assert_eq!((response.invocation_id.as_str(), status(&response)), ("inv-during", Status::Success as i32));
    release.send(()).unwrap();
    let (_, response) = host.invocation_response().await;
    assert_eq!(response.invocation_id, "inv-gate");
    assert_eq!(status(&response), Status::Cancelled as i32, "the late result is dropped");
    let released = tokio::time::timeout(crate::host::PATIENCE, events.recv()).await.unwrap();
    assert_eq!(released.as_deref(), Some("released:inv-gate"));
    host.invoke("inv-after", &ids["hello"], vec![("req", http_request("http://h/api/hello", ""))]);
    let (_, response) = host.invocation_response().await;
    assert_eq!((response.invocation_id.as_str(), status(&response)), ("inv-after", Status::Success as i32));
}

/// A function whose first poll takes long, three calls in a row, is not polled on the reader
/// again, so it cannot hold up other invocations: a quick function sent right after its next call
/// is answered first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_async_function_that_computes_long_starts_as_a_task_after_three_slow_calls() {
    let mut host = TestHost::start(vec![functions::crunch(), hello()]).await;
    let ids = ids(&host.handshake().await);
    for i in 1..=3 {
        let id = format!("inv-crunch-{i}");
        host.invoke(&id, &ids["crunch"], vec![]);
        let (_, response) = host.invocation_response().await;
        assert_eq!(
            (response.invocation_id.as_str(), status(&response)),
            (id.as_str(), Status::Success as i32)
        );
    }
    host.invoke("inv-crunch-4", &ids["crunch"], vec![]);
    host.invoke("inv-hello", &ids["hello"], vec![("req", http_request("http://h/api/hello", ""))]);
    let (_, first) = host.invocation_response().await;
    assert_eq!(first.invocation_id, "inv-hello", "the quick function waited behind the slow one");
    let (_, second) = host.invocation_response().await;
    assert_eq!((second.invocation_id.as_str(), status(&second)), ("inv-crunch-4", Status::Success as i32));
}

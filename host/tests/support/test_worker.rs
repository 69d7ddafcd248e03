//! A small real worker for fnwire-host's end-to-end tests: it speaks FunctionRpc over gRPC with
//! the generated tonic client, without the fnwire SDK, so the host is tested against a worker
//! it shares no runtime code with.
//!
//! Functions (worker indexing):
//! * `hello` `hello/{name?}` GET+POST: `Hello, <name>!` (route, then `name` query, then `world`);
//! * `echo` `echo` POST: the JSON body back, or 400;
//! * `boom` `boom`: always fails, with an exception message the host must not show clients;
//! * `die` `die`: the process exits mid-invocation;
//! * `item` `items/{id:int}`: `item <id>`, with a cookie;
//! * `broken` `broken`: its load fails;
//! * `slow` `slow`: answers only when cancelled (`InvocationCancel` → Cancelled);
//! * `tick`: a timer trigger (indexed only);
//! * `keyed` (authLevel function) and `admin` (authLevel admin): `ok`;
//! * `pid` `pid`: the worker's process id;
//! * `hang` `hang`: the worker stops answering anything (also `WorkerStatusRequest`);
//! * `restart` `restart`: the process exits with 200, the code that asks for a restart;
//! * `slowqueue`: a queue trigger on `slowjobs` that, like `slow`, answers only when cancelled;
//! * `slowbus`: a Service Bus trigger on queue `slowbus` that, like `slow`, answers only when cancelled;
//! * `gate` `gate`: prints `test worker: gate waiting`, then answers `gate passed` once the file
//!   named by `TEST_WORKER_GATE` exists (a request a test holds in flight for as long as it wants);
//! * `gatequeue`: a queue trigger on `gatejobs` that waits for the same file, then succeeds.
//! * `stuck` `stuck`: never answers, not even `InvocationCancel` (a function stuck in a loop).
//!
//! The HTTP functions above `keyed` are anonymous.
//! `TEST_WORKER_CRASH_MARKER=<file>`: the first start creates the file; later starts see it and
//! exit at once with code 3 (a worker that keeps crashing after a restart).
//! `TEST_WORKER_HOST_INDEXING=1` answers `use_default_metadata_indexing` instead;
//! `TEST_WORKER_NO_TERMINATE=1` leaves out `HandlesWorkerTerminateMessage` (it then exits when
//! the host ends the stream).

use std::collections::HashMap;

use fnwire_protocol::WorkerArgs;
use fnwire_protocol::bytes::Bytes;
use fnwire_protocol::rpc::function_rpc_client::FunctionRpcClient;
use fnwire_protocol::rpc::streaming_message::Content;
use fnwire_protocol::rpc::*;
use tokio::sync::mpsc;

fn typed(d: typed_data::Data) -> TypedData {
    TypedData { data: Some(d) }
}

fn success() -> Option<StatusResult> {
    Some(StatusResult { status: status_result::Status::Success as i32, ..Default::default() })
}

fn function(name: &str, trigger: &str) -> RpcFunctionMetadata {
    let mut trigger = trigger.to_string();
    if trigger.contains("httpTrigger") && !trigger.contains("authLevel") {
        trigger = trigger.replacen('{', r#"{"authLevel":"anonymous","#, 1);
    }
    let is_http = trigger.contains("httpTrigger");
    let mut raw = vec![trigger];
    if is_http {
        raw.push(r#"{"type":"http","direction":"out","name":"$return"}"#.into());
    }
    RpcFunctionMetadata {
        name: name.into(),
        raw_bindings: raw,
        function_id: format!("id-{name}"),
        ..Default::default()
    }
}

fn functions() -> Vec<RpcFunctionMetadata> {
    vec![
        function(
            "hello",
            r#"{"type":"httpTrigger","direction":"in","name":"req","route":"hello/{name?}","methods":["get","post"]}"#,
        ),
        function(
            "echo",
            r#"{"type":"httpTrigger","direction":"in","name":"req","route":"echo","methods":["post"]}"#,
        ),
        function("boom", r#"{"type":"httpTrigger","direction":"in","name":"req"}"#),
        function("die", r#"{"type":"httpTrigger","direction":"in","name":"req"}"#),
        function(
            "item",
            r#"{"type":"httpTrigger","direction":"in","name":"req","route":"items/{id:int}","methods":"get"}"#,
        ),
        function("broken", r#"{"type":"httpTrigger","direction":"in","name":"req"}"#),
        function("slow", r#"{"type":"httpTrigger","direction":"in","name":"req"}"#),
        function("keyed", r#"{"type":"httpTrigger","direction":"in","name":"req","authLevel":"function"}"#),
        function("admin", r#"{"type":"httpTrigger","direction":"in","name":"req","authLevel":"Admin"}"#),
        function("pid", r#"{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous"}"#),
        function("hang", r#"{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous"}"#),
        function(
            "restart",
            r#"{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous"}"#,
        ),
        function("gate", r#"{"type":"httpTrigger","direction":"in","name":"req"}"#),
        function(
            "gatequeue",
            r#"{"type":"queueTrigger","direction":"in","name":"msg","queueName":"gatejobs"}"#,
        ),
        function("stuck", r#"{"type":"httpTrigger","direction":"in","name":"req"}"#),
        function(
            "slowqueue",
            r#"{"type":"queueTrigger","direction":"in","name":"msg","queueName":"slowjobs"}"#,
        ),
        function(
            "slowbus",
            r#"{"type":"serviceBusTrigger","direction":"in","name":"msg","queueName":"slowbus"}"#,
        ),
        function(
            "tick",
            r#"{"type":"timerTrigger","direction":"in","name":"timer","schedule":"*/5 * * * * *"}"#,
        ),
    ]
}

fn http_response(status: u16, content_type: &str, body: Bytes) -> TypedData {
    let mut headers = HashMap::new();
    headers.insert("Content-Type".to_string(), content_type.to_string());
    typed(typed_data::Data::Http(Box::new(RpcHttp {
        status_code: status.to_string(),
        headers,
        body: Some(Box::new(typed(typed_data::Data::Bytes(body)))),
        ..Default::default()
    })))
}

fn invoke(req: &InvocationRequest) -> InvocationResponse {
    let http = req.input_data.iter().find_map(|p| match &p.rpc_data {
        Some(parameter_binding::RpcData::Data(TypedData { data: Some(typed_data::Data::Http(h)) })) => {
            Some(h)
        }
        _ => None,
    });
    let Some(http) = http else {
        return failure(req, "no http input");
    };
    let body = match http.body.as_ref().and_then(|b| b.data.as_ref()) {
        Some(typed_data::Data::Bytes(b)) => b.clone(),
        Some(typed_data::Data::String(s)) => Bytes::from(s.clone()),
        _ => Bytes::new(),
    };
    let value = match req.function_id.as_str() {
        "id-hello" => {
            let name =
                http.params.get("name").or_else(|| http.query.get("name")).cloned().unwrap_or("world".into());
            http_response(200, "text/plain; charset=utf-8", Bytes::from(format!("Hello, {name}!")))
        }
        "id-echo" => match serde_json::from_slice::<serde_json::Value>(&body) {
            Ok(_) => http_response(200, "application/json", body),
            Err(e) => http_response(400, "text/plain", Bytes::from(format!("the body is not JSON: {e}"))),
        },
        "id-keyed" | "id-admin" => http_response(200, "text/plain", Bytes::from("ok")),
        "id-pid" => http_response(200, "text/plain", Bytes::from(std::process::id().to_string())),
        "id-boom" => return failure(req, "SECRET-INTERNAL-DETAIL: boom failed on purpose"),
        "id-die" => std::process::exit(3),
        "id-restart" => std::process::exit(200),
        "id-item" => {
            let id = http.params.get("id").cloned().unwrap_or_default();
            let mut v = http_response(200, "text/plain", Bytes::from(format!("item {id}")));
            if let Some(typed_data::Data::Http(h)) = &mut v.data {
                h.cookies.push(RpcHttpCookie {
                    name: "seen".into(),
                    value: id,
                    same_site: rpc_http_cookie::SameSite::Lax as i32,
                    ..Default::default()
                });
            }
            v
        }
        other => return failure(req, &format!("unknown function id {other}")),
    };
    InvocationResponse {
        invocation_id: req.invocation_id.clone(),
        return_value: Some(value),
        result: success(),
        ..Default::default()
    }
}

fn failure(req: &InvocationRequest, message: &str) -> InvocationResponse {
    InvocationResponse {
        invocation_id: req.invocation_id.clone(),
        result: Some(StatusResult {
            status: status_result::Status::Failure as i32,
            exception: Some(RpcException {
                message: message.into(),
                stack_trace: "at test_worker::invoke".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// A function whose name starts with `relay` (host-indexed from function.json) succeeds with
/// its trigger's string (or an HTTP trigger's body) upper-cased as the return value: the
/// message relays of the RabbitMQ, Service Bus and trace tests.
fn relay(req: &InvocationRequest) -> InvocationResponse {
    let text = req.input_data.first().and_then(|p| match &p.rpc_data {
        Some(parameter_binding::RpcData::Data(TypedData { data: Some(typed_data::Data::String(s)) })) => {
            Some(s.to_uppercase())
        }
        Some(parameter_binding::RpcData::Data(TypedData { data: Some(typed_data::Data::Http(http)) })) => {
            match http.body.as_ref().and_then(|b| b.data.as_ref()) {
                Some(typed_data::Data::Bytes(b)) => Some(String::from_utf8_lossy(b).to_uppercase()),
                Some(typed_data::Data::String(s)) => Some(s.to_uppercase()),
                _ => None,
            }
        }
        _ => None,
    });
    match text {
        Some(text) => InvocationResponse {
            invocation_id: req.invocation_id.clone(),
            return_value: Some(typed(typed_data::Data::String(text))),
            result: success(),
            ..Default::default()
        },
        None => failure(req, "relay: the trigger input is not a string"),
    }
}

fn load_response(req: &FunctionLoadRequest) -> FunctionLoadResponse {
    let result = if req.function_id == "id-broken" {
        Some(StatusResult {
            status: status_result::Status::Failure as i32,
            exception: Some(RpcException { message: "broken cannot load".into(), ..Default::default() }),
            ..Default::default()
        })
    } else {
        success()
    };
    FunctionLoadResponse { function_id: req.function_id.clone(), result, ..Default::default() }
}

#[tokio::main]
async fn main() {
    let args = match WorkerArgs::from_env() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("test worker: {e}");
            std::process::exit(2);
        }
    };
    if let Ok(marker) = std::env::var("TEST_WORKER_CRASH_MARKER") {
        if std::path::Path::new(&marker).exists() {
            eprintln!("test worker: crashing at start on purpose");
            std::process::exit(3);
        }
        let _ = std::fs::write(&marker, "started once");
    }
    println!(
        "test worker starting, runtime {:?}, setting {:?}",
        std::env::var("FUNCTIONS_WORKER_RUNTIME").ok(),
        std::env::var("TEST_WORKER_SETTING").ok()
    );
    // As Azure's workers do, take messages as large as the host sends (`--grpcMaxMessageLength`).
    let mut client = FunctionRpcClient::connect(args.host_uri.clone())
        .await
        .expect("connect to the host")
        .max_decoding_message_size(usize::MAX)
        .max_encoding_message_size(usize::MAX);
    let (tx, rx) = mpsc::unbounded_channel::<StreamingMessage>();
    let reply_tx = tx.clone();
    let send = move |content: Content| {
        let _ = tx.send(StreamingMessage { request_id: String::new(), content: Some(content) });
    };
    send(Content::StartStream(StartStream { worker_id: args.worker_id.clone() }));
    let mut inbound = client
        .event_stream(tokio_stream::wrappers::UnboundedReceiverStream::new(rx))
        .await
        .expect("open the event stream")
        .into_inner();
    let host_indexing = std::env::var("TEST_WORKER_HOST_INDEXING").is_ok_and(|v| v == "1");
    let mut stuck = std::collections::HashSet::new();
    let mut relays = std::collections::HashSet::new();
    while let Ok(Some(msg)) = inbound.message().await {
        match msg.content {
            Some(Content::WorkerInitRequest(_)) => {
                let caps = [
                    "RawHttpBodyBytes",
                    "RpcHttpBodyOnly",
                    "RpcHttpTriggerMetadataRemoved",
                    "HandlesWorkerTerminateMessage",
                    "SupportsLoadResponseCollection",
                    "HandlesInvocationCancelMessage",
                    "WorkerStatus",
                ];
                let without_terminate = std::env::var("TEST_WORKER_NO_TERMINATE").is_ok_and(|v| v == "1");
                let caps =
                    caps.iter().filter(|c| !(without_terminate && **c == "HandlesWorkerTerminateMessage"));
                send(Content::WorkerInitResponse(WorkerInitResponse {
                    capabilities: caps.map(|c| (c.to_string(), "true".to_string())).collect(),
                    result: success(),
                    ..Default::default()
                }));
            }
            Some(Content::FunctionsMetadataRequest(_)) => {
                send(Content::FunctionMetadataResponse(FunctionMetadataResponse {
                    function_metadata_results: if host_indexing { Vec::new() } else { functions() },
                    result: success(),
                    use_default_metadata_indexing: host_indexing,
                }));
            }
            Some(Content::FunctionLoadRequestCollection(c)) => {
                for r in &c.function_load_requests {
                    if r.metadata.as_ref().is_some_and(|m| m.name.starts_with("relay")) {
                        relays.insert(r.function_id.clone());
                    }
                }
                send(Content::FunctionLoadResponseCollection(FunctionLoadResponseCollection {
                    function_load_responses: c.function_load_requests.iter().map(load_response).collect(),
                }));
            }
            Some(Content::FunctionLoadRequest(r)) => send(Content::FunctionLoadResponse(load_response(&r))),
            Some(Content::InvocationRequest(req)) => {
                send(Content::RpcLog(RpcLog {
                    invocation_id: req.invocation_id.clone(),
                    message: format!("test worker handling {}", req.function_id),
                    level: rpc_log::Level::Information as i32,
                    log_category: rpc_log::RpcLogCategory::User as i32,
                    ..Default::default()
                }));
                if req.function_id == "id-slow"
                    || req.function_id == "id-slowqueue"
                    || req.function_id == "id-slowbus"
                {
                    continue;
                }
                if req.function_id == "id-gate" || req.function_id == "id-gatequeue" {
                    let reply = reply_tx.clone();
                    println!("test worker: gate waiting");
                    tokio::spawn(async move {
                        let gate = std::env::var("TEST_WORKER_GATE").unwrap_or_default();
                        while gate.is_empty() || !std::path::Path::new(&gate).exists() {
                            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                        }
                        let response = InvocationResponse {
                            invocation_id: req.invocation_id.clone(),
                            return_value: (req.function_id == "id-gate")
                                .then(|| http_response(200, "text/plain", Bytes::from("gate passed"))),
                            result: success(),
                            ..Default::default()
                        };
                        let _ = reply.send(StreamingMessage {
                            request_id: String::new(),
                            content: Some(Content::InvocationResponse(response)),
                        });
                    });
                    continue;
                }
                if relays.contains(&req.function_id) {
                    // TEST_WORKER_RELAY_DELAY_MS paces a relay, so a load lasts a known minimum.
                    let delay = std::env::var("TEST_WORKER_RELAY_DELAY_MS").ok().and_then(|v| v.parse().ok());
                    let response = relay(&req);
                    match delay {
                        Some(ms) => {
                            let reply = reply_tx.clone();
                            tokio::spawn(async move {
                                tokio::time::sleep(std::time::Duration::from_millis(ms)).await;
                                let _ = reply.send(StreamingMessage {
                                    request_id: String::new(),
                                    content: Some(Content::InvocationResponse(response)),
                                });
                            });
                        }
                        None => send(Content::InvocationResponse(response)),
                    }
                    continue;
                }
                if req.function_id == "id-stuck" {
                    stuck.insert(req.invocation_id.clone());
                    continue;
                }
                if req.function_id == "id-hang" {
                    println!("test worker: hanging");
                    // Blocks the only loop: nothing is answered any more.
                    loop {
                        std::thread::sleep(std::time::Duration::from_secs(3600));
                    }
                }
                send(Content::InvocationResponse(invoke(&req)));
            }
            Some(Content::InvocationCancel(cancel)) => {
                println!("test worker: cancel {}", cancel.invocation_id);
                if stuck.contains(&cancel.invocation_id) {
                    continue;
                }
                send(Content::InvocationResponse(InvocationResponse {
                    invocation_id: cancel.invocation_id,
                    result: Some(StatusResult {
                        status: status_result::Status::Cancelled as i32,
                        ..Default::default()
                    }),
                    ..Default::default()
                }));
            }
            Some(Content::WorkerStatusRequest(_)) => {
                let _ = reply_tx.send(StreamingMessage {
                    request_id: msg.request_id.clone(),
                    content: Some(Content::WorkerStatusResponse(WorkerStatusResponse {})),
                });
            }
            Some(Content::WorkerTerminate(_)) => {
                println!("test worker: terminating");
                std::process::exit(0);
            }
            _ => {}
        }
    }
    println!("test worker: stream ended");
}

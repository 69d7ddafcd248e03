//! A FunctionRpc worker that breaks the protocol on purpose, so the tests can check that the
//! conformance runner fails it with messages that name the scenario and what was expected.
//!
//! The fault is chosen by `FNWIRE_BROKEN_MODE`:
//! * `no-start-stream`: the first message is a WorkerInitResponse instead of StartStream;
//! * `wrong-invocation-id`: a normal start, indexing only `http_text`, and every
//!   InvocationResponse carries an invocation id the host never sent.

use std::collections::HashMap;
use std::process::ExitCode;

use fnwire_protocol::WorkerArgs;
use fnwire_protocol::rpc::function_rpc_client::FunctionRpcClient;
use fnwire_protocol::rpc::streaming_message::Content;
use fnwire_protocol::rpc::{
    FunctionLoadResponse, FunctionMetadataResponse, InvocationResponse, RpcFunctionMetadata, StartStream,
    StatusResult, StreamingMessage, WorkerInitResponse, WorkerMetadata, status_result,
};
use tokio::sync::mpsc;

fn message(content: Content) -> StreamingMessage {
    StreamingMessage { request_id: String::new(), content: Some(content) }
}

fn success() -> Option<StatusResult> {
    Some(StatusResult { status: status_result::Status::Success as i32, ..Default::default() })
}

fn init_response() -> Content {
    Content::WorkerInitResponse(WorkerInitResponse {
        worker_version: "0.0.0".into(),
        capabilities: HashMap::from([("RawHttpBodyBytes".to_string(), "true".to_string())]),
        result: success(),
        worker_metadata: Some(WorkerMetadata {
            runtime_name: "broken".into(),
            runtime_version: "0".into(),
            worker_version: "0.0.0".into(),
            ..Default::default()
        }),
    })
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mode = std::env::var("FNWIRE_BROKEN_MODE").unwrap_or_default();
    let args = match WorkerArgs::from_env() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("broken worker: {e}");
            return ExitCode::from(2);
        }
    };
    let mut client = match FunctionRpcClient::connect(args.host_uri.clone()).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("broken worker: cannot connect to {}: {e}", args.host_uri);
            return ExitCode::from(2);
        }
    };
    let (tx, rx) = mpsc::unbounded_channel();
    let first = match mode.as_str() {
        "no-start-stream" => message(init_response()),
        _ => message(Content::StartStream(StartStream { worker_id: args.worker_id.clone() })),
    };
    let _ = tx.send(first);
    let mut inbound =
        match client.event_stream(tokio_stream::wrappers::UnboundedReceiverStream::new(rx)).await {
            Ok(r) => r.into_inner(),
            Err(status) => {
                eprintln!("broken worker: the host refused the stream: {}", status.message());
                return ExitCode::from(1);
            }
        };
    while let Ok(Some(msg)) = inbound.message().await {
        let reply = match msg.content {
            Some(Content::WorkerInitRequest(_)) => init_response(),
            Some(Content::FunctionsMetadataRequest(_)) => Content::FunctionMetadataResponse(FunctionMetadataResponse {
                function_metadata_results: vec![RpcFunctionMetadata {
                    name: "http_text".into(),
                    function_id: "broken-http-text".into(),
                    raw_bindings: vec![
                        r#"{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous","route":"text","methods":["GET","POST"]}"#.into(),
                        r#"{"type":"http","direction":"out","name":"$return"}"#.into(),
                    ],
                    ..Default::default()
                }],
                result: success(),
                use_default_metadata_indexing: false,
            }),
            Some(Content::FunctionLoadRequest(r)) => Content::FunctionLoadResponse(FunctionLoadResponse {
                function_id: r.function_id,
                result: success(),
                is_dependency_downloaded: false,
            }),
            Some(Content::InvocationRequest(r)) => Content::InvocationResponse(InvocationResponse {
                invocation_id: format!("not-{}", r.invocation_id),
                result: success(),
                ..Default::default()
            }),
            _ => continue,
        };
        if tx.send(message(reply)).is_err() {
            break;
        }
    }
    ExitCode::SUCCESS
}

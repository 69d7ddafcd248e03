//! OpenTelemetry export through the real `fnwire` binary and the test worker, to an OTLP receiver
//! of the test's own (the collector's gRPC service from `opentelemetry-proto`, or its
//! HTTP/protobuf form): an HTTP request with a `traceparent` runs a function whose Service Bus
//! output (or storage-queue output) triggers a second function, and both invocations' spans
//! arrive in the caller's trace, the second beneath the first.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fnwire_messaging::{EntityDecl, SubscriptionOptions, TopicOptions};
use fnwire_storage::Store;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::{Span, span::SpanKind};
use prost::Message as _;

use crate::support::*;

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";
const SPANS_BOUND: Duration = Duration::from_secs(60);

/// What the receiver was sent: each span with its resource's `service.name`.
#[derive(Debug, Clone, Default)]
struct Received(Arc<Mutex<Vec<(String, Span)>>>);

impl Received {
    fn add(&self, request: ExportTraceServiceRequest) {
        let mut all = self.0.lock().unwrap();
        for resource_spans in request.resource_spans {
            let service = resource_spans
                .resource
                .iter()
                .flat_map(|r| &r.attributes)
                .find(|kv| kv.key == "service.name")
                .and_then(|kv| text(kv.value.as_ref()))
                .unwrap_or_default();
            for scope in resource_spans.scope_spans {
                all.extend(scope.spans.into_iter().map(|span| (service.clone(), span)));
            }
        }
    }

    fn span(&self, name: &str) -> Option<(String, Span)> {
        self.0.lock().unwrap().iter().find(|(_, s)| s.name == name).cloned()
    }

    /// Both spans, polled until they arrive or the bound passes.
    async fn wait_for(&self, names: [&str; 2], fnwire: &Fnwire) -> [(String, Span); 2] {
        let deadline = Instant::now() + SPANS_BOUND;
        loop {
            if let [Some(first), Some(second)] = names.map(|n| self.span(n)) {
                return [first, second];
            }
            assert!(
                Instant::now() < deadline,
                "the spans {names:?} did not arrive within {SPANS_BOUND:?}; received {:?}; fnwire's output:\n{}",
                self.0.lock().unwrap().iter().map(|(_, s)| &s.name).collect::<Vec<_>>(),
                fnwire.output()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

#[tonic::async_trait]
impl TraceService for Received {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        self.add(request.into_inner());
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// An OTLP/gRPC receiver on 127.0.0.1.
async fn grpc_receiver() -> (Received, SocketAddr) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let received = Received::default();
    let service = TraceServiceServer::new(received.clone());
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(service)
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    (received, address)
}

/// An OTLP/HTTP receiver on 127.0.0.1: protobuf `POST /v1/traces`.
async fn http_receiver() -> (Received, SocketAddr) {
    use http_body_util::BodyExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let received = Received::default();
    let into = received.clone();
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let into = into.clone();
            let service =
                hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
                    let into = into.clone();
                    async move {
                        let path = request.uri().path().to_string();
                        let body = request.into_body().collect().await?.to_bytes();
                        let status = match ExportTraceServiceRequest::decode(body) {
                            Ok(export) if path == "/v1/traces" => {
                                into.add(export);
                                200
                            }
                            _ => 400,
                        };
                        let reply = ExportTraceServiceResponse::default().encode_to_vec();
                        hyper::Response::builder()
                            .status(status)
                            .header("content-type", "application/x-protobuf")
                            .body(http_body_util::Full::new(bytes::Bytes::from(reply)))
                            .map_err(|e| -> Box<dyn std::error::Error + Send + Sync> { e.into() })
                    }
                });
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service),
            );
        }
    });
    (received, address)
}

fn text(value: Option<&AnyValue>) -> Option<String> {
    match value?.value.as_ref()? {
        any_value::Value::StringValue(s) => Some(s.clone()),
        _ => None,
    }
}

fn attribute<'a>(span: &'a Span, key: &str) -> Option<&'a any_value::Value> {
    span.attributes.iter().find(|kv| kv.key == key).and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn string_attribute(span: &Span, key: &str) -> String {
    match attribute(span, key) {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        other => panic!("{key} is not a string attribute of {}: {other:?}", span.name),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// An app of two host-indexed relays (the test worker answers with the input upper-cased): an
/// HTTP function whose return value goes to the Service Bus queue `relayed`, and the function
/// that queue triggers, which sends on to `done`.
fn relay_app() -> (tempfile::TempDir, Store) {
    let (app, store) = host_indexed_app([
        (
            "relayhttp",
            serde_json::json!({"bindings": [
                {"type": "httpTrigger", "direction": "in", "name": "req", "authLevel": "anonymous", "methods": ["post"]},
                {"type": "serviceBus", "direction": "out", "name": "$return", "queueName": "relayed"},
            ]}),
        ),
        (
            "relayqueue",
            serde_json::json!({"bindings": [
                {"type": "serviceBusTrigger", "direction": "in", "name": "msg", "queueName": "relayed"},
                {"type": "serviceBus", "direction": "out", "name": "$return", "queueName": "done"},
            ]}),
        ),
    ]);
    for queue in ["relayed", "done"] {
        store
            .declare_entity(&EntityDecl::queue(
                queue,
                TopicOptions::default(),
                SubscriptionOptions::default(),
            ))
            .unwrap();
    }
    (app, store)
}

async fn call_with_trace(fnwire: &Fnwire) {
    let traceparent = format!("00-{TRACE}-{CALLER_SPAN}-01");
    let reply =
        request("POST", &fnwire.url("/api/relayhttp"), &[("traceparent", traceparent.as_str())], "hi").await;
    assert!(reply.status < 300, "the HTTP relay failed: {reply:?}\n{}", fnwire.output());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_http_request_and_the_queue_invocation_it_causes_are_one_trace_over_grpc() {
    let (received, address) = grpc_receiver().await;
    let (app, store) = relay_app();
    let endpoint = format!("http://{address}");
    let fnwire = Fnwire::spawn_with_env(
        app.path(),
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_SERVICE_NAME", "relays"),
            ("OTEL_BSP_SCHEDULE_DELAY", "50"),
        ],
    );
    fnwire.wait_for_output("Host started", STARTUP_BOUND);
    call_with_trace(&fnwire).await;
    let [(service, http), (_, queue)] = received.wait_for(["relayhttp", "relayqueue"], &fnwire).await;
    let done = store.peek_subscription("done", "$queue", 10, false).unwrap();
    assert_eq!(done.first().map(|m| m.message.body.as_slice()), Some(&b"HI"[..]), "the relays ran");

    assert_eq!(service, "relays", "OTEL_SERVICE_NAME names the service");
    assert_eq!(hex(&http.trace_id), TRACE, "the HTTP invocation continues the caller's trace");
    assert_eq!(hex(&queue.trace_id), TRACE, "the queue invocation continues it too");
    assert_eq!(hex(&http.parent_span_id), CALLER_SPAN, "the HTTP invocation's parent is the caller");
    assert_eq!(queue.parent_span_id, http.span_id, "the queue invocation hangs beneath the HTTP one");
    assert_ne!(http.span_id, queue.span_id);
    assert_eq!(http.kind, SpanKind::Server as i32);
    assert_eq!(queue.kind, SpanKind::Consumer as i32);
    for (span, trigger) in [(&http, "httpTrigger"), (&queue, "serviceBusTrigger")] {
        assert_eq!(string_attribute(span, "fnwire.function"), span.name);
        assert_eq!(string_attribute(span, "fnwire.trigger"), trigger);
        assert_eq!(string_attribute(span, "fnwire.outcome"), "Succeeded");
        assert!(!string_attribute(span, "faas.invocation_id").is_empty());
        assert!(!string_attribute(span, "fnwire.worker.id").is_empty());
        let worker_pids = fnwire.children();
        match attribute(span, "fnwire.worker.pid") {
            Some(any_value::Value::IntValue(pid)) => {
                assert!(worker_pids.contains(&u32::try_from(*pid).unwrap()), "{pid} not in {worker_pids:?}")
            }
            other => panic!("no worker pid on {}: {other:?}", span.name),
        }
        for duration in ["fnwire.queueing.duration", "fnwire.execution.duration"] {
            match attribute(span, duration) {
                Some(any_value::Value::DoubleValue(seconds)) => {
                    assert!(*seconds >= 0.0, "{duration}={seconds}")
                }
                other => panic!("no {duration} on {}: {other:?}", span.name),
            }
        }
        assert!(span.end_time_unix_nano >= span.start_time_unix_nano);
    }
    assert_ne!(string_attribute(&http, "faas.invocation_id"), string_attribute(&queue, "faas.invocation_id"));
}

/// An app of two host-indexed relays over storage queues: an HTTP function whose return value
/// goes to the queue `traced-work`, and the function that queue triggers, which puts the
/// message on (upper-cased again) to `traced-done`.
fn storage_queue_relay_app() -> (tempfile::TempDir, Store) {
    host_indexed_app([
        (
            "relayenqueue",
            serde_json::json!({"bindings": [
                {"type": "httpTrigger", "direction": "in", "name": "req", "authLevel": "anonymous", "methods": ["post"]},
                {"type": "queue", "direction": "out", "name": "$return", "queueName": "traced-work"},
            ]}),
        ),
        (
            "relayqueuework",
            serde_json::json!({"bindings": [
                {"type": "queueTrigger", "direction": "in", "name": "msg", "queueName": "traced-work"},
                {"type": "queue", "direction": "out", "name": "$return", "queueName": "traced-done"},
            ]}),
        ),
    ])
}

/// The test worker's app with these functions, indexed by the host from their `function.json`
/// (the test worker relays each input upper-cased), and its store.
fn host_indexed_app<const N: usize>(functions: [(&str, serde_json::Value); N]) -> (tempfile::TempDir, Store) {
    let app = test_worker_app();
    std::fs::write(app.path().join("local.settings.json"), r#"{"Values":{"TEST_WORKER_HOST_INDEXING":"1"}}"#)
        .unwrap();
    std::fs::write(app.path().join("host.json"), r#"{"version":"2.0"}"#).unwrap();
    for (name, function) in functions {
        std::fs::create_dir(app.path().join(name)).unwrap();
        std::fs::write(app.path().join(name).join("function.json"), function.to_string()).unwrap();
    }
    let store = Store::open(&app.path().join(".fnwire")).unwrap();
    (app, store)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_storage_queue_message_carries_the_trace_from_the_http_invocation_to_the_one_it_triggers() {
    let (received, address) = grpc_receiver().await;
    let (app, store) = storage_queue_relay_app();
    let endpoint = format!("http://{address}");
    let fnwire = Fnwire::spawn_with_env(
        app.path(),
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_BSP_SCHEDULE_DELAY", "50"),
        ],
    );
    fnwire.wait_for_output("Host started", STARTUP_BOUND);
    let traceparent = format!("00-{TRACE}-{CALLER_SPAN}-01");
    let headers = [("traceparent", traceparent.as_str()), ("tracestate", "vendor=1")];
    let reply = request("POST", &fnwire.url("/api/relayenqueue"), &headers, "hi").await;
    assert!(reply.status < 300, "the HTTP function failed: {reply:?}\n{}", fnwire.output());
    let [(_, http), (_, queue)] = received.wait_for(["relayenqueue", "relayqueuework"], &fnwire).await;

    // The queue function saw the body exactly as the HTTP function wrote it ("HI"), not a
    // wrapper around it, and upper-cased it once more.
    let done = store.peek("traced-done", 10).unwrap();
    assert_eq!(done.iter().map(|m| m.body.as_slice()).collect::<Vec<_>>(), [&b"HI"[..]], "the relays ran");
    assert_eq!(hex(&http.trace_id), TRACE);
    assert_eq!(hex(&queue.trace_id), TRACE, "the queue invocation continues the HTTP request's trace");
    assert_eq!(queue.parent_span_id, http.span_id, "the queue invocation hangs beneath the HTTP one");
    assert_ne!(queue.span_id, http.span_id);
    assert_eq!(queue.trace_state, http.trace_state, "the tracestate travels with the message");
    assert_eq!(http.trace_state, "vendor=1");
    assert_eq!(queue.kind, SpanKind::Consumer as i32);
    assert_eq!(string_attribute(&queue, "fnwire.trigger"), "queueTrigger");
    assert_eq!(string_attribute(&queue, "fnwire.outcome"), "Succeeded");
}

#[tokio::test(flavor = "multi_thread")]
async fn spans_still_waiting_for_their_batch_are_exported_over_http_when_the_host_stops() {
    let (received, address) = http_receiver().await;
    let (app, store) = relay_app();
    let endpoint = format!("http://{address}");
    let mut fnwire = Fnwire::spawn_with_env(
        app.path(),
        &[],
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf"),
            // Far beyond the test: only the flush at shutdown can send the spans.
            ("OTEL_BSP_SCHEDULE_DELAY", "3600000"),
        ],
    );
    fnwire.wait_for_output("Host started", STARTUP_BOUND);
    call_with_trace(&fnwire).await;
    let deadline = Instant::now() + SPANS_BOUND;
    while store.peek_subscription("done", "$queue", 10, false).unwrap().is_empty() {
        assert!(Instant::now() < deadline, "the relays did not finish:\n{}", fnwire.output());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(received.span("relayhttp").is_none(), "exported before the batch delay: the test proves nothing");
    assert!(fnwire.terminate().success(), "{}", fnwire.output());
    let [(service, http), (_, queue)] = received.wait_for(["relayhttp", "relayqueue"], &fnwire).await;
    assert_eq!(service, app.path().canonicalize().unwrap().file_name().unwrap().to_string_lossy());
    assert_eq!(queue.parent_span_id, http.span_id);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_exporter_fnwire_does_not_have_is_refused_at_start_with_what_to_set() {
    let (app, _store) = relay_app();
    let mut fnwire = Fnwire::spawn_with_env(
        app.path(),
        &[],
        &[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9"), ("OTEL_TRACES_EXPORTER", "zipkin")],
    );
    assert!(!fnwire.wait_exit(STARTUP_BOUND).success());
    let out = fnwire.output();
    assert!(out.contains("OTEL_TRACES_EXPORTER=\"zipkin\"") && out.contains("otlp"), "{out}");
}

/// Every span received so far named `name`.
fn named(received: &Received, name: &str) -> Vec<(String, Span)> {
    received.0.lock().unwrap().iter().filter(|(_, s)| s.name == name).cloned().collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rust_workers_span_of_each_invocation_hangs_beneath_the_hosts() {
    let (received, address) = grpc_receiver().await;
    // A store of its own: other tests run hello-rust at the same time, and a store takes one host.
    let storage = tempfile::tempdir().unwrap();
    let storage_dir = storage.path().display().to_string();
    let endpoint = format!("http://{address}");
    let hello_rust = std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/hello-rust"));
    let fnwire = Fnwire::spawn_with_env(
        &hello_rust,
        // --debug reuses the workspace's debug build instead of a second, release build.
        &["--debug"],
        &[
            ("FNWIRE_STORAGE_DIR", storage_dir.as_str()),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", endpoint.as_str()),
            ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
            ("OTEL_SERVICE_NAME", "hello"),
            ("OTEL_BSP_SCHEDULE_DELAY", "50"),
        ],
    );
    fnwire.wait_for_output("Host started", STARTUP_BOUND);
    let traceparent = format!("00-{TRACE}-{CALLER_SPAN}-01");
    let headers = [("traceparent", traceparent.as_str())];
    let reply = request("GET", &fnwire.url("/api/hello?name=Ada"), &headers, "").await;
    assert_eq!(reply.status, 200, "{}", fnwire.output());
    assert_eq!(request("GET", &fnwire.url("/api/boom"), &headers, "").await.status, 500);
    // HTTP → worker → storage queue `jobs` → worker: `work` continues the trace of `enqueue`.
    assert_eq!(request("POST", &fnwire.url("/api/enqueue"), &headers, "job").await.status, 202);

    let deadline = Instant::now() + SPANS_BOUND;
    let functions = ["hello", "boom", "enqueue", "work"];
    let mut spans = functions.map(|f| named(&received, f));
    while spans.iter().any(|s| s.len() < 2) {
        assert!(
            Instant::now() < deadline,
            "the host's and the worker's spans did not arrive within {SPANS_BOUND:?}: {spans:?}; output:\n{}",
            fnwire.output()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        spans = functions.map(|f| named(&received, f));
    }
    // The host's span of each invocation is the one that is not the worker's (Internal).
    let host_span = |spans: &[(String, Span)]| {
        spans.iter().map(|(_, s)| s).find(|s| s.kind != SpanKind::Internal as i32).cloned()
    };
    let enqueue_span = host_span(&spans[2]).expect("the host's span of enqueue");
    for (function, spans) in functions.iter().zip(&spans) {
        let host = host_span(spans);
        let worker = spans.iter().map(|(_, s)| s).find(|s| s.kind == SpanKind::Internal as i32);
        let (Some(host), Some(worker)) = (host.as_ref(), worker) else { panic!("{function}: {spans:?}") };
        assert_eq!(hex(&host.trace_id), TRACE, "{function}: in the caller's trace");
        if *function == "work" {
            assert_eq!(host.kind, SpanKind::Consumer as i32);
            assert_eq!(
                host.parent_span_id, enqueue_span.span_id,
                "work: its invocation hangs beneath the one that put its message"
            );
        } else {
            assert_eq!(host.kind, SpanKind::Server as i32);
            assert_eq!(hex(&host.parent_span_id), CALLER_SPAN, "{function}");
        }
        assert_eq!(worker.trace_id, host.trace_id, "{function}: the worker's span is in the caller's trace");
        assert_eq!(
            worker.parent_span_id, host.span_id,
            "{function}: the worker's span is beneath the host's"
        );
        assert_eq!(
            string_attribute(worker, "faas.invocation_id"),
            string_attribute(host, "faas.invocation_id")
        );
        assert!(spans.iter().all(|(service, _)| service == "hello"), "{spans:?}");
        let failed = |span: &Span| span.status.as_ref().is_some_and(|s| s.code == 2);
        let boom = *function == "boom";
        assert_eq!((failed(host), failed(worker)), (boom, boom), "{spans:?}");
    }
}

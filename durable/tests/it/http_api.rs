//! The durable HTTP API over the SQLite task hub, without a worker: routes, status codes,
//! headers and the client binding's shape. (Orchestrations that run are covered end to end with
//! the official Python library in bindings-python/tests/test_durable_end_to_end.py.)

use std::sync::Arc;

use bytes::Bytes;
use fnwire_durable::engine::{
    DurableFunctions, DurableKind, Engine, EngineOptions, FunctionInvoker, InvokeOutcome, TriggerValue,
};
use fnwire_durable::http::{ApiConfig, ApiRequest, handle};
use fnwire_durable::sqlite::SqliteTaskHub;
use futures::future::BoxFuture;
use http::{HeaderMap, Method, StatusCode};
use serde_json::Value;

/// The engine's dispatchers are not started here, so nothing is ever invoked.
struct NothingRuns;

impl FunctionInvoker for NothingRuns {
    fn invoke(&self, function: &str, _: DurableKind, _: TriggerValue) -> BoxFuture<'static, InvokeOutcome> {
        let message = format!("no function runs in these tests ({function} was called)");
        Box::pin(async move { InvokeOutcome::Failed(message) })
    }
}

struct Api {
    engine: Arc<Engine>,
    config: ApiConfig,
    _dir: tempfile::TempDir,
}

impl Api {
    fn new() -> Api {
        let dir = tempfile::tempdir().unwrap();
        let hub = Arc::new(SqliteTaskHub::open(dir.path()).unwrap());
        let mut functions = DurableFunctions::default();
        functions.add(DurableKind::Orchestrator, "Chain");
        functions.add(DurableKind::Entity, "counter");
        let engine = Engine::new(hub, functions, Arc::new(NothingRuns), EngineOptions::default());
        let config = ApiConfig {
            public_base: "http://127.0.0.1:7071/runtime/webhooks/durabletask".into(),
            system_key: "sys-key".into(),
            rpc_base: "http://127.0.0.1:17071/durabletask/".into(),
        };
        Api { engine, config, _dir: dir }
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        query: Option<&str>,
        body: &str,
    ) -> (StatusCode, HeaderMap, Value) {
        let headers = HeaderMap::new();
        let request = ApiRequest {
            method: &method,
            path,
            query,
            headers: &headers,
            body: Bytes::from(body.to_string()),
        };
        let response = handle(&self.engine, &self.config, request).await;
        let status = response.status();
        let headers = response.headers().clone();
        let body = serde_json::from_slice(response.body()).unwrap_or(Value::Null);
        (status, headers, body)
    }
}

#[tokio::test]
async fn start_answers_202_with_the_management_urls_and_the_status_polls_with_202() {
    let api = Api::new();
    let (status, headers, payload) =
        api.call(Method::POST, "orchestrators/chain/order-1", None, r#""Tokyo""#).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{payload}");
    assert_eq!(payload["id"], "order-1");
    let status_url = payload["statusQueryGetUri"].as_str().unwrap();
    assert_eq!(
        status_url,
        "http://127.0.0.1:7071/runtime/webhooks/durabletask/instances/order-1?taskHub=TestHubName&connection=Storage&code=sys-key"
    );
    assert_eq!(headers["location"], status_url);
    assert_eq!(headers["retry-after"], "10");
    assert!(payload["sendEventPostUri"].as_str().unwrap().contains("/raiseEvent/{eventName}?"));

    let (status, headers, body) = api.call(Method::GET, "instances/order-1", None, "").await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(headers["retry-after"], "10");
    assert_eq!(body["name"], "Chain", "the function's own spelling");
    assert_eq!(body["runtimeStatus"], "Pending");
    assert_eq!(body["input"], "Tokyo");
    let again = api.call(Method::POST, "orchestrators/chain/order-1", None, "1").await;
    assert_eq!(again.0, StatusCode::CONFLICT, "{}", again.2);
}

#[tokio::test]
async fn refusals_name_the_input_and_what_to_do() {
    let api = Api::new();
    let (status, _, body) = api.call(Method::POST, "orchestrators/nope", None, "1").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert!(body["Message"].as_str().unwrap().contains("'nope'"), "{body}");
    assert_eq!(body["Message"], body["ExceptionMessage"]);
    let (status, _, body) = api.call(Method::POST, "orchestrators/chain", None, "{oops").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["Message"].as_str().unwrap().contains("not valid JSON"), "{body}");
    assert_eq!(api.call(Method::GET, "instances/ghost", None, "").await.0, StatusCode::NOT_FOUND);
    assert_eq!(
        api.call(Method::POST, "instances/ghost/raiseEvent/x", None, "1").await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(api.call(Method::PUT, "instances/ghost", None, "").await.0, StatusCode::METHOD_NOT_ALLOWED);
    let (status, _, body) = api.call(Method::GET, "instances", Some("runtimeStatus=Sleeping"), "").await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["Message"].as_str().unwrap().contains("`Sleeping`"), "{body}");
    assert_eq!(
        api.call(Method::POST, "entities/unknown/k", Some("op=add"), "1").await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn events_and_control_messages_are_accepted_for_a_live_instance_and_the_list_shows_it() {
    let api = Api::new();
    api.call(Method::POST, "orchestrators/chain/a", None, "").await;
    assert_eq!(
        api.call(Method::POST, "instances/a/raiseEvent/Approval", None, r#""yes""#).await.0,
        StatusCode::ACCEPTED
    );
    assert_eq!(
        api.call(Method::POST, "instances/a/terminate", Some("reason=stop"), "").await.0,
        StatusCode::ACCEPTED
    );
    let (status, _, list) =
        api.call(Method::GET, "instances", Some("runtimeStatus=Pending,Running"), "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["instanceId"], "a");
    // Pending instances have not finished: a purge by filter takes none of them.
    assert_eq!(api.call(Method::DELETE, "instances", None, "").await.0, StatusCode::NOT_FOUND);
    assert_eq!(api.call(Method::DELETE, "instances/a", None, "").await.2["instancesDeleted"], 1);
    assert_eq!(
        api.call(Method::POST, "entities/Counter/c1", Some("op=add"), "5").await.0,
        StatusCode::ACCEPTED
    );
}

#[test]
fn the_client_binding_has_the_fields_the_libraries_read() {
    let api = Api::new();
    let client = api.config.client_binding("MyHub");
    assert_eq!(client["taskHubName"], "MyHub");
    assert_eq!(client["rpcBaseUrl"], "http://127.0.0.1:17071/durabletask/");
    assert_eq!(client["baseUrl"], "http://127.0.0.1:7071/runtime/webhooks/durabletask");
    assert_eq!(client["requiredQueryStringParameters"], "code=sys-key");
    assert_eq!(client["managementUrls"]["id"], "INSTANCEID");
    let status = client["managementUrls"]["statusQueryGetUri"].as_str().unwrap();
    assert!(
        status.contains("/instances/INSTANCEID?taskHub=MyHub&connection=Storage&code=sys-key"),
        "{status}"
    );
    for key in ["createNewInstancePostUri", "createAndWaitOnNewInstancePostUri"] {
        assert!(
            client["creationUrls"][key].as_str().unwrap().contains("/orchestrators/{functionName}"),
            "{key}"
        );
    }
}

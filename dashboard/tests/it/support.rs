//! Invocations fed to a history as the host's pipeline reports them, and a dashboard over a
//! real embedded store.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use fnwire_dashboard::{AppSources, Dashboard, FunctionInfo, History, WorkerInfo};
use fnwire_observe::{InvocationFinished, InvocationObserver, InvocationStarted, Outcome};
use fnwire_protocol::rpc::{
    InvocationRequest, InvocationResponse, ParameterBinding, TypedData, parameter_binding, typed_data,
};
use http_body_util::BodyExt;

fn text(value: &str) -> Option<parameter_binding::RpcData> {
    Some(parameter_binding::RpcData::Data(TypedData { data: Some(typed_data::Data::String(value.into())) }))
}

/// Runs one invocation of `function` through `history` as the pipeline reports it: `input` is
/// its trigger input, `output` what it answered.
pub fn run(history: &History, function: &str, id: &str, input: &str, outcome: Outcome, duration: Duration) {
    let request = InvocationRequest {
        invocation_id: id.into(),
        input_data: vec![ParameterBinding { name: "req".into(), rpc_data: text(input) }],
        ..Default::default()
    };
    history.started(&InvocationStarted {
        function,
        invocation_id: id,
        reason: "test",
        at: SystemTime::now(),
        request: &request,
    });
    let response = InvocationResponse {
        invocation_id: id.into(),
        output_data: vec![ParameterBinding { name: "done".into(), rpc_data: text(&format!("out of {id}")) }],
        ..Default::default()
    };
    history.finished(&InvocationFinished {
        function,
        invocation_id: id,
        outcome,
        error: (outcome == Outcome::Failed).then_some("it broke"),
        duration,
        response: Some(&response),
        worker: None,
        queued: Duration::ZERO,
        commit: None,
    });
}

#[derive(Debug)]
pub struct Sources;

impl AppSources for Sources {
    fn functions(&self) -> Vec<FunctionInfo> {
        ["hello", "work"]
            .iter()
            .map(|name| FunctionInfo {
                name: name.to_string(),
                trigger: "httpTrigger".into(),
                target: format!("GET /api/{name}"),
                auth_level: Some("anonymous".into()),
                next_run: None,
                error: None,
            })
            .collect()
    }
    fn workers(&self) -> Vec<WorkerInfo> {
        vec![WorkerInfo { slot: 0, pid: Some(42), live: true, restarts: 1, in_flight: 0 }]
    }
}

/// A dashboard over a real store in a temporary directory.
pub struct Fixture {
    pub dashboard: Dashboard,
    pub store: Arc<fnwire_storage::Store>,
    _dir: tempfile::TempDir,
}

pub fn fixture(per_function: usize) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(fnwire_storage::Store::open(dir.path()).unwrap());
    let dashboard = Dashboard::new(History::new(per_function), Arc::new(Sources), Some(store.clone()), None);
    Fixture { dashboard, store, _dir: dir }
}

/// Sends a request and reads the whole answer as JSON.
pub async fn call(dashboard: &Dashboard, method: &str, uri: &str) -> (u16, serde_json::Value) {
    let method = http::Method::from_bytes(method.as_bytes()).unwrap();
    let uri: http::Uri = uri.parse().unwrap();
    let response = dashboard.handle(&method, &uri, &http::HeaderMap::new(), Bytes::new()).await;
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let value = serde_json::from_slice(&body)
        .unwrap_or_else(|e| panic!("{method} {uri} answered {status} with no JSON ({e}): {body:?}"));
    (status, value)
}

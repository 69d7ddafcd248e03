//! Composes the durable extension (`fnwire-durable`) into the host: finds the app's durable
//! functions and `durableClient` bindings, opens the task hub (next to the embedded store, or in
//! the app's PostgreSQL database, shared by every host),
//! invokes durable functions through the host's one [`Pipeline`], and mounts the HTTP API.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;

use fnwire_durable::engine::{
    DurableFunctions, DurableKind, Engine, EngineOptions, FunctionInvoker, InvokeOutcome, TriggerValue,
};
use fnwire_durable::http::ApiConfig;
use fnwire_durable::postgres::PgTaskHub;
use fnwire_durable::sqlite::SqliteTaskHub;
use fnwire_durable::taskhub::TaskHub;
use fnwire_protocol::rpc::{ParameterBinding, TypedData, parameter_binding, typed_data};
use futures::future::BoxFuture;
use serde_json::Value;

use crate::config::{ConfigError, read_host_json};
use crate::invoke::{Invocation, InvocationError, Pipeline};
use crate::lifecycle::IndexedFunction;
use crate::supervisor::InvokeError;

/// The binding type of the client input.
pub const CLIENT_BINDING: &str = "durableClient";
/// The name under which the API's system key is stored in the task hub.
const SYSTEM_KEY_SETTING: &str = "durabletask_extension_system_key";

/// The durable extension cannot start.
#[derive(Debug, thiserror::Error)]
pub enum DurableError {
    #[error("the durable task hub cannot be opened: {0}. Check that the storage folder is writable")]
    TaskHub(#[from] fnwire_durable::taskhub::TaskHubError),
    #[error(
        "the durable task hub in the app's database ({database}) cannot be opened: {source}. Check that the database \
         answers and that AzureWebJobsStorage names the right one"
    )]
    SharedTaskHub { database: String, source: fnwire_durable::taskhub::TaskHubError },
    #[error("host.json `extensions.durableTask.storageProvider.{setting}`: {problem}")]
    Lease { setting: &'static str, problem: String },
    #[error("host.json `extensions.durableTask.{setting}` is {found}: write a whole number from 1 to 1000")]
    Concurrency { setting: &'static str, found: String },
    #[error("the durable API's loopback listener cannot start: {0}")]
    Listen(std::io::Error),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("{0}")]
    Key(String),
}

/// A durable function as the host invokes it.
#[derive(Debug, Clone)]
struct DurableFunction {
    function_id: String,
    trigger_name: String,
}

/// What the app declares: durable functions, and the functions that take a client.
#[derive(Debug, Default)]
pub struct DurablePlan {
    functions: DurableFunctions,
    targets: HashMap<String, DurableFunction>,
    /// Function name → names of its `durableClient` bindings.
    clients: HashMap<String, Vec<String>>,
}

impl DurablePlan {
    pub fn new(functions: &[IndexedFunction]) -> DurablePlan {
        let mut plan = DurablePlan::default();
        for f in functions.iter().filter(|f| f.error.is_none()) {
            let name = &f.metadata.name;
            if let Some(trigger) = f.metadata.trigger()
                && let Some(kind) = DurableKind::from_trigger_type(&trigger.binding_type)
            {
                plan.functions.add(kind, name);
                plan.targets.insert(
                    name.clone(),
                    DurableFunction {
                        function_id: f.function_id.clone(),
                        trigger_name: trigger.name.clone(),
                    },
                );
            }
            let clients: Vec<String> = f
                .metadata
                .bindings
                .iter()
                .filter(|b| !b.is_trigger() && b.binding_type.eq_ignore_ascii_case(CLIENT_BINDING))
                .map(|b| b.name.clone())
                .collect();
            if !clients.is_empty() {
                plan.clients.insert(name.clone(), clients);
            }
        }
        plan
    }

    pub fn is_empty(&self) -> bool {
        self.functions.is_empty() && self.clients.is_empty()
    }

    /// What the start-up table shows for a durable function.
    pub fn descriptions(&self) -> HashMap<String, String> {
        let mut out = HashMap::new();
        for name in self.targets.keys() {
            for (kind, label) in [
                (DurableKind::Orchestrator, "orchestration"),
                (DurableKind::Activity, "activity"),
                (DurableKind::Entity, "entity"),
            ] {
                if self.functions.find(kind, name).is_some() {
                    out.insert(name.clone(), format!("durable {label}"));
                }
            }
        }
        out
    }
}

/// What the HTTP front door needs to serve the durable API.
#[derive(Debug, Clone)]
pub struct DurableApi {
    pub engine: Arc<Engine>,
    pub api: Arc<ApiConfig>,
}

/// The running extension: the engine, the API settings, and its tasks.
#[derive(Debug)]
pub struct RunningDurable {
    pub engine: Arc<Engine>,
    pub api: Arc<ApiConfig>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl RunningDurable {
    pub fn api(&self) -> DurableApi {
        DurableApi { engine: self.engine.clone(), api: self.api.clone() }
    }
}

impl Drop for RunningDurable {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Runs durable functions through the pipeline.
#[derive(Debug)]
struct PipelineInvoker {
    pipeline: Pipeline,
    targets: HashMap<String, DurableFunction>,
}

impl FunctionInvoker for PipelineInvoker {
    fn invoke(
        &self,
        function: &str,
        kind: DurableKind,
        trigger: TriggerValue,
    ) -> BoxFuture<'static, InvokeOutcome> {
        let Some(target) = self.targets.get(function).cloned() else {
            let message = format!("function '{function}' is not a durable function of this app");
            return Box::pin(async move { InvokeOutcome::Failed(message) });
        };
        let pipeline = self.pipeline.clone();
        let function = function.to_string();
        Box::pin(async move {
            let invocation_id = uuid::Uuid::new_v4().to_string();
            let reason = match kind {
                DurableKind::Orchestrator => "Durable orchestration step",
                DurableKind::Activity => "Durable activity",
                DurableKind::Entity => "Durable entity batch",
            };
            let request = fnwire_protocol::rpc::InvocationRequest {
                invocation_id,
                function_id: target.function_id,
                input_data: vec![ParameterBinding {
                    name: target.trigger_name,
                    rpc_data: Some(parameter_binding::RpcData::Data(TypedData {
                        data: Some(match trigger {
                            TriggerValue::Json(text) => typed_data::Data::Json(text),
                            TriggerValue::Text(text) => typed_data::Data::String(text),
                        }),
                    })),
                }],
                trigger_metadata: HashMap::new(),
                trace_context: None,
                retry_context: None,
            };
            let invocation = Invocation { function, reason: reason.into(), request, held: None };
            match pipeline.run(invocation).await {
                Ok(response) => InvokeOutcome::Returned(return_value(&response)),
                Err(e) if e.never_ran() => InvokeOutcome::NotRun(e.to_string()),
                // A worker that died mid-step is restarted; the step runs again on it.
                Err(InvocationError::Worker(e @ InvokeError::WorkerDied(_))) => {
                    InvokeOutcome::NotRun(e.to_string())
                }
                Err(InvocationError::Function { message, .. }) => InvokeOutcome::Failed(message),
                Err(other) => InvokeOutcome::Failed(other.to_string()),
            }
        })
    }
}

/// A function's return value as JSON: `json` data is parsed, text stays a string.
fn return_value(response: &fnwire_protocol::rpc::InvocationResponse) -> Option<Value> {
    let data = response.return_value.as_ref().or_else(|| {
        response.output_data.iter().find(|b| b.name == "$return").and_then(|b| match &b.rpc_data {
            Some(parameter_binding::RpcData::Data(d)) => Some(d),
            _ => None,
        })
    })?;
    match data.data.as_ref()? {
        typed_data::Data::Json(text) => {
            Some(serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.clone())))
        }
        typed_data::Data::String(text) => Some(Value::String(text.clone())),
        typed_data::Data::Bytes(bytes) => Some(Value::String(String::from_utf8_lossy(bytes).into_owned())),
        typed_data::Data::Int(n) => Some(Value::from(*n)),
        typed_data::Data::Double(n) => Some(Value::from(*n)),
        _ => None,
    }
}

/// The task hub name: `extensions.durableTask.hubName` in host.json, else Azure's local default.
fn task_hub_name(app_dir: &Path) -> Result<String, ConfigError> {
    let doc = read_host_json(app_dir)?;
    Ok(doc
        .pointer("/extensions/durableTask/hubName")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .unwrap_or("TestHubName")
        .to_string())
}

/// The task hub the settings select, with the durable API's system key: on PostgreSQL when
/// `AzureWebJobsStorage` names a database (one hub and one key for every host of the app),
/// else `<storage dir>/durable.db`. Blocks; run it on the blocking pool.
fn open_task_hub(
    app_dir: &Path,
    settings: &BTreeMap<String, String>,
) -> Result<(Arc<dyn TaskHub>, String), DurableError> {
    let new_key = || {
        crate::keys::generate_key()
            .map_err(|e| DurableError::Key(format!("the durable API's system key cannot be made: {e}")))
    };
    if let Some(url) = crate::triggers::backend::postgres_url(settings) {
        let shared =
            |source| DurableError::SharedTaskHub { database: fnwire_storage_postgres::redact(&url), source };
        let hub = PgTaskHub::open(&url).map_err(shared)?;
        // Other live hosts hold leases here: nothing is released at start; a dead host's
        // leases expire.
        let system_key = hub
            .store()
            .get_or_insert_secret(SYSTEM_KEY_SETTING, &new_key()?)
            .map_err(|e| shared(fnwire_durable::taskhub::TaskHubError::Store(e.to_string())))?;
        return Ok((Arc::new(hub), system_key));
    }
    let storage = crate::triggers::config::storage_paths(app_dir, settings)?;
    let hub = SqliteTaskHub::open(&storage.storage_dir)?;
    let released = hub.release_all_leases()?;
    if released > 0 {
        tracing::info!("durable: {released} lease(s) held when the host last stopped were released");
    }
    let mut key_error = None;
    let system_key = hub.setting_or_insert(SYSTEM_KEY_SETTING, || match new_key() {
        Ok(k) => k,
        Err(e) => {
            key_error = Some(e);
            String::new()
        }
    })?;
    if let Some(e) = key_error {
        return Err(e);
    }
    Ok((Arc::new(hub), system_key))
}

/// The engine's settings from host.json: the hub name, how many activities and orchestrator
/// steps a host runs at once (`maxConcurrentActivityFunctions`,
/// `maxConcurrentOrchestratorFunctions`), and how long a host holds an
/// instance (`storageProvider.controlQueueVisibilityTimeout`) or an activity
/// (`workItemQueueVisibilityTimeout`) before another host may take it if it died, as Azure's
/// storage provider names them.
fn engine_options(app_dir: &Path) -> Result<EngineOptions, DurableError> {
    let doc = read_host_json(app_dir)?;
    let mut options = EngineOptions { task_hub_name: task_hub_name(app_dir)?, ..EngineOptions::default() };
    let lease = |setting: &'static str| -> Result<Option<std::time::Duration>, DurableError> {
        let Some(text) = doc
            .pointer(&format!("/extensions/durableTask/storageProvider/{setting}"))
            .and_then(Value::as_str)
        else {
            return Ok(None);
        };
        let lease = crate::triggers::config::parse_timespan(text)
            .map_err(|problem| DurableError::Lease { setting, problem: problem.to_string() })?;
        if lease < std::time::Duration::from_secs(1) {
            return Err(DurableError::Lease {
                setting,
                problem: format!(
                    "`{text}` is shorter than a second, too short for a host to renew it; write e.g. 00:00:30"
                ),
            });
        }
        Ok(Some(lease))
    };
    if let Some(l) = lease("controlQueueVisibilityTimeout")? {
        options.lease = l;
    }
    if let Some(l) = lease("workItemQueueVisibilityTimeout")? {
        options.activity_lease = l;
    }
    let concurrency = |setting: &'static str| -> Result<Option<usize>, DurableError> {
        match doc.pointer(&format!("/extensions/durableTask/{setting}")) {
            None => Ok(None),
            Some(v) => match v.as_u64().filter(|n| (1..=1000).contains(n)) {
                Some(n) => Ok(Some(n as usize)),
                None => Err(DurableError::Concurrency { setting, found: v.to_string() }),
            },
        }
    };
    if let Some(n) = concurrency("maxConcurrentActivityFunctions")? {
        options.max_concurrent_activities = n;
    }
    if let Some(n) = concurrency("maxConcurrentOrchestratorFunctions")? {
        options.max_concurrent_orchestrations = n;
    }
    Ok(options)
}

/// Opens the task hub, starts the loopback API listener, and returns the pipeline that fills
/// `durableClient` inputs. The engine's dispatchers start with [`start_engine`], once the
/// pipeline is final.
pub async fn prepare(
    app_dir: &Path,
    settings: &BTreeMap<String, String>,
    plan: &DurablePlan,
    origin: &str,
    pipeline: Pipeline,
) -> Result<(Pipeline, Arc<dyn TaskHub>, Arc<ApiConfig>, tokio::net::TcpListener), DurableError> {
    let (dir, settings_owned) = (app_dir.to_path_buf(), settings.clone());
    let (hub, system_key) = tokio::task::spawn_blocking(move || open_task_hub(&dir, &settings_owned))
        .await
        .map_err(|e| DurableError::Key(format!("opening the task hub stopped: {e}")))??;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.map_err(DurableError::Listen)?;
    let rpc_port = listener.local_addr().map_err(DurableError::Listen)?.port();
    let api = Arc::new(ApiConfig {
        public_base: format!("{origin}{}", fnwire_durable::http::WEBHOOK_PATH),
        system_key,
        rpc_base: format!("http://127.0.0.1:{rpc_port}/durabletask/"),
    });
    let hub_name = task_hub_name(app_dir)?;
    let client = api.client_binding(&hub_name).to_string();
    let mut inputs: HashMap<String, Vec<ParameterBinding>> = HashMap::new();
    for (function, names) in &plan.clients {
        let bindings = names
            .iter()
            .map(|name| ParameterBinding {
                name: name.clone(),
                rpc_data: Some(parameter_binding::RpcData::Data(TypedData {
                    data: Some(typed_data::Data::String(client.clone())),
                })),
            })
            .collect();
        inputs.insert(function.clone(), bindings);
    }
    Ok((pipeline.with_host_inputs(Arc::new(inputs)), hub, api, listener))
}

/// Starts the dispatchers and the loopback API.
pub fn start_engine(
    app_dir: &Path,
    plan: DurablePlan,
    pipeline: Pipeline,
    hub: Arc<dyn TaskHub>,
    api: Arc<ApiConfig>,
    listener: tokio::net::TcpListener,
) -> Result<RunningDurable, DurableError> {
    let options = engine_options(app_dir)?;
    let invoker = Arc::new(PipelineInvoker { pipeline, targets: plan.targets });
    let engine = Engine::new(hub, plan.functions, invoker, options);
    let mut tasks = engine.start();
    tasks.push(tokio::spawn(fnwire_durable::http::serve_rpc(listener, engine.clone(), api.clone())));
    engine.notify_events();
    Ok(RunningDurable { engine, api, tasks })
}

/// Whether `presented` is the durable API's system key or the master key.
pub fn allows(api: &ApiConfig, keys: &crate::keys::Keys, presented: Option<&str>) -> bool {
    presented.is_some_and(|k| {
        let system = crate::keys::constant_time_eq(k.as_bytes(), api.system_key.as_bytes());
        let master = crate::keys::constant_time_eq(k.as_bytes(), keys.master_key.as_bytes());
        system | master
    })
}

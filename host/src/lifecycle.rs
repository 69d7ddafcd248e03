//! Starting a worker and bringing its functions up: launch → `StartStream` → init → metadata
//! → load. `fnwire start` and the conformance runner both use these steps.

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fnwire_metadata::{Direction, FunctionMetadata};
use fnwire_protocol::rpc::{
    BindingInfo, FunctionLoadRequest, RpcFunctionMetadata, WorkerInitRequest, WorkerInitResponse,
    binding_info,
};

use crate::app::WorkerLaunch;
use crate::channel::{ChannelError, MessageObserver, WorkerChannel, status_name};
use crate::grpc::GrpcServer;
use crate::worker_process::{SpawnError, WorkerProcess};

/// Timeouts and identity used while starting a worker.
#[derive(Debug, Clone)]
pub struct LifecycleOptions {
    /// Sent as `WorkerInitRequest.host_version`.
    pub host_version: String,
    /// Process start → `StartStream` (Azure: 60 s).
    pub startup_timeout: Duration,
    /// `FunctionsMetadataRequest` → response (Azure: 1 min).
    pub metadata_timeout: Duration,
    /// Function load → response.
    pub load_timeout: Duration,
}

impl Default for LifecycleOptions {
    fn default() -> Self {
        LifecycleOptions {
            host_version: concat!("fnwire-", env!("CARGO_PKG_VERSION")).to_string(),
            startup_timeout: Duration::from_secs(60),
            metadata_timeout: Duration::from_secs(60),
            load_timeout: Duration::from_secs(60),
        }
    }
}

/// Why a worker could not be brought up. Messages say what happened and what to try.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Spawn(#[from] SpawnError),
    #[error("the worker process exited ({status}) before {stage}{stderr}")]
    Exited { status: String, stage: &'static str, stderr: String },
    #[error(
        "the worker did not connect within {0:?}: it must open the FunctionRpc stream to --functions-uri and send \
         StartStream with its --functions-worker-id"
    )]
    NoConnection(Duration),
    #[error("the host stopped before the worker connected")]
    ServerStopped,
    #[error("worker initialization failed: {0}. Check the worker's output above")]
    Init(ChannelError),
    #[error("worker indexing failed: {0}")]
    Metadata(ChannelError),
    #[error("loading functions failed: {0}")]
    Load(ChannelError),
    #[error("reading function.json files in `{dir}` failed: {message}")]
    FunctionJson { dir: String, message: String },
}

/// A worker that connected and answered `WorkerInitRequest` successfully.
#[derive(Debug)]
pub struct StartedWorker {
    pub process: WorkerProcess,
    pub channel: Arc<WorkerChannel>,
    pub init: WorkerInitResponse,
}

/// One function of the app, as indexed and loaded.
#[derive(Debug, Clone)]
pub struct IndexedFunction {
    pub metadata: FunctionMetadata,
    /// What the host sends in `FunctionLoadRequest.metadata`.
    pub rpc: RpcFunctionMetadata,
    pub function_id: String,
    /// Why the function cannot run (invalid metadata or a failed load), if it cannot.
    pub error: Option<String>,
}

fn exited(process: &WorkerProcess, stage: &'static str) -> StartupError {
    let status = process.exit_status().map(|s| s.to_string()).unwrap_or_else(|| "unknown status".into());
    let lines = process.last_stderr_lines();
    let stderr = if lines.is_empty() {
        String::new()
    } else {
        format!("; its last stderr lines: {}", lines.join(" | "))
    };
    StartupError::Exited { status, stage, stderr }
}

/// Launches the worker, waits for its stream and initializes it.
pub async fn start_worker(
    server: &GrpcServer,
    launch: &WorkerLaunch,
    options: &LifecycleOptions,
) -> Result<StartedWorker, StartupError> {
    start_worker_observed(server, launch, options, None).await
}

/// Like [`start_worker`], with an observer that sees every message of the worker's stream
/// (see [`WorkerChannel::with_observer`]).
pub async fn start_worker_observed(
    server: &GrpcServer,
    launch: &WorkerLaunch,
    options: &LifecycleOptions,
    observer: Option<MessageObserver>,
) -> Result<StartedWorker, StartupError> {
    let worker_id = uuid::Uuid::new_v4().to_string();
    let pending = server.expect_worker(&worker_id);
    let process = WorkerProcess::spawn_with_id(launch, server.port(), &worker_id)?;
    let connection = tokio::select! {
        c = pending.connected() => c.ok_or(StartupError::ServerStopped)?,
        _ = process.wait() => return Err(exited(&process, "connecting to the host")),
        _ = tokio::time::sleep(options.startup_timeout) => return Err(StartupError::NoConnection(options.startup_timeout)),
    };
    let channel = Arc::new(match observer {
        Some(observer) => WorkerChannel::with_observer(connection, observer),
        None => WorkerChannel::new(connection),
    });
    let request = WorkerInitRequest {
        host_version: options.host_version.clone(),
        // MultiStream is not offered: fnwire accepts exactly one stream per worker.
        capabilities: HashMap::new(),
        log_categories: HashMap::new(),
        worker_directory: launch.worker_dir.display().to_string(),
        function_app_directory: launch.app_dir.display().to_string(),
    };
    let init = tokio::select! {
        r = channel.initialize(request, launch.init_timeout) => r.map_err(StartupError::Init)?,
        _ = process.wait() => return Err(exited(&process, "answering WorkerInitRequest")),
    };
    Ok(StartedWorker { process, channel, init })
}

/// Finds the app's functions: asks the worker (worker indexing) or reads `function.json`
/// files, then validates each function's metadata.
pub async fn index_functions(
    worker: &StartedWorker,
    launch: &WorkerLaunch,
    options: &LifecycleOptions,
) -> Result<Vec<IndexedFunction>, StartupError> {
    let app_dir = launch.app_dir.display().to_string();
    let mut functions = if launch.worker_indexing {
        let response = tokio::select! {
            r = worker.channel.function_metadata(&app_dir, options.metadata_timeout) => r.map_err(StartupError::Metadata)?,
            _ = worker.process.wait() => return Err(exited(&worker.process, "answering FunctionsMetadataRequest")),
        };
        if response.use_default_metadata_indexing {
            tracing::info!("the worker asked for host indexing; reading function.json files");
            read_function_json_dir(&launch.app_dir, &launch.language)?
        } else {
            response
                .function_metadata_results
                .into_iter()
                .map(|rpc| from_worker_metadata(rpc, &launch.language))
                .collect()
        }
    } else {
        read_function_json_dir(&launch.app_dir, &launch.language)?
    };
    for f in &mut functions {
        if f.error.is_none()
            && let Err(problems) = f.metadata.validate()
        {
            let text: Vec<String> = problems.iter().map(ToString::to_string).collect();
            f.error = Some(format!("invalid metadata: {}", text.join("; ")));
        }
        if let Some(e) = &f.error {
            tracing::error!("function `{}` cannot run: {e}", f.metadata.name);
        }
    }
    Ok(functions)
}

/// Loads every function without an error; a failed load marks that function, with the reason.
pub async fn load_functions(
    worker: &StartedWorker,
    functions: &mut [IndexedFunction],
    options: &LifecycleOptions,
) -> Result<(), StartupError> {
    let requests: Vec<FunctionLoadRequest> = functions
        .iter()
        .filter(|f| f.error.is_none())
        .map(|f| FunctionLoadRequest {
            function_id: f.function_id.clone(),
            metadata: Some(f.rpc.clone()),
            managed_dependency_enabled: false,
        })
        .collect();
    let responses = tokio::select! {
        r = worker.channel.load_functions(requests.clone(), options.load_timeout) => r.map_err(StartupError::Load)?,
        _ = worker.process.wait() => return Err(exited(&worker.process, "loading functions")),
    };
    let by_id: HashMap<&str, _> = responses.iter().map(|r| (r.function_id.as_str(), r)).collect();
    for f in functions.iter_mut().filter(|f| f.error.is_none()) {
        match by_id.get(f.function_id.as_str()) {
            None => f.error = Some("the worker sent no load response for it".into()),
            Some(r) => {
                let ok = r.result.as_ref().is_some_and(|s| s.status == 1);
                if !ok {
                    let reason = r
                        .result
                        .as_ref()
                        .map(|s| {
                            let msg = s.exception.as_ref().map(|e| e.message.clone()).unwrap_or_default();
                            if msg.is_empty() { format!("status {}", status_name(s.status)) } else { msg }
                        })
                        .unwrap_or_else(|| "the load response has no result".into());
                    f.error = Some(format!("the worker failed to load it: {reason}"));
                }
            }
        }
        if let Some(e) = &f.error {
            tracing::error!("function `{}` cannot run: {e}", f.metadata.name);
        }
    }
    Ok(())
}

/// Every start-up step in order: launch, connect, init, index, load. Functions that cannot run
/// are returned with their `error` set (and logged); only whole-worker failures are errors.
pub async fn start_and_load(
    server: &GrpcServer,
    launch: &WorkerLaunch,
    options: &LifecycleOptions,
) -> Result<(StartedWorker, Vec<IndexedFunction>), StartupError> {
    let worker = start_worker(server, launch, options).await?;
    let mut functions = index_functions(&worker, launch, options).await?;
    load_functions(&worker, &mut functions, options).await?;
    Ok((worker, functions))
}

/// Turns a worker-indexed `RpcFunctionMetadata` into the model (and fills what the host adds).
pub fn from_worker_metadata(mut rpc: RpcFunctionMetadata, language: &str) -> IndexedFunction {
    let name = rpc.name.clone();
    let parsed = if rpc.raw_bindings.is_empty() {
        Ok(metadata_from_binding_infos(&name, &rpc.bindings))
    } else {
        let raw: Vec<&str> = rpc.raw_bindings.iter().map(String::as_str).collect();
        FunctionMetadata::from_raw_bindings(&name, &raw)
    };
    let (metadata, error) = match parsed {
        Ok(mut m) => {
            m.script_file = rpc.script_file.clone();
            m.entry_point = rpc.entry_point.clone();
            (m, None)
        }
        Err(e) => (FunctionMetadata::new(&name), Some(format!("its bindings do not parse: {e}"))),
    };
    if rpc.function_id.is_empty() {
        rpc.function_id = metadata.function_id();
    }
    if rpc.bindings.is_empty() {
        rpc.bindings = fnwire_metadata::rpc::binding_infos(&metadata);
    }
    if rpc.language.is_empty() {
        rpc.language = language.to_string();
    }
    IndexedFunction { function_id: rpc.function_id.clone(), metadata, rpc, error }
}

/// Builds the load metadata for a host-indexed function.
pub fn to_rpc_metadata(metadata: &FunctionMetadata, directory: &Path, language: &str) -> RpcFunctionMetadata {
    fnwire_metadata::rpc::to_rpc_metadata(metadata, &directory.display().to_string(), language)
}

fn metadata_from_binding_infos(name: &str, bindings: &HashMap<String, BindingInfo>) -> FunctionMetadata {
    let mut names: Vec<&String> = bindings.keys().collect();
    names.sort();
    let mut m = FunctionMetadata::new(name);
    for binding_name in names {
        let info = &bindings[binding_name];
        let direction = match binding_info::Direction::try_from(info.direction) {
            Ok(binding_info::Direction::Out) => Direction::Out,
            Ok(binding_info::Direction::Inout) => Direction::InOut,
            _ => Direction::In,
        };
        let mut b = fnwire_metadata::Binding::new(binding_name.clone(), info.r#type.clone(), direction);
        for (k, v) in &info.properties {
            b.properties.insert(k.clone(), serde_json::Value::String(v.clone()));
        }
        m.bindings.push(b);
    }
    m
}

/// Reads `<app>/<function>/function.json` for every subdirectory that has one.
pub fn read_function_json_dir(app_dir: &Path, language: &str) -> Result<Vec<IndexedFunction>, StartupError> {
    let fail = |message: String| StartupError::FunctionJson { dir: app_dir.display().to_string(), message };
    let mut dirs: Vec<_> = std::fs::read_dir(app_dir)
        .map_err(|e| fail(e.to_string()))?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.join("function.json").is_file())
        .collect();
    dirs.sort();
    let mut out = Vec::new();
    for dir in dirs {
        let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let path = dir.join("function.json");
        let parsed = std::fs::read_to_string(&path)
            .map_err(|e| e.to_string())
            .and_then(|text| serde_json::from_str::<serde_json::Value>(&text).map_err(|e| e.to_string()))
            .and_then(|doc| FunctionMetadata::from_function_json(&name, &doc).map_err(|e| e.to_string()));
        let (metadata, error) = match parsed {
            Ok(m) => (m, None),
            Err(e) => (FunctionMetadata::new(&name), Some(format!("`{}` is not valid: {e}", path.display()))),
        };
        let rpc = to_rpc_metadata(&metadata, &dir, language);
        out.push(IndexedFunction { function_id: rpc.function_id.clone(), metadata, rpc, error });
    }
    if out.is_empty() {
        tracing::warn!(
            "no function.json files found under `{}` (looked for <function>/function.json)",
            app_dir.display()
        );
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_function_json_folders_and_reports_bad_ones() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("hello")).unwrap();
        std::fs::write(
            dir.path().join("hello/function.json"),
            r#"{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","route":"hi"},
                {"type":"http","direction":"out","name":"$return"}]}"#,
        )
        .unwrap();
        std::fs::create_dir(dir.path().join("broken")).unwrap();
        std::fs::write(dir.path().join("broken/function.json"), "{").unwrap();
        std::fs::create_dir(dir.path().join("unrelated")).unwrap();
        let fs = read_function_json_dir(dir.path(), "x").unwrap();
        assert_eq!(fs.len(), 2);
        let broken = &fs[0];
        assert_eq!(broken.metadata.name, "broken");
        assert!(broken.error.as_ref().unwrap().contains("function.json"));
        let hello = &fs[1];
        assert!(hello.error.is_none());
        assert_eq!(hello.rpc.raw_bindings.len(), 2);
        assert_eq!(hello.rpc.bindings["req"].r#type, "httpTrigger");
        // Like Azure hosts, binding keys travel in raw_bindings, not BindingInfo.properties.
        assert!(hello.rpc.bindings["req"].properties.is_empty());
        assert!(hello.rpc.raw_bindings[0].contains(r#""route":"hi""#));
        assert_eq!(hello.function_id, hello.metadata.function_id());
    }

    #[test]
    fn worker_metadata_gets_ids_and_binding_infos() {
        let rpc = RpcFunctionMetadata {
            name: "echo".into(),
            raw_bindings: vec![
                r#"{"type":"httpTrigger","direction":"in","name":"req","methods":["post"]}"#.into(),
                r#"{"type":"http","direction":"out","name":"$return"}"#.into(),
            ],
            ..Default::default()
        };
        let f = from_worker_metadata(rpc, "rust");
        assert!(f.error.is_none());
        assert_eq!(f.function_id, f.metadata.function_id());
        assert_eq!(f.rpc.language, "rust");
        assert_eq!(f.rpc.bindings["$return"].direction, binding_info::Direction::Out as i32);
        let bad = from_worker_metadata(
            RpcFunctionMetadata { name: "x".into(), raw_bindings: vec!["nope".into()], ..Default::default() },
            "rust",
        );
        assert!(bad.error.unwrap().contains("do not parse"));
    }
}

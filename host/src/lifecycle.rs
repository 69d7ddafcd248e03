//! Starting a worker and bringing its functions up: launch → `StartStream` → init → metadata
//! → load. `fnwire start` and the conformance runner both use these steps.

use std::collections::HashMap;
use std::path::{Component, Path, PathBuf};
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

/// How long a worker gets to finish after `WorkerTerminate` (Azure: 5 s).
pub const TERMINATE_GRACE_PERIOD: Duration = Duration::from_secs(5);

impl StartedWorker {
    /// Stops the worker: `WorkerTerminate` if it declared it handles it (else the host ends the
    /// stream, which workers take as a request to exit), waits up to the grace period, then
    /// kills it.
    pub async fn stop(&mut self) {
        if self.process.exit_status().is_some() {
            return;
        }
        if self.channel.terminate(TERMINATE_GRACE_PERIOD) {
            tracing::info!(
                "asked the worker to stop (WorkerTerminate, grace period {TERMINATE_GRACE_PERIOD:?})"
            );
        } else {
            tracing::info!("ending the worker's stream (it does not handle WorkerTerminate)");
            self.channel.close_stream();
        }
        if let Some(status) = self.process.wait_timeout(TERMINATE_GRACE_PERIOD).await {
            tracing::info!("the worker stopped ({status})");
            return;
        }
        tracing::warn!("the worker did not stop within {TERMINATE_GRACE_PERIOD:?}; killing it");
        self.process.kill().await;
    }
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
    StartupError::Exited { status, stage, stderr: describe_stderr(&process.last_stderr_lines()) }
}

/// The worker's own error message out of its last stderr lines, then a hint when the cause is a
/// known set-up mistake, then the lines themselves. Stack frames are skipped: Node prints the
/// message above its frames and a version line below them, Python prints it below its traceback,
/// Rust below `panicked at`.
pub(crate) fn describe_stderr(lines: &[String]) -> String {
    if lines.is_empty() {
        return String::new();
    }
    let message = lines.iter().rev().map(|l| l.trim_end()).find(|line| {
        let trimmed = line.trim_start();
        !trimmed.is_empty()
            && !line.starts_with(char::is_whitespace)
            && !trimmed.starts_with("Traceback (most recent call last)")
            && !trimmed.starts_with("Node.js v")
            && !trimmed.starts_with("note: run with `RUST_BACKTRACE")
            && !trimmed.chars().all(|c| c == '^' || c == '~')
    });
    let mut out = String::new();
    if let Some(message) = message {
        out.push_str(&format!(": {message}"));
        if let Some(hint) = setup_hint(message) {
            out.push_str(&format!(". {hint}"));
        }
    }
    let tail: Vec<&str> = lines.iter().rev().take(3).rev().map(String::as_str).collect();
    out.push_str(&format!(" (its last stderr lines: {})", tail.join(" | ")));
    out
}

/// What to do about a worker error that means the app's environment is not set up.
fn setup_hint(message: &str) -> Option<String> {
    let missing_fnwire =
        message.contains("No module named fnwire") || message.contains("No module named 'fnwire'");
    if !missing_fnwire {
        return None;
    }
    // `python -m fnwire` prefixes the message with the interpreter's path.
    let interpreter = message
        .split_once(": No module named")
        .map(|(program, _)| program.trim())
        .filter(|program| !program.contains(' ') && !program.ends_with("Error"))
        .map_or_else(
            || "the Python interpreter the host ran".to_string(),
            |p| format!("the Python interpreter `{p}`"),
        );
    Some(format!(
        "{interpreter} does not have the fnwire package: install it into that interpreter, or choose the \
         interpreter that has it with FNWIRE_PYTHON=/path/to/python or by activating its virtualenv \
         (VIRTUAL_ENV); without either the host runs `python3` from PATH"
    ))
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
    // The per-launch secret goes in the environment, which other users cannot read (the
    // command line and its worker id are world-readable).
    let mut with_secret = launch.clone();
    with_secret.env.insert(crate::grpc::WORKER_SECRET_ENV.to_string(), pending.secret().to_string());
    let process = WorkerProcess::spawn_with_id(&with_secret, server.port(), &worker_id)?;
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
    // The worker sees the same app settings (its environment), so both sides agree.
    let setting = |key: &str| launch.env.get(key).cloned().or_else(|| std::env::var(key).ok());
    if let Some(settings) = fnwire_shared_memory::Settings::from_app_settings(setting) {
        if channel.enable_shared_memory(settings) {
            tracing::debug!("values of 1 MiB and more go through shared memory");
        } else {
            tracing::info!(
                "{} is on, but the worker does not declare {}: values go over the stream",
                fnwire_shared_memory::ENABLED_SETTING,
                fnwire_shared_memory::CAPABILITY
            );
        }
    }
    Ok(StartedWorker { process, channel, init })
}

/// Whether the worker of a detected app certainly runs fnwire's runtime, which proves the
/// per-launch secret: fnwire's Python and Node packages, and Cargo apps that depend on the
/// `fnwire` crate. Any other worker (a `worker.config.json` app, which may be Microsoft's, or a
/// Cargo app with its own FunctionRpc code) is accepted on its worker id alone.
pub fn speaks_worker_secret(kind: crate::app::AppKind, app_dir: &Path) -> bool {
    use crate::app::AppKind;
    match kind {
        AppKind::Python | AppKind::Node => true,
        AppKind::Cargo => depends_on_fnwire(app_dir),
        AppKind::WorkerConfig => false,
    }
}

fn depends_on_fnwire(app_dir: &Path) -> bool {
    let Ok(text) = std::fs::read_to_string(app_dir.join("Cargo.toml")) else { return false };
    let Ok(manifest) = text.parse::<toml::Table>() else { return false };
    manifest.get("dependencies").and_then(|d| d.as_table()).is_some_and(|d| d.contains_key("fnwire"))
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

/// Reads `<app>/<function>/function.json` for every subdirectory that has one, and fills the
/// load metadata the way Azure's host does: `directory` the function's folder and `script_file`
/// the absolute path of its code (see [`resolve_script_file`]), both absolute even when
/// `app_dir` is relative; `entry_point` as written. Workers rely on this: Microsoft's Python
/// worker imports the script by its path relative to the app, and fails to load a bare
/// `__init__.py`. A `scriptFile` that does not exist makes that function fail to start.
pub fn read_function_json_dir(app_dir: &Path, language: &str) -> Result<Vec<IndexedFunction>, StartupError> {
    let fail = |message: String| StartupError::FunctionJson { dir: app_dir.display().to_string(), message };
    let app_dir = std::path::absolute(app_dir).map_err(|e| fail(e.to_string()))?;
    let mut dirs: Vec<_> = std::fs::read_dir(&app_dir)
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
            Ok(mut m) => match resolve_script_file(&dir, &m.script_file) {
                Ok(script) => {
                    m.script_file = script.map(|p| p.display().to_string()).unwrap_or_default();
                    (m, None)
                }
                Err(e) => (m, Some(format!("`{}`: {e}", path.display()))),
            },
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

/// The file a host-indexed function's code is in, as Azure's host determines it: `scriptFile`
/// joined to the (absolute) function folder and normalized, so `../dist/index.js` names
/// `<app>/dist/index.js`; it must exist. Without `scriptFile`, the folder's only file besides
/// `function.json`, else its `run.*`, `index.js`/`.mjs`/`.cjs` or `__init__.py`; `None` when
/// there is no such file (a worker may not need one).
fn resolve_script_file(function_dir: &Path, script_file: &str) -> Result<Option<PathBuf>, String> {
    if !script_file.is_empty() {
        let tried = normalize_lexically(&function_dir.join(script_file));
        if tried.is_file() {
            return Ok(Some(tried));
        }
        return Err(format!(
            "its scriptFile `{script_file}` names `{}`, which does not exist: scriptFile is relative to the \
             function's folder; correct it, or build the app so that the file exists",
            tried.display()
        ));
    }
    let entries = std::fs::read_dir(function_dir)
        .map_err(|e| format!("its folder `{}` cannot be read: {e}", function_dir.display()))?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .filter(|p| !p.file_name().is_some_and(|n| n.eq_ignore_ascii_case("function.json")))
        .collect();
    files.sort();
    if files.len() == 1 {
        return Ok(files.pop());
    }
    let is_primary = |path: &Path| {
        let lower = |s: Option<&std::ffi::OsStr>| s.map(|s| s.to_string_lossy().to_ascii_lowercase());
        lower(path.file_stem()).as_deref() == Some("run")
            || matches!(
                lower(path.file_name()).as_deref(),
                Some("index.js" | "index.mjs" | "index.cjs" | "__init__.py")
            )
    };
    Ok(files.into_iter().find(|p| is_primary(p)))
}

/// `..` and `.` removed without touching the file system (symlinks stay as written), like
/// .NET's `Path.GetFullPath`: a worker that compares the script path with the function folder
/// sees the same spelling in both.
fn normalize_lexically(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            // At the root, `..` stays at the root.
            Component::ParentDir => {
                out.pop();
            }
            other => out.push(other),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(text: &str) -> Vec<String> {
        text.lines().map(str::to_string).collect()
    }

    #[test]
    fn startup_errors_quote_the_workers_message_not_its_stack_frames() {
        let node = lines(
            "/app/src/functions/todos.js:3\n    throw new Error('DATABASE_URL is not set');\n    ^\n\n\
             Error: DATABASE_URL is not set\n    at Object.<anonymous> (/app/src/functions/todos.js:3:11)\n    \
             at Module._compile (node:internal/modules/cjs/loader:1554:14)\n\nNode.js v22.14.0",
        );
        let described = describe_stderr(&node);
        assert!(described.starts_with(": Error: DATABASE_URL is not set ("), "{described}");
        let python = lines(
            "Traceback (most recent call last):\n  File \"/app/function_app.py\", line 1, in <module>\n    \
             import fnwire\nModuleNotFoundError: No module named 'fnwire'",
        );
        let described = describe_stderr(&python);
        assert!(described.starts_with(": ModuleNotFoundError: No module named 'fnwire'. "), "{described}");
        assert!(
            described.contains("the Python interpreter the host ran does not have the fnwire package"),
            "{described}"
        );
        let described = describe_stderr(&lines("/usr/bin/python3: No module named fnwire"));
        assert!(described.contains("the Python interpreter `/usr/bin/python3` does not have"), "{described}");
        assert!(described.contains("FNWIRE_PYTHON") && described.contains("VIRTUAL_ENV"), "{described}");
        let rust = lines(
            "thread 'main' panicked at src/main.rs:4:5:\nno config\nnote: run with `RUST_BACKTRACE=1` environment variable to display a backtrace",
        );
        assert!(describe_stderr(&rust).starts_with(": no config ("), "{}", describe_stderr(&rust));
        assert_eq!(describe_stderr(&[]), "");
    }

    #[test]
    fn the_secret_is_required_only_of_workers_on_fnwires_runtime() {
        use crate::app::AppKind;
        let hello = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/hello-rust"));
        assert!(speaks_worker_secret(AppKind::Cargo, hello), "hello-rust depends on fnwire");
        let own = tempfile::tempdir().unwrap();
        std::fs::write(
            own.path().join("Cargo.toml"),
            "[package]\nname = \"own\"\n[dependencies]\ntonic = \"0.14\"\n",
        )
        .unwrap();
        assert!(!speaks_worker_secret(AppKind::Cargo, own.path()), "its own FunctionRpc code");
        assert!(
            speaks_worker_secret(AppKind::Python, own.path())
                && speaks_worker_secret(AppKind::Node, own.path())
        );
        assert!(
            !speaks_worker_secret(AppKind::WorkerConfig, hello),
            "worker.config.json may name any worker"
        );
    }

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

    const HTTP_BINDINGS: &str = r#"[{"type":"httpTrigger","direction":"in","name":"req"},
        {"type":"http","direction":"out","name":"$return"}]"#;

    /// Writes `<app>/<function>/function.json` with `extra` top-level keys and HTTP bindings.
    fn write_function(app: &Path, function: &str, extra: &str) -> PathBuf {
        let dir = app.join(function);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("function.json"), format!(r#"{{{extra}"bindings":{HTTP_BINDINGS}}}"#))
            .unwrap();
        dir
    }

    fn only(functions: Vec<IndexedFunction>) -> IndexedFunction {
        assert_eq!(functions.len(), 1, "{functions:?}");
        functions.into_iter().next().unwrap()
    }

    #[test]
    fn function_json_metadata_reaches_workers_as_azures_host_sends_it() {
        let app = tempfile::tempdir().unwrap();
        let app_dir = app.path().canonicalize().unwrap();
        let dir = write_function(&app_dir, "greet", r#""scriptFile":"worker.py","entryPoint":"handle","#);
        std::fs::write(dir.join("worker.py"), "").unwrap();
        let f = only(read_function_json_dir(&app_dir, "python").unwrap());
        assert_eq!(f.error, None);
        let script = dir.join("worker.py").display().to_string();
        assert_eq!(f.rpc.script_file, script);
        assert_eq!(f.metadata.script_file, script);
        assert_eq!(f.rpc.directory, dir.display().to_string());
        assert_eq!(f.rpc.entry_point, "handle");
        assert_eq!(f.rpc.name, "greet");
    }

    #[test]
    fn script_file_outside_the_function_folder_is_resolved_and_normalized() {
        let app = tempfile::tempdir().unwrap();
        let app_dir = app.path().canonicalize().unwrap();
        write_function(&app_dir, "greet", r#""scriptFile":"../dist/./index.js","#);
        std::fs::create_dir(app_dir.join("dist")).unwrap();
        std::fs::write(app_dir.join("dist/index.js"), "").unwrap();
        let f = only(read_function_json_dir(&app_dir, "node").unwrap());
        assert_eq!(f.error, None);
        assert_eq!(f.rpc.script_file, app_dir.join("dist/index.js").display().to_string());
    }

    #[test]
    fn a_relative_app_directory_still_gives_absolute_paths() {
        let app = tempfile::tempdir_in(".").unwrap();
        let relative = app.path().strip_prefix(std::env::current_dir().unwrap()).unwrap().to_path_buf();
        assert!(relative.is_relative());
        let dir = write_function(&relative, "greet", r#""scriptFile":"__init__.py","#);
        std::fs::write(dir.join("__init__.py"), "").unwrap();
        let f = only(read_function_json_dir(&relative, "python").unwrap());
        assert_eq!(f.error, None);
        assert!(Path::new(&f.rpc.directory).is_absolute(), "{}", f.rpc.directory);
        assert_eq!(Path::new(&f.rpc.script_file), Path::new(&f.rpc.directory).join("__init__.py"));
    }

    #[test]
    fn a_missing_script_file_fails_that_function_naming_the_path_tried() {
        let app = tempfile::tempdir().unwrap();
        let app_dir = app.path().canonicalize().unwrap();
        write_function(&app_dir, "greet", r#""scriptFile":"../dist/index.js","#);
        let f = only(read_function_json_dir(&app_dir, "node").unwrap());
        assert_eq!(f.metadata.name, "greet");
        let error = f.error.unwrap();
        let tried = app_dir.join("dist/index.js").display().to_string();
        assert!(error.contains(&tried), "{error}");
        assert!(error.contains("`../dist/index.js`") && error.contains("does not exist"), "{error}");
        assert!(error.contains("greet/function.json"), "{error}");
    }

    #[test]
    fn without_script_file_the_primary_file_is_chosen_as_azure_does() {
        let app = tempfile::tempdir().unwrap();
        let app_dir = app.path().canonicalize().unwrap();
        let single = write_function(&app_dir, "single", "");
        std::fs::write(single.join("handler.py"), "").unwrap();
        let python = write_function(&app_dir, "python", "");
        for file in ["__init__.py", "helpers.py", "README.md"] {
            std::fs::write(python.join(file), "").unwrap();
        }
        let run = write_function(&app_dir, "run", "");
        for file in ["lib.csx", "run.csx"] {
            std::fs::write(run.join(file), "").unwrap();
        }
        let ambiguous = write_function(&app_dir, "ambiguous", "");
        for file in ["a.py", "b.py"] {
            std::fs::write(ambiguous.join(file), "").unwrap();
        }
        write_function(&app_dir, "empty", "");
        let fs = read_function_json_dir(&app_dir, "python").unwrap();
        let script = |name: &str| {
            let f = fs.iter().find(|f| f.metadata.name == name).unwrap();
            assert_eq!(f.error, None, "{name}");
            f.rpc.script_file.clone()
        };
        assert_eq!(script("single"), single.join("handler.py").display().to_string());
        assert_eq!(script("python"), python.join("__init__.py").display().to_string());
        assert_eq!(script("run"), run.join("run.csx").display().to_string());
        assert_eq!(script("ambiguous"), "");
        assert_eq!(script("empty"), "");
    }

    #[test]
    fn normalizing_removes_dot_segments_and_stops_at_the_root() {
        assert_eq!(normalize_lexically(Path::new("/app/f/../dist/./x.js")), PathBuf::from("/app/dist/x.js"));
        assert_eq!(normalize_lexically(Path::new("/app/../../x")), PathBuf::from("/x"));
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

//! Finding out what kind of function app a directory holds and how to start its worker:
//! the modules `detect` (the kinds of app), `worker_config` (Azure's `worker.config.json`) and
//! `cargo` (building a Rust app).
//!
//! Detection order (first match wins):
//! 1. `worker.config.json` in the app directory: Azure's worker description format;
//! 2. `Cargo.toml` with a binary target: a Rust app, built with cargo;
//! 3. `function_app.py` (or `PYTHON_SCRIPT_FILE_NAME`), or `function.json` folders with Python
//!    code: a Python app, run as `python -m fnwire`;
//! 4. `package.json`: a Node app, run as `node <fnwire's worker.js>` (see [`detect_node`]).

pub mod cargo;
pub mod detect;
pub mod worker_config;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

pub use cargo::{BinaryError, cargo_build, find_binary};
pub use detect::{AppKind, DetectOptions, DetectedApp, detect, detect_node, detect_python};
pub use worker_config::{WorkerConfig, WorkerConfigError, expand_env_tokens, host_env};

/// Everything needed to launch an app's worker process (without the per-start flags).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerLaunch {
    /// Program to run: a path, or a name looked up in `PATH`.
    pub program: PathBuf,
    /// Arguments placed before the host's flags (the worker path, if any, comes last).
    pub args: Vec<String>,
    /// `FUNCTIONS_WORKER_DIRECTORY`: where the worker description lives.
    pub worker_dir: PathBuf,
    /// `FUNCTIONS_APPLICATION_DIRECTORY` and the working directory.
    pub app_dir: PathBuf,
    /// `FUNCTIONS_WORKER_RUNTIME`.
    pub language: String,
    /// Whether the worker indexes its own functions (`FunctionsMetadataRequest`).
    pub worker_indexing: bool,
    /// How long the worker may take to answer `WorkerInitRequest`.
    pub init_timeout: Duration,
    /// Extra environment for the worker (app settings), on top of the inherited environment.
    pub env: BTreeMap<String, String>,
}

impl WorkerLaunch {
    /// A launch of `program` for the app in `app_dir` (also the worker directory), with worker
    /// indexing, the default init timeout, no extra arguments and no app settings.
    pub fn new(
        program: impl Into<PathBuf>,
        app_dir: impl Into<PathBuf>,
        language: impl Into<String>,
    ) -> Self {
        let app_dir = app_dir.into();
        WorkerLaunch {
            program: program.into(),
            args: Vec::new(),
            worker_dir: app_dir.clone(),
            app_dir,
            language: language.into(),
            worker_indexing: true,
            init_timeout: DEFAULT_INIT_TIMEOUT,
            env: BTreeMap::new(),
        }
    }
}

/// Default `WorkerInitRequest` answer timeout. Azure's `initializationTimeout` default is 10 s;
/// fnwire allows more because local machines run debug builds, often while compiling.
pub const DEFAULT_INIT_TIMEOUT: Duration = Duration::from_secs(30);

/// Why an app could not be detected or prepared.
#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("`{0}` is not a directory: pass the function app's directory to `fnwire start`")]
    NotADirectory(PathBuf),
    #[error(
        "no function app found in `{0}`: fnwire looks for a `worker.config.json` (a worker description in Azure's \
         format), a `Cargo.toml` with a binary target, a Python `function_app.py`, or a Node `package.json`. Pass the app's directory, e.g. `fnwire start examples/hello-rust`"
    )]
    NothingFound(PathBuf),
    #[error("`{path}` is not valid: {message}")]
    InvalidConfig { path: PathBuf, message: String },
    #[error("`{path}` is not valid: {error}")]
    WorkerConfig { path: PathBuf, error: worker_config::WorkerConfigError },
    #[error("could not run `{command}` in `{dir}`: {source}. Is it installed and on PATH?")]
    Spawn { command: String, dir: PathBuf, source: std::io::Error },
    #[error(
        "`cargo build` failed for `{dir}` ({status}); fix the errors cargo printed above and run fnwire again"
    )]
    BuildFailed { dir: PathBuf, status: String },
    #[error("`cargo build` in `{dir}` produced no binary of this package: {error}")]
    NoBinary { dir: PathBuf, error: cargo::BinaryError },
}

/// Reads the app settings from `local.settings.json` (`Values`), if the file exists.
pub fn read_local_settings(app_dir: &Path) -> Result<BTreeMap<String, String>, AppError> {
    let path = app_dir.join("local.settings.json");
    let Ok(text) = std::fs::read_to_string(&path) else { return Ok(BTreeMap::new()) };
    let invalid = |message: String| AppError::InvalidConfig { path: path.clone(), message };
    let doc: Value =
        serde_json::from_str(&text).map_err(|e| invalid(format!("{e}; fix the JSON or delete the file")))?;
    let mut values = BTreeMap::new();
    if let Some(map) = doc.get("Values") {
        let map = map.as_object().ok_or_else(|| invalid("`Values` must be an object of strings".into()))?;
        for (k, v) in map {
            let text = match v {
                Value::String(s) => s.clone(),
                Value::Null => continue,
                other => other.to_string(),
            };
            values.insert(k.clone(), text);
        }
    }
    Ok(values)
}

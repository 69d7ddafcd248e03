//! Finding out what kind of function app a directory holds and how to start its worker.
//!
//! Detection order (first match wins):
//! 1. `worker.config.json` in the app directory: Azure's worker description format;
//! 2. `Cargo.toml` with a binary target: a Rust app, built with cargo;
//! 3. `function_app.py` (or `PYTHON_SCRIPT_FILE_NAME`): a Python app, run as `python -m fnwire`;
//! 4. `package.json`: a Node app, run as `node <fnwire's worker.js>` (see [`detect_node`]).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;

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

/// How an app was recognised.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppKind {
    WorkerConfig,
    Cargo,
    Python,
    Node,
}

/// A recognised app.
#[derive(Debug, Clone)]
pub struct DetectedApp {
    pub kind: AppKind,
    pub launch: WorkerLaunch,
}

/// Options for [`detect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DetectOptions {
    /// Build Cargo apps with `--release`.
    pub release: bool,
}

impl Default for DetectOptions {
    fn default() -> Self {
        DetectOptions { release: true }
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
    #[error("could not run `{command}` in `{dir}`: {source}. Is it installed and on PATH?")]
    Spawn { command: String, dir: PathBuf, source: std::io::Error },
    #[error(
        "`cargo build` failed for `{dir}` ({status}); fix the errors cargo printed above and run fnwire again"
    )]
    BuildFailed { dir: PathBuf, status: String },
    #[error("`cargo build` in `{dir}` produced no binary of this package: {message}")]
    NoBinary { dir: PathBuf, message: String },
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

/// Detects the app in `app_dir` and prepares its worker launch (building it if needed).
pub async fn detect(app_dir: &Path, options: DetectOptions) -> Result<DetectedApp, AppError> {
    if !app_dir.is_dir() {
        return Err(AppError::NotADirectory(app_dir.to_path_buf()));
    }
    let app_dir = app_dir.canonicalize().map_err(|_| AppError::NotADirectory(app_dir.to_path_buf()))?;
    let settings = read_local_settings(&app_dir)?;
    let config_path = app_dir.join("worker.config.json");
    if config_path.is_file() {
        let text = std::fs::read_to_string(&config_path)
            .map_err(|e| AppError::InvalidConfig { path: config_path.clone(), message: e.to_string() })?;
        let config = WorkerConfig::parse(&text)
            .map_err(|message| AppError::InvalidConfig { path: config_path.clone(), message })?;
        let launch = config
            .to_launch(&app_dir, &app_dir, settings)
            .map_err(|message| AppError::InvalidConfig { path: config_path.clone(), message })?;
        return Ok(DetectedApp { kind: AppKind::WorkerConfig, launch });
    }
    if app_dir.join("Cargo.toml").is_file() {
        let executable = cargo_build(&app_dir, options.release).await?;
        let launch = WorkerLaunch {
            program: executable,
            args: Vec::new(),
            worker_dir: app_dir.clone(),
            app_dir,
            language: "rust".into(),
            worker_indexing: true,
            init_timeout: DEFAULT_INIT_TIMEOUT,
            env: settings,
        };
        return Ok(DetectedApp { kind: AppKind::Cargo, launch });
    }
    if let Some(launch) = detect_python(&app_dir, &settings) {
        return Ok(DetectedApp { kind: AppKind::Python, launch });
    }
    if let Some(launch) = detect_node(&app_dir, &settings)? {
        return Ok(DetectedApp { kind: AppKind::Node, launch });
    }
    Err(AppError::NothingFound(app_dir))
}

/// A Python app: its script (`PYTHON_SCRIPT_FILE_NAME` from the app settings or the environment,
/// default `function_app.py`) exists. The worker is `<python> -m fnwire` (the `fnwire` package),
/// where `<python>` is `FNWIRE_PYTHON`, else the active virtualenv's interpreter (`VIRTUAL_ENV`),
/// else `python3`.
pub fn detect_python(app_dir: &Path, settings: &BTreeMap<String, String>) -> Option<WorkerLaunch> {
    let script = settings
        .get("PYTHON_SCRIPT_FILE_NAME")
        .cloned()
        .or_else(|| std::env::var("PYTHON_SCRIPT_FILE_NAME").ok())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "function_app.py".to_string());
    if !app_dir.join(&script).is_file() {
        return None;
    }
    let program = match (std::env::var_os("FNWIRE_PYTHON"), std::env::var_os("VIRTUAL_ENV")) {
        (Some(python), _) if !python.is_empty() => PathBuf::from(python),
        (_, Some(venv)) if !venv.is_empty() => {
            let venv = PathBuf::from(venv);
            if cfg!(windows) {
                venv.join("Scripts").join("python.exe")
            } else {
                venv.join("bin").join("python")
            }
        }
        _ => PathBuf::from(if cfg!(windows) { "python" } else { "python3" }),
    };
    let mut launch = WorkerLaunch::new(program, app_dir, "python");
    launch.args = vec!["-m".to_string(), "fnwire".to_string()];
    launch.env = settings.clone();
    Some(launch)
}

/// A Node app: `package.json` exists. The worker is `node <worker.js>` from the fnwire npm package:
/// the app's own `node_modules/fnwire` (what `npm install fnwire` gives it), else the package
/// named by `FNWIRE_NODE_WORKER` (which `npx fnwire` sets to its own worker). `FNWIRE_NODE` overrides
/// the `node` program.
pub fn detect_node(
    app_dir: &Path,
    settings: &BTreeMap<String, String>,
) -> Result<Option<WorkerLaunch>, AppError> {
    let manifest = app_dir.join("package.json");
    if !manifest.is_file() {
        return Ok(None);
    }
    let installed = app_dir.join("node_modules").join("fnwire").join("lib").join("worker.js");
    let worker = if installed.is_file() {
        installed
    } else {
        match std::env::var_os("FNWIRE_NODE_WORKER").filter(|w| !w.is_empty()) {
            Some(worker) => PathBuf::from(worker),
            None => {
                return Err(AppError::InvalidConfig {
                    path: manifest,
                    message: format!(
                        "this Node app has no `node_modules/fnwire`, so fnwire has no worker to run it with; run                          `npm install fnwire` (or `npm install`) in `{}`",
                        app_dir.display()
                    ),
                });
            }
        }
    };
    let program = std::env::var_os("FNWIRE_NODE").filter(|p| !p.is_empty()).unwrap_or_else(|| "node".into());
    let mut launch = WorkerLaunch::new(program, app_dir, "node");
    launch.args = vec![worker.display().to_string()];
    launch.env = settings.clone();
    Ok(Some(launch))
}

/// The parts of `worker.config.json` fnwire uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerConfig {
    pub language: String,
    pub default_executable_path: String,
    pub default_worker_path: Option<String>,
    pub arguments: Vec<String>,
    pub worker_indexing: bool,
    pub init_timeout: Option<Duration>,
}

impl WorkerConfig {
    /// Parses the file text. Top-level names are case-sensitive (as hosts read them); keys inside
    /// `description` and `processOptions` are matched case-insensitively.
    pub fn parse(text: &str) -> Result<Self, String> {
        let doc: Value = serde_json::from_str(text).map_err(|e| format!("not valid JSON: {e}"))?;
        let description = doc.get("description").and_then(Value::as_object).ok_or(
            "missing the `description` object; a worker.config.json looks like \
             {\"description\": {\"language\": \"…\", \"defaultExecutablePath\": \"…\"}}",
        )?;
        let get = |key: &str| description.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v);
        let get_str = |key: &str| -> Result<Option<String>, String> {
            match get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => Err(format!("`description.{key}` must be a string, found `{other}`")),
            }
        };
        let language = get_str("language")?
            .filter(|s| !s.is_empty())
            .ok_or("`description.language` is required (the worker's runtime name, e.g. \"rust\")")?;
        let default_executable_path = get_str("defaultExecutablePath")?
            .filter(|s| !s.is_empty())
            .ok_or("`description.defaultExecutablePath` is required (the program that starts the worker)")?;
        let default_worker_path = get_str("defaultWorkerPath")?.filter(|s| !s.is_empty());
        let arguments = match get("arguments") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| format!("`description.arguments` must hold strings, found `{v}`"))
                })
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(format!("`description.arguments` must be a list of strings, found `{other}`"));
            }
        };
        let worker_indexing = match get("workerIndexing") {
            Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
            Some(Value::Bool(b)) => *b,
            _ => false,
        };
        let init_timeout = match doc
            .get("processOptions")
            .and_then(Value::as_object)
            .and_then(|o| o.iter().find(|(k, _)| k.eq_ignore_ascii_case("initializationTimeout")))
        {
            None => None,
            Some((_, v)) => Some(v.as_str().and_then(parse_timespan).ok_or_else(|| {
                format!("`processOptions.initializationTimeout` must be \"hh:mm:ss\", found `{v}`")
            })?),
        };
        Ok(WorkerConfig {
            language,
            default_executable_path,
            default_worker_path,
            arguments,
            worker_indexing,
            init_timeout,
        })
    }

    /// Resolves paths and `%VAR%` tokens into a launch. `worker_dir` holds the config file.
    pub fn to_launch(
        &self,
        worker_dir: &Path,
        app_dir: &Path,
        settings: BTreeMap<String, String>,
    ) -> Result<WorkerLaunch, String> {
        let mut child_env: BTreeMap<String, String> = std::env::vars().collect();
        child_env.extend(settings.clone());
        child_env.extend(host_env(worker_dir, app_dir, &self.language));
        let worker_dir_text = worker_dir.display().to_string();
        let expand =
            |s: &str| expand_env_tokens(s, &child_env).replace("{workerDirectoryPath}", &worker_dir_text);
        let program_text = expand(&self.default_executable_path);
        let program = PathBuf::from(&program_text);
        // A bare name is looked up in PATH; a relative path with a directory is the worker's.
        let program = if program.is_relative() && program.components().count() > 1 {
            worker_dir.join(program)
        } else {
            program
        };
        let mut args: Vec<String> =
            self.arguments.iter().map(|a| expand(a)).filter(|a| !a.is_empty()).collect();
        if let Some(worker_path) = &self.default_worker_path {
            let expanded =
                expand(worker_path).replace("{os}", current_os()).replace("{architecture}", current_arch());
            let path = worker_dir.join(&expanded);
            if !path.exists() {
                return Err(format!(
                    "`description.defaultWorkerPath` is `{worker_path}`, but `{}` does not exist; fix the path \
                     (it is relative to the directory holding worker.config.json)",
                    path.display()
                ));
            }
            args.push(path.display().to_string());
        }
        Ok(WorkerLaunch {
            program,
            args,
            worker_dir: worker_dir.to_path_buf(),
            app_dir: app_dir.to_path_buf(),
            language: self.language.clone(),
            worker_indexing: self.worker_indexing,
            init_timeout: self.init_timeout.unwrap_or(DEFAULT_INIT_TIMEOUT),
            env: settings,
        })
    }
}

/// The variables a host gives every worker, as Azure hosts do.
pub fn host_env(worker_dir: &Path, app_dir: &Path, language: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        ("FUNCTIONS_WORKER_DIRECTORY".to_string(), worker_dir.display().to_string()),
        ("FUNCTIONS_APPLICATION_DIRECTORY".to_string(), app_dir.display().to_string()),
        ("FUNCTIONS_WORKER_RUNTIME".to_string(), language.to_string()),
    ])
}

/// Replaces `%NAME%` with the variable's value; unknown names are removed, as Azure hosts do.
pub fn expand_env_tokens(text: &str, env: &BTreeMap<String, String>) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find('%') {
        out.push_str(&rest[..start]);
        let after = &rest[start + 1..];
        match after.find('%') {
            Some(end) if end > 0 && after[..end].chars().all(|c| c.is_alphanumeric() || c == '_') => {
                let name = &after[..end];
                if let Some(v) = env.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v) {
                    out.push_str(v);
                }
                rest = &after[end + 1..];
            }
            _ => {
                out.push('%');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// Parses a .NET TimeSpan as written in worker.config.json (`hh:mm:ss`, optionally `d.hh:mm:ss`).
fn parse_timespan(text: &str) -> Option<Duration> {
    let (days, rest) = match text.split_once('.') {
        Some((d, r)) if !d.contains(':') => (d.parse::<u64>().ok()?, r),
        _ => (0, text),
    };
    let parts: Vec<&str> = rest.split(':').collect();
    let [h, m, s] = parts.as_slice() else { return None };
    let secs: f64 = s.parse().ok()?;
    let total = days * 86400 + h.parse::<u64>().ok()? * 3600 + m.parse::<u64>().ok()? * 60;
    Some(Duration::from_secs(total) + Duration::from_secs_f64(secs))
}

fn current_os() -> &'static str {
    match std::env::consts::OS {
        "macos" => "OSX",
        "windows" => "WINDOWS",
        _ => "LINUX",
    }
}

fn current_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "X64",
        "x86" => "X86",
        "aarch64" => "Arm64",
        other => other,
    }
}

/// Builds a Cargo app and returns its binary. Cargo's own output (compiling lines, errors)
/// goes to the console as usual; its JSON messages on stdout are read to find the binary.
pub async fn cargo_build(app_dir: &Path, release: bool) -> Result<PathBuf, AppError> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut args = vec!["build", "--message-format=json-render-diagnostics"];
    if release {
        args.push("--release");
    }
    let command = format!("cargo {}", args.join(" "));
    tracing::info!("building the app: {command} (in {})", app_dir.display());
    let output = tokio::process::Command::new(&cargo)
        .args(&args)
        .current_dir(app_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|source| AppError::Spawn { command: command.clone(), dir: app_dir.to_path_buf(), source })?;
    // Rendered diagnostics arrive as JSON on stdout; show them like cargo would.
    let stdout = String::from_utf8_lossy(&output.stdout);
    for line in stdout.lines() {
        if let Ok(msg) = serde_json::from_str::<Value>(line)
            && msg.get("reason").and_then(Value::as_str) == Some("compiler-message")
            && let Some(rendered) = msg.pointer("/message/rendered").and_then(Value::as_str)
        {
            eprint!("{rendered}");
        }
    }
    if !output.status.success() {
        return Err(AppError::BuildFailed { dir: app_dir.to_path_buf(), status: output.status.to_string() });
    }
    find_binary(&stdout, &app_dir.join("Cargo.toml"))
        .map_err(|message| AppError::NoBinary { dir: app_dir.to_path_buf(), message })
}

/// Picks the app's binary from cargo's JSON messages: a `bin` artifact of the package whose
/// manifest is `manifest`. With several binaries, the one named like the package wins.
pub fn find_binary(cargo_json: &str, manifest: &Path) -> Result<PathBuf, String> {
    let manifest = manifest.canonicalize().unwrap_or_else(|_| manifest.to_path_buf());
    let mut bins: Vec<(String, PathBuf, String)> = Vec::new();
    for line in cargo_json.lines() {
        let Ok(msg) = serde_json::from_str::<Value>(line) else { continue };
        if msg.get("reason").and_then(Value::as_str) != Some("compiler-artifact") {
            continue;
        }
        let Some(exe) = msg.get("executable").and_then(Value::as_str) else { continue };
        let Some(path) = msg.get("manifest_path").and_then(Value::as_str) else { continue };
        let path = Path::new(path);
        if path.canonicalize().unwrap_or_else(|_| path.to_path_buf()) != manifest {
            continue;
        }
        let is_bin = msg
            .pointer("/target/kind")
            .and_then(Value::as_array)
            .is_some_and(|kinds| kinds.iter().any(|k| k == "bin"));
        if !is_bin {
            continue;
        }
        let name = msg.pointer("/target/name").and_then(Value::as_str).unwrap_or_default().to_string();
        let package = msg.get("package_id").and_then(Value::as_str).unwrap_or_default().to_string();
        bins.push((name, PathBuf::from(exe), package));
    }
    match bins.len() {
        0 => Err(format!(
            "no binary target found for `{}`; a Rust function app needs `src/main.rs` (or a [[bin]] target) that \
             runs the fnwire worker",
            manifest.display()
        )),
        1 => Ok(bins.remove(0).1),
        _ => {
            let names: Vec<&str> = bins.iter().map(|(n, _, _)| n.as_str()).collect();
            let package_name = manifest
                .parent()
                .and_then(|_| std::fs::read_to_string(&manifest).ok())
                .and_then(|t| package_name_from_manifest(&t));
            if let Some(pkg) = package_name
                && let Some((_, exe, _)) = bins.iter().find(|(n, _, _)| *n == pkg)
            {
                return Ok(exe.clone());
            }
            Err(format!(
                "the package has several binaries ({}); keep one, or name the worker binary like the package",
                names.join(", ")
            ))
        }
    }
}

fn package_name_from_manifest(text: &str) -> Option<String> {
    let mut in_package = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
            continue;
        }
        if in_package && let Some(rest) = line.strip_prefix("name") {
            let value = rest.trim_start().strip_prefix('=')?.trim().trim_matches('"');
            return Some(value.to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_python_apps_by_script_and_launches_python_m_fnwire() {
        let dir = tempfile::tempdir().unwrap();
        assert!(detect_python(dir.path(), &BTreeMap::new()).is_none());
        std::fs::write(dir.path().join("function_app.py"), "").unwrap();
        let launch = detect_python(dir.path(), &BTreeMap::new()).unwrap();
        assert_eq!(launch.args, vec!["-m".to_string(), "fnwire".to_string()]);
        assert_eq!(launch.language, "python");
        assert!(launch.program.to_string_lossy().contains("python"), "{:?}", launch.program);
        // PYTHON_SCRIPT_FILE_NAME from the app settings names another script.
        let settings = BTreeMap::from([("PYTHON_SCRIPT_FILE_NAME".to_string(), "main.py".to_string())]);
        assert!(detect_python(dir.path(), &settings).is_none());
        std::fs::write(dir.path().join("main.py"), "").unwrap();
        assert_eq!(detect_python(dir.path(), &settings).unwrap().env, settings);
    }

    #[test]
    fn expands_known_tokens_and_drops_unknown_ones() {
        let env = BTreeMap::from([("FUNCTIONS_WORKER_DIRECTORY".to_string(), "/w".to_string())]);
        assert_eq!(expand_env_tokens("%FUNCTIONS_WORKER_DIRECTORY%/bin/app", &env), "/w/bin/app");
        assert_eq!(expand_env_tokens("%functions_worker_directory%", &env), "/w");
        assert_eq!(expand_env_tokens("a%NOPE_NOT_SET%b", &env), "ab");
        assert_eq!(expand_env_tokens("100% sure", &env), "100% sure");
        assert_eq!(expand_env_tokens("%", &env), "%");
    }

    #[test]
    fn parses_the_azure_format() {
        let c = WorkerConfig::parse(
            r#"{"description":{"language":"node","extensions":[".js"],"defaultExecutablePath":"node",
                "defaultWorkerPath":"dist/worker.js","arguments":["--x"],"workerIndexing":"true"},
                "processOptions":{"initializationTimeout":"00:02:00"}}"#,
        )
        .unwrap();
        assert_eq!(c.language, "node");
        assert_eq!(c.default_executable_path, "node");
        assert_eq!(c.default_worker_path.as_deref(), Some("dist/worker.js"));
        assert_eq!(c.arguments, vec!["--x"]);
        assert!(c.worker_indexing);
        assert_eq!(c.init_timeout, Some(Duration::from_secs(120)));
    }

    #[test]
    fn reports_missing_required_keys() {
        let e = WorkerConfig::parse(r#"{"description":{"defaultExecutablePath":"x"}}"#).unwrap_err();
        assert!(e.contains("description.language"), "{e}");
        let e = WorkerConfig::parse(r#"{"description":{"language":"x"}}"#).unwrap_err();
        assert!(e.contains("defaultExecutablePath"), "{e}");
        let e = WorkerConfig::parse(r#"{"Description":{}}"#).unwrap_err();
        assert!(e.contains("`description`"), "{e}");
        assert!(WorkerConfig::parse("{").unwrap_err().contains("not valid JSON"));
    }

    #[test]
    fn launch_expands_worker_directory_and_appends_the_quoted_worker_path_last() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("worker.py"), "").unwrap();
        let c = WorkerConfig::parse(
            r#"{"description":{"language":"py","defaultExecutablePath":"%FUNCTIONS_WORKER_DIRECTORY%/bin/run",
                "defaultWorkerPath":"worker.py","arguments":["-u","%UNSET_FOR_FNWIRE_TEST%"]}}"#,
        )
        .unwrap();
        let launch = c.to_launch(dir.path(), dir.path(), BTreeMap::new()).unwrap();
        assert_eq!(launch.program, dir.path().join("bin/run"));
        assert_eq!(launch.args, vec!["-u".to_string(), dir.path().join("worker.py").display().to_string()]);
        assert!(!launch.worker_indexing);
        assert_eq!(launch.init_timeout, DEFAULT_INIT_TIMEOUT);
    }

    #[test]
    fn launch_refuses_a_missing_worker_path() {
        let dir = tempfile::tempdir().unwrap();
        let c = WorkerConfig::parse(
            r#"{"description":{"language":"py","defaultExecutablePath":"python","defaultWorkerPath":"nope.py"}}"#,
        )
        .unwrap();
        let e = c.to_launch(dir.path(), dir.path(), BTreeMap::new()).unwrap_err();
        assert!(e.contains("nope.py") && e.contains("does not exist"), "{e}");
    }

    #[test]
    fn settings_values_expand_in_arguments() {
        let dir = tempfile::tempdir().unwrap();
        let c = WorkerConfig::parse(
            r#"{"description":{"language":"x","defaultExecutablePath":"x","arguments":["--mode=%MY_MODE%"]}}"#,
        )
        .unwrap();
        let settings = BTreeMap::from([("MY_MODE".to_string(), "fast".to_string())]);
        let launch = c.to_launch(dir.path(), dir.path(), settings).unwrap();
        assert_eq!(launch.args, vec!["--mode=fast"]);
    }

    #[test]
    fn timespans() {
        assert_eq!(parse_timespan("00:00:10"), Some(Duration::from_secs(10)));
        assert_eq!(parse_timespan("1.00:00:01"), Some(Duration::from_secs(86401)));
        assert_eq!(parse_timespan("10"), None);
    }

    #[test]
    fn finds_the_package_binary_in_cargo_messages() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("Cargo.toml");
        std::fs::write(&manifest, "[package]\nname = \"app\"\n").unwrap();
        let m = manifest.display().to_string();
        let json = format!(
            "{{\"reason\":\"compiler-artifact\",\"manifest_path\":\"/elsewhere/Cargo.toml\",\"target\":{{\"kind\":[\"bin\"],\"name\":\"dep\"}},\"executable\":\"/t/dep\"}}\n\
             {{\"reason\":\"compiler-artifact\",\"manifest_path\":\"{m}\",\"target\":{{\"kind\":[\"lib\"],\"name\":\"app\"}},\"executable\":null}}\n\
             {{\"reason\":\"compiler-artifact\",\"manifest_path\":\"{m}\",\"target\":{{\"kind\":[\"bin\"],\"name\":\"app\"}},\"executable\":\"/t/app\"}}\n\
             {{\"reason\":\"build-finished\",\"success\":true}}\n"
        );
        assert_eq!(find_binary(&json, &manifest).unwrap(), PathBuf::from("/t/app"));
        assert!(find_binary("", &manifest).unwrap_err().contains("no binary target"));
    }
}

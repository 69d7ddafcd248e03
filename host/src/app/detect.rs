//! Which kind of app a directory holds, and the launch of its worker.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{AppError, DEFAULT_INIT_TIMEOUT, WorkerConfig, WorkerLaunch, cargo_build, read_local_settings};

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
            .map_err(|error| AppError::WorkerConfig { path: config_path.clone(), error })?;
        let launch = config
            .to_launch(&app_dir, &app_dir, settings)
            .map_err(|error| AppError::WorkerConfig { path: config_path.clone(), error })?;
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
/// default `function_app.py`) exists, or folders with `function.json` next to Python code (the
/// azure.functions v1 model, loaded by the worker itself). The worker is `<python> -m fnwire` (the `fnwire` package),
/// where `<python>` is `FNWIRE_PYTHON`, else the active virtualenv's interpreter (`VIRTUAL_ENV`),
/// else `python3`.
pub fn detect_python(app_dir: &Path, settings: &BTreeMap<String, String>) -> Option<WorkerLaunch> {
    let script = settings
        .get("PYTHON_SCRIPT_FILE_NAME")
        .cloned()
        .or_else(|| std::env::var("PYTHON_SCRIPT_FILE_NAME").ok())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "function_app.py".to_string());
    if !app_dir.join(&script).is_file() && !has_python_function_folder(app_dir) {
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

/// A folder of `app_dir` holds a `function.json` and Python code.
fn has_python_function_folder(app_dir: &Path) -> bool {
    let has_python = |dir: &Path| {
        std::fs::read_dir(dir)
            .map(|files| files.flatten().any(|f| f.path().extension().is_some_and(|ext| ext == "py")))
            .unwrap_or(false)
    };
    std::fs::read_dir(app_dir)
        .map(|entries| {
            entries.flatten().map(|e| e.path()).any(|d| d.join("function.json").is_file() && has_python(&d))
        })
        .unwrap_or(false)
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
    fn detects_function_json_folders_with_python_code_as_a_python_app() {
        let dir = tempfile::tempdir().unwrap();
        let function = dir.path().join("greet");
        std::fs::create_dir(&function).unwrap();
        std::fs::write(function.join("function.json"), r#"{"bindings":[]}"#).unwrap();
        std::fs::write(function.join("index.js"), "").unwrap();
        // A Node v1 app has function.json folders too: only Python code makes it Python's.
        assert!(detect_python(dir.path(), &BTreeMap::new()).is_none());
        std::fs::write(function.join("__init__.py"), "").unwrap();
        assert_eq!(detect_python(dir.path(), &BTreeMap::new()).unwrap().language, "python");
    }
}

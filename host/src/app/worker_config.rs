//! Azure's worker description, `worker.config.json`, and the environment a worker gets.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::{DEFAULT_INIT_TIMEOUT, WorkerLaunch};

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

/// A `worker.config.json` fnwire cannot launch a worker from. Each message names the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkerConfigError {
    #[error("not valid JSON: {0}")]
    Json(String),
    #[error(
        "missing the `description` object; a worker.config.json looks like {{\"description\": {{\"language\": \"…\", \
         \"defaultExecutablePath\": \"…\"}}}}"
    )]
    MissingDescription,
    #[error("`description.{key}` must be a string, found `{found}`")]
    NotAString { key: String, found: String },
    #[error("`description.language` is required (the worker's runtime name, e.g. \"rust\")")]
    MissingLanguage,
    #[error("`description.defaultExecutablePath` is required (the program that starts the worker)")]
    MissingExecutable,
    #[error("`description.arguments` must hold strings, found `{0}`")]
    ArgumentNotAString(String),
    #[error("`description.arguments` must be a list of strings, found `{0}`")]
    ArgumentsNotAList(String),
    #[error("`processOptions.initializationTimeout` must be \"hh:mm:ss\", found `{0}`")]
    InitTimeout(String),
    #[error(
        "`description.defaultWorkerPath` is `{worker_path}`, but `{}` does not exist; fix the path (it is relative \
         to the directory holding worker.config.json)",
        resolved.display()
    )]
    MissingWorkerPath { worker_path: String, resolved: PathBuf },
}

impl WorkerConfig {
    /// Parses the file text. Top-level names are case-sensitive (as hosts read them); keys inside
    /// `description` and `processOptions` are matched case-insensitively.
    pub fn parse(text: &str) -> Result<Self, WorkerConfigError> {
        let doc: Value = serde_json::from_str(text).map_err(|e| WorkerConfigError::Json(e.to_string()))?;
        let description =
            doc.get("description").and_then(Value::as_object).ok_or(WorkerConfigError::MissingDescription)?;
        let get = |key: &str| description.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v);
        let get_str = |key: &str| -> Result<Option<String>, WorkerConfigError> {
            match get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Ok(Some(s.clone())),
                Some(other) => {
                    Err(WorkerConfigError::NotAString { key: key.to_string(), found: other.to_string() })
                }
            }
        };
        let language =
            get_str("language")?.filter(|s| !s.is_empty()).ok_or(WorkerConfigError::MissingLanguage)?;
        let default_executable_path = get_str("defaultExecutablePath")?
            .filter(|s| !s.is_empty())
            .ok_or(WorkerConfigError::MissingExecutable)?;
        let default_worker_path = get_str("defaultWorkerPath")?.filter(|s| !s.is_empty());
        let arguments = match get("arguments") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| WorkerConfigError::ArgumentNotAString(v.to_string()))
                })
                .collect::<Result<_, _>>()?,
            Some(other) => {
                return Err(WorkerConfigError::ArgumentsNotAList(other.to_string()));
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
            Some((_, v)) => Some(
                v.as_str()
                    .and_then(parse_timespan)
                    .ok_or_else(|| WorkerConfigError::InitTimeout(v.to_string()))?,
            ),
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
    ) -> Result<WorkerLaunch, WorkerConfigError> {
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
                return Err(WorkerConfigError::MissingWorkerPath {
                    worker_path: worker_path.clone(),
                    resolved: path,
                });
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

#[cfg(test)]
mod tests {
    use super::*;

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
        let e =
            WorkerConfig::parse(r#"{"description":{"defaultExecutablePath":"x"}}"#).unwrap_err().to_string();
        assert!(e.contains("description.language"), "{e}");
        let e = WorkerConfig::parse(r#"{"description":{"language":"x"}}"#).unwrap_err().to_string();
        assert!(e.contains("defaultExecutablePath"), "{e}");
        let e = WorkerConfig::parse(r#"{"Description":{}}"#).unwrap_err().to_string();
        assert!(e.contains("`description`"), "{e}");
        assert!(WorkerConfig::parse("{").unwrap_err().to_string().contains("not valid JSON"));
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
        let e = c.to_launch(dir.path(), dir.path(), BTreeMap::new()).unwrap_err().to_string();
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
}

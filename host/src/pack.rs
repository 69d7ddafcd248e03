//! `fnwire pack`: turns a Rust (Cargo) function app into an Azure Functions app folder.
//!
//! The output holds:
//! * `host.json`: the app's, or a default one (`version` 2.0 and the extension bundle);
//! * `servicebus.json`, when the app has one: its Service Bus queues, topics and subscriptions,
//!   which the host applies at start (without it, a packed app's topic triggers have no
//!   subscription to listen on);
//! * `<binary>.fnwire`: the release-built worker. The `.fnwire` extension is how a host that
//!   indexes `function.json` files finds the language of a function: every function's
//!   `scriptFile` points at this file, and `worker.config.json` claims the extension;
//! * `worker.config.json`: registers the binary as the language worker `rust`
//!   (`defaultExecutablePath` `%FUNCTIONS_WORKER_DIRECTORY%/<binary>.fnwire`, `workerIndexing`
//!   `"true"`). On Azure, set `FUNCTIONS_WORKER_RUNTIME=rust` and point
//!   `languageWorkers__rust__workerDirectory` at the deployed folder;
//! * `<function>/function.json` per function, from the metadata the worker itself reports
//!   (worker indexing over a real FunctionRpc stream), so the app also runs under a host that
//!   uses function.json indexing.
//!
//! `fnwire start <out>` runs the result.

use std::path::{Path, PathBuf};

use fnwire_metadata::FunctionMetadata;
use serde_json::json;

use crate::app::{self, AppError, WorkerLaunch};
use crate::grpc::GrpcServer;
use crate::lifecycle::{self, LifecycleOptions, StartupError};
use crate::triggers::service_bus::DECLARATIONS_FILE;

/// The language name the packed worker registers as (`FUNCTIONS_WORKER_RUNTIME`).
pub const PACKED_LANGUAGE: &str = "rust";
/// The extension of the packed worker binary (and every function's `scriptFile`).
pub const WORKER_EXTENSION: &str = ".fnwire";

/// Options of `fnwire pack`.
#[derive(Debug, Clone)]
pub struct PackOptions {
    pub app_dir: PathBuf,
    pub out_dir: PathBuf,
    /// Build with `--release` (the default); tests use debug builds.
    pub release: bool,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Packed {
    pub out_dir: PathBuf,
    pub binary: PathBuf,
    pub functions: Vec<String>,
}

/// Why `fnwire pack` stopped. Nothing in `--out` is touched before the build and the indexing
/// succeeded.
#[derive(Debug, thiserror::Error)]
pub enum PackError {
    #[error("`{}` is not a directory: pass the function app's directory to `fnwire pack`", .0.display())]
    NotADirectory(PathBuf),
    #[error(
        "`{}` has no Cargo.toml: `fnwire pack` packs Rust (Cargo) function apps; Python and Node apps deploy with \
         their own tooling",
        .0.display()
    )]
    NotACargoApp(PathBuf),
    #[error("`{}` exists and is not a directory; pass a new or empty directory to --out", .0.display())]
    OutIsAFile(PathBuf),
    #[error("--out `{}` would overwrite the app itself; choose a directory outside it", .0.display())]
    OutIsTheApp(PathBuf),
    #[error(
        "`{}` is not empty and is not an earlier `fnwire pack` output; pass a new or empty directory to --out",
        .0.display()
    )]
    OutNotEmpty(PathBuf),
    #[error("`{}` is not valid JSON; fix it before packing", path.display())]
    HostJson {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("`{}` is not a valid Service Bus declaration file: {error}; fix it before packing", path.display())]
    ServiceBusDeclarations { path: PathBuf, error: fnwire_messaging::DeclarationError },
    #[error("the worker reported functions that cannot run: {0}; fix them and pack again")]
    BrokenFunctions(String),
    #[error("the worker reported no functions; there is nothing to pack")]
    NoFunctions,
    #[error("could not start the gRPC server for the worker on 127.0.0.1")]
    Grpc(#[source] std::io::Error),
    #[error(transparent)]
    App(#[from] AppError),
    #[error(transparent)]
    Startup(#[from] StartupError),
    /// A file operation failed; `what` names it and the path.
    #[error("could not {what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

fn io_failed(what: String) -> impl FnOnce(std::io::Error) -> PackError {
    move |source| PackError::Io { what, source }
}

/// `worker.config.json` for a packed worker binary named `binary_file`.
pub fn worker_config(binary_file: &str) -> serde_json::Value {
    json!({
        "description": {
            "language": PACKED_LANGUAGE,
            "extensions": [WORKER_EXTENSION],
            "defaultExecutablePath": format!("%FUNCTIONS_WORKER_DIRECTORY%/{binary_file}"),
            "workerIndexing": "true"
        }
    })
}

/// The default `host.json` for an app that has none.
pub fn default_host_json() -> serde_json::Value {
    json!({
        "version": "2.0",
        "extensionBundle": {
            "id": "Microsoft.Azure.Functions.ExtensionBundle",
            "version": "[4.*, 5.0.0)"
        }
    })
}

/// `function.json` for one function: the model's own rendering, with `scriptFile` pointing at
/// the packed binary (relative to the function's folder) and the function name as entry point.
pub fn function_json(metadata: &FunctionMetadata, binary_file: &str) -> serde_json::Value {
    let mut m = metadata.clone();
    m.script_file = format!("../{binary_file}");
    m.entry_point = metadata.name.clone();
    m.to_function_json()
}

/// Asks the app's worker for its functions (worker indexing over a real stream), then stops it.
pub async fn index_with_worker(launch: &WorkerLaunch) -> Result<Vec<FunctionMetadata>, PackError> {
    let server = GrpcServer::start().await.map_err(PackError::Grpc)?;
    let options = LifecycleOptions::default();
    let mut worker = lifecycle::start_worker(&server, launch, &options).await?;
    let indexed = lifecycle::index_functions(&worker, launch, &options).await;
    worker.stop().await;
    let indexed = indexed?;
    let broken: Vec<String> = indexed
        .iter()
        .filter_map(|f| f.error.as_ref().map(|e| format!("`{}`: {e}", f.metadata.name)))
        .collect();
    if !broken.is_empty() {
        return Err(PackError::BrokenFunctions(broken.join("; ")));
    }
    if indexed.is_empty() {
        return Err(PackError::NoFunctions);
    }
    Ok(indexed.into_iter().map(|f| f.metadata).collect())
}

/// Refuses an output directory that is not new, empty, or an earlier pack (checked before the
/// build, so a bad `--out` fails fast and nothing is touched).
fn check_out_dir(out: &Path, app_dir: &Path) -> Result<(), PackError> {
    if out.exists() {
        if !out.is_dir() {
            return Err(PackError::OutIsAFile(out.to_path_buf()));
        }
        let canonical = out.canonicalize().map_err(io_failed(format!("resolve `{}`", out.display())))?;
        if canonical == app_dir || app_dir.starts_with(&canonical) {
            return Err(PackError::OutIsTheApp(out.to_path_buf()));
        }
        let mut entries = std::fs::read_dir(out)
            .map_err(io_failed(format!("list `{}`", out.display())))?
            .filter_map(Result::ok)
            .peekable();
        let empty = entries.peek().is_none();
        if !empty && !is_earlier_pack(out) {
            return Err(PackError::OutNotEmpty(out.to_path_buf()));
        }
    }
    Ok(())
}

/// Whether `dir` holds a `worker.config.json` this command wrote (it claims [`WORKER_EXTENSION`]).
fn is_earlier_pack(dir: &Path) -> bool {
    std::fs::read_to_string(dir.join("worker.config.json"))
        .ok()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
        .and_then(|doc| doc.pointer("/description/extensions").cloned())
        .is_some_and(|ext| ext == json!([WORKER_EXTENSION]))
}

fn prepare_out_dir(out: &Path, app_dir: &Path) -> Result<(), PackError> {
    check_out_dir(out, app_dir)?;
    if out.exists() {
        // An earlier pack: drop its function folders so removed functions do not linger.
        let entries = std::fs::read_dir(out).map_err(io_failed(format!("list `{}`", out.display())))?;
        for entry in entries.filter_map(Result::ok) {
            let path = entry.path();
            if path.join("function.json").is_file() {
                std::fs::remove_dir_all(&path)
                    .map_err(io_failed(format!("remove the old function folder `{}`", path.display())))?;
            }
        }
    }
    std::fs::create_dir_all(out).map_err(io_failed(format!("create `{}`", out.display())))
}

fn write_json(path: &Path, value: &serde_json::Value) -> Result<(), PackError> {
    // `{:#}` pretty-prints a JSON value and, unlike `to_string_pretty`, cannot fail.
    let text = format!("{value:#}\n");
    std::fs::write(path, text).map_err(io_failed(format!("write `{}`", path.display())))
}

/// The text of the app's `servicebus.json`, checked the way `fnwire start` reads it; `None`
/// when the app has none.
fn read_service_bus_declarations(app_dir: &Path) -> Result<Option<String>, PackError> {
    let path = app_dir.join(DECLARATIONS_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_failed(format!("read `{}`", path.display()))(e)),
    };
    fnwire_messaging::read_declarations(&text)
        .map_err(|error| PackError::ServiceBusDeclarations { path, error })?;
    Ok(Some(text))
}

/// Runs `fnwire pack`.
pub async fn run_pack(options: PackOptions) -> Result<Packed, PackError> {
    let app_dir = &options.app_dir;
    if !app_dir.is_dir() {
        return Err(PackError::NotADirectory(app_dir.clone()));
    }
    let app_dir = app_dir.canonicalize().map_err(io_failed(format!("resolve `{}`", app_dir.display())))?;
    if !app_dir.join("Cargo.toml").is_file() {
        return Err(PackError::NotACargoApp(app_dir));
    }
    check_out_dir(&options.out_dir, &app_dir)?;
    // Checked before the build, so a broken file fails fast and leaves `--out` untouched.
    let declarations = read_service_bus_declarations(&app_dir)?;
    let executable = app::cargo_build(&app_dir, options.release).await?;
    let settings = app::read_local_settings(&app_dir)?;
    let mut launch = WorkerLaunch::new(&executable, &app_dir, PACKED_LANGUAGE);
    launch.env = settings;
    tracing::info!("asking the worker for its functions");
    let functions = index_with_worker(&launch).await?;

    let out = &options.out_dir;
    prepare_out_dir(out, &app_dir)?;
    let stem = executable
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "worker".to_string());
    let binary_file = format!("{stem}{WORKER_EXTENSION}");
    let binary = out.join(&binary_file);
    std::fs::copy(&executable, &binary).map_err(io_failed(format!(
        "copy `{}` to `{}`",
        executable.display(),
        binary.display()
    )))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&binary, std::fs::Permissions::from_mode(0o755))
            .map_err(io_failed(format!("make `{}` executable", binary.display())))?;
    }
    let host_json = app_dir.join("host.json");
    if host_json.is_file() {
        let text = std::fs::read_to_string(&host_json)
            .map_err(io_failed(format!("read `{}`", host_json.display())))?;
        serde_json::from_str::<serde_json::Value>(&text)
            .map_err(|source| PackError::HostJson { path: host_json.clone(), source })?;
        let copy = out.join("host.json");
        std::fs::write(&copy, text).map_err(io_failed(format!("write `{}`", copy.display())))?;
    } else {
        write_json(&out.join("host.json"), &default_host_json())?;
    }
    let declarations_copy = out.join(DECLARATIONS_FILE);
    match declarations {
        Some(text) => std::fs::write(&declarations_copy, text)
            .map_err(io_failed(format!("write `{}`", declarations_copy.display())))?,
        // An earlier pack's copy would declare entities the app no longer has.
        None if declarations_copy.is_file() => std::fs::remove_file(&declarations_copy)
            .map_err(io_failed(format!("remove the old `{}`", declarations_copy.display())))?,
        None => {}
    }
    write_json(&out.join("worker.config.json"), &worker_config(&binary_file))?;
    let mut names = Vec::new();
    for f in &functions {
        let dir = out.join(&f.name);
        std::fs::create_dir_all(&dir).map_err(io_failed(format!("create `{}`", dir.display())))?;
        write_json(&dir.join("function.json"), &function_json(f, &binary_file))?;
        names.push(f.name.clone());
    }
    Ok(Packed { out_dir: out.clone(), binary, functions: names })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_config_is_accepted_by_fnwire_and_expands_to_the_binary() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("app.fnwire"), "").unwrap();
        let config = app::WorkerConfig::parse(&worker_config("app.fnwire").to_string()).unwrap();
        assert_eq!(config.language, "rust");
        assert!(config.worker_indexing);
        let launch = config.to_launch(dir.path(), dir.path(), Default::default()).unwrap();
        assert_eq!(launch.program, dir.path().join("app.fnwire"));
    }

    #[test]
    fn a_broken_servicebus_json_stops_the_pack_naming_the_file() {
        let dir = tempfile::tempdir().unwrap();
        assert!(read_service_bus_declarations(dir.path()).unwrap().is_none());
        std::fs::write(dir.path().join(DECLARATIONS_FILE), r#"{"UserConfig": {"Namespaces": 3}}"#).unwrap();
        let e = read_service_bus_declarations(dir.path()).unwrap_err().to_string();
        assert!(e.contains("servicebus.json") && e.contains("fix it before packing"), "{e}");
    }

    #[test]
    fn function_json_follows_azure_and_round_trips() {
        let metadata = FunctionMetadata::from_raw_bindings(
            "hello",
            &[
                r#"{"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous","methods":["get"]}"#,
                r#"{"type":"http","direction":"out","name":"$return"}"#,
            ],
        )
        .unwrap();
        let doc = function_json(&metadata, "app.fnwire");
        assert_eq!(doc["scriptFile"], "../app.fnwire");
        assert_eq!(doc["entryPoint"], "hello");
        assert_eq!(doc["bindings"][0]["direction"], "in");
        assert_eq!(doc["bindings"][1]["direction"], "out");
        let back = FunctionMetadata::from_function_json("hello", &doc).unwrap();
        assert_eq!(back.bindings, metadata.bindings);
        back.validate().unwrap();
    }
}

//! `fnwire kube`: indexes the app with its own worker, then writes its `Dockerfile` and the
//! Kubernetes manifests (`fnwire-deploy` renders them) into the output directory.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use fnwire_deploy::{App, Function, Language, Options, ScalerQueries, Trigger};
use fnwire_metadata::FunctionMetadata;

use crate::app::{self, AppError, AppKind, DetectOptions};
use crate::pack::PackError;

/// Options of `fnwire kube`.
#[derive(Debug, Clone)]
pub struct KubeOptions {
    pub app_dir: PathBuf,
    pub image: String,
    /// Default: `<app>/deploy`.
    pub out_dir: Option<PathBuf>,
    pub namespace: Option<String>,
    /// Default: from the app directory's name.
    pub name: Option<String>,
    pub drain_timeout_secs: u64,
    pub max_replicas: u32,
    /// Build a Cargo app in debug mode to index it (the image builds its own, in release).
    pub debug: bool,
}

/// Why `fnwire kube` wrote nothing. Each message says what to change.
#[derive(Debug, thiserror::Error)]
pub enum KubeError {
    #[error(transparent)]
    App(#[from] AppError),
    #[error(transparent)]
    Index(#[from] PackError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Keys(#[from] crate::keys::KeysError),
    #[error(transparent)]
    Deploy(#[from] fnwire_deploy::DeployError),
    #[error(
        "`fnwire kube` builds the image from the app's source, and `{}` is an app folder with a \
         worker.config.json; run it on the Cargo, Python or Node project instead",
        .0.display()
    )]
    PrebuiltApp(PathBuf),
    #[error(
        "--out `{}` is outside the app directory `{}`: the Dockerfile's build context is the app \
         directory, so the output must be inside it (the default is `deploy`)",
        out.display(),
        app.display()
    )]
    OutOutsideApp { out: PathBuf, app: PathBuf },
    #[error(
        "a Rust app's image runs the `fnwire` binary, but this command runs inside `{}`; run `fnwire kube` \
         from the fnwire binary (built from the fnwire-host crate)",
        .0.display()
    )]
    NotTheHostBinary(PathBuf),
    #[error("could not {what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

/// What was written.
#[derive(Debug)]
pub struct Written {
    pub out_dir: PathBuf,
    pub files: Vec<String>,
    pub scaled_triggers: usize,
}

/// The scaler queries of the PostgreSQL store for the app's queues and its durable task hub.
pub fn scaler_queries(functions: &[Function]) -> ScalerQueries {
    let visible_messages = functions
        .iter()
        .filter_map(|f| match &f.trigger {
            Trigger::Queue { queue } => {
                Some((queue.clone(), fnwire_storage_postgres::visible_messages_query(queue)))
            }
            _ => None,
        })
        .collect();
    ScalerQueries {
        visible_messages,
        // The task hub shares the app's database with the queues (`fnwire-durable`'s
        // `postgres` hub), so every replica takes durable work from it.
        pending_durable_work: fnwire_durable::postgres::pending_work_query(),
    }
}

/// The trigger of an indexed function, as scaling sees it.
pub fn trigger_of(metadata: &FunctionMetadata) -> Trigger {
    let Some(trigger) = metadata.trigger() else { return Trigger::Other(String::new()) };
    let kind = trigger.binding_type.to_ascii_lowercase();
    match kind.as_str() {
        "httptrigger" => Trigger::Http,
        "queuetrigger" => {
            // Azure's queue names are lower case; the store keeps them as given.
            let queue = trigger.str_property("queueName").unwrap_or_default().to_string();
            Trigger::Queue { queue }
        }
        "timertrigger" => Trigger::Timer,
        "orchestrationtrigger" | "activitytrigger" | "entitytrigger" => Trigger::Durable,
        _ => Trigger::Other(trigger.binding_type.clone()),
    }
}

/// The Debian release this machine runs (the copied `fnwire` binary needs its C library).
fn debian_release() -> String {
    std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|text| {
            text.lines()
                .find_map(|l| l.strip_prefix("VERSION_CODENAME="))
                .map(|v| v.trim_matches('"').to_string())
        })
        .filter(|v| !v.is_empty() && v.chars().all(|c| c.is_ascii_lowercase()))
        .unwrap_or_else(|| "bookworm".into())
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> KubeError {
    let what = what.into();
    move |source| KubeError::Io { what, source }
}

/// Runs `fnwire kube`.
pub async fn run_kube(options: KubeOptions) -> Result<Written, KubeError> {
    let app_dir =
        options.app_dir.canonicalize().map_err(|_| AppError::NotADirectory(options.app_dir.clone()))?;
    let out_dir = match &options.out_dir {
        Some(dir) if dir.is_absolute() => dir.clone(),
        Some(dir) => std::env::current_dir().map_err(io("read the current directory"))?.join(dir),
        None => app_dir.join("deploy"),
    };
    std::fs::create_dir_all(&out_dir).map_err(io(format!("create {}", out_dir.display())))?;
    let out_dir = out_dir.canonicalize().map_err(io(format!("read {}", out_dir.display())))?;
    let context_dir = out_dir
        .strip_prefix(&app_dir)
        .map_err(|_| KubeError::OutOutsideApp { out: out_dir.clone(), app: app_dir.clone() })?
        .to_string_lossy()
        .into_owned();

    let detected = app::detect(&app_dir, DetectOptions { release: !options.debug }).await?;
    let language = match detected.kind {
        AppKind::Cargo => Language::Rust {
            bin: detected
                .launch
                .program
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        },
        AppKind::Python => Language::Python,
        AppKind::Node => Language::Node,
        AppKind::WorkerConfig => return Err(KubeError::PrebuiltApp(app_dir)),
    };
    let indexed = crate::pack::index_with_worker(&detected.launch).await?;
    let functions: Vec<Function> =
        indexed.iter().map(|m| Function { name: m.name.clone(), trigger: trigger_of(m) }).collect();

    let mut settings: BTreeMap<String, String> = app::read_local_settings(&app_dir)?;
    // As the host does: the app setting, else the environment variable, selects the store.
    if !settings.contains_key(fnwire_deploy::STORAGE_SETTING)
        && let Ok(storage) = std::env::var(fnwire_deploy::STORAGE_SETTING)
    {
        settings.insert(fnwire_deploy::STORAGE_SETTING.into(), storage);
    }
    // Every replica must accept the same keys: the pods get the app's, not new ones each.
    let keys = crate::keys::load_or_create(&app_dir, &settings)?;
    settings.entry(crate::keys::MASTER_KEY_SETTING.into()).or_insert(keys.master_key.clone());
    settings.entry(crate::keys::FUNCTION_KEY_SETTING.into()).or_insert(keys.default_function_key.clone());
    let queue_options = crate::triggers::config::QueueOptions::read(&app_dir)?;

    let name = match &options.name {
        Some(n) => n.clone(),
        None => {
            fnwire_deploy::name_from(&app_dir.file_name().map(|n| n.to_string_lossy()).unwrap_or_default())
        }
    };
    let app = App {
        name,
        language,
        functions,
        settings,
        queue_batch_size: u32::try_from(queue_options.batch_size).unwrap_or(u32::MAX),
    };
    let deploy_options = Options {
        image: options.image.clone(),
        namespace: options.namespace.clone(),
        drain_timeout_secs: options.drain_timeout_secs,
        max_replicas: options.max_replicas,
        debian_release: debian_release(),
        context_dir,
        ..Options::default()
    };
    let queries = scaler_queries(&app.functions);
    let rendered = fnwire_deploy::render(&app, &deploy_options, &queries)?;

    let mut files = Vec::new();
    let mut write = |file: &str, text: &str| -> Result<(), KubeError> {
        let path = out_dir.join(file);
        std::fs::write(&path, text).map_err(io(format!("write {}", path.display())))?;
        files.push(file.to_string());
        Ok(())
    };
    write("Dockerfile", &rendered.dockerfile)?;
    // BuildKit reads `<Dockerfile>.dockerignore` next to the Dockerfile.
    write("Dockerfile.dockerignore", &rendered.dockerignore)?;
    write("kubernetes.yaml", &rendered.manifests)?;
    if matches!(app.language, Language::Rust { .. }) {
        copy_own_executable(&out_dir.join(fnwire_deploy::FNWIRE_BINARY))?;
        files.push(fnwire_deploy::FNWIRE_BINARY.to_string());
    }
    let scaled_triggers = rendered
        .objects
        .iter()
        .find(|o| o["kind"] == "ScaledObject")
        .and_then(|o| o["spec"]["triggers"].as_array().map(Vec::len))
        .unwrap_or(0);
    Ok(Written { out_dir, files, scaled_triggers })
}

/// The image of a Rust app runs the host that wrote its manifests.
fn copy_own_executable(to: &Path) -> Result<(), KubeError> {
    let exe = std::env::current_exe().map_err(io("find the fnwire executable"))?;
    // The Python and Node packages run the host inside their interpreter; that is no binary to ship.
    if exe.file_stem().is_none_or(|stem| stem != "fnwire") {
        return Err(KubeError::NotTheHostBinary(exe));
    }
    std::fs::copy(&exe, to).map_err(io(format!("copy {} to {}", exe.display(), to.display())))?;
    Ok(())
}

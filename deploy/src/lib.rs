//! What `fnwire kube` writes: a `Dockerfile` for the app and the Kubernetes objects that run it
//! (`Secret`, `Deployment`, `Service`, KEDA `ScaledObject`).
//!
//! The input is plain data (the app's functions as its worker indexed them, its settings and
//! keys, `host.json`'s queue batch size, the scaler queries of the shared store), so this crate
//! knows nothing of workers or databases and its output is a pure function of the input: the
//! same app gives the same files.

mod dockerfile;
mod objects;

use std::collections::BTreeMap;

pub use dockerfile::{FNWIRE_BINARY, dockerfile};
pub use objects::{deployment, scaled_object, secret, service};

/// The port the host listens on inside the container (as `func kubernetes deploy` uses).
pub const CONTAINER_PORT: u16 = 80;

/// Where the app lives in the image (Azure's images use the same path).
pub const APP_ROOT: &str = "/home/site/wwwroot";

/// The setting whose `postgres://` URL selects the shared store; KEDA reads the same variable.
pub const STORAGE_SETTING: &str = "AzureWebJobsStorage";

/// The app's language, which decides how its image is built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Language {
    /// A Cargo package; `bin` is the worker binary's name.
    Rust { bin: String },
    /// `function_app.py` or `function.json` folders, with `requirements.txt`.
    Python,
    /// `package.json` (with `package-lock.json` for `npm ci`).
    Node,
}

/// What starts a function, as far as scaling is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Trigger {
    Http,
    /// `queueTrigger` on this queue.
    Queue {
        queue: String,
    },
    Timer,
    /// `orchestrationTrigger`, `activityTrigger` or `entityTrigger`.
    Durable,
    /// Anything else (its binding type): run, but not scaled on.
    Other(String),
}

/// One function of the app.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Function {
    pub name: String,
    pub trigger: Trigger,
}

/// The SQL KEDA's `postgresql` scaler runs: each returns one number, the work waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScalerQueries {
    /// Per queue trigger's queue: the messages visible now.
    pub visible_messages: BTreeMap<String, String>,
    /// Orchestration and entity events and activity work items waiting in the task hub.
    pub pending_durable_work: String,
}

/// Everything the manifests are made from.
#[derive(Debug, Clone)]
pub struct App {
    /// The Kubernetes name (checked by [`check_name`]).
    pub name: String,
    pub language: Language,
    pub functions: Vec<Function>,
    /// App settings (`local.settings.json` `Values`), keys included; they go into the Secret.
    pub settings: BTreeMap<String, String>,
    /// `host.json` `extensions.queues.batchSize`: the messages one replica takes at a time.
    pub queue_batch_size: u32,
}

/// How the app is deployed.
#[derive(Debug, Clone)]
pub struct Options {
    pub image: String,
    pub namespace: Option<String>,
    /// The host's `--drain-timeout`, in seconds.
    pub drain_timeout_secs: u64,
    /// Replicas of an app that KEDA does not scale (HTTP only).
    pub http_replicas: u32,
    pub max_replicas: u32,
    /// The Debian release of the base images (the one the copied `fnwire` binary was built on).
    pub debian_release: String,
    /// Where the Dockerfile is, relative to the app's directory (the build context).
    pub context_dir: String,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            image: String::new(),
            namespace: None,
            drain_timeout_secs: 30,
            http_replicas: 1,
            max_replicas: 10,
            debian_release: "bookworm".into(),
            context_dir: "deploy".into(),
        }
    }
}

/// Why the manifests cannot be written. Each message says what to change.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    #[error(
        "`{name}` cannot name Kubernetes objects: use at most 63 lower-case letters, digits and '-', starting \
         with a letter and ending with a letter or digit (pass --name to choose one)"
    )]
    InvalidName { name: String },
    #[error(
        "`{image}` is not an image reference: pass --image REPOSITORY[:TAG], for example registry.example/app:1"
    )]
    InvalidImage { image: String },
    #[error(
        "function(s) {functions} need a store every replica shares, but {STORAGE_SETTING} is {found}: set it to a \
         postgres:// URL in local.settings.json Values (the embedded SQLite store lives on one pod's disk)"
    )]
    NoSharedStore { functions: String, found: String },
    #[error("no scaler query for queue `{queue}` (function `{function}`)")]
    MissingQuery { queue: String, function: String },
    #[error("could not write YAML: {0}")]
    Yaml(#[from] serde_norway::Error),
}

/// Checks a name for Kubernetes objects (an RFC 1123 label, as Services require).
pub fn check_name(name: &str) -> Result<(), DeployError> {
    let bytes = name.as_bytes();
    let valid = !bytes.is_empty()
        && bytes.len() <= 63
        && bytes[0].is_ascii_lowercase()
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes[bytes.len() - 1] != b'-';
    if valid { Ok(()) } else { Err(DeployError::InvalidName { name: name.to_string() }) }
}

/// A Kubernetes name made from a directory name: lower case, other characters as '-'.
pub fn name_from(text: &str) -> String {
    let mut name: String = text
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_lowercase() } else { '-' })
        .collect::<String>()
        .trim_matches(|c: char| c == '-' || c.is_ascii_digit())
        .to_string();
    name.truncate(63);
    let name = name.trim_end_matches('-').to_string();
    if name.is_empty() { "fnwire-app".into() } else { name }
}

impl App {
    pub fn has_http(&self) -> bool {
        self.functions.iter().any(|f| f.trigger == Trigger::Http)
    }

    /// Functions whose work waits in the store (queues, durable): what KEDA scales on.
    pub fn scaled_functions(&self) -> impl Iterator<Item = &Function> {
        self.functions.iter().filter(|f| matches!(f.trigger, Trigger::Queue { .. } | Trigger::Durable))
    }

    /// Functions that need a replica running even with no queued work: HTTP (requests come
    /// straight to a pod) and timers (a schedule has nobody to wake it).
    pub fn needs_a_running_replica(&self) -> bool {
        self.functions.iter().any(|f| matches!(f.trigger, Trigger::Http | Trigger::Timer))
    }

    /// Whether the store setting names PostgreSQL.
    pub fn has_shared_store(&self) -> bool {
        self.settings.get(STORAGE_SETTING).is_some_and(|v| {
            let v = v.trim();
            v.starts_with("postgres://") || v.starts_with("postgresql://")
        })
    }
}

/// The files `fnwire kube` writes, by file name.
#[derive(Debug, Clone)]
pub struct Rendered {
    pub dockerfile: String,
    pub dockerignore: String,
    /// Secret, Deployment, Service (if HTTP), ScaledObject (if scaled), as one YAML stream.
    pub manifests: String,
    /// The same objects as JSON values, in the same order.
    pub objects: Vec<serde_json::Value>,
}

/// Renders every file. The app's queue and durable functions need the shared store and a
/// query each; HTTP-only apps get a fixed replica count and no ScaledObject.
pub fn render(app: &App, options: &Options, queries: &ScalerQueries) -> Result<Rendered, DeployError> {
    check_name(&app.name)?;
    check_image(&options.image)?;
    let needs_store: Vec<String> = app
        .functions
        .iter()
        .filter(|f| matches!(f.trigger, Trigger::Queue { .. } | Trigger::Durable | Trigger::Timer))
        .map(|f| format!("`{}`", f.name))
        .collect();
    if !needs_store.is_empty() && !app.has_shared_store() {
        let found = match app.settings.get(STORAGE_SETTING) {
            None => "not set".to_string(),
            Some(v) if v.trim().is_empty() => "empty".to_string(),
            Some(_) => "not a postgres:// URL".to_string(),
        };
        return Err(DeployError::NoSharedStore { functions: needs_store.join(", "), found });
    }
    let mut objects = vec![secret(app, options), deployment(app, options)];
    if app.has_http() {
        objects.push(service(app, options));
    }
    if let Some(scaled) = scaled_object(app, options, queries)? {
        objects.push(scaled);
    }
    let mut manifests = String::new();
    for object in &objects {
        manifests.push_str("---\n");
        manifests.push_str(&serde_norway::to_string(object)?);
    }
    Ok(Rendered {
        dockerfile: dockerfile(app, options),
        dockerignore: dockerfile::dockerignore(&app.language),
        manifests,
        objects,
    })
}

/// Reads a YAML stream of manifests back into JSON values (for tools and tests that check what
/// `fnwire kube` wrote).
pub fn parse_manifests(yaml: &str) -> Result<Vec<serde_json::Value>, DeployError> {
    serde_norway::Deserializer::from_str(yaml)
        .map(|doc| serde::Deserialize::deserialize(doc).map_err(DeployError::from))
        .filter(|doc| !matches!(doc, Ok(serde_json::Value::Null)))
        .collect()
}

fn check_image(image: &str) -> Result<(), DeployError> {
    let valid = !image.is_empty()
        && !image.starts_with(['-', '.', '/', ':'])
        && image.chars().all(|c| c.is_ascii_alphanumeric() || "._-/:@".contains(c))
        && image.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if valid { Ok(()) } else { Err(DeployError::InvalidImage { image: image.to_string() }) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_rfc_1123_labels() {
        for good in ["a", "my-app", "app1", &"a".repeat(63)] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "-a", "a-", "My", "1app", "a_b", &"a".repeat(64)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
        assert_eq!(name_from("Hello_Rust"), "hello-rust");
        assert_eq!(name_from("123"), "fnwire-app");
        assert!(check_name(&name_from(&"X".repeat(100))).is_ok());
    }

    #[test]
    fn images_are_references() {
        for good in ["app", "registry.example:5000/team/app:1.2", "app@sha256:abc"] {
            assert!(check_image(good).is_ok(), "{good}");
        }
        for bad in ["", "-x", "a b", "app:\n"] {
            assert!(check_image(bad).is_err(), "{bad:?}");
        }
    }
}

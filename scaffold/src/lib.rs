//! `fnwire new`: writes a ready function app for one language and one trigger from templates
//! embedded at compile time (the files under `templates/`), so the `fnwire` binary, the Python
//! wheel and the npm package all carry them without reading anything at run time.
//!
//! This crate only writes files: it never builds, installs or runs the app (`fnwire start` does).

use std::fmt;
use std::path::{Path, PathBuf};

/// The language of the new app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Language {
    Rust,
    Python,
    Node,
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Language::Rust => "rust",
            Language::Python => "python",
            Language::Node => "node",
        })
    }
}

/// What the new app's functions show.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Template {
    /// An HTTP function that greets by name.
    Http,
    /// A timer function that runs every five seconds.
    Timer,
    /// An HTTP function that enqueues, and a queue function that works on what it enqueued.
    Queue,
    /// A durable orchestration that calls an activity three times.
    Durable,
    /// An unchanged Azure Functions app (azure.functions, @azure/functions v4); not for Rust.
    Azure,
}

impl fmt::Display for Template {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Template::Http => "http",
            Template::Timer => "timer",
            Template::Queue => "queue",
            Template::Durable => "durable",
            Template::Azure => "azure",
        })
    }
}

/// Where a Rust app gets the `fnwire` crate from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum SdkSource {
    /// The crates.io release this `fnwire` belongs to.
    #[default]
    Registry,
    /// A local checkout of fnwire (the repository root or its `sdk-rust` folder).
    Path(PathBuf),
}

/// What to write.
#[derive(Debug, Clone)]
pub struct NewApp {
    /// The folder to create (or an empty existing one); its last component names the app.
    pub dir: PathBuf,
    pub language: Language,
    pub template: Template,
    pub sdk: SdkSource,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct Written {
    pub dir: PathBuf,
    pub name: String,
    /// Paths relative to `dir`, in the order written.
    pub files: Vec<String>,
    /// The commands a newcomer runs next, one a line.
    pub next_steps: String,
}

/// Why `fnwire new` wrote nothing. Each message says what to do instead.
#[derive(Debug, thiserror::Error)]
pub enum ScaffoldError {
    #[error(
        "`{}` already exists and is not empty; fnwire new never overwrites files. Pick a new folder name, or empty \
         that folder first",
        .0.display()
    )]
    NotEmpty(PathBuf),
    #[error("`{}` exists and is not a folder; pick another name", .0.display())]
    NotAFolder(PathBuf),
    #[error(
        "`{name}` cannot name an app: use letters, digits, `-` and `_`, starting with a letter (for example `hello` \
         or `orders-api`)"
    )]
    BadName { name: String },
    #[error(
        "there is no Rust version of the `azure` template: it is an unchanged Azure Functions app, and Azure's \
         programming models are Python's and Node's. For Rust use `--template http` (or timer, queue, durable), \
         or pass `--lang python` or `--lang node`"
    )]
    AzureForRust,
    #[error(
        "`{}` is not a fnwire checkout: it has neither `sdk-rust/Cargo.toml` nor a Cargo.toml of the `fnwire` crate. \
         Pass the repository's root folder (or drop --fnwire-path to use the crates.io release)",
        .0.display()
    )]
    NotAnSdkCheckout(PathBuf),
    #[error("could not write `{}`", path.display())]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// A file of a template: where it goes in the app, and its text (with `{{placeholders}}`).
struct TemplateFile {
    path: &'static str,
    text: &'static str,
}

macro_rules! file {
    ($path:literal, $source:literal) => {
        TemplateFile { path: $path, text: include_str!(concat!("../templates/", $source)) }
    };
}

const COMMON: &[TemplateFile] = &[
    file!("host.json", "common/host.json"),
    file!("local.settings.json", "common/local.settings.json"),
    file!(".gitignore", "common/gitignore"),
    file!("README.md", "common/README.md"),
];

/// The files of one language and template, besides [`COMMON`].
fn template_files(language: Language, template: Template) -> Result<Vec<TemplateFile>, ScaffoldError> {
    use Language::*;
    use Template::*;
    let files = match (language, template) {
        (Rust, Azure) => return Err(ScaffoldError::AzureForRust),
        (Rust, template) => vec![
            file!("Cargo.toml", "rust/Cargo.toml"),
            match template {
                Http => file!("src/main.rs", "rust/http/main.rs"),
                Timer => file!("src/main.rs", "rust/timer/main.rs"),
                Queue => file!("src/main.rs", "rust/queue/main.rs"),
                Durable | Azure => file!("src/main.rs", "rust/durable/main.rs"),
            },
        ],
        (Python, template) => vec![
            match template {
                Http => file!("function_app.py", "python/http/function_app.py"),
                Timer => file!("function_app.py", "python/timer/function_app.py"),
                Queue => file!("function_app.py", "python/queue/function_app.py"),
                Durable => file!("function_app.py", "python/durable/function_app.py"),
                Azure => file!("function_app.py", "python/azure/function_app.py"),
            },
            match template {
                Durable => file!("requirements.txt", "python/durable/requirements.txt"),
                Azure => file!("requirements.txt", "python/azure/requirements.txt"),
                _ => file!("requirements.txt", "python/requirements.txt"),
            },
        ],
        (Node, template) => vec![
            file!("package.json", "node/package.json"),
            match template {
                Http => file!("src/functions/hello.js", "node/http/functions/hello.js"),
                Timer => file!("src/functions/tick.js", "node/timer/functions/tick.js"),
                Queue => file!("src/functions/jobs.js", "node/queue/functions/jobs.js"),
                Durable => file!("src/functions/hello.js", "node/durable/functions/hello.js"),
                Azure => file!("src/functions/hello.js", "node/azure/functions/hello.js"),
            },
        ],
    };
    Ok(files)
}

/// The `fnwire` dependency line of a Rust app's Cargo.toml.
fn fnwire_dependency(sdk: &SdkSource) -> Result<String, ScaffoldError> {
    match sdk {
        SdkSource::Registry => Ok(format!("\"{}\"", env!("CARGO_PKG_VERSION"))),
        SdkSource::Path(checkout) => {
            let candidates = [checkout.join("sdk-rust"), checkout.to_path_buf()];
            let crate_dir = candidates
                .iter()
                .find(|dir| {
                    std::fs::read_to_string(dir.join("Cargo.toml"))
                        .is_ok_and(|manifest| manifest.lines().any(|l| l.trim() == "name = \"fnwire\""))
                })
                .ok_or_else(|| ScaffoldError::NotAnSdkCheckout(checkout.clone()))?;
            let absolute = crate_dir.canonicalize().unwrap_or_else(|_| crate_dir.clone());
            // A TOML basic string: backslashes (Windows paths) and quotes escaped.
            let quoted = absolute.display().to_string().replace('\\', "\\\\").replace('"', "\\\"");
            Ok(format!("{{ path = \"{quoted}\" }}"))
        }
    }
}

/// Checks the app name: it becomes a Cargo package or npm package name.
fn app_name(dir: &Path) -> Result<String, ScaffoldError> {
    let name = dir.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let valid = name.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if valid { Ok(name) } else { Err(ScaffoldError::BadName { name: dir.display().to_string() }) }
}

/// The per-language words of the common files.
struct Words {
    runtime: &'static str,
    ignore: &'static str,
    language: &'static str,
    setup: String,
    try_it: &'static str,
}

fn words(language: Language, template: Template) -> Words {
    let try_it = match template {
        Template::Http | Template::Azure => "curl localhost:7071/api/hello?name=Ada",
        Template::Timer => "# nothing to send: `tick` logs every five seconds in the fnwire window",
        Template::Queue => "curl -d hello localhost:7071/api/enqueue\nfnwire queue peek done",
        Template::Durable => {
            "curl -X POST -d '\"Tokyo\"' localhost:7071/api/orchestrators/hello_cities\n# then open the statusQueryGetUri it answers with"
        }
    };
    match language {
        Language::Rust => Words {
            runtime: "rust",
            ignore: "target/",
            language: "Rust",
            setup: String::new(),
            try_it,
        },
        Language::Python => Words {
            runtime: "python",
            ignore: "__pycache__/\n.venv/",
            language: "Python",
            setup: "Install its packages (in a virtualenv):\n\n```sh\npython -m venv .venv && . .venv/bin/activate\npip install -r requirements.txt\n```\n\n".into(),
            try_it,
        },
        Language::Node => Words {
            runtime: "node",
            ignore: "node_modules/",
            language: "Node",
            setup: "Install its packages:\n\n```sh\nnpm install\n```\n\n".into(),
            try_it,
        },
    }
}

fn node_dependencies(template: Template) -> String {
    let fnwire = format!("\"fnwire\": \"^{}\"", env!("CARGO_PKG_VERSION"));
    match template {
        Template::Durable => {
            format!(
                "{fnwire},\n    \"@azure/functions\": \"^4.16.5\",\n    \"durable-functions\": \"^3.5.0\""
            )
        }
        Template::Azure => format!("{fnwire},\n    \"@azure/functions\": \"^4.16.5\""),
        _ => fnwire,
    }
}

fn fill(text: &str, values: &[(&str, &str)]) -> String {
    let mut out = text.to_string();
    for (key, value) in values {
        out = out.replace(&format!("{{{{{key}}}}}"), value);
    }
    out
}

/// Writes the app. Refuses (writing nothing) when the folder exists and is not empty.
pub fn write_app(app: &NewApp) -> Result<Written, ScaffoldError> {
    let name = app_name(&app.dir)?;
    let files = template_files(app.language, app.template)?;
    let dependency = match app.language {
        Language::Rust => fnwire_dependency(&app.sdk)?,
        _ => String::new(),
    };
    if app.dir.exists() {
        if !app.dir.is_dir() {
            return Err(ScaffoldError::NotAFolder(app.dir.clone()));
        }
        let empty = std::fs::read_dir(&app.dir)
            .map_err(|source| ScaffoldError::Write { path: app.dir.clone(), source })?
            .next()
            .is_none();
        if !empty {
            return Err(ScaffoldError::NotEmpty(app.dir.clone()));
        }
    }
    let words = words(app.language, app.template);
    let package_name = name.to_ascii_lowercase();
    let template = app.template.to_string();
    let node_dependencies = node_dependencies(app.template);
    let values = [
        ("name", name.as_str()),
        ("package_name", package_name.as_str()),
        ("runtime", words.runtime),
        ("ignore", words.ignore),
        ("language", words.language),
        ("template", template.as_str()),
        ("setup", words.setup.as_str()),
        ("try", words.try_it),
        ("fnwire_dependency", dependency.as_str()),
        ("node_dependencies", node_dependencies.as_str()),
    ];
    let mut written = Vec::new();
    for file in COMMON.iter().chain(files.iter()) {
        let path = app.dir.join(file.path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|source| ScaffoldError::Write { path: parent.to_path_buf(), source })?;
        }
        std::fs::write(&path, fill(file.text, &values))
            .map_err(|source| ScaffoldError::Write { path: path.clone(), source })?;
        written.push(file.path.to_string());
    }
    let cd = format!("cd {}", app.dir.display());
    let install = match app.language {
        Language::Rust => None,
        Language::Python => Some("pip install -r requirements.txt"),
        Language::Node => Some("npm install"),
    };
    let next_steps = [Some(cd.as_str()), install, Some("fnwire start --watch")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("\n");
    Ok(Written { dir: app.dir.clone(), name, files: written, next_steps })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_filled_and_names_checked() {
        assert_eq!(fill("{{name}} is {{name}}; {{other}}", &[("name", "hi")]), "hi is hi; {{other}}");
        assert_eq!(app_name(Path::new("apps/orders-api")).unwrap(), "orders-api");
        for bad in ["1st", "has space", "dots.in", ""] {
            assert!(matches!(app_name(Path::new(bad)), Err(ScaffoldError::BadName { .. })), "{bad:?}");
        }
    }

    #[test]
    fn every_template_leaves_no_placeholder_unfilled() {
        for language in [Language::Rust, Language::Python, Language::Node] {
            for template in
                [Template::Http, Template::Timer, Template::Queue, Template::Durable, Template::Azure]
            {
                if (language, template) == (Language::Rust, Template::Azure) {
                    continue;
                }
                let parent = tempfile::tempdir().unwrap();
                let dir = parent.path().join("app");
                let written =
                    write_app(&NewApp { dir: dir.clone(), language, template, sdk: SdkSource::Registry })
                        .unwrap_or_else(|e| panic!("{language} {template}: {e}"));
                for file in &written.files {
                    let text = std::fs::read_to_string(dir.join(file)).unwrap();
                    assert!(!text.contains("{{"), "{language} {template} {file}: {text}");
                }
            }
        }
    }

    #[test]
    fn the_sdk_path_must_be_a_fnwire_checkout() {
        let elsewhere = tempfile::tempdir().unwrap();
        let error = fnwire_dependency(&SdkSource::Path(elsewhere.path().to_path_buf())).unwrap_err();
        assert!(matches!(error, ScaffoldError::NotAnSdkCheckout(_)), "{error}");
        let checkout = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let line = fnwire_dependency(&SdkSource::Path(checkout)).unwrap();
        assert!(line.starts_with("{ path = \"") && line.ends_with("sdk-rust\" }"), "{line}");
    }
}

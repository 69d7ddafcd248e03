//! What the scenarios need before anything is timed: the `fnwire` binary, the packed Rust hello
//! app, a virtualenv with the fnwire Python wheel, the Azure Python peer, the Node addon.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::Context;

/// Paths shared by every scenario.
#[derive(Debug, Clone)]
pub struct Env {
    pub root: PathBuf,
    pub target: PathBuf,
    /// Scratch space: packed apps, logs, stores, venvs.
    pub work: PathBuf,
    pub quick: bool,
}

impl Env {
    pub fn new(quick: bool) -> anyhow::Result<Env> {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().context("the bench crate has no parent")?;
        let root = root.canonicalize()?;
        let target =
            std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| root.join("target"));
        let work = target.join("fnwire-bench");
        std::fs::create_dir_all(&work)?;
        Ok(Env { root, target, work, quick })
    }

    pub fn log(&self, name: &str) -> PathBuf {
        self.work.join("logs").join(format!("{name}.log"))
    }

    pub fn fnwire(&self) -> PathBuf {
        self.target.join("release").join("fnwire")
    }

    /// The packed hello-rust app (worker.config.json + the binary: no cargo run at start).
    pub fn rust_app(&self) -> PathBuf {
        self.work.join("hello-rust")
    }
}

pub(crate) fn run(what: &str, command: &mut Command) -> anyhow::Result<()> {
    let output = command.output().with_context(|| format!("{what}: could not run {command:?}"))?;
    if !output.status.success() {
        anyhow::bail!(
            "{what} failed ({}): {command:?}\n{}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// Builds `fnwire` (release) and packs hello-rust with it. Queue polling is made fast in the
/// packed app's host.json so that the queue scenario measures throughput, not polling back-off.
pub fn prepare_rust(env: &Env) -> anyhow::Result<()> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    eprintln!("preparing: cargo build --release -p fnwire-host --bin fnwire");
    run(
        "building fnwire",
        Command::new(&cargo)
            .args(["build", "--release", "--quiet", "-p", "fnwire-host", "--bin", "fnwire"])
            .current_dir(&env.root),
    )?;
    eprintln!("preparing: fnwire pack examples/hello-rust");
    run(
        "packing hello-rust",
        Command::new(env.fnwire())
            .arg("pack")
            .arg(env.root.join("examples/hello-rust"))
            .arg("--out")
            .arg(env.rust_app())
            .current_dir(&env.root),
    )?;
    let host_json = serde_json::json!({
        "version": "2.0",
        "extensions": {
            "http": { "routePrefix": "api" },
            "queues": { "maxPollingInterval": "00:00:00.1", "batchSize": 16, "maxDequeueCount": 5 }
        }
    });
    std::fs::write(env.rust_app().join("host.json"), serde_json::to_string_pretty(&host_json)?)?;
    Ok(())
}

/// A Python interpreter with the fnwire wheel installed, from the wheel that
/// `bindings-python/scripts/test.sh` builds (`target/fnwire-python/wheels`).
pub fn fnwire_python(env: &Env) -> anyhow::Result<PathBuf> {
    let interpreter = std::env::var("PYTHON").unwrap_or_else(|_| "python3.11".into());
    venv_with_fnwire_wheel(env, "python-venv", Path::new(&interpreter), &[])
}

/// A virtualenv `<work>/<name>` made by `interpreter`, holding the fnwire wheel that
/// `bindings-python/scripts/test.sh` builds plus `requirements` from PyPI; reinstalled only when
/// the wheel or the requirements change. Without requirements nothing else is installed
/// (`--no-deps`), so no index is needed.
pub fn venv_with_fnwire_wheel(
    env: &Env,
    name: &str,
    interpreter: &Path,
    requirements: &[&str],
) -> anyhow::Result<PathBuf> {
    let wheels = env.target.join("fnwire-python").join("wheels");
    let wheel = std::fs::read_dir(&wheels)
        .ok()
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "whl"))
        .with_context(|| {
            format!(
                "no fnwire wheel in {}: run bindings-python/scripts/test.sh (it builds the wheel) first",
                wheels.display()
            )
        })?;
    let venv = env.work.join(name);
    let python = venv.join("bin").join("python");
    let marker = venv.join("installed-wheel");
    let stamp = format!("{} {:?} {requirements:?}", wheel.display(), std::fs::metadata(&wheel)?.modified()?);
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(stamp.as_str()) {
        eprintln!("preparing: virtualenv {name} with {} {}", wheel.display(), requirements.join(" "));
        if !python.is_file() {
            run("creating a virtualenv", Command::new(interpreter).args(["-m", "venv"]).arg(&venv))?;
        }
        let mut pip = Command::new(venv.join("bin").join("pip"));
        pip.args(["install", "--quiet", "--disable-pip-version-check", "--force-reinstall"]);
        if requirements.is_empty() {
            pip.arg("--no-deps");
        }
        run("installing the fnwire wheel", pip.arg(&wheel).args(requirements))?;
        std::fs::write(&marker, stamp)?;
    }
    Ok(python)
}

/// The Azure Python runtime peer's directory, set up (its `setup.sh` is idempotent).
pub fn azure_python_peer(env: &Env) -> anyhow::Result<PathBuf> {
    let dir = env.root.join("conformance/peers/azure-python");
    if !dir.join(".venv/bin/python").is_file() || !dir.join("_generated").is_dir() {
        eprintln!("preparing: conformance/peers/azure-python/setup.sh");
        run("setting up the Azure Python peer", Command::new(dir.join("setup.sh")).current_dir(&env.root))?;
    }
    Ok(dir)
}

/// The Node hello app, if its `fnwire` package and native addon are in place.
pub fn node_app(env: &Env) -> anyhow::Result<PathBuf> {
    let app = env.root.join("examples/hello-node");
    let worker = app.join("node_modules/fnwire/lib/worker.js");
    if !worker.is_file() {
        anyhow::bail!("{} is missing: run `npm install` in examples/hello-node", worker.display());
    }
    let addon_dir = env.root.join("bindings-node");
    let has_addon =
        std::fs::read_dir(&addon_dir)?.flatten().any(|e| e.path().extension().is_some_and(|x| x == "node"));
    if !has_addon {
        anyhow::bail!(
            "bindings-node has no built addon (*.node): run `node bindings-node/scripts/build-addon.js`"
        );
    }
    Ok(app)
}

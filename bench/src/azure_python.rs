//! `http-python-azure`: one unmodified `azure.functions` v2 app served by fnwire's Python worker
//! and by Microsoft's `azure-functions-runtime` (the azure-python conformance peer), both under
//! `fnwire start`, on the same interpreter and the same `azure-functions` version. The app is the
//! peer's contract app (`conformance/apps/azure-python` is a copy of it). Goal: ≥ 5× requests/s.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::Context as _;

use crate::scenarios::{START_BOUND, compare_http, fnwire_start};
use crate::setup::{self, Env, run};
use crate::stats::Row;

/// The `azure-functions` version the peer pins (`conformance/peers/azure-python/setup.sh`).
const AZURE_FUNCTIONS: &str = "azure-functions==2.3.0";

pub async fn http_python_azure(env: &Env) -> anyhow::Result<Vec<Row>> {
    let peer = setup::azure_python_peer(env)?;
    let python = fnwire_azure_python(env, &peer.join(".venv/bin/python"))?.display().to_string();
    let path = "/api/text?name=bench";
    let mut fnwire = fnwire_start(
        env,
        "http-python-azure-fnwire",
        &env.root.join("conformance/apps/azure-python"),
        &[("FNWIRE_PYTHON", &python)],
    )?;
    fnwire.wait_ready(path, Instant::now(), START_BOUND).await?;
    let mut microsoft = fnwire_start(env, "http-python-azure-microsoft", &peer, &[])?;
    microsoft.wait_ready(path, Instant::now(), START_BOUND).await?;
    compare_http(
        env,
        "http-python-azure",
        (&fnwire, path),
        (&microsoft, path),
        "http-python-azure: the same unmodified azure.functions v2 app (the contract app's `text`), fnwire's \
         Python worker vs azure-functions-runtime 1.3.0, same interpreter, both under fnwire start; goal >= 5x",
    )
    .await
}

/// A virtualenv on the peer's interpreter with the fnwire wheel (built by
/// `bindings-python/scripts/test.sh`) and the peer's `azure-functions`.
fn fnwire_azure_python(env: &Env, peer_python: &Path) -> anyhow::Result<PathBuf> {
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
    let venv = env.work.join("python-azure-venv");
    let python = venv.join("bin").join("python");
    let marker = venv.join("installed-wheel");
    let stamp = format!("{} {:?} {AZURE_FUNCTIONS}", wheel.display(), std::fs::metadata(&wheel)?.modified()?);
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(stamp.as_str()) {
        eprintln!("preparing: virtualenv with {} and {AZURE_FUNCTIONS}", wheel.display());
        if !python.is_file() {
            run("creating a virtualenv", Command::new(peer_python).args(["-m", "venv"]).arg(&venv))?;
        }
        run(
            "installing the fnwire wheel and azure-functions",
            Command::new(venv.join("bin").join("pip"))
                .args(["install", "--quiet", "--disable-pip-version-check", "--force-reinstall"])
                .arg(&wheel)
                .arg(AZURE_FUNCTIONS),
        )?;
        std::fs::write(&marker, stamp)?;
    }
    Ok(python)
}

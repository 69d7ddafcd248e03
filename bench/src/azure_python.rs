//! `http-python-azure`: one unmodified `azure.functions` v2 app served by fnwire's Python worker
//! and by Microsoft's `azure-functions-runtime` (the azure-python conformance peer), both under
//! `fnwire start`, on the same interpreter and the same `azure-functions` version. The app is the
//! peer's contract app (`conformance/apps/azure-python` links to it). Goal: ≥ 5× requests/s.

use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::scenarios::{START_BOUND, compare_http, fnwire_start};
use crate::setup::{self, Env};
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
    setup::venv_with_fnwire_wheel(env, "python-azure-venv", peer_python, &[AZURE_FUNCTIONS])
}

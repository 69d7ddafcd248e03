//! `http-node-azure`: an unmodified `@azure/functions` v4 app on fnwire's Node worker, against a
//! plain `node:http` server computing the same answer (goal: at least 0.4×), and against the same
//! function on fnwire's own Node API (what the Azure library costs on top of it).
//! `npm run library-cost` in `bench/apps/azure-node` measures the library alone, without fnwire:
//! its time per call bounds what the row can reach on one JavaScript thread.

use std::path::PathBuf;
use std::time::Instant;

use crate::procs::free_port;
use crate::scenarios::{HELLO, START_BOUND, compare_http, fnwire_start, program};
use crate::setup::{self, Env};
use crate::stats::Row;

/// `bench/apps/azure-node`, if its packages are installed.
fn azure_app(env: &Env) -> anyhow::Result<PathBuf> {
    let app = env.root.join("bench/apps/azure-node");
    for package in ["fnwire/lib/worker.js", "@azure/functions/package.json"] {
        if !app.join("node_modules").join(package).is_file() {
            anyhow::bail!(
                "{} has no node_modules/{package}: run `npm install` in bench/apps/azure-node",
                app.display()
            );
        }
    }
    Ok(app)
}

pub async fn http_node_azure(env: &Env) -> anyhow::Result<Vec<Row>> {
    let native_app = setup::node_app(env)?;
    let app = azure_app(env)?;
    let mut azure = fnwire_start(env, "http-node-azure-fnwire", &app, &[])?;
    azure.wait_ready(HELLO, Instant::now(), START_BOUND).await?;
    let script = env.root.join("bench/baselines/plain_http.mjs").display().to_string();
    let mut plain = program(env, "http-node-azure-plain", "node", &[&script], free_port()?)?;
    plain.wait_ready(HELLO, Instant::now(), START_BOUND).await?;
    let mut rows = compare_http(
        env,
        "http-node-azure",
        (&azure, HELLO),
        (&plain, HELLO),
        "http-node-azure: fnwire start + an @azure/functions v4 app (bench/apps/azure-node) vs a plain node:http \
         server computing the same greeting; goal >= 0.4x",
    )
    .await?;
    drop(plain);
    let mut native = fnwire_start(env, "http-node-azure-native", &native_app, &[])?;
    native.wait_ready(HELLO, Instant::now(), START_BOUND).await?;
    rows.extend(
        compare_http(
            env,
            "http-node-azure-vs-native",
            (&azure, HELLO),
            (&native, HELLO),
            "http-node-azure-vs-native: the same v4 app vs hello-node on fnwire's own Node API, both under fnwire \
             start (below 1: what @azure/functions costs on fnwire)",
        )
        .await?,
    );
    Ok(rows)
}

//! The Durable Functions rows, all on `fnwire start` with the embedded store (the task hub is
//! SQLite next to the queues):
//!
//! * `durable-chain`: orchestrations/s of a 5-activity chain (`bench/apps/durable-rust`,
//!   `chain5`) against the same five steps as queue-trigger hops in the same app and host;
//! * `durable-fanout`: time to finish one orchestration that fans out to 1,000 activities,
//!   against the same 1,000 squares as queue messages through one queue trigger;
//! * `durable-python`: the 5-activity chain written with the official `azure-functions-durable`
//!   (`bench/apps/durable-python`) on fnwire's Python worker against Microsoft's
//!   `azure-functions-runtime` (the azure-python conformance peer), same interpreter.
//!
//! Orchestrations are started over the host's durable HTTP API (with the master key) and found
//! finished through the same API's instance queries, so the rows time what a user of the API
//! sees; queue work is started through the app's HTTP functions and counted in the store.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use fnwire_storage::Store;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;

use crate::procs::Served;
use crate::scenarios::{Pairs, START_BOUND, alternate, fnwire_start};
use crate::setup::{self, Env, run};
use crate::stats::{Better, Row};

/// The master key the bench gives the hosts it starts: the durable API accepts it.
const MASTER_KEY: &str = "fnwire-bench-durable-master-key";
/// The route every bench app answers 200 on once its worker is loaded.
const READY: &str = "/api/ready";
/// HTTP connections that start the work of a round (orchestrations or queue chains).
const STARTERS: usize = 16;
/// How often a round looks whether its work is done.
const POLL: Duration = Duration::from_millis(5);
/// Longest a round may take before the row fails (and says so).
const ROUND_BOUND: Duration = Duration::from_secs(120);
/// Activities of the fan-out row.
const FAN_OUT: i64 = 1_000;
/// Pins of the durable-python row: the peer's `azure-functions` and the official durable library.
const AZURE_FUNCTIONS: &str = "azure-functions==2.3.0";
const AZURE_FUNCTIONS_DURABLE: &str = "azure-functions-durable==1.7.0";
/// What the Microsoft side's virtualenv needs: the peer's pins (`conformance/peers/azure-python/
/// setup.sh`, without its build-time grpcio-tools) and the durable library.
const MICROSOFT_REQUIREMENTS: &[&str] = &[
    "azure-functions-runtime==1.3.0",
    AZURE_FUNCTIONS,
    "grpcio==1.70.0",
    "protobuf==5.29.3",
    AZURE_FUNCTIONS_DURABLE,
];

impl Env {
    /// Chains per round: enough that a round lasts well beyond the polling step.
    fn chains(&self) -> usize {
        if self.quick { 200 } else { 1_000 }
    }
}

/// One keep-alive HTTP/1.1 connection to a host.
struct Connection {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    driver: tokio::task::JoinHandle<()>,
    host: String,
}

impl Connection {
    async fn open(addr: SocketAddr) -> anyhow::Result<Connection> {
        let stream =
            tokio::net::TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
        stream.set_nodelay(true)?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        let driver = tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(Connection { sender, driver, host: addr.to_string() })
    }

    /// Sends one request; answers the status and the body.
    async fn send(&mut self, method: http::Method, path: &str, body: String) -> anyhow::Result<(u16, Bytes)> {
        let request = http::Request::builder()
            .method(method.clone())
            .uri(path)
            .header(http::header::HOST, &self.host)
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(body)))?;
        self.sender.ready().await.with_context(|| format!("{method} {path}: the connection closed"))?;
        let response = self.sender.send_request(request).await.with_context(|| format!("{method} {path}"))?;
        let status = response.status().as_u16();
        let body = response.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }

    async fn get_json(&mut self, path: &str) -> anyhow::Result<(u16, Value)> {
        let (status, body) = self.send(http::Method::GET, path, String::new()).await?;
        let value = serde_json::from_slice(&body).with_context(|| {
            format!(
                "GET {path} answered {status} with a body that is not JSON: {}",
                String::from_utf8_lossy(&body)
            )
        })?;
        Ok((status, value))
    }
}

impl Drop for Connection {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

/// Sends `count` POSTs over [`STARTERS`] connections (`request(n)` gives the path and body of
/// the n-th); each must answer `expected`. Answers the bodies, in no particular order.
async fn post_many(
    addr: SocketAddr,
    count: usize,
    expected: u16,
    request: impl Fn(usize) -> (String, String) + Send + Sync + 'static,
) -> anyhow::Result<Vec<Bytes>> {
    let request = Arc::new(request);
    let issued = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..STARTERS.min(count))
        .map(|_| {
            let request = request.clone();
            let issued = issued.clone();
            tokio::spawn(async move {
                let mut connection = Connection::open(addr).await?;
                let mut bodies = Vec::new();
                loop {
                    let n = issued.fetch_add(1, Ordering::Relaxed);
                    if n >= count {
                        return anyhow::Ok(bodies);
                    }
                    let (path, body) = request(n);
                    let (status, answer) = connection.send(http::Method::POST, &path, body).await?;
                    if status != expected {
                        anyhow::bail!(
                            "POST {path} answered {status} (expected {expected}): {}",
                            String::from_utf8_lossy(&answer)
                        );
                    }
                    bodies.push(answer);
                }
            })
        })
        .collect();
    let mut bodies = Vec::with_capacity(count);
    for task in tasks {
        bodies.extend(task.await.context("a starting task panicked")??);
    }
    Ok(bodies)
}

/// A path of the durable HTTP API, with the master key.
fn api(path: &str) -> String {
    let separator = if path.contains('?') { '&' } else { '?' };
    format!("/runtime/webhooks/durabletask/{path}{separator}code={MASTER_KEY}")
}

/// Waits until the host has no Pending or Running instance, then checks that none failed.
async fn wait_all_finished(served: &Served, since: Instant) -> anyhow::Result<()> {
    let mut connection = Connection::open(served.addr).await?;
    let unfinished = api("instances?runtimeStatus=Pending,Running&top=1");
    loop {
        let (status, list) = connection.get_json(&unfinished).await?;
        if status != 200 {
            anyhow::bail!("GET {unfinished} answered {status}: {list}");
        }
        if list.as_array().is_some_and(Vec::is_empty) {
            break;
        }
        if since.elapsed() > ROUND_BOUND {
            anyhow::bail!(
                "{}: orchestrations still running after {ROUND_BOUND:?} (one: {list}); {}",
                served.name,
                served.log_tail()
            );
        }
        tokio::time::sleep(POLL).await;
    }
    let failed = api("instances?runtimeStatus=Failed,Terminated&top=1");
    let (_, list) = connection.get_json(&failed).await?;
    if !list.as_array().is_some_and(Vec::is_empty) {
        anyhow::bail!("{}: an orchestration did not complete: {list}; {}", served.name, served.log_tail());
    }
    Ok(())
}

/// How a start request carries the orchestration's input.
#[derive(Debug, Clone, Copy)]
enum Input {
    /// The input's JSON as the body (what `curl -d '"Tokyo"'` sends).
    Plain,
    /// The input's JSON text as a JSON string, as `azure-functions-durable`'s client posts it
    /// (`json.dumps`, then the HTTP client's JSON encoding): fnwire hands the Python library
    /// the stored body parsed once, and its `get_input()` parses that again.
    AsPythonClient,
}

impl Input {
    fn body(self, value: &str) -> String {
        let json = Value::from(value).to_string();
        match self {
            Input::Plain => json,
            Input::AsPythonClient => Value::from(json).to_string(),
        }
    }
}

/// The instance id in a start's check-status answer.
fn instance_id(answer: &[u8]) -> anyhow::Result<String> {
    let value: Value = serde_json::from_slice(answer)?;
    value["id"].as_str().map(str::to_string).with_context(|| format!("no `id` in the start's answer {value}"))
}

/// Starts `count` `chain5` orchestrations and waits for all of them; answers orchestrations/s.
/// The output of one is checked: five steps appended five marks.
async fn chain_round(served: &Served, count: usize, input: Input) -> anyhow::Result<f64> {
    let started = Instant::now();
    let answers = post_many(served.addr, count, 202, move |n| {
        (api("orchestrators/chain5"), input.body(&format!("chain {n}")))
    })
    .await?;
    wait_all_finished(served, started).await?;
    let rate = count as f64 / started.elapsed().as_secs_f64();
    let id = instance_id(answers.first().context("no orchestration was started")?)?;
    let (_, status) = Connection::open(served.addr).await?.get_json(&api(&format!("instances/{id}"))).await?;
    let output = status["output"].as_str().unwrap_or_default();
    if !output.ends_with(".....") || output.ends_with("......") {
        anyhow::bail!(
            "{}: chain5 {id} ended with {status}, not its input plus five steps' marks",
            served.name
        );
    }
    Ok(rate)
}

/// Starts `count` queue chains through `POST /api/hops` and waits until all reach `chain-done`;
/// answers chains/s.
async fn hops_round(served: &Served, store: &Store, count: usize) -> anyhow::Result<f64> {
    let before = store.message_count("chain-done")? as usize;
    let started = Instant::now();
    post_many(served.addr, count, 202, move |n| ("/api/hops".to_string(), format!("chain {n}"))).await?;
    loop {
        let done = store.message_count("chain-done")? as usize - before;
        if done >= count {
            break;
        }
        if started.elapsed() > ROUND_BOUND {
            anyhow::bail!(
                "{}: {done} of {count} queue chains done after {ROUND_BOUND:?}; {}",
                served.name,
                served.log_tail()
            );
        }
        tokio::time::sleep(POLL).await;
    }
    Ok(count as f64 / started.elapsed().as_secs_f64())
}

/// A new store folder per run under `<work>/<name>`: like the queue row's, kept afterwards and
/// removed after a day (deleting many files at once slows file creation on some file systems).
fn run_stores(env: &Env, name: &str) -> PathBuf {
    let root = env.work.join(name);
    crate::scenarios::prune_older_than(&root, Duration::from_secs(24 * 3600));
    root.join(format!("run-{}-{}", std::process::id(), crate::scenarios::unix_seconds()))
}

/// `fnwire start` on `app` with its own store folder and the bench's master key.
async fn start_host(
    env: &Env,
    name: &str,
    app: &Path,
    storage: &Path,
    extra_env: &[(&str, &str)],
) -> anyhow::Result<Served> {
    std::fs::create_dir_all(storage)?;
    let storage = storage.display().to_string();
    let mut vars = vec![("FNWIRE_STORAGE_DIR", storage.as_str()), ("FNWIRE_MASTER_KEY", MASTER_KEY)];
    vars.extend_from_slice(extra_env);
    let mut served = fnwire_start(env, name, app, &vars)?;
    served.wait_ready(READY, Instant::now(), START_BOUND).await?;
    Ok(served)
}

/// `fnwire pack bench/apps/durable-rust` (a release build of the app).
fn packed_rust_app(env: &Env) -> anyhow::Result<PathBuf> {
    let out = env.work.join("bench-durable-rust");
    eprintln!("preparing: fnwire pack bench/apps/durable-rust");
    run(
        "packing bench/apps/durable-rust",
        Command::new(env.fnwire())
            .arg("pack")
            .arg(env.root.join("bench/apps/durable-rust"))
            .arg("--out")
            .arg(&out)
            .current_dir(&env.root),
    )?;
    Ok(out)
}

/// Runs both sides alternately (as [`alternate`] does) and keeps each round's figure under `key`,
/// on fnwire's side or the baseline's.
pub(crate) async fn measure_alternately<A, B, FA, FB>(
    rounds: usize,
    key: &'static str,
    mut fnwire_side: A,
    mut baseline_side: B,
) -> anyhow::Result<Pairs>
where
    A: FnMut() -> FA,
    B: FnMut() -> FB,
    FA: std::future::Future<Output = anyhow::Result<f64>>,
    FB: std::future::Future<Output = anyhow::Result<f64>>,
{
    let pairs = std::sync::Mutex::new(Pairs::default());
    let record = |is_fnwire: bool, value: f64| {
        pairs.lock().unwrap_or_else(|e| e.into_inner()).push(is_fnwire, key, value);
    };
    alternate(
        rounds,
        || {
            let (measured, record) = (fnwire_side(), &record);
            async move {
                record(true, measured.await?);
                Ok(())
            }
        },
        || {
            let (measured, record) = (baseline_side(), &record);
            async move {
                record(false, measured.await?);
                Ok(())
            }
        },
    )
    .await?;
    Ok(pairs.into_inner().unwrap_or_else(|e| e.into_inner()))
}

pub async fn durable_chain(env: &Env) -> anyhow::Result<Vec<Row>> {
    let app = packed_rust_app(env)?;
    let storage = run_stores(env, "durable-stores");
    let served = start_host(env, "durable-chain", &app, &storage, &[]).await?;
    let store = Store::open(&storage)?;
    let count = env.chains();
    // Warm up both paths (and check that both work) before anything is timed.
    chain_round(&served, STARTERS, Input::Plain).await?;
    hops_round(&served, &store, STARTERS).await?;
    let pairs = measure_alternately(
        env.rounds(),
        "rate",
        || chain_round(&served, count, Input::Plain),
        || hops_round(&served, &store, count),
    )
    .await?;
    Ok(vec![pairs.row("durable-chain", "rate", "chains/s", Better::Higher).with_note(format!(
        "durable-chain: {count} orchestrations per round of 5 activities in a row (bench/apps/durable-rust `chain5`), \
         started over the durable HTTP API by {STARTERS} connections, timed until the API lists none running; \
         baseline: the same 5 steps as queue-trigger hops in the same host and store, started by an HTTP function; goal >= 0.5x"
    ))])
}

pub async fn durable_fanout(env: &Env) -> anyhow::Result<Vec<Row>> {
    let app = packed_rust_app(env)?;
    let storage = run_stores(env, "durable-stores");
    let served = start_host(env, "durable-fanout", &app, &storage, &[]).await?;
    let store = Store::open(&storage)?;
    // Warm up both paths on a small fan.
    fan_out_once(&served, 10).await?;
    fan_queue_once(&served, &store, 10).await?;
    let pairs = measure_alternately(
        env.rounds(),
        "s",
        || fan_out_once(&served, FAN_OUT),
        || fan_queue_once(&served, &store, FAN_OUT),
    )
    .await?;
    Ok(vec![pairs.row("durable-fanout", "s", "s to completion", Better::Lower).with_note(format!(
        "durable-fanout: one orchestration (bench/apps/durable-rust `fan_out`) calling {FAN_OUT} activities at once and \
         summing them, from the API's start to its Completed status; baseline: the same {FAN_OUT} squares as queue \
         messages (one HTTP function puts them, one queue trigger answers each), until all are answered; goal < 2 s"
    ))])
}

/// One `fan_out` over `count` activities: seconds from the start to Completed, output checked.
async fn fan_out_once(served: &Served, count: i64) -> anyhow::Result<f64> {
    let started = Instant::now();
    let answers =
        post_many(served.addr, 1, 202, move |_| (api("orchestrators/fan_out"), count.to_string())).await?;
    let id = instance_id(&answers[0])?;
    let mut connection = Connection::open(served.addr).await?;
    let path = api(&format!("instances/{id}"));
    loop {
        let (status, body) = connection.get_json(&path).await?;
        if status == 200 {
            let seconds = started.elapsed().as_secs_f64();
            let expected: i64 = (0..count).map(|n| n * n).sum();
            if body["runtimeStatus"] != "Completed" || body["output"] != expected {
                anyhow::bail!(
                    "{}: fan_out {id} ended with {body}, not Completed with {expected}",
                    served.name
                );
            }
            return Ok(seconds);
        }
        if started.elapsed() > ROUND_BOUND {
            anyhow::bail!(
                "{}: fan_out {id} not done after {ROUND_BOUND:?}: {body}; {}",
                served.name,
                served.log_tail()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// `count` squares through the queue trigger: seconds from `POST /api/fan` until all answered.
async fn fan_queue_once(served: &Served, store: &Store, count: i64) -> anyhow::Result<f64> {
    let before = store.message_count("fan-done")?;
    let started = Instant::now();
    post_many(served.addr, 1, 202, move |_| ("/api/fan".to_string(), count.to_string())).await?;
    loop {
        let done = store.message_count("fan-done")? - before;
        if done >= count as u64 {
            return Ok(started.elapsed().as_secs_f64());
        }
        if started.elapsed() > ROUND_BOUND {
            anyhow::bail!(
                "{}: {done} of {count} squares answered after {ROUND_BOUND:?}; {}",
                served.name,
                served.log_tail()
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

pub async fn durable_python(env: &Env) -> anyhow::Result<Vec<Row>> {
    let peer = setup::azure_python_peer(env)?;
    let peer_python = peer.join(".venv/bin/python");
    let fnwire_python = setup::venv_with_fnwire_wheel(
        env,
        "python-durable-venv",
        &peer_python,
        &[AZURE_FUNCTIONS, AZURE_FUNCTIONS_DURABLE],
    )?
    .display()
    .to_string();
    let microsoft_app = microsoft_python_app(env, &peer, &peer_python)?;
    let storage = run_stores(env, "durable-python-stores");
    let fnwire = start_host(
        env,
        "durable-python-fnwire",
        &env.root.join("bench/apps/durable-python"),
        &storage.join("fnwire"),
        &[("FNWIRE_PYTHON", &fnwire_python)],
    )
    .await?;
    let microsoft =
        start_host(env, "durable-python-microsoft", &microsoft_app, &storage.join("microsoft"), &[]).await?;
    let count = env.chains() / 2;
    chain_round(&fnwire, STARTERS, Input::AsPythonClient).await?;
    chain_round(&microsoft, STARTERS, Input::AsPythonClient).await?;
    let pairs = measure_alternately(
        env.rounds(),
        "rate",
        || chain_round(&fnwire, count, Input::AsPythonClient),
        || chain_round(&microsoft, count, Input::AsPythonClient),
    )
    .await?;
    Ok(vec![pairs.row("durable-python", "rate", "chains/s", Better::Higher).with_note(format!(
        "durable-python: {count} orchestrations per round of the 5-activity chain written with {AZURE_FUNCTIONS_DURABLE} \
         (bench/apps/durable-python), fnwire's Python worker vs azure-functions-runtime 1.3.0, same interpreter, both \
         under fnwire start, started and watched over the durable HTTP API; goal >= 3x"
    ))])
}

/// `bench/apps/durable-python` as an app that Microsoft's runtime serves: the app's files plus a
/// `worker.config.json` running the azure-python peer's gRPC shell on a virtualenv (the peer's
/// interpreter and pins, plus the durable library).
fn microsoft_python_app(env: &Env, peer: &Path, peer_python: &Path) -> anyhow::Result<PathBuf> {
    let python = virtualenv(env, "python-durable-azure-venv", peer_python, MICROSOFT_REQUIREMENTS)?;
    let app = env.work.join("durable-python-microsoft");
    std::fs::create_dir_all(&app)?;
    let source = env.root.join("bench/apps/durable-python");
    for file in ["function_app.py", "host.json"] {
        std::fs::copy(source.join(file), app.join(file))
            .with_context(|| format!("copying {file} from {}", source.display()))?;
    }
    let config = serde_json::json!({
        "description": {
            "language": "python",
            "extensions": [".py"],
            "defaultExecutablePath": python.display().to_string(),
            "defaultWorkerPath": peer.join("worker_shell.py").display().to_string(),
            "arguments": [],
            "workerIndexing": "true"
        }
    });
    std::fs::write(app.join("worker.config.json"), serde_json::to_string_pretty(&config)?)?;
    Ok(app)
}

/// A virtualenv `<work>/<name>` made by `interpreter` with `requirements` from PyPI; reinstalled
/// only when the requirements change.
fn virtualenv(env: &Env, name: &str, interpreter: &Path, requirements: &[&str]) -> anyhow::Result<PathBuf> {
    let venv = env.work.join(name);
    let python = venv.join("bin").join("python");
    let marker = venv.join("installed-requirements");
    let stamp = format!("{requirements:?}");
    if std::fs::read_to_string(&marker).ok().as_deref() != Some(stamp.as_str()) {
        eprintln!("preparing: virtualenv {name} with {}", requirements.join(" "));
        if !python.is_file() {
            run("creating a virtualenv", Command::new(interpreter).args(["-m", "venv"]).arg(&venv))?;
        }
        run(
            "installing the durable row's Python packages",
            Command::new(venv.join("bin").join("pip"))
                .args(["install", "--quiet", "--disable-pip-version-check"])
                .args(requirements),
        )?;
        std::fs::write(&marker, stamp)?;
    }
    Ok(python)
}

//! The scenarios. Each measures fnwire and its baseline in the same run, alternating which goes
//! first, and reports medians over the rounds.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use fnwire_host::app::{DetectOptions, detect};
use fnwire_host::grpc::GrpcServer;
use fnwire_host::http::request::{HttpCapabilities, RequestParts, invocation_request};
use fnwire_host::lifecycle::{LifecycleOptions, start_and_load};
use fnwire_protocol::rpc::streaming_message::Content;
use fnwire_protocol::rpc::{InvocationRequest, InvocationResponse, StreamingMessage};
use fnwire_storage::{MessageBody, QueueStore, Store};
use prost::Message;
use tokio::sync::oneshot;

use crate::load::{Budget, LoadResult, closed_loop, http_get};
use crate::peers::Recorded;
use crate::procs::{Served, cpu_seconds, free_port};
use crate::setup::{self, Env};
use crate::stats::{Better, Row, median};

/// The scenario names, in run order.
pub const ALL: &[&str] = &[
    "hop",
    "http-rust",
    "http-large",
    "http-python",
    "http-python-async",
    "http-python-azure",
    "http-node",
    "http-node-azure",
    "queue",
    "blob-trigger",
    "queue-postgres",
    "queue-postgres-scale",
    "cold-start-rust",
    "cold-start-python",
    "cold-start-node",
    "rss-after-load",
    "durable-chain",
    "durable-fanout",
    "durable-python",
    "topic-fanout",
    "rabbitmq",
];

/// HTTP concurrency (connections) of the `http-*` scenarios.
pub const HTTP_CONNECTIONS: usize = 64;

impl Env {
    pub(crate) fn rounds(&self) -> usize {
        if self.quick { 3 } else { 5 }
    }

    fn budget(&self, concurrency: usize) -> Budget {
        let (max_time, max_requests) = if self.quick {
            (Duration::from_millis(1500), 200_000)
        } else {
            (Duration::from_secs(5), 2_000_000)
        };
        Budget { concurrency, max_requests, max_time }
    }
}

fn addr(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

pub(crate) fn fnwire_start(
    env: &Env,
    name: &str,
    app: &Path,
    extra_env: &[(&str, &str)],
) -> anyhow::Result<Served> {
    let port = free_port()?;
    let mut command = Command::new(env.fnwire());
    command.arg("start").arg(app).arg("--port").arg(port.to_string()).current_dir(&env.root);
    for (k, v) in extra_env {
        command.env(k, v);
    }
    Served::spawn(name, command, addr(port), &env.log(name))
}

pub(crate) fn program(
    env: &Env,
    name: &str,
    program: &str,
    args: &[&str],
    port: u16,
) -> anyhow::Result<Served> {
    let mut command = Command::new(program);
    command.args(args).arg(port.to_string()).current_dir(&env.root);
    Served::spawn(name, command, addr(port), &env.log(name))
}

/// The bench's own plain hyper server answering with `recorded`.
fn plain_hyper(env: &Env, name: &str, recorded: &Recorded) -> anyhow::Result<Served> {
    let file = env.work.join(format!("{name}.response.json"));
    std::fs::write(&file, serde_json::to_string(recorded)?)?;
    let port = free_port()?;
    let mut command = Command::new(std::env::current_exe()?);
    command.arg("plain-http").arg(port.to_string()).arg(&file);
    Served::spawn(name, command, addr(port), &env.log(name))
}

/// Medians of one figure over rounds, for fnwire and its baseline.
#[derive(Default)]
pub(crate) struct Pairs {
    fnwire: BTreeMap<&'static str, Vec<f64>>,
    baseline: BTreeMap<&'static str, Vec<f64>>,
}

impl Pairs {
    pub(crate) fn push(&mut self, fnwire: bool, key: &'static str, value: f64) {
        let side = if fnwire { &mut self.fnwire } else { &mut self.baseline };
        side.entry(key).or_default().push(value);
    }

    pub(crate) fn row(&self, scenario: &str, key: &'static str, unit: &str, better: Better) -> Row {
        let m = |side: &BTreeMap<&str, Vec<f64>>| median(side.get(key).map(Vec::as_slice).unwrap_or(&[]));
        Row::measured(scenario, m(&self.fnwire), m(&self.baseline), unit, better)
    }

    fn push_load(
        &mut self,
        fnwire: bool,
        throughput: &'static str,
        p50: &'static str,
        p99: &'static str,
        r: &LoadResult,
    ) {
        self.push(fnwire, throughput, r.per_second());
        self.push(fnwire, p50, r.p_ms(50.0));
        self.push(fnwire, p99, r.p_ms(99.0));
    }
}

/// Runs `fnwire_side` and `baseline_side` alternately (fnwire first in even rounds).
pub(crate) async fn alternate<A, B, FA, FB>(
    rounds: usize,
    mut fnwire_side: A,
    mut baseline_side: B,
) -> anyhow::Result<()>
where
    A: FnMut() -> FA,
    B: FnMut() -> FB,
    FA: Future<Output = anyhow::Result<()>>,
    FB: Future<Output = anyhow::Result<()>>,
{
    for round in 0..rounds {
        if round % 2 == 0 {
            fnwire_side().await?;
            baseline_side().await?;
        } else {
            baseline_side().await?;
            fnwire_side().await?;
        }
    }
    Ok(())
}

fn invocation_id(n: usize) -> String {
    // Same length as the UUIDs the host sends.
    format!("00000000-0000-4000-8000-{n:012x}")
}

/// CPU time of two processes over one round.
struct CpuMeter {
    caller: u32,
    peer: u32,
    at_start: (f64, f64),
}

/// CPU microseconds per call of each side of a round.
struct CpuPerCall {
    caller_us: f64,
    peer_us: f64,
}

impl CpuMeter {
    fn start(caller: u32, peer: u32) -> Self {
        CpuMeter { caller, peer, at_start: (cpu_seconds(caller), cpu_seconds(peer)) }
    }

    fn per_call(&self, calls: usize) -> CpuPerCall {
        let per_call = |now: f64, then: f64| (now - then) * 1e6 / calls.max(1) as f64;
        CpuPerCall {
            caller_us: per_call(cpu_seconds(self.caller), self.at_start.0),
            peer_us: per_call(cpu_seconds(self.peer), self.at_start.1),
        }
    }
}

/// `stream-limit` vs `hop`: the host core (`WorkerChannel`) driving the real hello-rust worker,
/// against a raw tonic bidi stream echoing the same recorded messages.
pub async fn hop(env: &Env) -> anyhow::Result<Vec<Row>> {
    let server = GrpcServer::start().await?;
    let launch = detect(&env.rust_app(), DetectOptions::default()).await?.launch;
    let (worker, functions) = start_and_load(&server, &launch, &LifecycleOptions::default()).await?;
    let hello = functions
        .iter()
        .find(|f| f.metadata.name == "hello")
        .context("hello-rust has no `hello` function")?;
    let trigger = hello
        .metadata
        .bindings
        .iter()
        .find(|b| b.binding_type == "httpTrigger")
        .map(|b| b.name.clone())
        .context("`hello` has no httpTrigger binding")?;
    let uri: http::Uri = "http://localhost:7071/api/hello?name=bench".parse()?;
    let mut headers = http::HeaderMap::new();
    headers.insert(http::header::HOST, http::HeaderValue::from_static("localhost:7071"));
    headers.insert(http::header::USER_AGENT, http::HeaderValue::from_static("fnwire-bench"));
    let body = Bytes::new();
    let params = BTreeMap::new();
    let parts = RequestParts {
        method: &http::Method::GET,
        uri: &uri,
        headers: &headers,
        body: &body,
        params: &params,
    };
    let caps = HttpCapabilities::from_capabilities(&worker.channel.capabilities());
    let template =
        Arc::new(invocation_request(&invocation_id(0), &hello.function_id, &trigger, &parts, caps));
    // `secret` is a plain (blocking) `fn` taking the same request: the cost of the blocking pool.
    let secret = functions
        .iter()
        .find(|f| f.metadata.name == "secret")
        .context("hello-rust has no `secret` function")?;
    let sync_template =
        Arc::new(InvocationRequest { function_id: secret.function_id.clone(), ..(*template).clone() });
    check_success(&worker.channel.invoke("secret", (*sync_template).clone()).await?)?;

    // The worker's real answer is what the echo peer sends back.
    let response = worker.channel.invoke("hello", (*template).clone()).await?;
    check_success(&response)?;
    let response_file = env.work.join("hop.response.bin");
    std::fs::write(
        &response_file,
        StreamingMessage { request_id: String::new(), content: Some(Content::InvocationResponse(response)) }
            .encode_to_vec(),
    )?;
    let peer_id = "fnwire-bench-echo-peer";
    let pending = server.expect_worker(peer_id);
    let mut peer_command = Command::new(std::env::current_exe()?);
    peer_command.arg("echo-peer").arg(server.uri()).arg(peer_id).arg(&response_file);
    let peer = Served::spawn("echo-peer", peer_command, addr(0), &env.log("echo-peer"))?;
    // CPU per invocation of each process, to show which side bounds a run: this process (the
    // host core's caller, or the raw stream's), and the worker or the echo peer.
    let bench_pid = std::process::id();
    let worker_pid = worker.process.pid().context("the worker process has no pid")?;
    let peer_pid = peer.child.id();
    let connection = tokio::time::timeout(Duration::from_secs(30), pending.connected())
        .await
        .context("the echo peer did not connect within 30 s")?
        .context("the gRPC server stopped")?;
    let waiting: Arc<Mutex<HashMap<String, oneshot::Sender<InvocationResponse>>>> = Arc::default();
    let mut inbound = connection.inbound;
    let dispatch = waiting.clone();
    tokio::spawn(async move {
        while let Ok(Some(msg)) = inbound.message().await {
            if let Some(Content::InvocationResponse(r)) = msg.content
                && let Some(tx) = dispatch.lock().unwrap_or_else(|e| e.into_inner()).remove(&r.invocation_id)
            {
                let _ = tx.send(r);
            }
        }
    });
    let outbound = connection.outbound;

    let mut pairs = Pairs::default();
    let runs = [
        (1, "hello", &template, ["@1", "@1:p50", "@1:p99"]),
        (64, "hello", &template, ["@64", "@64:p50", "@64:p99"]),
        (64, "secret", &sync_template, ["sync@64", "sync@64:p50", "sync@64:p99"]),
    ];
    for (concurrency, function, fnwire_template, keys) in runs {
        let budget = env.budget(concurrency);
        let results: Mutex<Vec<(bool, LoadResult, CpuPerCall)>> = Mutex::default();
        alternate(
            env.rounds(),
            || async {
                let cpu = CpuMeter::start(bench_pid, worker_pid);
                let channel = worker.channel.clone();
                let template = fnwire_template.clone();
                let r = closed_loop(budget, move |n| {
                    let channel = channel.clone();
                    let mut request: InvocationRequest = (*template).clone();
                    request.invocation_id = invocation_id(n + 1);
                    async move { check_success(&channel.invoke(function, request).await?) }
                })
                .await
                .check("hop")?;
                let cpu = cpu.per_call(r.completed);
                results.lock().unwrap_or_else(|e| e.into_inner()).push((true, r, cpu));
                Ok(())
            },
            || async {
                let cpu = CpuMeter::start(bench_pid, peer_pid);
                let waiting = waiting.clone();
                let outbound = outbound.clone();
                let template = template.clone();
                let r = closed_loop(budget, move |n| {
                    let mut request: InvocationRequest = (*template).clone();
                    request.invocation_id = invocation_id(n + 1);
                    let (tx, rx) = oneshot::channel();
                    waiting
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .insert(request.invocation_id.clone(), tx);
                    let sent = outbound.send(StreamingMessage {
                        request_id: String::new(),
                        content: Some(Content::InvocationRequest(request)),
                    });
                    async move {
                        sent.map_err(|_| anyhow::anyhow!("the echo peer's stream is closed"))?;
                        check_success(&rx.await.context("the echo peer's stream closed")?)
                    }
                })
                .await
                .check("stream-limit")?;
                let cpu = cpu.per_call(r.completed);
                results.lock().unwrap_or_else(|e| e.into_inner()).push((false, r, cpu));
                Ok(())
            },
        )
        .await?;
        for (is_fnwire, r, cpu) in results.into_inner().unwrap_or_else(|e| e.into_inner()) {
            pairs.push_load(is_fnwire, keys[0], keys[1], keys[2], &r);
            if concurrency == 64 && function == "hello" {
                pairs.push(is_fnwire, "@64:caller-cpu", cpu.caller_us);
                pairs.push(is_fnwire, "@64:peer-cpu", cpu.peer_us);
            }
        }
    }
    let note = "hop: host core WorkerChannel + hello-rust worker process; baseline stream-limit: raw tonic bidi echo of the same messages";
    let mut rows = vec![pairs.row("hop", "@64", "invocations/s", Better::Higher).with_note(note)];
    rows.push(pairs.row("hop:p50", "@64:p50", "ms", Better::Lower));
    rows.push(pairs.row("hop:p99", "@64:p99", "ms", Better::Lower));
    rows.push(pairs.row("hop:caller-cpu", "@64:caller-cpu", "µs CPU/invocation", Better::Lower).with_note(
        "hop:caller-cpu: CPU per invocation of the bench process at 64 in flight: the host core (WorkerChannel) vs the raw stream",
    ));
    rows.push(pairs.row("hop:peer-cpu", "@64:peer-cpu", "µs CPU/invocation", Better::Lower).with_note(
        "hop:peer-cpu: CPU per invocation of the other process at 64 in flight: the hello-rust worker vs the echo peer",
    ));
    rows.push(pairs.row("hop@1", "@1", "invocations/s", Better::Higher));
    rows.push(pairs.row("hop@1:p50", "@1:p50", "ms", Better::Lower));
    rows.push(pairs.row("hop@1:p99", "@1:p99", "ms", Better::Lower));
    rows.push(pairs.row("hop-sync", "sync@64", "invocations/s", Better::Higher).with_note(
        "hop-sync: as hop (64 in flight), but to `secret`, a plain `fn` that the worker runs on its blocking pool",
    ));
    rows.push(pairs.row("hop-sync:p99", "sync@64:p99", "ms", Better::Lower));
    drop(worker);
    Ok(rows)
}

fn check_success(response: &InvocationResponse) -> anyhow::Result<()> {
    match &response.result {
        Some(s) if s.status == 1 => Ok(()),
        other => anyhow::bail!("invocation {} did not succeed: {other:?}", response.invocation_id),
    }
}

/// Loads two HTTP servers alternately with `HTTP_CONNECTIONS` keep-alive connections.
pub(crate) async fn compare_http(
    env: &Env,
    scenario: &str,
    fnwire: (&Served, &str),
    baseline: (&Served, &str),
    note: &str,
) -> anyhow::Result<Vec<Row>> {
    let budget = env.budget(HTTP_CONNECTIONS);
    // Warm both up (connections, caches, lazy imports).
    let warm = Budget { concurrency: 8, max_requests: 200, max_time: Duration::from_secs(10) };
    http_get(fnwire.0.addr, fnwire.1, warm).await.check(scenario)?;
    http_get(baseline.0.addr, baseline.1, warm).await.check(scenario)?;
    let results: Mutex<Vec<(bool, LoadResult)>> = Mutex::default();
    alternate(
        env.rounds(),
        || async {
            let r = http_get(fnwire.0.addr, fnwire.1, budget).await.check(&format!("{scenario} (fnwire)"))?;
            results.lock().unwrap_or_else(|e| e.into_inner()).push((true, r));
            Ok(())
        },
        || async {
            let r = http_get(baseline.0.addr, baseline.1, budget)
                .await
                .check(&format!("{scenario} (baseline)"))?;
            results.lock().unwrap_or_else(|e| e.into_inner()).push((false, r));
            Ok(())
        },
    )
    .await?;
    let mut pairs = Pairs::default();
    for (is_fnwire, r) in results.into_inner().unwrap_or_else(|e| e.into_inner()) {
        pairs.push_load(is_fnwire, "rps", "p50", "p99", &r);
    }
    Ok(vec![
        pairs.row(scenario, "rps", "requests/s", Better::Higher).with_note(note),
        pairs.row(&format!("{scenario}:p99"), "p99", "ms", Better::Lower),
    ])
}

/// Records fnwire's answer so a plain server can send the same bytes.
async fn record(served: &Served, path: &str) -> anyhow::Result<Recorded> {
    let (status, body, headers) = crate::load::get_once(served.addr, path).await?;
    let skip = ["content-length", "date", "transfer-encoding", "connection"];
    Ok(Recorded {
        status,
        headers: headers
            .iter()
            .filter(|(k, _)| !skip.contains(&k.as_str()))
            .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

pub(crate) const START_BOUND: Duration = Duration::from_secs(60);
pub(crate) const HELLO: &str = "/api/hello?name=bench";

/// `fnwire start` on packed hello-rust, and the bench's plain hyper server answering with the
/// bytes fnwire answered `HELLO` with; both ready. Processes are named `<scenario>-fnwire` and
/// `<scenario>-plain`.
pub(crate) async fn hello_rust_and_plain_server(
    env: &Env,
    scenario: &str,
) -> anyhow::Result<(Served, Served)> {
    let mut fnwire = fnwire_start(env, &format!("{scenario}-fnwire"), &env.rust_app(), &[])?;
    fnwire.wait_ready(HELLO, Instant::now(), START_BOUND).await?;
    let recorded = record(&fnwire, HELLO).await?;
    let mut plain = plain_hyper(env, &format!("{scenario}-plain"), &recorded)?;
    plain.wait_ready(HELLO, Instant::now(), START_BOUND).await?;
    Ok((fnwire, plain))
}

pub async fn http_rust(env: &Env) -> anyhow::Result<Vec<Row>> {
    let (fnwire, plain) = hello_rust_and_plain_server(env, "http-rust").await?;
    compare_http(
        env,
        "http-rust",
        (&fnwire, HELLO),
        (&plain, HELLO),
        "http-rust: fnwire start + hello-rust vs a plain hyper server sending the same response bytes",
    )
    .await
}

/// Connections of `http-large`: a few large bodies in flight keep both sides busy and memory
/// bounded (4 × 16 MiB each way).
const LARGE_CONNECTIONS: usize = 4;
/// The body sizes `http-large` echoes, with their row names.
const LARGE_SIZES: [(usize, &str); 2] = [(1024 * 1024, "http-large"), (16 * 1024 * 1024, "http-large:16MB")];
const MIRROR: &str = "/api/mirror";

/// `len` bytes that are not all alike (so nothing along the way can shortcut them).
pub(crate) fn large_body(len: usize) -> Bytes {
    (0..len).map(|i| (i % 251) as u8).collect::<Vec<u8>>().into()
}

/// `http-large`: 1 MiB and 16 MiB bodies echoed by hello-rust's `mirror` under `fnwire start`,
/// against a plain hyper server echoing them, in MB of body per second.
pub async fn http_large(env: &Env) -> anyhow::Result<Vec<Row>> {
    let mut fnwire = fnwire_start(env, "http-large-fnwire", &env.rust_app(), &[])?;
    fnwire.wait_ready(HELLO, Instant::now(), START_BOUND).await?;
    let port = free_port()?;
    let mut command = Command::new(std::env::current_exe()?);
    command.arg("plain-echo").arg(port.to_string());
    let mut plain = Served::spawn("http-large-plain", command, addr(port), &env.log("http-large-plain"))?;
    plain.wait_ready(HELLO, Instant::now(), START_BOUND).await?;
    let mut rows = Vec::new();
    for (size, row) in LARGE_SIZES {
        let body = large_body(size);
        let (max_time, max_requests) =
            if env.quick { (Duration::from_millis(1500), 2_000) } else { (Duration::from_secs(5), 20_000) };
        let budget = Budget { concurrency: LARGE_CONNECTIONS, max_requests, max_time };
        let warm =
            Budget { concurrency: LARGE_CONNECTIONS, max_requests: 8, max_time: Duration::from_secs(60) };
        crate::load::http_post(fnwire.addr, MIRROR, body.clone(), warm).await.check(row)?;
        crate::load::http_post(plain.addr, MIRROR, body.clone(), warm).await.check(row)?;
        let mb_per_s =
            |r: &LoadResult| r.completed as f64 * size as f64 / 1e6 / r.elapsed.as_secs_f64().max(1e-9);
        let pairs: Mutex<Pairs> = Mutex::default();
        alternate(
            env.rounds(),
            || async {
                let r = crate::load::http_post(fnwire.addr, MIRROR, body.clone(), budget).await.check(row)?;
                pairs.lock().unwrap_or_else(|e| e.into_inner()).push(true, "mbps", mb_per_s(&r));
                Ok(())
            },
            || async {
                let r = crate::load::http_post(plain.addr, MIRROR, body.clone(), budget).await.check(row)?;
                pairs.lock().unwrap_or_else(|e| e.into_inner()).push(false, "mbps", mb_per_s(&r));
                Ok(())
            },
        )
        .await?;
        let pairs = pairs.into_inner().unwrap_or_else(|e| e.into_inner());
        rows.push(pairs.row(row, "mbps", "MB/s echoed", Better::Higher));
    }
    if let Some(first) = rows.first_mut() {
        *first = first.clone().with_note(
            "http-large: 1 MiB and 16 MiB POST bodies echoed by hello-rust's `mirror` (fnwire start) vs a plain hyper server echoing them; 4 connections",
        );
    }
    Ok(rows)
}

pub async fn http_python(env: &Env) -> anyhow::Result<Vec<Row>> {
    let python = setup::fnwire_python(env)?;
    let peer = setup::azure_python_peer(env)?;
    let python = python.display().to_string();
    let path = "/api/text?name=bench";
    let mut fnwire = fnwire_start(
        env,
        "http-python-fnwire",
        &env.root.join("conformance/apps/python"),
        &[("FNWIRE_PYTHON", &python)],
    )?;
    fnwire.wait_ready(path, Instant::now(), START_BOUND).await?;
    let mut azure = fnwire_start(env, "http-python-azure", &peer, &[])?;
    azure.wait_ready(path, Instant::now(), START_BOUND).await?;
    compare_http(
        env,
        "http-python",
        (&fnwire, path),
        (&azure, path),
        "http-python: the contract app's `text` function, fnwire Python worker vs azure-functions-runtime 1.3.0, both under fnwire start",
    )
    .await
}

/// The same greeting as an `async def` and as a plain `def`, in one worker: the async path's cost.
pub async fn http_python_async(env: &Env) -> anyhow::Result<Vec<Row>> {
    let python = setup::fnwire_python(env)?.display().to_string();
    let (async_path, plain_path) = ("/api/async?name=bench", "/api/plain?name=bench");
    let mut fnwire = fnwire_start(
        env,
        "http-python-async",
        &env.root.join("bench/apps/python-async"),
        &[("FNWIRE_PYTHON", &python)],
    )?;
    fnwire.wait_ready(plain_path, Instant::now(), START_BOUND).await?;
    compare_http(
        env,
        "http-python-async",
        (&fnwire, async_path),
        (&fnwire, plain_path),
        "http-python-async: bench/apps/python-async, an `async def` greeting vs the same greeting as a plain `def`, \
         one fnwire start and worker",
    )
    .await
}

pub async fn http_node(env: &Env) -> anyhow::Result<Vec<Row>> {
    let app = setup::node_app(env)?;
    let mut fnwire = fnwire_start(env, "http-node-fnwire", &app, &[])?;
    fnwire.wait_ready(HELLO, Instant::now(), START_BOUND).await?;
    let script = env.root.join("bench/baselines/plain_http.mjs").display().to_string();
    let mut plain = program(env, "http-node-plain", "node", &[&script], free_port()?)?;
    plain.wait_ready(HELLO, Instant::now(), START_BOUND).await?;
    compare_http(
        env,
        "http-node",
        (&fnwire, HELLO),
        (&plain, HELLO),
        "http-node: fnwire start + hello-node vs a plain node:http server computing the same greeting",
    )
    .await
}

/// Messages through hello-rust's `work` (queue trigger, queue output, blob output) vs the same
/// store operations in one process: put, take (16 at a time), delete + put the output.
pub async fn queue(env: &Env) -> anyhow::Result<Vec<Row>> {
    let n = if env.quick { 2_000 } else { 10_000 };
    // A new folder per run, kept afterwards: deleting thousands of blob files makes creating
    // files slow for minutes on some file systems (ext4 without a journal skips recently freed
    // inodes; measured here: 5,326 msg/s, then 1,881 in the run right after a deletion). Folders of
    // runs older than a day are removed, so a run rarely follows a deletion closely.
    let root = env.work.join("queue-stores");
    prune_older_than(&root, Duration::from_secs(24 * 3600));
    let stores = root.join(format!("run-{}-{}", std::process::id(), unix_seconds()));
    queue_in(env, n, &stores).await
}

/// Seconds since the Unix epoch, to name a run's folder.
pub(crate) fn unix_seconds() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

pub(crate) fn prune_older_than(root: &Path, age: Duration) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for entry in entries.flatten() {
        let old =
            entry.metadata().and_then(|m| m.modified()).is_ok_and(|t| t.elapsed().is_ok_and(|e| e > age));
        if old {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

async fn queue_in(env: &Env, n: usize, stores: &Path) -> anyhow::Result<Vec<Row>> {
    let host_store = stores.join("fnwire");
    let raw_store = stores.join("raw");
    std::fs::create_dir_all(&host_store)?;
    std::fs::create_dir_all(&raw_store)?;
    let storage = host_store.display().to_string();
    let mut fnwire = fnwire_start(env, "queue-fnwire", &env.rust_app(), &[("FNWIRE_STORAGE_DIR", &storage)])?;
    fnwire.wait_ready(HELLO, Instant::now(), START_BOUND).await?;
    let store = Store::open(&host_store)?;
    let raw = Store::open(&raw_store)?;
    let pairs = host_vs_direct_queue_rounds(env, n, &fnwire, &store, &raw).await?;
    Ok(vec![pairs.row("queue", "mps", "messages/s", Better::Higher).with_note(format!(
        "queue: {n} messages per round through hello-rust `work` (queue trigger → queue + blob outputs), timed from the first one done, vs the same store calls in one process (take 16, delete + put output; no blob)"
    ))])
}

/// Rounds of `n` messages through `host` (whose store `host_store` is) alternated with the same
/// store calls made by this process on `direct`: messages/s of each round under "mps".
pub(crate) async fn host_vs_direct_queue_rounds(
    env: &Env,
    n: usize,
    host: &Served,
    host_store: &dyn QueueStore,
    direct: &dyn QueueStore,
) -> anyhow::Result<Pairs> {
    let mut round_no = 0;
    let results: Mutex<Vec<(bool, f64)>> = Mutex::default();
    alternate(
        env.rounds(),
        || {
            round_no += 1;
            let batch = queue_batch(round_no, n);
            let results = &results;
            async move {
                let rate = host_queue_round(host_store, &batch, &[host]).await?.per_second;
                results.lock().unwrap_or_else(|e| e.into_inner()).push((true, rate));
                Ok(())
            }
        },
        || {
            let batch = queue_batch(0, n);
            let results = &results;
            async move {
                let rate = direct_queue_round(direct, &batch)?;
                results.lock().unwrap_or_else(|e| e.into_inner()).push((false, rate));
                Ok(())
            }
        },
    )
    .await?;
    let mut pairs = Pairs::default();
    for (is_host, rate) in results.into_inner().unwrap_or_else(|e| e.into_inner()) {
        pairs.push(is_host, "mps", rate);
    }
    Ok(pairs)
}

/// The messages of one queue round: `n` on `jobs`, named by round so rounds never mix.
pub(crate) fn queue_batch(round: usize, n: usize) -> Vec<MessageBody> {
    (0..n).map(|i| MessageBody::new("jobs", format!("round {round} message {i}"))).collect()
}

/// What a round through hosts measured.
pub(crate) struct HostRound {
    /// Messages per second, from the first one done to the last.
    pub per_second: f64,
    /// CPU seconds the hosts and their workers used from the put to the last message done.
    pub cpu_seconds: f64,
}

/// Puts `batch` on `jobs` and waits until as many messages have reached `done` through
/// hello-rust's `work` on `hosts`. Timed from the first finished message: a host finds messages
/// another process put by polling (as Azure's listener does), and the wait for that poll is
/// latency, not throughput.
pub(crate) async fn host_queue_round(
    store: &dyn QueueStore,
    batch: &[MessageBody],
    hosts: &[&Served],
) -> anyhow::Result<HostRound> {
    let n = batch.len();
    let bound = Duration::from_secs(120);
    let before = store.message_count("done")? as usize;
    let cpu_before: f64 = hosts.iter().map(|h| h.cpu_seconds_with_children()).sum();
    let put_at = Instant::now();
    store.put_many(batch)?;
    let mut first: Option<(Instant, usize)> = None;
    loop {
        let done = store.message_count("done")? as usize - before;
        if first.is_none() && done > 0 {
            first = Some((Instant::now(), done));
        }
        if done >= n {
            break;
        }
        if put_at.elapsed() > bound {
            let logs: Vec<String> = hosts.iter().map(|h| h.log_tail()).collect();
            anyhow::bail!("{n} messages not processed within {bound:?}; {}", logs.join("; "));
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let (since, counted) = first.unwrap_or((put_at, 0));
    let per_second = (n - counted) as f64 / since.elapsed().as_secs_f64();
    let cpu_seconds = hosts.iter().map(|h| h.cpu_seconds_with_children()).sum::<f64>() - cpu_before;
    Ok(HostRound { per_second, cpu_seconds })
}

/// The same store calls as a host's round, in this process: put `batch`, then take 16 at a
/// time and complete each with its output (delete + put in one transaction; no blob). Returns
/// messages per second after the put.
pub(crate) fn direct_queue_round(store: &dyn QueueStore, batch: &[MessageBody]) -> anyhow::Result<f64> {
    store.put_many(batch)?;
    let started = Instant::now();
    loop {
        let taken = store.get_messages("jobs", 16, Duration::from_secs(60))?;
        if taken.is_empty() {
            break;
        }
        for m in taken {
            let output = MessageBody::new("done", String::from_utf8_lossy(&m.body).to_uppercase());
            store.complete_and_put(Some(("jobs", &m.id, &m.pop_receipt)), &[output])?;
        }
    }
    Ok(batch.len() as f64 / started.elapsed().as_secs_f64())
}

/// How one language's app and its baseline start.
struct ColdStart<'a> {
    scenario: &'a str,
    app: &'a Path,
    env_vars: Vec<(&'a str, String)>,
    fnwire_path: &'a str,
    baseline: Box<dyn Fn(u16) -> anyhow::Result<Served> + 'a>,
    baseline_path: &'a str,
    note: String,
}

async fn cold_start(env: &Env, spec: ColdStart<'_>) -> anyhow::Result<Vec<Row>> {
    let results: Mutex<Vec<(bool, &'static str, f64)>> = Mutex::default();
    let idle = Duration::from_secs(if env.quick { 1 } else { 3 });
    let vars: Vec<(&str, &str)> = spec.env_vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
    alternate(
        env.rounds(),
        || async {
            let started = Instant::now();
            let mut served = fnwire_start(env, &format!("{}-fnwire", spec.scenario), spec.app, &vars)?;
            let took = served.wait_ready(spec.fnwire_path, started, START_BOUND).await?;
            tokio::time::sleep(idle).await;
            let host = served.rss_mb().unwrap_or(f64::NAN);
            let worker: f64 = served.children_rss_mb().iter().sum();
            let mut r = results.lock().unwrap_or_else(|e| e.into_inner());
            r.push((true, "ms", took.as_secs_f64() * 1000.0));
            r.push((true, "host", host));
            r.push((true, "worker", worker));
            Ok(())
        },
        || async {
            let started = Instant::now();
            let mut served = (spec.baseline)(free_port()?)?;
            let took = served.wait_ready(spec.baseline_path, started, START_BOUND).await?;
            tokio::time::sleep(idle).await;
            let rss = served.rss_mb().unwrap_or(f64::NAN);
            let mut r = results.lock().unwrap_or_else(|e| e.into_inner());
            r.push((false, "ms", took.as_secs_f64() * 1000.0));
            r.push((false, "host", rss));
            r.push((false, "worker", rss));
            Ok(())
        },
    )
    .await?;
    let mut pairs = Pairs::default();
    for (is_fnwire, key, v) in results.into_inner().unwrap_or_else(|e| e.into_inner()) {
        pairs.push(is_fnwire, key, v);
    }
    let s = spec.scenario;
    Ok(vec![
        pairs.row(s, "ms", "ms to first 200", Better::Lower).with_note(spec.note),
        pairs.row(&format!("{s}:rss-host"), "host", "MB idle RSS", Better::Lower),
        pairs.row(&format!("{s}:rss-worker"), "worker", "MB idle RSS", Better::Lower),
    ])
}

pub async fn cold_start_rust(env: &Env) -> anyhow::Result<Vec<Row>> {
    let recorded = Recorded {
        status: 200,
        headers: vec![("content-type".into(), "text/plain; charset=utf-8".into())],
        body: "Hello, bench!".into(),
    };
    let file = env.work.join("cold-start-rust.response.json");
    std::fs::write(&file, serde_json::to_string(&recorded)?)?;
    let exe = std::env::current_exe()?.display().to_string();
    let file = file.display().to_string();
    let app = env.rust_app();
    cold_start(
        env,
        ColdStart {
            scenario: "cold-start-rust",
            app: &app,
            env_vars: Vec::new(),
            fnwire_path: HELLO,
            baseline: Box::new(|port| {
                let mut command = Command::new(&exe);
                command.arg("plain-http").arg(port.to_string()).arg(&file);
                Served::spawn("cold-start-rust-plain", command, addr(port), &env.log("cold-start-rust-plain"))
            }),
            baseline_path: HELLO,
            note: "cold-start-rust: fnwire start (packed hello-rust) to first 200 vs a plain hyper server process; RSS baseline: that server".into(),
        },
    )
    .await
}

pub async fn cold_start_python(env: &Env) -> anyhow::Result<Vec<Row>> {
    let python = setup::fnwire_python(env)?;
    let app = env.root.join("examples/hello-python");
    let script = env.root.join("bench/baselines/plain_http.py").display().to_string();
    let interpreter = python.display().to_string();
    cold_start(
        env,
        ColdStart {
            scenario: "cold-start-python",
            app: &app,
            env_vars: vec![("FNWIRE_PYTHON", interpreter.clone())],
            fnwire_path: HELLO,
            baseline: Box::new(|port| program(env, "cold-start-python-plain", &interpreter, &[&script], port)),
            baseline_path: HELLO,
            note: "cold-start-python: fnwire start examples/hello-python vs a plain http.server process (same interpreter)".into(),
        },
    )
    .await
}

pub async fn cold_start_node(env: &Env) -> anyhow::Result<Vec<Row>> {
    let app = setup::node_app(env)?;
    let script = env.root.join("bench/baselines/plain_http.mjs").display().to_string();
    cold_start(
        env,
        ColdStart {
            scenario: "cold-start-node",
            app: &app,
            env_vars: Vec::new(),
            fnwire_path: HELLO,
            baseline: Box::new(|port| program(env, "cold-start-node-plain", "node", &[&script], port)),
            baseline_path: HELLO,
            note: "cold-start-node: fnwire start examples/hello-node vs a plain node:http process".into(),
        },
    )
    .await
}

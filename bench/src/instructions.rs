//! `fnwire-bench --instructions ROW [--requests N]`: instructions per request of the host and of
//! its worker, counted by valgrind's callgrind over a fixed number of requests. Unlike requests/s
//! the count hardly moves with the machine's load, so two builds can be compared on one run each.
//!
//! The host runs under `valgrind --tool=callgrind --trace-children=yes`, so its worker is counted
//! too. After a warm-up both counters are zeroed (`callgrind_control --zero`), the requests are
//! made, and both are dumped (`callgrind_control --dump`): start-up and warm-up are not counted.
//! Under callgrind the threads of a process take turns on one core, so how work batches (how
//! many requests one gRPC write carries) differs from a native run; the figures compare builds,
//! they do not predict a native run's cost.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::Context;
use fnwire_storage::{MessageBody, Store};

use crate::load::{Budget, http_get};
use crate::procs::{Served, free_port};
use crate::setup::Env;

/// The rows that have an instruction count.
pub const ROWS: &[&str] = &["http-rust", "http-large", "http-python", "queue"];

/// Requests (or messages) counted when `--requests` is not given.
pub const DEFAULT_REQUESTS: usize = 2_000;

/// Concurrent connections while counting: enough to keep host and worker busy under callgrind.
const CONNECTIONS: usize = 16;

/// Callgrind runs code 50-100 times slower: every wait is long.
const START_BOUND: Duration = Duration::from_secs(300);

/// What one count saw.
#[derive(Debug, Clone, Copy)]
pub struct Counted {
    pub requests: usize,
    pub host: u64,
    pub worker: u64,
}

impl Counted {
    pub fn host_per_request(&self) -> f64 {
        self.host as f64 / self.requests as f64
    }

    pub fn worker_per_request(&self) -> f64 {
        self.worker as f64 / self.requests as f64
    }
}

/// Counts `row` over `requests` requests and prints the figures.
pub async fn run(env: &Env, row: &str, requests: usize) -> anyhow::Result<()> {
    let counted = match row {
        "http-rust" => count_http(env, row, App::rust(env), "/api/hello?name=bench", None, requests).await?,
        "http-python" => {
            let app = App::python(env)?;
            count_http(env, row, app, "/api/text?name=bench", None, requests).await?
        }
        "http-large" => {
            let body = crate::scenarios::large_body(1024 * 1024);
            count_http(env, row, App::rust(env), "/api/mirror", Some(body), requests).await?
        }
        "queue" => count_queue(env, requests).await?,
        other => anyhow::bail!("no instruction count for `{other}`; rows with one: {}", ROWS.join(", ")),
    };
    let load = if row == "queue" {
        "messages put at once".to_string()
    } else {
        format!("requests, {CONNECTIONS} connections")
    };
    println!(
        "{row}: {} {load}, callgrind\n  host   {:>12.0} instructions per request\n  worker {:>12.0} instructions per request",
        counted.requests,
        counted.host_per_request(),
        counted.worker_per_request()
    );
    Ok(())
}

fn check_tools() -> anyhow::Result<()> {
    for tool in ["valgrind", "callgrind_control"] {
        let found = Command::new(tool).arg("--version").output().is_ok_and(|o| o.status.success());
        if !found {
            anyhow::bail!(
                "`{tool}` is not on PATH: instruction counts need valgrind (Debian/Ubuntu: apt-get install valgrind)"
            );
        }
    }
    Ok(())
}

/// The app a count runs and what its worker needs in the environment.
struct App {
    dir: PathBuf,
    env: Vec<(&'static str, String)>,
}

impl App {
    /// Packed `examples/hello-rust`, as the `http-rust` row runs it.
    fn rust(env: &Env) -> App {
        App { dir: env.rust_app(), env: Vec::new() }
    }

    /// The contract app on fnwire's Python worker, as the `http-python` row runs it.
    fn python(env: &Env) -> anyhow::Result<App> {
        let python = crate::setup::fnwire_python(env)?.display().to_string();
        Ok(App { dir: env.root.join("conformance/apps/python"), env: vec![("FNWIRE_PYTHON", python)] })
    }
}

/// `fnwire start <app>` under callgrind, its worker counted too.
fn start_counted(
    env: &Env,
    name: &str,
    app: &App,
    extra_env: &[(&str, &str)],
) -> anyhow::Result<(Served, PathBuf)> {
    check_tools()?;
    let out = env.work.join("callgrind");
    std::fs::create_dir_all(&out)?;
    for entry in std::fs::read_dir(&out)?.flatten() {
        if entry.file_name().to_string_lossy().starts_with(&format!("{name}.")) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
    let port = free_port()?;
    let mut command = Command::new("valgrind");
    command
        .arg("--tool=callgrind")
        .arg("--trace-children=yes")
        .arg(format!("--callgrind-out-file={}/{name}.%p", out.display()))
        .arg(env.fnwire())
        .arg("start")
        .arg(&app.dir)
        .arg("--port")
        .arg(port.to_string())
        .current_dir(&env.root);
    // Under callgrind a first poll takes far longer than the native budget: keep functions on
    // the inline path a native worker uses (the worker inherits the host's environment).
    command.env("FNWIRE_INLINE_POLL_BUDGET_US", "1000000");
    // The host restarts a worker that does not answer `WorkerStatusRequest` within 20 s. Under
    // callgrind on a loaded machine the probe can wait longer than that behind 16 large bodies on
    // the one stream; the restart then answers the requests in flight with 503 (no worker
    // available) and the count fails. A worker under callgrind is slow, not hung.
    command.env(fnwire_host::supervisor::STATUS_TIMEOUT_SETTING, "600");
    for (k, v) in extra_env {
        command.env(k, v);
    }
    for (k, v) in &app.env {
        command.env(k, v);
    }
    let served =
        Served::spawn(name, command, std::net::SocketAddr::from(([127, 0, 0, 1], port)), &env.log(name))?;
    Ok((served, out))
}

/// The pid of the host's worker: its one child process.
fn worker_pid(host: u32) -> anyhow::Result<u32> {
    let tasks = std::fs::read_dir(format!("/proc/{host}/task"))?;
    for task in tasks.flatten() {
        let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        if let Some(pid) = children.split_whitespace().next() {
            return Ok(pid.parse()?);
        }
    }
    anyhow::bail!("the host (pid {host}) has no worker process")
}

fn callgrind_control(flag: &str, pid: u32) -> anyhow::Result<()> {
    let output = Command::new("callgrind_control")
        .arg(flag)
        .arg(pid.to_string())
        .output()
        .context("running callgrind_control")?;
    if !output.status.success() {
        anyhow::bail!(
            "callgrind_control {flag} {pid} failed: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// Instructions since the last zero: dumps and reads the newest dump's `totals:` line.
fn dump_total(dir: &Path, name: &str, pid: u32) -> anyhow::Result<u64> {
    callgrind_control("--dump", pid)?;
    let prefix = format!("{name}.{pid}.");
    let newest = std::fs::read_dir(dir)?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(&prefix))
        .max_by_key(|e| e.metadata().and_then(|m| m.modified()).ok())
        .with_context(|| format!("callgrind wrote no dump for pid {pid} in {}", dir.display()))?;
    let text = std::fs::read_to_string(newest.path())?;
    let total = text
        .lines()
        .find_map(|l| l.strip_prefix("totals:").or_else(|| l.strip_prefix("summary:")))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("no totals in {}", newest.path().display()))?;
    Ok(total)
}

async fn count_http(
    env: &Env,
    row: &str,
    app: App,
    path: &str,
    body: Option<bytes::Bytes>,
    requests: usize,
) -> anyhow::Result<Counted> {
    let name = format!("instructions-{row}");
    let (mut host, dir) = start_counted(env, &name, &app, &[])?;
    let ready_path = if body.is_some() { "/api/hello?name=bench" } else { path };
    host.wait_ready(ready_path, Instant::now(), START_BOUND).await?;
    let load = |n: usize| {
        let budget = Budget { concurrency: CONNECTIONS, max_requests: n, max_time: START_BOUND };
        let body = body.clone();
        let addr = host.addr;
        async move {
            match body {
                Some(body) => crate::load::http_post(addr, path, body, budget).await,
                None => http_get(addr, path, budget).await,
            }
        }
    };
    if let Err(e) = load(200).await.check("warm-up") {
        // What the host logged (a worker restart, a timeout) is the cause to look for.
        anyhow::bail!("{e}; {}", host.log_tail());
    }
    let host_pid = host.child.id();
    let worker = worker_pid(host_pid)?;
    callgrind_control("--zero", host_pid)?;
    callgrind_control("--zero", worker)?;
    let r = load(requests).await.check(row)?;
    let counted = Counted {
        requests: r.completed,
        host: dump_total(&dir, &name, host_pid)?,
        worker: dump_total(&dir, &name, worker)?,
    };
    drop(host);
    Ok(counted)
}

async fn count_queue(env: &Env, messages: usize) -> anyhow::Result<Counted> {
    let name = "instructions-queue";
    let stores =
        env.work.join("queue-stores").join(format!("instructions-{}", crate::scenarios::unix_seconds()));
    std::fs::create_dir_all(&stores)?;
    let storage = stores.display().to_string();
    let (mut host, dir) = start_counted(env, name, &App::rust(env), &[("FNWIRE_STORAGE_DIR", &storage)])?;
    host.wait_ready("/api/hello?name=bench", Instant::now(), START_BOUND).await?;
    let store = Store::open(&stores)?;
    let run = |round: usize, n: usize| {
        let batch: Vec<MessageBody> =
            (0..n).map(|i| MessageBody::new("jobs", format!("round {round} message {i}"))).collect();
        let store = &store;
        let host = &host;
        async move {
            let before = store.message_count("done")? as usize;
            store.put_many(&batch)?;
            let started = Instant::now();
            while (store.message_count("done")? as usize) < before + n {
                if started.elapsed() > START_BOUND {
                    anyhow::bail!("{n} messages not processed within {START_BOUND:?}; {}", host.log_tail());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            anyhow::Ok(())
        }
    };
    run(0, 100).await?;
    let host_pid = host.child.id();
    let worker = worker_pid(host_pid)?;
    callgrind_control("--zero", host_pid)?;
    callgrind_control("--zero", worker)?;
    run(1, messages).await?;
    let counted = Counted {
        requests: messages,
        host: dump_total(&dir, name, host_pid)?,
        worker: dump_total(&dir, name, worker)?,
    };
    drop(host);
    Ok(counted)
}

//! Running the real `fnwire` binary and talking to it over real HTTP.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;

/// Generous bound for start-up (a Cargo build may run first); never a timing assertion.
pub const STARTUP_BOUND: Duration = Duration::from_secs(600);
/// Bound for the host to exit after SIGTERM (the issue allows 10 s).
pub const EXIT_BOUND: Duration = Duration::from_secs(10);

/// The app's master key, as `fnwire keys` prints it.
pub fn master_key(dir: &std::path::Path) -> String {
    let out = std::process::Command::new(fnwire_exe()).arg("keys").arg(dir).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("master key:"))
        .map(|k| k.trim().to_string())
        .unwrap_or_else(|| panic!("no master key in:\n{text}"))
}

pub fn fnwire_exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_fnwire"))
}

/// The test worker example, built next to the `fnwire` binary by `cargo test`; built here if
/// only this test target was compiled.
pub fn test_worker_exe() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = fnwire_exe().parent().expect("target dir").join("examples");
            let exe = dir.join(format!("fnwire-test-worker{}", std::env::consts::EXE_SUFFIX));
            if !exe.exists() {
                let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
                let status = Command::new(cargo)
                    .args(["build", "-p", "fnwire-host", "--example", "fnwire-test-worker"])
                    .status()
                    .expect("run cargo to build the test worker");
                assert!(status.success(), "building the test worker failed");
            }
            exe
        })
        .clone()
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A temporary app directory whose worker.config.json launches the test worker.
pub fn test_worker_app() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let config = serde_json::json!({
        "description": {
            "language": "fnwire-test",
            "extensions": [".none"],
            "defaultExecutablePath": test_worker_exe(),
            "workerIndexing": "true"
        }
    });
    std::fs::write(dir.path().join("worker.config.json"), config.to_string()).unwrap();
    dir
}

/// A running `fnwire` process with its combined output captured.
pub struct Fnwire {
    pub child: Child,
    pub port: u16,
    output: Arc<Mutex<String>>,
    readers: Vec<std::thread::JoinHandle<()>>,
}

fn capture<R: Read + Send + 'static>(reader: R, output: Arc<Mutex<String>>) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        for line in BufReader::new(reader).lines() {
            let Ok(line) = line else { break };
            let mut o = output.lock().unwrap();
            o.push_str(&line);
            o.push('\n');
        }
    })
}

impl Fnwire {
    /// Starts `fnwire start <app_dir> --port <free port> <extra>` without waiting.
    pub fn spawn(app_dir: &Path, extra: &[&str]) -> Self {
        Self::spawn_with_env(app_dir, extra, &[])
    }

    /// Like [`Fnwire::spawn`], with extra environment variables for fnwire.
    pub fn spawn_with_env(app_dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Self {
        let port = free_port();
        let mut child = Command::new(fnwire_exe())
            .arg("start")
            .arg(app_dir)
            .args(["--port", &port.to_string()])
            .args(extra)
            .env("NO_COLOR", "1")
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start fnwire");
        let output = Arc::new(Mutex::new(String::new()));
        let readers = vec![
            capture(child.stdout.take().unwrap(), output.clone()),
            capture(child.stderr.take().unwrap(), output.clone()),
        ];
        Fnwire { child, port, output, readers }
    }

    /// Starts fnwire and waits until it reports it is ready.
    pub fn start(app_dir: &Path, extra: &[&str]) -> Self {
        let f = Self::spawn(app_dir, extra);
        f.wait_for_output("Host started", STARTUP_BOUND);
        f
    }

    pub fn output(&self) -> String {
        self.output.lock().unwrap().clone()
    }

    /// Waits until the output contains `needle`; panics with the output if fnwire exits or the
    /// bound passes first.
    pub fn wait_for_output(&self, needle: &str, bound: Duration) {
        let deadline = Instant::now() + bound;
        let mut child_exited = false;
        while Instant::now() < deadline {
            if self.output().contains(needle) {
                return;
            }
            if child_exited {
                break;
            }
            // Keep polling a little after exit so the last lines are read.
            if std::fs::metadata(format!("/proc/{}", self.child.id())).is_err()
                || proc_state(self.child.id()) == Some('Z')
            {
                child_exited = true;
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("fnwire never printed {needle:?}; output:\n{}", self.output());
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }

    /// Sends SIGTERM and waits (bounded) for the exit status.
    pub fn terminate(&mut self) -> ExitStatus {
        let status = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status().unwrap();
        assert!(status.success(), "kill -TERM failed");
        self.wait_exit(EXIT_BOUND)
    }

    pub fn wait_exit(&mut self, bound: Duration) -> ExitStatus {
        let deadline = Instant::now() + bound;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the readers take the last lines (bounded: a leftover process could hold
                // the pipes open).
                let drained = Instant::now() + Duration::from_secs(5);
                while Instant::now() < drained && !self.readers.iter().all(|r| r.is_finished()) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                return status;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("fnwire did not exit within {bound:?}; output:\n{}", self.output());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Processes whose parent is this fnwire (its worker).
    pub fn children(&self) -> Vec<u32> {
        child_pids(self.child.id())
    }
}

impl Drop for Fnwire {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn proc_state(pid: u32) -> Option<char> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = stat.rsplit_once(')')?.1;
    after.trim_start().chars().next()
}

fn child_pids(parent: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else { return out };
    for e in entries.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { continue };
        let Some((_, after)) = stat.rsplit_once(')') else { continue };
        let fields: Vec<&str> = after.split_whitespace().collect();
        if fields.get(1).and_then(|p| p.parse::<u32>().ok()) == Some(parent) {
            out.push(pid);
        }
    }
    out
}

/// Whether a process is gone (or only a zombie waiting to be reaped).
pub fn process_gone(pid: u32) -> bool {
    matches!(proc_state(pid), None | Some('Z') | Some('X'))
}

/// Waits (bounded) until every pid is gone.
pub fn assert_processes_gone(pids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if pids.iter().all(|p| process_gone(*p)) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let left: Vec<_> = pids.iter().filter(|p| !process_gone(**p)).collect();
    panic!("worker processes still running after fnwire exited: {left:?}");
}

/// A real HTTP response.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: http::HeaderMap,
    pub body: String,
}

impl Reply {
    pub fn header(&self, name: &str) -> String {
        self.headers
            .get_all(name)
            .iter()
            .map(|v| v.to_str().unwrap().to_string())
            .collect::<Vec<_>>()
            .join("\n")
    }
}

/// Sends one request with a real HTTP client (bounded wait).
pub async fn request(method: &str, url: &str, headers: &[(&str, &str)], body: impl Into<Bytes>) -> Reply {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
    let mut builder = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let req = builder.body(Full::new(body.into())).unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(60), client.request(req))
        .await
        .expect("no HTTP answer within 60 s")
        .expect("HTTP request failed");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Reply { status, headers, body: String::from_utf8_lossy(&body).into_owned() }
}

pub async fn get(url: &str) -> Reply {
    request("GET", url, &[], Bytes::new()).await
}

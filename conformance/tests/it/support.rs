//! Running the runner binary with bounded waits.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Generous: the first run may build the Rust contract app.
pub const RUN_BOUND: Duration = Duration::from_secs(900);

pub fn runner_exe() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_fnwire-conformance"))
}

pub fn workspace_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("workspace").to_path_buf()
}

/// The broken worker example, built next to the runner by `cargo test`; built here if only this
/// test target was compiled.
pub fn broken_worker_exe() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let dir = runner_exe().parent().expect("target dir").join("examples");
            let exe = dir.join(format!("broken-worker{}", std::env::consts::EXE_SUFFIX));
            if !exe.exists() {
                let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
                let status = Command::new(cargo)
                    .args(["build", "-p", "fnwire-conformance", "--example", "broken-worker"])
                    .status()
                    .expect("run cargo to build the broken worker");
                assert!(status.success(), "building the broken worker failed");
            }
            exe
        })
        .clone()
}

#[derive(Debug)]
pub struct Finished {
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Finished {
    pub fn output(&self) -> String {
        format!("exit {:?}\n--- stdout\n{}\n--- stderr\n{}", self.code, self.stdout, self.stderr)
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut text = String::new();
        let _ = pipe.read_to_string(&mut text);
        text
    })
}

/// Runs the runner with `args` (and `env`), killing it if it outlives `RUN_BOUND`.
pub fn run_runner(args: &[&str], env: &[(&str, &str)]) -> Finished {
    let mut child = Command::new(runner_exe())
        .args(args)
        .envs(env.iter().copied())
        .current_dir(workspace_dir())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start fnwire-conformance");
    let stdout = drain(child.stdout.take().expect("stdout"));
    let stderr = drain(child.stderr.take().expect("stderr"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for the runner") {
            break status;
        }
        if started.elapsed() > RUN_BOUND {
            let _ = child.kill();
            let _ = child.wait();
            panic!("fnwire-conformance {args:?} did not finish within {RUN_BOUND:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    Finished {
        code: status.code(),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// An empty app directory for `--worker-cmd` runs.
pub fn empty_app() -> tempfile::TempDir {
    tempfile::tempdir().expect("temp dir")
}

//! Launching a worker process the way Azure hosts do, and watching it.

use std::collections::VecDeque;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fnwire_protocol::WorkerArgs;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::{oneshot, watch};

use crate::app::{WorkerLaunch, host_env};

/// How long an exited worker's remaining output may take to reach the log.
const OUTPUT_DRAIN_BOUND: Duration = Duration::from_secs(1);

/// How many stderr lines are kept to explain an early exit.
const KEPT_STDERR_LINES: usize = 40;

/// The worker could not be started.
#[derive(Debug, thiserror::Error)]
#[error(
    "could not start the worker `{program}` in `{dir}`: {source}; check the program path and that it is executable"
)]
pub struct SpawnError {
    pub program: String,
    pub dir: String,
    #[source]
    pub source: std::io::Error,
}

/// A running worker process. Dropping it kills the process.
#[derive(Debug)]
pub struct WorkerProcess {
    worker_id: String,
    request_id: String,
    pid: Option<u32>,
    exit: watch::Receiver<Option<ExitStatus>>,
    kill: Option<oneshot::Sender<()>>,
    last_stderr: Arc<Mutex<VecDeque<String>>>,
}

impl WorkerProcess {
    /// Starts `launch` with a fresh worker id and request id, connecting to the gRPC server on
    /// `127.0.0.1:grpc_port`. Output lines go to the log (target `fnwire::worker`).
    pub fn spawn(launch: &WorkerLaunch, grpc_port: u16) -> Result<Self, SpawnError> {
        Self::spawn_with_id(launch, grpc_port, &uuid::Uuid::new_v4().to_string())
    }

    /// Like [`WorkerProcess::spawn`] with a worker id chosen by the caller, so the gRPC server
    /// can be told to expect it before the process starts.
    pub fn spawn_with_id(launch: &WorkerLaunch, grpc_port: u16, worker_id: &str) -> Result<Self, SpawnError> {
        let worker_id = worker_id.to_string();
        let request_id = uuid::Uuid::new_v4().to_string();
        let args = WorkerArgs {
            host_uri: format!("http://127.0.0.1:{grpc_port}/"),
            worker_id: worker_id.clone(),
            request_id: request_id.clone(),
            grpc_max_message_length: None,
        };
        let mut command = tokio::process::Command::new(&launch.program);
        command
            .args(&launch.args)
            .args(args.to_args(grpc_port))
            .envs(&launch.env)
            .envs(host_env(&launch.worker_dir, &launch.app_dir, &launch.language))
            .current_dir(&launch.app_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        // Own process group: a Ctrl-C in the terminal reaches only the host, which then asks the
        // worker to stop with WorkerTerminate instead of the worker dying mid-request.
        #[cfg(unix)]
        command.process_group(0);
        let mut child = command.spawn().map_err(|source| SpawnError {
            program: launch.program.display().to_string(),
            dir: launch.app_dir.display().to_string(),
            source,
        })?;
        let pid = child.id();
        tracing::debug!(target: "fnwire::worker", "started worker pid {pid:?} id {worker_id}");
        let last_stderr = Arc::new(Mutex::new(VecDeque::new()));
        let mut forwarders = Vec::new();
        if let Some(stdout) = child.stdout.take() {
            forwarders.push(tokio::spawn(forward_lines(stdout, false, last_stderr.clone())));
        }
        if let Some(stderr) = child.stderr.take() {
            forwarders.push(tokio::spawn(forward_lines(stderr, true, last_stderr.clone())));
        }
        let (exit_tx, exit_rx) = watch::channel(None);
        let (kill_tx, kill_rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let status = tokio::select! {
                status = child.wait() => status,
                _ = kill_rx => {
                    let _ = child.start_kill();
                    child.wait().await
                }
            };
            // The worker's last lines are logged before anyone hears it exited (the host may end
            // right after); bounded, as a process it started may still hold the pipes open.
            let drained = async {
                for f in forwarders {
                    let _ = f.await;
                }
            };
            let _ = tokio::time::timeout(OUTPUT_DRAIN_BOUND, drained).await;
            match status {
                Ok(status) => {
                    let _ = exit_tx.send(Some(status));
                }
                Err(e) => {
                    tracing::error!(target: "fnwire::worker", "could not wait for the worker process: {e}")
                }
            }
        });
        Ok(WorkerProcess { worker_id, request_id, pid, exit: exit_rx, kill: Some(kill_tx), last_stderr })
    }

    /// The id the worker must send back in `StartStream`.
    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// The request id given to this process start.
    pub fn request_id(&self) -> &str {
        &self.request_id
    }

    /// The OS process id.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// The exit status, if the process has exited.
    pub fn exit_status(&self) -> Option<ExitStatus> {
        *self.exit.borrow()
    }

    /// A receiver that changes to `Some(status)` when the process exits.
    pub fn exit_watch(&self) -> watch::Receiver<Option<ExitStatus>> {
        self.exit.clone()
    }

    /// Waits until the process exits.
    pub async fn wait(&self) -> Option<ExitStatus> {
        let mut rx = self.exit.clone();
        rx.wait_for(Option::is_some).await.ok().and_then(|s| *s)
    }

    /// Waits up to `timeout` for the process to exit.
    pub async fn wait_timeout(&self, timeout: Duration) -> Option<ExitStatus> {
        tokio::time::timeout(timeout, self.wait()).await.ok().flatten()
    }

    /// Kills the process and waits until it is gone.
    pub async fn kill(&mut self) -> Option<ExitStatus> {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
        self.wait().await
    }

    /// The last few stderr lines, to explain an unexpected exit.
    pub fn last_stderr_lines(&self) -> Vec<String> {
        self.last_stderr.lock().map(|l| l.iter().cloned().collect()).unwrap_or_default()
    }
}

impl Drop for WorkerProcess {
    fn drop(&mut self) {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
    }
}

async fn forward_lines<R: tokio::io::AsyncRead + Unpin>(
    reader: R,
    is_stderr: bool,
    last_stderr: Arc<Mutex<VecDeque<String>>>,
) {
    // Split on raw bytes: a worker printing non-UTF-8 must not stop the forwarding.
    let mut lines = BufReader::new(reader).split(b'\n');
    while let Ok(Some(bytes)) = lines.next_segment().await {
        let line = String::from_utf8_lossy(&bytes).trim_end_matches('\r').to_string();
        // Azure workers mark their own system logs with this prefix; the host strips it.
        let line = line.strip_prefix("LanguageWorkerConsoleLog").map(str::to_string).unwrap_or(line);
        if !is_stderr {
            tracing::info!(target: "fnwire::worker", "worker: {line}");
            continue;
        }
        if let Ok(mut kept) = last_stderr.lock() {
            if kept.len() == KEPT_STDERR_LINES {
                kept.pop_front();
            }
            kept.push_back(line.clone());
        }
        let lower = line.to_ascii_lowercase();
        if lower.contains("error") || lower.contains("fail") || lower.contains("panic") {
            tracing::error!(target: "fnwire::worker", "worker: {line}");
        } else if lower.contains("warn") {
            tracing::warn!(target: "fnwire::worker", "worker: {line}");
        } else {
            tracing::info!(target: "fnwire::worker", "worker: {line}");
        }
    }
}

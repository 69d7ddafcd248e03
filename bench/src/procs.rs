//! Processes under test: starting them with their output in a log file, waiting for their first
//! 200, their resident memory, stopping them; and the machine the figures come from.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;

/// A process serving HTTP on `addr`, stopped (SIGTERM, then SIGKILL) when dropped.
#[derive(Debug)]
pub struct Served {
    pub name: String,
    pub child: Child,
    pub addr: SocketAddr,
    pub log: PathBuf,
}

/// A free port on 127.0.0.1 (the OS picks it; it is free again when this returns).
pub fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).context("binding a free port")?;
    Ok(listener.local_addr()?.port())
}

impl Served {
    /// Starts `command` (its output goes to `log`) listening on `addr`.
    pub fn spawn(name: &str, mut command: Command, addr: SocketAddr, log: &Path) -> anyhow::Result<Served> {
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let out = std::fs::File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let child = command
            .stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out)
            .spawn()
            .with_context(|| format!("starting {name}: {command:?}"))?;
        Ok(Served { name: name.to_string(), child, addr, log: log.to_path_buf() })
    }

    /// Waits until `GET path` answers 200 (polling on fresh connections); returns the time since
    /// `since`, or an error with the end of the process's log.
    pub async fn wait_ready(
        &mut self,
        path: &str,
        since: Instant,
        bound: Duration,
    ) -> anyhow::Result<Duration> {
        let mut last = String::from("no answer yet");
        while since.elapsed() < bound {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("{} exited ({status}) before answering; {}", self.name, self.log_tail());
            }
            match crate::load::get_once(self.addr, path).await {
                Ok((200, _, _)) => return Ok(since.elapsed()),
                Ok((status, body, _)) => last = format!("{status}: {}", String::from_utf8_lossy(&body)),
                Err(e) => last = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        anyhow::bail!(
            "{} gave no 200 for {path} within {bound:?} (last: {last}); {}",
            self.name,
            self.log_tail()
        )
    }

    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(6)..].join(" | ");
        format!("its log ({}) ends: {tail}", self.log.display())
    }

    /// Resident memory of the process itself, in MB.
    pub fn rss_mb(&self) -> Option<f64> {
        rss_mb(self.child.id())
    }

    /// CPU time (user + system) the process and its direct children (a host's workers) have
    /// used so far, in seconds.
    pub fn cpu_seconds_with_children(&self) -> f64 {
        let pid = self.child.id();
        cpu_seconds(pid) + children(pid).into_iter().map(cpu_seconds).sum::<f64>()
    }

    /// Resident memory of each direct child (the workers of a host), in MB.
    pub fn children_rss_mb(&self) -> Vec<f64> {
        children(self.child.id()).into_iter().filter_map(rss_mb).collect()
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        // SIGTERM lets a host stop its workers; std has no portable signal call, `kill` does.
        let _ = Command::new("kill").arg("-TERM").arg(self.child.id().to_string()).status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// VmRSS of a process, in MB.
pub fn rss_mb(pid: u32) -> Option<f64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// CPU time (user + system) a process has used, in seconds; 0 when it is gone. Linux counts
/// it in clock ticks of 1/100 s (`USER_HZ`, the same on every architecture Linux runs on).
pub fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else { return 0.0 };
    // The command name (field 2) may hold spaces: fields are counted after its closing paren.
    let Some((_, after_name)) = stat.rsplit_once(')') else { return 0.0 };
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    // utime and stime are fields 14 and 15 of the whole line, 11 and 12 after the name.
    let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Direct children of a process (from /proc/<pid>/task/*/children).
pub fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
        for task in tasks.flatten() {
            if let Ok(text) = std::fs::read_to_string(task.path().join("children")) {
                out.extend(text.split_whitespace().filter_map(|p| p.parse::<u32>().ok()));
            }
        }
    }
    out
}

/// The machine the figures come from.
pub fn machine() -> String {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map(|(_, m)| m.trim().to_string())
        .unwrap_or_else(|| "unknown CPU".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_gb = meminfo
        .lines()
        .find(|l| l.starts_with("MemTotal:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<f64>().ok())
        .map(|kb| kb / 1024.0 / 1024.0)
        .unwrap_or(0.0);
    format!("{cores} cores, {model}, {mem_gb:.1} GB RAM, {}", std::env::consts::OS)
}

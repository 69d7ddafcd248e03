//! `fnwire-conformance`: run the conformance scenarios against a worker, or list them.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use fnwire_conformance::report::{self, Report};
use fnwire_conformance::runner::{self, RunOptions};
use fnwire_conformance::scenarios::{self, Kind};
use fnwire_conformance::session::Timeouts;
use fnwire_conformance::transcript::Recorder;

#[derive(Debug, Parser)]
#[command(
    name = "fnwire-conformance",
    version,
    about = "Checks that a Functions language worker speaks FunctionRpc as fnwire's contract app requires"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start the app's worker and run the scenarios against it.
    Run {
        /// The function app directory (it implements conformance/CONTRACT.md).
        #[arg(long)]
        app: PathBuf,
        /// The command that starts the worker, instead of what the app directory implies
        /// (worker.config.json, or a Cargo app). Split like a shell; the host's flags are appended.
        #[arg(long)]
        worker_cmd: Option<String>,
        /// Run only scenarios whose name contains this text, or matches it with `*` wildcards;
        /// several patterns may be separated by commas.
        #[arg(long)]
        only: Option<String>,
        /// Write every scenario with its result as JSON to this file.
        #[arg(long)]
        json: Option<PathBuf>,
        /// Write every message of every worker stream, both ways, as proto3 JSON lines.
        #[arg(long)]
        transcript: Option<PathBuf>,
        /// Exclusions file (TOML: "scenario" = "reason"). Default: the shipped file for a known
        /// app directory (e.g. azure-python).
        #[arg(long)]
        exclusions: Option<PathBuf>,
        /// Ignore every exclusions file.
        #[arg(long, conflicts_with = "exclusions")]
        no_exclusions: bool,
        /// Build Cargo apps without --release.
        #[arg(long)]
        debug_build: bool,
        /// Seconds to wait for any reply or invocation.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
        /// Seconds a worker may take to connect after it starts.
        #[arg(long, default_value_t = 60)]
        startup_timeout: u64,
        /// Show the worker's output and the host's logs.
        #[arg(long, short)]
        verbose: bool,
    },
    /// List the scenarios with their descriptions.
    List,
}

/// Writes to stdout; a closed pipe (e.g. `| head`) is not an error worth a panic.
fn out(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = stdout.write_all(text.as_bytes());
    let _ = stdout.flush();
}

fn init_logging(verbose: bool) {
    let default = if verbose { "info" } else { "warn,fnwire::worker=off,fnwire::function=off" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).with_target(false).init();
}

fn list() -> ExitCode {
    let all = match scenarios::all() {
        Ok(all) => all,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut text = String::new();
    for s in &all {
        text.push_str(&format!("{}  [{}]\n", s.name, s.area));
        if let Kind::Case(case) = &s.kind {
            text.push_str(&format!(
                "    request: {}\n",
                fnwire_conformance::builtin::describe_case_request(case)
            ));
        }
        for line in wrap(&s.description, 96) {
            text.push_str(&format!("    {line}\n"));
        }
        text.push('\n');
    }
    text.push_str(&format!("{} scenarios\n", all.len()));
    out(&text);
    ExitCode::SUCCESS
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = vec![String::new()];
    for word in text.split_whitespace() {
        let line = lines.last_mut().expect("one line");
        if !line.is_empty() && line.chars().count() + 1 + word.chars().count() > width {
            lines.push(word.to_string());
        } else {
            if !line.is_empty() {
                line.push(' ');
            }
            line.push_str(word);
        }
    }
    lines
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Command::Run {
        app,
        worker_cmd,
        only,
        json,
        transcript,
        exclusions,
        no_exclusions,
        debug_build,
        timeout,
        startup_timeout,
        verbose,
    } = cli.command
    else {
        return list();
    };
    init_logging(verbose);
    let options = RunOptions {
        app_dir: app,
        worker_cmd,
        only,
        exclusions,
        no_exclusions,
        debug_build,
        timeouts: Timeouts {
            startup: Duration::from_secs(startup_timeout),
            request: Duration::from_secs(timeout),
        },
    };
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    let recorder = Recorder::new();
    let result = runtime.block_on(async {
        let mut printed_header = false;
        runner::run(&options, recorder.clone(), |result| {
            // Rows appear as scenarios finish; widths are fixed so they line up.
            if !printed_header {
                out(&format!("{:44}  {:11}  {:6}  reason\n", "scenario", "area", "result"));
                printed_header = true;
            }
            out(&report::row(result, 44, 11));
        })
        .await
    });
    let report: Report = match result {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e:#}");
            return ExitCode::from(2);
        }
    };
    // The transcript and JSON are written even when scenarios failed: they explain failures.
    if let Some(path) = &transcript
        && let Err(e) = recorder.write_jsonl(path)
    {
        eprintln!("error: {e:#}");
    }
    if let Some(path) = &json {
        let text = serde_json::to_string_pretty(&report.to_json()).unwrap_or_default();
        if let Err(e) = std::fs::write(path, text + "\n") {
            eprintln!("error: cannot write the JSON report `{}`: {e}", path.display());
        }
    }
    let mut text = format!("\napp: {}\nworker: {}\n", report.app, report.worker_command);
    if let Some(source) = &report.exclusions {
        text.push_str(&format!("exclusions: {source}\n"));
    }
    let failures = report.failures();
    if !failures.is_empty() {
        text.push('\n');
        text.push_str(&failures);
    }
    text.push_str(&format!("\n{}\n", report.summary()));
    out(&text);
    if report.results.is_empty() {
        eprintln!("no scenario matched --only; run `fnwire-conformance list` to see the names");
        return ExitCode::from(2);
    }
    if report.failed() { ExitCode::FAILURE } else { ExitCode::SUCCESS }
}

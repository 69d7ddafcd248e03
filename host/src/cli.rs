//! The `fnwire` command line.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::OnceLock;

use clap::{Parser, Subcommand};
use tracing_appender::non_blocking::{NonBlocking, NonBlockingBuilder, WorkerGuard};

use crate::host::{StartOptions, run_start};
use crate::http::DEFAULT_MAX_REQUEST_BODY;

/// The console writer, once installed: log lines and [`print_console`] text share it, so they
/// appear in the order they were written.
static CONSOLE: OnceLock<NonBlocking> = OnceLock::new();

/// Lines the console writer queues before a logging thread waits for it.
const CONSOLE_QUEUE_LINES: usize = 4096;

/// Keeps the console writer running. Dropping it writes out every line still queued, so hold it
/// until the process ends.
#[must_use = "dropping the guard stops the console writer; hold it until the end of main"]
#[derive(Debug)]
pub struct ConsoleGuard {
    /// Held for its `Drop`, which flushes the queue and ends the writer thread.
    _writer: Option<WorkerGuard>,
}

/// Installs the console logger every `fnwire` front end uses (the binary, and the `fnwire`
/// commands of the Python and Node packages): level from `FNWIRE_LOG` (default `info`), ANSI
/// colours on a terminal only.
///
/// Lines are handed to a writer thread that writes whatever has queued up in one go. A busy host
/// logs two lines per invocation (`Executing`, `Executed`); writing each from the request's own
/// thread cost a system call per line and a fifth of the host's CPU per request. No line is
/// dropped: when the queue is full, the logger waits. A line therefore reaches the console a
/// moment after it is logged (typically microseconds), not before the HTTP response leaves. It also
/// keeps a slow terminal from slowing requests down.
///
/// When a logger was already installed, nothing changes and the guard is empty.
pub fn install_console_logging() -> ConsoleGuard {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FNWIRE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        // The queue is allocated up front: the default (128,000 lines) cost 6 MB of idle memory.
        .buffered_lines_limit(CONSOLE_QUEUE_LINES)
        .thread_name("fnwire-console")
        .finish(std::io::BufWriter::new(std::io::stdout()));
    let installed = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stdout()))
        .with_writer(writer.clone())
        .try_init()
        .is_ok();
    if !installed || CONSOLE.set(writer).is_err() {
        return ConsoleGuard { _writer: None };
    }
    ConsoleGuard { _writer: Some(guard) }
}

/// Prints `text` on the console, in order with the log lines (plain stdout when no console
/// logger is installed, e.g. in tests).
pub fn print_console(text: &str) {
    match CONSOLE.get() {
        Some(writer) => {
            let _ = writer.clone().write_all(text.as_bytes());
        }
        None => {
            let _ = std::io::stdout().lock().write_all(text.as_bytes());
        }
    }
}

/// fnwire: run Azure-Functions-style function apps locally over the FunctionRpc protocol.
#[derive(Debug, Parser)]
#[command(name = "fnwire", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Build (if needed) and run a function app, serving its HTTP functions.
    Start {
        /// The function app's directory.
        #[arg(default_value = ".")]
        app_dir: PathBuf,
        /// Port for the HTTP server (on 127.0.0.1).
        #[arg(long, short, default_value_t = 7071)]
        port: u16,
        /// Build a Cargo app in debug mode instead of `--release`.
        #[arg(long)]
        debug: bool,
        /// Largest accepted request body, in bytes; larger ones get 413.
        #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_REQUEST_BODY)]
        max_request_body: usize,
    },
    /// Build a Rust function app and write an Azure Functions app folder (host.json,
    /// worker.config.json, the worker binary, a function.json per function).
    Pack {
        /// The function app's directory (a Cargo package).
        #[arg(default_value = ".")]
        app_dir: PathBuf,
        /// Where to write the app (new, empty, or an earlier pack output).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Build in debug mode instead of `--release`.
        #[arg(long)]
        debug: bool,
    },
    /// Print the app's master key and default function key (creating them on first use).
    Keys {
        /// The function app's directory.
        #[arg(default_value = ".")]
        app_dir: PathBuf,
    },
    /// Put, peek and list messages on the app's embedded queues (works while the host runs).
    Queue {
        #[command(subcommand)]
        command: crate::triggers::queue_cli::QueueCommand,
    },
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Start { app_dir, port, debug, max_request_body } => {
            run_start(StartOptions { app_dir, port, release: !debug, max_request_body }).await
        }
        Command::Pack { app_dir, out, debug } => {
            let packed =
                crate::pack::run_pack(crate::pack::PackOptions { app_dir, out_dir: out, release: !debug })
                    .await?;
            print_console(&format!(
                "packed {} function(s) ({}) into {}; run it with `fnwire start {}`\n",
                packed.functions.len(),
                packed.functions.join(", "),
                packed.out_dir.display(),
                packed.out_dir.display()
            ));
            Ok(())
        }
        Command::Keys { app_dir } => {
            if !app_dir.is_dir() {
                anyhow::bail!(
                    "`{}` is not a directory: pass the function app's directory",
                    app_dir.display()
                );
            }
            let settings = crate::app::read_local_settings(&app_dir)?;
            let keys = crate::keys::load_or_create(&app_dir, &settings)?;
            print_console(&crate::keys::render(&keys, &app_dir));
            Ok(())
        }
        Command::Queue { command } => {
            print_console(&crate::triggers::queue_cli::run(command)?);
            Ok(())
        }
    }
}

//! The `fnwire` command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

// The language packages install the console through the CLI module they already call.
use crate::console::print_console;
pub use crate::console::{ConsoleGuard, install_console_logging};
use crate::host::{StartOptions, run_start};
use crate::http::limits::LimitOverrides;

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
        /// Largest accepted request body, in bytes; larger ones get 413
        /// [default: 104857600, or host.json extensions.fnwire.maxRequestBodySize].
        #[arg(long, value_name = "BYTES")]
        max_request_body: Option<usize>,
        /// Open HTTP connections at most; past it the longest-idle one is closed
        /// [default: from the open-file limit, or extensions.fnwire.maxConnections].
        #[arg(long, value_name = "N")]
        max_connections: Option<usize>,
        /// Bytes of request bodies held at once; past it requests get 503 with Retry-After
        /// [default: 268435456, or extensions.fnwire.maxRequestBodyBytesInFlight].
        #[arg(long, value_name = "BYTES")]
        max_body_bytes_in_flight: Option<usize>,
        /// Seconds a connection may wait for its next request (0: no limit)
        /// [default: 130, or extensions.fnwire.keepAliveTimeout].
        #[arg(long, value_name = "SECONDS")]
        keep_alive_timeout: Option<u64>,
        /// Seconds a client may take to send a request's headers (0: no limit)
        /// [default: 30, or extensions.fnwire.requestHeadersTimeout].
        #[arg(long, value_name = "SECONDS")]
        request_headers_timeout: Option<u64>,
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
    /// Check, back up or restore the app's embedded store.
    Store {
        #[command(subcommand)]
        command: crate::store_cli::StoreCommand,
    },
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Start {
            app_dir,
            port,
            debug,
            max_request_body,
            max_connections,
            max_body_bytes_in_flight,
            keep_alive_timeout,
            request_headers_timeout,
        } => {
            let limits = LimitOverrides {
                max_connections,
                max_request_body,
                max_body_bytes_in_flight,
                keep_alive_timeout_secs: keep_alive_timeout,
                request_headers_timeout_secs: request_headers_timeout,
            };
            Ok(run_start(StartOptions { app_dir, port, release: !debug, limits }).await?)
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
            print_console(&crate::keys::render(&keys, &app_dir, &settings));
            Ok(())
        }
        Command::Queue { command } => {
            print_console(&crate::triggers::queue_cli::run(command)?);
            Ok(())
        }
        Command::Store { command } => {
            print_console(&crate::store_cli::run(command)?);
            Ok(())
        }
    }
}

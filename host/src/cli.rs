//! The `fnwire` command line.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

// The language packages install the console through the CLI module they already call.
use crate::console::print_console;
pub use crate::console::{ConsoleGuard, LogFormat, install_console_logging, install_console_logging_as};
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
        /// Port for the HTTP server.
        #[arg(long, short, default_value_t = 7071)]
        port: u16,
        /// Address the HTTP server listens on; a container uses 0.0.0.0.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1")]
        host: std::net::IpAddr,
        /// Seconds in-flight invocations may take to finish after SIGTERM or Ctrl-C, before the
        /// workers are told to terminate.
        #[arg(long, value_name = "SECONDS", env = "FNWIRE_DRAIN_TIMEOUT", default_value_t = crate::drain::DEFAULT_DRAIN_TIMEOUT.as_secs_f64(), value_parser = parse_seconds)]
        drain_timeout: f64,
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
        /// Rebuild (Rust) or restart (Python, Node) the worker when the app's sources change,
        /// keeping the host, its port, its queues and the requests in flight.
        #[arg(long)]
        watch: bool,
        /// How log lines are written: `human` (the default) or `json`, one object per line with
        /// time, level, function, invocation_id, trace_id and message.
        #[arg(long, value_name = "FORMAT", env = "FNWIRE_LOG_FORMAT")]
        log_format: Option<LogFormat>,
        /// Do not serve the dashboard (`/admin/ui` and its API under `/admin/api`).
        #[arg(long)]
        no_dashboard: bool,
        /// Invocations the dashboard keeps per function
        /// [default: 100, or host.json extensions.fnwire.dashboard.historyPerFunction].
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=fnwire_dashboard::MAX_HISTORY_PER_FUNCTION as i64))]
        dashboard_history: Option<u32>,
        /// Serve the dashboard and its API on this port (on the --host address) instead of the
        /// app's, e.g. to publish the app's port and keep the dashboard's private.
        #[arg(long, value_name = "PORT", conflicts_with = "no_dashboard", value_parser = clap::value_parser!(u16).range(1..))]
        dashboard_port: Option<u16>,
    },
    /// Create a function app in a new folder, ready for `fnwire start`.
    New {
        /// The folder to create; its name names the app.
        name: PathBuf,
        /// The app's language.
        #[arg(long = "lang", value_name = "LANG")]
        language: fnwire_scaffold::Language,
        /// What its functions show (`azure`: an unchanged Azure Functions app, Python or Node).
        #[arg(long, value_name = "TEMPLATE", default_value = "http")]
        template: fnwire_scaffold::Template,
        /// A local fnwire checkout for a Rust app's `fnwire` dependency instead of the crates.io
        /// release.
        #[arg(long, value_name = "DIR", env = "FNWIRE_SDK_PATH")]
        fnwire_path: Option<PathBuf>,
    },
    /// Print a completion script for a shell (e.g. `fnwire completions bash > ~/.local/share/bash-completion/completions/fnwire`).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
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
    /// List, query, get, put and delete the app's table entities (works while the host runs).
    Table {
        #[command(subcommand)]
        command: crate::table_cli::TableCommand,
    },
    /// Put, get, list and delete the app's blobs (works while the host runs).
    Blob {
        #[command(subcommand)]
        command: crate::triggers::blob_cli::BlobCommand,
    },
    /// Write a Dockerfile and Kubernetes manifests (Secret, Deployment, Service, KEDA
    /// ScaledObject) for the app, from its worker's own indexing.
    Kube {
        /// The function app's directory (a Cargo, Python or Node app).
        #[arg(default_value = ".")]
        app_dir: PathBuf,
        /// The image the Deployment runs (build it with the written Dockerfile).
        #[arg(long, value_name = "NAME")]
        image: String,
        /// Where to write (inside the app directory, the image's build context) [default: APP/deploy].
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
        /// The namespace of every object (none: kubectl's current one).
        #[arg(long, value_name = "NS")]
        namespace: Option<String>,
        /// The objects' name [default: from the app directory's name].
        #[arg(long)]
        name: Option<String>,
        /// Seconds the pods drain for on SIGTERM (their grace period is longer).
        #[arg(long, value_name = "SECONDS", default_value_t = 30)]
        drain_timeout: u64,
        /// The most replicas KEDA scales to.
        #[arg(long, value_name = "N", default_value_t = 10)]
        max_replicas: u32,
        /// Build a Cargo app in debug mode to index it (the image builds in release).
        #[arg(long)]
        debug: bool,
    },
    /// Create, list, delete, send to and peek Service Bus queues and topics in the app's store.
    Topic {
        #[command(subcommand)]
        command: crate::triggers::topic_cli::TopicCommand,
    },
    /// Create, list and delete a topic's subscriptions and their rules.
    Subscription {
        #[command(subcommand)]
        command: crate::triggers::topic_cli::SubscriptionCommand,
    },
    /// Check, back up or restore the app's embedded store.
    Store {
        #[command(subcommand)]
        command: crate::store_cli::StoreCommand,
    },
}

impl Cli {
    /// The console format the command asks for, if it asks (`fnwire start --log-format`).
    pub fn log_format(&self) -> Option<LogFormat> {
        match &self.command {
            Command::Start { log_format, .. } => *log_format,
            _ => None,
        }
    }
}

/// A non-negative, finite number of seconds.
fn parse_seconds(text: &str) -> Result<f64, String> {
    match text.trim().parse::<f64>() {
        Ok(seconds) if (0.0..1e9).contains(&seconds) => Ok(seconds),
        _ => Err(format!("`{text}` is not a number of seconds (for example 30 or 2.5)")),
    }
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Start {
            app_dir,
            port,
            host,
            drain_timeout,
            debug,
            max_request_body,
            max_connections,
            max_body_bytes_in_flight,
            keep_alive_timeout,
            request_headers_timeout,
            watch,
            log_format: _,
            no_dashboard,
            dashboard_history,
            dashboard_port,
        } => {
            let limits = LimitOverrides {
                max_connections,
                max_request_body,
                max_body_bytes_in_flight,
                keep_alive_timeout_secs: keep_alive_timeout,
                request_headers_timeout_secs: request_headers_timeout,
            };
            Ok(run_start(StartOptions {
                app_dir,
                host,
                port,
                drain_timeout: std::time::Duration::from_secs_f64(drain_timeout),
                release: !debug,
                limits,
                watch,
                dashboard: (!no_dashboard).then_some(crate::host::DashboardOptions {
                    history_per_function: dashboard_history.map(|n| n as usize),
                    port: dashboard_port,
                }),
            })
            .await?)
        }
        Command::New { name, language, template, fnwire_path } => {
            let sdk = fnwire_path.map(fnwire_scaffold::SdkSource::Path).unwrap_or_default();
            let written =
                fnwire_scaffold::write_app(&fnwire_scaffold::NewApp { dir: name, language, template, sdk })?;
            print_console(&format!(
                "created {} ({language}, {template} template): {}
run it:
{}
",
                written.dir.display(),
                written.files.join(", "),
                written.next_steps,
            ));
            Ok(())
        }
        Command::Completions { shell } => {
            let mut command = <Cli as clap::CommandFactory>::command();
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut command, "fnwire", &mut script);
            print_console(&String::from_utf8_lossy(&script));
            Ok(())
        }
        Command::Kube { app_dir, image, out, namespace, name, drain_timeout, max_replicas, debug } => {
            let written = crate::kube::run_kube(crate::kube::KubeOptions {
                app_dir,
                image,
                out_dir: out,
                namespace,
                name,
                drain_timeout_secs: drain_timeout,
                max_replicas,
                debug,
            })
            .await?;
            let scaling = match written.scaled_triggers {
                0 => "a fixed replica count (no queue or durable functions)".to_string(),
                n => format!("KEDA on {n} postgresql trigger(s)"),
            };
            print_console(&format!(
                "wrote {} in {}; scaling: {scaling}\nbuild the image from the app directory with `docker build -f {}/Dockerfile -t IMAGE .`, push it, then `kubectl apply -f {}/kubernetes.yaml`\n",
                written.files.join(", "),
                written.out_dir.display(),
                written.out_dir.display(),
                written.out_dir.display(),
            ));
            Ok(())
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
        Command::Table { command } => {
            print_console(&crate::table_cli::run(command)?);
            Ok(())
        }
        Command::Blob { command } => {
            print_console(&crate::triggers::blob_cli::run(command)?);
            Ok(())
        }
        Command::Topic { command } => {
            print_console(&crate::triggers::topic_cli::run_topic(command)?);
            Ok(())
        }
        Command::Subscription { command } => {
            print_console(&crate::triggers::topic_cli::run_subscription(command)?);
            Ok(())
        }
        Command::Store { command } => {
            print_console(&crate::store_cli::run(command)?);
            Ok(())
        }
    }
}

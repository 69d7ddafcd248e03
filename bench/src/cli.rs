//! `fnwire-bench [SCENARIO…] [--quick] [--json FILE]`.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use crate::scenarios::{self, ALL, HTTP_CONNECTIONS};
use crate::setup::{self, Env};
use crate::stats::{Row, render_table, to_json};

const USAGE: &str = "usage: fnwire-bench [SCENARIO…] [--quick] [--json FILE]
       fnwire-bench --instructions ROW [--requests N]   (instructions per request under callgrind; ROW: http-rust, http-large, http-python, queue)
scenarios: hop (alias stream-limit), http-rust, http-large, http-python, http-python-async, http-python-azure, http-node, http-node-azure, queue,
           cold-start-rust, cold-start-python, cold-start-node, rss-after-load,
           durable-chain, durable-fanout, durable-python, topic-fanout, rabbitmq (default: all)";

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub struct Options {
    pub scenarios: Vec<String>,
    pub quick: bool,
    pub json: Option<PathBuf>,
    /// `--instructions ROW`: count instructions per request of that row instead of timing.
    pub instructions: Option<String>,
    /// `--requests N`: how many requests an instruction count covers.
    pub requests: Option<usize>,
}

/// Parses the arguments after the program name.
pub fn parse(args: &[String]) -> Result<Options, String> {
    let mut options =
        Options { scenarios: Vec::new(), quick: false, json: None, instructions: None, requests: None };
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--quick" => options.quick = true,
            "--json" => {
                let file = it.next().ok_or("--json needs a file name: --json FILE")?;
                options.json = Some(PathBuf::from(file));
            }
            "--instructions" => {
                let row = it.next().ok_or("--instructions needs a row: --instructions ROW")?;
                if !crate::instructions::ROWS.contains(&row.as_str()) {
                    return Err(format!(
                        "no instruction count for `{row}`; rows with one: {}",
                        crate::instructions::ROWS.join(", ")
                    ));
                }
                options.instructions = Some(row.clone());
            }
            "--requests" => {
                let n = it.next().and_then(|n| n.parse().ok()).filter(|&n: &usize| n > 0);
                options.requests = Some(n.ok_or("--requests needs a positive count: --requests N")?);
            }
            "-h" | "--help" => return Err(USAGE.into()),
            name => {
                let name = if name == "stream-limit" { "hop" } else { name };
                if !ALL.contains(&name) {
                    return Err(format!("unknown scenario or option `{arg}`\n{USAGE}"));
                }
                if !options.scenarios.iter().any(|s| s == name) {
                    options.scenarios.push(name.to_string());
                }
            }
        }
    }
    if options.scenarios.is_empty() {
        options.scenarios = ALL.iter().map(|s| s.to_string()).collect();
    } else {
        // Run order stays the canonical one.
        options.scenarios.sort_by_key(|s| ALL.iter().position(|a| a == s));
    }
    Ok(options)
}

pub fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("fnwire-bench: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    // Hidden subcommands: the bench's own baseline processes.
    match args.first().map(String::as_str) {
        Some("plain-http") if args.len() == 3 => {
            return exit(
                runtime.block_on(crate::peers::plain_http(args[1].parse().unwrap_or(0), args[2].as_ref())),
            );
        }
        Some("plain-echo") if args.len() == 2 => {
            return exit(runtime.block_on(crate::peers::plain_echo(args[1].parse().unwrap_or(0))));
        }
        Some("echo-peer") if args.len() == 4 => {
            return exit(runtime.block_on(crate::peers::echo_peer(&args[1], &args[2], args[3].as_ref())));
        }
        Some("load") if args.len() == 4 => {
            return exit(runtime.block_on(load_only(&args[1], &args[2], &args[3])));
        }
        _ => {}
    }
    let options = match parse(&args) {
        Ok(o) => o,
        Err(message) => {
            eprintln!("{message}");
            return ExitCode::from(2);
        }
    };
    exit(runtime.block_on(run(options)))
}

/// `fnwire-bench load ADDR PATH SECONDS`: only the load generator, against a server started by
/// hand (e.g. to profile it).
async fn load_only(addr: &str, path: &str, seconds: &str) -> anyhow::Result<()> {
    let addr: std::net::SocketAddr = addr.parse()?;
    let seconds: f64 = seconds.parse()?;
    let budget = crate::load::Budget {
        concurrency: HTTP_CONNECTIONS,
        max_requests: usize::MAX,
        max_time: std::time::Duration::from_secs_f64(seconds),
    };
    let r = crate::load::http_get(addr, path, budget).await.check("load")?;
    println!("{:.0} requests/s, p50 {:.2} ms, p99 {:.2} ms", r.per_second(), r.p_ms(50.0), r.p_ms(99.0));
    Ok(())
}

fn exit(result: anyhow::Result<()>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fnwire-bench: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(options: Options) -> anyhow::Result<()> {
    let started = Instant::now();
    let env = Env::new(options.quick)?;
    setup::prepare_rust(&env)?;
    if let Some(row) = &options.instructions {
        let requests = options.requests.unwrap_or(crate::instructions::DEFAULT_REQUESTS);
        return crate::instructions::run(&env, row, requests).await;
    }
    let mut rows: Vec<Row> = Vec::new();
    for name in &options.scenarios {
        eprintln!("running {name} ({:.0} s so far)", started.elapsed().as_secs_f64());
        let result = match name.as_str() {
            "hop" => scenarios::hop(&env).await,
            "http-rust" => scenarios::http_rust(&env).await,
            "http-large" => scenarios::http_large(&env).await,
            "http-python" => scenarios::http_python(&env).await,
            "http-python-async" => scenarios::http_python_async(&env).await,
            "http-python-azure" => crate::azure_python::http_python_azure(&env).await,
            "http-node" => scenarios::http_node(&env).await,
            "http-node-azure" => crate::azure_node::http_node_azure(&env).await,
            "queue" => scenarios::queue(&env).await,
            "blob-trigger" => crate::blob_trigger::blob_trigger(&env).await,
            "queue-postgres" => crate::scale::queue_postgres(&env).await,
            "queue-postgres-scale" => crate::scale::queue_postgres_scale(&env).await,
            "cold-start-rust" => scenarios::cold_start_rust(&env).await,
            "cold-start-python" => scenarios::cold_start_python(&env).await,
            "cold-start-node" => scenarios::cold_start_node(&env).await,
            "rss-after-load" => crate::memory::rss_after_load(&env).await,
            "durable-chain" => crate::durable::durable_chain(&env).await,
            "durable-fanout" => crate::durable::durable_fanout(&env).await,
            "durable-python" => crate::durable::durable_python(&env).await,
            "topic-fanout" => crate::topic_fanout::topic_fanout(&env).await,
            "rabbitmq" => crate::rabbitmq::rabbitmq(&env).await,
            other => Err(anyhow::anyhow!("unknown scenario `{other}`")),
        };
        match result {
            Ok(r) => rows.extend(r),
            Err(e) => {
                eprintln!("{name} skipped: {e:#}");
                rows.push(Row::skipped(name, first_line(&format!("{e:#}"))));
            }
        }
    }
    println!("machine: {}", crate::procs::machine());
    println!(
        "load: {HTTP_CONNECTIONS} keep-alive HTTP/1.1 connections (http-*), 1 and 64 invocations in flight (hop); \
         {} rounds of {} per side, alternating, medians; {}",
        if env.quick { 3 } else { 5 },
        if env.quick { "1.5 s" } else { "5 s" },
        if env.quick { "--quick" } else { "full" }
    );
    println!("ratio: above 1 favours fnwire (throughput fnwire/baseline, time and memory baseline/fnwire)\n");
    print!("{}", render_table(&rows));
    println!();
    for note in rows.iter().filter_map(|r| r.note.as_deref()) {
        println!("  {note}");
    }
    println!("\ntook {:.0} s", started.elapsed().as_secs_f64());
    if let Some(file) = &options.json {
        std::fs::write(file, to_json(&rows) + "\n")?;
        println!("wrote {}", file.display());
    }
    Ok(())
}

fn first_line(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default();
    if line.chars().count() > 300 {
        format!("{}…", line.chars().take(300).collect::<String>())
    } else {
        line.to_string()
    }
}

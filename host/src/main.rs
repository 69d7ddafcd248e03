use std::process::ExitCode;

use clap::Parser;
use fnwire_host::cli::{Cli, install_console_logging, install_console_logging_as, run};

#[global_allocator]
static ALLOCATOR: fnwire_alloc::Allocator = fnwire_alloc::Allocator;

fn main() -> ExitCode {
    // Before the runtime starts its threads: memory freed after a burst of large request bodies
    // goes back to the system at once (see `fnwire_alloc`).
    fnwire_alloc::configure();
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(start()),
        Err(e) => {
            eprintln!("error: could not start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn start() -> ExitCode {
    let cli = Cli::parse();
    let _console = match cli.log_format() {
        Some(format) => install_console_logging_as(format),
        None => install_console_logging(),
    };
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

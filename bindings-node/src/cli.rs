//! The `fnwire` command, run inside Node: the same host as the Rust `fnwire` binary.

use clap::Parser;
use fnwire_host::cli::{Cli, run};
use napi::Status;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;

/// Called once with the process exit code when the command ends.
pub type CliExitFn = ThreadsafeFunction<i32, napi::Unknown<'static>, i32, Status, false>;

/// Runs `fnwire <argv...>` (argv without the program name) on a thread of its own and returns at
/// once; `on_exit` gets the exit code. Ctrl-C and SIGTERM stop the host as they stop the binary.
#[napi]
pub fn cli_run(argv: Vec<String>, on_exit: CliExitFn) -> napi::Result<()> {
    // Before the host's threads start (see `fnwire_alloc::configure`).
    fnwire_alloc::configure();
    let cli = match Cli::try_parse_from(std::iter::once("fnwire".to_string()).chain(argv)) {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are "errors" that print to stdout and exit 0.
            let _ = e.print();
            on_exit.call(e.exit_code(), ThreadsafeFunctionCallMode::NonBlocking);
            return Ok(());
        }
    };
    std::thread::Builder::new()
        .name("fnwire-host".into())
        .spawn(move || {
            let console = fnwire_host::cli::install_console_logging();
            let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
                Ok(runtime) => runtime,
                Err(e) => {
                    eprintln!("error: could not start the async runtime: {e}");
                    on_exit.call(1, ThreadsafeFunctionCallMode::NonBlocking);
                    return;
                }
            };
            let code = match runtime.block_on(run(cli)) {
                Ok(()) => 0,
                Err(e) => {
                    eprintln!("error: {e:#}");
                    1
                }
            };
            // Blocking tasks (e.g. a console reader) may never end; the process exits anyway.
            runtime.shutdown_background();
            // Queued console lines are written out before JavaScript ends the process.
            drop(console);
            on_exit.call(code, ThreadsafeFunctionCallMode::NonBlocking);
        })
        .map_err(|e| napi::Error::from_reason(format!("could not start the host thread: {e}")))?;
    Ok(())
}

//! The `fnwire` command, compiled into the extension so `pip install fnwire` brings the host.

use clap::Parser;
use fnwire_host::cli::{Cli, run};
use pyo3::prelude::*;

/// Runs the `fnwire` command line (`argv[0]` is the program name) and returns its exit code.
/// The GIL is released for the whole run: the host never calls into Python.
#[pyfunction]
pub fn host_main(py: Python<'_>, argv: Vec<String>) -> i32 {
    py.detach(|| {
        let cli = match Cli::try_parse_from(argv) {
            Ok(cli) => cli,
            Err(e) => {
                let _ = e.print();
                return if e.use_stderr() { 2 } else { 0 };
            }
        };
        let _console = fnwire_host::cli::install_console_logging();
        let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
            Ok(runtime) => runtime,
            Err(e) => {
                eprintln!("error: could not start the async runtime: {e}");
                return 1;
            }
        };
        match runtime.block_on(run(cli)) {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("error: {e:#}");
                1
            }
        }
    })
}

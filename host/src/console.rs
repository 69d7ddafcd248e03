//! The console: the logger every `fnwire` front end installs, plain text printed in order with
//! the log lines, and the function table `fnwire start` prints.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::OnceLock;

use tracing_appender::non_blocking::{NonBlocking, NonBlockingBuilder, WorkerGuard};

use crate::lifecycle::IndexedFunction;

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

/// One row of the function table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FunctionRow {
    pub name: String,
    pub trigger: String,
    /// `GET,POST`, or empty for every method / non-HTTP triggers.
    pub methods: String,
    /// URL for HTTP functions; otherwise a note.
    pub target: String,
    pub error: Option<String>,
}

/// Renders the table printed when the host is ready: one row per function with its name,
/// trigger, methods and URL (or a note for triggers fnwire does not run yet).
pub fn function_table(rows: &[FunctionRow]) -> String {
    let mut out = String::from("\nFunctions:\n\n");
    if rows.is_empty() {
        out.push_str("    (none: the app reported no functions)\n");
        return out;
    }
    let methods_of = |r: &FunctionRow| {
        if !r.target.starts_with("http") {
            "-".to_string()
        } else if r.methods.is_empty() {
            "ALL".to_string()
        } else {
            r.methods.clone()
        }
    };
    let target_of = |r: &FunctionRow| {
        if r.target.starts_with("http") || r.target != r.trigger {
            r.target.clone()
        } else {
            "(indexed, not run yet)".to_string()
        }
    };
    let header = ["Name", "Trigger", "Methods", "URL"];
    let width = |i: usize, f: &dyn Fn(&FunctionRow) -> String| {
        rows.iter().map(|r| f(r).chars().count()).max().unwrap_or(0).max(header[i].len())
    };
    let w0 = width(0, &|r| r.name.clone());
    let w1 = width(1, &|r| r.trigger.clone());
    let w2 = width(2, &methods_of);
    let _ = writeln!(out, "    {:w0$}  {:w1$}  {:w2$}  {}", header[0], header[1], header[2], header[3]);
    for row in rows {
        let _ = writeln!(
            out,
            "    {:w0$}  {:w1$}  {:w2$}  {}",
            row.name,
            row.trigger,
            methods_of(row),
            target_of(row)
        );
        if let Some(e) = &row.error {
            let _ = writeln!(out, "    {:w0$}  NOT AVAILABLE: {e}", "");
        }
    }
    if rows.iter().any(|r| !r.target.starts_with("http") && r.target == r.trigger) {
        out.push_str(
            "\n    Functions marked \"indexed, not run yet\" are loaded, but fnwire does not run their trigger type; \
             it serves HTTP, timer and queue triggers.\n",
        );
    }
    out
}

/// The trigger type of a function, e.g. `httpTrigger`, or `(no trigger)`.
pub fn trigger_type(f: &IndexedFunction) -> String {
    f.metadata.trigger().map(|t| t.binding_type.clone()).unwrap_or_else(|| "(no trigger)".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_lists_http_urls_and_notes_other_triggers() {
        let rows = vec![
            FunctionRow {
                name: "hello".into(),
                trigger: "httpTrigger".into(),
                methods: "GET,POST".into(),
                target: "http://127.0.0.1:7071/api/hello/{name?}".into(),
                error: None,
            },
            FunctionRow {
                name: "tick".into(),
                trigger: "timerTrigger".into(),
                methods: String::new(),
                target: "timerTrigger".into(),
                error: Some("boom".into()),
            },
        ];
        let t = function_table(&rows);
        assert!(t.contains("hello  httpTrigger   GET,POST  http://127.0.0.1:7071/api/hello/{name?}"), "{t}");
        assert!(t.contains("tick   timerTrigger  -         (indexed, not run yet)"), "{t}");
        assert!(t.contains("NOT AVAILABLE: boom"), "{t}");
        assert!(t.contains("does not run their trigger type"), "{t}");
        let queue = FunctionRow {
            name: "work".into(),
            trigger: "queueTrigger".into(),
            methods: String::new(),
            target: "queue jobs".into(),
            error: None,
        };
        let t = function_table(&[queue]);
        assert!(t.contains("work  queueTrigger  -        queue jobs"), "{t}");
        assert!(!t.contains("not run yet"), "{t}");
    }
}

//! The console: the logger every `fnwire` front end installs, plain text printed in order with
//! the log lines, and the function table `fnwire start` prints.

use std::fmt::Write as _;
use std::io::Write as _;
use std::sync::{Arc, OnceLock, RwLock};

use tracing::level_filters::LevelFilter;
use tracing_appender::non_blocking::{NonBlocking, NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::{Context, Filter, SubscriberExt as _};
use tracing_subscriber::util::SubscriberInitExt as _;

pub use fnwire_telemetry::log_format::LogFormat;
use fnwire_telemetry::log_format::{INVOCATION_ID_FIELD, JsonLines, LOG_FORMAT_ENV, TRACE_ID_FIELD};
use tracing_subscriber::Layer as _;

use crate::config::{LogLevel, LogLevels};

/// A console or log-file layer in either format.
type BoxedLayer = Box<dyn tracing_subscriber::Layer<tracing_subscriber::Registry> + Send + Sync>;
use crate::lifecycle::IndexedFunction;

/// The field that names a log line's host.json category (`Function.<name>`,
/// `Function.<name>.User`); the console does not print it. Lines without it are `Host.Worker`
/// (target `fnwire::worker`) or `Host.General`.
pub const CATEGORY_FIELD: &str = "category";

/// Changes the console filter once host.json is read; set when the console logger is installed
/// without `FNWIRE_LOG` (which, when set, wins over host.json).
static LEVELS: OnceLock<Arc<RwLock<FilterKind>>> = OnceLock::new();

/// The console writer, once installed: log lines and [`print_console`] text share it, so they
/// appear in the order they were written.
static CONSOLE: OnceLock<NonBlocking> = OnceLock::new();

/// Whether the console writes JSON lines: [`print_console`]'s text becomes one too.
static JSON_CONSOLE: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Lines the console writer queues before a logging thread waits for it.
const CONSOLE_QUEUE_LINES: usize = 4096;

/// Keeps the console writer running. Dropping it writes out every line still queued, so hold it
/// until the process ends.
#[must_use = "dropping the guard stops the console writer; hold it until the end of main"]
#[derive(Debug)]
pub struct ConsoleGuard {
    /// Held for its `Drop`, which flushes the queue and ends the writer thread.
    _writer: Option<WorkerGuard>,
    /// The log file's writer, when `FNWIRE_LOG_DIR` asks for one.
    _file_writer: Option<WorkerGuard>,
}

/// Where log files go, when set: the host also writes every console line (without colours) to
/// `<dir>/fnwire.<yyyy-MM-dd>.log`, a new file each day (UTC).
pub const LOG_DIR_ENV: &str = "FNWIRE_LOG_DIR";
/// How many daily log files are kept (default [`DEFAULT_LOG_FILES_KEPT`]); older ones are deleted.
pub const LOG_FILES_KEPT_ENV: &str = "FNWIRE_LOG_FILES_KEPT";
/// Daily log files kept by default: a week.
pub const DEFAULT_LOG_FILES_KEPT: usize = 7;

/// The rotating log file `FNWIRE_LOG_DIR` asks for, with its writer thread; `None` without it.
/// A directory that cannot be written is said on stderr, and the host logs to the console only.
fn log_file_writer() -> Option<(NonBlocking, WorkerGuard)> {
    let dir = std::env::var_os(LOG_DIR_ENV).filter(|d| !d.is_empty())?;
    let kept = match std::env::var(LOG_FILES_KEPT_ENV) {
        Err(_) => DEFAULT_LOG_FILES_KEPT,
        Ok(text) => match text.trim().parse::<usize>() {
            Ok(n) if n > 0 => n,
            _ => {
                eprintln!(
                    "fnwire: {LOG_FILES_KEPT_ENV}={text:?} is not a positive whole number; keeping \
                     {DEFAULT_LOG_FILES_KEPT} log files"
                );
                DEFAULT_LOG_FILES_KEPT
            }
        },
    };
    let appender = tracing_appender::rolling::Builder::new()
        .rotation(tracing_appender::rolling::Rotation::DAILY)
        .filename_prefix("fnwire")
        .filename_suffix("log")
        .max_log_files(kept)
        .build(&dir);
    match appender {
        Ok(appender) => Some(
            NonBlockingBuilder::default()
                .lossy(false)
                .buffered_lines_limit(CONSOLE_QUEUE_LINES)
                .thread_name("fnwire-log-file")
                .finish(appender),
        ),
        Err(e) => {
            eprintln!(
                "fnwire: cannot write log files to {} ({LOG_DIR_ENV}): {e}; logging to the console only",
                std::path::Path::new(&dir).display()
            );
            None
        }
    }
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
/// The format is `FNWIRE_LOG_FORMAT`'s (`human`, the default, or `json`); see
/// [`install_console_logging_as`].
///
/// When a logger was already installed, nothing changes and the guard is empty.
pub fn install_console_logging() -> ConsoleGuard {
    let format = match std::env::var(LOG_FORMAT_ENV) {
        Err(_) => LogFormat::Human,
        Ok(text) => text.parse().unwrap_or_else(|e| {
            eprintln!("fnwire: {LOG_FORMAT_ENV}: {e}; logging in the human format");
            LogFormat::Human
        }),
    };
    install_console_logging_as(format)
}

/// [`install_console_logging`] in the given format: `json` writes one object per line (time,
/// level, function, invocation id, trace id, message; see [`fnwire_telemetry::log_format`]) to
/// the console and the log file alike.
pub fn install_console_logging_as(format: LogFormat) -> ConsoleGuard {
    let (kind, from_env) = match EnvFilter::try_from_env("FNWIRE_LOG") {
        Ok(filter) => (FilterKind::Env(Box::new(filter)), true),
        Err(_) => (FilterKind::Levels(LogLevels::default()), false),
    };
    let kind = Arc::new(RwLock::new(kind));
    let filter = ConsoleFilter { kind: kind.clone() };
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(false)
        // The queue is allocated up front: the default (128,000 lines) cost 6 MB of idle memory.
        .buffered_lines_limit(CONSOLE_QUEUE_LINES)
        .thread_name("fnwire-console")
        .finish(std::io::BufWriter::new(std::io::stdout()));
    // The category field chooses the level; the invocation and trace ids are for the JSON
    // format (the human lines say the id in their text). None is part of what the line says.
    let fields = tracing_subscriber::fmt::format::debug_fn(|writer, field, value| match field.name() {
        CATEGORY_FIELD | INVOCATION_ID_FIELD | TRACE_ID_FIELD => Ok(()),
        "message" => write!(writer, "{value:?}"),
        name => write!(writer, " {name}={value:?}"),
    });
    let layer = |writer: NonBlocking, ansi: bool| -> BoxedLayer {
        let layer = tracing_subscriber::fmt::layer().with_writer(writer);
        match format {
            LogFormat::Human => layer
                .with_target(false)
                .with_ansi(ansi)
                .fmt_fields(fields.clone())
                .with_timer(ConsoleTime)
                .boxed(),
            LogFormat::Json => layer.event_format(JsonLines).boxed(),
        }
    };
    let console_layer = layer(writer.clone(), std::io::IsTerminal::is_terminal(&std::io::stdout()));
    // The log file gets the same lines as the console (same filter, host.json levels included).
    let (file_writer, file_guard) = log_file_writer().unzip();
    let mut layers = vec![console_layer.with_filter(filter).boxed()];
    if let Some(file) = file_writer {
        layers.push(layer(file, false).with_filter(ConsoleFilter { kind: kind.clone() }).boxed());
    }
    let installed = tracing_subscriber::registry().with(layers).try_init().is_ok();
    if !installed || CONSOLE.set(writer).is_err() {
        return ConsoleGuard { _writer: None, _file_writer: None };
    }
    if !from_env {
        let _ = LEVELS.set(kind);
    }
    JSON_CONSOLE.store(format == LogFormat::Json, std::sync::atomic::Ordering::Relaxed);
    ConsoleGuard { _writer: Some(guard), _file_writer: file_guard }
}

/// The console's timestamps, as `tracing_subscriber`'s `SystemTime` writes them (RFC 3339, UTC,
/// microseconds: `2026-11-30T13:09:20.466871Z`), with the date and time of day worked out once
/// per second per thread. Working them out for every line was half of what the two lines per
/// invocation cost (callgrind, `fnwire-bench --instructions http-rust`).
#[derive(Debug, Clone, Copy, Default)]
struct ConsoleTime;

impl tracing_subscriber::fmt::time::FormatTime for ConsoleTime {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        thread_local! {
            /// The second last formatted on this thread, and its `YYYY-MM-DDTHH:MM:SS`.
            static SECOND: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((0, String::new())) };
        }
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        SECOND.with(|second| {
            let mut second = second.borrow_mut();
            if second.0 != now.as_secs() || second.1.is_empty() {
                let secs = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
                let Some(time) = chrono::DateTime::<chrono::Utc>::from_timestamp(secs, 0) else {
                    return Err(std::fmt::Error);
                };
                second.1.clear();
                write!(second.1, "{}", time.format("%Y-%m-%dT%H:%M:%S"))?;
                second.0 = now.as_secs();
            }
            w.write_str(&second.1)?;
            let mut micros = now.subsec_micros();
            let mut fraction = *b".000000Z";
            for digit in fraction[1..7].iter_mut().rev() {
                *digit = b'0' + (micros % 10) as u8;
                micros /= 10;
            }
            w.write_str(std::str::from_utf8(&fraction).map_err(|_| std::fmt::Error)?)
        })
    }
}

/// Applies host.json `logging.logLevel` to the console, unless `FNWIRE_LOG` chose the levels.
pub fn apply_log_levels(levels: LogLevels) {
    match LEVELS.get() {
        Some(kind) => {
            *kind.write().unwrap_or_else(std::sync::PoisonError::into_inner) = FilterKind::Levels(levels);
            // Call sites remember whether they are enabled: make them ask again.
            tracing::callsite::rebuild_interest_cache();
        }
        None => tracing::debug!("FNWIRE_LOG is set: it chooses the log levels, not host.json"),
    }
}

/// What decides which lines the console prints: `FNWIRE_LOG` (a `tracing` filter), or host.json
/// `logging.logLevel` by category.
#[derive(Debug)]
enum FilterKind {
    Env(Box<EnvFilter>),
    Levels(LogLevels),
}

/// The console's filter; [`apply_log_levels`] replaces what it holds. (`tracing_subscriber`'s
/// `reload` does not pass per-event checks on, which the categories need.)
#[derive(Debug)]
pub struct ConsoleFilter {
    kind: Arc<RwLock<FilterKind>>,
}

impl ConsoleFilter {
    fn kind(&self) -> std::sync::RwLockReadGuard<'_, FilterKind> {
        self.kind.read().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

fn level_filter(level: LogLevel) -> LevelFilter {
    match level {
        LogLevel::Off => LevelFilter::OFF,
        LogLevel::Error => LevelFilter::ERROR,
        LogLevel::Warning => LevelFilter::WARN,
        LogLevel::Information => LevelFilter::INFO,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Trace => LevelFilter::TRACE,
    }
}

/// Finds the category field of an event.
#[derive(Default)]
struct CategoryOf(Option<String>);

impl tracing::field::Visit for CategoryOf {
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == CATEGORY_FIELD {
            self.0 = Some(value.to_string());
        }
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        if field.name() == CATEGORY_FIELD {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

/// The host.json category of an event.
fn category(event: &tracing::Event<'_>) -> String {
    let mut found = CategoryOf::default();
    if event.metadata().fields().field(CATEGORY_FIELD).is_some() {
        event.record(&mut found);
    }
    found.0.unwrap_or_else(|| {
        if event.metadata().target().starts_with("fnwire::worker") { "Host.Worker" } else { "Host.General" }
            .to_string()
    })
}

impl<S: tracing::Subscriber + for<'a> tracing_subscriber::registry::LookupSpan<'a>> Filter<S>
    for ConsoleFilter
{
    fn enabled(&self, meta: &tracing::Metadata<'_>, cx: &Context<'_, S>) -> bool {
        match &*self.kind() {
            FilterKind::Env(filter) => Filter::enabled(filter.as_ref(), meta, cx),
            // The category is known per event (`event_enabled`); here only the cheapest bound.
            FilterKind::Levels(levels) => *meta.level() <= level_filter(levels.most_detailed()),
        }
    }

    fn event_enabled(&self, event: &tracing::Event<'_>, cx: &Context<'_, S>) -> bool {
        match &*self.kind() {
            FilterKind::Env(filter) => Filter::event_enabled(filter.as_ref(), event, cx),
            // Without per-category keys (the usual case) no event needs its category worked out.
            FilterKind::Levels(levels) => {
                let level = match levels.uniform() {
                    Some(level) => level,
                    None => levels.level_for(&category(event)),
                };
                *event.metadata().level() <= level_filter(level)
            }
        }
    }

    fn callsite_enabled(&self, meta: &'static tracing::Metadata<'static>) -> tracing::subscriber::Interest {
        match &*self.kind() {
            FilterKind::Env(filter) => Filter::<S>::callsite_enabled(filter.as_ref(), meta),
            FilterKind::Levels(levels) if *meta.level() <= level_filter(levels.most_detailed()) => {
                tracing::subscriber::Interest::sometimes()
            }
            FilterKind::Levels(_) => tracing::subscriber::Interest::never(),
        }
    }

    fn max_level_hint(&self) -> Option<LevelFilter> {
        match &*self.kind() {
            FilterKind::Env(filter) => Filter::<S>::max_level_hint(filter.as_ref()),
            FilterKind::Levels(levels) => Some(level_filter(levels.most_detailed())),
        }
    }

    fn on_new_span(&self, attrs: &tracing::span::Attributes<'_>, id: &tracing::span::Id, cx: Context<'_, S>) {
        if let FilterKind::Env(filter) = &*self.kind() {
            Filter::on_new_span(filter.as_ref(), attrs, id, cx);
        }
    }

    fn on_enter(&self, id: &tracing::span::Id, cx: Context<'_, S>) {
        if let FilterKind::Env(filter) = &*self.kind() {
            Filter::on_enter(filter.as_ref(), id, cx);
        }
    }

    fn on_exit(&self, id: &tracing::span::Id, cx: Context<'_, S>) {
        if let FilterKind::Env(filter) = &*self.kind() {
            Filter::on_exit(filter.as_ref(), id, cx);
        }
    }

    fn on_close(&self, id: tracing::span::Id, cx: Context<'_, S>) {
        if let FilterKind::Env(filter) = &*self.kind() {
            Filter::on_close(filter.as_ref(), id, cx);
        }
    }
}

/// Prints `text` on the console, in order with the log lines (plain stdout when no console
/// logger is installed, e.g. in tests).
pub fn print_console(text: &str) {
    let json;
    let text = if JSON_CONSOLE.load(std::sync::atomic::Ordering::Relaxed) {
        json = fnwire_telemetry::log_format::console_text_line(text);
        json.as_str()
    } else {
        text
    };
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
mod console_time_tests {
    use tracing_subscriber::fmt::format::Writer;
    use tracing_subscriber::fmt::time::{FormatTime, SystemTime};

    use super::ConsoleTime;

    fn written(timer: &dyn FormatTime) -> String {
        let mut out = String::new();
        timer.format_time(&mut Writer::new(&mut out)).unwrap();
        out
    }

    #[test]
    fn timestamps_read_as_tracing_writes_them() {
        // Retried across a second boundary, which would make the two differ legitimately.
        for _ in 0..5 {
            let (ours, theirs) = (written(&ConsoleTime), written(&SystemTime));
            let again = written(&ConsoleTime);
            if ours[..19] != again[..19] {
                continue;
            }
            assert_eq!(ours.len(), theirs.len(), "{ours} vs {theirs}");
            assert_eq!(ours[..19], theirs[..19], "date and time of day");
            assert!(ours.as_bytes()[19] == b'.' && ours.ends_with('Z'), "{ours}");
            assert!(ours[20..26].bytes().all(|b| b.is_ascii_digit()), "{ours}");
            assert!(
                again[20..26] >= ours[20..26],
                "microseconds move on within the second: {ours} then {again}"
            );
            return;
        }
        panic!("five second boundaries in a row");
    }
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

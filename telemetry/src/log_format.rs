//! The console's machine-readable format (`fnwire start --log-format json`): one JSON object per
//! line, with the same keys on every line a log collector can index:
//!
//! ```json
//! {"time":"2026-11-30T13:09:20.466871Z","level":"info","function":"hello","invocation_id":"…","trace_id":"…","message":"Executed 'hello' (Succeeded, …)"}
//! ```
//!
//! `function` comes from the host.json category field (`Function.<name>`, `Function.<name>.User`),
//! `invocation_id` and `trace_id` from the fields of those names; each is `null` on a line that
//! has none (start-up, say). Any other field of the event is kept under its own name.

use std::fmt;
use std::str::FromStr;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// The field naming a line's host.json category (`Function.<name>` and so on).
pub const CATEGORY_FIELD: &str = "category";
/// The field carrying the invocation id of a line about one invocation.
pub const INVOCATION_ID_FIELD: &str = "invocation_id";
/// The field carrying the W3C trace id (32 hex digits) of a line about one invocation.
pub const TRACE_ID_FIELD: &str = "trace_id";
/// Chooses the format when `--log-format` is not given.
pub const LOG_FORMAT_ENV: &str = "FNWIRE_LOG_FORMAT";

/// How the console writes log lines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Lines for people: time, level, message (the default).
    #[default]
    Human,
    /// One JSON object per line ([`JsonLines`]).
    Json,
}

/// A `--log-format` or `FNWIRE_LOG_FORMAT` value that is not a format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnknownLogFormat(pub String);

impl fmt::Display for UnknownLogFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}` is not a log format; use `human` (the default) or `json`", self.0)
    }
}

impl std::error::Error for UnknownLogFormat {}

impl FromStr for LogFormat {
    type Err = UnknownLogFormat;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "human" | "text" => Ok(LogFormat::Human),
            "json" => Ok(LogFormat::Json),
            _ => Err(UnknownLogFormat(text.to_string())),
        }
    }
}

/// Writes each event as one JSON object on one line (see the module's documentation).
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonLines;

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        _cx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let mut line = Map::new();
        line.insert("time".into(), Value::String(now_rfc3339()));
        line.insert("level".into(), Value::String(level_name(*event.metadata().level()).into()));
        let mut fields = Fields::default();
        event.record(&mut fields);
        line.insert("function".into(), fields.function.map_or(Value::Null, Value::String));
        line.insert("invocation_id".into(), fields.invocation_id.map_or(Value::Null, Value::String));
        line.insert("trace_id".into(), fields.trace_id.map_or(Value::Null, Value::String));
        line.insert("message".into(), Value::String(fields.message));
        line.insert("target".into(), Value::String(event.metadata().target().to_string()));
        for (name, value) in fields.others {
            line.entry(name).or_insert(value);
        }
        let text = serde_json::to_string(&Value::Object(line)).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

/// What the console prints outside the log (the function table `fnwire start` prints, a
/// command's result) as one JSON line, so that a JSON console stays one object per line.
pub fn console_text_line(text: &str) -> String {
    let line = serde_json::json!({
        "time": now_rfc3339(),
        "level": "info",
        "function": null,
        "invocation_id": null,
        "trace_id": null,
        "message": text.trim_end_matches('\n'),
        "target": "fnwire::console",
    });
    format!("{line}\n")
}

fn level_name(level: Level) -> &'static str {
    match level {
        Level::ERROR => "error",
        Level::WARN => "warn",
        Level::INFO => "info",
        Level::DEBUG => "debug",
        Level::TRACE => "trace",
    }
}

fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// The function named by a host.json category: `Function.<name>` or `Function.<name>.User`.
fn function_of_category(category: &str) -> Option<String> {
    let name = category.strip_prefix("Function.")?;
    let name = name.strip_suffix(".User").unwrap_or(name);
    Some(name.to_string()).filter(|n| !n.is_empty())
}

#[derive(Default)]
struct Fields {
    message: String,
    function: Option<String>,
    invocation_id: Option<String>,
    trace_id: Option<String>,
    others: Vec<(String, Value)>,
}

impl Fields {
    fn put(&mut self, field: &Field, text: String, value: Value) {
        match field.name() {
            "message" => self.message = text,
            CATEGORY_FIELD => self.function = function_of_category(&text),
            INVOCATION_ID_FIELD => self.invocation_id = Some(text).filter(|t| !t.is_empty()),
            TRACE_ID_FIELD => self.trace_id = Some(text).filter(|t| !t.is_empty()),
            name => self.others.push((name.to_string(), value)),
        }
    }
}

impl Visit for Fields {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.to_string(), Value::String(value.to_string()));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.to_string(), Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.to_string(), Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.to_string(), Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.to_string(), Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        // `format_args!` and `%value` record through Debug and print as Display does.
        let text = format!("{value:?}");
        self.put(field, text.clone(), Value::String(text));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::layer::SubscriberExt as _;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn lines_of(log: impl FnOnce()) -> Vec<serde_json::Value> {
        let captured = Captured::default();
        let writer = captured.clone();
        let layer =
            tracing_subscriber::fmt::layer().event_format(JsonLines).with_writer(move || writer.clone());
        tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), log);
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        text.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
    }

    #[test]
    fn each_event_is_one_object_with_the_same_keys() {
        let lines = lines_of(|| {
            tracing::info!(
                category = format_args!("Function.{}", "hello"),
                invocation_id = "inv-1",
                trace_id = "4bf92f3577b34da6a3ce929d0e0e4736",
                "Executed 'hello' (Succeeded, Id=inv-1)\nsecond line \"quoted\""
            );
            tracing::warn!(category = "Function.hello.User", attempt = 2, "from the function");
            tracing::error!("host trouble");
        });
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert_eq!(lines[0]["level"], "info");
        assert_eq!(lines[0]["function"], "hello");
        assert_eq!(lines[0]["invocation_id"], "inv-1");
        assert_eq!(lines[0]["trace_id"], "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(lines[0]["message"], "Executed 'hello' (Succeeded, Id=inv-1)\nsecond line \"quoted\"");
        assert!(lines[0]["time"].as_str().unwrap().ends_with('Z'), "{}", lines[0]["time"]);
        assert_eq!(
            (&lines[1]["function"], &lines[1]["level"], &lines[1]["attempt"]),
            (&"hello".into(), &"warn".into(), &2.into())
        );
        assert_eq!(lines[1]["invocation_id"], serde_json::Value::Null);
        for key in ["time", "level", "function", "invocation_id", "trace_id", "message"] {
            assert!(lines[2].get(key).is_some(), "{key} missing: {}", lines[2]);
        }
        assert_eq!(lines[2]["function"], serde_json::Value::Null);
    }

    #[test]
    fn console_text_is_one_line_too() {
        let line = console_text_line("Functions:\n  hello: http://127.0.0.1:7071/api/hello\n");
        assert_eq!(line.lines().count(), 1, "{line}");
        let object: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(object["message"], "Functions:\n  hello: http://127.0.0.1:7071/api/hello");
        assert_eq!(object["level"], "info");
    }

    #[test]
    fn formats_are_named_human_or_json() {
        assert_eq!("JSON".parse(), Ok(LogFormat::Json));
        assert_eq!(" human ".parse(), Ok(LogFormat::Human));
        let error = "yaml".parse::<LogFormat>().unwrap_err().to_string();
        assert!(error.contains("`yaml`") && error.contains("json"), "{error}");
    }
}

//! Routes `tracing` events to the host.
//!
//! The runtime runs every invocation inside a span (target [`INVOCATION_SPAN_TARGET`]) and stores
//! a [`LogSink`] in that span's extensions. [`HostLogLayer`] sends each event that happens inside
//! such a span as an `RpcLog` on the worker's one outbound channel, so it leaves before the
//! invocation's response (hosts drop logs that arrive after it). Events outside invocations go
//! to stderr, which hosts capture into their own log.

use std::fmt::{self, Write as _};
use std::io::Write as _;
use std::sync::Arc;

use fnwire_protocol::rpc::streaming_message::Content;
use fnwire_protocol::rpc::{RpcLog, StreamingMessage, rpc_log};
use tokio::sync::mpsc::UnboundedSender;
use tracing::field::{Field, Visit};
use tracing::{Event, Level, Span, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::{EnvFilter, Layer, Registry};

use super::session::Outbound;

/// Target of the span the runtime enters around each invocation.
pub const INVOCATION_SPAN_TARGET: &str = "fnwire::invocation";

/// Where an invocation's logs go. Stored in the invocation span's extensions.
#[derive(Clone)]
pub(crate) struct LogSink {
    pub(crate) invocation_id: Arc<str>,
    pub(crate) category: Arc<str>,
    pub(crate) out: UnboundedSender<Outbound>,
}

/// Attaches `sink` to `span`. Needs a [`Registry`]-based subscriber (as every
/// `tracing_subscriber` stack is); with any other subscriber, logs stay local.
pub(crate) fn attach(span: &Span, sink: LogSink) {
    span.with_subscriber(|(id, dispatch)| {
        if let Some(registry) = dispatch.downcast_ref::<Registry>()
            && let Some(span) = registry.span(id)
        {
            span.extensions_mut().insert(sink);
        }
    });
}

/// The `tracing` layer that sends invocation logs to the host. [`crate::run`] installs it; add
/// it to your own subscriber if you build one:
///
/// ```no_run
/// use tracing_subscriber::prelude::*;
/// tracing_subscriber::registry().with(fnwire::runtime::HostLogLayer::new()).init();
/// ```
#[derive(Debug, Clone, Default)]
pub struct HostLogLayer {
    quiet_outside_invocations: bool,
}

impl HostLogLayer {
    /// Invocation logs to the host, other events to stderr.
    pub fn new() -> Self {
        HostLogLayer::default()
    }

    /// Drops events outside invocations instead of printing them (for apps that print them with
    /// another layer).
    pub fn without_stderr(mut self) -> Self {
        self.quiet_outside_invocations = true;
        self
    }
}

impl<S> Layer<S> for HostLogLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let sink = ctx
            .event_scope(event)
            .and_then(|mut scope| scope.find_map(|span| span.extensions().get::<LogSink>().cloned()));
        let mut text = EventText::default();
        event.record(&mut text);
        let metadata = event.metadata();
        match sink {
            Some(sink) => {
                let log = RpcLog {
                    invocation_id: sink.invocation_id.to_string(),
                    category: sink.category.to_string(),
                    level: rpc_level(*metadata.level()) as i32,
                    message: text.finish(),
                    log_category: rpc_log::RpcLogCategory::User as i32,
                    ..RpcLog::default()
                };
                // The channel only closes when the worker stops; a log then has nowhere to go.
                let _ = sink.out.send(Outbound::Message(StreamingMessage {
                    request_id: String::new(),
                    content: Some(Content::RpcLog(log)),
                }));
            }
            None if !self.quiet_outside_invocations => {
                let line = format!("{:>5} {}: {}\n", metadata.level(), metadata.target(), text.finish());
                let _ = std::io::stderr().lock().write_all(line.as_bytes());
            }
            None => {}
        }
    }
}

/// The RpcLog level for a tracing level (RpcLog follows .NET's LogLevel).
pub(crate) fn rpc_level(level: Level) -> rpc_log::Level {
    match level {
        Level::TRACE => rpc_log::Level::Trace,
        Level::DEBUG => rpc_log::Level::Debug,
        Level::INFO => rpc_log::Level::Information,
        Level::WARN => rpc_log::Level::Warning,
        Level::ERROR => rpc_log::Level::Error,
    }
}

/// The message of an event followed by its other fields as `key=value`.
#[derive(Default)]
struct EventText {
    message: String,
    fields: String,
}

impl EventText {
    fn finish(self) -> String {
        match (self.message.is_empty(), self.fields.is_empty()) {
            (_, true) => self.message,
            (true, false) => self.fields,
            (false, false) => format!("{} {}", self.message, self.fields),
        }
    }

    fn field(&mut self, field: &Field, value: fmt::Arguments<'_>) {
        if field.name() == "message" {
            let _ = self.message.write_fmt(value);
        } else {
            if !self.fields.is_empty() {
                self.fields.push(' ');
            }
            let _ = write!(self.fields, "{}={}", field.name(), value);
        }
    }
}

impl Visit for EventText {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field, format_args!("{value}"));
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.field(field, format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.field(field, format_args!("{value:?}"));
    }
}

/// Installs the default subscriber (the host log layer, filtered by `RUST_LOG`, default `info`)
/// unless the process already has a global subscriber. Returns whether it installed one.
pub fn install_default_subscriber() -> bool {
    use tracing_subscriber::prelude::*;
    if tracing::dispatcher::has_been_set() {
        return false;
    }
    let mut filter =
        EnvFilter::try_from_default_env().or_else(|_| EnvFilter::try_new("info")).unwrap_or_default();
    // Invocation spans carry the log routing: they must exist whatever RUST_LOG says.
    if let Ok(directive) = format!("{INVOCATION_SPAN_TARGET}=trace").parse() {
        filter = filter.add_directive(directive);
    }
    tracing_subscriber::registry().with(HostLogLayer::new().with_filter(filter)).try_init().is_ok()
}

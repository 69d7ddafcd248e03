//! The worker's OpenTelemetry spans: one per invocation, a child of the span in the trace context
//! the host sent (the host's span of that invocation), exported over OTLP when the `OTEL_*`
//! variables ask for it. fnwire's host passes its environment to its workers, so one setting
//! turns on the host's spans and these.
//!
//! Off unless an OTLP endpoint is set (`OTEL_EXPORTER_OTLP_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`); then nothing is built and invocations pay nothing.

use std::borrow::Cow;
use std::str::FromStr;
use std::time::Duration;

use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt as _, TraceFlags, TraceId, TraceState,
    Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{SdkTracer, SdkTracerProvider};

use crate::context::TraceContext;

/// How long a stopping worker waits for its last spans to be exported.
const FLUSH_BOUND: Duration = Duration::from_secs(2);

/// Where a worker's spans go.
#[derive(Debug)]
pub(crate) struct WorkerTraces {
    provider: SdkTracerProvider,
    tracer: SdkTracer,
}

/// One invocation's span, ended by [`InvocationSpan::end`] when its response is sent.
#[derive(Debug)]
pub(crate) struct InvocationSpan(opentelemetry_sdk::trace::Span);

fn set(var: &impl Fn(&str) -> Option<String>, name: &str) -> Option<String> {
    var(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// Whether the `OTEL_*` variables (read through `var`) ask for OTLP trace export, as the host
/// decides it (`fnwire_telemetry::traces::TraceSettings`; the host refuses what it cannot use
/// before any worker starts, so a worker only sees settings that work or none).
pub(crate) fn export_wanted(var: impl Fn(&str) -> Option<String>) -> bool {
    if set(&var, "OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true")) {
        return false;
    }
    if set(&var, "OTEL_TRACES_EXPORTER").is_some_and(|v| !v.eq_ignore_ascii_case("otlp")) {
        return false;
    }
    set(&var, "OTEL_EXPORTER_OTLP_ENDPOINT").is_some()
        || set(&var, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").is_some()
}

impl WorkerTraces {
    /// The export the process environment asks for; `None` when it asks for none, or when the
    /// exporter cannot be set up (said on stderr, which the host logs: the functions still run).
    /// Must be called on a Tokio runtime (batches are exported on it).
    pub(crate) fn from_env() -> Option<WorkerTraces> {
        if !export_wanted(|name| std::env::var(name).ok()) {
            return None;
        }
        let exporter = match opentelemetry_otlp::SpanExporter::builder().build() {
            Ok(exporter) => exporter,
            Err(e) => {
                eprintln!(
                    "fnwire worker: no spans are exported: the OTLP exporter could not be set up from the \
                     OTEL_* environment variables ({e}); fix them or unset OTEL_EXPORTER_OTLP_ENDPOINT"
                );
                return None;
            }
        };
        let batches =
            opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
                exporter,
                opentelemetry_sdk::runtime::Tokio,
            )
            .build();
        let mut resource = Resource::builder();
        // As the host names its service when OTEL_SERVICE_NAME does not: after the app's
        // directory, which is the worker's working directory.
        if std::env::var("OTEL_SERVICE_NAME").is_err()
            && let Some(app) = std::env::current_dir()
                .ok()
                .and_then(|d| d.file_name().map(|n| n.to_string_lossy().into_owned()))
        {
            resource = resource.with_service_name(app);
        }
        let provider =
            SdkTracerProvider::builder().with_span_processor(batches).with_resource(resource.build()).build();
        let tracer = provider.tracer("fnwire-worker");
        Some(WorkerTraces { provider, tracer })
    }

    /// Starts the span of one invocation of `function`, beneath the span of `context`.
    pub(crate) fn start(
        &self,
        function: &str,
        invocation_id: &str,
        context: &TraceContext,
    ) -> InvocationSpan {
        let parent = remote_parent(&context.trace_parent, &context.trace_state)
            .map_or_else(Context::new, |parent| Context::new().with_remote_span_context(parent));
        let span = self
            .tracer
            .span_builder(Cow::Owned(function.to_string()))
            .with_kind(SpanKind::Internal)
            .with_attributes([
                KeyValue::new("faas.invocation_id", invocation_id.to_string()),
                KeyValue::new("fnwire.function", function.to_string()),
                KeyValue::new("process.pid", i64::from(std::process::id())),
            ])
            .start_with_context(&self.tracer, &parent);
        InvocationSpan(span)
    }

    /// Exports the spans not yet sent (bounded); the worker is stopping.
    pub(crate) async fn shutdown(&self) {
        let provider = self.provider.clone();
        // The SDK blocks the calling thread until its batch task (on this runtime) is done.
        let _ = tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(FLUSH_BOUND)).await;
    }
}

impl InvocationSpan {
    /// Ends the span; `failure` is the error the worker answered with, if it did not succeed.
    pub(crate) fn end(mut self, failure: Option<&str>) {
        if let Some(message) = failure {
            self.0.set_status(Status::error(message.to_string()));
        }
        self.0.end();
    }
}

/// The span a `traceparent` (`00-<trace>-<span>-<flags>`) names, as a remote parent.
fn remote_parent(trace_parent: &str, trace_state: &str) -> Option<SpanContext> {
    let mut parts = trace_parent.split('-');
    let (_version, trace, span, flags) = (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
    let (trace, span) = (TraceId::from_hex(trace).ok()?, SpanId::from_hex(span).ok()?);
    let flags = u8::from_str_radix(flags, 16).ok()?;
    if trace == TraceId::INVALID || span == SpanId::INVALID {
        return None;
    }
    let state = TraceState::from_str(trace_state).unwrap_or_default();
    Some(SpanContext::new(trace, span, TraceFlags::new(flags), true, state))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_is_wanted_only_with_an_endpoint_and_not_switched_off() {
        let wanted = |vars: &[(&str, &str)]| {
            let vars: std::collections::HashMap<_, _> = vars.iter().copied().collect();
            export_wanted(|name| vars.get(name).map(|v| v.to_string()))
        };
        assert!(!wanted(&[]));
        assert!(wanted(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318")]));
        assert!(wanted(&[("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:4318")]));
        assert!(!wanted(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_TRACES_EXPORTER", "none")
        ]));
        assert!(!wanted(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318"),
            ("OTEL_SDK_DISABLED", "true")
        ]));
    }

    #[test]
    fn the_parent_is_the_span_of_the_traceparent() {
        let parent = remote_parent("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "k=v").unwrap();
        assert_eq!(parent.trace_id(), TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap());
        assert_eq!(parent.span_id(), SpanId::from_hex("b7ad6b7169203331").unwrap());
        assert!(parent.is_sampled() && parent.is_remote());
        assert_eq!(parent.trace_state().get("k"), Some("v"));
        for bad in
            ["", "00-zz-b7ad6b7169203331-01", "00-00000000000000000000000000000000-b7ad6b7169203331-01"]
        {
            assert!(remote_parent(bad, "").is_none(), "{bad}");
        }
    }
}

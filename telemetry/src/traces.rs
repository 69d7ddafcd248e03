//! OpenTelemetry traces of what the host runs: one span per invocation, exported over OTLP with
//! OpenTelemetry's own SDK, configured by the standard `OTEL_*` environment variables.
//!
//! Off unless an OTLP endpoint is configured (`OTEL_EXPORTER_OTLP_ENDPOINT` or
//! `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`): then nothing here is built and the host pays nothing.
//!
//! The span of an invocation has the span id the host already gave the invocation's trace
//! context when its trigger arrived (the worker got it as its parent, and the messages the
//! function sends carry it on), so the worker's spans and the invocations those messages
//! trigger hang beneath it; its parent is the caller's `traceparent`.

use std::borrow::Cow;
use std::cell::Cell;
use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use fnwire_observe::{InvocationFinished, InvocationObserver, InvocationStarted, Outcome};
use opentelemetry::trace::{
    Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt as _, TraceFlags, TraceId, TraceState,
    Tracer as _, TracerProvider as _,
};
use opentelemetry::{Context, KeyValue};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::{IdGenerator, RandomIdGenerator, SdkTracer, SdkTracerProvider};

use crate::trace_id::PARENT_SPAN_ID_ATTRIBUTE;

/// The environment variables that decide whether traces are exported, as the OpenTelemetry
/// specification names them (the SDK reads the rest itself: headers, timeouts, batching).
const ENDPOINT: &str = "OTEL_EXPORTER_OTLP_ENDPOINT";
const TRACES_ENDPOINT: &str = "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT";
const PROTOCOL: &str = "OTEL_EXPORTER_OTLP_PROTOCOL";
const TRACES_PROTOCOL: &str = "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL";
const TRACES_EXPORTER: &str = "OTEL_TRACES_EXPORTER";
const SDK_DISABLED: &str = "OTEL_SDK_DISABLED";
const SERVICE_NAME: &str = "OTEL_SERVICE_NAME";

/// Why the `OTEL_*` settings could not be used.
#[derive(Debug, thiserror::Error)]
pub enum TraceExportError {
    #[error(
        "{name}={value:?} is not a trace exporter fnwire has: it exports over OTLP only. Set {name} to otlp, or \
         to none to export no traces"
    )]
    Exporter { name: &'static str, value: String },
    #[error(
        "{name}={value:?} is not an OTLP protocol fnwire speaks. Set it to grpc or http/protobuf (the default)"
    )]
    Protocol { name: &'static str, value: String },
    #[error("the OTLP trace exporter could not be set up from the OTEL_* environment variables: {0}")]
    Setup(String),
}

/// How traces are exported, as the `OTEL_*` variables say; `None` when they are off.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceSettings {
    /// Set only when `OTEL_SERVICE_NAME` is not: the name spans are exported under.
    pub default_service_name: Option<String>,
}

impl TraceSettings {
    /// Reads the variables through `var` (the process environment in the host; a map in tests).
    /// `app_name` names the service when `OTEL_SERVICE_NAME` does not.
    pub fn read(
        var: impl Fn(&str) -> Option<String>,
        app_name: &str,
    ) -> Result<Option<TraceSettings>, TraceExportError> {
        let set = |name: &str| var(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        if set(SDK_DISABLED).is_some_and(|v| v.eq_ignore_ascii_case("true")) {
            return Ok(None);
        }
        match set(TRACES_EXPORTER) {
            Some(v) if v.eq_ignore_ascii_case("none") => return Ok(None),
            Some(v) if !v.eq_ignore_ascii_case("otlp") => {
                return Err(TraceExportError::Exporter { name: TRACES_EXPORTER, value: v });
            }
            _ => {}
        }
        for name in [TRACES_PROTOCOL, PROTOCOL] {
            if let Some(v) = set(name)
                && !matches!(v.to_ascii_lowercase().as_str(), "grpc" | "http/protobuf")
            {
                return Err(TraceExportError::Protocol { name, value: v });
            }
        }
        if set(ENDPOINT).is_none() && set(TRACES_ENDPOINT).is_none() {
            return Ok(None);
        }
        let default_service_name = set(SERVICE_NAME).is_none().then(|| app_name.to_string());
        Ok(Some(TraceSettings { default_service_name }))
    }
}

/// The exporting half: the SDK's tracer provider, whose batches go out on a task of the Tokio
/// runtime it was made on. [`TraceExport::shutdown`] sends what is left.
#[derive(Debug)]
pub struct TraceExport {
    provider: SdkTracerProvider,
}

impl TraceExport {
    /// Sets up the OTLP exporter as `settings` and the SDK's own `OTEL_*` variables say. Must be
    /// called within a Tokio runtime (batches are exported on it).
    pub fn start(settings: &TraceSettings) -> Result<TraceExport, TraceExportError> {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .build()
            .map_err(|e| TraceExportError::Setup(e.to_string()))?;
        let batches =
            opentelemetry_sdk::trace::span_processor_with_async_runtime::BatchSpanProcessor::builder(
                exporter,
                opentelemetry_sdk::runtime::Tokio,
            )
            .build();
        let mut resource = Resource::builder();
        if let Some(name) = &settings.default_service_name {
            resource = resource.with_service_name(name.clone());
        }
        let provider = SdkTracerProvider::builder()
            .with_span_processor(batches)
            .with_id_generator(InvocationIds)
            .with_resource(resource.build())
            .build();
        Ok(TraceExport { provider })
    }

    /// The observer that turns each invocation into a span. `triggers` maps each function to its
    /// trigger's binding type (`httpTrigger`, `serviceBusTrigger`, …).
    pub fn observer(&self, triggers: HashMap<String, String>) -> Arc<InvocationSpans> {
        Arc::new(InvocationSpans::new(&self.provider, triggers))
    }

    /// Exports the spans not yet sent and stops; waits at most `bound`.
    pub async fn shutdown(self, bound: Duration) {
        let provider = self.provider;
        // The SDK blocks the calling thread until its batch task (on this runtime) is done.
        let stopped = tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(bound)).await;
        match stopped {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!("some spans may not have been exported at shutdown: {e}"),
            Err(e) => tracing::warn!("the span exporter's shutdown failed: {e}"),
        }
    }
}

/// Invocations started and not yet finished beyond which the oldest are forgotten: an invocation
/// whose caller went away (an HTTP client that hung up) never finishes.
const MAX_PENDING: usize = 65_536;
const FORGET_PENDING_AFTER: Duration = Duration::from_secs(3600);

/// One span per invocation, ended when the pipeline reports the invocation finished.
#[derive(Debug)]
pub struct InvocationSpans {
    tracer: SdkTracer,
    triggers: HashMap<String, String>,
    pending: Mutex<HashMap<String, Pending>>,
}

#[derive(Debug)]
struct Pending {
    start: SystemTime,
    /// The invocation's own trace and span id, when its trigger gave it a trace context.
    ids: Option<(TraceId, SpanId)>,
    /// The caller's span, when there was one.
    parent: Option<SpanContext>,
}

impl InvocationSpans {
    fn new(provider: &SdkTracerProvider, triggers: HashMap<String, String>) -> Self {
        InvocationSpans { tracer: provider.tracer("fnwire"), triggers, pending: Mutex::default() }
    }

    fn kind(trigger: &str) -> (SpanKind, &'static str) {
        match trigger.to_ascii_lowercase().as_str() {
            "httptrigger" => (SpanKind::Server, "http"),
            "timertrigger" => (SpanKind::Internal, "timer"),
            "blobtrigger" => (SpanKind::Consumer, "datasource"),
            "queuetrigger" | "servicebustrigger" | "rabbitmqtrigger" | "eventhubtrigger"
            | "eventgridtrigger" | "kafkatrigger" => (SpanKind::Consumer, "pubsub"),
            _ => (SpanKind::Internal, "other"),
        }
    }
}

/// Parses the invocation's `traceparent` (`00-<trace>-<span>-<flags>`) and its parent attribute.
fn invocation_context(started: &InvocationStarted<'_>) -> (Option<(TraceId, SpanId)>, Option<SpanContext>) {
    let Some(context) = started.request.trace_context.as_ref() else { return (None, None) };
    let mut parts = context.trace_parent.split('-');
    let (Some(_version), Some(trace), Some(span), Some(flags)) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return (None, None);
    };
    let (Ok(trace), Ok(span), Ok(flags)) =
        (TraceId::from_hex(trace), SpanId::from_hex(span), u8::from_str_radix(flags, 16))
    else {
        return (None, None);
    };
    if trace == TraceId::INVALID || span == SpanId::INVALID {
        return (None, None);
    }
    let parent = context
        .attributes
        .get(PARENT_SPAN_ID_ATTRIBUTE)
        .and_then(|id| SpanId::from_hex(id).ok())
        .filter(|id| *id != SpanId::INVALID)
        .map(|parent| {
            let state = TraceState::from_str(&context.trace_state).unwrap_or_default();
            SpanContext::new(trace, parent, TraceFlags::new(flags), true, state)
        });
    (Some((trace, span)), parent)
}

impl InvocationObserver for InvocationSpans {
    fn started(&self, event: &InvocationStarted<'_>) {
        let (ids, parent) = invocation_context(event);
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        if pending.len() >= MAX_PENDING {
            let cutoff = SystemTime::now() - FORGET_PENDING_AFTER;
            pending.retain(|_, p| p.start > cutoff);
        }
        pending.insert(event.invocation_id.to_string(), Pending { start: event.at, ids, parent });
    }

    fn finished(&self, event: &InvocationFinished<'_>) {
        let Some(pending) =
            self.pending.lock().unwrap_or_else(PoisonError::into_inner).remove(event.invocation_id)
        else {
            return;
        };
        let trigger = self.triggers.get(event.function).map_or("", String::as_str);
        let (kind, faas_trigger) = Self::kind(trigger);
        let mut attributes = vec![
            KeyValue::new("faas.invocation_id", event.invocation_id.to_string()),
            KeyValue::new("faas.trigger", faas_trigger),
            KeyValue::new("fnwire.function", event.function.to_string()),
            KeyValue::new("fnwire.trigger", trigger.to_string()),
            KeyValue::new("fnwire.outcome", event.outcome.as_str()),
            KeyValue::new("fnwire.queueing.duration", event.queued.as_secs_f64()),
            KeyValue::new(
                "fnwire.execution.duration",
                event.duration.saturating_sub(event.queued).as_secs_f64(),
            ),
        ];
        if let Some(worker) = event.worker {
            attributes.push(KeyValue::new("fnwire.worker.id", worker.worker_id.clone()));
            if let Some(pid) = worker.pid {
                attributes.push(KeyValue::new("fnwire.worker.pid", i64::from(pid)));
            }
        }
        let parent = match pending.parent {
            Some(parent) => Context::new().with_remote_span_context(parent),
            None => Context::new(),
        };
        let builder = self
            .tracer
            .span_builder(Cow::Owned(event.function.to_string()))
            .with_kind(kind)
            .with_start_time(pending.start)
            .with_attributes(attributes);
        NEXT_IDS.set(pending.ids);
        let mut span = builder.start_with_context(&self.tracer, &parent);
        NEXT_IDS.set(None);
        if event.outcome != Outcome::Succeeded {
            let description = event.error.unwrap_or(event.outcome.as_str()).to_string();
            span.set_status(Status::error(description));
        }
        span.end_with_timestamp(SystemTime::now().max(pending.start));
    }

    fn follows_workers(&self) -> bool {
        true
    }
}

thread_local! {
    /// The ids the next span made on this thread must have (see [`InvocationIds`]).
    static NEXT_IDS: Cell<Option<(TraceId, SpanId)>> = const { Cell::new(None) };
}

/// Gives a span the trace and span id its invocation already has: the SDK draws ids from its
/// id generator only, and the host chose the invocation's span id when its trigger arrived
/// (the worker and the messages the function sent already carry it). Random ids otherwise.
#[derive(Debug)]
struct InvocationIds;

impl IdGenerator for InvocationIds {
    fn new_trace_id(&self) -> TraceId {
        NEXT_IDS.get().map_or_else(|| RandomIdGenerator::default().new_trace_id(), |(trace, _)| trace)
    }

    fn new_span_id(&self) -> SpanId {
        NEXT_IDS.get().map_or_else(|| RandomIdGenerator::default().new_span_id(), |(_, span)| span)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fnwire_observe::WorkerDispatch;
    use fnwire_protocol::rpc::{InvocationRequest, RpcTraceContext};

    fn read(vars: &[(&str, &str)]) -> Result<Option<TraceSettings>, TraceExportError> {
        let vars: HashMap<String, String> =
            vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        TraceSettings::read(|name| vars.get(name).cloned(), "shop")
    }

    #[test]
    fn traces_are_off_without_an_endpoint_or_when_switched_off() {
        assert_eq!(read(&[]).unwrap(), None);
        assert_eq!(read(&[(PROTOCOL, "grpc")]).unwrap(), None);
        let endpoint = (ENDPOINT, "http://127.0.0.1:4318");
        assert_eq!(read(&[endpoint, (TRACES_EXPORTER, "none")]).unwrap(), None);
        assert_eq!(read(&[endpoint, (SDK_DISABLED, "TRUE")]).unwrap(), None);
        let on = read(&[endpoint]).unwrap().expect("on with an endpoint");
        assert_eq!(on.default_service_name.as_deref(), Some("shop"));
        let named = read(&[(TRACES_ENDPOINT, "http://127.0.0.1:4317"), (SERVICE_NAME, "orders")]).unwrap();
        assert_eq!(named, Some(TraceSettings { default_service_name: None }));
    }

    #[test]
    fn unknown_exporters_and_protocols_are_refused_with_what_to_set() {
        let endpoint = (ENDPOINT, "http://127.0.0.1:4318");
        let e = read(&[endpoint, (TRACES_EXPORTER, "zipkin")]).unwrap_err().to_string();
        assert!(e.contains("OTEL_TRACES_EXPORTER=\"zipkin\"") && e.contains("otlp"), "{e}");
        let e = read(&[endpoint, (PROTOCOL, "http/json")]).unwrap_err().to_string();
        assert!(e.contains("OTEL_EXPORTER_OTLP_PROTOCOL=\"http/json\"") && e.contains("grpc"), "{e}");
        assert!(read(&[endpoint, (TRACES_PROTOCOL, "GRPC"), (TRACES_EXPORTER, "otlp")]).unwrap().is_some());
    }

    fn spans_of(run: impl FnOnce(&InvocationSpans)) -> Vec<opentelemetry_sdk::trace::SpanData> {
        let exporter = opentelemetry_sdk::trace::InMemorySpanExporter::default();
        let provider = SdkTracerProvider::builder()
            .with_simple_exporter(exporter.clone())
            .with_id_generator(InvocationIds)
            .build();
        let triggers = [("orders", "httpTrigger"), ("ship", "serviceBusTrigger")]
            .map(|(f, t)| (f.to_string(), t.to_string()))
            .into();
        run(&InvocationSpans::new(&provider, triggers));
        exporter.get_finished_spans().unwrap()
    }

    fn request(trace_parent: Option<&str>, parent: Option<&str>) -> InvocationRequest {
        InvocationRequest {
            invocation_id: "inv-1".into(),
            trace_context: trace_parent.map(|tp| RpcTraceContext {
                trace_parent: tp.into(),
                attributes: parent
                    .map(|p| (PARENT_SPAN_ID_ATTRIBUTE.to_string(), p.to_string()))
                    .into_iter()
                    .collect(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    fn invoke(spans: &InvocationSpans, function: &str, request: &InvocationRequest, outcome: Outcome) {
        spans.started(&InvocationStarted {
            function,
            invocation_id: &request.invocation_id,
            reason: "test",
            at: SystemTime::now(),
            request,
        });
        let worker =
            WorkerDispatch { worker_id: "w-1".into(), pid: Some(4242), at: std::time::Instant::now() };
        spans.finished(&InvocationFinished {
            function,
            invocation_id: &request.invocation_id,
            outcome,
            error: (outcome == Outcome::Failed).then_some("it broke"),
            duration: Duration::from_millis(30),
            response: None,
            worker: Some(&worker),
            queued: Duration::from_millis(10),
            commit: None,
        });
    }

    fn attribute(span: &opentelemetry_sdk::trace::SpanData, key: &str) -> Option<opentelemetry::Value> {
        span.attributes.iter().find(|kv| kv.key.as_str() == key).map(|kv| kv.value.clone())
    }

    #[test]
    fn an_invocation_span_has_the_invocations_ids_and_the_callers_parent() {
        const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
        let traceparent = format!("00-{TRACE}-00f067aa0ba902b7-01");
        let spans = spans_of(|spans| {
            invoke(
                spans,
                "orders",
                &request(Some(&traceparent), Some("b7ad6b7169203331")),
                Outcome::Succeeded,
            )
        });
        let [span] = spans.as_slice() else { panic!("one span expected: {spans:?}") };
        assert_eq!(span.name, "orders");
        assert_eq!(span.span_kind, SpanKind::Server);
        assert_eq!(span.span_context.trace_id(), TraceId::from_hex(TRACE).unwrap());
        assert_eq!(span.span_context.span_id(), SpanId::from_hex("00f067aa0ba902b7").unwrap());
        assert_eq!(span.parent_span_id, SpanId::from_hex("b7ad6b7169203331").unwrap());
        assert_eq!(span.status, Status::Unset);
        assert_eq!(attribute(span, "fnwire.outcome"), Some("Succeeded".into()));
        assert_eq!(attribute(span, "fnwire.worker.pid"), Some(4242_i64.into()));
        assert_eq!(attribute(span, "fnwire.worker.id"), Some("w-1".into()));
        assert_eq!(attribute(span, "faas.invocation_id"), Some("inv-1".into()));
        assert_eq!(attribute(span, "fnwire.queueing.duration"), Some(0.01.into()));
        assert_eq!(attribute(span, "fnwire.execution.duration"), Some(0.02.into()));
    }

    #[test]
    fn invocations_without_a_caller_or_a_context_are_roots() {
        let traceparent = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01";
        let spans = spans_of(|spans| {
            invoke(spans, "ship", &request(Some(traceparent), None), Outcome::Failed);
            invoke(spans, "ship", &request(None, None), Outcome::Succeeded);
        });
        let [with_context, without] = spans.as_slice() else { panic!("two spans expected: {spans:?}") };
        for span in [with_context, without] {
            assert_eq!(span.parent_span_id, SpanId::INVALID);
            assert_eq!(span.span_kind, SpanKind::Consumer);
        }
        assert_eq!(with_context.span_context.span_id(), SpanId::from_hex("00f067aa0ba902b7").unwrap());
        assert_eq!(with_context.status, Status::error("it broke"));
        assert!(without.span_context.is_valid());
        assert_ne!(without.span_context.trace_id(), with_context.span_context.trace_id());
    }

    #[test]
    fn triggers_map_to_span_kinds() {
        assert_eq!(InvocationSpans::kind("httpTrigger"), (SpanKind::Server, "http"));
        assert_eq!(InvocationSpans::kind("serviceBusTrigger"), (SpanKind::Consumer, "pubsub"));
        assert_eq!(InvocationSpans::kind("queueTrigger"), (SpanKind::Consumer, "pubsub"));
        assert_eq!(InvocationSpans::kind("timerTrigger"), (SpanKind::Internal, "timer"));
        assert_eq!(InvocationSpans::kind("activityTrigger"), (SpanKind::Internal, "other"));
    }
}

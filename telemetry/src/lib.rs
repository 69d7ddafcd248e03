//! fnwire's telemetry: the Prometheus metrics of what the host runs ([`metrics`]), the
//! OpenTelemetry spans of its invocations, exported over OTLP ([`traces`]), and the console's
//! JSON format ([`log_format`]), with the trace id it puts on each line ([`trace_id`]). The host
//! composes them; this crate never reads the app or serves HTTP itself.

pub mod log_format;
pub mod metrics;
pub mod trace_id;
pub mod traces;

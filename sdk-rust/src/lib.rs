//! Write Azure Functions in Rust.
//!
//! `fnwire` is the one crate a Rust function app depends on. Annotate functions with a trigger
//! attribute, call [`run`] from `main`, and the binary is a language worker that a Functions host
//! (Azure's, or `fnwire start`) launches and talks to over FunctionRpc.
//!
//! # Quick start
//!
//! ```no_run
//! use fnwire::{http_trigger, queue_trigger, queue_output, Context, HttpRequest, HttpResponse, Out, QueueMessage};
//!
//! #[http_trigger(route = "hello/{name?}", methods = "get,post", auth_level = "anonymous")]
//! pub async fn hello(req: HttpRequest, ctx: Context) -> HttpResponse {
//!     let name = req.param("name").or(req.query("name")).unwrap_or("world");
//!     tracing::info!(invocation = ctx.invocation_id(), "greeting {name}"); // reaches the host's log
//!     HttpResponse::ok().with_text(format!("Hello, {name}!"))
//! }
//!
//! #[queue_trigger(queue = "jobs", connection = "AzureWebJobsStorage")]
//! #[queue_output(name = "done", queue = "done")]
//! pub async fn work(msg: QueueMessage, done: Out<String>) -> Result<(), fnwire::Error> {
//!     let job: serde_json::Value = msg.json()?;
//!     done.set(format!("finished {}", job["id"]));
//!     Ok(())
//! }
//!
//! fn main() -> std::process::ExitCode {
//!     fnwire::run()
//! }
//! ```
//!
//! * Parameters bind by name: the trigger's, other inputs' ([`FromTypedData`] types such as
//!   [`HttpRequest`], [`TimerInfo`], [`QueueMessage`], `String`, [`Json<T>`]), outputs'
//!   ([`Out<T>`]), or none ([`Context`]). In an HTTP function, a parameter matching no binding
//!   may also be an extractor: [`Json<T>`] (the body), [`Query<T>`], [`Path<T>`] (route
//!   parameters, `{id:int}` read as a number); a request that does not fit answers `400` saying
//!   why. [`State<T>`] is the value given to [`provide_state`] in `main`.
//! * Functions may be `async` or not. An `async fn` runs on the worker's async threads: one that
//!   finishes without waiting (no I/O, no timer) is answered on the spot, with no task and no
//!   thread hand-off, which makes it the cheapest kind. A plain `fn` may block (files, blocking
//!   clients, heavy CPU): each invocation runs whole on tokio's blocking pool, which costs a
//!   thread hand-off each way (see BENCHMARKS.md). Functions return `()`,
//!   [`HttpResponse`], text, bytes, JSON, `Option` of those, or `Result<_, E>` where `E` prints
//!   (e.g. [`Error`]). An `Err` or a panic fails that invocation only; the worker keeps serving.
//!   In an HTTP function, an [`Error`] with a status ([`Error::bad_request`],
//!   [`Error::not_found`], [`Error::with_status`]) answers with that status and its message, so
//!   `?` gives the caller a 4xx.
//! * Log with [`tracing`]: events inside a function go to the host, tagged with the invocation.
//! * HTTP uses the [`http`] crate's types ([`http::Method`], [`http::StatusCode`],
//!   [`http::HeaderMap`]). Builders consume `self` and are named `with_*`
//!   (`HttpResponse::ok().with_header(..).with_text(..)`); getters are nouns (`status()`,
//!   `headers()`, `body()`).
//!
//! # Without macros
//!
//! [`runtime::Worker`] serves [`runtime::FunctionDefinition`]s built at run time (binding
//! metadata plus a handler closure); the Python and Node layers use the same runtime that way.

#![warn(missing_docs)]

mod bind;
mod blob;
mod context;
mod convert;
pub mod durable;
mod error;
mod extract;
mod http_binding;
mod invocation;
mod json;
mod output;
mod queue;
mod rabbitmq;
mod service_bus;
mod timer;

pub mod runtime;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

#[doc(hidden)]
#[path = "bridge.rs"]
pub mod __bridge;

pub use blob::Blob;
pub use context::{Context, RetryContext, TraceContext};
pub use convert::{FromTypedData, IntoTypedData};
pub use error::{Error, FunctionError};
pub use extract::{Path, Query, State, provide_state};
pub use http_binding::{Cookie, HttpRequest, HttpResponse, InvalidHttpValue, SameSite};
pub use invocation::{Invocation, InvocationOutcome, InvocationResult};
pub use json::Json;
pub use output::Out;
pub use queue::QueueMessage;
pub use rabbitmq::RabbitMqMessage;
pub use runtime::run;
pub use service_bus::ServiceBusMessage;
pub use timer::{ScheduleStatus, TimerInfo};

pub use fnwire_macros::{
    activity_trigger, binding, blob_input, blob_output, blob_trigger, durable_client_input, entity_trigger,
    http_output, http_trigger, orchestration_trigger, queue_output, queue_trigger, rabbitmq_output,
    rabbitmq_trigger, service_bus_output, service_bus_trigger, table_input, table_output, timer_trigger,
};

/// The binding-metadata model.
pub use fnwire_metadata as metadata;
/// The protocol crate: generated FunctionRpc messages and the worker command line.
pub use fnwire_protocol as protocol;
/// The `http` crate, whose [`Method`](http::Method), [`StatusCode`](http::StatusCode) and
/// [`HeaderMap`](http::HeaderMap) the HTTP types use.
pub use http;
/// Logging: events inside functions are sent to the host.
pub use tracing;

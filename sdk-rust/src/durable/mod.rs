//! Durable Functions: orchestrations, activities, entities and the durable client, speaking the
//! durable extension's out-of-process JSON protocol exactly as the official Python library does.
//!
//! ```no_run
//! use fnwire::durable::{OrchestrationContext, TaskError};
//! use fnwire::{activity_trigger, orchestration_trigger};
//!
//! #[orchestration_trigger]
//! async fn hello_cities(ctx: OrchestrationContext) -> Result<Vec<String>, TaskError> {
//!     let mut greetings = Vec::new();
//!     for city in ["Tokyo", "Seattle", "London"] {
//!         greetings.push(ctx.call_activity("say_hello", city).await?);
//!     }
//!     Ok(greetings)
//! }
//!
//! #[activity_trigger]
//! fn say_hello(city: String) -> Result<String, fnwire::Error> {
//!     Ok(format!("Hello {city}!"))
//! }
//! # fn main() {}
//! ```
//!
//! * An orchestrator is an `async fn` taking an [`OrchestrationContext`] and returning
//!   `Result<T, E>` (`T: Serialize`, `E: Display`). It is replayed from its history every time
//!   something it waits for happens; see [`OrchestrationContext`] for what it may await.
//! * An activity takes its input as any `Deserialize` type (the trigger's first parameter) and
//!   returns `Result<T, E>` with `T: Serialize`, or `()`; it may be `async` or not.
//! * An entity takes an [`EntityContext`] and is called once per operation of a batch.
//! * [`DurableClient`] (a `durable_client_input` binding) starts and manages orchestrations.

mod client;
mod engine;
mod entity;
mod history;
mod orchestration;

pub use client::{DurableClient, DurableClientError, OrchestrationStatus};
pub use engine::Answer;
pub use entity::{EntityContext, EntityReturn};
#[doc(hidden)]
pub use entity::{run_entity, run_entity_async};
pub use orchestration::{DurableTask, EntityId, OrchestrationContext, RetryOptions, TaskError, TaskHandle};

use std::fmt;
use std::future::Future;

use fnwire_protocol::rpc::TypedData;
use fnwire_protocol::rpc::typed_data::Data;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::convert::{FromTypedData, typed};
use crate::{FunctionError, Invocation};

/// Replays the orchestrator `orchestrator` against an orchestration trigger's JSON (`body`)
/// and answers as the worker answers the host: the `OrchestratorState` JSON, or a failure
/// carrying it. This is what an `#[orchestration_trigger]` function runs; tests call it with
/// histories directly.
pub fn replay<F, Fut, R>(body: &str, orchestrator: F) -> Answer
where
    F: FnOnce(OrchestrationContext) -> Fut,
    Fut: Future<Output = R> + 'static,
    R: OrchestratorReturn,
{
    engine::replay(body, move |shared| {
        let future = orchestrator(OrchestrationContext::new(shared));
        Box::pin(async move { future.await.into_orchestrator_output() })
    })
}

/// What an orchestrator may return.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned from an orchestrator",
    label = "return `Result<T, E>` with `T: Serialize` and `E: Display`",
    note = "e.g. `-> Result<Vec<String>, fnwire::durable::TaskError>`; `?` on an awaited durable task gives a TaskError"
)]
pub trait OrchestratorReturn {
    /// The output as JSON, or the failure message.
    fn into_orchestrator_output(self) -> Result<Value, String>;
}

impl<T: Serialize, E: fmt::Display> OrchestratorReturn for Result<T, E> {
    fn into_orchestrator_output(self) -> Result<Value, String> {
        match self {
            Ok(value) => serde_json::to_value(value)
                .map_err(|e| format!("the orchestrator's output could not be serialized as JSON: {e}")),
            Err(error) => {
                let message = error.to_string();
                Err(if message.is_empty() { std::any::type_name::<E>().to_string() } else { message })
            }
        }
    }
}

impl OrchestratorReturn for () {
    fn into_orchestrator_output(self) -> Result<Value, String> {
        Ok(Value::Null)
    }
}

/// What an orchestrator function's parameter may be.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an orchestrator's trigger parameter",
    label = "write `ctx: fnwire::durable::OrchestrationContext`"
)]
pub trait OrchestrationParam {
    /// The parameter from the context.
    fn from_context(context: OrchestrationContext) -> Self;
}

impl OrchestrationParam for OrchestrationContext {
    fn from_context(context: OrchestrationContext) -> Self {
        context
    }
}

/// What an entity function's context parameter may be.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an entity's trigger parameter",
    label = "write `ctx: fnwire::durable::EntityContext`"
)]
pub trait EntityParam {
    /// The parameter from the operation's context.
    fn from_context(context: EntityContext) -> Self;
}

impl EntityParam for EntityContext {
    fn from_context(context: EntityContext) -> Self {
        context
    }
}

/// An activity's input: any `Deserialize` type, read from the JSON the extension sends.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be an activity's input",
    label = "an activity input must implement `serde::Deserialize`"
)]
pub trait ActivityInput: Sized {
    /// Takes the trigger's value out of the invocation and deserializes it.
    fn from_activity_input(invocation: &mut Invocation, binding: &str) -> Result<Self, FunctionError>;
}

impl<T: DeserializeOwned> ActivityInput for T {
    fn from_activity_input(invocation: &mut Invocation, binding: &str) -> Result<Self, FunctionError> {
        let data = invocation.take_input(binding).unwrap_or_default();
        // The extension sends the input as JSON text; text that is not JSON is a plain string,
        // as the official library reads it.
        let value = match data.data {
            Some(Data::String(text)) | Some(Data::Json(text)) => engine::parse_payload(&text),
            Some(_) => crate::convert::json_of(data).map_err(|e| e.in_binding(binding))?,
            None => Value::Null,
        };
        serde_json::from_value(value.clone()).map_err(|e| {
            FunctionError::new(format!(
                "binding `{binding}`: the activity input `{value}` is not a `{}`: {e}; check what the \
                 orchestrator passes to call_activity",
                std::any::type_name::<T>()
            ))
        })
    }
}

/// What an activity may return: its result goes back to the orchestrator as JSON.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned from an activity",
    label = "return `Result<T, E>` with `T: Serialize` and `E: Display + Debug`, or `()`"
)]
pub trait ActivityReturn {
    /// The `$return` value, or the failure to report.
    fn into_activity_output(self) -> Result<Option<TypedData>, FunctionError>;
}

impl<T: Serialize, E: fmt::Display + fmt::Debug> ActivityReturn for Result<T, E> {
    fn into_activity_output(self) -> Result<Option<TypedData>, FunctionError> {
        match self {
            Ok(value) => {
                serde_json::to_string(&value).map(|text| Some(typed(Data::Json(text)))).map_err(|e| {
                    FunctionError::new(format!("the activity's result could not be serialized as JSON: {e}"))
                })
            }
            Err(error) => Err(FunctionError::from_display(&error)),
        }
    }
}

impl ActivityReturn for () {
    fn into_activity_output(self) -> Result<Option<TypedData>, FunctionError> {
        Ok(Some(typed(Data::Json("null".into()))))
    }
}

#[doc(hidden)]
/// Runs an orchestrator for one invocation: the trigger's JSON in, `OrchestratorState` out (as
/// the JSON return value), or a failure whose message carries the state.
pub fn run_orchestrator<F, Fut, R>(
    mut invocation: Invocation,
    binding: &str,
    orchestrator: F,
) -> crate::InvocationResult
where
    F: FnOnce(OrchestrationContext) -> Fut,
    Fut: Future<Output = R> + 'static,
    R: OrchestratorReturn,
{
    let data = invocation.take_input(binding).unwrap_or_default();
    let body = String::from_typed_data(data).map_err(|e| e.in_binding(binding))?;
    match replay(&body, orchestrator) {
        Answer::State(state) => invocation.finish(Some(typed(Data::Json(state)))),
        Answer::Failed(message) => Err(FunctionError::new(message)),
    }
}

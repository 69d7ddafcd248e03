//! Durable entities: one invocation runs a batch of operations against the entity's state, one
//! after another, and answers the new state, each operation's result and the signals sent.
//!
//! In: `{"self": {"name", "key"}, "exists", "state", "batch": [{"name", "input", "isSignal"}]}`.
//! Out: `{"entityExists", "entityState", "results": [{"isError", "duration", "startTime",
//! "result"}], "signals": [{"target": {"name", "key"}, "name", "input"}]}`.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use fnwire_protocol::rpc::typed_data::Data;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::engine::parse_payload;
use super::orchestration::EntityId;
use crate::convert::{FromTypedData, typed};
use crate::{FunctionError, Invocation, InvocationResult};

#[derive(Debug, Deserialize)]
struct EntityBatch {
    #[serde(rename = "self")]
    entity: EntitySelf,
    #[serde(default)]
    exists: bool,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    batch: Vec<Operation>,
}

#[derive(Debug, Deserialize)]
struct EntitySelf {
    name: String,
    key: String,
}

#[derive(Debug, Deserialize)]
struct Operation {
    name: Option<String>,
    #[serde(default)]
    input: Option<String>,
}

/// The entity's state across one batch.
#[derive(Debug)]
struct Shared {
    exists: bool,
    /// The state as JSON; `raw` until an operation sets it (then sent back as received).
    state: Option<Value>,
    raw_state: Option<String>,
    result: Value,
    signals: Vec<Value>,
}

/// What an entity operation sees: which operation, its input, and the entity's state.
#[derive(Clone)]
pub struct EntityContext {
    id: EntityId,
    operation: String,
    input: Value,
    shared: Arc<Mutex<Shared>>,
}

impl fmt::Debug for EntityContext {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EntityContext").field("id", &self.id).field("operation", &self.operation).finish()
    }
}

impl EntityContext {
    fn shared(&self) -> MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The entity's name (its function's name).
    pub fn entity_name(&self) -> &str {
        &self.id.name
    }

    /// The entity's key.
    pub fn entity_key(&self) -> &str {
        &self.id.key
    }

    /// The entity's id.
    pub fn entity_id(&self) -> &EntityId {
        &self.id
    }

    /// The operation being run.
    pub fn operation_name(&self) -> &str {
        &self.operation
    }

    /// The operation's input, deserialized.
    pub fn input<T: DeserializeOwned>(&self) -> Result<T, crate::Error> {
        serde_json::from_value(self.input.clone()).map_err(|e| {
            crate::Error::msg(format!(
                "the input of operation `{}` on entity {} (`{}`) is not a `{}`: {e}",
                self.operation,
                self.id,
                self.input,
                std::any::type_name::<T>()
            ))
        })
    }

    /// The entity's state, or `None` if it has none yet.
    pub fn state<T: DeserializeOwned>(&self) -> Result<Option<T>, crate::Error> {
        let mut shared = self.shared();
        if shared.state.is_none() {
            shared.state = shared.raw_state.as_deref().map(parse_payload);
        }
        match &shared.state {
            None | Some(Value::Null) => Ok(None),
            Some(value) => serde_json::from_value(value.clone()).map(Some).map_err(|e| {
                crate::Error::msg(format!(
                    "the state of entity {} (`{value}`) is not a `{}`: {e}",
                    self.id,
                    std::any::type_name::<T>()
                ))
            }),
        }
    }

    /// The entity's state, or `initial()` if it has none yet.
    pub fn state_or<T: DeserializeOwned>(&self, initial: impl FnOnce() -> T) -> Result<T, crate::Error> {
        Ok(self.state()?.unwrap_or_else(initial))
    }

    /// Replaces the entity's state (the entity now exists).
    pub fn set_state(&self, state: impl Serialize) -> Result<(), crate::Error> {
        let value = serde_json::to_value(state)
            .map_err(|e| crate::Error::msg(format!("the state of entity {} is not JSON: {e}", self.id)))?;
        let mut shared = self.shared();
        shared.exists = true;
        shared.state = Some(value);
        shared.raw_state = None;
        Ok(())
    }

    /// Sets the operation's result, which a calling orchestration receives.
    pub fn set_result(&self, result: impl Serialize) -> Result<(), crate::Error> {
        let value = serde_json::to_value(result).map_err(|e| {
            crate::Error::msg(format!("the result of operation `{}` is not JSON: {e}", self.operation))
        })?;
        let mut shared = self.shared();
        shared.exists = true;
        shared.result = value;
        Ok(())
    }

    /// Deletes the entity (and its state) when the batch ends.
    pub fn destruct_on_exit(&self) {
        let mut shared = self.shared();
        shared.exists = false;
        shared.state = None;
        shared.raw_state = None;
    }

    /// Signals operation `operation` of another entity, with `input`, when the batch ends.
    pub fn signal_entity(
        &self,
        entity: &EntityId,
        operation: &str,
        input: impl Serialize,
    ) -> Result<(), crate::Error> {
        let input = serde_json::to_string(&input)
            .map_err(|e| crate::Error::msg(format!("the input of signal `{operation}` is not JSON: {e}")))?;
        self.shared().signals.push(json!({
            "target": {"name": entity.name, "key": entity.key},
            "name": operation,
            "input": input,
        }));
        Ok(())
    }
}

/// What an entity function may return: `()`, or `Result<T, E>`, whose `Ok` value (unless `()`)
/// is the operation's result and whose `Err` fails that operation only.
#[diagnostic::on_unimplemented(
    message = "`{Self}` cannot be returned from an entity function",
    label = "return `()` or `Result<T, E>` with `T: Serialize` and `E: Display`"
)]
pub trait EntityReturn {
    /// The operation's result (`None`: leave what `set_result` set), or its failure message.
    fn into_operation_result(self) -> Result<Option<Value>, String>;
}

impl EntityReturn for () {
    fn into_operation_result(self) -> Result<Option<Value>, String> {
        Ok(None)
    }
}

impl<T: Serialize, E: fmt::Display> EntityReturn for Result<T, E> {
    fn into_operation_result(self) -> Result<Option<Value>, String> {
        match self {
            Ok(value) => match serde_json::to_value(value) {
                Ok(Value::Null) => Ok(None),
                Ok(value) => Ok(Some(value)),
                Err(e) => Err(format!("the operation's result is not JSON: {e}")),
            },
            Err(error) => Err(error.to_string()),
        }
    }
}

/// The batch and the contexts of its operations, one at a time.
struct BatchRun {
    id: EntityId,
    shared: Arc<Mutex<Shared>>,
    operations: Vec<Operation>,
    results: Vec<Value>,
}

impl BatchRun {
    fn start(invocation: &mut Invocation, binding: &str) -> Result<BatchRun, FunctionError> {
        let data = invocation.take_input(binding).unwrap_or_default();
        let body = String::from_typed_data(data).map_err(|e| e.in_binding(binding))?;
        let batch: EntityBatch = serde_json::from_str(&body).map_err(|e| {
            FunctionError::new(format!(
                "binding `{binding}`: the entity trigger's value is not the durable extension's entity batch \
                 JSON ({e}); check that the host runs the durable extension's out-of-process protocol"
            ))
        })?;
        Ok(BatchRun {
            id: EntityId::new(batch.entity.name, batch.entity.key),
            shared: Arc::new(Mutex::new(Shared {
                exists: batch.exists,
                state: None,
                raw_state: batch.state,
                result: Value::Null,
                signals: Vec::new(),
            })),
            operations: batch.batch,
            results: Vec::new(),
        })
    }

    fn context(&self, index: usize) -> Result<EntityContext, FunctionError> {
        let operation = &self.operations[index];
        let Some(name) = operation.name.clone() else {
            return Err(FunctionError::new(format!(
                "operation {index} of the batch for entity {} has no name; the host sent a malformed batch",
                self.id
            )));
        };
        self.shared.lock().unwrap_or_else(|p| p.into_inner()).result = Value::Null;
        Ok(EntityContext {
            id: self.id.clone(),
            operation: name,
            input: operation_input(operation),
            shared: Arc::clone(&self.shared),
        })
    }

    fn record(&mut self, started: SystemTime, clock: Instant, outcome: Result<Option<Value>, String>) {
        let (is_error, result) = match outcome {
            Ok(Some(value)) => (false, value),
            Ok(None) => (false, self.shared.lock().unwrap_or_else(|p| p.into_inner()).result.clone()),
            Err(message) => (true, Value::String(message)),
        };
        let start_ms = started.duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or_default();
        self.results.push(json!({
            "isError": is_error,
            "duration": clock.elapsed().as_millis() as u64,
            "startTime": start_ms,
            "result": result.to_string(),
        }));
    }

    fn finish(self, invocation: Invocation) -> InvocationResult {
        let shared = self.shared.lock().unwrap_or_else(|p| p.into_inner());
        let state = match (&shared.raw_state, &shared.state) {
            (Some(raw), None) => raw.clone(),
            (_, Some(value)) => value.to_string(),
            (None, None) => "null".to_string(),
        };
        let answer = json!({
            "entityExists": shared.exists,
            "entityState": state,
            "results": self.results,
            "signals": shared.signals,
        });
        invocation.finish(Some(typed(Data::Json(answer.to_string()))))
    }
}

/// An operation's input is JSON text of JSON text (the extension encodes it twice); a host that
/// encodes it once is read as well.
fn operation_input(operation: &Operation) -> Value {
    match operation.input.as_deref().map(parse_payload) {
        Some(Value::String(inner)) => serde_json::from_str(&inner).unwrap_or(Value::String(inner)),
        Some(value) => value,
        None => Value::Null,
    }
}

/// Runs a (blocking) entity function over one batch.
pub fn run_entity<F, R>(mut invocation: Invocation, binding: &str, mut entity: F) -> InvocationResult
where
    F: FnMut(EntityContext) -> R,
    R: EntityReturn,
{
    let mut run = BatchRun::start(&mut invocation, binding)?;
    for index in 0..run.operations.len() {
        let context = run.context(index)?;
        let (started, clock) = (SystemTime::now(), Instant::now());
        let outcome = crate::runtime::catch_panic(|| entity(context).into_operation_result())
            .unwrap_or_else(|panic| Err(panic.message));
        run.record(started, clock, outcome);
    }
    run.finish(invocation)
}

/// Runs an `async` entity function over one batch, one operation at a time.
pub async fn run_entity_async<F, Fut, R>(
    mut invocation: Invocation,
    binding: &str,
    mut entity: F,
) -> InvocationResult
where
    F: FnMut(EntityContext) -> Fut,
    Fut: Future<Output = R>,
    R: EntityReturn,
{
    let mut run = BatchRun::start(&mut invocation, binding)?;
    for index in 0..run.operations.len() {
        let context = run.context(index)?;
        let (started, clock) = (SystemTime::now(), Instant::now());
        let outcome = entity(context).await.into_operation_result();
        run.record(started, clock, outcome);
    }
    run.finish(invocation)
}

//! One call of a function: what the host sent, and slots for what goes back.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use fnwire_protocol::inbound::EncodedTriggerMetadata;
use fnwire_protocol::rpc::parameter_binding::RpcData;
use fnwire_protocol::rpc::{InvocationRequest, TypedData};

use crate::FunctionError;
use crate::context::{RetryContext, TraceContext};

/// What a function returns to the runtime when it succeeds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct InvocationOutcome {
    /// Output bindings by name (`InvocationResponse.output_data`).
    pub outputs: Vec<(String, TypedData)>,
    /// The value of the `$return` binding, if any.
    pub return_value: Option<TypedData>,
}

/// The result of one invocation.
pub type InvocationResult = Result<InvocationOutcome, FunctionError>;

type Slot = Arc<Mutex<Option<Result<TypedData, FunctionError>>>>;

/// Output slots shared between an [`Invocation`] and the [`crate::Out`] handles bound to it.
#[derive(Debug, Clone, Default)]
pub(crate) struct OutputSlots {
    slots: Arc<Mutex<Vec<(String, Slot)>>>,
}

impl OutputSlots {
    /// The slot for `binding`, created on first use.
    pub(crate) fn slot(&self, binding: &str) -> Slot {
        let mut slots = lock(&self.slots);
        if let Some((_, slot)) = slots.iter().find(|(name, _)| name == binding) {
            return slot.clone();
        }
        let slot = Slot::default();
        slots.push((binding.to_string(), slot.clone()));
        slot
    }

    /// Every value that was set, in binding order. The first conversion error wins.
    fn collect(&self) -> Result<Vec<(String, TypedData)>, FunctionError> {
        let slots = lock(&self.slots);
        let mut outputs = Vec::new();
        for (name, slot) in slots.iter() {
            match lock(slot).take() {
                Some(Ok(data)) if data.data.is_some() => outputs.push((name.clone(), data)),
                Some(Ok(_)) | None => {}
                Some(Err(e)) => return Err(e.in_binding(name)),
            }
        }
        Ok(outputs)
    }
}

/// Locks a mutex even if a panicking function poisoned it: the data (an output value) is still
/// consistent, and the worker must keep serving.
pub(crate) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// An invocation's trigger metadata, decoded from the host's encoding the first time it is read:
/// most functions never read it, and for HTTP it repeats the whole request (see
/// `fnwire_protocol::inbound`).
#[derive(Debug, Clone, Default)]
pub(crate) struct TriggerMetadata {
    encoded: EncodedTriggerMetadata,
    decoded: OnceLock<HashMap<String, TypedData>>,
}

impl TriggerMetadata {
    fn decoded(map: HashMap<String, TypedData>) -> Self {
        TriggerMetadata { encoded: EncodedTriggerMetadata::default(), decoded: OnceLock::from(map) }
    }

    fn encoded(encoded: EncodedTriggerMetadata) -> Self {
        TriggerMetadata { encoded, decoded: OnceLock::new() }
    }

    pub(crate) fn map(&self) -> &HashMap<String, TypedData> {
        self.decoded.get_or_init(|| {
            let mut map = HashMap::new();
            // The stream's other fields decoded, so the host's encoder wrote this too: a bad
            // entry means a host bug. The entries before it are kept and the invocation runs.
            if let Err(error) = self.encoded.decode_into(&mut map) {
                tracing::warn!(
                    %error,
                    "the host's trigger metadata for this invocation could not be decoded; \
                     the function sees only the entries before the malformed one"
                );
            }
            map
        })
    }

    fn map_mut(&mut self) -> &mut HashMap<String, TypedData> {
        self.map();
        self.decoded.get_mut().expect("`map` has just decoded it")
    }
}

/// One call of a function, as handed to a [`crate::runtime::Handler`].
#[derive(Debug)]
pub struct Invocation {
    invocation_id: String,
    function_id: String,
    function_name: String,
    inputs: Vec<(String, TypedData)>,
    trigger_metadata: Arc<TriggerMetadata>,
    trace_context: TraceContext,
    retry_context: Option<RetryContext>,
    outputs: OutputSlots,
}

impl Invocation {
    /// An invocation with no inputs, e.g. to call a handler from a test.
    pub fn new(invocation_id: impl Into<String>, function_name: impl Into<String>) -> Self {
        Invocation {
            invocation_id: invocation_id.into(),
            function_id: String::new(),
            function_name: function_name.into(),
            inputs: Vec::new(),
            trigger_metadata: Arc::default(),
            trace_context: TraceContext::default(),
            retry_context: None,
            outputs: OutputSlots::default(),
        }
    }

    /// Builds the invocation from the host's request. Shared-memory inputs must have been read
    /// into the request first (the worker's session does that).
    pub fn from_request(mut request: InvocationRequest, function_name: impl Into<String>) -> Self {
        let metadata = TriggerMetadata::decoded(std::mem::take(&mut request.trigger_metadata));
        Invocation::from_parts(request, metadata, function_name.into())
    }

    /// Builds the invocation from a request as the worker's stream decoded it: its trigger
    /// metadata still encoded, decoded the first time something reads it.
    pub(crate) fn from_inbound(
        request: InvocationRequest,
        metadata: EncodedTriggerMetadata,
        function_name: String,
    ) -> Self {
        Invocation::from_parts(request, TriggerMetadata::encoded(metadata), function_name)
    }

    fn from_parts(
        request: InvocationRequest,
        trigger_metadata: TriggerMetadata,
        function_name: String,
    ) -> Self {
        let inputs = request
            .input_data
            .into_iter()
            .map(|binding| {
                let data = match binding.rpc_data {
                    Some(RpcData::Data(data)) => data,
                    _ => TypedData::default(),
                };
                (binding.name, data)
            })
            .collect();
        Invocation {
            invocation_id: request.invocation_id,
            function_id: request.function_id,
            function_name,
            inputs,
            trigger_metadata: Arc::new(trigger_metadata),
            trace_context: request.trace_context.map(TraceContext::from_rpc).unwrap_or_default(),
            retry_context: request.retry_context.map(RetryContext::from_rpc),
            outputs: OutputSlots::default(),
        }
    }

    /// Adds an input binding value (builder style).
    pub fn with_input(mut self, binding: impl Into<String>, data: TypedData) -> Self {
        self.inputs.push((binding.into(), data));
        self
    }

    /// Adds a trigger-metadata value (builder style).
    pub fn with_trigger_metadata(mut self, key: impl Into<String>, data: TypedData) -> Self {
        Arc::make_mut(&mut self.trigger_metadata).map_mut().insert(key.into(), data);
        self
    }

    /// The host's id for this invocation.
    pub fn invocation_id(&self) -> &str {
        &self.invocation_id
    }

    /// The host's id for the function being invoked.
    pub fn function_id(&self) -> &str {
        &self.function_id
    }

    /// The name of the function being invoked.
    pub fn function_name(&self) -> &str {
        &self.function_name
    }

    /// All input bindings in the order the host sent them (the trigger first).
    pub fn inputs(&self) -> &[(String, TypedData)] {
        &self.inputs
    }

    /// One input binding's value.
    pub fn input(&self, binding: &str) -> Option<&TypedData> {
        self.inputs.iter().find(|(name, _)| name == binding).map(|(_, data)| data)
    }

    /// Takes an input binding's value out (it is not cloned; later calls get `None`).
    pub fn take_input(&mut self, binding: &str) -> Option<TypedData> {
        let index = self.inputs.iter().position(|(name, _)| name == binding)?;
        Some(std::mem::take(&mut self.inputs[index].1))
    }

    /// All trigger metadata: binding data the trigger adds, e.g. a queue message's `DequeueCount`.
    pub fn trigger_metadata(&self) -> &HashMap<String, TypedData> {
        self.trigger_metadata.map()
    }

    pub(crate) fn shared_trigger_metadata(&self) -> Arc<TriggerMetadata> {
        self.trigger_metadata.clone()
    }

    /// The W3C trace context the host sent with the invocation.
    pub fn trace_context(&self) -> &TraceContext {
        &self.trace_context
    }

    /// Present when the host retries this trigger after a failure.
    pub fn retry_context(&self) -> Option<&RetryContext> {
        self.retry_context.as_ref()
    }

    /// Sets an output binding's value (replacing an earlier one).
    pub fn set_output(&self, binding: &str, data: TypedData) {
        *lock(&self.outputs.slot(binding)) = Some(Ok(data));
    }

    pub(crate) fn output_slots(&self) -> &OutputSlots {
        &self.outputs
    }

    /// Ends the invocation: the outputs set so far plus `return_value`. Null values are left out,
    /// as hosts skip them anyway.
    pub fn finish(self, return_value: Option<TypedData>) -> InvocationResult {
        let outputs = self.outputs.collect()?;
        Ok(InvocationOutcome { outputs, return_value: return_value.filter(|data| data.data.is_some()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fnwire_protocol::rpc::typed_data::Data;

    fn text(value: &str) -> TypedData {
        TypedData { data: Some(Data::String(value.into())) }
    }

    #[test]
    fn encoded_trigger_metadata_is_read_and_extended_as_a_map() {
        let sent = HashMap::from([("DequeueCount".to_string(), TypedData { data: Some(Data::Int(2)) })]);
        let request = InvocationRequest { invocation_id: "i".into(), ..InvocationRequest::default() };
        let invocation =
            Invocation::from_inbound(request, EncodedTriggerMetadata::from_map(&sent), "work".into());
        assert_eq!(invocation.trigger_metadata(), &sent);
        let context = crate::Context::of(&invocation);
        assert_eq!(context.trigger_metadata_as::<i64>("DequeueCount").unwrap(), Some(2));

        let extended = invocation.with_trigger_metadata("Id", text("m-1"));
        assert_eq!(extended.trigger_metadata().len(), 2);
        assert_eq!(extended.trigger_metadata()["Id"], text("m-1"));
    }
}

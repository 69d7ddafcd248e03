//! [`Context`]: facts about the current invocation.

use std::collections::HashMap;
use std::sync::Arc;

use fnwire_protocol::rpc::{RpcTraceContext, TypedData};

use crate::FunctionError;
use crate::convert::FromTypedData;
use crate::invocation::{Invocation, TriggerMetadata};

/// W3C trace context of the invocation, from the host's `Activity`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TraceContext {
    /// `traceparent`, e.g. `00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01`.
    pub trace_parent: String,
    /// `tracestate`.
    pub trace_state: String,
    /// Tags of the host's activity, e.g. `OperationName`.
    pub attributes: HashMap<String, String>,
    /// OpenTelemetry baggage (hosts with protocol 1.13).
    pub baggage: HashMap<String, String>,
}

impl TraceContext {
    pub(crate) fn from_rpc(rpc: RpcTraceContext) -> Self {
        TraceContext {
            trace_parent: rpc.trace_parent,
            trace_state: rpc.trace_state,
            attributes: rpc.attributes,
            baggage: rpc.baggage,
        }
    }
}

/// Present when the host runs a retry of a failed invocation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RetryContext {
    /// How many times this invocation has been retried so far.
    pub retry_count: i32,
    /// The most retries the policy allows (−1: unlimited).
    pub max_retry_count: i32,
    /// The message of the failure that caused the retry.
    pub exception_message: Option<String>,
}

impl RetryContext {
    pub(crate) fn from_rpc(rpc: fnwire_protocol::rpc::RetryContext) -> Self {
        RetryContext {
            retry_count: rpc.retry_count,
            max_retry_count: rpc.max_retry_count,
            exception_message: rpc.exception.map(|e| e.message).filter(|m| !m.is_empty()),
        }
    }
}

/// Facts about the current invocation: add a `ctx: Context` parameter to any function.
#[derive(Debug, Clone)]
pub struct Context {
    invocation_id: String,
    function_name: String,
    function_id: String,
    trace_context: TraceContext,
    retry_context: Option<RetryContext>,
    trigger_metadata: Arc<TriggerMetadata>,
}

impl Context {
    /// The context of an invocation.
    pub fn of(invocation: &Invocation) -> Self {
        Context {
            invocation_id: invocation.invocation_id().to_string(),
            function_name: invocation.function_name().to_string(),
            function_id: invocation.function_id().to_string(),
            trace_context: invocation.trace_context().clone(),
            retry_context: invocation.retry_context().cloned(),
            trigger_metadata: invocation.shared_trigger_metadata(),
        }
    }

    /// The host's id for this invocation (a GUID); it appears in the host's logs.
    pub fn invocation_id(&self) -> &str {
        &self.invocation_id
    }

    /// The name of the function being invoked.
    pub fn function_name(&self) -> &str {
        &self.function_name
    }

    /// The host's id for the function being invoked.
    pub fn function_id(&self) -> &str {
        &self.function_id
    }

    /// The W3C trace context the host sent with the invocation.
    pub fn trace_context(&self) -> &TraceContext {
        &self.trace_context
    }

    /// Present when this invocation is a retry.
    pub fn retry_context(&self) -> Option<&RetryContext> {
        self.retry_context.as_ref()
    }

    /// One trigger-metadata value as the host sent it.
    pub fn trigger_metadata(&self, key: &str) -> Option<&TypedData> {
        self.trigger_metadata.map().get(key)
    }

    /// One trigger-metadata value converted, e.g. `ctx.trigger_metadata_as::<i64>("DequeueCount")`.
    /// `Ok(None)` if the key is absent.
    pub fn trigger_metadata_as<T: FromTypedData>(&self, key: &str) -> Result<Option<T>, FunctionError> {
        match self.trigger_metadata.map().get(key) {
            None => Ok(None),
            Some(data) => T::from_typed_data(data.clone())
                .map(Some)
                .map_err(|e| FunctionError::new(format!("trigger metadata `{key}`: {}", e.message))),
        }
    }

    /// The keys of all trigger metadata.
    pub fn trigger_metadata_keys(&self) -> impl Iterator<Item = &str> {
        self.trigger_metadata.map().keys().map(String::as_str)
    }
}

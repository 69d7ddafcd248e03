//! Names of the message kinds, for logs, errors and transcripts.

use crate::rpc::StreamingMessage;
use crate::rpc::streaming_message::Content;

impl Content {
    /// The protocol's name of this message kind: the `StreamingMessage.content` member name,
    /// e.g. `invocation_request` (the spelling proto3 JSON and the reference transcripts use).
    pub fn name(&self) -> &'static str {
        match self {
            Content::RpcLog(_) => "rpc_log",
            Content::InvocationRequest(_) => "invocation_request",
            Content::InvocationResponse(_) => "invocation_response",
            Content::FileChangeEventRequest(_) => "file_change_event_request",
            Content::WorkerActionResponse(_) => "worker_action_response",
            Content::FunctionLoadRequest(_) => "function_load_request",
            Content::FunctionLoadResponse(_) => "function_load_response",
            Content::WorkerStatusRequest(_) => "worker_status_request",
            Content::WorkerStatusResponse(_) => "worker_status_response",
            Content::WorkerTerminate(_) => "worker_terminate",
            Content::WorkerHeartbeat(_) => "worker_heartbeat",
            Content::WorkerInitResponse(_) => "worker_init_response",
            Content::WorkerInitRequest(_) => "worker_init_request",
            Content::StartStream(_) => "start_stream",
            Content::InvocationCancel(_) => "invocation_cancel",
            Content::FunctionEnvironmentReloadRequest(_) => "function_environment_reload_request",
            Content::FunctionEnvironmentReloadResponse(_) => "function_environment_reload_response",
            Content::CloseSharedMemoryResourcesRequest(_) => "close_shared_memory_resources_request",
            Content::CloseSharedMemoryResourcesResponse(_) => "close_shared_memory_resources_response",
            Content::FunctionsMetadataRequest(_) => "functions_metadata_request",
            Content::FunctionMetadataResponse(_) => "function_metadata_response",
            Content::FunctionLoadRequestCollection(_) => "function_load_request_collection",
            Content::FunctionLoadResponseCollection(_) => "function_load_response_collection",
            Content::WorkerWarmupRequest(_) => "worker_warmup_request",
            Content::WorkerWarmupResponse(_) => "worker_warmup_response",
        }
    }
}

impl StreamingMessage {
    /// The name of the message kind, or `empty` for a message without content (which a peer
    /// may send; it is ignored, never an error).
    pub fn content_name(&self) -> &'static str {
        self.content.as_ref().map_or("empty", Content::name)
    }
}

//! [`WorkerChannel`]: request/response over one worker's `EventStream`.
//!
//! Replies are matched the way Azure hosts match them: by message type, and by `function_id`
//! (loads), `invocation_id` (invocations) or `request_id` (status). `RpcLog`s are printed with
//! the function name and invocation id they belong to.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use fnwire_protocol::rpc::streaming_message::Content;
use fnwire_protocol::rpc::{
    CloseSharedMemoryResourcesRequest, ParameterBinding, RpcException, parameter_binding,
};
use fnwire_protocol::rpc::{
    FunctionLoadRequest, FunctionLoadRequestCollection, FunctionLoadResponse, FunctionMetadataResponse,
    FunctionsMetadataRequest, InvocationCancel, InvocationRequest, InvocationResponse, RpcLog, StatusResult,
    StreamingMessage, WorkerInitRequest, WorkerInitResponse, WorkerStatusRequest, WorkerTerminate, rpc_log,
    status_result,
};
use fnwire_shared_memory::{Settings as SharedMemorySettings, SharedMemory};
use tokio::sync::{oneshot, watch};

use crate::grpc::WorkerConnection;

/// Well-known worker capability names.
pub mod capability {
    pub const RAW_HTTP_BODY_BYTES: &str = "RawHttpBodyBytes";
    pub const RPC_HTTP_BODY_ONLY: &str = "RpcHttpBodyOnly";
    pub const RPC_HTTP_TRIGGER_METADATA_REMOVED: &str = "RpcHttpTriggerMetadataRemoved";
    pub const IGNORE_EMPTY_VALUED_RPC_HTTP_HEADERS: &str = "IgnoreEmptyValuedRpcHttpHeaders";
    pub const USE_NULLABLE_VALUE_DICTIONARY_FOR_HTTP: &str = "UseNullableValueDictionaryForHttp";
    pub const TYPED_DATA_COLLECTION: &str = "TypedDataCollection";
    pub const HANDLES_WORKER_TERMINATE_MESSAGE: &str = "HandlesWorkerTerminateMessage";
    pub const HANDLES_INVOCATION_CANCEL_MESSAGE: &str = "HandlesInvocationCancelMessage";
    pub const SUPPORTS_LOAD_RESPONSE_COLLECTION: &str = "SupportsLoadResponseCollection";
    pub const WORKER_STATUS: &str = "WorkerStatus";
    pub const SHARED_MEMORY_DATA_TRANSFER: &str = fnwire_shared_memory::CAPABILITY;
}

/// What went wrong talking to a worker.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ChannelError {
    #[error("the worker's stream is closed: {0}")]
    Closed(String),
    #[error("the worker did not answer {what} within {after:?}")]
    Timeout { what: &'static str, after: Duration },
    #[error("the worker answered {what} with a failure: {message}")]
    Failed { what: &'static str, message: String },
}

/// Which reply a request waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    WorkerInitResponse,
    FunctionMetadataResponse,
    FunctionLoadResponse { function_id: String },
    FunctionLoadResponseCollection,
    WorkerStatusResponse { request_id: String },
    FunctionEnvironmentReloadResponse,
    WorkerWarmupResponse,
}

impl Expect {
    fn matches(&self, msg: &StreamingMessage) -> bool {
        match (self, &msg.content) {
            (Expect::WorkerInitResponse, Some(Content::WorkerInitResponse(_)))
            | (Expect::FunctionMetadataResponse, Some(Content::FunctionMetadataResponse(_)))
            | (Expect::FunctionLoadResponseCollection, Some(Content::FunctionLoadResponseCollection(_)))
            | (
                Expect::FunctionEnvironmentReloadResponse,
                Some(Content::FunctionEnvironmentReloadResponse(_)),
            )
            | (Expect::WorkerWarmupResponse, Some(Content::WorkerWarmupResponse(_))) => true,
            (Expect::FunctionLoadResponse { function_id }, Some(Content::FunctionLoadResponse(r))) => {
                r.function_id == *function_id
            }
            (Expect::WorkerStatusResponse { request_id }, Some(Content::WorkerStatusResponse(_))) => {
                msg.request_id == *request_id
            }
            _ => false,
        }
    }

    fn describe(&self) -> &'static str {
        match self {
            Expect::WorkerInitResponse => "WorkerInitRequest",
            Expect::FunctionMetadataResponse => "FunctionsMetadataRequest",
            Expect::FunctionLoadResponse { .. } => "FunctionLoadRequest",
            Expect::FunctionLoadResponseCollection => "FunctionLoadRequestCollection",
            Expect::WorkerStatusResponse { .. } => "WorkerStatusRequest",
            Expect::FunctionEnvironmentReloadResponse => "FunctionEnvironmentReloadRequest",
            Expect::WorkerWarmupResponse => "WorkerWarmupRequest",
        }
    }
}

struct Waiter {
    expect: Expect,
    tx: oneshot::Sender<StreamingMessage>,
}

struct PendingInvocation {
    function_name: String,
    tx: oneshot::Sender<InvocationResponse>,
}

#[derive(Default)]
struct State {
    waiters: Vec<Waiter>,
    invocations: HashMap<String, PendingInvocation>,
    capabilities: HashMap<String, String>,
    closed: Option<String>,
}

/// Which way a message travelled on a worker's stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageDirection {
    WorkerToHost,
    HostToWorker,
}

/// Sees every message of a stream in order (inbound before it is handled, outbound before it is
/// sent), e.g. to record a transcript. It runs on the stream's reader task: keep it quick.
pub type MessageObserver = Arc<dyn Fn(MessageDirection, &StreamingMessage) + Send + Sync>;

/// One worker's stream. Cheap to share behind an `Arc`; all methods take `&self`.
pub struct WorkerChannel {
    worker_id: String,
    /// `None` once the host has ended the stream.
    outbound: Mutex<Option<tokio::sync::mpsc::UnboundedSender<StreamingMessage>>>,
    state: Arc<Mutex<State>>,
    closed_rx: watch::Receiver<Option<String>>,
    observer: Option<MessageObserver>,
    /// Set when the app turned shared-memory transfer on and the worker declared it.
    shared_memory: OnceLock<Arc<SharedMemory>>,
}

impl std::fmt::Debug for WorkerChannel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkerChannel").field("worker_id", &self.worker_id).finish_non_exhaustive()
    }
}

impl WorkerChannel {
    /// Takes over an accepted stream and starts reading it.
    pub fn new(connection: WorkerConnection) -> Self {
        Self::start(connection, None)
    }

    /// Like [`WorkerChannel::new`], and shows `observer` every message both ways, starting with
    /// the worker's `StartStream` (which the gRPC server already consumed).
    pub fn with_observer(connection: WorkerConnection, observer: MessageObserver) -> Self {
        let start = StreamingMessage {
            request_id: connection.request_id.clone(),
            content: Some(Content::StartStream(connection.start.clone())),
        };
        observer(MessageDirection::WorkerToHost, &start);
        Self::start(connection, Some(observer))
    }

    fn start(connection: WorkerConnection, observer: Option<MessageObserver>) -> Self {
        let state: Arc<Mutex<State>> = Arc::default();
        let (closed_tx, closed_rx) = watch::channel(None);
        let worker_id = connection.start.worker_id.clone();
        tokio::spawn(pump_inbound(
            connection.inbound,
            worker_id.clone(),
            state.clone(),
            closed_tx,
            observer.clone(),
        ));
        WorkerChannel {
            worker_id,
            outbound: Mutex::new(Some(connection.outbound)),
            state,
            closed_rx,
            observer,
            shared_memory: OnceLock::new(),
        }
    }

    pub fn worker_id(&self) -> &str {
        &self.worker_id
    }

    /// Why the stream closed, if it has.
    /// How many invocations sent to this worker have no response yet.
    pub fn invocations_in_flight(&self) -> usize {
        self.lock().invocations.len()
    }

    pub fn closed_reason(&self) -> Option<String> {
        self.closed_rx.borrow().clone()
    }

    /// Waits until the stream closes; returns why.
    pub async fn closed(&self) -> String {
        let mut rx = self.closed_rx.clone();
        match rx.wait_for(Option::is_some).await {
            Ok(reason) => reason.clone().unwrap_or_default(),
            Err(_) => "the stream reader stopped".into(),
        }
    }

    /// The capabilities the worker declared in its init response.
    pub fn capabilities(&self) -> HashMap<String, String> {
        self.lock().capabilities.clone()
    }

    /// Azure hosts treat any non-empty value, even "false", as declared.
    pub fn has_capability(&self, name: &str) -> bool {
        self.lock().capabilities.get(name).is_some_and(|v| !v.is_empty())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the maps half-updated in a harmful way.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Sends large input values through shared memory from now on, if the worker declared
    /// `SharedMemoryDataTransfer` (call after [`WorkerChannel::initialize`]); returns whether it
    /// will. Azure's host needs both the app setting and the capability too.
    pub fn enable_shared_memory(&self, settings: SharedMemorySettings) -> bool {
        if !self.has_capability(capability::SHARED_MEMORY_DATA_TRANSFER) {
            return false;
        }
        let _ = self.shared_memory.set(Arc::new(SharedMemory::new(settings)));
        true
    }

    /// Whether large values go through shared memory with this worker.
    pub fn uses_shared_memory(&self) -> bool {
        self.shared_memory.get().is_some()
    }

    /// Sends a message without waiting for anything.
    pub fn send(&self, content: Content) -> Result<(), ChannelError> {
        self.send_message(StreamingMessage { request_id: String::new(), content: Some(content) })
    }

    fn send_message(&self, msg: StreamingMessage) -> Result<(), ChannelError> {
        if let Some(reason) = self.closed_reason() {
            return Err(ChannelError::Closed(reason));
        }
        if let Some(observer) = &self.observer {
            observer(MessageDirection::HostToWorker, &msg);
        }
        let outbound = self.outbound.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        match outbound.as_ref() {
            Some(tx) => tx.send(msg).map_err(|_| ChannelError::Closed("the stream is gone".into())),
            None => Err(ChannelError::Closed("the host ended the stream".into())),
        }
    }

    /// Ends the host's side of the stream: the worker sees the stream end, which tells it to
    /// finish and exit. Used to stop workers that do not handle `WorkerTerminate`.
    pub fn close_stream(&self) {
        self.outbound.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take();
    }

    /// Sends a message and waits up to `timeout` for the reply `expect` describes.
    pub async fn request(
        &self,
        msg: StreamingMessage,
        expect: Expect,
        timeout: Duration,
    ) -> Result<StreamingMessage, ChannelError> {
        let what = expect.describe();
        let (tx, rx) = oneshot::channel();
        {
            let mut state = self.lock();
            if let Some(reason) = &state.closed {
                return Err(ChannelError::Closed(reason.clone()));
            }
            state.waiters.push(Waiter { expect, tx });
        }
        self.send_message(msg)?;
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(reply)) => Ok(reply),
            Ok(Err(_)) => {
                Err(ChannelError::Closed(self.closed_reason().unwrap_or_else(|| "stream closed".into())))
            }
            Err(_) => {
                self.lock().waiters.retain(|w| !w.tx.is_closed());
                Err(ChannelError::Timeout { what, after: timeout })
            }
        }
    }

    /// `WorkerInitRequest` → `WorkerInitResponse`; stores the worker's capabilities. A response
    /// whose status is not Success is an error carrying the worker's message.
    pub async fn initialize(
        &self,
        request: WorkerInitRequest,
        timeout: Duration,
    ) -> Result<WorkerInitResponse, ChannelError> {
        let msg = StreamingMessage {
            request_id: String::new(),
            content: Some(Content::WorkerInitRequest(request)),
        };
        let reply = self.request(msg, Expect::WorkerInitResponse, timeout).await?;
        let Some(Content::WorkerInitResponse(response)) = reply.content else {
            return Err(ChannelError::Closed("unexpected reply".into()));
        };
        check_status("WorkerInitRequest", response.result.as_ref())?;
        self.lock().capabilities = response.capabilities.clone();
        Ok(response)
    }

    /// `FunctionsMetadataRequest` → `FunctionMetadataResponse` (worker indexing).
    pub async fn function_metadata(
        &self,
        function_app_directory: &str,
        timeout: Duration,
    ) -> Result<FunctionMetadataResponse, ChannelError> {
        let msg = StreamingMessage {
            request_id: String::new(),
            content: Some(Content::FunctionsMetadataRequest(FunctionsMetadataRequest {
                function_app_directory: function_app_directory.to_string(),
            })),
        };
        let reply = self.request(msg, Expect::FunctionMetadataResponse, timeout).await?;
        let Some(Content::FunctionMetadataResponse(response)) = reply.content else {
            return Err(ChannelError::Closed("unexpected reply".into()));
        };
        if !response.use_default_metadata_indexing {
            check_status("FunctionsMetadataRequest", response.result.as_ref())?;
        }
        Ok(response)
    }

    /// Loads functions: one collection if the worker declared `SupportsLoadResponseCollection`,
    /// else one request per function. Per-function failures are in the returned responses.
    pub async fn load_functions(
        &self,
        requests: Vec<FunctionLoadRequest>,
        timeout: Duration,
    ) -> Result<Vec<FunctionLoadResponse>, ChannelError> {
        if requests.is_empty() {
            return Ok(Vec::new());
        }
        if self.has_capability(capability::SUPPORTS_LOAD_RESPONSE_COLLECTION) {
            let msg = StreamingMessage {
                request_id: String::new(),
                content: Some(Content::FunctionLoadRequestCollection(FunctionLoadRequestCollection {
                    function_load_requests: requests,
                })),
            };
            let reply = self.request(msg, Expect::FunctionLoadResponseCollection, timeout).await?;
            let Some(Content::FunctionLoadResponseCollection(c)) = reply.content else {
                return Err(ChannelError::Closed("unexpected reply".into()));
            };
            return Ok(c.function_load_responses);
        }
        let replies = requests.into_iter().map(|request| {
            let expect = Expect::FunctionLoadResponse { function_id: request.function_id.clone() };
            let msg = StreamingMessage {
                request_id: String::new(),
                content: Some(Content::FunctionLoadRequest(request)),
            };
            self.request(msg, expect, timeout)
        });
        let mut out = Vec::new();
        for reply in futures::future::join_all(replies).await {
            if let Some(Content::FunctionLoadResponse(r)) = reply?.content {
                out.push(r);
            }
        }
        Ok(out)
    }

    /// Sends an invocation and waits for its response (no timeout: the caller decides).
    ///
    /// With shared memory on, large input values go in maps that are deleted when the response
    /// arrives (or the invocation is abandoned), and output values the worker put in maps are
    /// read into the response, after which the worker is told to free them.
    pub async fn invoke(
        &self,
        function_name: &str,
        mut request: InvocationRequest,
    ) -> Result<InvocationResponse, ChannelError> {
        let _input_maps = match self.shared_memory.get() {
            Some(shared) if request.input_data.iter().any(has_large_value) => {
                // Boxed (as the outputs' read below): rare, and inline they would make every
                // invocation's future larger.
                let (offloaded, maps) = Box::pin(offload_inputs(shared.clone(), request)).await?;
                request = offloaded;
                Some(maps)
            }
            _ => None,
        };
        let invocation_id = request.invocation_id.clone();
        let (tx, rx) = oneshot::channel();
        {
            let mut state = self.lock();
            if let Some(reason) = &state.closed {
                return Err(ChannelError::Closed(reason.clone()));
            }
            state.invocations.insert(
                invocation_id.clone(),
                PendingInvocation { function_name: function_name.to_string(), tx },
            );
        }
        let guard = InvocationGuard { state: &self.state, invocation_id: &invocation_id };
        self.send(Content::InvocationRequest(request))?;
        let result = rx.await;
        drop(guard);
        let response = result.map_err(|_| {
            ChannelError::Closed(self.closed_reason().unwrap_or_else(|| "stream closed".into()))
        })?;
        if response.output_data.iter().any(is_shared_memory) {
            return Ok(Box::pin(self.read_shared_outputs(response)).await);
        }
        Ok(response)
    }

    /// Replaces the outputs the worker put in shared memory with their values, then asks the
    /// worker to free those maps. An output that cannot be read fails the invocation: its value
    /// is lost, and delivering the other outputs without it would be a partial result.
    async fn read_shared_outputs(&self, mut response: InvocationResponse) -> InvocationResponse {
        let names: Vec<String> = response
            .output_data
            .iter()
            .filter_map(|b| match &b.rpc_data {
                Some(parameter_binding::RpcData::RpcSharedMemory(m)) => Some(m.name.clone()),
                _ => None,
            })
            .collect();
        let read = match self.shared_memory.get() {
            Some(shared) => {
                let shared = shared.clone();
                let mut outputs = std::mem::take(&mut response.output_data);
                // Files, possibly large: off the runtime's threads.
                tokio::task::spawn_blocking(move || {
                    for binding in &mut outputs {
                        shared.resolve(binding).map_err(|e| format!("output `{}`: {e}", binding.name))?;
                    }
                    Ok(outputs)
                })
                .await
                .unwrap_or_else(|e| Err(format!("reading shared memory stopped: {e}")))
            }
            None => Err(format!(
                "the worker sent output `{}` through shared memory, which this host did not offer: set {} to \
                 true in the app settings to use it, or send values inline",
                response.output_data.iter().find(|b| is_shared_memory(b)).map_or("", |b| b.name.as_str()),
                fnwire_shared_memory::ENABLED_SETTING
            )),
        };
        // Azure's host does not wait for the answer either.
        let _ = self.send(Content::CloseSharedMemoryResourcesRequest(CloseSharedMemoryResourcesRequest {
            map_names: names,
        }));
        match read {
            Ok(outputs) => response.output_data = outputs,
            Err(message) => {
                tracing::error!(invocation_id = %response.invocation_id, "{message}");
                response.output_data.clear();
                response.return_value = None;
                response.result = Some(StatusResult {
                    status: status_result::Status::Failure as i32,
                    exception: Some(RpcException { message: message.clone(), ..Default::default() }),
                    result: message,
                    ..Default::default()
                });
            }
        }
        response
    }

    /// Asks the worker to cancel an invocation (only if it declared it handles cancels).
    pub fn cancel(&self, invocation_id: &str) {
        if self.has_capability(capability::HANDLES_INVOCATION_CANCEL_MESSAGE) {
            let _ = self.send(Content::InvocationCancel(InvocationCancel {
                invocation_id: invocation_id.to_string(),
                grace_period: None,
            }));
        }
    }

    /// `WorkerStatusRequest` with a fresh request id; returns when the worker echoes it.
    pub async fn worker_status(&self, timeout: Duration) -> Result<(), ChannelError> {
        let request_id = uuid::Uuid::new_v4().to_string();
        let msg = StreamingMessage {
            request_id: request_id.clone(),
            content: Some(Content::WorkerStatusRequest(WorkerStatusRequest {})),
        };
        self.request(msg, Expect::WorkerStatusResponse { request_id }, timeout).await.map(|_| ())
    }

    /// Sends `WorkerTerminate` if the worker declared it handles it; returns whether it was sent.
    pub fn terminate(&self, grace_period: Duration) -> bool {
        if !self.has_capability(capability::HANDLES_WORKER_TERMINATE_MESSAGE) {
            return false;
        }
        let grace = prost_types::Duration {
            seconds: i64::try_from(grace_period.as_secs()).unwrap_or(i64::MAX),
            nanos: i32::try_from(grace_period.subsec_nanos()).unwrap_or(0),
        };
        self.send(Content::WorkerTerminate(WorkerTerminate { grace_period: Some(grace) })).is_ok()
    }
}

fn has_large_value(binding: &ParameterBinding) -> bool {
    matches!(&binding.rpc_data, Some(parameter_binding::RpcData::Data(d)) if fnwire_shared_memory::qualifies(d))
}

fn is_shared_memory(binding: &ParameterBinding) -> bool {
    matches!(binding.rpc_data, Some(parameter_binding::RpcData::RpcSharedMemory(_)))
}

/// The maps holding one invocation's inputs; deleted when dropped, however the invocation ends.
struct InputMaps {
    shared: Arc<SharedMemory>,
    names: Vec<String>,
}

impl Drop for InputMaps {
    fn drop(&mut self) {
        for name in &self.names {
            self.shared.free(name);
        }
    }
}

/// Moves the large input values into maps, on the blocking pool. A value that cannot be written
/// (a full tmpfs) stays inline: Azure's host sends it over the stream then too.
async fn offload_inputs(
    shared: Arc<SharedMemory>,
    request: InvocationRequest,
) -> Result<(InvocationRequest, InputMaps), ChannelError> {
    let work = tokio::task::spawn_blocking(move || {
        let mut request = request;
        let mut maps = InputMaps { shared: shared.clone(), names: Vec::new() };
        for binding in &mut request.input_data {
            match shared.offload(binding) {
                Ok(Some(name)) => maps.names.push(name),
                Ok(None) => {}
                Err(e) => tracing::warn!(
                    invocation_id = %request.invocation_id,
                    "input `{}` goes over the stream instead of shared memory: {e}",
                    binding.name
                ),
            }
        }
        (request, maps)
    });
    // The closure owns the request: if it panicked (a bug), there is nothing left to send.
    work.await.map_err(|e| ChannelError::Failed {
        what: "InvocationRequest",
        message: format!("writing its inputs to shared memory stopped: {e}"),
    })
}

/// Removes an invocation from the pending map however `invoke` ends (including being dropped
/// because the HTTP client went away).
struct InvocationGuard<'a> {
    state: &'a Arc<Mutex<State>>,
    invocation_id: &'a str,
}

impl Drop for InvocationGuard<'_> {
    fn drop(&mut self) {
        if let Ok(mut state) = self.state.lock() {
            state.invocations.remove(self.invocation_id);
        }
    }
}

fn check_status(what: &'static str, result: Option<&StatusResult>) -> Result<(), ChannelError> {
    match result {
        Some(r) if r.status == status_result::Status::Success as i32 => Ok(()),
        Some(r) => {
            let mut message = r.exception.as_ref().map(|e| e.message.clone()).unwrap_or_default();
            if message.is_empty() {
                message = r.result.clone();
            }
            if message.is_empty() {
                message = format!("status {}", status_name(r.status));
            }
            Err(ChannelError::Failed { what, message })
        }
        None => Err(ChannelError::Failed {
            what,
            message: "the reply has no result (an absent result means Failure on the wire)".into(),
        }),
    }
}

/// The name of a `StatusResult.Status` value.
pub fn status_name(status: i32) -> &'static str {
    match status_result::Status::try_from(status) {
        Ok(s) => s.as_str_name(),
        Err(_) => "unknown",
    }
}

async fn pump_inbound(
    mut inbound: tonic::Streaming<StreamingMessage>,
    worker_id: String,
    state: Arc<Mutex<State>>,
    closed_tx: watch::Sender<Option<String>>,
    observer: Option<MessageObserver>,
) {
    let reason = loop {
        match inbound.message().await {
            Ok(Some(msg)) => {
                if let Some(observer) = &observer {
                    observer(MessageDirection::WorkerToHost, &msg);
                }
                dispatch(msg, &worker_id, &state)
            }
            Ok(None) => break "the worker ended its stream".to_string(),
            Err(status) => break format!("the worker's stream failed: {}", status.message()),
        }
    };
    let (waiters, invocations) = {
        let mut s = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        s.closed = Some(reason.clone());
        (std::mem::take(&mut s.waiters), std::mem::take(&mut s.invocations))
    };
    // Dropping the senders wakes every waiter with "closed".
    drop(waiters);
    drop(invocations);
    let _ = closed_tx.send(Some(reason));
}

fn dispatch(msg: StreamingMessage, worker_id: &str, state: &Mutex<State>) {
    let mut s = state.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    match msg.content {
        Some(Content::RpcLog(log)) => {
            let function = s.invocations.get(&log.invocation_id).map(|p| p.function_name.clone());
            drop(s);
            print_log(&log, function.as_deref());
            publish_log(&log, function, worker_id);
        }
        // The host does not wait for the worker to confirm it freed shared memory (Azure's
        // neither).
        Some(Content::CloseSharedMemoryResourcesResponse(_)) => {}
        Some(Content::InvocationResponse(response)) => match s.invocations.remove(&response.invocation_id) {
            Some(pending) => {
                let _ = pending.tx.send(response);
            }
            None => tracing::debug!(
                "invocation response for `{}`, which is not pending (already answered or abandoned)",
                response.invocation_id
            ),
        },
        Some(_) => {
            if let Some(i) = s.waiters.iter().position(|w| w.expect.matches(&msg)) {
                let waiter = s.waiters.remove(i);
                let _ = waiter.tx.send(msg);
            } else {
                tracing::debug!("ignored an unexpected message from the worker: {}", msg.content_name());
            }
        }
        None => tracing::debug!("ignored a message without content from the worker"),
    }
}

/// Hands a worker log to the process-wide feed (the dashboard's), when anyone listens.
fn publish_log(log: &RpcLog, function: Option<String>, worker_id: &str) {
    fnwire_observe::publish_worker_log(|| fnwire_observe::WorkerLog {
        invocation_id: log.invocation_id.clone(),
        function,
        worker_id: worker_id.to_string(),
        level: match rpc_log::Level::try_from(log.level).unwrap_or(rpc_log::Level::Information) {
            rpc_log::Level::Trace | rpc_log::Level::None => fnwire_observe::LogLevel::Trace,
            rpc_log::Level::Debug => fnwire_observe::LogLevel::Debug,
            rpc_log::Level::Information => fnwire_observe::LogLevel::Information,
            rpc_log::Level::Warning => fnwire_observe::LogLevel::Warning,
            rpc_log::Level::Error => fnwire_observe::LogLevel::Error,
            rpc_log::Level::Critical => fnwire_observe::LogLevel::Critical,
        },
        user: log.log_category == rpc_log::RpcLogCategory::User as i32,
        message: match &log.exception {
            Some(e) if !e.message.is_empty() && !log.message.contains(&e.message) => {
                format!("{}: {}", log.message, e.message)
            }
            _ => log.message.clone(),
        },
        at: std::time::SystemTime::now(),
    });
}

/// Prints a worker log: user logs with the function name and invocation id.
fn print_log(log: &RpcLog, function: Option<&str>) {
    let is_user = log.log_category == rpc_log::RpcLogCategory::User as i32;
    let mut text = log.message.clone();
    if let Some(e) = &log.exception {
        if !e.message.is_empty() && !text.contains(&e.message) {
            text = format!("{text}: {}", e.message);
        }
        if !e.stack_trace.is_empty() {
            text = format!("{text}\n{}", e.stack_trace);
        }
    }
    let origin = match (function, log.invocation_id.is_empty()) {
        (Some(f), _) => format!("{f} ({})", log.invocation_id),
        (None, false) => format!("invocation {}", log.invocation_id),
        (None, true) if is_user => "function".to_string(),
        (None, true) => "worker".to_string(),
    };
    let level = rpc_log::Level::try_from(log.level).unwrap_or(rpc_log::Level::Information);
    // host.json `logging.logLevel` category: the function's own logs are `Function.<name>.User`.
    let function = function.unwrap_or("unknown");
    macro_rules! emit {
        ($lvl:ident) => {
            if is_user {
                tracing::$lvl!(
                    target: "fnwire::function",
                    category = format_args!("Function.{function}.User"),
                    invocation_id = log.invocation_id.as_str(),
                    "[{origin}] {text}"
                )
            } else {
                tracing::$lvl!(
                    target: "fnwire::worker",
                    invocation_id = log.invocation_id.as_str(),
                    "[{origin}] {text}"
                )
            }
        };
    }
    match level {
        rpc_log::Level::Trace => emit!(trace),
        rpc_log::Level::Debug => emit!(debug),
        rpc_log::Level::Information => emit!(info),
        rpc_log::Level::Warning => emit!(warn),
        rpc_log::Level::Error | rpc_log::Level::Critical => emit!(error),
        rpc_log::Level::None => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::grpc::GrpcServer;
    use fnwire_protocol::rpc::function_rpc_client::FunctionRpcClient;
    use fnwire_protocol::rpc::{
        FunctionLoadResponse, RpcDataType, RpcSharedMemory, StartStream, TypedData, WorkerStatusResponse,
        typed_data,
    };
    use tokio::sync::mpsc;

    /// A worker side made of a real tonic client: messages to send, and messages received.
    struct FakeWorker {
        tx: mpsc::UnboundedSender<StreamingMessage>,
        rx: tonic::Streaming<StreamingMessage>,
    }

    impl FakeWorker {
        async fn next(&mut self) -> StreamingMessage {
            tokio::time::timeout(Duration::from_secs(10), self.rx.message()).await.unwrap().unwrap().unwrap()
        }
        fn send(&self, request_id: &str, content: Content) {
            self.tx.send(StreamingMessage { request_id: request_id.into(), content: Some(content) }).unwrap();
        }
    }

    async fn connected() -> (GrpcServer, Arc<WorkerChannel>, FakeWorker) {
        let server = GrpcServer::start().await.unwrap();
        let pending = server.expect_worker("w");
        let (tx, rx) = mpsc::unbounded_channel();
        tx.send(StreamingMessage {
            request_id: String::new(),
            content: Some(Content::StartStream(StartStream { worker_id: "w".into() })),
        })
        .unwrap();
        // Like real workers: no practical message size limit (the shared-memory tests send 16 MiB).
        let mut client = FunctionRpcClient::connect(server.uri())
            .await
            .unwrap()
            .max_decoding_message_size(usize::MAX)
            .max_encoding_message_size(usize::MAX);
        let stream = client
            .event_stream(tokio_stream::wrappers::UnboundedReceiverStream::new(rx))
            .await
            .unwrap()
            .into_inner();
        let channel = Arc::new(WorkerChannel::new(pending.connected().await.unwrap()));
        (server, channel, FakeWorker { tx, rx: stream })
    }

    fn ok() -> Option<StatusResult> {
        Some(StatusResult { status: status_result::Status::Success as i32, ..Default::default() })
    }

    #[tokio::test]
    async fn init_stores_capabilities_and_failure_is_an_error() {
        let (_s, channel, mut worker) = connected().await;
        let c = channel.clone();
        let init =
            tokio::spawn(
                async move { c.initialize(WorkerInitRequest::default(), Duration::from_secs(10)).await },
            );
        assert!(matches!(worker.next().await.content, Some(Content::WorkerInitRequest(_))));
        worker.send(
            "",
            Content::WorkerInitResponse(WorkerInitResponse {
                capabilities: [("HandlesWorkerTerminateMessage".to_string(), "false".to_string())].into(),
                result: ok(),
                ..Default::default()
            }),
        );
        init.await.unwrap().unwrap();
        assert!(
            channel.has_capability(capability::HANDLES_WORKER_TERMINATE_MESSAGE),
            "any non-empty value declares"
        );
        assert!(!channel.has_capability(capability::SUPPORTS_LOAD_RESPONSE_COLLECTION));

        let c = channel.clone();
        let init =
            tokio::spawn(
                async move { c.initialize(WorkerInitRequest::default(), Duration::from_secs(10)).await },
            );
        worker.next().await;
        // No result at all: Failure is the wire default.
        worker.send("", Content::WorkerInitResponse(WorkerInitResponse::default()));
        let e = init.await.unwrap().unwrap_err();
        assert!(e.to_string().contains("no result"), "{e}");
    }

    #[tokio::test]
    async fn loads_match_by_function_id_and_invocations_by_invocation_id_out_of_order() {
        let (_s, channel, mut worker) = connected().await;
        let c = channel.clone();
        let loads = tokio::spawn(async move {
            let reqs = ["a", "b"]
                .iter()
                .map(|id| FunctionLoadRequest { function_id: id.to_string(), ..Default::default() })
                .collect();
            c.load_functions(reqs, Duration::from_secs(10)).await
        });
        worker.next().await;
        worker.next().await;
        for id in ["b", "a"] {
            worker.send(
                "",
                Content::FunctionLoadResponse(FunctionLoadResponse {
                    function_id: id.into(),
                    result: ok(),
                    ..Default::default()
                }),
            );
        }
        let mut ids: Vec<String> = loads.await.unwrap().unwrap().into_iter().map(|r| r.function_id).collect();
        ids.sort();
        assert_eq!(ids, ["a", "b"]);

        let invoke = |id: &str| {
            let c = channel.clone();
            let req = InvocationRequest { invocation_id: id.into(), ..Default::default() };
            tokio::spawn(async move { c.invoke("f", req).await })
        };
        let first = invoke("i1");
        let second = invoke("i2");
        worker.next().await;
        worker.next().await;
        for id in ["i2", "i1"] {
            worker.send(
                "",
                Content::InvocationResponse(InvocationResponse {
                    invocation_id: id.into(),
                    result: ok(),
                    ..Default::default()
                }),
            );
        }
        assert_eq!(first.await.unwrap().unwrap().invocation_id, "i1");
        assert_eq!(second.await.unwrap().unwrap().invocation_id, "i2");
    }

    #[tokio::test]
    async fn status_replies_match_by_request_id() {
        let (_s, channel, mut worker) = connected().await;
        let c = channel.clone();
        let status = tokio::spawn(async move { c.worker_status(Duration::from_secs(10)).await });
        let request = worker.next().await;
        assert!(!request.request_id.is_empty());
        // A reply with another request id is not this one's.
        worker.send("other", Content::WorkerStatusResponse(WorkerStatusResponse {}));
        worker.send(&request.request_id, Content::WorkerStatusResponse(WorkerStatusResponse {}));
        status.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn a_closed_stream_fails_pending_and_new_requests() {
        let (_s, channel, mut worker) = connected().await;
        let c = channel.clone();
        let pending = tokio::spawn(async move {
            c.invoke("f", InvocationRequest { invocation_id: "i".into(), ..Default::default() }).await
        });
        worker.next().await;
        drop(worker);
        assert!(matches!(pending.await.unwrap(), Err(ChannelError::Closed(_))));
        let reason = tokio::time::timeout(Duration::from_secs(10), channel.closed()).await.unwrap();
        assert!(!reason.is_empty());
        let again =
            channel.invoke("f", InvocationRequest { invocation_id: "j".into(), ..Default::default() }).await;
        assert!(matches!(again, Err(ChannelError::Closed(_))));
    }

    const SIXTEEN_MIB: usize = 16 * 1024 * 1024;

    /// Initializes the channel with a worker declaring `capabilities`.
    async fn initialized(capabilities: &[&str]) -> (GrpcServer, Arc<WorkerChannel>, FakeWorker) {
        let (server, channel, mut worker) = connected().await;
        let c = channel.clone();
        let init =
            tokio::spawn(
                async move { c.initialize(WorkerInitRequest::default(), Duration::from_secs(10)).await },
            );
        worker.next().await;
        worker.send(
            "",
            Content::WorkerInitResponse(WorkerInitResponse {
                capabilities: capabilities.iter().map(|c| (c.to_string(), "true".to_string())).collect(),
                result: ok(),
                ..Default::default()
            }),
        );
        init.await.unwrap().unwrap();
        (server, channel, worker)
    }

    fn binding(name: &str, data: typed_data::Data) -> ParameterBinding {
        ParameterBinding {
            name: name.into(),
            rpc_data: Some(parameter_binding::RpcData::Data(TypedData { data: Some(data) })),
        }
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 251) as u8).collect()
    }

    fn map_path(root: &std::path::Path, name: &str) -> std::path::PathBuf {
        root.join("AzureFunctions").join(name)
    }

    #[tokio::test]
    async fn sixteen_mib_both_ways_go_through_shared_memory_and_every_map_is_freed() {
        let root = tempfile::tempdir().unwrap();
        let (_s, channel, mut worker) = initialized(&[capability::SHARED_MEMORY_DATA_TRANSFER]).await;
        assert!(channel.enable_shared_memory(SharedMemorySettings::in_roots([root.path().to_path_buf()])));
        let input = pattern(SIXTEEN_MIB);
        let request = InvocationRequest {
            invocation_id: "i".into(),
            input_data: vec![
                binding("blob", typed_data::Data::Bytes(input.clone().into())),
                binding("small", typed_data::Data::String("inline".into())),
            ],
            ..Default::default()
        };
        let c = channel.clone();
        let invoke = tokio::spawn(async move { c.invoke("f", request).await });

        let Some(Content::InvocationRequest(sent)) = worker.next().await.content else {
            panic!("expected the request")
        };
        let Some(parameter_binding::RpcData::RpcSharedMemory(map)) = &sent.input_data[0].rpc_data else {
            panic!("a 16 MiB input goes through shared memory")
        };
        assert_eq!((map.offset, map.count, map.r#type), (0, SIXTEEN_MIB as i64, RpcDataType::Bytes as i32));
        // Read by hand, in Azure's layout: flag, little-endian length, content.
        let raw = std::fs::read(map_path(root.path(), &map.name)).unwrap();
        assert_eq!((raw[0], &raw[1..9]), (1, &(SIXTEEN_MIB as i64).to_le_bytes()[..]));
        assert!(raw[9..] == input[..]);
        assert_eq!(sent.input_data[1], binding("small", typed_data::Data::String("inline".into())));

        // The worker answers with a 16 MiB string output in a map of its own, written by hand.
        let text = "é".repeat(SIXTEEN_MIB / 2);
        let mut raw = vec![1u8];
        raw.extend_from_slice(&(text.len() as i64).to_le_bytes());
        raw.extend_from_slice(text.as_bytes());
        std::fs::write(map_path(root.path(), "worker-output-1"), raw).unwrap();
        worker.send(
            "",
            Content::InvocationResponse(InvocationResponse {
                invocation_id: "i".into(),
                result: ok(),
                output_data: vec![ParameterBinding {
                    name: "copy".into(),
                    rpc_data: Some(parameter_binding::RpcData::RpcSharedMemory(RpcSharedMemory {
                        name: "worker-output-1".into(),
                        offset: 0,
                        count: text.len() as i64,
                        r#type: RpcDataType::String as i32,
                    })),
                }],
                ..Default::default()
            }),
        );
        let response = invoke.await.unwrap().unwrap();
        assert_eq!(response.output_data, [binding("copy", typed_data::Data::String(text))]);
        assert!(
            !map_path(root.path(), &map.name).exists(),
            "the input map is freed once the response arrives"
        );
        let Some(Content::CloseSharedMemoryResourcesRequest(close)) = worker.next().await.content else {
            panic!("the host asks the worker to free the output map")
        };
        assert_eq!(close.map_names, ["worker-output-1"]);
    }

    #[tokio::test]
    async fn a_worker_without_the_capability_gets_the_bytes_over_the_stream() {
        let root = tempfile::tempdir().unwrap();
        let (_s, channel, mut worker) = initialized(&[]).await;
        assert!(!channel.enable_shared_memory(SharedMemorySettings::in_roots([root.path().to_path_buf()])));
        let input = binding("blob", typed_data::Data::Bytes(pattern(SIXTEEN_MIB).into()));
        let request = InvocationRequest {
            invocation_id: "i".into(),
            input_data: vec![input.clone()],
            ..Default::default()
        };
        let c = channel.clone();
        let invoke = tokio::spawn(async move { c.invoke("f", request).await });
        let Some(Content::InvocationRequest(sent)) = worker.next().await.content else {
            panic!("expected the request")
        };
        assert!(sent.input_data == [input]);
        assert!(!root.path().join("AzureFunctions").exists(), "no map was written");
        worker.send(
            "",
            Content::InvocationResponse(InvocationResponse {
                invocation_id: "i".into(),
                result: ok(),
                ..Default::default()
            }),
        );
        invoke.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn an_output_map_that_cannot_be_read_fails_the_invocation_naming_it() {
        let root = tempfile::tempdir().unwrap();
        let (_s, channel, mut worker) = initialized(&[capability::SHARED_MEMORY_DATA_TRANSFER]).await;
        channel.enable_shared_memory(SharedMemorySettings::in_roots([root.path().to_path_buf()]));
        let c = channel.clone();
        let invoke = tokio::spawn(async move {
            c.invoke("f", InvocationRequest { invocation_id: "i".into(), ..Default::default() }).await
        });
        worker.next().await;
        worker.send(
            "",
            Content::InvocationResponse(InvocationResponse {
                invocation_id: "i".into(),
                result: ok(),
                output_data: vec![ParameterBinding {
                    name: "copy".into(),
                    rpc_data: Some(parameter_binding::RpcData::RpcSharedMemory(RpcSharedMemory {
                        name: "gone-map".into(),
                        count: 5,
                        r#type: RpcDataType::Bytes as i32,
                        ..Default::default()
                    })),
                }],
                ..Default::default()
            }),
        );
        let response = invoke.await.unwrap().unwrap();
        let result = response.result.unwrap();
        assert_eq!(result.status, status_result::Status::Failure as i32);
        let message = result.exception.unwrap().message;
        assert!(message.contains("output `copy`") && message.contains("`gone-map`"), "{message}");
        assert!(response.output_data.is_empty(), "no partial outputs");
        let Some(Content::CloseSharedMemoryResourcesRequest(close)) = worker.next().await.content else {
            panic!("the worker is still told to free its map")
        };
        assert_eq!(close.map_names, ["gone-map"]);
    }

    #[tokio::test]
    async fn a_silent_worker_times_out_with_the_request_named() {
        let (_s, channel, _worker) = connected().await;
        let e =
            channel.initialize(WorkerInitRequest::default(), Duration::from_millis(200)).await.unwrap_err();
        assert!(e.to_string().contains("WorkerInitRequest"), "{e}");
    }
}

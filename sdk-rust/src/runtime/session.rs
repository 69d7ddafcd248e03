//! One connection to the host: the EventStream conversation.
//!
//! One task reads the inbound stream and answers control messages inline. An async function's
//! invocation is polled once by that reader and answered there if it is ready, else it continues
//! as its own task; a blocking function's runs whole on one blocking-pool thread, which sends its
//! response itself (no async task, no second wake-up). Everything outbound
//! (responses and logs) goes through one unbounded channel, the single writer of the stream, so
//! an invocation's logs always precede its response.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use fnwire_metadata::FunctionMetadata;
use fnwire_protocol::WorkerArgs;
use fnwire_protocol::inbound::{EncodedTriggerMetadata, WorkerClient, WorkerInbound};
use fnwire_protocol::rpc::streaming_message::Content;
use fnwire_protocol::rpc::{
    CloseSharedMemoryResourcesResponse, FunctionEnvironmentReloadRequest, FunctionEnvironmentReloadResponse,
    FunctionLoadRequest, FunctionLoadResponse, FunctionLoadResponseCollection, FunctionMetadataResponse,
    InvocationRequest, InvocationResponse, ParameterBinding, RpcFunctionMetadata, StartStream, StatusResult,
    StreamingMessage, TypedData, WorkerInitResponse, WorkerMetadata, WorkerStatusResponse,
    WorkerWarmupResponse, parameter_binding, status_result,
};
use fnwire_protocol::tonic::transport::Endpoint;
use fnwire_protocol::tonic::{Request, Streaming};
use fnwire_shared_memory::{Settings as SharedMemorySettings, SharedMemory};
use futures::StreamExt;
use tokio::sync::mpsc::{UnboundedSender, unbounded_channel};
use tokio::sync::{Notify, oneshot};
use tokio::task::JoinSet;
use tracing::Instrument;

use super::logging::{self, INVOCATION_SPAN_TARGET, LogSink};
use super::panic::CatchPanic;
use super::traces::{InvocationSpan, WorkerTraces};
use super::{BlockingHandler, FunctionDefinition, FunctionHandler, LanguageRuntime, WorkerError};
use crate::FunctionError;
use crate::invocation::{Invocation, InvocationResult, lock};
use crate::runtime::catch_panic;

/// An item for the stream's single writer.
// Nearly every item is a message: boxing them would only add an allocation each.
#[allow(clippy::large_enum_variant)]
pub(crate) enum Outbound {
    Message(StreamingMessage),
    /// Ends the outbound stream once everything before it is written.
    Close,
}

/// Capabilities this worker declares. Hosts treat any non-empty value as "on", so only
/// capabilities that are on are listed.
pub(crate) fn capabilities() -> HashMap<String, String> {
    [
        "RawHttpBodyBytes",
        "RpcHttpBodyOnly",
        "RpcHttpTriggerMetadataRemoved",
        "TypedDataCollection",
        "WorkerStatus",
        "HandlesWorkerTerminateMessage",
        "HandlesInvocationCancelMessage",
        "SupportsLoadResponseCollection",
        // Declared always, as Azure's Python worker does: the app setting decides whether the
        // host sends maps, and whether this worker writes its outputs into maps.
        fnwire_shared_memory::CAPABILITY,
    ]
    .into_iter()
    .map(|key| (key.to_string(), "true".to_string()))
    .collect()
}

/// What the worker tells the host about itself.
pub(crate) fn worker_metadata(runtime: &LanguageRuntime) -> WorkerMetadata {
    WorkerMetadata {
        runtime_name: runtime.name.clone(),
        runtime_version: runtime.version.clone(),
        worker_version: env!("CARGO_PKG_VERSION").to_string(),
        worker_bitness: match std::env::consts::ARCH {
            "x86_64" => "x64",
            "aarch64" => "arm64",
            "x86" => "x86",
            other => other,
        }
        .to_string(),
        custom_properties: HashMap::new(),
    }
}

fn success() -> Option<StatusResult> {
    Some(StatusResult { status: status_result::Status::Success as i32, ..StatusResult::default() })
}

fn failure(error: &FunctionError, source: &str) -> Option<StatusResult> {
    Some(StatusResult {
        status: status_result::Status::Failure as i32,
        result: error.message.clone(),
        exception: Some(error.to_rpc_exception(source)),
        ..StatusResult::default()
    })
}

/// The `RpcFunctionMetadata` reported for worker indexing; `language` is the runtime's name.
pub(crate) fn rpc_function_metadata(
    metadata: &FunctionMetadata,
    directory: &str,
    language: &str,
) -> RpcFunctionMetadata {
    let mut rpc = fnwire_metadata::rpc::to_rpc_metadata(metadata, directory, language);
    rpc.properties.insert("worker_indexed".to_string(), "True".to_string());
    rpc
}

/// An invocation that has not answered yet, by invocation id.
enum Running {
    /// An async task: sending cancels it (its future is dropped, and it answers "cancelled").
    Task(oneshot::Sender<()>),
    /// A blocking function on a pool thread, which cannot be stopped: whoever removes this entry
    /// answers. `InvocationCancel` only marks it `cancelled`: the thread answers "cancelled"
    /// (dropping its result) when it ends, so the host sees the invocation end only once its
    /// thread is free, and can replace a worker whose thread is stuck for good. A stopping
    /// worker answers "cancelled" at once.
    Blocking { request_id: String, function_name: String, cancelled: bool },
}

/// Counts blocking invocations still running, so a stopping worker can wait for them.
#[derive(Default)]
struct BlockingCount {
    running: AtomicUsize,
    idle: Notify,
}

impl BlockingCount {
    fn start(self: &Arc<Self>) -> BlockingGuard {
        self.running.fetch_add(1, Ordering::SeqCst);
        BlockingGuard(self.clone())
    }

    async fn idle(&self) {
        loop {
            let notified = self.idle.notified();
            tokio::pin!(notified);
            // Registered before the check, so a finish between the check and the wait is seen.
            notified.as_mut().enable();
            if self.running.load(Ordering::SeqCst) == 0 {
                return;
            }
            notified.await;
        }
    }
}

/// Ends one blocking invocation's count when dropped, also when its closure never ran (the
/// runtime was shutting down) or unwound.
struct BlockingGuard(Arc<BlockingCount>);

impl Drop for BlockingGuard {
    fn drop(&mut self) {
        if self.0.running.fetch_sub(1, Ordering::SeqCst) == 1 {
            self.0.idle.notify_waiters();
        }
    }
}

/// How long an async function's first poll may take on the session's reader; a function over it
/// [`SLOW_POLLS_TO_DEMOTE`] times in a row starts its invocations as tasks from then on (the
/// reader serves every other message meanwhile).
const INLINE_POLL_BUDGET: Duration = Duration::from_micros(200);

/// Replaces [`INLINE_POLL_BUDGET`] (in µs). For measuring under valgrind, which runs code some
/// 50 times slower: with the native budget every function would be demoted there, and the
/// instruction count would describe a path a native worker does not take.
const INLINE_POLL_BUDGET_ENV: &str = "FNWIRE_INLINE_POLL_BUDGET_US";

fn inline_poll_budget() -> Duration {
    static BUDGET: std::sync::OnceLock<Duration> = std::sync::OnceLock::new();
    *BUDGET.get_or_init(|| {
        std::env::var(INLINE_POLL_BUDGET_ENV)
            .ok()
            .and_then(|v| v.trim().parse().ok())
            .map_or(INLINE_POLL_BUDGET, Duration::from_micros)
    })
}
/// In a row, because one slow poll proves little: on a busy machine the thread can be preempted
/// in the middle of a 2 µs poll. A function that computes for long is slow every time.
const SLOW_POLLS_TO_DEMOTE: u8 = 3;

/// How an async function's first polls on the reader went.
#[derive(Debug, Clone, Copy, Default)]
struct InlinePolls {
    slow_in_a_row: u8,
    demoted: bool,
}

impl InlinePolls {
    /// Records one first poll; true when this one demoted the function.
    fn record(&mut self, took: Duration) -> bool {
        if took <= inline_poll_budget() {
            self.slow_in_a_row = 0;
            return false;
        }
        self.slow_in_a_row += 1;
        self.demoted = self.slow_in_a_row >= SLOW_POLLS_TO_DEMOTE;
        self.demoted
    }
}

enum Control {
    Continue,
    Terminate(Duration),
}

enum Ending {
    Terminated(Duration),
    HostClosed,
    Broken(String),
}

pub(crate) struct Session {
    functions: Vec<Arc<FunctionDefinition>>,
    /// Per function (same index): whether its invocations get their first poll on the reader.
    inline: Vec<InlinePolls>,
    /// Lower-cased function name → index (hosts compare names case-insensitively).
    by_name: HashMap<String, usize>,
    /// Deterministic function id → index.
    by_id: HashMap<String, usize>,
    /// Function id the host loaded → index (the host's own ids under host indexing).
    loaded: HashMap<String, usize>,
    out: UnboundedSender<Outbound>,
    in_flight: Arc<Mutex<HashMap<String, Running>>>,
    tasks: JoinSet<()>,
    blocking: Arc<BlockingCount>,
    default_grace: Duration,
    reload: Option<super::AppReload>,
    runtime: LanguageRuntime,
    /// Reads the maps the host sends; writes outputs into maps only when `offload_outputs`.
    shared_memory: Arc<SharedMemory>,
    offload_outputs: bool,
    /// Exports a span of each invocation, when the `OTEL_*` variables ask for it.
    traces: Option<Arc<WorkerTraces>>,
}

/// Where fnwire's host gives a worker its per-launch secret, and the metadata key that proves it
/// (the host's `grpc.rs` defines the same two names).
const WORKER_SECRET_ENV: &str = "FNWIRE_WORKER_SECRET";
const WORKER_SECRET_HEADER: &str = "x-fnwire-worker-secret";
/// HTTP/2 flow-control window of the stream, both directions' receive side (hyper's client
/// default is 2 MiB per stream).
const STREAM_WINDOW_BYTES: u32 = 16 * 1024 * 1024;

pub(crate) async fn run(
    args: WorkerArgs,
    functions: Vec<FunctionDefinition>,
    default_grace: Duration,
    reload: Option<super::AppReload>,
    runtime: LanguageRuntime,
    shared_memory: Option<SharedMemorySettings>,
) -> Result<(), WorkerError> {
    let connect_error = |message: String| WorkerError::Connect { uri: args.host_uri.clone(), message };
    let endpoint = Endpoint::from_shared(args.host_uri.clone())
        .map_err(|e| connect_error(format!("the address is not a valid URI: {e}")))?
        .tcp_nodelay(true)
        // As fnwire's host sets its side (host/src/grpc.rs): one stream carries every invocation,
        // so a large body should not wait for window updates every few hundred KiB.
        .initial_stream_window_size(STREAM_WINDOW_BYTES)
        .initial_connection_window_size(STREAM_WINDOW_BYTES);
    let channel = endpoint.connect().await.map_err(|e| connect_error(error_chain(&e)))?;
    let limit = args.grpc_max_message_length.unwrap_or(usize::MAX);
    let mut client =
        WorkerClient::new(channel).max_decoding_message_size(limit).max_encoding_message_size(limit);

    let (out, out_rx) = unbounded_channel::<Outbound>();
    let (written_tx, written_rx) = oneshot::channel::<()>();
    // The host only accepts a stream whose first message is StartStream with its worker id.
    let _ = out.send(Outbound::Message(StreamingMessage {
        request_id: args.request_id.clone(),
        content: Some(Content::StartStream(StartStream { worker_id: args.worker_id.clone() })),
    }));
    // `fuse`: the transport may poll again after the end, which `unfold` alone does not allow.
    let outbound = futures::stream::unfold((out_rx, Some(written_tx)), |(mut rx, mut written)| async move {
        match rx.recv().await {
            Some(Outbound::Message(message)) => Some((message, (rx, written))),
            Some(Outbound::Close) | None => {
                if let Some(written) = written.take() {
                    let _ = written.send(());
                }
                None
            }
        }
    })
    .fuse();
    let mut request = Request::new(outbound);
    // A host that launched this worker with a per-launch secret (fnwire does) wants it proven
    // beside the worker id; the id alone is readable by anyone from the process list.
    if let Some(secret) = std::env::var(WORKER_SECRET_ENV).ok().filter(|s| !s.is_empty())
        && let Ok(value) = secret.parse()
    {
        request.metadata_mut().insert(WORKER_SECRET_HEADER, value);
    }
    let inbound = client
        .event_stream(request)
        .await
        .map_err(|status| connect_error(format!("the host refused the event stream: {status}")))?
        .into_inner();

    let mut by_name = HashMap::new();
    let mut by_id = HashMap::new();
    for (index, function) in functions.iter().enumerate() {
        by_name.insert(function.metadata.name.to_ascii_lowercase(), index);
        by_id.insert(function.metadata.function_id(), index);
    }
    let traces = WorkerTraces::from_env().map(Arc::new);
    let session = Session {
        traces: traces.clone(),
        inline: vec![InlinePolls::default(); functions.len()],
        functions: functions.into_iter().map(Arc::new).collect(),
        by_name,
        by_id,
        loaded: HashMap::new(),
        out,
        in_flight: Arc::default(),
        tasks: JoinSet::new(),
        blocking: Arc::default(),
        default_grace,
        reload,
        runtime,
        offload_outputs: shared_memory.is_some(),
        shared_memory: Arc::new(SharedMemory::new(
            shared_memory.unwrap_or_else(|| SharedMemorySettings::locations(|key| std::env::var(key).ok())),
        )),
    };
    let served = session.serve(inbound, written_rx).await;
    if let Some(traces) = traces {
        traces.shutdown().await;
    }
    served
}

fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(e) = source {
        text.push_str(": ");
        text.push_str(&e.to_string());
        source = e.source();
    }
    text
}

impl Session {
    async fn serve(
        mut self,
        mut inbound: Streaming<WorkerInbound>,
        written: oneshot::Receiver<()>,
    ) -> Result<(), WorkerError> {
        let ending = loop {
            tokio::select! {
                message = inbound.message() => match message {
                    Ok(Some(message)) => {
                        if let Control::Terminate(grace) = self.handle(message) {
                            break Ending::Terminated(grace);
                        }
                    }
                    Ok(None) => break Ending::HostClosed,
                    Err(status) => break Ending::Broken(status.to_string()),
                },
                Some(_) = self.tasks.join_next(), if !self.tasks.is_empty() => {}
            }
        };
        let grace = match &ending {
            Ending::Terminated(grace) => *grace,
            Ending::HostClosed => self.default_grace,
            // Nobody is left to receive responses.
            Ending::Broken(_) => Duration::ZERO,
        };
        let had_work = !self.tasks.is_empty() || !lock(&self.in_flight).is_empty();
        tracing::debug!(in_flight = self.tasks.len(), ?grace, "worker stopping");
        self.drain(grace).await;
        let _ = self.out.send(Outbound::Close);
        let _ = tokio::time::timeout(Duration::from_secs(2), written).await;
        if had_work && matches!(ending, Ending::Terminated(_)) {
            // Responses written during the drain must reach the host before the process exits.
            // The host answers our end of stream by ending its own; once it has, it has read
            // everything we sent. Don't wait long: the host may kill us soon after the grace.
            let _ = tokio::time::timeout(Duration::from_secs(1), async {
                while let Ok(Some(_)) = inbound.message().await {}
            })
            .await;
        }
        match ending {
            Ending::Broken(message) => Err(WorkerError::Stream { message }),
            _ => Ok(()),
        }
    }

    /// Lets in-flight invocations finish within `grace`, then cancels the rest.
    async fn drain(&mut self, grace: Duration) {
        let (tasks, blocking) = (&mut self.tasks, &self.blocking);
        let finished = tokio::time::timeout(grace, async {
            while tasks.join_next().await.is_some() {}
            blocking.idle().await;
        })
        .await;
        if finished.is_err() || grace.is_zero() {
            let pending: Vec<_> = lock(&self.in_flight).drain().collect();
            for (invocation_id, running) in pending {
                self.cancel(invocation_id, running);
            }
            // Cancelled invocations answer at once, unless their code blocks a thread.
            let tasks = &mut self.tasks;
            let _ = tokio::time::timeout(Duration::from_millis(500), async {
                while tasks.join_next().await.is_some() {}
            })
            .await;
            self.tasks.abort_all();
        }
    }

    fn send(&self, request_id: &str, content: Content) {
        let _ = self.out.send(Outbound::Message(StreamingMessage {
            request_id: request_id.to_string(),
            content: Some(content),
        }));
    }

    fn handle(&mut self, inbound: WorkerInbound) -> Control {
        let WorkerInbound { message, trigger_metadata } = inbound;
        let request_id = message.request_id;
        let Some(content) = message.content else {
            tracing::debug!("ignoring a StreamingMessage without content");
            return Control::Continue;
        };
        match content {
            Content::WorkerInitRequest(request) => {
                tracing::debug!(host_version = %request.host_version, "WorkerInitRequest");
                self.send(
                    &request_id,
                    Content::WorkerInitResponse(WorkerInitResponse {
                        worker_version: env!("CARGO_PKG_VERSION").to_string(),
                        capabilities: capabilities(),
                        result: success(),
                        worker_metadata: Some(worker_metadata(&self.runtime)),
                    }),
                );
            }
            Content::FunctionsMetadataRequest(request) => {
                let results = self
                    .functions
                    .iter()
                    .map(|f| {
                        rpc_function_metadata(
                            &f.metadata,
                            &request.function_app_directory,
                            &self.runtime.name,
                        )
                    })
                    .collect();
                self.send(
                    &request_id,
                    Content::FunctionMetadataResponse(FunctionMetadataResponse {
                        function_metadata_results: results,
                        result: success(),
                        use_default_metadata_indexing: false,
                    }),
                );
            }
            Content::FunctionLoadRequest(request) => {
                let response = self.load(request);
                self.send(&request_id, Content::FunctionLoadResponse(response));
            }
            Content::FunctionLoadRequestCollection(collection) => {
                let responses = collection.function_load_requests.into_iter().map(|r| self.load(r)).collect();
                self.send(
                    &request_id,
                    Content::FunctionLoadResponseCollection(FunctionLoadResponseCollection {
                        function_load_responses: responses,
                    }),
                );
            }
            Content::InvocationRequest(request) => self.invoke(request_id, request, trigger_metadata),
            Content::InvocationCancel(cancel) => {
                let mut in_flight = lock(&self.in_flight);
                match in_flight.get_mut(&cancel.invocation_id) {
                    Some(Running::Blocking { cancelled, .. }) => *cancelled = true,
                    Some(Running::Task(_)) => {
                        let running = in_flight.remove(&cancel.invocation_id);
                        drop(in_flight);
                        if let Some(running) = running {
                            self.cancel(cancel.invocation_id, running);
                        }
                    }
                    None => tracing::debug!(
                        invocation_id = %cancel.invocation_id,
                        "InvocationCancel for an invocation that is not running"
                    ),
                }
            }
            Content::WorkerStatusRequest(_) => {
                // The host matches status responses by request_id.
                self.send(&request_id, Content::WorkerStatusResponse(WorkerStatusResponse {}));
            }
            Content::FunctionEnvironmentReloadRequest(request) => {
                let result = match reload_environment(&request).and_then(|()| self.reload_app(&request)) {
                    Ok(()) => success(),
                    Err(message) => failure(&FunctionError::new(message), "environment reload"),
                };
                self.send(
                    &request_id,
                    Content::FunctionEnvironmentReloadResponse(FunctionEnvironmentReloadResponse {
                        worker_metadata: Some(worker_metadata(&self.runtime)),
                        capabilities: capabilities(),
                        result,
                        capabilities_update_strategy: 0,
                    }),
                );
            }
            Content::WorkerWarmupRequest(_) => {
                self.send(
                    &request_id,
                    Content::WorkerWarmupResponse(WorkerWarmupResponse { result: success() }),
                );
            }
            Content::CloseSharedMemoryResourcesRequest(request) => {
                // The host has read these outputs: delete them. False for a map this worker
                // does not hold.
                let results = request
                    .map_names
                    .into_iter()
                    .map(|name| {
                        let freed = self.shared_memory.free(&name);
                        (name, freed)
                    })
                    .collect();
                self.send(
                    &request_id,
                    Content::CloseSharedMemoryResourcesResponse(CloseSharedMemoryResourcesResponse {
                        close_map_results: results,
                    }),
                );
            }
            Content::WorkerTerminate(terminate) => {
                let grace = terminate
                    .grace_period
                    .and_then(|d| Duration::try_from(d).ok())
                    .filter(|d| !d.is_zero())
                    .unwrap_or(self.default_grace);
                return Control::Terminate(grace);
            }
            other => {
                tracing::debug!(kind = other.name(), "ignoring a message this worker does not use")
            }
        }
        Control::Continue
    }

    /// Cancels an invocation already removed from `in_flight`.
    fn cancel(&self, invocation_id: String, running: Running) {
        match running {
            Running::Task(cancel) => {
                let _ = cancel.send(());
            }
            Running::Blocking { request_id, function_name, .. } => {
                let response = response_for(invocation_id, &function_name, Outcome::Cancelled, None);
                self.send(&request_id, Content::InvocationResponse(response));
            }
        }
    }

    fn function_list(&self) -> String {
        if self.functions.is_empty() {
            return "none".to_string();
        }
        self.functions.iter().map(|f| f.metadata.name.as_str()).collect::<Vec<_>>().join(", ")
    }

    fn load(&mut self, request: FunctionLoadRequest) -> FunctionLoadResponse {
        // Host indexing uses host-made ids, so the name is the reliable key; worker indexing
        // echoes our ids.
        let name = request.metadata.as_ref().map(|m| m.name.as_str()).filter(|n| !n.is_empty());
        let index = name
            .and_then(|n| self.by_name.get(&n.to_ascii_lowercase()))
            .or_else(|| self.by_id.get(&request.function_id))
            .copied();
        let result = match index {
            Some(index) => {
                self.loaded.insert(request.function_id.clone(), index);
                success()
            }
            None => {
                let error = FunctionError::new(format!(
                    "function `{}` (id {}) is not defined in this worker, which defines: {}. Remove its \
                     function.json or rebuild the worker with the function in it",
                    name.unwrap_or("<no name>"),
                    request.function_id,
                    self.function_list()
                ));
                tracing::warn!("{}", error.message);
                failure(&error, "function load")
            }
        };
        FunctionLoadResponse { function_id: request.function_id, result, is_dependency_downloaded: false }
    }

    /// Adds the functions of the app the host specialized this worker for, if a hook loads them.
    fn reload_app(&mut self, request: &FunctionEnvironmentReloadRequest) -> Result<(), String> {
        let Some(reload) = &self.reload else { return Ok(()) };
        let added = reload.load(std::path::Path::new(&request.function_app_directory))?;
        for function in added {
            let index = self.functions.len();
            self.by_name.insert(function.metadata.name.to_ascii_lowercase(), index);
            self.by_id.insert(function.metadata.function_id(), index);
            self.functions.push(Arc::new(function));
            self.inline.push(InlinePolls::default());
        }
        Ok(())
    }

    /// Where outputs go into maps, if they do.
    fn output_maps(&self) -> Option<Arc<SharedMemory>> {
        self.offload_outputs.then(|| self.shared_memory.clone())
    }

    fn invoke(
        &mut self,
        request_id: String,
        mut request: InvocationRequest,
        metadata: EncodedTriggerMetadata,
    ) {
        let function_id = request.function_id.clone();
        let invocation_id = request.invocation_id.clone();
        // Reading a map here costs what decoding the same bytes from the stream would have.
        if let Err(message) = read_shared_inputs(&self.shared_memory, &mut request) {
            let response = InvocationResponse {
                invocation_id,
                result: failure(&FunctionError::new(message), "invocation"),
                ..InvocationResponse::default()
            };
            self.send(&request_id, Content::InvocationResponse(response));
            return;
        }
        let Some(&index) = self.loaded.get(&function_id).or_else(|| self.by_id.get(&function_id)) else {
            let error = FunctionError::new(format!(
                "no function with id {function_id} is loaded in this worker (it defines: {}); the host \
                 must load a function before invoking it",
                self.function_list()
            ));
            let response = InvocationResponse {
                invocation_id,
                result: failure(&error, "invocation"),
                ..InvocationResponse::default()
            };
            self.send(&request_id, Content::InvocationResponse(response));
            return;
        };
        let function = self.functions[index].clone();
        let handler = match &function.handler {
            FunctionHandler::Async(handler) => handler.clone(),
            FunctionHandler::Blocking(handler) => {
                let handler = handler.clone();
                self.invoke_blocking(request_id, request, metadata, function, handler);
                return;
            }
        };
        let name = function.metadata.name.clone();
        let invocation = Invocation::from_inbound(request, metadata, name.clone());
        let traced = self.traces.as_ref().map(|t| t.start(&name, &invocation_id, invocation.trace_context()));
        let span = invocation_span(&function, &invocation, self.out.clone());
        let mut work =
            Box::pin(CatchPanic::new(async move { handler.call(invocation).await }).instrument(span));
        // Most functions finish without waiting for anything (no I/O, no timer): those are
        // answered here, with no task, no cancel channel and no wake-up. The waker is a no-op
        // because a future that is pending is polled again by the task below, which registers
        // the task's own waker (a future only wakes the waker of its latest poll).
        if !self.inline[index].demoted {
            let started = Instant::now();
            let first = work.as_mut().poll(&mut std::task::Context::from_waker(Waker::noop()));
            if self.inline[index].record(started.elapsed()) {
                tracing::debug!(
                    function = %name,
                    first_poll = ?started.elapsed(),
                    "this function's invocations start as tasks from now on"
                );
            }
            if let Poll::Ready(result) = first {
                let maps = self.output_maps();
                let response = response_for(invocation_id, &name, Outcome::Finished(result), maps.as_deref());
                end_span(traced, &response);
                self.send(&request_id, Content::InvocationResponse(response));
                return;
            }
        }
        let (cancel, cancelled) = oneshot::channel();
        lock(&self.in_flight).insert(invocation_id.clone(), Running::Task(cancel));
        let (in_flight, out, maps) = (self.in_flight.clone(), self.out.clone(), self.output_maps());
        self.tasks.spawn(async move {
            let outcome = tokio::select! {
                biased;
                // Dropping `work` drops the function's future: that is the cancellation.
                _ = cancelled => Outcome::Cancelled,
                result = work => Outcome::Finished(result),
            };
            lock(&in_flight).remove(&invocation_id);
            let response = response_for(invocation_id, &name, outcome, maps.as_deref());
            end_span(traced, &response);
            send_response(&out, request_id, response);
        });
    }
}

impl Session {
    /// Runs a blocking function's invocation whole on a blocking-pool thread: decoding the
    /// request, the call, and sending the response. Compared with an async task that awaits the
    /// pool, this saves a task, its wake-up when the thread finishes, and a cross-thread hop.
    fn invoke_blocking(
        &self,
        request_id: String,
        request: InvocationRequest,
        metadata: EncodedTriggerMetadata,
        function: Arc<FunctionDefinition>,
        handler: Arc<dyn BlockingHandler>,
    ) {
        let invocation_id = request.invocation_id.clone();
        let function_name = function.metadata.name.clone();
        lock(&self.in_flight).insert(
            invocation_id.clone(),
            Running::Blocking {
                request_id: request_id.clone(),
                function_name: function_name.clone(),
                cancelled: false,
            },
        );
        let (in_flight, out, counted) = (self.in_flight.clone(), self.out.clone(), self.blocking.start());
        let maps = self.output_maps();
        let traces = self.traces.clone();
        tokio::task::spawn_blocking(move || {
            let _counted = counted;
            let invocation = Invocation::from_inbound(request, metadata, function_name.clone());
            let traced =
                traces.as_ref().map(|t| t.start(&function_name, &invocation_id, invocation.trace_context()));
            let span = invocation_span(&function, &invocation, out.clone());
            let result = span.in_scope(|| catch_panic(|| handler.call(invocation))).and_then(|result| result);
            drop(span);
            // Absent when a stopping worker already answered for it.
            let outcome = match lock(&in_flight).remove(&invocation_id) {
                Some(Running::Blocking { cancelled: true, .. }) => Outcome::Cancelled,
                Some(_) => Outcome::Finished(result),
                None => return,
            };
            let response = response_for(invocation_id, &function_name, outcome, maps.as_deref());
            end_span(traced, &response);
            send_response(&out, request_id, response);
        });
    }
}

/// Ends an invocation's exported span, if it has one, with the outcome its response reports.
fn end_span(span: Option<InvocationSpan>, response: &InvocationResponse) {
    let Some(span) = span else { return };
    let result = response.result.as_ref();
    if result.is_some_and(|r| r.status == status_result::Status::Success as i32) {
        span.end(None);
    } else {
        let message = result.and_then(|r| r.exception.as_ref()).map_or("", |e| e.message.as_str());
        span.end(Some(if message.is_empty() { "the function did not succeed" } else { message }));
    }
}

/// Sends an invocation's response from wherever the invocation ran (a task, a pool thread).
fn send_response(out: &UnboundedSender<Outbound>, request_id: String, response: InvocationResponse) {
    let _ = out.send(Outbound::Message(StreamingMessage {
        request_id,
        content: Some(Content::InvocationResponse(response)),
    }));
}

/// The span an invocation runs in: its logs go to the host through `out`.
fn invocation_span(
    function: &FunctionDefinition,
    invocation: &Invocation,
    out: UnboundedSender<Outbound>,
) -> tracing::Span {
    let span = tracing::error_span!(
        target: INVOCATION_SPAN_TARGET,
        parent: None,
        "invocation",
        invocation_id = %invocation.invocation_id(),
        function = %function.metadata.name,
    );
    logging::attach(
        &span,
        LogSink {
            invocation_id: invocation.invocation_id().into(),
            category: function.metadata.name.as_str().into(),
            out,
        },
    );
    span
}

enum Outcome {
    Finished(InvocationResult),
    Cancelled,
}

/// Replaces the inputs the host put in maps with their values; the host frees those maps.
fn read_shared_inputs(shared: &SharedMemory, request: &mut InvocationRequest) -> Result<(), String> {
    for binding in &mut request.input_data {
        if matches!(binding.rpc_data, Some(parameter_binding::RpcData::RpcSharedMemory(_))) {
            shared
                .resolve(binding)
                .map_err(|e| format!("input `{}` could not be read: {e}", binding.name))?;
        }
    }
    Ok(())
}

/// The response to an invocation. With `maps`, output values of 1 MiB and more go into shared
/// memory (kept until the host's `CloseSharedMemoryResourcesRequest`); a value that cannot be
/// written there goes inline.
fn response_for(
    invocation_id: String,
    function_name: &str,
    outcome: Outcome,
    maps: Option<&SharedMemory>,
) -> InvocationResponse {
    let mut response = InvocationResponse { invocation_id, ..InvocationResponse::default() };
    match outcome {
        Outcome::Finished(Ok(outcome)) => {
            response.result = success();
            response.output_data = outcome
                .outputs
                .into_iter()
                .map(|(name, data)| {
                    let mut binding =
                        ParameterBinding { name, rpc_data: Some(parameter_binding::RpcData::Data(data)) };
                    if let Some(maps) = maps
                        && let Err(e) = maps.offload(&mut binding)
                    {
                        tracing::warn!(
                            "output `{}` goes over the stream instead of shared memory: {e}",
                            binding.name
                        );
                    }
                    binding
                })
                .collect();
            response.return_value = outcome.return_value.filter(|d: &TypedData| d.data.is_some());
        }
        Outcome::Finished(Err(error)) => {
            response.result = failure(&error, function_name);
        }
        Outcome::Cancelled => {
            let error = FunctionError::new("the invocation was cancelled by the host").with_type("cancelled");
            response.result = Some(StatusResult {
                status: status_result::Status::Cancelled as i32,
                exception: Some(error.to_rpc_exception(function_name)),
                ..StatusResult::default()
            });
        }
    }
    response
}

/// Replaces the process environment and moves to the app directory, as a worker leaving
/// placeholder mode must.
#[allow(unsafe_code)]
fn reload_environment(request: &FunctionEnvironmentReloadRequest) -> Result<(), String> {
    let stale: Vec<_> = std::env::vars_os().map(|(key, _)| key).collect();
    for key in stale {
        // SAFETY: edition 2024 marks environment writes unsafe because another thread may read
        // the environment at the same time through libc. Hosts send this request during
        // specialisation, before any function is loaded, so no function code is running; the
        // runtime itself does not read the environment after start-up. Limit: when the runtime
        // is embedded in another runtime's process (the Node addon, the Python extension), that
        // runtime's own threads are not ours to stop. Node's event loop and libuv pool, or a
        // Python thread the app started at import, may call `getenv` meanwhile; in placeholder
        // mode they are idle (no app is loaded yet), which is what this relies on there.
        unsafe { std::env::remove_var(&key) };
    }
    for (key, value) in &request.environment_variables {
        if key.is_empty() || key.contains('=') || key.contains('\0') || value.contains('\0') {
            tracing::warn!(variable = %key, "skipping an environment variable that cannot be set");
            continue;
        }
        // SAFETY: as above.
        unsafe { std::env::set_var(key, value) };
    }
    if !request.function_app_directory.is_empty() {
        std::env::set_current_dir(&request.function_app_directory).map_err(|e| {
            format!(
                "could not change to the function app directory {:?}: {e}",
                request.function_app_directory
            )
        })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_slow_first_polls_in_a_row_demote_a_function() {
        let (slow, quick) = (INLINE_POLL_BUDGET * 2, INLINE_POLL_BUDGET / 2);
        let mut polls = InlinePolls::default();
        // A preempted poll now and then is not a slow function.
        for took in [slow, slow, quick, slow, quick, slow, slow, quick] {
            assert!(!polls.record(took));
        }
        assert!(!polls.demoted);
        assert!(!polls.record(slow) && !polls.record(slow));
        assert!(polls.record(slow), "the third slow poll in a row demotes");
        assert!(polls.demoted);
    }
}

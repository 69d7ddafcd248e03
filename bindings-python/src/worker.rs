//! The Python worker: the Rust SDK's `Worker` serving functions whose handlers call into Python.
//!
//! GIL rules (BRIDGE.md has the full story):
//! * tokio worker threads never take the GIL. Every call into Python runs on tokio's blocking pool
//!   (`spawn_blocking`), so a thread waiting for the GIL never stalls the protocol.
//! * Python threads never wait on the core while holding it: `serve` waits with the GIL released
//!   (`detach`), and the callbacks Python makes into Rust (`LogSink.emit`, `Completion`) only send
//!   on unbounded channels, which never block.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use fnwire::runtime::{
    AppReload, FunctionDefinition, HostLogLayer, INVOCATION_SPAN_TARGET, Worker, WorkerArgs, WorkerError,
};
use fnwire::{FunctionError, Invocation, InvocationResult};
use fnwire_protocol::rpc::TypedData;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};
use tokio::sync::{Semaphore, oneshot};

use crate::convert::{self, Decoded, InputKind, Outcome};
use crate::metadata::FunctionEntry;

/// Target of the tracing events that carry Python log records to the host.
const PYTHON_LOG_TARGET: &str = "fnwire_python";

/// The process that started the core; a forked child must not use it (its threads are gone).
static CORE_PID: OnceLock<u32> = OnceLock::new();

/// One Python function as the worker sees it.
struct PyFunction {
    /// The package's own description of the function (`fnwire._app.FunctionInfo`), handed back
    /// to the package's runner on each call.
    entry: Py<PyAny>,
    /// Input bindings to pass, in the order the runner expects them.
    inputs: Vec<(String, InputKind)>,
}

/// The package's runner functions (`fnwire._worker`) and the sync thread limit.
struct Bridge {
    run_sync: Py<PyAny>,
    cancel_async: Py<PyAny>,
    sync_slots: Arc<Semaphore>,
}

type Returned = Result<(Option<TypedData>, Vec<(String, TypedData)>), FunctionError>;

/// Serves `functions` to the host named in `argv` until it stops the worker. Returns the exit
/// code; raises on Ctrl-C (`KeyboardInterrupt`) and on arguments that are not a host's.
///
/// `reload(app_dir, environment)` is called when a placeholder worker (started before its app
/// existed) is specialized by `FunctionEnvironmentReloadRequest`; it returns the app's functions
/// in the same form as `functions`.
#[pyfunction]
#[pyo3(signature = (functions, argv, runner, sync_threads, reload=None))]
pub fn serve(
    py: Python<'_>,
    functions: Vec<Bound<'_, PyAny>>,
    argv: Vec<String>,
    runner: Bound<'_, PyAny>,
    sync_threads: usize,
    reload: Option<Py<PyAny>>,
) -> PyResult<i32> {
    let pid = std::process::id();
    if *CORE_PID.get_or_init(|| pid) != pid {
        return Err(PyRuntimeError::new_err(
            "fnwire: the worker core was started in the parent process and cannot run in a forked child; \
             start workers with `python -m fnwire` (or use the 'spawn' multiprocessing start method)",
        ));
    }
    let args = WorkerArgs::parse(argv).map_err(|e| PyValueError::new_err(e.to_string()))?;
    let bridge = Arc::new(Bridge {
        run_sync: runner.getattr("run_sync")?.unbind(),
        cancel_async: runner.getattr("cancel_async")?.unbind(),
        sync_slots: Arc::new(Semaphore::new(sync_threads.max(1))),
    });
    let mut definitions = Vec::new();
    for function in functions {
        definitions.push(definition(&function, bridge.clone())?);
    }
    install_log_subscriber();
    // Reported to the host as Microsoft's Python worker does: `python`, the interpreter's version.
    let version = py.version_info();
    let mut worker = Worker::new(args)
        .runtime("python", format!("{}.{}.{}", version.major, version.minor, version.patch))
        .functions(definitions);
    if let Some(reload) = reload {
        let bridge = bridge.clone();
        worker =
            worker.on_environment_reload(AppReload::new(move |app_dir| load_app(&reload, &bridge, app_dir)));
    }
    let runtime =
        tokio::runtime::Builder::new_multi_thread().enable_all().thread_name("fnwire-core").build().map_err(
            |e| PyRuntimeError::new_err(format!("fnwire: could not start the async runtime: {e}")),
        )?;
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    // `detach` needs a `Sync` closure; only this thread ever receives.
    let done_rx = Mutex::new(done_rx);
    runtime.spawn(async move {
        let result = worker.run().await;
        let _ = done_tx.send(result);
    });
    // Wait with the GIL released; wake now and then so Ctrl-C reaches Python.
    let outcome = loop {
        match py.detach(|| lock(&done_rx).recv_timeout(Duration::from_millis(200))) {
            Ok(result) => break Ok(result),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if let Err(interrupt) = py.check_signals() {
                    break Err(interrupt);
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                break Ok(Err(WorkerError::Stream {
                    message: "the worker task ended without a result".into(),
                }));
            }
        }
    };
    // Blocking tasks may be waiting for the GIL: release it while the runtime winds down.
    py.detach(|| runtime.shutdown_timeout(Duration::from_secs(2)));
    match outcome? {
        Ok(()) => Ok(0),
        Err(e) => {
            eprintln!("fnwire: {e}");
            Ok(1)
        }
    }
}

/// Calls the package's loader for a specialized placeholder worker. The process environment was
/// just replaced, so it is handed over too (Python's `os.environ` is a snapshot).
fn load_app(
    reload: &Py<PyAny>,
    bridge: &Arc<Bridge>,
    app_dir: &std::path::Path,
) -> Result<Vec<FunctionDefinition>, String> {
    Python::attach(|py| {
        let environment: HashMap<String, String> = std::env::vars().collect();
        let loaded = reload
            .bind(py)
            .call1((app_dir.display().to_string(), environment))
            .map_err(|e| e.value(py).to_string())?;
        let mut definitions = Vec::new();
        for item in loaded.try_iter().map_err(|e| e.to_string())? {
            let item = item.map_err(|e| e.to_string())?;
            definitions.push(definition(&item, bridge.clone()).map_err(|e| e.value(py).to_string())?);
        }
        Ok(definitions)
    })
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// One function the package hands over, read as a [`FunctionEntry`]; the object itself goes
/// back to the package's runner on each call.
fn definition(function: &Bound<'_, PyAny>, bridge: Arc<Bridge>) -> PyResult<FunctionDefinition> {
    let entry: FunctionEntry = function.extract()?;
    let metadata = entry.metadata()?;
    let inputs = entry
        .inputs
        .into_iter()
        .map(|(_, binding, kind, _)| {
            InputKind::parse(&kind)
                .map(|k| (binding, k))
                .ok_or_else(|| PyValueError::new_err(format!("fnwire internal: unknown input kind `{kind}`")))
        })
        .collect::<PyResult<Vec<_>>>()?;
    let (entry, is_async) = (function.clone().unbind(), entry.is_async);
    let function = Arc::new(PyFunction { entry, inputs });
    if is_async {
        return Ok(FunctionDefinition::new(metadata, move |invocation: Invocation| {
            invoke_async(bridge.clone(), function.clone(), invocation)
        }));
    }
    // A `def` function is a blocking handler: the core runs it whole on a pool thread, and a
    // cancel is answered when that thread ends, so the host can replace a worker whose function
    // never returns (its thread, and its `sync_threads` slot, would otherwise be lost for good).
    Ok(FunctionDefinition::blocking(metadata, move |invocation: Invocation| {
        invoke_sync(&bridge, &function, invocation)
    }))
}

/// The function's inputs, decoded, and its context.
fn decode_inputs(
    function: &PyFunction,
    invocation: &mut Invocation,
) -> Result<(Vec<Decoded>, ContextFields), FunctionError> {
    let mut taken = Vec::with_capacity(function.inputs.len());
    for (binding, kind) in &function.inputs {
        taken.push((binding, *kind, invocation.take_input(binding).unwrap_or_default()));
    }
    let mut decoded = Vec::with_capacity(taken.len());
    for (binding, kind, data) in taken {
        decoded.push(
            convert::decode(kind, data, invocation.trigger_metadata()).map_err(|e| e.in_binding(binding))?,
        );
    }
    Ok((decoded, ContextFields::of(invocation)))
}

fn finish(invocation: Invocation, returned: Returned) -> InvocationResult {
    let (return_value, outputs) = returned?;
    for (name, data) in outputs {
        invocation.set_output(&name, data);
    }
    invocation.finish(return_value)
}

async fn invoke_async(
    bridge: Arc<Bridge>,
    function: Arc<PyFunction>,
    mut invocation: Invocation,
) -> InvocationResult {
    let (decoded, context) = decode_inputs(&function, &mut invocation)?;
    let sink = LogSink { span: tracing::Span::current(), pid: std::process::id() };
    let returned = call_async(bridge, function, decoded, context, sink).await;
    finish(invocation, returned)
}

/// A `def` function, on the blocking-pool thread the core runs it on, at most `sync_threads`
/// at a time.
fn invoke_sync(bridge: &Bridge, function: &Arc<PyFunction>, mut invocation: Invocation) -> InvocationResult {
    let (decoded, context) = decode_inputs(function, &mut invocation)?;
    let sink = LogSink { span: tracing::Span::current(), pid: std::process::id() };
    let shutting_down = || FunctionError::new("the worker is shutting down");
    let _permit = match bridge.sync_slots.try_acquire() {
        Ok(permit) => permit,
        // All slots busy: wait for one. A pool thread may block; it is not a runtime thread.
        Err(tokio::sync::TryAcquireError::NoPermits) => tokio::runtime::Handle::current()
            .block_on(bridge.sync_slots.acquire())
            .map_err(|_| shutting_down())?,
        Err(tokio::sync::TryAcquireError::Closed) => return Err(shutting_down()),
    };
    let returned = Python::attach(|py| -> Returned {
        let args = call_args(py, function, decoded, context, sink).map_err(|e| py_failure(py, e))?;
        let outcome = bridge.run_sync.bind(py).call1(args).map_err(|e| py_failure(py, e))?;
        returned_from(py, &outcome)
    });
    finish(invocation, returned)
}

/// An `async def` function: queued for the package's event loop, which the queue wakes itself;
/// the result comes back through a [`Completion`]. If the host cancels the invocation, the call
/// leaves the queue, or its asyncio task is cancelled.
async fn call_async(
    bridge: Arc<Bridge>,
    function: Arc<PyFunction>,
    decoded: Vec<Decoded>,
    context: ContextFields,
    sink: LogSink,
) -> Returned {
    let (tx, rx) = oneshot::channel();
    let completion = Completion { tx: Mutex::new(Some(tx)) };
    let mut guard = CancelOnDrop { bridge, invocation_id: Some(context.invocation_id.clone()) };
    queue_async_call(AsyncCall { function, decoded, context, sink, completion })?;
    let returned = rx.await.unwrap_or_else(|_| {
        Err(FunctionError::new("the asyncio event loop stopped before the function finished"))
    });
    guard.invocation_id = None;
    returned
}

/// An `async def` invocation waiting for the event loop to start it.
struct AsyncCall {
    function: Arc<PyFunction>,
    decoded: Vec<Decoded>,
    context: ContextFields,
    sink: LogSink,
    completion: Completion,
}

/// The calls the event loop has not started yet, and the socket that wakes it.
///
/// The loop watches `wake_reader` (`loop.add_reader`) and takes every queued call in one
/// callback (`take_async_calls`). So a call reaches Python on the loop's own thread, with no
/// pool thread taking the GIL to hand it over: under load that handover made the loop thread and
/// the pool thread take turns with the GIL, which cost `async def` functions most of their speed.
struct AsyncQueue {
    state: Mutex<QueueState>,
    wake_writer: std::os::unix::net::UnixStream,
    wake_reader: std::os::unix::net::UnixStream,
}

#[derive(Default)]
struct QueueState {
    calls: Vec<AsyncCall>,
    /// A wake-up byte is on its way and the loop has not taken the calls since: no need for
    /// another.
    woken: bool,
}

static ASYNC_CALLS: OnceLock<Result<AsyncQueue, String>> = OnceLock::new();

fn async_queue() -> &'static Result<AsyncQueue, String> {
    ASYNC_CALLS.get_or_init(|| {
        let (wake_writer, wake_reader) = std::os::unix::net::UnixStream::pair()
            .map_err(|e| format!("could not make the socket pair that wakes the asyncio loop: {e}"))?;
        for end in [&wake_writer, &wake_reader] {
            end.set_nonblocking(true)
                .map_err(|e| format!("could not make the wake-up socket non-blocking: {e}"))?;
        }
        Ok(AsyncQueue { state: Mutex::default(), wake_writer, wake_reader })
    })
}

/// Queues a call for the loop, waking it unless a wake-up is already on its way.
fn queue_async_call(call: AsyncCall) -> Result<(), FunctionError> {
    let queue = async_queue().as_ref().map_err(|e| FunctionError::new(e.clone()))?;
    let wake = {
        let mut state = lock(&queue.state);
        state.calls.push(call);
        !std::mem::replace(&mut state.woken, true)
    };
    if wake {
        use std::io::Write;
        // WouldBlock means the socket already holds bytes the loop has yet to read: it wakes.
        if let Err(e) = (&queue.wake_writer).write(&[1])
            && e.kind() != std::io::ErrorKind::WouldBlock
        {
            return Err(FunctionError::new(format!("could not wake the asyncio loop: {e}")));
        }
    }
    Ok(())
}

/// Takes a call off the queue if the loop has not started it; returns whether it did.
fn withdraw_async_call(invocation_id: &str) -> bool {
    let Ok(queue) = async_queue() else { return false };
    let mut state = lock(&queue.state);
    let before = state.calls.len();
    state.calls.retain(|c| c.context.invocation_id != invocation_id);
    state.calls.len() != before
}

/// The file descriptor the asyncio loop watches (`loop.add_reader`) for queued `async def` calls.
#[pyfunction]
pub fn async_wakeup_fd() -> PyResult<i32> {
    use std::os::fd::AsRawFd;
    match async_queue() {
        Ok(queue) => Ok(queue.wake_reader.as_raw_fd()),
        Err(e) => Err(PyRuntimeError::new_err(format!("fnwire: {e}"))),
    }
}

/// Every queued `async def` call as `(entry, inputs, context, sink, completion)` for the package's
/// `_start`, in arrival order, after reading the wake-up bytes. A call whose arguments cannot be
/// made is completed as failed here.
#[pyfunction]
pub fn take_async_calls<'py>(py: Python<'py>) -> PyResult<Vec<Bound<'py, PyTuple>>> {
    let Ok(queue) = async_queue() else { return Ok(Vec::new()) };
    let mut drain = [0u8; 256];
    // Read before taking: a call queued after this read sends a new byte, so none is missed.
    while let Ok(n @ 1..) = std::io::Read::read(&mut &queue.wake_reader, &mut drain) {
        if n < drain.len() {
            break;
        }
    }
    let calls = {
        let mut state = lock(&queue.state);
        state.woken = false;
        std::mem::take(&mut state.calls)
    };
    let mut started = Vec::with_capacity(calls.len());
    for AsyncCall { function, decoded, context, sink, completion } in calls {
        let args = match call_args(py, &function, decoded, context, sink) {
            Ok(args) => args,
            Err(e) => {
                completion.fail(py_failure(py, e));
                continue;
            }
        };
        let mut items: Vec<Bound<'py, PyAny>> = args.iter().collect();
        items.push(Bound::new(py, completion)?.into_any());
        started.push(PyTuple::new(py, items)?);
    }
    Ok(started)
}

/// `(entry, inputs, context, sink)` for the package's runner.
fn call_args<'py>(
    py: Python<'py>,
    function: &PyFunction,
    decoded: Vec<Decoded>,
    context: ContextFields,
    sink: LogSink,
) -> PyResult<Bound<'py, PyTuple>> {
    let inputs = PyList::empty(py);
    for input in decoded {
        inputs.append(input.into_py(py)?)?;
    }
    let context = context.into_py(py)?;
    let sink = Bound::new(py, sink)?;
    PyTuple::new(py, [function.entry.bind(py).clone(), inputs.into_any(), context, sink.into_any()])
}

/// Reads the runner's outcome: a `_native.Success` or a `_native.Failure`.
fn returned_from(py: Python<'_>, outcome: &Bound<'_, PyAny>) -> Returned {
    let read = || -> PyResult<Returned> {
        let success = match outcome.extract::<Outcome<'_>>()? {
            Outcome::Failure(failure) => {
                let convert::Failure { error_type, message, traceback } = failure;
                let text =
                    if message.is_empty() { error_type.clone() } else { format!("{error_type}: {message}") };
                return Ok(Err(FunctionError::new(text).with_type(error_type).with_stack_trace(traceback)));
            }
            Outcome::Success(success) => success,
        };
        let success = success.get();
        let return_value = match &success.return_value {
            Some(value) => match convert::output_data(value.bind(py))? {
                Ok(data) => Some(data),
                Err(e) => return Ok(Err(e.in_binding("$return"))),
            },
            None => None,
        };
        let mut outputs = Vec::new();
        for (name, value) in success.outputs.bind(py).iter() {
            let name: String = name.extract()?;
            match convert::output_data(&value)? {
                Ok(data) => outputs.push((name, data)),
                Err(e) => return Ok(Err(e.in_binding(&name))),
            }
        }
        Ok(Ok((return_value, outputs)))
    };
    read().unwrap_or_else(|e| Err(py_failure(py, e)))
}

/// A Python exception raised by the package itself (not the user's function) as a failure.
fn py_failure(py: Python<'_>, error: PyErr) -> FunctionError {
    let type_name = error.get_type(py).name().map(|n| n.to_string()).unwrap_or_else(|_| "Exception".into());
    let traceback = error.traceback(py).and_then(|tb| tb.format().ok()).unwrap_or_default();
    let message = error.value(py).str().map(|s| s.to_string()).unwrap_or_default();
    FunctionError::new(format!("{type_name}: {message}")).with_type(type_name).with_stack_trace(traceback)
}

/// Present when the host retries a failed invocation.
#[derive(Debug)]
#[pyclass(frozen, get_all, module = "fnwire._native")]
pub struct RetryData {
    retry_count: i32,
    max_retry_count: i32,
    exception_message: Option<String>,
}

/// Facts about the invocation for `fnwire.Context`.
#[derive(Debug)]
#[pyclass(frozen, get_all, module = "fnwire._native")]
pub struct ContextData {
    invocation_id: String,
    function_name: String,
    function_id: String,
    trace_parent: String,
    trace_state: String,
    attributes: HashMap<String, String>,
    retry: Option<Py<RetryData>>,
}

/// The context's fields, gathered without the GIL; [`ContextFields::into_py`] makes the object.
struct ContextFields {
    invocation_id: String,
    function_name: String,
    function_id: String,
    trace_parent: String,
    trace_state: String,
    attributes: HashMap<String, String>,
    retry: Option<(i32, i32, Option<String>)>,
}

impl ContextFields {
    fn of(invocation: &Invocation) -> Self {
        let trace = invocation.trace_context();
        ContextFields {
            invocation_id: invocation.invocation_id().to_string(),
            function_name: invocation.function_name().to_string(),
            function_id: invocation.function_id().to_string(),
            trace_parent: trace.trace_parent.clone(),
            trace_state: trace.trace_state.clone(),
            attributes: trace.attributes.clone(),
            retry: invocation
                .retry_context()
                .map(|r| (r.retry_count, r.max_retry_count, r.exception_message.clone())),
        }
    }

    fn into_py(self, py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
        let retry = match self.retry {
            Some((retry_count, max_retry_count, exception_message)) => {
                Some(Bound::new(py, RetryData { retry_count, max_retry_count, exception_message })?.unbind())
            }
            None => None,
        };
        let context = ContextData {
            invocation_id: self.invocation_id,
            function_name: self.function_name,
            function_id: self.function_id,
            trace_parent: self.trace_parent,
            trace_state: self.trace_state,
            attributes: self.attributes,
            retry,
        };
        Ok(Bound::new(py, context)?.into_any())
    }
}

/// Where an invocation's Python log records go: `emit` replays a batch as tracing events inside
/// the invocation's span, which the SDK's host log layer turns into `RpcLog`s on the stream's
/// single writer (so they always precede the invocation's response).
#[derive(Debug)]
#[pyclass(frozen, module = "fnwire._native")]
pub struct LogSink {
    span: tracing::Span,
    pid: u32,
}

#[pymethods]
impl LogSink {
    /// `records`: `[(levelno, message)]` in the order they were logged.
    fn emit(&self, records: Vec<(i32, String)>) {
        // After a fork the stream's writer does not exist in this process.
        if std::process::id() != self.pid {
            return;
        }
        self.span.in_scope(|| {
            for (level, message) in records {
                match level {
                    40.. => tracing::error!(target: PYTHON_LOG_TARGET, "{message}"),
                    30..=39 => tracing::warn!(target: PYTHON_LOG_TARGET, "{message}"),
                    20..=29 => tracing::info!(target: PYTHON_LOG_TARGET, "{message}"),
                    10..=19 => tracing::debug!(target: PYTHON_LOG_TARGET, "{message}"),
                    _ => tracing::trace!(target: PYTHON_LOG_TARGET, "{message}"),
                }
            }
        });
    }
}

/// Called once by the package when an `async def` function is done, with the runner's outcome.
#[derive(Debug)]
#[pyclass(frozen, module = "fnwire._native")]
pub struct Completion {
    tx: Mutex<Option<oneshot::Sender<Returned>>>,
}

impl Completion {
    /// Ends the invocation as failed before Python ever saw it.
    fn fail(&self, error: FunctionError) {
        if let Some(sender) = lock(&self.tx).take() {
            let _ = sender.send(Err(error));
        }
    }
}

#[pymethods]
impl Completion {
    fn __call__(&self, py: Python<'_>, outcome: Bound<'_, PyAny>) {
        let returned = returned_from(py, &outcome);
        let sender = lock(&self.tx).take();
        if let Some(sender) = sender {
            // The receiver is gone when the host cancelled the invocation: nothing to deliver.
            let _ = sender.send(returned);
        }
    }
}

/// Cancels the asyncio task of an invocation whose Rust future is dropped before it finished
/// (the host sent `InvocationCancel`, or the worker is stopping).
struct CancelOnDrop {
    bridge: Arc<Bridge>,
    invocation_id: Option<String>,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        let Some(invocation_id) = self.invocation_id.take() else { return };
        // Still queued: the loop never sees it. Otherwise the loop took it and created its task in
        // that same callback, so the cancel scheduled now finds the task.
        if withdraw_async_call(&invocation_id) {
            return;
        }
        let Ok(handle) = tokio::runtime::Handle::try_current() else { return };
        let bridge = self.bridge.clone();
        handle.spawn_blocking(move || {
            Python::attach(|py| {
                if let Err(e) = bridge.cancel_async.bind(py).call1((invocation_id,)) {
                    e.print(py);
                }
            })
        });
    }
}

/// The SDK's host log layer, letting every Python record through (Python's own logging levels
/// already filtered them); other events by `RUST_LOG` (default `info`).
fn install_log_subscriber() {
    use tracing_subscriber::prelude::*;
    if tracing::dispatcher::has_been_set() {
        return;
    }
    let mut filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new("info"))
        .unwrap_or_default();
    for directive in [format!("{INVOCATION_SPAN_TARGET}=trace"), format!("{PYTHON_LOG_TARGET}=trace")] {
        if let Ok(directive) = directive.parse() {
            filter = filter.add_directive(directive);
        }
    }
    let _ = tracing_subscriber::registry().with(HostLogLayer::new().with_filter(filter)).try_init();
}

//! Running the fnwire worker runtime for the functions JS registered.
//!
//! The runtime runs on its own thread with its own tokio runtime. Each invocation is handed to JS
//! through one thread-safe function (queued, never blocking either side) and waits on a oneshot
//! channel that `invocationComplete`/`invocationFail`, called from JS, fulfil. Logs from JS enter
//! the invocation's tracing span, so the runtime sends them to the host before the response.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use fnwire::runtime::{AppReload, FunctionDefinition, INVOCATION_SPAN_TARGET, Worker, WorkerArgs};
use fnwire::{FunctionError, IntoTypedData, Invocation, InvocationOutcome, InvocationResult};
use napi::Status;
use napi::threadsafe_function::{ThreadsafeFunction, ThreadsafeFunctionCallMode};
use napi_derive::napi;
use tokio::sync::oneshot;

use crate::convert::{BodyKind, InvocationCall, OutcomeOut, flat_http_response, from_js, invocation_call};
use crate::define::{Registered, registered};
use napi::bindgen_prelude::{Buffer, Either};

/// The JS function every invocation is handed to.
pub type DispatchFn =
    ThreadsafeFunction<InvocationCall, napi::Unknown<'static>, InvocationCall, Status, false>;
/// Asked to load the app in `appDir` when a placeholder worker is specialized.
pub type ReloadFn = ThreadsafeFunction<ReloadCall, napi::Unknown<'static>, ReloadCall, Status, false>;
/// Called once when the worker stops: `null`, or why it failed.
pub type ExitFn = ThreadsafeFunction<Option<String>, napi::Unknown<'static>, Option<String>, Status, false>;
/// Told the call id of each invocation the host cancelled (functionTimeout, the client went
/// away, the worker is stopping) while JavaScript still runs it.
pub type CancelFn = ThreadsafeFunction<u32, napi::Unknown<'static>, u32, Status, false>;

/// Where cancels go while the worker runs; cleared when it stops, so the event loop can exit.
static CANCELS: Mutex<Option<Arc<CancelFn>>> = Mutex::new(None);

/// What the reload callback receives; answer with `reloadDone(token, error)`.
#[napi(object)]
#[derive(Debug)]
pub struct ReloadCall {
    pub token: u32,
    pub app_dir: String,
}

static RELOADS: Mutex<Vec<(u32, std::sync::mpsc::Sender<Option<String>>)>> = Mutex::new(Vec::new());
static NEXT_RELOAD: AtomicU32 = AtomicU32::new(1);
/// How long loading an app may take before specialization fails.
const RELOAD_TIMEOUT: Duration = Duration::from_secs(120);

struct Pending {
    reply: oneshot::Sender<InvocationResult>,
    /// The invocation's span: logs emitted inside it go to the host.
    span: tracing::Span,
}

static CALLS: Mutex<Option<HashMap<u32, Pending>>> = Mutex::new(None);
static NEXT_CALL: AtomicU32 = AtomicU32::new(1);

fn calls() -> MutexGuard<'static, Option<HashMap<u32, Pending>>> {
    CALLS.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn take_call(call_id: u32) -> Option<Pending> {
    calls().as_mut().and_then(|calls| calls.remove(&call_id))
}

/// Removes a call whose invocation was dropped (cancelled, or the worker stopped), so a late
/// answer from JS finds nothing and is ignored, and tells JavaScript, which aborts the
/// invocation's `AbortSignal`.
struct CallGuard(u32);

impl Drop for CallGuard {
    fn drop(&mut self) {
        if take_call(self.0).is_some() {
            let cancels = CANCELS.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).clone();
            if let Some(cancels) = cancels {
                cancels.call(self.0, ThreadsafeFunctionCallMode::NonBlocking);
            }
        }
    }
}

async fn invoke(dispatch: Arc<DispatchFn>, function_id: u32, invocation: Invocation) -> InvocationResult {
    call_js(move |call_id| {
        let call = invocation_call(call_id, function_id, invocation);
        Ok(dispatch.call(call, ThreadsafeFunctionCallMode::NonBlocking))
    })
    .await
}

/// Opens a call in the table of open calls, lets `send` hand it to JavaScript under its id (it
/// answers with the event loop's status), and waits for the answer that `answer_call` delivers.
/// fnwire's own API and `@azure/functions-core` both call JavaScript through here, so one table
/// holds every open call and the worker's exit answers them all.
pub(crate) async fn call_js(send: impl FnOnce(u32) -> Result<Status, FunctionError>) -> InvocationResult {
    let call_id = NEXT_CALL.fetch_add(1, Ordering::Relaxed);
    let (reply, answer) = oneshot::channel();
    calls()
        .get_or_insert_with(HashMap::new)
        .insert(call_id, Pending { reply, span: tracing::Span::current() });
    let _guard = CallGuard(call_id);
    let status = send(call_id)?;
    if status != Status::Ok {
        return Err(FunctionError::new(format!(
            "the Node.js event loop did not accept the invocation ({status}); the worker is shutting down"
        )));
    }
    answer.await.unwrap_or_else(|_| {
        Err(FunctionError::new(
            "the invocation ended without an answer from JavaScript (the worker is stopping)",
        ))
    })
}

fn definition(dispatch: &Arc<DispatchFn>, function: Registered) -> FunctionDefinition {
    let dispatch = dispatch.clone();
    let id = function.id;
    FunctionDefinition::new(function.metadata, move |invocation: Invocation| {
        invoke(dispatch.clone(), id, invocation)
    })
}

/// Loads an app through JS (blocking this runtime thread, never the event loop) and returns the
/// functions it registered.
fn reload_through_js(
    reload: &ReloadFn,
    dispatch: &Arc<DispatchFn>,
    app_dir: &std::path::Path,
) -> Result<Vec<FunctionDefinition>, String> {
    let before = registered().len();
    let token = NEXT_RELOAD.fetch_add(1, Ordering::Relaxed);
    let (done, wait) = std::sync::mpsc::channel();
    RELOADS.lock().unwrap_or_else(|p| p.into_inner()).push((token, done));
    let call = ReloadCall { token, app_dir: app_dir.display().to_string() };
    if reload.call(call, ThreadsafeFunctionCallMode::NonBlocking) != Status::Ok {
        return Err("the Node.js event loop did not accept the request to load the app".into());
    }
    match wait.recv_timeout(RELOAD_TIMEOUT) {
        Ok(None) => {
            let mut loaded: Vec<FunctionDefinition> =
                registered().into_iter().skip(before).map(|f| definition(dispatch, f)).collect();
            loaded.extend(crate::azure::take_definitions()?);
            Ok(loaded)
        }
        Ok(Some(error)) => Err(error),
        Err(_) => Err(format!(
            "loading the app in {} took longer than {} s",
            app_dir.display(),
            RELOAD_TIMEOUT.as_secs()
        )),
    }
}

/// Answers a reload call: `error` is null when the app loaded.
#[napi]
pub fn reload_done(token: u32, error: Option<String>) {
    let mut reloads = RELOADS.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(index) = reloads.iter().position(|(t, _)| *t == token) {
        let (_, done) = reloads.remove(index);
        let _ = done.send(error);
    }
}

/// Starts the worker for every registered function on a thread of its own and returns at once.
/// `dispatch` receives each invocation; `on_exit` is called once when the worker stops. With
/// `on_reload` (placeholder mode), the app is loaded when the host specializes the worker.
/// `on_cancel` receives the call id of each invocation cancelled while JavaScript runs it.
#[napi]
pub fn worker_start(
    env: napi::Env,
    argv: Vec<String>,
    dispatch: DispatchFn,
    on_exit: ExitFn,
    on_reload: Option<ReloadFn>,
    on_cancel: Option<CancelFn>,
) -> napi::Result<()> {
    // Before the worker's threads start (see `fnwire_alloc::configure`).
    fnwire_alloc::configure();
    let args = WorkerArgs::parse(argv).map_err(|e| napi::Error::from_reason(e.to_string()))?;
    let functions = registered();
    let azure_functions = crate::azure::take_definitions().map_err(napi::Error::from_reason)?;
    if functions.is_empty() && azure_functions.is_empty() && on_reload.is_none() {
        return Err(napi::Error::from_reason(
            "no functions are registered. Register them in the app's entry file (package.json `main`) with \
             app.httpTrigger(...), app.timerTrigger(...), app.queueTrigger(...) or app.generic(...)",
        ));
    }
    let dispatch = Arc::new(dispatch);
    let definitions: Vec<FunctionDefinition> =
        functions.into_iter().map(|f| definition(&dispatch, f)).chain(azure_functions).collect();
    // Reported to the host as Microsoft's Node worker does: `node`, `process.version`.
    let node = env.get_node_version()?;
    let mut worker = Worker::new(args)
        .runtime("node", format!("v{}.{}.{}", node.major, node.minor, node.patch))
        .functions(definitions);
    if let Some(reload) = on_reload {
        let dispatch = dispatch.clone();
        worker = worker
            .on_environment_reload(AppReload::new(move |dir| reload_through_js(&reload, &dispatch, dir)));
    }
    drop(dispatch);
    *CANCELS.lock().unwrap_or_else(|poisoned| poisoned.into_inner()) = on_cancel.map(Arc::new);
    std::thread::Builder::new()
        .name("fnwire-worker".into())
        .spawn(move || {
            let outcome =
                match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
                    Ok(runtime) => {
                        let result = worker.run_on(&runtime);
                        // Dropping the runtime drops every handler, and with them the dispatch function.
                        runtime.shutdown_timeout(Duration::from_secs(1));
                        result.err().map(|e| e.to_string())
                    }
                    Err(e) => Some(format!("could not start the async runtime: {e}")),
                };
            // Answers JS for calls still open, so nothing waits forever.
            calls().take();
            CANCELS.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
            on_exit.call(outcome, ThreadsafeFunctionCallMode::NonBlocking);
        })
        .map_err(|e| napi::Error::from_reason(format!("could not start the worker thread: {e}")))?;
    Ok(())
}

/// Delivers the answer to an open call; `result` runs only when the call is still open (a late
/// answer to a cancelled invocation is dropped unread).
pub(crate) fn answer_call(call_id: u32, result: impl FnOnce() -> InvocationResult) {
    if let Some(pending) = take_call(call_id) {
        let _ = pending.reply.send(result());
    }
}

/// Ends an invocation with what the function produced.
#[napi]
pub fn invocation_complete(call_id: u32, outcome: OutcomeOut) {
    answer_call(call_id, || {
        let mut outputs = Vec::new();
        for output in outcome.outputs {
            let name = output.name;
            if let Some(data) = from_js(output.data).map_err(|e| e.in_binding(&name))? {
                outputs.push((name, data));
            }
        }
        let return_value = match outcome.return_value {
            Some(data) => from_js(data).map_err(|e| e.in_binding("$return"))?,
            None => None,
        };
        Ok(InvocationOutcome { outputs, return_value })
    });
}

/// Ends an invocation whose one result is an HTTP response without cookies (what most HTTP
/// functions answer), its members as arguments: reading the nested outcome object through N-API
/// looks up each member by name, which cost more than the response's own conversion. `headers`
/// is `[name, value, name, value, ...]`; `body` the text or the bytes.
#[napi]
pub fn invocation_complete_http(
    call_id: u32,
    status: f64,
    headers: Vec<String>,
    body: Either<String, Buffer>,
    body_kind: Option<BodyKind>,
) {
    answer_call(call_id, || {
        let response =
            flat_http_response(status, headers, body, body_kind).map_err(|e| e.in_binding("$return"))?;
        Ok(InvocationOutcome { outputs: Vec::new(), return_value: response.into_typed_data().map(Some)? })
    });
}

/// Ends an invocation as failed. `stack` reaches the host's log as the exception's stack trace.
#[napi]
pub fn invocation_fail(call_id: u32, message: String, stack: Option<String>, error_type: Option<String>) {
    answer_call(call_id, || {
        let mut error = FunctionError::new(message);
        if let Some(stack) = stack.filter(|s| !s.is_empty()) {
            error = error.with_stack_trace(stack);
        }
        if let Some(error_type) = error_type.filter(|s| !s.is_empty()) {
            error = error.with_type(error_type);
        }
        Err(error)
    });
}

/// The level of a user log, named as the host's log levels are.
#[napi(string_enum = "lowercase")]
#[derive(Debug, PartialEq, Eq)]
pub enum LogLevel {
    /// The most detailed.
    Trace,
    /// For debugging.
    Debug,
    /// The default of `context.log`.
    Information,
    /// Something unexpected that did not stop the function.
    Warning,
    /// A failure.
    Error,
    /// A failure that needs attention at once (sent as an error).
    Critical,
}

/// Sends a user log for a running invocation. Returns false when the invocation has already
/// ended.
#[napi]
pub fn invocation_log(call_id: u32, level: LogLevel, message: String) -> bool {
    let span = match calls().as_ref().and_then(|calls| calls.get(&call_id)) {
        Some(pending) => pending.span.clone(),
        None => return false,
    };
    span.in_scope(|| match level {
        LogLevel::Trace => tracing::trace!(target: INVOCATION_SPAN_TARGET, "{message}"),
        LogLevel::Debug => tracing::debug!(target: INVOCATION_SPAN_TARGET, "{message}"),
        LogLevel::Information => tracing::info!(target: INVOCATION_SPAN_TARGET, "{message}"),
        LogLevel::Warning => tracing::warn!(target: INVOCATION_SPAN_TARGET, "{message}"),
        LogLevel::Error | LogLevel::Critical => tracing::error!(target: INVOCATION_SPAN_TARGET, "{message}"),
    });
    true
}

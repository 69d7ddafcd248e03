//! The one invocation pipeline every trigger goes through (HTTP, timers, queues): prepare the
//! inputs → invoke through the worker pool (which applies `functionTimeout`) → check the
//! result → complete the outputs. Store and file work (blob inputs, blob and queue outputs, the
//! queue message's completion) runs on the blocking pool, never on a runtime thread: the store's
//! group commit may wait on a condition variable.
//!
//! Each front end turns an [`InvocationError`] into its own answer: HTTP into a status and a
//! body, queues into a retry or a poison message, timers into a log line.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use fnwire_observe::{
    InvocationFinished, InvocationStarted, Observers, Outcome, WorkerDispatch, following_dispatch,
};
use fnwire_protocol::rpc::{InvocationRequest, InvocationResponse, ParameterBinding, status_result};
use fnwire_telemetry::trace_id::{PARENT_SPAN_ID_ATTRIBUTE, TraceId};
use futures::future::BoxFuture;

use crate::bindings::expressions::ExpressionValues;
use crate::bindings::{AppBindings, BindingError, HeldMessage};
use crate::supervisor::{InvokeError, WorkerPool};

/// Where invocations run: the supervised worker pool, or a stand-in in tests.
pub trait Worker: Send + Sync + std::fmt::Debug {
    /// Runs one invocation. Dropping the future cancels it on the worker.
    fn invoke<'a>(
        &'a self,
        function: &'a str,
        request: InvocationRequest,
    ) -> BoxFuture<'a, Result<InvocationResponse, InvokeError>>;
}

impl Worker for WorkerPool {
    fn invoke<'a>(
        &'a self,
        function: &'a str,
        request: InvocationRequest,
    ) -> BoxFuture<'a, Result<InvocationResponse, InvokeError>> {
        Box::pin(WorkerPool::invoke(self, function, request))
    }
}

/// One invocation to run.
#[derive(Debug)]
pub struct Invocation {
    pub function: String,
    /// Why it runs, for the `Executing` log line (e.g. `Timer fired`).
    pub reason: String,
    pub request: InvocationRequest,
    /// The queue message that triggered it; deleted through the pipeline's bindings, which a
    /// pipeline running queue triggers therefore has.
    pub held: Option<HeldMessage>,
}

/// Why an invocation did not succeed. Every way is a variant, so each front end decides what
/// it means for its caller.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvocationError {
    /// A blob input or a binding expression could not be resolved; the worker was not called.
    #[error("its inputs could not be prepared: {0}")]
    Inputs(BindingError),
    /// The pool did not return a response (no worker, the worker died, `functionTimeout`).
    #[error(transparent)]
    Worker(#[from] InvokeError),
    /// The function ran and reported a failure or a cancellation.
    #[error("{message}")]
    Function { cancelled: bool, message: String },
    /// The function succeeded, but its outputs could not be delivered (nothing was).
    #[error("the function succeeded but its outputs could not be delivered: {0}")]
    Outputs(BindingError),
}

impl InvocationError {
    /// True when no worker took the invocation: it never ran, so a trigger should retry it
    /// without counting an attempt.
    pub fn never_ran(&self) -> bool {
        matches!(self, InvocationError::Worker(InvokeError::Unavailable(_)))
    }
}

/// Runs invocations: the worker, and the bindings the host serves from embedded storage.
#[derive(Debug, Clone)]
pub struct Pipeline {
    worker: Arc<dyn Worker>,
    /// Blob inputs and queue/blob outputs (none: outputs other than `http` are not delivered).
    bindings: Option<Arc<AppBindings>>,
    /// Inputs whose value the host makes once, by function (the `durableClient` binding).
    host_inputs: Option<Arc<HashMap<String, Vec<ParameterBinding>>>>,
    /// `rabbitMQ` outputs, published after a Success before the storage outputs commit.
    rabbitmq: Option<Arc<crate::triggers::rabbitmq::RabbitOutputs>>,
    /// Told of every invocation's start and end (the dashboard, metrics).
    observers: Observers,
}

impl Pipeline {
    pub fn new(worker: Arc<dyn Worker>, bindings: Option<Arc<AppBindings>>) -> Self {
        Pipeline { worker, bindings, host_inputs: None, rabbitmq: None, observers: Observers::default() }
    }

    /// Adds `inputs[function]` to every invocation of `function`.
    pub fn with_host_inputs(mut self, inputs: Arc<HashMap<String, Vec<ParameterBinding>>>) -> Self {
        self.host_inputs = Some(inputs);
        self
    }

    /// Publishes the functions' `rabbitMQ` outputs after each Success.
    pub fn with_rabbitmq_outputs(mut self, outputs: Arc<crate::triggers::rabbitmq::RabbitOutputs>) -> Self {
        self.rabbitmq = Some(outputs).filter(|o| !o.is_empty());
        self
    }

    /// Reports every invocation's start and end to `observers` too.
    pub fn with_observers(mut self, observers: Observers) -> Self {
        self.observers = observers;
        self
    }

    pub fn observers(&self) -> &Observers {
        &self.observers
    }

    pub fn bindings(&self) -> Option<&Arc<AppBindings>> {
        self.bindings.as_ref()
    }

    /// Runs one invocation and logs it (`Executing`, `Executed`). On success, the outputs are
    /// delivered (and a held message deleted) before this returns.
    pub async fn run(&self, invocation: Invocation) -> Result<InvocationResponse, InvocationError> {
        let Invocation { function, reason, mut request, held } = invocation;
        if let Some(inputs) = self.host_inputs.as_ref().and_then(|all| all.get(&function)) {
            request.input_data.extend(inputs.iter().cloned());
        }
        let id = request.invocation_id.clone();
        // For the JSON console's lines; the human lines say the id only.
        let trace_id = request
            .trace_context
            .as_ref()
            .map_or(TraceId::NONE, |context| TraceId::of_traceparent(&context.trace_parent));
        let observers = &self.observers;
        let started = |request: &InvocationRequest| {
            if !observers.is_empty() {
                observers.started(&InvocationStarted {
                    function: &function,
                    invocation_id: &id,
                    reason: &reason,
                    at: SystemTime::now(),
                    request,
                });
            }
        };
        let mut dispatch: Option<(WorkerDispatch, Duration)> = None;
        let finished = |outcome: Outcome,
                        error: Option<&dyn std::fmt::Display>,
                        duration: Duration,
                        response: Option<&InvocationResponse>,
                        dispatch: &Option<(WorkerDispatch, Duration)>,
                        commit: Option<Duration>| {
            if !observers.is_empty() {
                let error = error.map(ToString::to_string);
                observers.finished(&InvocationFinished {
                    function: &function,
                    invocation_id: &id,
                    outcome,
                    error: error.as_deref(),
                    duration,
                    response,
                    worker: dispatch.as_ref().map(|(worker, _)| worker),
                    queued: dispatch.as_ref().map_or(Duration::ZERO, |(_, queued)| *queued),
                    commit,
                });
            }
        };
        // Functions without storage bindings skip the blocking pool: the HTTP hot path stays on
        // its own thread.
        let storage = self.bindings.clone().filter(|b| held.is_some() || b.uses_storage(&function));
        let (mut request, values) = match &storage {
            // Boxed, like the other storage and broker steps below: inline, their futures made
            // this one (held in every HTTP request's future and moved with it) several times
            // larger for functions that never take these paths.
            Some(bindings) => match Box::pin(prepare(bindings.clone(), &function, request)).await {
                Ok(prepared) => prepared,
                Err((e, request)) => {
                    started(&request.map(|r| *r).unwrap_or_default());
                    let error = InvocationError::Inputs(e.clone());
                    finished(Outcome::Failed, Some(&error), Duration::ZERO, None, &None, None);
                    tracing::error!(
                        category = format_args!("Function.{function}"),
                        invocation_id = %id,
                        trace_id = %trace_id,
                        "Executed '{function}' (Failed, Id={id}): its inputs could not be prepared: {e}"
                    );
                    return Err(InvocationError::Inputs(e));
                }
            },
            None => (request, ExpressionValues::default()),
        };
        tracing::info!(
            category = format_args!("Function.{function}"),
                        invocation_id = %id,
                        trace_id = %trace_id,
            "Executing '{function}' (Reason='{reason}', Id={id})"
        );
        started(&request);
        // The invocation's parent span was for the observers only; the worker gets the
        // trace context as it always has.
        if let Some(context) = request.trace_context.as_mut().filter(|c| !c.attributes.is_empty()) {
            context.attributes.remove(PARENT_SPAN_ID_ATTRIBUTE);
        }
        let clock = Instant::now();
        let outcome = if observers.follow_workers() {
            let (outcome, worker) = following_dispatch(self.worker.invoke(&function, request)).await;
            dispatch = worker.map(|w| {
                let queued = w.at.saturating_duration_since(clock);
                (w, queued)
            });
            outcome
        } else {
            self.worker.invoke(&function, request).await
        };
        let elapsed = clock.elapsed().as_millis();
        let response = match outcome {
            Ok(response) => response,
            Err(e @ InvokeError::Unavailable(_)) => {
                tracing::warn!(
                    category = format_args!("Function.{function}"),
                        invocation_id = %id,
                        trace_id = %trace_id,
                    "'{function}' (Id={id}) did not run: {e}"
                );
                finished(Outcome::NotRun, Some(&e), Duration::ZERO, None, &dispatch, None);
                return Err(e.into());
            }
            Err(e) => {
                tracing::error!(
                    category = format_args!("Function.{function}"),
                        invocation_id = %id,
                        trace_id = %trace_id,
                    "Executed '{function}' (Failed, Id={id}, Duration={elapsed}ms): {e}"
                );
                finished(Outcome::Failed, Some(&e), clock.elapsed(), None, &dispatch, None);
                return Err(e.into());
            }
        };
        if let Some(Failure { cancelled, message, stack }) = failure(&response) {
            let outcome = if cancelled { Outcome::Cancelled } else { Outcome::Failed };
            let stack = if stack.is_empty() { String::new() } else { format!("\n{stack}") };
            // The stack trace stays in the log; callers get the message only.
            tracing::error!(
                category = format_args!("Function.{function}"),
                        invocation_id = %id,
                        trace_id = %trace_id,
                "Executed '{function}' ({outcome}, Id={id}, Duration={elapsed}ms): {message}{stack}"
            );
            finished(outcome, Some(&message), clock.elapsed(), Some(&response), &dispatch, None);
            return Err(InvocationError::Function { cancelled, message });
        }
        // Broker outputs first: if the store commit then fails, the trigger is retried and the
        // messages may be sent twice, but none is lost with its trigger completed.
        if let Some(rabbitmq) = self.rabbitmq.as_ref().filter(|r| r.has_outputs(&function)) {
            if let Err(e) = Box::pin(rabbitmq.deliver(&function, &response)).await {
                let error = InvocationError::Outputs(e);
                tracing::error!(
                    category = format_args!("Function.{function}"),
                        invocation_id = %id,
                        trace_id = %trace_id,
                    "Executed '{function}' (Failed, Id={id}, Duration={elapsed}ms): {error}"
                );
                finished(Outcome::Failed, Some(&error), clock.elapsed(), Some(&response), &dispatch, None);
                return Err(error);
            }
        }
        let mut commit = None;
        let response = match storage {
            Some(bindings) => match Box::pin(complete(bindings, &function, values, response, held)).await {
                Ok((response, took)) => {
                    commit = Some(took);
                    response
                }
                Err((e, response)) => {
                    let error = InvocationError::Outputs(e);
                    tracing::error!(
                        category = format_args!("Function.{function}"),
                        invocation_id = %id,
                        trace_id = %trace_id,
                        "Executed '{function}' (Failed, Id={id}, Duration={elapsed}ms): {error}"
                    );
                    finished(
                        Outcome::Failed,
                        Some(&error),
                        clock.elapsed(),
                        response.as_deref(),
                        &dispatch,
                        None,
                    );
                    return Err(error);
                }
            },
            None => response,
        };
        tracing::info!(
            category = format_args!("Function.{function}"),
                        invocation_id = %id,
                        trace_id = %trace_id,
            "Executed '{function}' (Succeeded, Id={id}, Duration={elapsed}ms)"
        );
        finished(Outcome::Succeeded, None, clock.elapsed(), Some(&response), &dispatch, commit);
        Ok(response)
    }
}

/// What the worker said about a function that did not succeed.
struct Failure {
    cancelled: bool,
    message: String,
    stack: String,
}

/// Why the response is not a success, if it is not: it counts as one only if the worker said so.
fn failure(response: &InvocationResponse) -> Option<Failure> {
    let status = response.result.as_ref().map_or(status_result::Status::Failure as i32, |r| r.status);
    if status == status_result::Status::Success as i32 {
        return None;
    }
    let exception = response.result.as_ref().and_then(|r| r.exception.as_ref());
    Some(Failure {
        cancelled: status == status_result::Status::Cancelled as i32,
        message: exception
            .map(|e| e.message.clone())
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| "the worker reported a failure without a message".into()),
        stack: exception.map(|e| e.stack_trace.clone()).unwrap_or_default(),
    })
}

/// Adds the blob inputs (file reads) on the blocking pool. A failure hands the request back
/// (for the observers) unless the blocking task itself was lost.
async fn prepare(
    bindings: Arc<AppBindings>,
    function: &str,
    mut request: InvocationRequest,
) -> Result<(InvocationRequest, ExpressionValues), (BindingError, Option<Box<InvocationRequest>>)> {
    let function = function.to_string();
    tokio::task::spawn_blocking(move || match bindings.prepare(&function, &mut request) {
        Ok(values) => Ok((request, values)),
        Err(e) => Err((e, Some(Box::new(request)))),
    })
    .await
    .unwrap_or_else(|e| Err((BindingError::Interrupted(format!("preparing the inputs stopped: {e}")), None)))
}

/// Writes the blob outputs and commits the queue outputs (with the held message) on the
/// blocking pool, and says how long that took. The response goes there and back rather than
/// being copied: an HTTP body can be large. A failure hands it back too (for the observers),
/// unless the blocking task was lost.
async fn complete(
    bindings: Arc<AppBindings>,
    function: &str,
    values: ExpressionValues,
    response: InvocationResponse,
    held: Option<HeldMessage>,
) -> Result<(InvocationResponse, Duration), (BindingError, Option<Box<InvocationResponse>>)> {
    let function = function.to_string();
    tokio::task::spawn_blocking(move || {
        let clock = Instant::now();
        match bindings.complete(&function, &values, &response, held.as_ref()) {
            Ok(_) => Ok((response, clock.elapsed())),
            Err(e) => Err((e, Some(Box::new(response)))),
        }
    })
    .await
    .unwrap_or_else(|e| Err((BindingError::Interrupted(format!("delivering outputs stopped: {e}")), None)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fnwire_metadata::{Binding, Direction, FunctionMetadata};
    use fnwire_protocol::rpc::{
        ParameterBinding, RpcException, StatusResult, TypedData, parameter_binding, typed_data,
    };
    use fnwire_storage::{BlobStore, Store};
    use std::sync::Mutex;

    use crate::lifecycle::IndexedFunction;

    /// Answers every invocation with the next scripted result and records what it was sent.
    #[derive(Debug, Default)]
    struct ScriptedWorker {
        answers: Mutex<Vec<Result<InvocationResponse, InvokeError>>>,
        seen: Mutex<Vec<InvocationRequest>>,
    }

    impl Worker for ScriptedWorker {
        fn invoke<'a>(
            &'a self,
            _function: &'a str,
            request: InvocationRequest,
        ) -> BoxFuture<'a, Result<InvocationResponse, InvokeError>> {
            self.seen.lock().unwrap().push(request);
            let answer = self.answers.lock().unwrap().remove(0);
            Box::pin(async move { answer })
        }
    }

    fn response(
        status: status_result::Status,
        message: &str,
        outputs: &[(&str, &str)],
    ) -> InvocationResponse {
        InvocationResponse {
            result: Some(StatusResult {
                status: status as i32,
                exception: (!message.is_empty())
                    .then(|| RpcException { message: message.into(), ..Default::default() }),
                ..Default::default()
            }),
            output_data: outputs
                .iter()
                .map(|(name, text)| ParameterBinding {
                    name: name.to_string(),
                    rpc_data: Some(parameter_binding::RpcData::Data(TypedData {
                        data: Some(typed_data::Data::String(text.to_string())),
                    })),
                })
                .collect(),
            ..Default::default()
        }
    }

    fn pipeline(
        dir: &std::path::Path,
        answers: Vec<Result<InvocationResponse, InvokeError>>,
    ) -> (Pipeline, Arc<ScriptedWorker>) {
        let mut metadata = FunctionMetadata::new("work");
        metadata.bindings = vec![
            Binding::new("req", "httpTrigger", Direction::In),
            Binding::new("page", "blob", Direction::In).with("path", "pages/{name}"),
            Binding::new("done", "queue", Direction::Out).with("queueName", "done"),
        ];
        let function = IndexedFunction {
            function_id: metadata.function_id(),
            metadata,
            rpc: Default::default(),
            error: None,
        };
        let store = Arc::new(Store::open(&dir.join("store")).unwrap());
        let bindings =
            AppBindings::new(store, Arc::new(BlobStore::new(dir.join("blobs"))), &[function]).unwrap();
        bindings.blobs().write("pages/home", b"welcome").unwrap();
        let worker = Arc::new(ScriptedWorker { answers: Mutex::new(answers), ..Default::default() });
        (Pipeline::new(worker.clone(), Some(Arc::new(bindings))), worker)
    }

    fn invocation(name: Option<&str>) -> Invocation {
        let mut request = InvocationRequest { invocation_id: "inv-1".into(), ..Default::default() };
        if let Some(name) = name {
            request
                .trigger_metadata
                .insert("name".into(), TypedData { data: Some(typed_data::Data::String(name.into())) });
        }
        Invocation { function: "work".into(), reason: "test".into(), request, held: None }
    }

    fn queue_length(p: &Pipeline, queue: &str) -> usize {
        p.bindings().unwrap().store().message_count(queue).unwrap() as usize
    }

    #[tokio::test]
    async fn success_reads_inputs_and_delivers_outputs() {
        let dir = tempfile::tempdir().unwrap();
        let ok = response(status_result::Status::Success, "", &[("done", "finished")]);
        let (p, worker) = pipeline(dir.path(), vec![Ok(ok.clone())]);
        assert_eq!(p.run(invocation(Some("home"))).await.unwrap(), ok);
        let sent = worker.seen.lock().unwrap().remove(0);
        let page = sent.input_data.iter().find(|b| b.name == "page").expect("the blob input is sent");
        assert_eq!(
            page.rpc_data,
            Some(parameter_binding::RpcData::Data(TypedData {
                data: Some(typed_data::Data::String("welcome".into()))
            }))
        );
        assert_eq!(queue_length(&p, "done"), 1);
    }

    #[tokio::test]
    async fn each_way_of_failing_is_its_own_error_and_delivers_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let (p, worker) = pipeline(
            dir.path(),
            vec![
                Ok(response(status_result::Status::Failure, "boom", &[("done", "x")])),
                Ok(response(status_result::Status::Cancelled, "", &[])),
                Err(InvokeError::Unavailable("restarting".into())),
                Err(InvokeError::WorkerDied("exit 1".into())),
            ],
        );
        let e = p.run(invocation(None)).await.unwrap_err();
        assert!(
            matches!(e, InvocationError::Inputs(ref m) if m.to_string().contains("blob input `page`")),
            "{e}"
        );
        assert!(worker.seen.lock().unwrap().is_empty(), "the worker is not called when inputs fail");

        let e = p.run(invocation(Some("home"))).await.unwrap_err();
        assert_eq!(e, InvocationError::Function { cancelled: false, message: "boom".into() });
        assert_eq!(queue_length(&p, "done"), 0, "a failed function's outputs are not delivered");
        let e = p.run(invocation(Some("home"))).await.unwrap_err();
        assert!(
            matches!(&e, InvocationError::Function { cancelled: true, message } if message.contains("without a message")),
            "{e:?}"
        );
        let e = p.run(invocation(Some("home"))).await.unwrap_err();
        assert!(e.never_ran(), "{e:?}");
        let e = p.run(invocation(Some("home"))).await.unwrap_err();
        assert!(!e.never_ran() && matches!(e, InvocationError::Worker(InvokeError::WorkerDied(_))), "{e:?}");
    }

    /// Writes down what the pipeline reports.
    #[derive(Debug, Default)]
    struct Recorder(Mutex<Vec<String>>);

    impl fnwire_observe::InvocationObserver for Recorder {
        fn started(&self, e: &InvocationStarted<'_>) {
            let trigger_name = e.request.trigger_metadata.get("name").and_then(|d| d.data.clone());
            self.0
                .lock()
                .unwrap()
                .push(format!("started {} {} {trigger_name:?}", e.function, e.invocation_id));
        }
        fn finished(&self, e: &InvocationFinished<'_>) {
            let outputs = e.response.map_or(0, |r| r.output_data.len());
            self.0.lock().unwrap().push(format!(
                "finished {} {} error={:?} outputs={outputs}",
                e.function,
                e.outcome,
                e.error.map(|m| m.split(':').next().unwrap_or_default().to_string())
            ));
        }
    }

    #[tokio::test]
    async fn observers_hear_every_start_and_end_with_its_outcome() {
        let dir = tempfile::tempdir().unwrap();
        let (p, _) = pipeline(
            dir.path(),
            vec![
                Ok(response(status_result::Status::Success, "", &[("done", "x")])),
                Ok(response(status_result::Status::Failure, "boom", &[])),
                Err(InvokeError::Unavailable("restarting".into())),
            ],
        );
        let recorder = Arc::new(Recorder::default());
        let p = p.with_observers(Observers::default().with(recorder.clone()));
        p.run(invocation(Some("home"))).await.unwrap();
        p.run(invocation(None)).await.unwrap_err();
        p.run(invocation(Some("home"))).await.unwrap_err();
        p.run(invocation(Some("home"))).await.unwrap_err();
        let name = r#"Some(String("home"))"#;
        assert_eq!(
            *recorder.0.lock().unwrap(),
            [
                format!("started work inv-1 {name}"),
                "finished work Succeeded error=None outputs=1".to_string(),
                "started work inv-1 None".to_string(),
                r#"finished work Failed error=Some("its inputs could not be prepared") outputs=0"#
                    .to_string(),
                format!("started work inv-1 {name}"),
                r#"finished work Failed error=Some("boom") outputs=0"#.to_string(),
                format!("started work inv-1 {name}"),
                "finished work NotRun error=Some(\"no worker is available\") outputs=0".to_string(),
            ]
        );
    }

    /// Reports which worker took each invocation, as the pool does, and keeps its requests.
    #[derive(Debug, Default)]
    struct DispatchingWorker(Mutex<Vec<InvocationRequest>>);

    impl Worker for DispatchingWorker {
        fn invoke<'a>(
            &'a self,
            _function: &'a str,
            request: InvocationRequest,
        ) -> BoxFuture<'a, Result<InvocationResponse, InvokeError>> {
            Box::pin(async move {
                self.0.lock().unwrap().push(request);
                fnwire_observe::report_dispatch(|| WorkerDispatch {
                    worker_id: "w-1".into(),
                    pid: Some(42),
                    at: Instant::now(),
                });
                Ok(response(status_result::Status::Success, "", &[]))
            })
        }
    }

    /// Keeps the worker and parent span each finished invocation was reported with.
    #[derive(Debug, Default)]
    struct WorkerRecorder {
        follows: bool,
        seen: Mutex<Vec<(Option<String>, Option<String>)>>,
    }

    impl fnwire_observe::InvocationObserver for WorkerRecorder {
        fn started(&self, e: &InvocationStarted<'_>) {
            let parent =
                e.request.trace_context.as_ref().and_then(|c| c.attributes.get(PARENT_SPAN_ID_ATTRIBUTE));
            self.seen.lock().unwrap().push((None, parent.cloned()));
        }
        fn finished(&self, e: &InvocationFinished<'_>) {
            let last = self.seen.lock().unwrap().len() - 1;
            self.seen.lock().unwrap()[last].0 = e.worker.map(|w| format!("{} {:?}", w.worker_id, w.pid));
        }
        fn follows_workers(&self) -> bool {
            self.follows
        }
    }

    #[tokio::test]
    async fn observers_that_follow_workers_hear_which_worker_ran_it_and_the_worker_never_sees_the_parent() {
        let mut request = InvocationRequest { invocation_id: "inv-1".into(), ..Default::default() };
        request.trace_context = Some(fnwire_protocol::rpc::RpcTraceContext {
            trace_parent: "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01".into(),
            attributes: [(PARENT_SPAN_ID_ATTRIBUTE.to_string(), "b7ad6b7169203331".to_string())].into(),
            ..Default::default()
        });
        let invocation = || Invocation {
            function: "work".into(),
            reason: "test".into(),
            request: request.clone(),
            held: None,
        };
        for follows in [true, false] {
            let worker = Arc::new(DispatchingWorker::default());
            let recorder = Arc::new(WorkerRecorder { follows, ..Default::default() });
            let p = Pipeline::new(worker.clone(), None)
                .with_observers(Observers::default().with(recorder.clone()));
            p.run(invocation()).await.unwrap();
            let expected_worker = follows.then(|| "w-1 Some(42)".to_string());
            assert_eq!(
                *recorder.seen.lock().unwrap(),
                [(expected_worker, Some("b7ad6b7169203331".to_string()))],
                "follows_workers={follows}"
            );
            let sent = worker.0.lock().unwrap().remove(0).trace_context.unwrap();
            assert!(sent.attributes.is_empty(), "the worker got {:?}", sent.attributes);
            assert_eq!(sent.trace_parent, request.trace_context.as_ref().unwrap().trace_parent);
        }
    }

    #[tokio::test]
    async fn undeliverable_outputs_fail_the_invocation() {
        let dir = tempfile::tempdir().unwrap();
        let ok = response(status_result::Status::Success, "", &[("done", "x")]);
        let (p, _) = pipeline(dir.path(), vec![Ok(ok)]);
        // A held message that does not exist cannot be completed: the queue output is rolled back.
        let mut inv = invocation(Some("home"));
        inv.held =
            Some(HeldMessage::Queue { queue: "jobs".into(), id: "gone".into(), pop_receipt: "r".into() });
        let e = p.run(inv).await.unwrap_err();
        assert!(matches!(e, InvocationError::Outputs(_)), "{e:?}");
        assert_eq!(queue_length(&p, "done"), 0);
    }
}

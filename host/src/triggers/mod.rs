//! Trigger engines the host runs itself: timers and queues on the embedded store. Each
//! function gets a task; invocations go to the worker through a [`Dispatch`], which also
//! prepares blob inputs and delivers outputs.

pub mod config;
pub mod queue;
pub mod queue_cli;
pub mod timer;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use fnwire_protocol::rpc::{InvocationRequest, InvocationResponse, status_result};
use fnwire_storage::Store;
use futures::future::BoxFuture;

use crate::bindings::{AppBindings, HeldMessage};
use crate::lifecycle::IndexedFunction;
use config::QueueOptions;
use queue::QueueFunction;
use timer::TimerFunction;

/// Why an invocation did not return a response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvokeFailure {
    /// No worker took it (starting, restarting): it was never attempted.
    NotSent(String),
    /// It was sent and did not complete (the worker died, timeout).
    Failed(String),
}

/// Sends an invocation to a worker: `(function name, request)` → response, or why not.
pub type InvokeFn = Arc<
    dyn Fn(String, InvocationRequest) -> BoxFuture<'static, Result<InvocationResponse, InvokeFailure>>
        + Send
        + Sync,
>;

/// How an invocation ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvocationOutcome {
    Succeeded,
    Failed(String),
    /// Never reached a worker; a trigger should retry it without counting an attempt.
    NotRun(String),
}

/// Runs invocations: inputs, the worker, then outputs (only on success).
#[derive(Clone)]
pub struct Dispatch {
    pub invoke: InvokeFn,
    pub bindings: Arc<AppBindings>,
}

impl std::fmt::Debug for Dispatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatch").finish_non_exhaustive()
    }
}

impl Dispatch {
    /// Runs one invocation and delivers its outputs; with `held`, the trigger message is
    /// deleted in the same transaction the queue outputs are added in.
    pub async fn run(
        &self,
        function: &str,
        reason: &str,
        mut request: InvocationRequest,
        held: Option<HeldMessage<'_>>,
    ) -> InvocationOutcome {
        let id = request.invocation_id.clone();
        let values = match self.bindings.prepare(function, &mut request) {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(
                    "Executed '{function}' (Failed, Id={id}): its inputs could not be prepared: {e}"
                );
                return InvocationOutcome::Failed(e);
            }
        };
        tracing::info!("Executing '{function}' (Reason='{reason}', Id={id})");
        let started = Instant::now();
        let outcome = (self.invoke)(function.to_string(), request).await;
        let elapsed = started.elapsed().as_millis();
        let response = match outcome {
            Ok(r) => r,
            Err(InvokeFailure::NotSent(e)) => {
                tracing::warn!("'{function}' (Id={id}) did not run: {e}; it will be tried again");
                return InvocationOutcome::NotRun(e);
            }
            Err(InvokeFailure::Failed(e)) => {
                tracing::error!("Executed '{function}' (Failed, Id={id}, Duration={elapsed}ms): {e}");
                return InvocationOutcome::Failed(e);
            }
        };
        let status = response.result.as_ref().map_or(status_result::Status::Failure as i32, |r| r.status);
        if status != status_result::Status::Success as i32 {
            let message = response
                .result
                .as_ref()
                .and_then(|r| r.exception.as_ref())
                .map(|e| e.message.clone())
                .unwrap_or_else(|| "the worker reported a failure without a message".into());
            tracing::error!("Executed '{function}' (Failed, Id={id}, Duration={elapsed}ms): {message}");
            return InvocationOutcome::Failed(message);
        }
        let bindings = self.bindings.clone();
        let function_owned = function.to_string();
        let held_owned = held.map(|(q, i, r)| (q.to_string(), i.to_string(), r.to_string()));
        let delivered = tokio::task::spawn_blocking(move || {
            let held = held_owned.as_ref().map(|(q, i, r)| (q.as_str(), i.as_str(), r.as_str()));
            bindings.complete(&function_owned, &values, &response, held)
        })
        .await
        .unwrap_or_else(|e| Err(format!("delivering outputs stopped: {e}")));
        match delivered {
            Ok(_) => {
                tracing::info!("Executed '{function}' (Succeeded, Id={id}, Duration={elapsed}ms)");
                InvocationOutcome::Succeeded
            }
            Err(e) => {
                tracing::error!(
                    "Executed '{function}' (Failed, Id={id}, Duration={elapsed}ms): the function succeeded but its \
                     outputs could not be delivered: {e}"
                );
                InvocationOutcome::Failed(e)
            }
        }
    }
}

/// The timer and queue functions of an app, checked before anything runs.
#[derive(Debug, Clone, Default)]
pub struct TriggerPlan {
    pub timers: Vec<TimerFunction>,
    pub queues: Vec<QueueFunction>,
    pub queue_options: QueueOptions,
}

impl TriggerPlan {
    /// Reads every timer and queue trigger. An invalid schedule or queue name is an error
    /// naming the function (the host refuses to start).
    pub fn new(functions: &[IndexedFunction], queue_options: QueueOptions) -> anyhow::Result<TriggerPlan> {
        let mut plan = TriggerPlan { queue_options, ..TriggerPlan::default() };
        for f in functions.iter().filter(|f| f.error.is_none()) {
            let Some(trigger) = f.metadata.trigger() else { continue };
            let name = &f.metadata.name;
            if trigger.binding_type.eq_ignore_ascii_case("timerTrigger") {
                let t = TimerFunction::from_binding(name, &f.function_id, trigger).map_err(|e| {
                    anyhow::anyhow!("function `{name}`: {e}. Fix the schedule and start again")
                })?;
                plan.timers.push(t);
            } else if trigger.binding_type.eq_ignore_ascii_case("queueTrigger") {
                let q = QueueFunction::from_binding(name, &f.function_id, trigger).map_err(|e| {
                    anyhow::anyhow!("function `{name}`: {e}. Fix the queue trigger and start again")
                })?;
                plan.queues.push(q);
            }
        }
        Ok(plan)
    }

    /// What triggers each timer and queue function, for the console table.
    pub fn descriptions(&self) -> HashMap<String, String> {
        let mut out = HashMap::new();
        for t in &self.timers {
            let mut d = t.schedule.describe();
            if t.run_on_startup {
                d.push_str(", runOnStartup");
            }
            out.insert(t.name.clone(), d);
        }
        for q in &self.queues {
            out.insert(q.name.clone(), format!("queue {}", q.queue));
        }
        out
    }

    /// Starts a task per function; they stop when the returned value is dropped.
    pub fn start(self, store: Arc<Store>, dispatch: Dispatch) -> RunningTriggers {
        let mut tasks = Vec::new();
        for t in self.timers {
            tasks.push(tokio::spawn(timer::run(t, store.clone(), dispatch.clone())));
        }
        for q in self.queues {
            tasks.push(tokio::spawn(queue::run(
                q,
                store.clone(),
                dispatch.clone(),
                self.queue_options.clone(),
            )));
        }
        RunningTriggers { tasks }
    }
}

/// The running trigger tasks; dropping this stops them.
#[derive(Debug, Default)]
pub struct RunningTriggers {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Drop for RunningTriggers {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Invocations through the supervised worker pool.
pub fn invoke_via_pool(pool: Arc<crate::supervisor::WorkerPool>) -> InvokeFn {
    Arc::new(move |name: String, request: InvocationRequest| {
        let pool = pool.clone();
        Box::pin(async move {
            pool.invoke(&name, request).await.map_err(|e| match e {
                crate::supervisor::InvokeError::Unavailable(_) => InvokeFailure::NotSent(e.to_string()),
                other => InvokeFailure::Failed(other.to_string()),
            })
        })
    })
}

/// The embedded storage of an app, opened at start.
#[derive(Debug, Clone)]
pub struct Embedded {
    pub store: Arc<Store>,
    pub blobs: fnwire_storage::BlobStore,
    pub queue_options: QueueOptions,
}

impl Embedded {
    /// Opens the store (a corrupt or locked database is an error here, before the worker
    /// starts) and makes messages a previous, killed host still held visible again.
    pub fn open(
        app_dir: &std::path::Path,
        settings: &std::collections::BTreeMap<String, String>,
    ) -> anyhow::Result<Embedded> {
        let paths = config::storage_paths(app_dir, settings)?;
        let queue_options = QueueOptions::read(app_dir)?;
        let store = Store::open(&paths.storage_dir)?;
        let released = store.release_all_leases()?;
        if released > 0 {
            tracing::info!("{released} queue message(s) held when the host last stopped are visible again");
        }
        tracing::debug!(
            "embedded storage: {} (blobs in {})",
            store.path().display(),
            paths.blob_dir.display()
        );
        Ok(Embedded {
            store: Arc::new(store),
            blobs: fnwire_storage::BlobStore::new(paths.blob_dir),
            queue_options,
        })
    }
}

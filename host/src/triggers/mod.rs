//! Trigger engines the host runs itself: timers and queues on the embedded store. Each
//! function gets a task; invocations go through the host's one [`Pipeline`], which also
//! prepares blob inputs and delivers outputs.

pub mod backend;
pub mod blob;
pub mod blob_cli;
pub mod config;
pub mod queue;
pub mod queue_cli;
pub mod rabbitmq;
pub mod service_bus;
pub mod timer;
pub mod topic_cli;

use std::collections::HashMap;
use std::sync::Arc;

use fnwire_storage::QueueStore;

use crate::bindings::AppBindings;
use crate::config::ConfigError;
use crate::invoke::Pipeline;
use crate::lifecycle::IndexedFunction;
use blob::BlobFunction;
use config::QueueOptions;
use queue::QueueFunction;
use timer::TimerFunction;

/// The timer and queue functions of an app, checked before anything runs.
#[derive(Debug, Clone, Default)]
pub struct TriggerPlan {
    pub timers: Vec<TimerFunction>,
    pub queues: Vec<QueueFunction>,
    pub blobs: Vec<BlobFunction>,
    pub queue_options: QueueOptions,
    pub service_bus: Vec<service_bus::ServiceBusFunction>,
    pub service_bus_options: service_bus::ServiceBusOptions,
}

/// The embedded triggers cannot start.
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    #[error("function `{function}`: {error}. Fix the schedule and start again")]
    Schedule { function: String, error: timer::ScheduleError },
    #[error("function `{function}`: {error}. Fix the queue trigger and start again")]
    Queue { function: String, error: queue::QueueTriggerError },
    #[error("function `{function}`: {error}. Fix the blob trigger and start again")]
    Blob { function: String, error: blob::BlobTriggerError },
    #[error("function `{function}`: {error}. Fix the Service Bus trigger and start again")]
    ServiceBus { function: String, error: service_bus::ServiceBusTriggerError },
    #[error(transparent)]
    ServiceBusEntities(#[from] service_bus::DeclarationsError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    RabbitMq(#[from] rabbitmq::RabbitMqError),
    /// The embedded database cannot be opened (corrupt, locked by another program).
    // Boxed: a storage error is large, and every result of this module carries its room.
    #[error(transparent)]
    Storage(Box<fnwire_storage::StorageError>),
}

impl From<fnwire_storage::StorageError> for TriggerError {
    fn from(e: fnwire_storage::StorageError) -> Self {
        TriggerError::Storage(Box::new(e))
    }
}

impl TriggerPlan {
    /// Reads every timer and queue trigger. An invalid schedule or queue name is an error
    /// naming the function (the host refuses to start).
    pub fn new(
        functions: &[IndexedFunction],
        queue_options: QueueOptions,
    ) -> Result<TriggerPlan, TriggerError> {
        let mut plan = TriggerPlan { queue_options, ..TriggerPlan::default() };
        for f in functions.iter().filter(|f| f.error.is_none()) {
            let Some(trigger) = f.metadata.trigger() else { continue };
            let name = &f.metadata.name;
            if trigger.binding_type.eq_ignore_ascii_case("timerTrigger") {
                let t = TimerFunction::from_binding(name, &f.function_id, trigger)
                    .map_err(|error| TriggerError::Schedule { function: name.clone(), error })?;
                plan.timers.push(t);
            } else if trigger.binding_type.eq_ignore_ascii_case("queueTrigger") {
                let q = QueueFunction::from_binding(name, &f.function_id, trigger)
                    .map_err(|error| TriggerError::Queue { function: name.clone(), error })?;
                plan.queues.push(q);
            } else if trigger.binding_type.eq_ignore_ascii_case("blobTrigger") {
                let b = BlobFunction::from_binding(name, &f.function_id, trigger)
                    .map_err(|error| TriggerError::Blob { function: name.clone(), error })?;
                plan.blobs.push(b);
            } else if trigger.binding_type.eq_ignore_ascii_case("serviceBusTrigger") {
                let s = service_bus::ServiceBusFunction::from_binding(name, &f.function_id, trigger)
                    .map_err(|error| TriggerError::ServiceBus { function: name.clone(), error })?;
                plan.service_bus.push(s);
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
        for b in &self.blobs {
            out.insert(b.name.clone(), format!("blobs in {}", b.pattern.container));
        }
        for s in &self.service_bus {
            out.insert(s.name.clone(), s.describe());
        }
        out
    }

    /// Starts a task per function; they stop when the returned value is dropped. `bindings`
    /// tells a queue listener when this host added a message to its queue.
    /// Starts a task per function. When `stop` is raised they take no new occurrence or
    /// message and end once their invocations in flight have (see [`RunningTriggers::drain`]).
    pub fn start(
        self,
        store: Arc<dyn QueueStore>,
        pipeline: Pipeline,
        bindings: &AppBindings,
        stop: &crate::drain::StopSignal,
    ) -> RunningTriggers {
        let mut tasks = Vec::new();
        for t in self.timers {
            tasks.push(tokio::spawn(timer::run(t, store.clone(), pipeline.clone(), stop.clone())));
        }
        for q in self.queues {
            let signal = bindings.signal(&q.queue);
            tasks.push(tokio::spawn(queue::run(
                q,
                store.clone(),
                pipeline.clone(),
                signal,
                self.queue_options.clone(),
                stop.clone(),
            )));
        }
        for b in self.blobs {
            let function = std::sync::Arc::new(b);
            // The work queue's signal: on PostgreSQL, another host queueing work wakes it too.
            let work_found = bindings.signal(&function.work_queue);
            let wake_scan = bindings.signal(&blob::container_signal(&function.pattern.container));
            tasks.push(tokio::spawn(blob::scan(
                function.clone(),
                store.clone(),
                bindings.blobs().clone(),
                wake_scan,
                work_found.clone(),
                stop.clone(),
            )));
            tasks.push(tokio::spawn(blob::listen(
                function,
                store.clone(),
                bindings.blobs().clone(),
                pipeline.clone(),
                work_found,
                self.queue_options.clone(),
                stop.clone(),
            )));
        }
        for s in self.service_bus {
            let signal = bindings.signal(&service_bus::signal_key(&s.entity));
            tasks.push(tokio::spawn(service_bus::run(
                s,
                store.clone(),
                pipeline.clone(),
                signal,
                self.service_bus_options.clone(),
                stop.clone(),
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

impl RunningTriggers {
    /// Adds listener tasks started elsewhere (RabbitMQ), so they drain and stop with the rest.
    pub fn add(&mut self, tasks: impl IntoIterator<Item = tokio::task::JoinHandle<()>>) {
        self.tasks.extend(tasks);
    }

    /// Waits up to `timeout` for every trigger task to end after the stop signal was raised
    /// (their invocations in flight finish first). Says whether all did; the rest are aborted
    /// when this is dropped, and their messages reappear after their visibility timeout.
    pub async fn drain(&mut self, timeout: std::time::Duration) -> bool {
        crate::drain::within(timeout, async {
            for task in &mut self.tasks {
                let _ = task.await;
            }
        })
        .await
    }
}

impl Drop for RunningTriggers {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// The embedded storage of an app, opened at start.
#[derive(Debug, Clone)]
pub struct Embedded {
    pub store: Arc<dyn QueueStore>,
    pub blobs: Arc<dyn fnwire_storage::BlobBackend>,
    pub queue_options: QueueOptions,
}

impl Embedded {
    /// Opens the store (a corrupt or locked database is an error here, before the worker
    /// starts) and makes messages a previous, killed host still held visible again.
    pub fn open(
        app_dir: &std::path::Path,
        settings: &std::collections::BTreeMap<String, String>,
    ) -> Result<Embedded, TriggerError> {
        let paths = config::storage_paths(app_dir, settings)?;
        let mut queue_options = QueueOptions::read(app_dir)?;
        let lease = settings
            .get(config::MESSAGE_LEASE_SETTING)
            .cloned()
            .or_else(|| std::env::var(config::MESSAGE_LEASE_SETTING).ok())
            .filter(|s| !s.trim().is_empty());
        if let Some(text) = lease {
            queue_options.message_lease = config::parse_timespan(&text)
                .ok()
                .filter(|d| d.as_millis() >= 200)
                .ok_or_else(|| ConfigError::Setting {
                    name: config::MESSAGE_LEASE_SETTING,
                    value: text.clone(),
                    expected: "a time span of at least 200 ms (hh:mm:ss, e.g. 00:00:30)",
                })?;
        }
        // One host per store: a second one is refused here, before it starts a worker or
        // releases the first host's held messages.
        let (store, blobs) = backend::open_with_blobs(&paths.storage_dir, &paths.blob_dir, settings, true)?;
        let released = store.recover_at_start()?
            + store.topics().map(|t| t.recover_locks_at_start()).transpose()?.unwrap_or(0);
        if released > 0 {
            tracing::info!("{released} queue message(s) held when the host last stopped are visible again");
        }
        tracing::debug!("storage: {} (blobs in {})", store.describe(), blobs.describe());
        Ok(Embedded { store, blobs, queue_options })
    }
}

//! What the host hands the dashboard (`fnwire-dashboard`): its functions and worker processes,
//! read on each request; the store and the durable hub go in as they are.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use fnwire_dashboard::{AppSources, FunctionInfo, WorkerInfo};

use crate::console::FunctionRow;
use crate::supervisor::{WorkerEvent, WorkerPool};
use crate::triggers::timer::Schedule;

/// The app's functions as the start-up table shows them, plus what changes while it runs.
#[derive(Debug)]
pub struct HostSources {
    functions: Vec<FunctionInfo>,
    /// Timer schedules by function, for the next run.
    timers: HashMap<String, Schedule>,
    workers: Weak<WorkerPool>,
    /// Worker exits per slot since the host started.
    restarts: Arc<Vec<AtomicU64>>,
}

impl HostSources {
    /// Must be called inside a Tokio runtime: counts worker restarts on a task of its own, which
    /// ends with the pool.
    pub fn new(
        rows: &[FunctionRow],
        functions: &[crate::lifecycle::IndexedFunction],
        timers: HashMap<String, Schedule>,
        workers: &Arc<WorkerPool>,
    ) -> Self {
        let functions = rows
            .iter()
            .map(|row| {
                let metadata = functions.iter().find(|f| f.metadata.name == row.name);
                let trigger = metadata.and_then(|f| f.metadata.trigger());
                let auth_level = trigger
                    .filter(|t| t.binding_type.eq_ignore_ascii_case("httpTrigger"))
                    .map(|t| t.str_property("authLevel").unwrap_or("function").to_string());
                let target = if row.methods.is_empty() {
                    row.target.clone()
                } else {
                    format!("{} {}", row.methods, row.target)
                };
                FunctionInfo {
                    name: row.name.clone(),
                    trigger: trigger.map(|t| t.binding_type.clone()).unwrap_or_else(|| row.trigger.clone()),
                    target,
                    auth_level,
                    next_run: None,
                    error: row.error.clone(),
                }
            })
            .collect();
        let restarts: Arc<Vec<AtomicU64>> =
            Arc::new((0..workers.process_count()).map(|_| AtomicU64::new(0)).collect());
        let mut events = workers.subscribe();
        let counted = restarts.clone();
        tokio::spawn(async move {
            loop {
                match events.recv().await {
                    Ok(WorkerEvent::WorkerExited { slot, .. }) => {
                        if let Some(count) = counted.get(slot) {
                            count.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                    Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        HostSources { functions, timers, workers: Arc::downgrade(workers), restarts }
    }
}

impl AppSources for HostSources {
    fn functions(&self) -> Vec<FunctionInfo> {
        let now = chrono::Utc::now();
        let mut functions = self.functions.clone();
        for f in &mut functions {
            f.next_run = self
                .timers
                .get(&f.name)
                .and_then(|s| s.next_after(now))
                .map(crate::triggers::timer::timestamp);
        }
        functions
    }

    fn workers(&self) -> Vec<WorkerInfo> {
        let Some(pool) = self.workers.upgrade() else { return Vec::new() };
        pool.slot_states()
            .into_iter()
            .enumerate()
            .map(|(slot, state)| WorkerInfo {
                slot,
                pid: state.pid,
                live: state.live,
                restarts: self.restarts.get(slot).map_or(0, |c| c.load(Ordering::Relaxed)),
                in_flight: state.in_flight,
            })
            .collect()
    }
}

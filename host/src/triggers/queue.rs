//! Queue triggers on the embedded store, with Azure's listener behaviour: poll with back-off
//! up to `maxPollingInterval`, take `batchSize` messages and take more once fewer than
//! `newBatchThreshold` are in flight; delete a message only after the function succeeded
//! (together with its queue outputs); after a failure make it visible again after
//! `visibilityTimeout`, or move it to `<queue>-poison` on its `maxDequeueCount`-th attempt.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use fnwire_protocol::rpc::{InvocationRequest, ParameterBinding, TypedData, parameter_binding, typed_data};
use fnwire_storage::{LeasedMessage, QueueStore};
use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::config::QueueOptions;
use crate::bindings::HeldMessage;
use crate::invoke::{Invocation, Pipeline};

/// How long a taken message stays hidden while its invocation runs (Azure: 10 minutes),
/// renewed at half-time while it runs. A host that dies releases nothing; the next host start
/// releases all holds at once.
pub const IN_FLIGHT_VISIBILITY: Duration = Duration::from_secs(600);
/// How long a message that found no worker waits before it is tried again.
const NO_WORKER_RETRY_DELAY: Duration = Duration::from_millis(500);
/// First wait after an empty poll; doubles up to `maxPollingInterval`.
const MIN_POLL_DELAY: Duration = Duration::from_millis(100);

/// A queue trigger's settings cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueueTriggerError {
    #[error("the queue trigger has no `queueName`")]
    MissingQueueName,
    /// The store's explanation of why the name is not a valid queue name.
    #[error("{0}")]
    InvalidQueueName(String),
}

/// A queue-triggered function as the host runs it.
#[derive(Debug, Clone)]
pub struct QueueFunction {
    pub name: String,
    pub function_id: String,
    pub trigger_name: String,
    pub queue: String,
    /// `dataType: binary`: the message arrives as bytes instead of a string.
    pub binary: bool,
}

impl QueueFunction {
    pub fn from_binding(
        name: &str,
        function_id: &str,
        trigger: &fnwire_metadata::Binding,
    ) -> Result<Self, QueueTriggerError> {
        let queue = trigger.str_property("queueName").ok_or(QueueTriggerError::MissingQueueName)?;
        fnwire_storage::validate_queue_name(queue)
            .map_err(|e| QueueTriggerError::InvalidQueueName(e.to_string()))?;
        Ok(QueueFunction {
            name: name.to_string(),
            function_id: function_id.to_string(),
            trigger_name: trigger.name.clone(),
            queue: queue.to_string(),
            binary: matches!(trigger.data_type, Some(fnwire_metadata::DataType::Binary)),
        })
    }

    /// The invocation for a message: the body as `string` (or `bytes` with dataType binary)
    /// and the trigger metadata Azure sends. A message put by an invocation continues that
    /// invocation's trace; one put from outside (`fnwire queue put`) starts a new one.
    pub fn invocation(&self, invocation_id: &str, m: &LeasedMessage) -> InvocationRequest {
        let body = if self.binary {
            typed_data::Data::Bytes(m.body.clone().into())
        } else {
            typed_data::Data::String(String::from_utf8_lossy(&m.body).into_owned())
        };
        InvocationRequest {
            invocation_id: invocation_id.to_string(),
            function_id: self.function_id.clone(),
            input_data: vec![ParameterBinding {
                name: self.trigger_name.clone(),
                rpc_data: Some(parameter_binding::RpcData::Data(TypedData { data: Some(body) })),
            }],
            trigger_metadata: trigger_metadata(m),
            trace_context: m
                .trace
                .as_ref()
                .map(|t| crate::http::request::continue_trace(Some(&t.traceparent), Some(&t.tracestate))),
            retry_context: None,
        }
    }
}

/// `"2027-01-02T03:04:05+00:00"`. The RFC 3339 writer gives the same text as the strftime
/// pattern `%Y-%m-%dT%H:%M:%S%:z` without parsing a pattern three times per message.
fn json_time(t: DateTime<Utc>) -> TypedData {
    let text = t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
    TypedData { data: Some(typed_data::Data::Json(format!("\"{text}\""))) }
}

/// Azure's queue trigger metadata: `Id` and `PopReceipt` as strings, `DequeueCount` as JSON
/// number text, the times as JSON ISO-8601 strings, and `QueueTrigger` (the body as text).
pub fn trigger_metadata(m: &LeasedMessage) -> HashMap<String, TypedData> {
    let string = |s: &str| TypedData { data: Some(typed_data::Data::String(s.to_string())) };
    HashMap::from([
        ("Id".to_string(), string(&m.id)),
        (
            "DequeueCount".to_string(),
            TypedData { data: Some(typed_data::Data::Json(m.dequeue_count.to_string())) },
        ),
        ("InsertionTime".to_string(), json_time(m.insertion_time)),
        ("ExpirationTime".to_string(), json_time(m.expiration_time)),
        ("NextVisibleTime".to_string(), json_time(m.next_visible_time)),
        ("PopReceipt".to_string(), string(&m.pop_receipt)),
        ("QueueTrigger".to_string(), string(&String::from_utf8_lossy(&m.body))),
    ])
}

pub(super) async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    tokio::task::spawn_blocking(f).await.ok()
}

/// Runs `function` for the held message `m`, which the invocation deletes with its outputs, and
/// renews the hold every half `lease` until the run ends, so a long invocation keeps its message
/// hidden (Azure renews the same way). `renew_failed` reports a renewal that did not take.
#[allow(clippy::too_many_arguments)]
pub(super) async fn run_holding(
    pipeline: &Pipeline,
    store: &Arc<dyn QueueStore>,
    m: &LeasedMessage,
    lease: Duration,
    function: &str,
    reason: String,
    request: InvocationRequest,
    renew_failed: impl Fn(fnwire_storage::StorageError),
) -> Result<fnwire_protocol::rpc::InvocationResponse, crate::invoke::InvocationError> {
    let invocation = Invocation {
        function: function.to_string(),
        reason,
        request,
        held: Some(HeldMessage::Queue {
            queue: m.queue.clone(),
            id: m.id.clone(),
            pop_receipt: m.pop_receipt.clone(),
        }),
    };
    let run = pipeline.run(invocation);
    tokio::pin!(run);
    let mut renew = tokio::time::interval_at(tokio::time::Instant::now() + lease / 2, lease / 2);
    loop {
        tokio::select! {
            outcome = &mut run => break outcome,
            _ = renew.tick() => {
                let (s, m2) = (store.clone(), m.clone());
                if let Some(Err(e)) = blocking(move || s.renew(&m2.queue, &m2.id, &m2.pop_receipt, lease)).await {
                    renew_failed(e);
                }
            }
        }
    }
}

/// Listens on the function's queue for as long as the task lives.
pub(super) async fn run(
    function: QueueFunction,
    store: Arc<dyn QueueStore>,
    pipeline: Pipeline,
    signal: Arc<Notify>,
    options: QueueOptions,
    stop: crate::drain::StopSignal,
) {
    let function = Arc::new(function);
    let mut in_flight: JoinSet<()> = JoinSet::new();
    let mut delay = MIN_POLL_DELAY;
    loop {
        while in_flight.len() > options.new_batch_threshold {
            in_flight.join_next().await;
        }
        if stop.is_stopping() {
            // Draining: take nothing new, let the messages already taken finish.
            while in_flight.join_next().await.is_some() {}
            return;
        }
        let (s, queue, batch) = (store.clone(), function.queue.clone(), options.batch_size);
        let lease = options.message_lease;
        let taken = blocking(move || s.get_messages(&queue, batch, lease)).await;
        let messages = match taken {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                tracing::warn!(
                    "queue `{}` (function `{}`): could not take messages: {e}",
                    function.queue,
                    function.name
                );
                Vec::new()
            }
            None => Vec::new(),
        };
        if messages.is_empty() {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = signal.notified() => {}
                () = stop.stopped() => {}
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            }
            delay = (delay * 2).min(options.max_polling_interval);
            continue;
        }
        delay = MIN_POLL_DELAY;
        for message in messages {
            let (function, store, pipeline, options) =
                (function.clone(), store.clone(), pipeline.clone(), options.clone());
            in_flight.spawn(async move { process(&function, &store, &pipeline, &options, message).await });
        }
    }
}

async fn process(
    function: &QueueFunction,
    store: &Arc<dyn QueueStore>,
    pipeline: &Pipeline,
    options: &QueueOptions,
    m: LeasedMessage,
) {
    // A message that already used its attempts (e.g. the host died during the last one) goes
    // straight to the poison queue.
    if m.dequeue_count > options.max_dequeue_count {
        poison(function, store, &m, options).await;
        return;
    }
    let invocation_id = uuid::Uuid::new_v4().to_string();
    let reason = format!("New queue message detected on '{}'", function.queue);
    let request = function.invocation(&invocation_id, &m);
    let outcome =
        run_holding(pipeline, store, &m, options.message_lease, &function.name, reason, request, |e| {
            tracing::warn!("message {} on `{}`: could not renew its visibility timeout: {e}", m.id, m.queue)
        })
        .await;
    match outcome {
        Ok(_) => {}
        Err(e) if e.never_ran() => {
            // No worker right now (e.g. one is restarting): not an attempt; wait a little.
            tracing::info!(
                "message {} on `{}` will be tried again when a worker is available",
                m.id,
                m.queue
            );
            let (s, m2) = (store.clone(), m.clone());
            let release =
                move || s.release_unattempted(&m2.queue, &m2.id, &m2.pop_receipt, NO_WORKER_RETRY_DELAY);
            if let Err(e) = retry_store_write(&m, "release it", RELEASE_RETRY_BOUND, release).await {
                tracing::warn!("message {} on `{}`: could not release it: {e}", m.id, m.queue);
            }
        }
        Err(_) if m.dequeue_count >= options.max_dequeue_count => {
            poison(function, store, &m, options).await;
        }
        Err(_) => {
            let (s, m2, delay) = (store.clone(), m.clone(), options.visibility_timeout);
            let release = move || s.release(&m2.queue, &m2.id, &m2.pop_receipt, delay);
            match retry_store_write(&m, "release it", RELEASE_RETRY_BOUND, release).await {
                Ok(_) => tracing::info!(
                    "message {} on `{}` will be retried (attempt {} of {}) after {:?}",
                    m.id,
                    m.queue,
                    m.dequeue_count,
                    options.max_dequeue_count,
                    delay
                ),
                Err(e) => {
                    tracing::warn!("message {} on `{}`: could not release it: {e}", m.id, m.queue)
                }
            }
        }
    }
}

async fn poison(
    function: &QueueFunction,
    store: &Arc<dyn QueueStore>,
    m: &LeasedMessage,
    options: &QueueOptions,
) {
    let (s, m2) = (store.clone(), m.clone());
    let move_it = move || s.move_to_poison(&m2.queue, &m2.id, &m2.pop_receipt);
    match retry_store_write(m, "move it to the poison queue", RELEASE_RETRY_BOUND, move_it).await {
        Ok(poison) => tracing::warn!(
            "function `{}`: message {} failed {} time(s) (maxDequeueCount {}); moved to queue `{poison}`",
            function.name,
            m.id,
            m.dequeue_count.min(options.max_dequeue_count),
            options.max_dequeue_count
        ),
        Err(e) => {
            tracing::warn!("message {} on `{}`: could not move it to the poison queue: {e}", m.id, m.queue)
        }
    }
}

/// How long a failed release is retried: past it the message's hold (renewed at half-time)
/// may have ended and it is visible again by itself.
const RELEASE_RETRY_BOUND: Duration = Duration::from_secs(IN_FLIGHT_VISIBILITY.as_secs() / 2);

/// Runs a store write that gives a held message back, retrying failures (a full disk, an I/O
/// error, a lock held too long) with back-off up to `bound`, so the message does not stay
/// hidden for the rest of its hold when the disk has room again a moment later. A pop-receipt
/// mismatch is final: the message is no longer ours.
async fn retry_store_write<T, F>(
    m: &LeasedMessage,
    what: &str,
    bound: Duration,
    write: F,
) -> Result<T, fnwire_storage::StorageError>
where
    T: Send + 'static,
    F: Fn() -> Result<T, fnwire_storage::StorageError> + Clone + Send + 'static,
{
    use fnwire_storage::StorageError;
    let give_up_at = tokio::time::Instant::now() + bound;
    let mut wait = Duration::from_millis(100);
    let mut failures = 0u32;
    loop {
        let result = match blocking(write.clone()).await {
            Some(result) => result,
            // The blocking task panicked: nothing to retry safely.
            None => return Err(StorageError::CompletionBug),
        };
        match result {
            Ok(value) => {
                if failures > 0 {
                    tracing::info!(
                        "message {} on `{}`: could {what} after {failures} failed attempt(s)",
                        m.id,
                        m.queue
                    );
                }
                return Ok(value);
            }
            Err(e @ (StorageError::PopReceiptMismatch { .. } | StorageError::InvalidQueueName { .. })) => {
                return Err(e);
            }
            Err(e) if tokio::time::Instant::now() + wait > give_up_at => return Err(e),
            Err(e) => {
                failures += 1;
                if failures == 1 {
                    tracing::warn!("message {} on `{}`: could not {what} ({e}); retrying", m.id, m.queue);
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(Duration::from_secs(5));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn leased() -> LeasedMessage {
        let t = Utc.with_ymd_and_hms(2027, 1, 2, 3, 4, 5).unwrap();
        LeasedMessage {
            queue: "jobs".into(),
            id: "m-1".into(),
            body: b"hello".to_vec(),
            dequeue_count: 1,
            insertion_time: t,
            expiration_time: t,
            next_visible_time: t,
            pop_receipt: "r1".into(),
            trace: None,
        }
    }

    fn disk_full() -> fnwire_storage::StorageError {
        fnwire_storage::StorageError::Sql {
            path: "fnwire.db".into(),
            what: "releasing a message",
            source: rusqlite_full(),
        }
    }

    fn rusqlite_full() -> rusqlite::Error {
        use rusqlite::ffi;
        rusqlite::Error::SqliteFailure(ffi::Error::new(ffi::SQLITE_FULL), None)
    }

    #[tokio::test(start_paused = true)]
    async fn a_release_that_fails_on_a_full_disk_is_retried_until_it_succeeds() {
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        let write = move || if c.fetch_add(1, Ordering::SeqCst) < 3 { Err(disk_full()) } else { Ok("r2") };
        let got = retry_store_write(&leased(), "release it", RELEASE_RETRY_BOUND, write).await;
        assert_eq!(got.unwrap(), "r2");
        assert_eq!(calls.load(Ordering::SeqCst), 4);
    }

    #[tokio::test(start_paused = true)]
    async fn retries_stop_at_the_bound_and_at_a_receipt_mismatch() {
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        let write = move || -> Result<(), _> {
            c.fetch_add(1, Ordering::SeqCst);
            Err(disk_full())
        };
        assert!(retry_store_write(&leased(), "release it", Duration::from_secs(30), write).await.is_err());
        assert!(calls.load(Ordering::SeqCst) > 3, "{} attempts", calls.load(Ordering::SeqCst));
        let calls = Arc::new(AtomicU32::new(0));
        let c = calls.clone();
        let write = move || -> Result<(), _> {
            c.fetch_add(1, Ordering::SeqCst);
            Err(fnwire_storage::StorageError::PopReceiptMismatch {
                queue: "jobs".into(),
                id: "m-1".into(),
                pop_receipt: "r1".into(),
            })
        };
        assert!(retry_store_write(&leased(), "release it", RELEASE_RETRY_BOUND, write).await.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1, "a mismatch is final");
    }

    #[test]
    fn invocation_carries_azure_trigger_metadata_and_the_body_by_data_type() {
        let t = Utc.with_ymd_and_hms(2027, 1, 2, 3, 4, 5).unwrap();
        let m = LeasedMessage {
            queue: "jobs".into(),
            id: "m-1".into(),
            body: b"hello".to_vec(),
            dequeue_count: 2,
            insertion_time: t,
            expiration_time: t,
            next_visible_time: t,
            pop_receipt: "r1".into(),
            trace: None,
        };
        let mut trigger =
            fnwire_metadata::Binding::new("msg", "queueTrigger", fnwire_metadata::Direction::In)
                .with("queueName", "jobs");
        let f = QueueFunction::from_binding("work", "fid", &trigger).unwrap();
        let req = f.invocation("inv", &m);
        let text = |k: &str| req.trigger_metadata[k].data.clone().unwrap();
        assert_eq!(text("Id"), typed_data::Data::String("m-1".into()));
        assert_eq!(text("DequeueCount"), typed_data::Data::Json("2".into()));
        assert_eq!(text("InsertionTime"), typed_data::Data::Json("\"2027-01-02T03:04:05+00:00\"".into()));
        assert_eq!(text("NextVisibleTime"), typed_data::Data::Json("\"2027-01-02T03:04:05+00:00\"".into()));
        assert_eq!(text("PopReceipt"), typed_data::Data::String("r1".into()));
        assert_eq!(text("QueueTrigger"), typed_data::Data::String("hello".into()));
        assert_eq!(req.input_data[0].name, "msg");
        let body = |r: &InvocationRequest| match &r.input_data[0].rpc_data {
            Some(parameter_binding::RpcData::Data(d)) => d.data.clone().unwrap(),
            _ => panic!("no data"),
        };
        assert_eq!(body(&req), typed_data::Data::String("hello".into()));
        trigger.data_type = Some(fnwire_metadata::DataType::Binary);
        let binary = QueueFunction::from_binding("work", "fid", &trigger).unwrap();
        assert_eq!(body(&binary.invocation("inv", &m)), typed_data::Data::Bytes(b"hello".to_vec().into()));
        assert!(req.trace_context.is_none(), "a message put from outside an invocation starts a new trace");
        let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let traced =
            LeasedMessage { trace: fnwire_storage::MessageTrace::new(parent, "vendor=1"), ..m.clone() };
        let context = f.invocation("inv", &traced).trace_context.expect("a trace context");
        let parts: Vec<&str> = context.trace_parent.split('-').collect();
        assert_eq!(parts[1], "0af7651916cd43dd8448eb211c80319c", "the same trace");
        assert_ne!(parts[2], "b7ad6b7169203331", "a span of its own");
        assert_eq!(context.trace_state, "vendor=1");
        assert_eq!(
            context.attributes[fnwire_telemetry::trace_id::PARENT_SPAN_ID_ATTRIBUTE],
            "b7ad6b7169203331",
            "the putting invocation's span is the parent"
        );
        let bad = fnwire_metadata::Binding::new("msg", "queueTrigger", fnwire_metadata::Direction::In)
            .with("queueName", "Bad_Name");
        assert!(
            QueueFunction::from_binding("work", "fid", &bad).unwrap_err().to_string().contains("Bad_Name")
        );
    }
}

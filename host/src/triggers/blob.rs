//! Blob triggers, the way Azure's blob trigger works inside: a scan finds new blob versions
//! and queues one work message per version and function (the receipt and the message are one
//! transaction, see `QueueStore::enqueue_blob_version`); a listener takes those messages and
//! runs the function through the one pipeline, which deletes the message together with the
//! function's outputs. So each version (ETag) runs once per function; a host killed mid-way
//! leaves the message to be taken again (at least once, never skipped); a failure is retried
//! up to `maxDequeueCount` (5) times, then the message goes to `webjobs-blobtrigger-poison` in
//! Azure's shape. On PostgreSQL, hosts scanning together queue a version once, and the work
//! messages are shared as any queue's are.
//!
//! Blobs are found by listing the container (and, on the embedded store, files copied into the
//! blob folder by hand are found the same way): at start, then polling with back-off, woken at
//! once when this host writes a blob into the container.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use fnwire_metadata::blob_path::{BlobPathError, BlobPathPattern};
use fnwire_protocol::rpc::{InvocationRequest, ParameterBinding, TypedData, parameter_binding, typed_data};
use fnwire_storage::{BlobBackend, BlobProperties, LeasedMessage, MessageBody, QueueStore};
use tokio::sync::Notify;
use tokio::task::JoinSet;

use super::config::QueueOptions;
use super::queue::blocking;
use crate::invoke::Pipeline;

/// The queue poison blob messages go to, as in Azure.
pub const POISON_QUEUE: &str = "webjobs-blobtrigger-poison";
/// First wait after a scan that found nothing new; doubles up to [`MAX_SCAN_DELAY`].
const MIN_SCAN_DELAY: Duration = Duration::from_millis(100);
/// Longest wait between scans of a quiet container (Azure scans every 10 s).
const MAX_SCAN_DELAY: Duration = Duration::from_secs(2);
/// How long a work message that found no worker waits before it is tried again.
const NO_WORKER_RETRY_DELAY: Duration = Duration::from_millis(500);

/// A blob trigger's settings cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BlobTriggerError {
    #[error("the blob trigger has no `path`; give one such as \"uploads/{{name}}\"")]
    MissingPath,
    #[error("{0}")]
    InvalidPath(BlobPathError),
    #[error(
        "the blob trigger's source `{0}` is not known; use \"LogsAndContainerScan\" (the default) or \"EventGrid\""
    )]
    UnknownSource(String),
}

/// A blob-triggered function as the host runs it.
#[derive(Debug, Clone)]
pub struct BlobFunction {
    pub name: String,
    pub function_id: String,
    pub trigger_name: String,
    pub pattern: BlobPathPattern,
    /// `dataType: string`: the content arrives as text; otherwise as bytes, as Azure's host
    /// sends a blob to out-of-process workers.
    pub as_string: bool,
    /// The function's own queue of work messages.
    pub work_queue: String,
}

/// Azure's blob-trigger queue message (also the poison message): which function, which blob,
/// which version.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct BlobTriggerMessage {
    #[serde(rename = "Type")]
    pub kind: String,
    pub function_id: String,
    pub blob_type: String,
    pub container_name: String,
    pub blob_name: String,
    #[serde(rename = "ETag")]
    pub etag: String,
}

impl BlobFunction {
    pub fn from_binding(
        name: &str,
        function_id: &str,
        trigger: &fnwire_metadata::Binding,
    ) -> Result<Self, BlobTriggerError> {
        let path = trigger.str_property("path").ok_or(BlobTriggerError::MissingPath)?;
        let pattern = BlobPathPattern::parse(path).map_err(BlobTriggerError::InvalidPath)?;
        match trigger.str_property("source") {
            None => {}
            Some(s) if s.eq_ignore_ascii_case("LogsAndContainerScan") => {}
            Some(s) if s.eq_ignore_ascii_case("EventGrid") => tracing::info!(
                "function `{name}`: blob trigger source EventGrid: fnwire finds new blobs by scanning the container"
            ),
            Some(other) => return Err(BlobTriggerError::UnknownSource(other.to_string())),
        }
        // A queue name of the function's own, stable across restarts (the messages outlive
        // the host) and valid whatever the function is called.
        let key = uuid::Uuid::new_v5(&uuid::Uuid::NAMESPACE_OID, format!("blobTrigger:{name}").as_bytes());
        Ok(BlobFunction {
            name: name.to_string(),
            function_id: function_id.to_string(),
            trigger_name: trigger.name.clone(),
            pattern,
            as_string: matches!(trigger.data_type, Some(fnwire_metadata::DataType::String)),
            work_queue: format!("azure-webjobs-blobtrigger-{}", key.simple()),
        })
    }

    /// The work message for one blob version.
    pub fn work_message(&self, blob: &BlobProperties) -> BlobTriggerMessage {
        BlobTriggerMessage {
            kind: "BlobTrigger".into(),
            function_id: format!("Host.Functions.{}", self.name),
            blob_type: "BlockBlob".into(),
            container_name: blob.container().to_string(),
            blob_name: blob.name().to_string(),
            etag: blob.etag.clone(),
        }
    }

    /// The invocation for one blob version: the content as bytes (or text with dataType
    /// string), and the trigger metadata Azure's host sends: `BlobTrigger` (the path), `Uri`,
    /// `Properties`, `Metadata` and each of the path pattern's parameters.
    pub fn invocation(
        &self,
        invocation_id: &str,
        content: Vec<u8>,
        blob: &BlobProperties,
        uri: &str,
        parameters: HashMap<String, String>,
    ) -> InvocationRequest {
        let data = if self.as_string {
            typed_data::Data::String(String::from_utf8_lossy(&content).into_owned())
        } else {
            typed_data::Data::Bytes(content.into())
        };
        let string = |s: &str| TypedData { data: Some(typed_data::Data::String(s.to_string())) };
        let json = |v: serde_json::Value| TypedData { data: Some(typed_data::Data::Json(v.to_string())) };
        let modified = blob.last_modified.to_rfc3339_opts(chrono::SecondsFormat::Secs, false);
        // Azure.Storage's BlobProperties as the host serialises them. `Length` is what
        // azure-functions before 1.21 and older extension bundles read; newer ones read
        // `ContentLength`. Both are sent so every version of the library sees the size.
        let properties = serde_json::json!({
            "ContentType": blob.content_type,
            "ETag": blob.etag,
            "LastModified": modified,
            "BlobType": "Block",
            "ContentLength": blob.length,
            "Length": blob.length,
        });
        let mut metadata: HashMap<String, TypedData> =
            parameters.into_iter().map(|(k, v)| (k, string(&v))).collect();
        metadata.insert("BlobTrigger".into(), string(&blob.path));
        metadata.insert("Uri".into(), string(uri));
        metadata.insert("Properties".into(), json(properties));
        metadata.insert("Metadata".into(), json(serde_json::json!({})));
        InvocationRequest {
            invocation_id: invocation_id.to_string(),
            function_id: self.function_id.clone(),
            input_data: vec![ParameterBinding {
                name: self.trigger_name.clone(),
                rpc_data: Some(parameter_binding::RpcData::Data(TypedData { data: Some(data) })),
            }],
            trigger_metadata: metadata,
            trace_context: None,
            retry_context: None,
        }
    }
}

/// The signal name that wakes the scan of `container` when this host writes a blob there.
pub fn container_signal(container: &str) -> String {
    // Queue names hold no `/`, so this never wakes a queue listener.
    format!("blobs/{container}")
}

/// Scans the function's container for new blob versions for as long as the task lives.
pub(super) async fn scan(
    function: Arc<BlobFunction>,
    store: Arc<dyn QueueStore>,
    blobs: Arc<dyn BlobBackend>,
    wake_scan: Arc<Notify>,
    work_found: Arc<Notify>,
    stop: crate::drain::StopSignal,
) {
    // The versions already recorded, so a scan asks the store only about new ones.
    let mut known: HashMap<String, String> = HashMap::new();
    let mut delay = MIN_SCAN_DELAY;
    let mut warned = false;
    while !stop.is_stopping() {
        let (f, s, b, k) = (function.clone(), store.clone(), blobs.clone(), std::mem::take(&mut known));
        let scanned = blocking(move || scan_once(&f, &*s, &*b, k)).await;
        let found = match scanned {
            Some(Ok((now_known, found))) => {
                known = now_known;
                warned = false;
                found
            }
            Some(Err((k, e))) => {
                known = k;
                if !warned {
                    tracing::warn!(
                        "function `{}`: could not scan container `{}` for new blobs: {e}; trying again",
                        function.name,
                        function.pattern.container
                    );
                    warned = true;
                }
                0
            }
            None => 0,
        };
        if found > 0 {
            work_found.notify_one();
            delay = MIN_SCAN_DELAY;
            continue;
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = wake_scan.notified() => delay = MIN_SCAN_DELAY,
            () = stop.stopped() => {}
        }
        delay = (delay * 2).min(MAX_SCAN_DELAY);
    }
}

type ScanResult = Result<(HashMap<String, String>, usize), (HashMap<String, String>, String)>;

/// One scan: lists the container and records every version not known yet. Returns how many
/// this call queued (another host may have queued the rest).
fn scan_once(
    function: &BlobFunction,
    store: &dyn QueueStore,
    blobs: &dyn BlobBackend,
    mut known: HashMap<String, String>,
) -> ScanResult {
    let listed = match blobs.list_properties(&function.pattern.container) {
        Ok(listed) => listed,
        Err(e) => return Err((known, e.to_string())),
    };
    // Forget deleted blobs, so the map stays the size of the container.
    let present: std::collections::HashSet<&str> = listed.iter().map(|b| b.path.as_str()).collect();
    known.retain(|path, _| present.contains(path.as_str()));
    let mut queued = 0;
    for blob in &listed {
        if known.get(&blob.path) == Some(&blob.etag) || function.pattern.matches(blob.name()).is_none() {
            continue;
        }
        let body = serde_json::to_vec(&function.work_message(blob)).unwrap_or_default();
        let work = MessageBody::new(function.work_queue.clone(), body);
        match store.enqueue_blob_version(&function.name, &blob.path, &blob.etag, &work) {
            Ok(new) => {
                queued += usize::from(new);
                known.insert(blob.path.clone(), blob.etag.clone());
            }
            Err(e) => return Err((known, e.to_string())),
        }
    }
    Ok((known, queued))
}

/// Takes the function's work messages and runs it for each, for as long as the task lives.
pub(super) async fn listen(
    function: Arc<BlobFunction>,
    store: Arc<dyn QueueStore>,
    blobs: Arc<dyn BlobBackend>,
    pipeline: Pipeline,
    work_found: Arc<Notify>,
    options: QueueOptions,
    stop: crate::drain::StopSignal,
) {
    let mut in_flight: JoinSet<()> = JoinSet::new();
    let mut delay = MIN_SCAN_DELAY;
    loop {
        while in_flight.len() > options.new_batch_threshold {
            in_flight.join_next().await;
        }
        if stop.is_stopping() {
            while in_flight.join_next().await.is_some() {}
            return;
        }
        let (s, queue, batch, lease) =
            (store.clone(), function.work_queue.clone(), options.batch_size, options.message_lease);
        let messages = match blocking(move || s.get_messages(&queue, batch, lease)).await {
            Some(Ok(m)) => m,
            Some(Err(e)) => {
                tracing::warn!("function `{}`: could not take blob work: {e}", function.name);
                Vec::new()
            }
            None => Vec::new(),
        };
        if messages.is_empty() {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = work_found.notified() => {}
                () = stop.stopped() => {}
                Some(_) = in_flight.join_next(), if !in_flight.is_empty() => {}
            }
            delay = (delay * 2).min(options.max_polling_interval);
            continue;
        }
        delay = MIN_SCAN_DELAY;
        for message in messages {
            let (function, store, blobs, pipeline, options) =
                (function.clone(), store.clone(), blobs.clone(), pipeline.clone(), options.clone());
            in_flight
                .spawn(async move { process(&function, &store, &blobs, &pipeline, &options, message).await });
        }
    }
}

/// What to do with a work message, decided before the function runs.
enum Work {
    Run {
        content: Vec<u8>,
        blob: BlobProperties,
        uri: String,
        parameters: HashMap<String, String>,
    },
    /// The blob is gone or was overwritten (its new version has a message of its own).
    Stale(String),
    Poison,
    Unreadable(String),
}

fn examine(
    function: &BlobFunction,
    blobs: &dyn BlobBackend,
    m: &LeasedMessage,
    max_dequeue_count: i64,
) -> Work {
    let message: BlobTriggerMessage = match serde_json::from_slice(&m.body) {
        Ok(message) => message,
        Err(e) => return Work::Unreadable(format!("it is not a blob-trigger message ({e})")),
    };
    if m.dequeue_count > max_dequeue_count {
        return Work::Poison;
    }
    let path = format!("{}/{}", message.container_name, message.blob_name);
    match blobs.read_with_properties(&path) {
        Ok(Some((content, blob))) if blob.etag == message.etag => {
            let parameters = function.pattern.matches(blob.name()).unwrap_or_default();
            let uri = blobs.uri(&path);
            Work::Run { content, blob, uri, parameters }
        }
        Ok(Some(_)) => Work::Stale(format!("blob `{path}` changed since version {}", message.etag)),
        Ok(None) => Work::Stale(format!("blob `{path}` no longer exists")),
        Err(e) => Work::Unreadable(format!("blob `{path}` could not be read: {e}")),
    }
}

async fn process(
    function: &BlobFunction,
    store: &Arc<dyn QueueStore>,
    blobs: &Arc<dyn BlobBackend>,
    pipeline: &Pipeline,
    options: &QueueOptions,
    m: LeasedMessage,
) {
    let (f, b, m2, max) = (function.clone(), blobs.clone(), m.clone(), options.max_dequeue_count);
    let Some(work) = blocking(move || examine(&f, &*b, &m2, max)).await else { return };
    let held = || Some((m.queue.clone(), m.id.clone(), m.pop_receipt.clone()));
    let (content, blob, uri, parameters) = match work {
        Work::Run { content, blob, uri, parameters } => (content, blob, uri, parameters),
        Work::Stale(why) => {
            tracing::debug!("function `{}`: {why}; nothing to run", function.name);
            settle(store, held(), Vec::new(), &function.name).await;
            return;
        }
        Work::Poison => {
            poison(function, store, &m).await;
            return;
        }
        Work::Unreadable(why) if m.dequeue_count >= options.max_dequeue_count => {
            tracing::warn!("function `{}`: {why}", function.name);
            poison(function, store, &m).await;
            return;
        }
        Work::Unreadable(why) => {
            tracing::warn!("function `{}`: {why}; will try again", function.name);
            release(store, &m, options.visibility_timeout, true).await;
            return;
        }
    };
    let invocation_id = uuid::Uuid::new_v4().to_string();
    let request = function.invocation(&invocation_id, content, &blob, &uri, parameters);
    let reason = format!("New blob detected({}): {}", function.pattern.container, blob.path);
    let outcome = super::queue::run_holding(
        pipeline,
        store,
        &m,
        options.message_lease,
        &function.name,
        reason,
        request,
        |e| tracing::warn!("blob `{}`: could not renew the hold on its work: {e}", blob.path),
    )
    .await;
    match outcome {
        Ok(_) => {}
        Err(e) if e.never_ran() => release(store, &m, NO_WORKER_RETRY_DELAY, false).await,
        Err(_) if m.dequeue_count >= options.max_dequeue_count => poison(function, store, &m).await,
        Err(_) => {
            tracing::info!(
                "function `{}`: blob `{}` will be retried (attempt {} of {})",
                function.name,
                blob.path,
                m.dequeue_count,
                options.max_dequeue_count
            );
            release(store, &m, options.visibility_timeout, true).await;
        }
    }
}

/// Deletes the work message, adding `outputs` in the same transaction.
async fn settle(
    store: &Arc<dyn QueueStore>,
    held: Option<(String, String, String)>,
    outputs: Vec<MessageBody>,
    function: &str,
) {
    let s = store.clone();
    let done = blocking(move || {
        let held = held.as_ref().map(|(q, i, r)| (q.as_str(), i.as_str(), r.as_str()));
        s.complete_and_put(held, &outputs)
    })
    .await;
    if let Some(Err(e)) = done {
        tracing::warn!(
            "function `{function}`: could not finish a blob's work message: {e}; it will come back"
        );
    }
}

async fn release(store: &Arc<dyn QueueStore>, m: &LeasedMessage, delay: Duration, attempted: bool) {
    let (s, m2) = (store.clone(), m.clone());
    let released = blocking(move || {
        if attempted {
            s.release(&m2.queue, &m2.id, &m2.pop_receipt, delay)
        } else {
            s.release_unattempted(&m2.queue, &m2.id, &m2.pop_receipt, delay)
        }
    })
    .await;
    if let Some(Err(e)) = released {
        tracing::warn!(
            "blob work {} on `{}`: could not release it ({e}); it comes back after its hold",
            m.id,
            m.queue
        );
    }
}

/// Replaces the work message by Azure's poison message on [`POISON_QUEUE`], in one transaction.
async fn poison(function: &BlobFunction, store: &Arc<dyn QueueStore>, m: &LeasedMessage) {
    let described = serde_json::from_slice::<BlobTriggerMessage>(&m.body)
        .map(|b| format!("{}/{} (ETag {})", b.container_name, b.blob_name, b.etag))
        .unwrap_or_else(|_| format!("message {}", m.id));
    tracing::warn!(
        "function `{}`: blob {described} failed {} time(s); a message is put on queue `{POISON_QUEUE}`",
        function.name,
        m.dequeue_count
    );
    let outputs = vec![MessageBody::new(POISON_QUEUE, m.body.clone())];
    settle(store, Some((m.queue.clone(), m.id.clone(), m.pop_receipt.clone())), outputs, &function.name)
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn invocation_carries_the_content_and_azure_trigger_metadata() {
        let trigger = fnwire_metadata::Binding::new("blob", "blobTrigger", fnwire_metadata::Direction::In)
            .with("path", "uploads/{name}");
        let f = BlobFunction::from_binding("resize", "fid", &trigger).unwrap();
        assert!(f.work_queue.starts_with("azure-webjobs-blobtrigger-"));
        fnwire_storage::validate_queue_name(&f.work_queue).unwrap();
        let blob = BlobProperties {
            path: "uploads/cat.png".into(),
            etag: "0x1A".into(),
            length: 3,
            last_modified: chrono::Utc.with_ymd_and_hms(2027, 1, 2, 3, 4, 5).unwrap(),
            content_type: "image/png".into(),
        };
        let parameters = f.pattern.matches(blob.name()).unwrap();
        let req = f.invocation("inv", b"abc".to_vec(), &blob, "file:///b/uploads/cat.png", parameters);
        let meta = |k: &str| req.trigger_metadata[k].data.clone().unwrap();
        assert_eq!(meta("BlobTrigger"), typed_data::Data::String("uploads/cat.png".into()));
        assert_eq!(meta("name"), typed_data::Data::String("cat.png".into()));
        assert_eq!(meta("Uri"), typed_data::Data::String("file:///b/uploads/cat.png".into()));
        assert_eq!(meta("Metadata"), typed_data::Data::Json("{}".into()));
        let typed_data::Data::Json(props) = meta("Properties") else { panic!("Properties is JSON") };
        let props: serde_json::Value = serde_json::from_str(&props).unwrap();
        assert_eq!(props["ContentLength"], 3);
        assert_eq!(props["Length"], 3);
        assert_eq!(props["ContentType"], "image/png");
        assert_eq!(props["ETag"], "0x1A");
        assert_eq!(props["LastModified"], "2027-01-02T03:04:05+00:00");
        let Some(parameter_binding::RpcData::Data(d)) = &req.input_data[0].rpc_data else { panic!() };
        assert_eq!(d.data, Some(typed_data::Data::Bytes(b"abc".to_vec().into())));
        let message = serde_json::to_value(f.work_message(&blob)).unwrap();
        assert_eq!(
            message,
            serde_json::json!({"Type": "BlobTrigger", "FunctionId": "Host.Functions.resize", "BlobType": "BlockBlob",
                "ContainerName": "uploads", "BlobName": "cat.png", "ETag": "0x1A"})
        );
        let mut text = trigger.clone();
        text.data_type = Some(fnwire_metadata::DataType::String);
        let f = BlobFunction::from_binding("resize", "fid", &text).unwrap();
        let req = f.invocation("inv", b"abc".to_vec(), &blob, "u", HashMap::new());
        let Some(parameter_binding::RpcData::Data(d)) = &req.input_data[0].rpc_data else { panic!() };
        assert_eq!(d.data, Some(typed_data::Data::String("abc".into())));
        let bad = trigger.clone().with("source", "Webhook");
        assert!(
            BlobFunction::from_binding("resize", "fid", &bad).unwrap_err().to_string().contains("Webhook")
        );
        let no_path = fnwire_metadata::Binding::new("blob", "blobTrigger", fnwire_metadata::Direction::In);
        assert_eq!(
            BlobFunction::from_binding("r", "fid", &no_path).unwrap_err(),
            BlobTriggerError::MissingPath
        );
    }
}

//! Every message of every worker stream, in order, with the time it was seen. Scenarios read it
//! (logs before a response, replies that went astray); `--transcript` writes it as JSON lines in
//! the shape of fnwire's reference transcripts: `{"t", "dir", "kind", "msg", "worker"}` with
//! `msg` in proto3 JSON (proto field names).

use std::io::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use fnwire_host::channel::{MessageDirection, MessageObserver};
use fnwire_protocol::prost::Message as _;
use fnwire_protocol::rpc::StreamingMessage;
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};
use serde_json::{Value, json};

static DESCRIPTORS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/function_rpc.bin"));

/// One message as seen by the runner.
#[derive(Debug, Clone)]
pub struct Record {
    /// Seconds since the run started.
    pub t: f64,
    /// Which worker process (the runner's label, e.g. `main`).
    pub worker: String,
    pub direction: MessageDirection,
    pub message: StreamingMessage,
}

/// Shared, append-only record of all streams.
#[derive(Debug, Clone)]
pub struct Recorder {
    started: Instant,
    records: Arc<Mutex<Vec<Record>>>,
}

impl Default for Recorder {
    fn default() -> Self {
        Self::new()
    }
}

impl Recorder {
    pub fn new() -> Self {
        Recorder { started: Instant::now(), records: Arc::default() }
    }

    /// An observer for one worker's channel.
    pub fn observer(&self, worker: &str) -> MessageObserver {
        let recorder = self.clone();
        let worker = worker.to_string();
        Arc::new(move |direction, message: &StreamingMessage| {
            let record = Record {
                t: recorder.started.elapsed().as_secs_f64(),
                worker: worker.clone(),
                direction,
                message: message.clone(),
            };
            recorder.lock().push(record);
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Record>> {
        self.records.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// How many records there are: a position to read from later.
    pub fn position(&self) -> usize {
        self.lock().len()
    }

    /// Runs `f` over the records from `from` on (without copying them).
    pub fn read_from<R>(&self, from: usize, f: impl FnOnce(&[Record]) -> R) -> R {
        let records = self.lock();
        let from = from.min(records.len());
        f(&records[from..])
    }

    /// Writes every record as one JSON line.
    pub fn write_jsonl(&self, path: &Path) -> anyhow::Result<()> {
        let renderer = Renderer::new()?;
        let file = std::fs::File::create(path)
            .map_err(|e| anyhow::anyhow!("cannot create the transcript file `{}`: {e}", path.display()))?;
        let mut out = std::io::BufWriter::new(file);
        for record in self.lock().iter() {
            let line = renderer.record(record);
            serde_json::to_writer(&mut out, &line)?;
            out.write_all(b"\n")?;
        }
        out.flush()?;
        Ok(())
    }
}

/// Renders messages as proto3 JSON through a descriptor pool of fnwire's own `.proto`.
#[derive(Debug)]
pub struct Renderer {
    descriptor: prost_reflect::MessageDescriptor,
}

impl Renderer {
    pub fn new() -> anyhow::Result<Self> {
        let pool = DescriptorPool::decode(DESCRIPTORS)?;
        let descriptor = pool
            .get_message_by_name("AzureFunctionsRpcMessages.StreamingMessage")
            .ok_or_else(|| anyhow::anyhow!("the embedded descriptor set has no StreamingMessage"))?;
        Ok(Renderer { descriptor })
    }

    /// The proto3 JSON of a message (proto field names, enum names, bytes as base64).
    pub fn message(&self, message: &StreamingMessage) -> Value {
        let bytes = message.encode_to_vec();
        let options = SerializeOptions::new().use_proto_field_name(true);
        DynamicMessage::decode(self.descriptor.clone(), bytes.as_slice())
            .map_err(|e| e.to_string())
            .and_then(|dynamic| {
                dynamic
                    .serialize_with_options(serde_json::value::Serializer, &options)
                    .map_err(|e| e.to_string())
            })
            .unwrap_or_else(|e| json!({ "fnwire_render_error": e }))
    }

    pub fn record(&self, record: &Record) -> Value {
        let msg = self.message(&record.message);
        let kind = msg
            .as_object()
            .and_then(|o| o.keys().find(|k| *k != "request_id").cloned())
            .unwrap_or_else(|| "empty".into());
        let dir = match record.direction {
            MessageDirection::WorkerToHost => "worker->host",
            MessageDirection::HostToWorker => "host->worker",
        };
        json!({
            "t": (record.t * 10_000.0).round() / 10_000.0,
            "dir": dir,
            "kind": kind,
            "msg": msg,
            "worker": record.worker,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use fnwire_protocol::rpc::streaming_message::Content;
    use fnwire_protocol::rpc::{RpcLog, StartStream, rpc_log};

    #[test]
    fn renders_like_the_reference_transcripts() {
        let r = Renderer::new().unwrap();
        let start = StreamingMessage {
            request_id: "r1".into(),
            content: Some(Content::StartStream(StartStream { worker_id: "w1".into() })),
        };
        let record = Record {
            t: 0.123456,
            worker: "main".into(),
            direction: MessageDirection::WorkerToHost,
            message: start,
        };
        let v = r.record(&record);
        assert_eq!(v["kind"], "start_stream");
        assert_eq!(v["dir"], "worker->host");
        assert_eq!(v["t"], 0.1235);
        assert_eq!(v["msg"], json!({"request_id": "r1", "start_stream": {"worker_id": "w1"}}));
        let log = StreamingMessage {
            request_id: String::new(),
            content: Some(Content::RpcLog(RpcLog {
                level: rpc_log::Level::Warning as i32,
                log_category: rpc_log::RpcLogCategory::System as i32,
                message: "m".into(),
                ..Default::default()
            })),
        };
        let v = r.message(&log);
        assert_eq!(v["rpc_log"]["level"], "Warning");
        assert_eq!(v["rpc_log"]["log_category"], "System");
    }

    #[test]
    fn observer_records_in_order() {
        let recorder = Recorder::new();
        let observe = recorder.observer("w");
        observe(MessageDirection::HostToWorker, &StreamingMessage::default());
        observe(MessageDirection::WorkerToHost, &StreamingMessage::default());
        assert_eq!(recorder.position(), 2);
        let dirs = recorder.read_from(1, |r| r.iter().map(|r| r.direction).collect::<Vec<_>>());
        assert_eq!(dirs, vec![MessageDirection::WorkerToHost]);
    }
}

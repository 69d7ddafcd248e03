//! Real host <-> worker conversations (captured from Azure's own workers, stored as proto3 JSON
//! with proto field names in `protocol/tests/transcripts/`, see its README) must decode into our
//! types and re-encode without loss.
//!
//! Path of each message: JSON -> protobuf bytes through a reflection decoder built from our own
//! `.proto` (so the JSON names and enum names are checked against our schema too) -> decoded
//! with the generated `StreamingMessage` -> re-encoded -> back to JSON, which must equal the
//! original, and the two byte encodings must decode to equal messages.

use fnwire_protocol::inbound::WorkerInbound;
use fnwire_protocol::prost::Message;
use fnwire_protocol::rpc::StreamingMessage;
use prost_reflect::{DescriptorPool, DynamicMessage, SerializeOptions};
use serde_json::Value;
use std::path::PathBuf;

fn pool() -> DescriptorPool {
    let mut compiler = protox::Compiler::new([fnwire_protocol::PROTO_DIR]).expect("proto include dir");
    compiler.open_file("FunctionRpc.proto").expect("our .proto compiles");
    compiler.descriptor_pool()
}

fn transcript_files() -> Vec<PathBuf> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/transcripts");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read transcripts in {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    assert!(files.len() >= 3, "expected the three reference transcripts, found {files:?}");
    files
}

/// Proto3 JSON leaves out default values; an explicitly written default (e.g. `"retry_context": {}`
/// stays, but `"is_proxy": false` would not) must not count as a difference.
fn strip_defaults(v: &Value) -> Value {
    match v {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| {
                    !matches!(v, Value::Bool(false) | Value::Null)
                        && *v != &Value::from(0)
                        && *v != &Value::from("")
                })
                .filter(|(_, v)| !matches!(v, Value::Array(a) if a.is_empty()))
                .map(|(k, v)| (k.clone(), strip_defaults(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_defaults).collect()),
        other => other.clone(),
    }
}

#[test]
fn every_transcript_message_round_trips_through_our_types() {
    let pool = pool();
    let desc =
        pool.get_message_by_name("AzureFunctionsRpcMessages.StreamingMessage").expect("StreamingMessage");
    let options = SerializeOptions::new().use_proto_field_name(true);
    let mut checked = 0;
    let mut kinds = std::collections::BTreeSet::new();
    for file in transcript_files() {
        for (line_no, line) in std::fs::read_to_string(&file).unwrap().lines().enumerate() {
            let where_ = format!("{}:{}", file.display(), line_no + 1);
            let record: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{where_}: {e}"));
            let original = record["msg"].clone();
            let dynamic = DynamicMessage::deserialize(desc.clone(), &original)
                .unwrap_or_else(|e| panic!("{where_}: our schema rejects the message: {e}"));
            let bytes = dynamic.encode_to_vec();

            let typed = StreamingMessage::decode(bytes.as_slice())
                .unwrap_or_else(|e| panic!("{where_}: generated types cannot decode: {e}"));
            let content = typed.content.as_ref().unwrap_or_else(|| panic!("{where_}: no content decoded"));
            kinds.insert(content.name());
            assert_eq!(content.name(), record["kind"].as_str().unwrap(), "{where_}: wrong oneof member");

            // What a worker decodes (trigger metadata left encoded) is the same message.
            let inbound = WorkerInbound::decode(bytes.as_slice())
                .unwrap_or_else(|e| panic!("{where_}: the worker's decoding fails: {e}"));
            let whole = inbound.into_streaming_message().unwrap_or_else(|e| panic!("{where_}: {e}"));
            assert_eq!(whole, typed, "{where_}: the worker's decoding differs from prost's");

            let re_encoded = typed.encode_to_vec();
            let again = DynamicMessage::decode(desc.clone(), re_encoded.as_slice()).unwrap();
            assert_eq!(again, dynamic, "{where_}: re-encoding lost or changed data");
            let mut serializer = serde_json::Serializer::new(Vec::new());
            again.serialize_with_options(&mut serializer, &options).unwrap();
            let back: Value = serde_json::from_slice(&serializer.into_inner()).unwrap();
            assert_eq!(
                strip_defaults(&back),
                strip_defaults(&original),
                "{where_}: JSON differs after round trip"
            );
            checked += 1;
        }
    }
    assert!(checked > 150, "only {checked} messages checked");
    for kind in [
        "start_stream",
        "worker_init_request",
        "invocation_request",
        "invocation_response",
        "worker_terminate",
    ] {
        assert!(kinds.contains(kind), "transcripts never exercised {kind}");
    }
}

#[test]
fn every_field_number_matches_the_protocol_reference() {
    // Spot checks of numbers that differ from a naive sequential layout, straight from the reference.
    let pool = pool();
    let number = |msg: &str, field: &str| -> u32 {
        pool.get_message_by_name(&format!("AzureFunctionsRpcMessages.{msg}"))
            .unwrap_or_else(|| panic!("no message {msg}"))
            .get_field_by_name(field)
            .unwrap_or_else(|| panic!("no field {msg}.{field}"))
            .number()
    };
    let expected = [
        ("StreamingMessage", "start_stream", 20),
        ("StreamingMessage", "invocation_cancel", 21),
        ("StreamingMessage", "function_environment_reload_request", 25),
        ("StreamingMessage", "worker_warmup_response", 34),
        ("StartStream", "worker_id", 2),
        ("StatusResult", "status", 4),
        ("RpcFunctionMetadata", "raw_bindings", 10),
        ("RpcFunctionMetadata", "function_id", 13),
        ("RpcFunctionMetadata", "properties", 16),
        ("BindingInfo", "type", 2),
        ("RpcHttp", "params", 10),
        ("RpcHttp", "status_code", 12),
        ("RpcHttp", "query", 15),
        ("RpcHttp", "rawBody", 17),
        ("RpcHttp", "nullable_query", 22),
        ("RpcLog", "propertiesMap", 9),
        ("InvocationCancel", "invocation_id", 2),
        ("InvocationResponse", "return_value", 4),
        ("InvocationResponse", "trace_context_attributes", 5),
        ("RpcTraceContext", "baggage", 4),
        ("RpcRetryOptions", "max_retry_count", 2),
        ("TypedData", "int", 6),
        ("TypedData", "collection_model_binding_data", 13),
    ];
    for (msg, field, n) in expected {
        assert_eq!(number(msg, field), n, "{msg}.{field}");
    }
}

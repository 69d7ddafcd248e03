//! What a worker reads from the stream: a [`StreamingMessage`] whose `InvocationRequest` keeps
//! its trigger metadata encoded until someone asks for it.
//!
//! Hosts send trigger metadata with every invocation, and for HTTP it repeats the request's
//! query and headers (`Query`, `Headers` as JSON, one entry per query and route parameter).
//! Few functions read it, yet decoding it into a map of strings and `TypedData` was a fifth of a
//! Rust worker's instructions per `http-rust` request (callgrind). [`WorkerInbound`] decodes
//! everything else as prost does and keeps each map entry as the bytes it arrived in (a slice of
//! the received buffer); [`EncodedTriggerMetadata::decode`] makes the map when it is needed. The
//! bytes on the wire do not change: a protobuf map is a repeated message of (key, value) entries,
//! which is read here as a repeated `bytes` field of the same number.

use std::collections::HashMap;

use bytes::{Buf, BufMut, Bytes};
use prost::encoding::{DecodeContext, WireType};
use prost::{DecodeError, Message};

use tonic::codegen::{Body, StdError, http};
use tonic::{IntoStreamingRequest, Response, Status, Streaming};

use crate::codec::FunctionRpcCodec;
use crate::rpc::{InvocationRequest, StreamingMessage, TypedData, streaming_message::Content};

/// The field number of `StreamingMessage.request_id`.
const REQUEST_ID_FIELD: u32 = 1;
/// The field number of `StreamingMessage.invocation_request` (a member of the `content` oneof).
const INVOCATION_REQUEST_FIELD: u32 = 4;
/// The field number of `InvocationRequest.trigger_metadata`.
const TRIGGER_METADATA_FIELD: u32 = 4;

/// A `StreamingMessage` as a worker decodes it. For an `InvocationRequest`,
/// `message.content`'s request has an empty `trigger_metadata`; the entries are in
/// `trigger_metadata`, still encoded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct WorkerInbound {
    pub message: StreamingMessage,
    pub trigger_metadata: EncodedTriggerMetadata,
}

/// An `InvocationRequest`'s trigger metadata as it arrived: each entry of the protobuf map,
/// encoded.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EncodedTriggerMetadata {
    entries: Vec<Bytes>,
}

/// One entry of a protobuf `map<string, TypedData>` on the wire.
#[derive(Clone, PartialEq, prost::Message)]
struct MetadataEntry {
    #[prost(string, tag = "1")]
    key: String,
    #[prost(message, optional, tag = "2")]
    value: Option<TypedData>,
}

impl EncodedTriggerMetadata {
    /// Encodes `map` as a host would send it (for tests and for requests built in process).
    pub fn from_map(map: &HashMap<String, TypedData>) -> Self {
        let entries = map
            .iter()
            .map(|(key, value)| {
                MetadataEntry { key: key.clone(), value: Some(value.clone()) }.encode_to_vec().into()
            })
            .collect();
        EncodedTriggerMetadata { entries }
    }

    /// Whether the host sent no trigger metadata.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The map the host sent, decoded into `map` (a key the host sent twice keeps its last
    /// value, as protobuf maps do). Entries before a malformed one are kept.
    pub fn decode_into(&self, map: &mut HashMap<String, TypedData>) -> Result<(), DecodeError> {
        map.reserve(self.entries.len());
        for entry in &self.entries {
            let MetadataEntry { key, value } = MetadataEntry::decode(entry.clone())?;
            map.insert(key, value.unwrap_or_default());
        }
        Ok(())
    }

    /// The map the host sent.
    pub fn decode(&self) -> Result<HashMap<String, TypedData>, DecodeError> {
        let mut map = HashMap::new();
        self.decode_into(&mut map)?;
        Ok(map)
    }

    fn encoded_len(&self) -> usize {
        prost::encoding::bytes::encoded_len_repeated(TRIGGER_METADATA_FIELD, &self.entries)
    }
}

impl WorkerInbound {
    /// The message with its trigger metadata decoded back into the request, as prost would
    /// have decoded it whole.
    pub fn into_streaming_message(self) -> Result<StreamingMessage, DecodeError> {
        let WorkerInbound { mut message, trigger_metadata } = self;
        if let Some(Content::InvocationRequest(request)) = &mut message.content {
            trigger_metadata.decode_into(&mut request.trigger_metadata)?;
        }
        Ok(message)
    }

    /// The invocation request whose metadata entries are kept apart, when there are any: then
    /// the request is written with them appended (field order does not matter to a reader).
    fn request_with_entries(&self) -> Option<&InvocationRequest> {
        match &self.message.content {
            Some(Content::InvocationRequest(request)) if !self.trigger_metadata.is_empty() => Some(request),
            _ => None,
        }
    }

    /// The encoded length of `request` with the kept entries appended.
    fn request_len(&self, request: &InvocationRequest) -> usize {
        request.encoded_len() + self.trigger_metadata.encoded_len()
    }
}

/// An `InvocationRequest` being decoded: field 4 (the metadata map) goes to `metadata`, every
/// other field to the generated message.
#[derive(Debug, Default)]
struct RequestFields {
    request: InvocationRequest,
    metadata: Vec<Bytes>,
}

impl Message for RequestFields {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        self.request.encode_raw(buf);
        prost::encoding::bytes::encode_repeated(TRIGGER_METADATA_FIELD, &self.metadata, buf);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        if tag == TRIGGER_METADATA_FIELD {
            prost::encoding::bytes::merge_repeated(wire_type, &mut self.metadata, buf, ctx)
        } else {
            self.request.merge_field(tag, wire_type, buf, ctx)
        }
    }

    fn encoded_len(&self) -> usize {
        self.request.encoded_len()
            + prost::encoding::bytes::encoded_len_repeated(TRIGGER_METADATA_FIELD, &self.metadata)
    }

    fn clear(&mut self) {
        self.request.clear();
        self.metadata.clear();
    }
}

impl Message for WorkerInbound {
    fn encode_raw(&self, buf: &mut impl BufMut) {
        let Some(request) = self.request_with_entries() else { return self.message.encode_raw(buf) };
        if !self.message.request_id.is_empty() {
            prost::encoding::string::encode(REQUEST_ID_FIELD, &self.message.request_id, buf);
        }
        prost::encoding::encode_key(INVOCATION_REQUEST_FIELD, WireType::LengthDelimited, buf);
        prost::encoding::encode_varint(self.request_len(request) as u64, buf);
        request.encode_raw(buf);
        prost::encoding::bytes::encode_repeated(TRIGGER_METADATA_FIELD, &self.trigger_metadata.entries, buf);
    }

    fn merge_field(
        &mut self,
        tag: u32,
        wire_type: WireType,
        buf: &mut impl Buf,
        ctx: DecodeContext,
    ) -> Result<(), DecodeError> {
        if tag != INVOCATION_REQUEST_FIELD {
            return self.message.merge_field(tag, wire_type, buf, ctx);
        }
        // A oneof member seen again merges into the value it already has, as prost does.
        let request = match self.message.content.take() {
            Some(Content::InvocationRequest(request)) => request,
            _ => InvocationRequest::default(),
        };
        let mut fields =
            RequestFields { request, metadata: std::mem::take(&mut self.trigger_metadata.entries) };
        prost::encoding::message::merge(wire_type, &mut fields, buf, ctx)?;
        self.message.content = Some(Content::InvocationRequest(fields.request));
        self.trigger_metadata.entries = fields.metadata;
        Ok(())
    }

    fn encoded_len(&self) -> usize {
        let Some(request) = self.request_with_entries() else { return self.message.encoded_len() };
        let request_id = if self.message.request_id.is_empty() {
            0
        } else {
            prost::encoding::string::encoded_len(REQUEST_ID_FIELD, &self.message.request_id)
        };
        let inner = self.request_len(request);
        request_id
            + prost::encoding::key_len(INVOCATION_REQUEST_FIELD)
            + prost::encoding::encoded_len_varint(inner as u64)
            + inner
    }

    fn clear(&mut self) {
        self.message.clear();
        self.trigger_metadata.entries.clear();
    }
}

/// A worker's client of the one RPC: the generated `FunctionRpcClient`, except that what the host
/// sends is decoded as [`WorkerInbound`].
#[derive(Debug, Clone)]
pub struct WorkerClient<T> {
    inner: tonic::client::Grpc<T>,
}

impl<T> WorkerClient<T>
where
    T: tonic::client::GrpcService<tonic::body::Body>,
    T::Error: Into<StdError>,
    T::ResponseBody: Body<Data = Bytes> + Send + 'static,
    <T::ResponseBody as Body>::Error: Into<StdError> + Send,
{
    pub fn new(inner: T) -> Self {
        WorkerClient { inner: tonic::client::Grpc::new(inner) }
    }

    /// The largest message the worker accepts (tonic's default is 4 MiB).
    #[must_use]
    pub fn max_decoding_message_size(mut self, limit: usize) -> Self {
        self.inner = self.inner.max_decoding_message_size(limit);
        self
    }

    /// The largest message the worker sends.
    #[must_use]
    pub fn max_encoding_message_size(mut self, limit: usize) -> Self {
        self.inner = self.inner.max_encoding_message_size(limit);
        self
    }

    /// Opens `EventStream`: `request` streams what the worker sends.
    pub async fn event_stream(
        &mut self,
        request: impl IntoStreamingRequest<Message = StreamingMessage>,
    ) -> Result<Response<Streaming<WorkerInbound>>, Status> {
        self.inner
            .ready()
            .await
            .map_err(|e| Status::unknown(format!("Service was not ready: {}", e.into())))?;
        let codec = FunctionRpcCodec::<StreamingMessage, WorkerInbound>::default();
        let path = http::uri::PathAndQuery::from_static(crate::EVENT_STREAM_PATH);
        let mut request = request.into_streaming_request();
        request
            .extensions_mut()
            .insert(tonic::GrpcMethod::new("AzureFunctionsRpcMessages.FunctionRpc", "EventStream"));
        self.inner.streaming(request, path, codec).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rpc::{ParameterBinding, RpcTraceContext, WorkerInitRequest, parameter_binding, typed_data};

    fn text(value: &str) -> TypedData {
        TypedData { data: Some(typed_data::Data::String(value.into())) }
    }

    fn invocation() -> StreamingMessage {
        StreamingMessage {
            request_id: "r-1".into(),
            content: Some(Content::InvocationRequest(InvocationRequest {
                invocation_id: "i-1".into(),
                function_id: "f-1".into(),
                input_data: vec![ParameterBinding {
                    name: "req".into(),
                    rpc_data: Some(parameter_binding::RpcData::Data(text("body"))),
                }],
                trigger_metadata: HashMap::from([
                    ("Query".to_string(), TypedData { data: Some(typed_data::Data::Json("{}".into())) }),
                    ("name".to_string(), text("Ada")),
                    ("empty".to_string(), TypedData::default()),
                ]),
                trace_context: Some(RpcTraceContext { trace_parent: "00-…".into(), ..Default::default() }),
                retry_context: None,
            })),
        }
    }

    #[test]
    fn an_invocation_decodes_as_prost_would_with_the_metadata_kept_encoded() {
        let whole = invocation();
        let inbound = WorkerInbound::decode(whole.encode_to_vec().as_slice()).unwrap();
        let Some(Content::InvocationRequest(request)) = &inbound.message.content else {
            panic!("not an invocation: {inbound:?}")
        };
        assert!(request.trigger_metadata.is_empty(), "the map was decoded eagerly");
        assert_eq!(request.invocation_id, "i-1");
        assert_eq!(inbound.trigger_metadata.entries.len(), 3);
        assert_eq!(inbound.into_streaming_message().unwrap(), whole);
    }

    #[test]
    fn it_encodes_to_what_decodes_as_the_same_streaming_message() {
        let with_request_id = invocation();
        let without = StreamingMessage { request_id: String::new(), ..invocation() };
        for whole in [with_request_id, without] {
            let inbound = WorkerInbound::decode(whole.encode_to_vec().as_slice()).unwrap();
            let again = inbound.encode_to_vec();
            assert_eq!(again.len(), inbound.encoded_len());
            assert_eq!(StreamingMessage::decode(again.as_slice()).unwrap(), whole);
        }
    }

    #[test]
    fn other_messages_are_left_as_prost_decodes_them() {
        let init = StreamingMessage {
            request_id: "r-2".into(),
            content: Some(Content::WorkerInitRequest(WorkerInitRequest {
                host_version: "4.0".into(),
                ..Default::default()
            })),
        };
        let inbound = WorkerInbound::decode(init.encode_to_vec().as_slice()).unwrap();
        assert!(inbound.trigger_metadata.is_empty());
        assert_eq!(inbound.encode_to_vec(), init.encode_to_vec());
        assert_eq!(inbound.message, init);
    }

    #[test]
    fn a_malformed_entry_is_an_error_when_the_map_is_read() {
        let metadata = EncodedTriggerMetadata { entries: vec![Bytes::from_static(&[0x0a, 0x05, b'a'])] };
        let error = metadata.decode().unwrap_err();
        assert!(error.to_string().contains("buffer underflow"), "{error}");
    }

    #[test]
    fn from_map_round_trips() {
        let map = HashMap::from([("DequeueCount".to_string(), text("1"))]);
        assert_eq!(EncodedTriggerMetadata::from_map(&map).decode().unwrap(), map);
    }
}

//! A hostile worker: any bytes on the stream. The input is a run of length-delimited
//! `StreamingMessage`s, decoded as the host decodes every frame, and each message's content goes
//! through the host's handlers of what workers send: function metadata, invocation responses
//! (as HTTP responses) and declared capabilities. None may panic or loop.

#![no_main]

use fnwire_host::http::HttpCapabilities;
use fnwire_host::http::response::{http_output, to_http_response};
use fnwire_host::lifecycle::from_worker_metadata;
use fnwire_protocol::prost::Message;
use fnwire_protocol::rpc::StreamingMessage;
use fnwire_protocol::rpc::parameter_binding::RpcData::Data;
use fnwire_protocol::rpc::streaming_message::Content;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut rest = data;
    while !rest.is_empty() {
        let Ok(message) = StreamingMessage::decode_length_delimited(&mut rest) else { break };
        handle(message);
    }
    // The whole input as one message, too.
    if let Ok(message) = StreamingMessage::decode(data) {
        handle(message);
    }
});

fn handle(message: StreamingMessage) {
    match message.content {
        Some(Content::WorkerInitResponse(init)) => {
            let _ = HttpCapabilities::from_capabilities(&init.capabilities);
        }
        Some(Content::FunctionMetadataResponse(response)) => {
            for metadata in response.function_metadata_results {
                let _ = from_worker_metadata(metadata, "fuzz");
            }
        }
        Some(Content::InvocationResponse(response)) => {
            for name in ["$return", "res", ""] {
                let _ = to_http_response(http_output(&response, name));
            }
            for binding in &response.output_data {
                if let Some(Data(data)) = &binding.rpc_data {
                    let _ = to_http_response(Some(data));
                }
            }
        }
        _ => {}
    }
}

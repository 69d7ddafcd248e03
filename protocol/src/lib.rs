//! The FunctionRpc protocol, exactly as Azure Functions hosts and language workers speak it.
//!
//! * [`rpc`]: every message, generated at build time from `proto/FunctionRpc.proto`, plus the
//!   tonic client ([`rpc::function_rpc_client`]) and server ([`rpc::function_rpc_server`]).
//! * [`codec`]: the gRPC codec both use (prost, encoding into one reservation per message).
//! * [`inbound`]: what a worker reads, with trigger metadata decoded only when asked for.
//! * [`worker_args`]: the command line a host gives a worker process.
//! * [`PROTO_DIR`]: where the `.proto` lives, for other languages' code generators.

pub mod codec;
mod content_name;
pub mod inbound;
pub mod worker_args;

/// Generated FunctionRpc messages and the tonic service.
#[allow(clippy::all, missing_debug_implementations, missing_docs)]
pub mod rpc {
    tonic::include_proto!("azure_functions_rpc_messages");
}

pub use bytes;
pub use prost;
pub use tonic;
pub use worker_args::{WorkerArgs, WorkerArgsError};

/// The protocol version this crate's `.proto` implements (v1.10 plus the v1.13 additions).
pub const PROTOCOL_VERSION: &str = "1.13.0";

/// Directory holding `FunctionRpc.proto`, for tools that compile it for other languages.
pub const PROTO_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/proto");

/// The gRPC method path of the one RPC on the wire.
pub const EVENT_STREAM_PATH: &str = "/AzureFunctionsRpcMessages.FunctionRpc/EventStream";

//! Generates the FunctionRpc types and the tonic client/server from `proto/`.
//! protox is a pure-Rust proto compiler, so a fresh machine needs no `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let proto = "proto/FunctionRpc.proto";
    println!("cargo:rerun-if-changed={proto}");
    let descriptors = protox::compile([proto], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        // Bodies can be many MiB: `bytes::Bytes` lets them move between the stream and
        // HTTP without copies.
        .bytes(".")
        // prost with the encode buffer reserved to each message's length (see src/codec.rs).
        .codec_path("crate::codec::FunctionRpcCodec")
        .compile_fds(descriptors)?;
    Ok(())
}

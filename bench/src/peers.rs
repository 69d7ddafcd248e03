//! The bench's own baseline processes (hidden subcommands of `fnwire-bench`):
//! `plain-http PORT RESPONSE_FILE` is a plain hyper server answering every request with a
//! recorded response; `plain-echo PORT` answers every request with its body; `echo-peer URI WORKER_ID RESPONSE_FILE` is a raw tonic FunctionRpc client
//! that answers each `InvocationRequest` with a recorded `InvocationResponse`.

use std::convert::Infallible;
use std::path::Path;

use anyhow::Context;
use bytes::Bytes;
use fnwire_protocol::rpc::function_rpc_client::FunctionRpcClient;
use fnwire_protocol::rpc::streaming_message::Content;
use fnwire_protocol::rpc::{StartStream, StreamingMessage};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use prost::Message;
use serde::{Deserialize, Serialize};

/// A recorded HTTP response.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Recorded {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

pub async fn plain_http(port: u16, response_file: &Path) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(response_file)
        .with_context(|| format!("reading {}", response_file.display()))?;
    let recorded: Recorded = serde_json::from_str(&text)?;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        let recorded = recorded.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |_req| {
                let mut response = http::Response::builder().status(recorded.status);
                for (k, v) in &recorded.headers {
                    response = response.header(k, v);
                }
                let response = response.body(Full::new(Bytes::from(recorded.body.clone())));
                async move { Ok::<_, Infallible>(response.unwrap_or_default()) }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

/// `plain-echo PORT`: a plain hyper server answering every request with its own body (the
/// `http-large` baseline: the same bytes in and out, nothing else).
pub async fn plain_echo(port: u16) -> anyhow::Result<()> {
    use http_body_util::BodyExt;
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    loop {
        let (stream, _) = listener.accept().await?;
        stream.set_nodelay(true)?;
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(|req: http::Request<hyper::body::Incoming>| async move {
                    let body = req.into_body().collect().await?.to_bytes();
                    let response = http::Response::builder()
                        .header(http::header::CONTENT_TYPE, "application/octet-stream")
                        .body(Full::new(body))
                        .unwrap_or_default();
                    Ok::<_, hyper::Error>(response)
                });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

pub async fn echo_peer(uri: &str, worker_id: &str, response_file: &Path) -> anyhow::Result<()> {
    let bytes =
        std::fs::read(response_file).with_context(|| format!("reading {}", response_file.display()))?;
    let Some(Content::InvocationResponse(template)) = StreamingMessage::decode(bytes.as_slice())?.content
    else {
        anyhow::bail!("{} does not hold an InvocationResponse", response_file.display());
    };
    let mut client = FunctionRpcClient::connect(uri.to_string())
        .await?
        .max_decoding_message_size(usize::MAX)
        .max_encoding_message_size(usize::MAX);
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tx.send(StreamingMessage {
        request_id: String::new(),
        content: Some(Content::StartStream(StartStream { worker_id: worker_id.to_string() })),
    })?;
    let mut inbound =
        client.event_stream(tokio_stream::wrappers::UnboundedReceiverStream::new(rx)).await?.into_inner();
    while let Some(msg) = inbound.message().await? {
        if let Some(Content::InvocationRequest(request)) = msg.content {
            let mut response = template.clone();
            response.invocation_id = request.invocation_id;
            tx.send(StreamingMessage {
                request_id: msg.request_id,
                content: Some(Content::InvocationResponse(response)),
            })?;
        }
    }
    Ok(())
}

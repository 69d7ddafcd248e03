//! The host's FunctionRpc gRPC server.
//!
//! Workers connect as clients and open one `EventStream`. The server only accepts a stream whose
//! first message is `StartStream` carrying a worker id the host launched and is waiting for;
//! anything else is refused and logged, so a stray process cannot take a worker's place.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use fnwire_protocol::rpc::function_rpc_server::{FunctionRpc, FunctionRpcServer};
use fnwire_protocol::rpc::streaming_message::Content;
use fnwire_protocol::rpc::{StartStream, StreamingMessage};
use futures::{Stream, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tonic::{Request, Response, Status, Streaming};

/// How long a new stream may take to send its first message.
const FIRST_MESSAGE_TIMEOUT: Duration = Duration::from_secs(60);

/// A worker's accepted stream: what it sent first, its inbound messages and the sender for
/// messages to it. Dropping `outbound` ends the stream on the worker's side.
#[derive(Debug)]
pub struct WorkerConnection {
    pub start: StartStream,
    /// The request id the worker sent with `StartStream` (informational).
    pub request_id: String,
    pub inbound: Streaming<StreamingMessage>,
    pub outbound: mpsc::UnboundedSender<StreamingMessage>,
}

type Waiters = Arc<Mutex<HashMap<String, oneshot::Sender<WorkerConnection>>>>;
type Refusals = Arc<Mutex<Vec<String>>>;

/// A running gRPC server on `127.0.0.1` with an ephemeral port. Dropping it stops the server.
#[derive(Debug)]
pub struct GrpcServer {
    addr: SocketAddr,
    waiters: Waiters,
    refusals: Refusals,
    shutdown: Option<oneshot::Sender<()>>,
}

/// A worker id the server is waiting for.
#[derive(Debug)]
pub struct PendingWorker {
    worker_id: String,
    rx: oneshot::Receiver<WorkerConnection>,
    waiters: Waiters,
}

impl PendingWorker {
    /// Waits for the worker's stream. `None` if the server stopped first.
    pub async fn connected(mut self) -> Option<WorkerConnection> {
        (&mut self.rx).await.ok()
    }
}

impl Drop for PendingWorker {
    fn drop(&mut self) {
        if let Ok(mut w) = self.waiters.lock() {
            w.remove(&self.worker_id);
        }
    }
}

impl GrpcServer {
    /// Binds `127.0.0.1:0` and starts serving. Message sizes are unlimited, as Azure hosts
    /// configure them, and TCP_NODELAY is on.
    pub async fn start() -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
        let waiters: Waiters = Arc::default();
        let refusals: Refusals = Arc::default();
        let service =
            FunctionRpcServer::new(RpcService { waiters: waiters.clone(), refusals: refusals.clone() })
                .max_decoding_message_size(usize::MAX)
                .max_encoding_message_size(usize::MAX);
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let result = tonic::transport::Server::builder()
                .add_service(service)
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = shutdown_rx.await;
                })
                .await;
            if let Err(e) = result {
                tracing::error!("the gRPC server for workers stopped: {e}");
            }
        });
        Ok(GrpcServer { addr, waiters, refusals, shutdown: Some(shutdown_tx) })
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URI workers are given (`--functions-uri`).
    pub fn uri(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Why each refused stream was refused, oldest first (e.g. to explain a worker that never
    /// connected).
    pub fn refusals(&self) -> Vec<String> {
        self.refusals.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// Registers a worker id to accept; call it before launching the worker.
    pub fn expect_worker(&self, worker_id: &str) -> PendingWorker {
        let (tx, rx) = oneshot::channel();
        if let Ok(mut w) = self.waiters.lock() {
            w.insert(worker_id.to_string(), tx);
        }
        PendingWorker { worker_id: worker_id.to_string(), rx, waiters: self.waiters.clone() }
    }
}

impl Drop for GrpcServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

struct RpcService {
    waiters: Waiters,
    refusals: Refusals,
}

impl RpcService {
    fn refuse(&self, peer: &str, reason: &str) -> Status {
        if let Ok(mut r) = self.refusals.lock() {
            r.push(reason.to_string());
        }
        refuse(peer, reason)
    }
}

type OutboundStream = Pin<Box<dyn Stream<Item = Result<StreamingMessage, Status>> + Send>>;

#[tonic::async_trait]
impl FunctionRpc for RpcService {
    type EventStreamStream = OutboundStream;

    async fn event_stream(
        &self,
        request: Request<Streaming<StreamingMessage>>,
    ) -> Result<Response<Self::EventStreamStream>, Status> {
        let peer = request.remote_addr().map(|a| a.to_string()).unwrap_or_else(|| "unknown peer".into());
        let mut inbound = request.into_inner();
        let first = match tokio::time::timeout(FIRST_MESSAGE_TIMEOUT, inbound.message()).await {
            Ok(Ok(Some(m))) => m,
            Ok(Ok(None)) => return Err(self.refuse(&peer, "the stream ended before its first message")),
            Ok(Err(status)) => {
                return Err(self.refuse(&peer, &format!("the stream failed: {}", status.message())));
            }
            Err(_) => return Err(self.refuse(&peer, "no first message within 60 s")),
        };
        let Some(Content::StartStream(start)) = first.content else {
            return Err(self.refuse(&peer, "the first message is not StartStream"));
        };
        let waiter = self.waiters.lock().ok().and_then(|mut w| w.remove(&start.worker_id));
        let Some(waiter) = waiter else {
            return Err(self.refuse(
                &peer,
                &format!("StartStream names worker id `{}`, which this host did not launch", start.worker_id),
            ));
        };
        let (tx, rx) = mpsc::unbounded_channel();
        let connection = WorkerConnection { start, request_id: first.request_id, inbound, outbound: tx };
        if waiter.send(connection).is_err() {
            return Err(Status::unavailable("the host stopped waiting for this worker"));
        }
        let outbound = tokio_stream::wrappers::UnboundedReceiverStream::new(rx).map(Ok);
        Ok(Response::new(Box::pin(outbound)))
    }
}

fn refuse(peer: &str, reason: &str) -> Status {
    tracing::warn!("refused a worker stream from {peer}: {reason}");
    Status::permission_denied(format!(
        "fnwire refused this stream: {reason}. A worker must first send StartStream with the worker id it was \
         started with (--functions-worker-id)"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use fnwire_protocol::rpc::function_rpc_client::FunctionRpcClient;

    fn start_stream(worker_id: &str) -> StreamingMessage {
        StreamingMessage {
            request_id: "r".into(),
            content: Some(Content::StartStream(StartStream { worker_id: worker_id.into() })),
        }
    }

    async fn open(
        server: &GrpcServer,
        first: StreamingMessage,
    ) -> Result<Streaming<StreamingMessage>, Status> {
        let mut client = FunctionRpcClient::connect(server.uri()).await.unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        tx.send(first).unwrap();
        // Keep the request stream open while the host answers.
        std::mem::forget(tx);
        client
            .event_stream(tokio_stream::wrappers::UnboundedReceiverStream::new(rx))
            .await
            .map(Response::into_inner)
    }

    #[tokio::test]
    async fn accepts_the_expected_worker_and_carries_messages_both_ways() {
        let server = GrpcServer::start().await.unwrap();
        let pending = server.expect_worker("w1");
        let mut from_host = open(&server, start_stream("w1")).await.unwrap();
        let connection =
            tokio::time::timeout(Duration::from_secs(10), pending.connected()).await.unwrap().unwrap();
        assert_eq!(connection.start.worker_id, "w1");
        assert_eq!(connection.request_id, "r");
        connection.outbound.send(StreamingMessage { request_id: "x".into(), content: None }).unwrap();
        let got = from_host.message().await.unwrap().unwrap();
        assert_eq!(got.request_id, "x");
    }

    #[tokio::test]
    async fn refuses_unknown_worker_ids_and_non_start_messages() {
        let server = GrpcServer::start().await.unwrap();
        let _pending = server.expect_worker("w1");
        let status = open(&server, start_stream("intruder")).await.unwrap_err();
        assert_eq!(status.code(), tonic::Code::PermissionDenied);
        assert!(status.message().contains("intruder"), "{}", status.message());
        let status =
            open(&server, StreamingMessage { request_id: String::new(), content: None }).await.unwrap_err();
        assert!(status.message().contains("not StartStream"), "{}", status.message());
    }
}

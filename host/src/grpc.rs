//! The host's FunctionRpc gRPC server.
//!
//! Workers connect as clients and open one `EventStream`. The server only accepts a stream whose
//! first message is `StartStream` carrying a worker id the host launched and is waiting for;
//! anything else is refused and logged, so a stray process cannot take a worker's place.
//!
//! A connection has `workerHandshakeTimeout` to prove itself (its stream accepted); until then
//! it counts against `maxPendingWorkerConnections`, and new connections past that cap are closed
//! at once. Refusals are kept (the last few, for the start-up error that explains a worker that
//! never connected) and logged at most once per interval, with the caller's text shortened and
//! escaped so it cannot forge log lines.

use std::collections::{HashMap, VecDeque};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use fnwire_protocol::rpc::function_rpc_server::{FunctionRpc, FunctionRpcServer};
use fnwire_protocol::rpc::streaming_message::Content;
use fnwire_protocol::rpc::{StartStream, StreamingMessage};
use futures::{Stream, StreamExt};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tonic::transport::server::Connected;
use tonic::{Request, Response, Status, Streaming};

use crate::http::ListenerLimits;
use crate::log_limit::RateLimitedLog;

/// The host's HTTP/2 receive window on the worker stream and connection (hyper's server default
/// is 1 MiB): one stream carries every invocation, so a 16 MiB response would otherwise stop for
/// a `WINDOW_UPDATE` round trip at every MiB. A window is an allowance, not a buffer. The worker
/// runtime sets the same for its side.
pub const STREAM_WINDOW_BYTES: u32 = 16 * 1024 * 1024;
/// Largest HTTP/2 frame the worker may send (the default is 16 KiB). tonic copies each frame into
/// its decode buffer and, on reading a message's length, reserves that length *beyond* what the
/// buffer holds: the first frame of a large message is copied a second time, whole. With 1 MiB
/// frames that was 0.87 of a copy of every 1 MiB response (callgrind); 64 KiB frames bound it to
/// 64 KiB, while the frames per MiB (16) stay few and h2's reading of them cheap.
pub const MAX_FRAME_BYTES: u32 = 64 * 1024;

/// Refusals kept for [`GrpcServer::refusals`]; older ones are dropped.
const KEPT_REFUSALS: usize = 32;
/// Characters of a caller's worker id that a refusal quotes.
const QUOTED_ID_CHARS: usize = 64;

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

/// The environment variable that gives a launched worker its per-launch secret. The
/// environment, unlike the command line, is readable only by the worker's own user.
pub const WORKER_SECRET_ENV: &str = "FNWIRE_WORKER_SECRET";
/// The gRPC metadata key a worker proves the secret with on `EventStream`.
pub const WORKER_SECRET_HEADER: &str = "x-fnwire-worker-secret";

/// A launched worker the server is waiting for.
#[derive(Debug)]
struct Waiter {
    tx: oneshot::Sender<WorkerConnection>,
    secret: String,
}

type Waiters = Arc<Mutex<HashMap<String, Waiter>>>;
type Refusals = Arc<Mutex<VecDeque<String>>>;

/// A running gRPC server on `127.0.0.1` with an ephemeral port. Dropping it stops the server.
#[derive(Debug)]
pub struct GrpcServer {
    addr: SocketAddr,
    waiters: Waiters,
    refusals: Refusals,
    require_secret: Arc<AtomicBool>,
    shutdown: Option<oneshot::Sender<()>>,
}

/// A worker id the server is waiting for.
#[derive(Debug)]
pub struct PendingWorker {
    worker_id: String,
    secret: String,
    rx: oneshot::Receiver<WorkerConnection>,
    waiters: Waiters,
}

impl PendingWorker {
    /// The secret to give the worker in [`WORKER_SECRET_ENV`].
    pub fn secret(&self) -> &str {
        &self.secret
    }

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
    /// Binds `127.0.0.1:0` and starts serving with the default limits.
    pub async fn start() -> std::io::Result<Self> {
        Self::start_with_limits(&ListenerLimits::default()).await
    }

    /// Binds `127.0.0.1:0` and starts serving. Message sizes are unlimited, as Azure hosts
    /// configure them, and TCP_NODELAY is on.
    pub async fn start_with_limits(limits: &ListenerLimits) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let handshake = limits.worker_handshake_timeout;
        let incoming = worker_connections(
            listener,
            Arc::new(Semaphore::new(limits.max_pending_worker_connections.max(1))),
            handshake,
        );
        let waiters: Waiters = Arc::default();
        let refusals: Refusals = Arc::default();
        let require_secret = Arc::new(AtomicBool::new(false));
        let service = FunctionRpcServer::new(RpcService {
            waiters: waiters.clone(),
            refusals: refusals.clone(),
            require_secret: require_secret.clone(),
            log: RateLimitedLog::new(Duration::from_secs(10)),
            handshake,
        })
        .max_decoding_message_size(usize::MAX)
        .max_encoding_message_size(usize::MAX);
        let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let result = tonic::transport::Server::builder()
                .initial_stream_window_size(STREAM_WINDOW_BYTES)
                .initial_connection_window_size(STREAM_WINDOW_BYTES)
                .max_frame_size(MAX_FRAME_BYTES)
                .add_service(service)
                .serve_with_incoming_shutdown(incoming, async {
                    let _ = shutdown_rx.await;
                })
                .await;
            if let Err(e) = result {
                tracing::error!("the gRPC server for workers stopped: {e}");
            }
        });
        Ok(GrpcServer { addr, waiters, refusals, require_secret, shutdown: Some(shutdown_tx) })
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
        self.refusals.lock().map(|r| r.iter().cloned().collect()).unwrap_or_default()
    }

    /// Whether every worker must prove its per-launch secret. Only for workers known to send
    /// it (fnwire's own runtimes); Microsoft's workers do not, so without this a stream that
    /// carries no secret is accepted on its worker id alone, as Azure's host does. A stream that
    /// carries a secret must carry the right one either way.
    pub fn require_worker_secret(&self, required: bool) {
        self.require_secret.store(required, Ordering::Release);
    }

    /// Registers a worker id to accept, with a new per-launch secret; call it before launching
    /// the worker and give the worker [`PendingWorker::secret`] in [`WORKER_SECRET_ENV`].
    pub fn expect_worker(&self, worker_id: &str) -> PendingWorker {
        let (tx, rx) = oneshot::channel();
        let secret = new_secret();
        if let Ok(mut w) = self.waiters.lock() {
            w.insert(worker_id.to_string(), Waiter { tx, secret: secret.clone() });
        }
        PendingWorker { worker_id: worker_id.to_string(), secret, rx, waiters: self.waiters.clone() }
    }
}

impl Drop for GrpcServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

/// 32 random bytes, hex: a worker's per-launch secret.
fn new_secret() -> String {
    let mut bytes = [0u8; 32];
    if getrandom::fill(&mut bytes).is_err() {
        // No OS randomness: fall back to uuid's generator rather than fail every start.
        return format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple());
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

struct RpcService {
    waiters: Waiters,
    refusals: Refusals,
    require_secret: Arc<AtomicBool>,
    log: RateLimitedLog,
    handshake: Duration,
}

impl RpcService {
    fn refuse(&self, peer: &str, reason: &str) -> Status {
        if let Ok(mut r) = self.refusals.lock() {
            if r.len() == KEPT_REFUSALS {
                r.pop_front();
            }
            r.push_back(reason.to_string());
        }
        self.log.warn(|suppressed| format!("refused a worker stream from {peer}: {reason}{suppressed}"));
        refusal_status(reason)
    }
}

impl RpcService {
    /// Takes the waiter for `worker_id` if the stream proves it: a presented secret must match
    /// (compared in constant time); none is accepted only while secrets are not required. A
    /// refused claim leaves the waiter in place for the real worker.
    fn claim_waiter(&self, worker_id: &str, presented: Option<&str>) -> Result<Waiter, String> {
        let mut waiters = self.waiters.lock().map_err(|_| "the host is stopping".to_string())?;
        let Some(waiter) = waiters.get(worker_id) else {
            return Err(format!(
                "StartStream names worker id `{}`, which this host did not launch",
                quoted(worker_id)
            ));
        };
        match presented {
            Some(secret) if !crate::keys::constant_time_eq(secret.as_bytes(), waiter.secret.as_bytes()) => {
                return Err(format!(
                    "the stream for worker id `{}` carries a wrong {WORKER_SECRET_HEADER}",
                    quoted(worker_id)
                ));
            }
            None if self.require_secret.load(Ordering::Acquire) => {
                return Err(format!(
                    "the stream for worker id `{}` carries no {WORKER_SECRET_HEADER}; fnwire's workers send the \
                     {WORKER_SECRET_ENV} they were started with",
                    quoted(worker_id)
                ));
            }
            _ => {}
        }
        waiters.remove(worker_id).ok_or_else(|| "the worker id was claimed meanwhile".to_string())
    }
}

/// A caller's text as a refusal quotes it: at most [`QUOTED_ID_CHARS`] characters, control
/// characters and quotes escaped, and the full length when cut.
pub fn quoted(text: &str) -> String {
    let mut out: String = text.chars().take(QUOTED_ID_CHARS).flat_map(char::escape_debug).collect();
    if text.chars().count() > QUOTED_ID_CHARS {
        out.push_str(&format!("… ({} bytes)", text.len()));
    }
    out
}

type OutboundStream = Pin<Box<dyn Stream<Item = Result<StreamingMessage, Status>> + Send>>;

#[tonic::async_trait]
impl FunctionRpc for RpcService {
    type EventStreamStream = OutboundStream;

    async fn event_stream(
        &self,
        request: Request<Streaming<StreamingMessage>>,
    ) -> Result<Response<Self::EventStreamStream>, Status> {
        let connection_info = request.extensions().get::<WorkerConnectInfo>().cloned();
        let peer = connection_info
            .as_ref()
            .and_then(|c| c.remote)
            .or_else(|| request.remote_addr())
            .map(|a| a.to_string())
            .unwrap_or_else(|| "unknown peer".into());
        let presented_secret = request
            .metadata()
            .get(WORKER_SECRET_HEADER)
            .map(|v| v.to_str().map(str::to_string).unwrap_or_default());
        let mut inbound = request.into_inner();
        let first = match tokio::time::timeout(self.handshake, inbound.message()).await {
            Ok(Ok(Some(m))) => m,
            Ok(Ok(None)) => return Err(self.refuse(&peer, "the stream ended before its first message")),
            Ok(Err(status)) => {
                return Err(self.refuse(&peer, &format!("the stream failed: {}", status.message())));
            }
            Err(_) => {
                let reason = format!("no first message within {:?} (workerHandshakeTimeout)", self.handshake);
                return Err(self.refuse(&peer, &reason));
            }
        };
        let Some(Content::StartStream(start)) = first.content else {
            return Err(self.refuse(&peer, "the first message is not StartStream"));
        };
        let waiter = match self.claim_waiter(&start.worker_id, presented_secret.as_deref()) {
            Ok(waiter) => waiter,
            Err(reason) => return Err(self.refuse(&peer, &reason)),
        };
        if let Some(info) = &connection_info {
            info.proof.prove();
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let connection = WorkerConnection { start, request_id: first.request_id, inbound, outbound: tx };
        if waiter.tx.send(connection).is_err() {
            return Err(Status::unavailable("the host stopped waiting for this worker"));
        }
        let outbound = tokio_stream::wrappers::UnboundedReceiverStream::new(rx).map(Ok);
        Ok(Response::new(Box::pin(outbound)))
    }
}

fn refusal_status(reason: &str) -> Status {
    Status::permission_denied(format!(
        "fnwire refused this stream: {reason}. A worker must first send StartStream with the worker id it was \
         started with (--functions-worker-id)"
    ))
}

/// Whether a worker connection has proven itself, and its place among the pending ones.
#[derive(Debug)]
struct Proof {
    proven: AtomicBool,
    pending_place: Mutex<Option<OwnedSemaphorePermit>>,
}

impl Proof {
    fn prove(&self) {
        self.proven.store(true, Ordering::Release);
        if let Ok(mut place) = self.pending_place.lock() {
            place.take();
        }
    }
}

/// What the server knows of a worker connection (a request extension of its streams).
#[derive(Debug, Clone)]
pub struct WorkerConnectInfo {
    remote: Option<SocketAddr>,
    proof: Arc<Proof>,
}

/// A worker's TCP connection: reading fails once the handshake deadline passes unproven, which
/// makes the server close it (this also covers a client that never sends the HTTP/2 preface).
#[derive(Debug)]
struct WorkerIo {
    stream: TcpStream,
    info: WorkerConnectInfo,
    deadline: Pin<Box<tokio::time::Sleep>>,
}

impl Connected for WorkerIo {
    type ConnectInfo = WorkerConnectInfo;

    fn connect_info(&self) -> WorkerConnectInfo {
        self.info.clone()
    }
}

impl AsyncRead for WorkerIo {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if !this.info.proof.proven.load(Ordering::Acquire) && this.deadline.as_mut().poll(cx).is_ready() {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the connection did not open an accepted worker stream within workerHandshakeTimeout",
            )));
        }
        Pin::new(&mut this.stream).poll_read(cx, buf)
    }
}

impl AsyncWrite for WorkerIo {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }
}

/// The accepted worker connections: each takes a pending place (closed at once when none is
/// free) and gets the handshake deadline.
fn worker_connections(
    listener: TcpListener,
    pending: Arc<Semaphore>,
    handshake: Duration,
) -> impl Stream<Item = io::Result<WorkerIo>> {
    let log = Arc::new(RateLimitedLog::new(Duration::from_secs(10)));
    futures::stream::unfold((listener, pending, log), move |(listener, pending, log)| async move {
        loop {
            let (stream, remote) = match listener.accept().await {
                Ok(accepted) => accepted,
                Err(e) => {
                    log.warn(|suppressed| format!("accepting a worker connection failed: {e}{suppressed}"));
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let Ok(place) = pending.clone().try_acquire_owned() else {
                log.warn(|suppressed| {
                    format!(
                        "closed a worker connection from {remote}: too many connections have not opened a \
                         worker stream yet (maxPendingWorkerConnections){suppressed}"
                    )
                });
                continue;
            };
            let _ = stream.set_nodelay(true);
            let proof =
                Arc::new(Proof { proven: AtomicBool::new(false), pending_place: Mutex::new(Some(place)) });
            let io = WorkerIo {
                stream,
                info: WorkerConnectInfo { remote: Some(remote), proof },
                deadline: Box::pin(tokio::time::sleep(handshake)),
            };
            return Some((Ok(io), (listener, pending, log)));
        }
    })
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
        open_with_secret(server, first, None).await
    }

    async fn open_with_secret(
        server: &GrpcServer,
        first: StreamingMessage,
        secret: Option<&str>,
    ) -> Result<Streaming<StreamingMessage>, Status> {
        let mut client = FunctionRpcClient::connect(server.uri()).await.unwrap();
        let (tx, rx) = mpsc::unbounded_channel();
        tx.send(first).unwrap();
        // Keep the request stream open while the host answers.
        std::mem::forget(tx);
        let mut request = Request::new(tokio_stream::wrappers::UnboundedReceiverStream::new(rx));
        if let Some(secret) = secret {
            request.metadata_mut().insert(WORKER_SECRET_HEADER, secret.parse().unwrap());
        }
        client.event_stream(request).await.map(Response::into_inner)
    }

    #[tokio::test]
    async fn a_required_secret_keeps_an_impostor_with_the_worker_id_out() {
        let server = GrpcServer::start().await.unwrap();
        server.require_worker_secret(true);
        let pending = server.expect_worker("w1");
        let secret = pending.secret().to_string();
        assert_eq!(secret.len(), 64);
        let status = open(&server, start_stream("w1")).await.unwrap_err();
        assert!(status.message().contains("carries no x-fnwire-worker-secret"), "{}", status.message());
        let status = open_with_secret(&server, start_stream("w1"), Some("guess")).await.unwrap_err();
        assert!(status.message().contains("wrong x-fnwire-worker-secret"), "{}", status.message());
        // The refusals left the place to the real worker.
        let _stream = open_with_secret(&server, start_stream("w1"), Some(&secret)).await.unwrap();
        let connection = tokio::time::timeout(Duration::from_secs(10), pending.connected()).await.unwrap();
        assert_eq!(connection.unwrap().start.worker_id, "w1");
    }

    #[tokio::test]
    async fn without_the_requirement_a_worker_may_omit_the_secret_but_not_send_a_wrong_one() {
        let server = GrpcServer::start().await.unwrap();
        let other = server.expect_worker("w2");
        let status = open_with_secret(&server, start_stream("w2"), Some("wrong")).await.unwrap_err();
        assert!(status.message().contains("wrong"), "{}", status.message());
        // Microsoft's workers send no secret: accepted on the worker id, as Azure's host does.
        let _stream = open(&server, start_stream("w2")).await.unwrap();
        assert!(other.connected().await.is_some());
        assert_ne!(server.expect_worker("a").secret(), server.expect_worker("b").secret());
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

    #[tokio::test]
    async fn refusals_are_bounded_and_quote_ids_shortened_and_escaped() {
        let server = GrpcServer::start().await.unwrap();
        let forged = format!("x\nWARN forged line{}", "y".repeat(100_000));
        for _ in 0..(KEPT_REFUSALS + 8) {
            let status = open(&server, start_stream(&forged)).await.unwrap_err();
            assert_eq!(status.code(), tonic::Code::PermissionDenied);
        }
        let refusals = server.refusals();
        assert_eq!(refusals.len(), KEPT_REFUSALS, "older refusals are dropped");
        let last = refusals.last().unwrap();
        assert!(!last.contains('\n') && last.contains("x\\nWARN"), "{last}");
        assert!(last.len() < 400 && last.contains("(100018 bytes)"), "{last}");
    }

    #[tokio::test]
    async fn a_silent_connection_is_closed_at_the_handshake_deadline() {
        use tokio::io::AsyncReadExt;
        let limits =
            ListenerLimits { worker_handshake_timeout: Duration::from_millis(200), ..Default::default() };
        let server = GrpcServer::start_with_limits(&limits).await.unwrap();
        let mut silent = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
        let mut buf = [0u8; 64];
        // The server's own frames (its HTTP/2 settings) may arrive first; then the close.
        let closed = tokio::time::timeout(Duration::from_secs(30), async {
            loop {
                match silent.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue,
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "the silent connection stayed open");
        // A worker that proves itself in time still connects.
        let pending = server.expect_worker("w1");
        let _stream = open(&server, start_stream("w1")).await.unwrap();
        assert!(pending.connected().await.is_some());
    }

    #[tokio::test]
    async fn past_the_pending_cap_new_connections_are_closed() {
        use tokio::io::AsyncReadExt;
        let limits = ListenerLimits { max_pending_worker_connections: 2, ..Default::default() };
        let server = GrpcServer::start_with_limits(&limits).await.unwrap();
        let _a = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
        let _b = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
        let mut third = tokio::net::TcpStream::connect(server.addr()).await.unwrap();
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(Duration::from_secs(30), third.read(&mut buf)).await.unwrap();
        assert!(matches!(n, Ok(0) | Err(_)), "the third pending connection is closed: {n:?}");
    }
}

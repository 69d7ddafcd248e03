//! A test host: a real tonic FunctionRpc server on 127.0.0.1:0 that the test drives message by
//! message, with a real `Worker` connected to it.

use std::pin::Pin;
use std::sync::Mutex;
use std::time::Duration;

use fnwire::protocol::WorkerArgs;
use fnwire::protocol::rpc::function_rpc_server::{FunctionRpc, FunctionRpcServer};
use fnwire::protocol::rpc::streaming_message::Content;
use fnwire::protocol::rpc::{
    FunctionLoadRequest, FunctionLoadRequestCollection, FunctionsMetadataRequest, InvocationRequest,
    InvocationResponse, ParameterBinding, RpcFunctionMetadata, StreamingMessage, TypedData,
    WorkerInitRequest, parameter_binding,
};
use fnwire::protocol::tonic::{self, Request, Response, Status, Streaming};
use fnwire::runtime::{FunctionDefinition, Worker, WorkerError};
use futures::{Stream, StreamExt};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

/// How long any single expected message may take before the test fails (not a timing assertion:
/// a guard against hanging forever).
pub const PATIENCE: Duration = Duration::from_secs(20);

type ToWorker = mpsc::UnboundedReceiver<Result<StreamingMessage, Status>>;

struct Service {
    /// Handed to the first (only) stream.
    pending: Mutex<Option<(mpsc::UnboundedSender<StreamingMessage>, ToWorker)>>,
}

#[tonic::async_trait]
impl FunctionRpc for Service {
    type EventStreamStream = Pin<Box<dyn Stream<Item = Result<StreamingMessage, Status>> + Send + 'static>>;

    async fn event_stream(
        &self,
        request: Request<Streaming<StreamingMessage>>,
    ) -> Result<Response<Self::EventStreamStream>, Status> {
        let Some((from_worker, to_worker)) = self.pending.lock().unwrap().take() else {
            return Err(Status::already_exists("the test host accepts one stream"));
        };
        let mut inbound = request.into_inner();
        let (ended_tx, ended_rx) = oneshot::channel::<()>();
        tokio::spawn(async move {
            while let Ok(Some(message)) = inbound.message().await {
                if from_worker.send(message).is_err() {
                    break;
                }
            }
            let _ = ended_tx.send(());
        });
        // Like the real host, end our side once the worker has ended its side.
        let outbound = tokio_stream::wrappers::UnboundedReceiverStream::new(to_worker).take_until(ended_rx);
        Ok(Response::new(Box::pin(outbound)))
    }
}

pub struct TestHost {
    to_worker: Option<mpsc::UnboundedSender<Result<StreamingMessage, Status>>>,
    from_worker: mpsc::UnboundedReceiver<StreamingMessage>,
    pub worker: Option<JoinHandle<Result<(), WorkerError>>>,
    server: JoinHandle<()>,
}

impl Drop for TestHost {
    fn drop(&mut self) {
        self.server.abort();
        if let Some(worker) = &self.worker {
            worker.abort();
        }
    }
}

pub const WORKER_ID: &str = "3f7b5c1e-worker";
pub const REQUEST_ID: &str = "9a0d2e4c-request";

impl TestHost {
    /// Starts a server and a worker with `functions`.
    pub async fn start(functions: Vec<FunctionDefinition>) -> TestHost {
        Self::start_with(functions, |worker| worker).await
    }

    pub async fn start_with(
        functions: Vec<FunctionDefinition>,
        configure: impl FnOnce(Worker) -> Worker,
    ) -> TestHost {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (from_worker_tx, from_worker) = mpsc::unbounded_channel();
        let (to_worker, to_worker_rx) = mpsc::unbounded_channel();
        let service = Service { pending: Mutex::new(Some((from_worker_tx, to_worker_rx))) };
        let server = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder()
                .add_service(
                    // Like real hosts: no practical message size limit.
                    FunctionRpcServer::new(service)
                        .max_decoding_message_size(usize::MAX)
                        .max_encoding_message_size(usize::MAX),
                )
                .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener))
                .await;
        });
        let args = WorkerArgs {
            host_uri: format!("http://127.0.0.1:{port}/"),
            worker_id: WORKER_ID.to_string(),
            request_id: REQUEST_ID.to_string(),
            grpc_max_message_length: None,
        };
        let worker = configure(Worker::new(args).functions(functions));
        let worker = tokio::spawn(worker.run());
        TestHost { to_worker: Some(to_worker), from_worker, worker: Some(worker), server }
    }

    pub fn send(&self, content: Content) {
        self.send_with_id("", content);
    }

    pub fn send_with_id(&self, request_id: &str, content: Content) {
        let message = StreamingMessage { request_id: request_id.to_string(), content: Some(content) };
        self.to_worker
            .as_ref()
            .expect("stream still open")
            .send(Ok(message))
            .expect("the worker stream is open");
    }

    /// Ends the host's side of the stream.
    pub fn close_stream(&mut self) {
        self.to_worker = None;
    }

    /// The next message from the worker.
    pub async fn recv(&mut self) -> StreamingMessage {
        tokio::time::timeout(PATIENCE, self.from_worker.recv())
            .await
            .expect("the worker sent nothing in time")
            .expect("the worker ended its stream")
    }

    /// Messages until (and including) the first for which `pick` returns Some; returns what was
    /// skipped and the picked value.
    pub async fn recv_until<T>(
        &mut self,
        mut pick: impl FnMut(&StreamingMessage) -> Option<T>,
    ) -> (Vec<StreamingMessage>, T) {
        let mut skipped = Vec::new();
        loop {
            let message = self.recv().await;
            if let Some(value) = pick(&message) {
                return (skipped, value);
            }
            skipped.push(message);
        }
    }

    /// The next invocation response, skipping logs; returns the logs seen before it.
    pub async fn invocation_response(&mut self) -> (Vec<StreamingMessage>, InvocationResponse) {
        self.recv_until(|m| match &m.content {
            Some(Content::InvocationResponse(r)) => Some(r.clone()),
            _ => None,
        })
        .await
    }

    /// The worker's stream has ended and nothing else arrived.
    pub async fn expect_stream_end(&mut self) {
        loop {
            match tokio::time::timeout(PATIENCE, self.from_worker.recv()).await.expect("stream did not end") {
                None => return,
                Some(StreamingMessage { content: Some(Content::RpcLog(_)), .. }) => {}
                Some(other) => panic!("unexpected message before the end of the stream: {other:?}"),
            }
        }
    }

    /// StartStream, init, metadata, load collection: a worker-indexed cold start. Returns the
    /// function metadata the worker reported.
    pub async fn handshake(&mut self) -> Vec<RpcFunctionMetadata> {
        let start = self.recv().await;
        assert!(matches!(start.content, Some(Content::StartStream(_))), "first message: {start:?}");
        self.send(Content::WorkerInitRequest(WorkerInitRequest {
            host_version: "4.1037.0.0".into(),
            ..Default::default()
        }));
        let (_, _) = self
            .recv_until(|m| matches!(m.content, Some(Content::WorkerInitResponse(_))).then_some(()))
            .await;
        self.send(Content::FunctionsMetadataRequest(FunctionsMetadataRequest {
            function_app_directory: "/app".into(),
        }));
        let (_, metadata) = self
            .recv_until(|m| match &m.content {
                Some(Content::FunctionMetadataResponse(r)) => Some(r.function_metadata_results.clone()),
                _ => None,
            })
            .await;
        let requests = metadata
            .iter()
            .map(|m| FunctionLoadRequest {
                function_id: m.function_id.clone(),
                metadata: Some(m.clone()),
                managed_dependency_enabled: false,
            })
            .collect();
        self.send(Content::FunctionLoadRequestCollection(FunctionLoadRequestCollection {
            function_load_requests: requests,
        }));
        let (_, loads) = self
            .recv_until(|m| match &m.content {
                Some(Content::FunctionLoadResponseCollection(r)) => Some(r.function_load_responses.clone()),
                _ => None,
            })
            .await;
        assert_eq!(loads.len(), metadata.len());
        metadata
    }

    /// Sends an invocation of `function_id` with one input.
    pub fn invoke(&self, invocation_id: &str, function_id: &str, inputs: Vec<(&str, TypedData)>) {
        self.send(Content::InvocationRequest(InvocationRequest {
            invocation_id: invocation_id.into(),
            function_id: function_id.into(),
            input_data: inputs
                .into_iter()
                .map(|(name, data)| ParameterBinding {
                    name: name.into(),
                    rpc_data: Some(parameter_binding::RpcData::Data(data)),
                })
                .collect(),
            ..Default::default()
        }));
    }

    /// What `run()` returned.
    pub async fn worker_result(&mut self) -> Result<(), WorkerError> {
        let worker = self.worker.take().expect("worker still running");
        tokio::time::timeout(PATIENCE, worker).await.expect("the worker did not stop").expect("worker task")
    }
}

//! The runner's host side: one gRPC server, worker processes started through `fnwire-host`
//! exactly as `fnwire start` starts them, and helpers that turn what happens on a stream into
//! "expected …, received …" messages.

use std::sync::Arc;
use std::time::{Duration, Instant};

use fnwire_host::app::WorkerLaunch;
use fnwire_host::channel::{ChannelError, Expect, MessageDirection, WorkerChannel, status_name};
use fnwire_host::grpc::GrpcServer;
use fnwire_host::lifecycle::{self, LifecycleOptions, StartupError};
use fnwire_host::worker_process::WorkerProcess;
use fnwire_protocol::rpc::streaming_message::Content;
use fnwire_protocol::rpc::{
    InvocationRequest, InvocationResponse, RpcLog, StreamingMessage, WorkerInitResponse,
};

use crate::transcript::Recorder;

/// How long the runner waits for things.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Process start → `StartStream`.
    pub startup: Duration,
    /// Any request → its reply, and each invocation.
    pub request: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts { startup: Duration::from_secs(60), request: Duration::from_secs(60) }
    }
}

/// The gRPC server and everything shared by the workers of one run.
#[derive(Debug)]
pub struct Host {
    server: GrpcServer,
    pub recorder: Recorder,
    pub timeouts: Timeouts,
}

/// A started, initialized worker process.
#[derive(Debug)]
pub struct Worker {
    pub label: String,
    pub process: WorkerProcess,
    pub channel: Arc<WorkerChannel>,
    pub init: WorkerInitResponse,
    recorder: Recorder,
    request_timeout: Duration,
}

/// Why a worker could not be started, with what the runner saw.
#[derive(Debug)]
pub struct StartFailure {
    pub error: StartupError,
    /// Whether the worker's stream was accepted (it sent `StartStream` with its id).
    pub connected: bool,
    /// Streams the gRPC server refused while waiting, with the reason.
    pub refusals: Vec<String>,
}

impl std::fmt::Display for StartFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.error)?;
        if !self.refusals.is_empty() {
            write!(f, "; the runner refused the worker's stream: {}", self.refusals.join("; "))?;
        }
        Ok(())
    }
}

/// An invocation's response with the logs that arrived before it.
#[derive(Debug)]
pub struct Invoked {
    pub response: InvocationResponse,
    /// `RpcLog`s with this invocation's id received before the response, in order.
    pub logs: Vec<RpcLog>,
    pub elapsed: Duration,
}

impl Host {
    pub async fn start(recorder: Recorder, timeouts: Timeouts) -> anyhow::Result<Self> {
        let server = GrpcServer::start()
            .await
            .map_err(|e| anyhow::anyhow!("could not start the gRPC server on 127.0.0.1: {e}"))?;
        Ok(Host { server, recorder, timeouts })
    }

    /// Launches `launch` with the standard command line and environment, waits for its stream
    /// and initializes it (`WorkerInitRequest`), as `fnwire start` does.
    pub async fn start_worker(&self, label: &str, launch: &WorkerLaunch) -> Result<Worker, StartFailure> {
        let options = LifecycleOptions {
            host_version: concat!("fnwire-conformance-", env!("CARGO_PKG_VERSION")).to_string(),
            startup_timeout: self.timeouts.startup,
            metadata_timeout: self.timeouts.request,
            load_timeout: self.timeouts.request,
        };
        let refusals_before = self.server.refusals().len();
        let position = self.recorder.position();
        let observer = Some(self.recorder.observer(label));
        match lifecycle::start_worker_observed(&self.server, launch, &options, observer).await {
            Ok(started) => Ok(Worker {
                label: label.to_string(),
                process: started.process,
                channel: started.channel,
                init: started.init,
                recorder: self.recorder.clone(),
                request_timeout: self.timeouts.request,
            }),
            Err(error) => {
                let connected = self.recorder.read_from(position, |records| {
                    records.iter().any(|r| {
                        r.worker == label && matches!(r.message.content, Some(Content::StartStream(_)))
                    })
                });
                let refusals = self.server.refusals().split_off(refusals_before);
                Err(StartFailure { error, connected, refusals })
            }
        }
    }
}

impl Worker {
    /// The exit status as text, if the process has exited.
    pub fn exit_text(&self) -> Option<String> {
        self.process.exit_status().map(|s| {
            let lines = self.process.last_stderr_lines();
            if lines.is_empty() {
                s.to_string()
            } else {
                format!("{s}; last stderr lines: {}", lines.join(" | "))
            }
        })
    }

    pub fn is_alive(&self) -> bool {
        self.process.exit_status().is_none() && self.channel.closed_reason().is_none()
    }

    /// Sends a message and waits for the reply `expect` describes, with the request timeout.
    /// Errors say what was expected and what the worker did instead.
    pub async fn request(&self, content: Content, expect: Expect) -> Result<StreamingMessage, String> {
        self.request_with_id(String::new(), content, expect).await
    }

    pub async fn request_with_id(
        &self,
        request_id: String,
        content: Content,
        expect: Expect,
    ) -> Result<StreamingMessage, String> {
        let position = self.recorder.position();
        let msg = StreamingMessage { request_id, content: Some(content) };
        let result = tokio::select! {
            r = self.channel.request(msg, expect.clone(), self.request_timeout) => r,
            _ = self.process.wait() => Err(ChannelError::Closed("the worker process exited".into())),
        };
        result.map_err(|e| self.explain(&e, &format!("{expect:?}"), position))
    }

    /// Invokes a function and waits for its response (request timeout).
    pub async fn invoke(&self, function_name: &str, request: InvocationRequest) -> Result<Invoked, String> {
        self.invoke_within(function_name, request, self.request_timeout).await
    }

    pub async fn invoke_within(
        &self,
        function_name: &str,
        request: InvocationRequest,
        timeout: Duration,
    ) -> Result<Invoked, String> {
        let invocation_id = request.invocation_id.clone();
        let position = self.recorder.position();
        let started = Instant::now();
        let result = tokio::select! {
            r = tokio::time::timeout(timeout, self.channel.invoke(function_name, request)) => match r {
                Ok(r) => r,
                Err(_) => Err(ChannelError::Timeout { what: "InvocationRequest", after: timeout }),
            },
            _ = self.process.wait() => Err(ChannelError::Closed("the worker process exited".into())),
        };
        let elapsed = started.elapsed();
        let expected = format!("an InvocationResponse with invocation_id `{invocation_id}`");
        let response = result.map_err(|e| self.explain(&e, &expected, position))?;
        let logs = self.recorder.read_from(position, |records| {
            let mut logs = Vec::new();
            for r in records
                .iter()
                .filter(|r| r.worker == self.label && r.direction == MessageDirection::WorkerToHost)
            {
                match &r.message.content {
                    Some(Content::RpcLog(log)) if log.invocation_id == invocation_id => {
                        logs.push(log.clone())
                    }
                    Some(Content::InvocationResponse(resp)) if resp.invocation_id == invocation_id => break,
                    _ => {}
                }
            }
            logs
        });
        Ok(Invoked { response, logs, elapsed })
    }

    /// Turns a channel error into "expected X; received …", listing what the worker sent since
    /// `position` that was not the awaited reply.
    fn explain(&self, error: &ChannelError, expected: &str, position: usize) -> String {
        let received = self.received_since(position);
        let what_happened = match error {
            ChannelError::Timeout { after, .. } => format!("nothing matching arrived within {after:?}"),
            ChannelError::Closed(reason) => match self.exit_text() {
                Some(exit) => format!("the worker process exited ({exit}) first"),
                None => format!("the stream closed first ({reason})"),
            },
            ChannelError::Failed { message, .. } => format!("it answered with a failure: {message}"),
        };
        let seen = if received.is_empty() {
            "the worker sent nothing else in the meantime".to_string()
        } else {
            format!("the worker sent instead: {}", received.join(", "))
        };
        format!("expected {expected}; {what_happened}; {seen}")
    }

    /// Short descriptions of the non-log messages this worker sent since `position`.
    pub fn received_since(&self, position: usize) -> Vec<String> {
        self.recorder.read_from(position, |records| {
            records
                .iter()
                .filter(|r| r.worker == self.label && r.direction == MessageDirection::WorkerToHost)
                .filter(|r| !matches!(r.message.content, Some(Content::RpcLog(_))))
                .take(8)
                .map(|r| describe_message(&r.message))
                .collect()
        })
    }
}

/// One line describing a message: its kind and the ids that matter for matching.
pub fn describe_message(msg: &StreamingMessage) -> String {
    let status = |r: &Option<fnwire_protocol::rpc::StatusResult>| {
        r.as_ref().map(|s| status_name(s.status)).unwrap_or("no result")
    };
    match &msg.content {
        Some(Content::InvocationResponse(r)) => {
            format!("InvocationResponse(invocation_id `{}`, {})", r.invocation_id, status(&r.result))
        }
        Some(Content::FunctionLoadResponse(r)) => {
            format!("FunctionLoadResponse(function_id `{}`, {})", r.function_id, status(&r.result))
        }
        Some(Content::WorkerStatusResponse(_)) => {
            format!("WorkerStatusResponse(request_id `{}`)", msg.request_id)
        }
        Some(Content::WorkerInitResponse(r)) => format!("WorkerInitResponse({})", status(&r.result)),
        Some(Content::FunctionMetadataResponse(r)) => {
            format!("FunctionMetadataResponse({})", status(&r.result))
        }
        Some(Content::FunctionEnvironmentReloadResponse(r)) => {
            format!("FunctionEnvironmentReloadResponse({})", status(&r.result))
        }
        Some(Content::FunctionLoadResponseCollection(r)) => {
            format!("FunctionLoadResponseCollection({} responses)", r.function_load_responses.len())
        }
        Some(Content::StartStream(s)) => format!("StartStream(worker_id `{}`)", s.worker_id),
        Some(Content::RpcLog(l)) => format!("RpcLog({:?})", l.message),
        Some(other) => {
            let debug = format!("{other:?}");
            debug.split('(').next().unwrap_or("message").to_string()
        }
        None => "a message without content".into(),
    }
}

//! The load generator: fixed concurrency, bounded by a request count and a time, latency of
//! every request recorded. HTTP load uses one keep-alive HTTP/1.1 connection per concurrent
//! client (hyper); in-process loads (gRPC invocations) use one task per request in flight.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Full};
use hyper_util::rt::TokioIo;

use crate::stats::percentile;

/// How much load one measurement applies.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub concurrency: usize,
    pub max_requests: usize,
    pub max_time: Duration,
}

/// What one measurement saw.
#[derive(Debug, Default)]
pub struct LoadResult {
    pub completed: usize,
    pub errors: usize,
    pub first_error: Option<String>,
    pub elapsed: Duration,
    /// Sorted.
    pub latencies: Vec<Duration>,
}

impl LoadResult {
    pub fn per_second(&self) -> f64 {
        self.completed as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn p_ms(&self, p: f64) -> f64 {
        percentile(&self.latencies, p).as_secs_f64() * 1000.0
    }

    /// An error when most requests failed: the figure would not mean anything.
    pub fn check(self, what: &str) -> anyhow::Result<LoadResult> {
        if self.completed == 0 || self.errors > self.completed / 100 {
            anyhow::bail!(
                "{what}: {} of {} requests failed (first: {})",
                self.errors,
                self.errors + self.completed,
                self.first_error.as_deref().unwrap_or("none")
            );
        }
        Ok(self)
    }
}

#[derive(Default)]
struct TaskOutcome {
    latencies: Vec<Duration>,
    errors: usize,
    first_error: Option<String>,
}

fn merge(outcomes: Vec<TaskOutcome>, elapsed: Duration) -> LoadResult {
    let mut result = LoadResult { elapsed, ..Default::default() };
    for o in outcomes {
        result.latencies.extend(o.latencies);
        result.errors += o.errors;
        if result.first_error.is_none() {
            result.first_error = o.first_error;
        }
    }
    result.latencies.sort();
    result.completed = result.latencies.len();
    result
}

/// Runs `op` with `budget.concurrency` calls in flight until the budget is spent.
pub async fn closed_loop<F, Fut>(budget: Budget, op: F) -> LoadResult
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = anyhow::Result<()>> + Send,
{
    let op = Arc::new(op);
    let issued = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + budget.max_time;
    let tasks: Vec<_> = (0..budget.concurrency)
        .map(|_| {
            let op = op.clone();
            let issued = issued.clone();
            tokio::spawn(async move {
                let mut out = TaskOutcome::default();
                loop {
                    let n = issued.fetch_add(1, Ordering::Relaxed);
                    if n >= budget.max_requests || Instant::now() >= deadline {
                        break;
                    }
                    let t = Instant::now();
                    match op(n).await {
                        Ok(()) => out.latencies.push(t.elapsed()),
                        Err(e) => {
                            out.errors += 1;
                            out.first_error.get_or_insert_with(|| format!("{e:#}"));
                        }
                    }
                }
                out
            })
        })
        .collect();
    let outcomes = futures::future::join_all(tasks).await.into_iter().filter_map(Result::ok).collect();
    merge(outcomes, started.elapsed())
}

/// Sends `GET path` over `budget.concurrency` keep-alive connections; only 200 counts as done.
pub async fn http_get(addr: SocketAddr, path: &str, budget: Budget) -> LoadResult {
    http_load(addr, path, None, budget).await
}

/// Sends `POST path` with `body` over `budget.concurrency` keep-alive connections; only a 200
/// whose body is as long as the one sent counts as done (the path must echo it).
pub async fn http_post(addr: SocketAddr, path: &str, body: Bytes, budget: Budget) -> LoadResult {
    http_load(addr, path, Some(body), budget).await
}

async fn http_load(addr: SocketAddr, path: &str, body: Option<Bytes>, budget: Budget) -> LoadResult {
    let issued = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let deadline = started + budget.max_time;
    let tasks: Vec<_> = (0..budget.concurrency)
        .map(|_| {
            let issued = issued.clone();
            let path = path.to_string();
            let body = body.clone();
            tokio::spawn(async move {
                let mut out = TaskOutcome::default();
                if let Err(e) = one_connection(addr, &path, body, budget, deadline, &issued, &mut out).await {
                    out.errors += 1;
                    out.first_error.get_or_insert_with(|| format!("{e:#}"));
                }
                out
            })
        })
        .collect();
    let outcomes = futures::future::join_all(tasks).await.into_iter().filter_map(Result::ok).collect();
    merge(outcomes, started.elapsed())
}

async fn one_connection(
    addr: SocketAddr,
    path: &str,
    body: Option<Bytes>,
    budget: Budget,
    deadline: Instant,
    issued: &AtomicUsize,
    out: &mut TaskOutcome,
) -> anyhow::Result<()> {
    let stream =
        tokio::net::TcpStream::connect(addr).await.with_context(|| format!("connecting to {addr}"))?;
    stream.set_nodelay(true)?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let driver = tokio::spawn(connection);
    let host = addr.to_string();
    loop {
        let n = issued.fetch_add(1, Ordering::Relaxed);
        if n >= budget.max_requests || Instant::now() >= deadline {
            break;
        }
        let request = match &body {
            None => http::Request::get(path).header(http::header::HOST, &host).body(Body::Empty),
            Some(bytes) => http::Request::post(path)
                .header(http::header::HOST, &host)
                .header(http::header::CONTENT_TYPE, "application/octet-stream")
                .body(Body::Full(Full::new(bytes.clone()))),
        }
        .context("building the request")?;
        let t = Instant::now();
        sender.ready().await?;
        let response = sender.send_request(request).await?;
        let status = response.status();
        let answer = response.into_body().collect().await?.to_bytes();
        let echoed = body.as_ref().is_none_or(|sent| sent.len() == answer.len());
        if status == http::StatusCode::OK && echoed {
            out.latencies.push(t.elapsed());
        } else {
            out.errors += 1;
            out.first_error.get_or_insert_with(|| {
                let shown = String::from_utf8_lossy(&answer[..answer.len().min(300)]).into_owned();
                format!("{path} answered {status} with {} bytes: {shown}", answer.len())
            });
        }
    }
    driver.abort();
    Ok(())
}

/// One request on a fresh connection: the status, or an error (e.g. nothing listening yet).
pub async fn get_once(addr: SocketAddr, path: &str) -> anyhow::Result<(u16, Bytes, http::HeaderMap)> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    let driver = tokio::spawn(connection);
    let request =
        http::Request::get(path).header(http::header::HOST, addr.to_string()).body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.into_body().collect().await?.to_bytes();
    driver.abort();
    Ok((status, body, headers))
}

/// A request body: none for GET, the same bytes every time for POST.
enum Body {
    Empty,
    Full(Full<Bytes>),
}

impl hyper::body::Body for Body {
    type Data = Bytes;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<hyper::body::Frame<Bytes>, Self::Error>>> {
        match self.get_mut() {
            Body::Empty => std::task::Poll::Ready(None),
            Body::Full(full) => std::pin::Pin::new(full).poll_frame(cx),
        }
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        match self {
            Body::Empty => hyper::body::SizeHint::with_exact(0),
            Body::Full(full) => full.size_hint(),
        }
    }
}

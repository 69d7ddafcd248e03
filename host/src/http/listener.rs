//! The HTTP listener's connection limits.
//!
//! hyper applies no deadline to a connection that sends nothing, and hyper-util's HTTP/1-or-2
//! detection waits forever for the first bytes, so the host keeps its own watch on every
//! connection: each knows whether a request is in flight, when it started waiting and whether
//! the next request's head has begun to arrive. A watchdog task per connection closes it when
//! it waited longer than the keep-alive timeout (nothing arrived) or the request-headers timeout
//! (a head began and did not finish). A connection with a request in flight is never closed by
//! these rules; its body has its own deadline (see `body.rs`).
//!
//! The number of open connections is capped. When a new connection would pass the cap, the
//! connection that has waited longest without a request in flight is closed to make room: idle
//! and slow clients cannot lock out a client that is about to send a request.

use std::collections::HashMap;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::limits::ListenerLimits;
use super::line_endings::{HTTP2_PREFACE, LineEndingScanner};

/// What a connection is doing, as its watchdog and the eviction rule see it.
#[derive(Debug)]
struct Activity {
    /// Requests whose handler is running.
    in_flight: usize,
    /// When the connection last became free of requests (or was accepted).
    waiting_since: Instant,
    /// When the first byte after `waiting_since` arrived: a request head is on its way.
    head_started: Option<Instant>,
    /// Set when the connection must close (evicted to make room).
    evicted: bool,
}

/// One open connection's shared state.
#[derive(Debug)]
pub struct Watched {
    activity: Mutex<Activity>,
    /// Woken whenever `activity` changes in a way that moves the deadline or closes.
    changed: Notify,
    /// Requests whose handler has ended, for the line-ending scanner (a body is over then).
    finished: AtomicU64,
    /// A request head arrived with a bare LF line ending (only looked for when refused).
    bare_line_feed: AtomicBool,
    /// The connection speaks HTTP/2: bytes between requests are frames (pings, settings), not
    /// the start of a request head, so only the keep-alive timeout applies while it has none.
    http2: AtomicBool,
}

impl Watched {
    fn new() -> Self {
        Watched {
            activity: Mutex::new(Activity {
                in_flight: 0,
                waiting_since: Instant::now(),
                head_started: None,
                evicted: false,
            }),
            changed: Notify::new(),
            finished: AtomicU64::new(0),
            bare_line_feed: AtomicBool::new(false),
            http2: AtomicBool::new(false),
        }
    }

    /// Whether a request head on this connection ended a line with a bare LF.
    pub fn saw_bare_line_feed(&self) -> bool {
        self.bare_line_feed.load(Ordering::Acquire)
    }

    fn activity(&self) -> std::sync::MutexGuard<'_, Activity> {
        self.activity.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Bytes arrived from the client.
    fn on_read(&self) {
        if self.http2.load(Ordering::Acquire) {
            return;
        }
        let mut a = self.activity();
        if a.in_flight == 0 && a.head_started.is_none() {
            a.head_started = Some(Instant::now());
            drop(a);
            self.changed.notify_one();
        }
    }

    /// The bytes that looked like a request head's start were the HTTP/2 preface.
    fn forget_head(&self) {
        self.activity().head_started = None;
        self.changed.notify_one();
    }

    /// A request's handler starts; until it ends, the connection is busy.
    pub fn request_started(self: &Arc<Self>) -> RequestInFlight {
        let mut a = self.activity();
        a.in_flight += 1;
        a.head_started = None;
        drop(a);
        self.changed.notify_one();
        RequestInFlight(self.clone())
    }

    /// Whether the connection is free of requests, and since when it waits.
    fn idle_since(&self) -> Option<Instant> {
        let a = self.activity();
        (a.in_flight == 0 && !a.evicted).then_some(a.waiting_since)
    }

    fn evict(&self) {
        self.activity().evicted = true;
        self.changed.notify_one();
    }

    /// Completes when the connection must close: evicted, or waiting past a timeout. Never
    /// while a request is in flight.
    /// Whether a request's handler is running on this connection.
    pub fn has_request_in_flight(&self) -> bool {
        self.activity().in_flight > 0
    }

    pub async fn closed(&self, limits: &ListenerLimits) -> CloseReason {
        loop {
            let notified = self.changed.notified();
            let deadline = {
                let a = self.activity();
                if a.evicted {
                    return CloseReason::Evicted;
                }
                if a.in_flight > 0 {
                    None
                } else if let Some(started) = a.head_started {
                    limits.request_headers_timeout.map(|t| (started + t, CloseReason::HeadersTimeout))
                } else {
                    limits.keep_alive_timeout.map(|t| (a.waiting_since + t, CloseReason::KeepAliveTimeout))
                }
            };
            match deadline {
                Some((at, reason)) => {
                    tokio::select! {
                        _ = tokio::time::sleep_until(at) => {
                            // Re-check: a request may have started at the same moment.
                            let a = self.activity();
                            if a.in_flight == 0 && !a.evicted {
                                return reason;
                            }
                        }
                        _ = notified => {}
                    }
                }
                None => notified.await,
            }
        }
    }
}

/// Why the host closed a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    Evicted,
    KeepAliveTimeout,
    HeadersTimeout,
}

/// Marks a request in flight on its connection until dropped.
#[derive(Debug)]
pub struct RequestInFlight(Arc<Watched>);

impl Drop for RequestInFlight {
    fn drop(&mut self) {
        self.0.finished.fetch_add(1, Ordering::AcqRel);
        let mut a = self.0.activity();
        a.in_flight = a.in_flight.saturating_sub(1);
        if a.in_flight == 0 {
            a.waiting_since = Instant::now();
            a.head_started = None;
        }
        drop(a);
        self.0.changed.notify_one();
    }
}

/// The open connections, for the cap.
#[derive(Debug)]
pub struct Connections {
    open: Mutex<HashMap<u64, Arc<Watched>>>,
    next_id: AtomicU64,
    max: usize,
}

/// A registered connection; dropping it frees its place.
#[derive(Debug)]
pub struct ConnectionSlot {
    id: u64,
    pub watched: Arc<Watched>,
    connections: Arc<Connections>,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.connections.open().remove(&self.id);
    }
}

/// What became of a newly accepted connection.
#[derive(Debug)]
pub enum Admission {
    Admitted(ConnectionSlot),
    /// Every open connection has a request in flight; the new one is closed.
    Full,
}

impl Connections {
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Connections { open: Mutex::default(), next_id: AtomicU64::new(0), max: max.max(1) })
    }

    fn open(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Arc<Watched>>> {
        self.open.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Open connections right now.
    pub fn count(&self) -> usize {
        self.open().len()
    }

    /// Admits a new connection, closing the longest-waiting idle one if the cap is reached.
    pub fn admit(self: &Arc<Self>) -> Admission {
        let mut open = self.open();
        if open.len() >= self.max {
            let oldest = open
                .iter()
                .filter_map(|(id, w)| w.idle_since().map(|since| (since, *id)))
                .min()
                .map(|(_, id)| id);
            let Some(id) = oldest else { return Admission::Full };
            if let Some(w) = open.remove(&id) {
                w.evict();
            }
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let watched = Arc::new(Watched::new());
        open.insert(id, watched.clone());
        Admission::Admitted(ConnectionSlot { id, watched, connections: self.clone() })
    }
}

/// How much of the HTTP/2 preface the connection's first bytes match, after `matched` bytes
/// matched before and `bytes` now: `Some(HTTP2_PREFACE.len())` when all of it, `None` when the
/// connection is not HTTP/2 (or the preface is behind).
fn match_http2_preface(matched: usize, bytes: &[u8]) -> Option<usize> {
    let wanted = &HTTP2_PREFACE[matched..];
    let n = wanted.len().min(bytes.len());
    (wanted[..n] == bytes[..n]).then_some(matched + n)
}

/// A connection's socket that tells its [`Watched`] when bytes arrive, and whether a request
/// head ended a line with a bare LF when `line_endings` looks for it.
#[derive(Debug)]
pub struct WatchedIo<T> {
    inner: T,
    watched: Arc<Watched>,
    line_endings: Option<LineEndingScanner>,
    /// Bytes of the HTTP/2 preface matched so far; `None` once decided.
    preface_matched: Option<usize>,
}

impl<T> WatchedIo<T> {
    pub fn new(inner: T, watched: Arc<Watched>, refuse_bare_line_feeds: bool) -> Self {
        WatchedIo {
            inner,
            watched,
            line_endings: refuse_bare_line_feeds.then(LineEndingScanner::default),
            preface_matched: Some(0),
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for WatchedIo<T> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if matches!(result, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            if let Some(matched) = this.preface_matched {
                this.preface_matched = match_http2_preface(matched, &buf.filled()[before..]);
                if this.preface_matched == Some(HTTP2_PREFACE.len()) {
                    this.preface_matched = None;
                    this.watched.http2.store(true, Ordering::Release);
                    this.watched.forget_head();
                }
            }
            this.watched.on_read();
            if let Some(scanner) = &mut this.line_endings
                && scanner.scan(&buf.filled()[before..], this.watched.finished.load(Ordering::Acquire))
            {
                this.watched.bare_line_feed.store(true, Ordering::Release);
            }
        }
        result
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for WatchedIo<T> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn limits(keep_alive: u64, headers: u64) -> ListenerLimits {
        ListenerLimits {
            keep_alive_timeout: Some(Duration::from_secs(keep_alive)),
            request_headers_timeout: Some(Duration::from_secs(headers)),
            ..ListenerLimits::default()
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_connection_closes_after_the_keep_alive_timeout() {
        let w = Watched::new();
        assert_eq!(w.closed(&limits(130, 30)).await, CloseReason::KeepAliveTimeout);
    }

    #[tokio::test(start_paused = true)]
    async fn a_started_head_gets_the_headers_timeout() {
        let w = Watched::new();
        w.on_read();
        assert_eq!(w.closed(&limits(130, 30)).await, CloseReason::HeadersTimeout);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_in_flight_is_never_closed_by_a_timeout() {
        let w = Arc::new(Watched::new());
        let request = w.request_started();
        let l = limits(1, 1);
        let closed = tokio::time::timeout(Duration::from_secs(3600), w.closed(&l)).await;
        assert!(closed.is_err(), "closed while a request was in flight");
        drop(request);
        assert_eq!(w.closed(&l).await, CloseReason::KeepAliveTimeout);
    }

    #[tokio::test]
    async fn past_the_cap_the_longest_waiting_idle_connection_makes_room() {
        let connections = Connections::new(2);
        let Admission::Admitted(first) = connections.admit() else { panic!("room for one") };
        let Admission::Admitted(busy) = connections.admit() else { panic!("room for two") };
        let _request = busy.watched.request_started();
        let Admission::Admitted(_third) = connections.admit() else { panic!("the idle one makes room") };
        assert_eq!(first.watched.closed(&ListenerLimits::default()).await, CloseReason::Evicted);
        assert_eq!(connections.count(), 2);
        // The two left are busy or just opened; the newest idle one is evicted next.
        let _request3 = _third.watched.request_started();
        assert!(matches!(connections.admit(), Admission::Full), "every open connection is busy");
    }
}

//! Reading request bodies within bounded memory.
//!
//! Three limits hold together: one body is at most `max_request_body` bytes (413), at most
//! `max_concurrent_bodies` bodies are read or held at once, and their bytes together stay within
//! `max_body_bytes_in_flight` (both 503 with `Retry-After`). A body's bytes count from the moment
//! it is admitted until its request is answered, because the invocation message that carries
//! them lives that long. A body that arrives slower than the minimum data rate gets 408.
//!
//! The bytes are copied once, from hyper's frames into one buffer sized by `Content-Length`; a
//! body that arrives in one frame is not copied at all. The buffer is then shared (`Bytes`) by
//! the `RpcHttp` message, never copied again for workers that take raw bytes.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::{Bytes, BytesMut};
use http::header;
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::Rejection;
use super::limits::{ListenerLimits, MinDataRate};

/// Logged (at debug level) when a body has taken its place in the budget.
pub const BODY_ADMITTED: &str = "receiving a request body within the budget";

/// The shared body budget of one listener.
#[derive(Debug)]
pub struct BodyBudget {
    bytes_in_flight: Arc<AtomicUsize>,
    max_bytes: usize,
    bodies: Arc<Semaphore>,
    max_bodies: usize,
    max_body: usize,
    min_rate: Option<MinDataRate>,
}

/// A body's share of the budget; returned when dropped.
#[derive(Debug)]
pub struct BodyReservation {
    bytes: usize,
    bytes_in_flight: Arc<AtomicUsize>,
    _permit: Option<OwnedSemaphorePermit>,
}

impl Drop for BodyReservation {
    fn drop(&mut self) {
        self.bytes_in_flight.fetch_sub(self.bytes, Ordering::AcqRel);
    }
}

impl BodyReservation {
    /// Takes `more` bytes from the budget, or none if that would pass it.
    fn grow(&mut self, more: usize, max: usize) -> bool {
        let taken = self.bytes_in_flight.fetch_update(Ordering::AcqRel, Ordering::Acquire, |now| {
            now.checked_add(more).filter(|total| *total <= max)
        });
        if taken.is_ok() {
            self.bytes += more;
        }
        taken.is_ok()
    }
}

/// A request body, with the reservation that must live as long as its bytes do.
#[derive(Debug)]
pub struct HeldBody {
    pub bytes: Bytes,
    pub reservation: Option<BodyReservation>,
}

impl BodyBudget {
    pub fn new(limits: &ListenerLimits) -> Self {
        BodyBudget {
            bytes_in_flight: Arc::default(),
            max_bytes: limits.max_body_bytes_in_flight,
            bodies: Arc::new(Semaphore::new(limits.max_concurrent_bodies.max(1))),
            max_bodies: limits.max_concurrent_bodies.max(1),
            max_body: limits.max_request_body,
            min_rate: limits.min_body_rate,
        }
    }

    /// Largest accepted body.
    pub fn max_body(&self) -> usize {
        self.max_body
    }

    /// Bytes of bodies held right now.
    pub fn bytes_in_flight(&self) -> usize {
        self.bytes_in_flight.load(Ordering::Acquire)
    }

    /// Reads a whole body within the limits.
    pub async fn read<B>(&self, headers: &http::HeaderMap, mut body: B) -> Result<HeldBody, Rejection>
    where
        B: hyper::body::Body<Data = Bytes> + Unpin,
        B::Error: std::fmt::Display,
    {
        let limit = self.max_body;
        let declared = headers
            .get(header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if declared.is_some_and(|n| n > limit as u64) {
            return Err(Rejection::TooLarge { limit });
        }
        if body.is_end_stream() || declared == Some(0) {
            return Ok(HeldBody { bytes: Bytes::new(), reservation: None });
        }
        let permit = self.bodies.clone().try_acquire_owned().map_err(|_| Rejection::Busy {
            what: format!("{} request bodies are being received already", self.max_bodies),
        })?;
        let mut reservation = BodyReservation {
            bytes: 0,
            bytes_in_flight: self.bytes_in_flight.clone(),
            _permit: Some(permit),
        };
        let expected = declared.map_or(0, |n| n as usize);
        if !reservation.grow(expected, self.max_bytes) {
            return Err(self.over_budget());
        }
        // Says when a body holds its place: what a stalled client is holding shows in the log.
        tracing::debug!("{BODY_ADMITTED} ({expected} bytes announced)");
        let started = tokio::time::Instant::now();
        let mut first: Option<Bytes> = None;
        let mut buffer: Option<BytesMut> = None;
        let mut received = 0usize;
        loop {
            let frame = match self.min_rate {
                Some(rate) => {
                    match tokio::time::timeout_at(rate.deadline(started, received as u64), body.frame()).await
                    {
                        Ok(frame) => frame,
                        Err(_) => {
                            return Err(Rejection::BodyTooSlow { bytes_per_second: rate.bytes_per_second });
                        }
                    }
                }
                None => body.frame().await,
            };
            let data = match frame {
                None => break,
                Some(Err(e)) => return Err(Rejection::UnreadableBody(e.to_string())),
                Some(Ok(frame)) => match frame.into_data() {
                    Ok(data) => data,
                    Err(_trailers) => continue,
                },
            };
            if data.is_empty() {
                continue;
            }
            received += data.len();
            if received > limit {
                return Err(Rejection::TooLarge { limit });
            }
            if received > reservation.bytes && !reservation.grow(received - reservation.bytes, self.max_bytes)
            {
                return Err(self.over_budget());
            }
            match (&mut first, &mut buffer) {
                (None, None) => first = Some(data),
                (Some(_), None) => {
                    let head = first.take().unwrap_or_default();
                    let mut b = BytesMut::with_capacity(expected.max(received));
                    b.extend_from_slice(&head);
                    b.extend_from_slice(&data);
                    buffer = Some(b);
                }
                (_, Some(b)) => b.extend_from_slice(&data),
            }
        }
        let bytes = match buffer {
            Some(b) => b.freeze(),
            None => first.unwrap_or_default(),
        };
        Ok(HeldBody { bytes, reservation: Some(reservation) })
    }

    fn over_budget(&self) -> Rejection {
        Rejection::Busy {
            what: format!("request bodies in flight already hold about {} bytes, the limit", self.max_bytes),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{Full, StreamBody};
    use hyper::body::Frame;
    use std::time::Duration;

    fn limits(max_body: usize, budget: usize, bodies: usize) -> ListenerLimits {
        ListenerLimits {
            max_request_body: max_body,
            max_body_bytes_in_flight: budget,
            max_concurrent_bodies: bodies,
            min_body_rate: Some(MinDataRate { bytes_per_second: 10, grace: Duration::from_secs(1) }),
            ..ListenerLimits::default()
        }
    }

    fn length(n: usize) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        h.insert(header::CONTENT_LENGTH, n.into());
        h
    }

    type Chunks = StreamBody<futures::stream::Iter<std::vec::IntoIter<Result<Frame<Bytes>, std::io::Error>>>>;

    fn chunks(parts: &[&'static [u8]]) -> Chunks {
        let frames: Vec<Result<Frame<Bytes>, std::io::Error>> =
            parts.iter().map(|p| Ok(Frame::data(Bytes::from_static(p)))).collect();
        StreamBody::new(futures::stream::iter(frames))
    }

    #[tokio::test]
    async fn a_body_in_one_frame_is_not_copied_and_its_bytes_are_returned() {
        let budget = BodyBudget::new(&limits(100, 100, 4));
        let source = Bytes::from_static(b"hello");
        let held = budget.read(&length(5), Full::new(source.clone())).await.unwrap();
        assert_eq!(held.bytes, source);
        assert_eq!(held.bytes.as_ptr(), source.as_ptr(), "one frame is shared, not copied");
        assert_eq!(budget.bytes_in_flight(), 5);
        drop(held);
        assert_eq!(budget.bytes_in_flight(), 0, "the budget is returned with the body");
    }

    #[tokio::test]
    async fn frames_are_joined_into_one_buffer() {
        let budget = BodyBudget::new(&limits(100, 100, 4));
        let held = budget.read(&http::HeaderMap::new(), chunks(&[b"ab", b"cd", b"e"])).await.unwrap();
        assert_eq!(&held.bytes[..], b"abcde");
        assert_eq!(budget.bytes_in_flight(), 5);
    }

    #[tokio::test]
    async fn too_large_bodies_get_413_with_or_without_a_length() {
        let budget = BodyBudget::new(&limits(4, 100, 4));
        let e = budget.read(&length(5), Full::new(Bytes::from_static(b"12345"))).await.unwrap_err();
        assert_eq!(e, Rejection::TooLarge { limit: 4 });
        let e = budget.read(&http::HeaderMap::new(), chunks(&[b"123", b"45"])).await.unwrap_err();
        assert_eq!(e, Rejection::TooLarge { limit: 4 });
        assert_eq!(budget.bytes_in_flight(), 0);
    }

    #[tokio::test]
    async fn past_the_byte_budget_or_the_body_count_requests_get_503() {
        let budget = BodyBudget::new(&limits(10, 15, 2));
        let held = budget.read(&length(10), Full::new(Bytes::from_static(b"0123456789"))).await.unwrap();
        let e = budget.read(&length(10), Full::new(Bytes::from_static(b"0123456789"))).await.unwrap_err();
        assert!(matches!(&e, Rejection::Busy { what } if what.contains("15 bytes")), "{e:?}");
        assert_eq!(e.status(), http::StatusCode::SERVICE_UNAVAILABLE);
        let small = budget.read(&length(5), Full::new(Bytes::from_static(b"01234"))).await.unwrap();
        let e = budget.read(&length(1), Full::new(Bytes::from_static(b"0"))).await.unwrap_err();
        assert!(matches!(&e, Rejection::Busy { what } if what.contains("request bodies")), "{e:?}");
        drop((held, small));
        assert!(budget.read(&length(10), Full::new(Bytes::from_static(b"0123456789"))).await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn a_body_slower_than_the_minimum_rate_gets_408() {
        let budget = BodyBudget::new(&limits(100, 100, 4));
        let stalled = StreamBody::new(futures::stream::pending::<Result<Frame<Bytes>, std::io::Error>>());
        let e = budget.read(&length(50), stalled).await.unwrap_err();
        assert_eq!(e, Rejection::BodyTooSlow { bytes_per_second: 10 });
        assert_eq!(e.status(), http::StatusCode::REQUEST_TIMEOUT);
        assert_eq!(budget.bytes_in_flight(), 0);
    }
}

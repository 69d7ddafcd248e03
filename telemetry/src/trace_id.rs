//! The trace id of a W3C `traceparent` (`00-<trace id>-<parent id>-<flags>`), kept on the stack so
//! that putting it on every log line of an invocation costs no allocation.

use std::fmt;

/// The `RpcTraceContext` attribute where the host keeps the span id of an invocation's incoming
/// parent (the caller's `traceparent`), for the host's own span of the invocation
/// ([`crate::traces`]). It never reaches a worker: the pipeline removes it first.
pub const PARENT_SPAN_ID_ATTRIBUTE: &str = "fnwire.parent_span_id";

/// 32 lowercase hex digits, or nothing when the `traceparent` was missing or malformed.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct TraceId {
    digits: [u8; 32],
    present: bool,
}

impl TraceId {
    pub const NONE: TraceId = TraceId { digits: [0; 32], present: false };

    /// The trace id of `traceparent`, when it has one.
    pub fn of_traceparent(traceparent: &str) -> TraceId {
        let Some(id) = traceparent.split('-').nth(1) else { return TraceId::NONE };
        let bytes = id.as_bytes();
        if bytes.len() != 32 || !bytes.iter().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(b)) {
            return TraceId::NONE;
        }
        let mut digits = [0; 32];
        digits.copy_from_slice(bytes);
        TraceId { digits, present: true }
    }

    pub fn as_str(&self) -> &str {
        if self.present { std::str::from_utf8(&self.digits).unwrap_or_default() } else { "" }
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({})", self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trace_id_is_the_second_part_of_a_valid_traceparent() {
        let id = TraceId::of_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
        assert_eq!(id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        for bad in [
            "",
            "00",
            "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "00-abc-00f067aa0ba902b7-01",
        ] {
            assert_eq!(TraceId::of_traceparent(bad), TraceId::NONE, "{bad}");
            assert_eq!(TraceId::of_traceparent(bad).as_str(), "");
        }
    }
}

//! Finding bare LF line endings in HTTP/1 request heads.
//!
//! RFC 9112 §2.2 ends every line of a request head with CRLF and lets a server accept a bare LF.
//! hyper accepts it and has no switch to refuse it; Kestrel, the server in front of Azure
//! Functions, accepts it by default since .NET 7 and refuses it with 400 when the
//! `DisableHttp1LineFeedTerminators` switch is set. fnwire does the same: accepted by default,
//! refused with `extensions.fnwire.disableHttp1LineFeedTerminators` (for a host behind a proxy
//! that reads line endings differently, where a bare LF could hide a second request).
//!
//! The socket's bytes are scanned as they are read, before hyper parses them: from the start of
//! a request head to its empty line, then not at all (the body is the function's) until that
//! request's handler has ended and the next head begins. An HTTP/2 connection (its preface) is
//! not scanned.

/// The HTTP/2 connection preface (RFC 9113 §3.4).
pub const HTTP2_PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Where the scanner is in the connection's byte stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// The first bytes: `matched` of them equal the HTTP/2 preface so far.
    Undecided { matched: usize },
    /// Inside a request head.
    Head,
    /// After a head's empty line, until the request with `finished_before` finished requests
    /// before it has ended.
    Body { finished_before: u64 },
    /// HTTP/2, or a bare LF was found: nothing more to look at.
    Done,
}

/// Scans one connection's incoming bytes for a bare LF in a request head.
#[derive(Debug)]
pub struct LineEndingScanner {
    state: State,
    /// The previous byte of the head, to tell CRLF from a bare LF.
    previous: u8,
    /// Bytes on the current head line, not counting a CR before its LF.
    line_length: usize,
    /// Lines of the current head seen so far (leading empty lines not counted).
    lines: usize,
}

impl Default for LineEndingScanner {
    fn default() -> Self {
        LineEndingScanner { state: State::Undecided { matched: 0 }, previous: 0, line_length: 0, lines: 0 }
    }
}

impl LineEndingScanner {
    /// Scans bytes just read. `finished` is how many requests of the connection have ended;
    /// returns true when a head holds a bare LF (once: the connection is refused).
    pub fn scan(&mut self, bytes: &[u8], finished: u64) -> bool {
        let mut rest = bytes;
        while let Some(&first) = rest.first() {
            match self.state {
                State::Done => return false,
                State::Undecided { matched } => {
                    if first == HTTP2_PREFACE[matched] {
                        rest = &rest[1..];
                        self.state = if matched + 1 == HTTP2_PREFACE.len() {
                            State::Done
                        } else {
                            State::Undecided { matched: matched + 1 }
                        };
                        continue;
                    }
                    // An HTTP/1 head: the bytes that looked like the preface are its start.
                    self.start_head();
                    if self.scan_head(&HTTP2_PREFACE[..matched], finished) == Scanned::BareLineFeed {
                        return true;
                    }
                }
                State::Body { finished_before } => {
                    if finished <= finished_before {
                        return false;
                    }
                    self.start_head();
                }
                State::Head => match self.scan_head(rest, finished) {
                    Scanned::BareLineFeed => return true,
                    Scanned::HeadEnded { used } => rest = &rest[used..],
                    Scanned::HeadGoesOn => return false,
                },
            }
        }
        false
    }

    fn start_head(&mut self) {
        self.state = State::Head;
        self.previous = 0;
        self.line_length = 0;
        self.lines = 0;
    }

    fn scan_head(&mut self, bytes: &[u8], finished: u64) -> Scanned {
        for (i, &byte) in bytes.iter().enumerate() {
            if byte == b'\n' {
                if self.previous != b'\r' {
                    self.state = State::Done;
                    return Scanned::BareLineFeed;
                }
                if self.line_length == 0 && self.lines > 0 {
                    self.state = State::Body { finished_before: finished };
                    return Scanned::HeadEnded { used: i + 1 };
                }
                if self.line_length > 0 {
                    self.lines += 1;
                }
                self.line_length = 0;
            } else if byte != b'\r' {
                self.line_length += 1;
            }
            self.previous = byte;
        }
        Scanned::HeadGoesOn
    }
}

/// What scanning head bytes found.
#[derive(Debug, PartialEq, Eq)]
enum Scanned {
    BareLineFeed,
    /// The head's empty line, after `used` bytes.
    HeadEnded {
        used: usize,
    },
    HeadGoesOn,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bare_lf_in(chunks: &[&[u8]]) -> bool {
        let mut scanner = LineEndingScanner::default();
        chunks.iter().any(|c| scanner.scan(c, 0))
    }

    #[test]
    fn crlf_heads_pass_and_bare_lf_heads_are_found_wherever_reads_split_them() {
        let good = b"GET /api/hello HTTP/1.1\r\nHost: x\r\n\r\n";
        assert!(!bare_lf_in(&[good]));
        for cut in 0..good.len() {
            assert!(!bare_lf_in(&[&good[..cut], &good[cut..]]), "cut at {cut}");
        }
        let bad = b"GET /api/hello HTTP/1.1\r\nHost: x\nX-Other: y\r\n\r\n";
        for cut in 0..bad.len() {
            assert!(bare_lf_in(&[&bad[..cut], &bad[cut..]]), "cut at {cut}");
        }
        assert!(bare_lf_in(&[b"GET / HTTP/1.1\nHost: x\r\n\r\n"]), "in the request line");
        assert!(bare_lf_in(&[b"GET / HTTP/1.1\r\nHost: x\r\n\n"]), "as the empty line");
        assert!(bare_lf_in(&[b"PRI / HTTP/1.1\nHost: x\r\n\r\n"]), "after a start like the HTTP/2 preface");
    }

    #[test]
    fn bodies_are_not_scanned_but_the_next_head_is() {
        let mut scanner = LineEndingScanner::default();
        assert!(!scanner.scan(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\na\nb\n", 0));
        assert!(!scanner.scan(b"\n\n\n", 0), "more of the body, while its request runs");
        assert!(scanner.scan(b"GET / HTTP/1.1\nHost: x\r\n\r\n", 1), "the next request's head");
    }

    #[test]
    fn http2_connections_are_not_scanned() {
        let mut scanner = LineEndingScanner::default();
        assert!(!scanner.scan(HTTP2_PREFACE, 0));
        assert!(!scanner.scan(b"\x00\x00\x0a\n\n\n binary frames", 0));
    }

    #[test]
    fn leading_empty_lines_are_not_a_head_end() {
        let mut scanner = LineEndingScanner::default();
        assert!(!scanner.scan(b"\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", 0));
        assert!(scanner.state == State::Body { finished_before: 0 });
    }
}

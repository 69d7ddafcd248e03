//! The HTTP listener's limits through the real `fnwire start`: idle and slow connections cannot
//! starve the host, request bodies stay within their budget, and strict parsing.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::*;

/// A test-worker app whose host.json sets `extensions.fnwire`.
fn app_with_limits(limits: serde_json::Value) -> tempfile::TempDir {
    let app = test_worker_app();
    let host = serde_json::json!({"version": "2.0", "extensions": {"fnwire": limits}});
    std::fs::write(app.path().join("host.json"), host.to_string()).unwrap();
    app
}

/// Whether the server closed `stream` (EOF or reset) within `bound`; bytes it sends first
/// (an error response) are skipped.
async fn closed_within(stream: &mut TcpStream, bound: Duration) -> bool {
    let mut buf = [0u8; 1024];
    tokio::time::timeout(bound, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    })
    .await
    .is_ok()
}

/// Reads what the server sends until it closes or `bound` passes.
async fn read_reply(stream: &mut TcpStream, bound: Duration) -> String {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    let _ = tokio::time::timeout(bound, async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => {
                    out.extend_from_slice(&buf[..n]);
                    if out.windows(4).any(|w| w == b"\r\n\r\n") && reply_complete(&out) {
                        return;
                    }
                }
            }
        }
    })
    .await;
    String::from_utf8_lossy(&out).into_owned()
}

fn reply_complete(raw: &[u8]) -> bool {
    let text = String::from_utf8_lossy(raw);
    let Some((head, body)) = text.split_once("\r\n\r\n") else { return false };
    let length = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
        .and_then(|v| v.parse::<usize>().ok());
    length.is_some_and(|n| body.len() >= n)
}

async fn connect(port: u16) -> TcpStream {
    TcpStream::connect(("127.0.0.1", port)).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_socket_flood_and_a_slowloris_leave_hello_answering() {
    const CAP: usize = 16;
    let app = app_with_limits(serde_json::json!({"maxConnections": CAP}));
    let mut fnwire = Fnwire::start(app.path(), &[]);
    let mut sockets = Vec::new();
    for i in 0..60 {
        let mut s = connect(fnwire.port).await;
        if i % 3 == 0 {
            // A slowloris client: half a request head, the rest never comes.
            s.write_all(b"GET /api/hello HTTP/1.1\r\nHost: x\r\nX-Slow: a").await.unwrap();
        }
        sockets.push(s);
    }
    let r = get(&fnwire.url("/api/hello")).await;
    assert_eq!((r.status, r.body.as_str()), (200, "Hello, world!"), "{}", fnwire.output());
    let still_open = futures::future::join_all(
        sockets.iter_mut().map(|s| async move { !closed_within(s, Duration::from_secs(3)).await }),
    )
    .await
    .into_iter()
    .filter(|open| *open)
    .count();
    assert!(still_open < CAP, "{still_open} of the 60 flood connections are still open; the cap is {CAP}");
    assert!(fnwire.terminate().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_and_slow_header_connections_are_closed_by_their_timeouts() {
    let app = app_with_limits(serde_json::json!({"keepAliveTimeout": 1, "requestHeadersTimeout": 1}));
    let mut fnwire = Fnwire::start(app.path(), &[]);
    let mut idle = Vec::new();
    for _ in 0..5 {
        idle.push(connect(fnwire.port).await);
    }
    // Dribblers send a header byte every 200 ms: never idle, never done.
    let dribblers = (0..5).map(|_| {
        let port = fnwire.port;
        tokio::spawn(async move {
            let mut s = connect(port).await;
            s.write_all(b"GET /api/hello HTTP/1.1\r\nHost: x\r\n").await.unwrap();
            for _ in 0..300 {
                if s.write_all(b"X").await.is_err() {
                    return true;
                }
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            false
        })
    });
    for s in &mut idle {
        assert!(closed_within(s, Duration::from_secs(30)).await, "an idle connection stayed open");
    }
    for closed in futures::future::join_all(dribblers).await {
        assert!(closed.unwrap(), "a slow-header connection stayed open");
    }
    let r = get(&fnwire.url("/api/hello")).await;
    assert_eq!(r.status, 200);
    assert!(fnwire.terminate().success());
}

/// A JSON string body of exactly `n` bytes (the echo function wants JSON).
fn json_body(n: usize) -> String {
    format!("\"{}\"", "a".repeat(n - 2))
}

/// Starts a POST to /api/echo announcing `length` bytes and sends only `sent` of them.
async fn stalled_post(port: u16, length: usize, sent: usize) -> (TcpStream, String) {
    let body = json_body(length);
    let mut s = connect(port).await;
    let head = format!("POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: {length}\r\n\r\n");
    s.write_all(head.as_bytes()).await.unwrap();
    s.write_all(&body.as_bytes()[..sent]).await.unwrap();
    (s, body)
}

/// Waits until the host has logged that `n` request bodies took their place in the budget:
/// a stalled request is known to hold its bytes before anything competes with it.
fn wait_for_admitted_bodies(fnwire: &Fnwire, n: usize) {
    let needle = fnwire_host::http::body::BODY_ADMITTED;
    // Generous: on a loaded machine the host may take a while to read a head. Not a timing
    // assertion.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while std::time::Instant::now() < deadline {
        if fnwire.output().matches(needle).count() >= n {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("the host never admitted {n} request bodies; output:\n{}", fnwire.output());
}

#[tokio::test(flavor = "multi_thread")]
async fn request_bodies_stay_within_the_byte_budget_and_the_body_count() {
    let app = app_with_limits(serde_json::json!({
        "maxRequestBodySize": 1000,
        "maxRequestBodyBytesInFlight": 1000,
        "maxConcurrentRequestBodies": 2,
        "minRequestBodyDataRate": -1
    }));
    // The body log line tells the test when a stalled body holds its place, so no request races
    // it for the budget.
    let mut fnwire =
        Fnwire::spawn_with_env(app.path(), &[], &[("FNWIRE_LOG", "info,fnwire_host::http::body=debug")]);
    fnwire.wait_for_output("Host started", STARTUP_BOUND);
    let (mut a, a_body) = stalled_post(fnwire.port, 800, 400).await;
    wait_for_admitted_bodies(&fnwire, 1);
    let busy = request("POST", &fnwire.url("/api/echo"), &[], json_body(800)).await;
    assert_eq!(busy.status, 503, "{busy:?}");
    assert_eq!(busy.header("retry-after"), "1", "{busy:?}");
    assert!(busy.body.contains("1000 bytes"), "{}", busy.body);
    // The budget counts bytes, not requests: a small body still fits.
    let r = request("POST", &fnwire.url("/api/echo"), &[], json_body(100)).await;
    assert_eq!((r.status, r.body.len()), (200, 100), "{}", r.body);
    // A second stalled body takes the last body place.
    let (_d, _) = stalled_post(fnwire.port, 50, 10).await;
    wait_for_admitted_bodies(&fnwire, 3);
    let busy = request("POST", &fnwire.url("/api/echo"), &[], json_body(10)).await;
    assert_eq!(busy.status, 503, "{busy:?}");
    assert!(busy.body.contains("2 request bodies"), "{}", busy.body);
    // The first body completes and is answered; its bytes return to the budget.
    a.write_all(&a_body.as_bytes()[400..]).await.unwrap();
    let reply = read_reply(&mut a, Duration::from_secs(30)).await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    assert!(reply.ends_with(&a_body), "{reply}");
    let r = request("POST", &fnwire.url("/api/echo"), &[], json_body(800)).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert!(fnwire.terminate().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_slower_than_the_minimum_rate_gets_408_and_is_closed() {
    let app = app_with_limits(serde_json::json!({
        "minRequestBodyDataRate": {"bytesPerSecond": 100, "gracePeriod": "00:00:01"}
    }));
    let mut fnwire = Fnwire::start(app.path(), &[]);
    let (mut s, _) = stalled_post(fnwire.port, 1000, 10).await;
    let reply = read_reply(&mut s, Duration::from_secs(30)).await;
    assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
    assert!(reply.contains("minRequestBodyDataRate"), "{reply}");
    assert_eq!(get(&fnwire.url("/api/hello")).await.status, 200);
    assert!(fnwire.terminate().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn strict_parsing_missing_host_and_a_huge_method() {
    let app = test_worker_app();
    let mut fnwire = Fnwire::start(app.path(), &[]);
    let mut s = connect(fnwire.port).await;
    s.write_all(b"GET /api/hello HTTP/1.1\r\n\r\n").await.unwrap();
    let reply = read_reply(&mut s, Duration::from_secs(30)).await;
    assert!(reply.starts_with("HTTP/1.1 400") && reply.contains("Host header"), "{reply}");

    let method = "X".repeat(70_000);
    let mut s = connect(fnwire.port).await;
    s.write_all(format!("{method} /api/echo HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes()).await.unwrap();
    let reply = read_reply(&mut s, Duration::from_secs(30)).await;
    assert!(reply.starts_with("HTTP/1.1 405"), "{}", &reply[..reply.len().min(300)]);
    assert!(reply.len() < 1000, "the 405 answer is {} bytes", reply.len());
    assert!(fnwire.terminate().success());
}

/// Kestrel (since .NET 7) accepts a bare LF as a line ending, as RFC 9112 §2.2 allows; so does
/// the host by default.
#[tokio::test(flavor = "multi_thread")]
async fn bare_lf_line_endings_are_accepted_by_default_as_kestrel_does() {
    let app = test_worker_app();
    let mut fnwire = Fnwire::start(app.path(), &[]);
    let mut s = connect(fnwire.port).await;
    s.write_all(b"GET /api/hello/lf HTTP/1.1\nHost: x\n\n").await.unwrap();
    let reply = read_reply(&mut s, Duration::from_secs(30)).await;
    assert!(reply.starts_with("HTTP/1.1 200") && reply.ends_with("Hello, lf!"), "{reply}");
    assert!(fnwire.terminate().success());
}

/// With Kestrel's `DisableHttp1LineFeedTerminators` switch as a setting, a head with a bare LF
/// gets 400 and its connection is closed; CRLF heads, and bodies holding LFs, still pass.
#[tokio::test(flavor = "multi_thread")]
async fn bare_lf_line_endings_are_refused_when_the_setting_says_so() {
    let app = app_with_limits(serde_json::json!({"disableHttp1LineFeedTerminators": true}));
    let mut fnwire = Fnwire::start(app.path(), &[]);
    for head in [
        &b"GET /api/hello HTTP/1.1\nHost: x\r\n\r\n"[..],
        b"GET /api/hello HTTP/1.1\r\nHost: x\nX-Smuggled: y\r\n\r\n",
        b"GET /api/hello HTTP/1.1\r\nHost: x\r\n\n",
    ] {
        let mut s = connect(fnwire.port).await;
        s.write_all(head).await.unwrap();
        let reply = read_reply(&mut s, Duration::from_secs(30)).await;
        assert!(reply.starts_with("HTTP/1.1 400") && reply.contains("bare LF"), "{reply}");
        assert!(closed_within(&mut s, Duration::from_secs(30)).await, "the connection stayed open");
    }
    // One keep-alive connection: a body full of LFs, then a second request.
    let body = "\"a\\nb\"\n\n";
    let mut s = connect(fnwire.port).await;
    let first = format!("POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    s.write_all(first.as_bytes()).await.unwrap();
    let reply = read_reply(&mut s, Duration::from_secs(30)).await;
    assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
    s.write_all(b"GET /api/hello/again HTTP/1.1\r\nHost: x\r\n\r\n").await.unwrap();
    let reply = read_reply(&mut s, Duration::from_secs(30)).await;
    assert!(reply.starts_with("HTTP/1.1 200") && reply.ends_with("Hello, again!"), "{reply}");
    assert!(fnwire.terminate().success());
}

//! The HTTP listener over HTTP/2 (h2c with prior knowledge, as gRPC-style clients and load
//! generators speak it): functions answer, and the listener's limits hold as they do on HTTP/1.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tokio::net::TcpStream;

use crate::support::*;

/// A test-worker app whose host.json sets `extensions.fnwire`.
fn app_with_limits(limits: serde_json::Value) -> tempfile::TempDir {
    let app = test_worker_app();
    let host = serde_json::json!({"version": "2.0", "extensions": {"fnwire": limits}});
    std::fs::write(app.path().join("host.json"), host.to_string()).unwrap();
    app
}

/// Sends one request over HTTP/2 only (prior knowledge: no upgrade from HTTP/1).
async fn h2_request(method: &str, url: &str, headers: &[(&str, String)], body: impl Into<Bytes>) -> Reply {
    let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).http2_only(true).build_http();
    let mut builder = http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        builder = builder.header(*k, v);
    }
    let resp = tokio::time::timeout(
        Duration::from_secs(60),
        client.request(builder.body(Full::new(body.into())).unwrap()),
    )
    .await
    .expect("no HTTP/2 answer within 60 s")
    .expect("HTTP/2 request failed");
    assert_eq!(resp.version(), http::Version::HTTP_2);
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Reply { status, headers, body: String::from_utf8_lossy(&body).into_owned() }
}

/// Opens an HTTP/2 connection with the `h2` crate, which shows the server's SETTINGS.
async fn h2_connect(port: u16) -> (h2::client::SendRequest<Bytes>, h2::client::Connection<TcpStream, Bytes>) {
    let tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    h2::client::handshake(tcp).await.expect("HTTP/2 handshake")
}

/// Drives `connection` until the server's SETTINGS say how many streams it accepts (bounded).
async fn server_stream_limit(connection: &mut h2::client::Connection<TcpStream, Bytes>) -> usize {
    let deadline = Instant::now() + Duration::from_secs(30);
    let initial = connection.max_concurrent_send_streams();
    while Instant::now() < deadline {
        let progressed = tokio::time::timeout(Duration::from_millis(50), &mut *connection).await;
        assert!(progressed.is_err(), "the connection ended before the server's SETTINGS: {progressed:?}");
        if connection.max_concurrent_send_streams() != initial {
            break;
        }
    }
    connection.max_concurrent_send_streams()
}

#[tokio::test(flavor = "multi_thread")]
async fn http2_requests_are_served_within_the_listener_limits() {
    let app = app_with_limits(serde_json::json!({
        "http2MaxConcurrentStreams": 3,
        "http2MaxHeaderListSize": 4096,
        "maxRequestBodySize": 1000,
        "maxRequestBodyBytesInFlight": 1000,
        "minRequestBodyDataRate": -1
    }));
    let mut fnwire =
        Fnwire::spawn_with_env(app.path(), &[], &[("FNWIRE_LOG", "info,fnwire_host::http::body=debug")]);
    fnwire.wait_for_output("Host started", STARTUP_BOUND);

    let r = h2_request("GET", &fnwire.url("/api/hello/h2"), &[], Bytes::new()).await;
    assert_eq!((r.status, r.body.as_str()), (200, "Hello, h2!"), "{}", fnwire.output());
    let r = h2_request("POST", &fnwire.url("/api/echo"), &[], "\"over h2\"").await;
    assert_eq!((r.status, r.body.as_str()), (200, "\"over h2\""));

    // The stream cap is announced in the server's SETTINGS.
    let (mut send, mut connection) = h2_connect(fnwire.port).await;
    assert_eq!(server_stream_limit(&mut connection).await, 3);
    let driver = tokio::spawn(connection);

    // Headers past the header-list limit: 431, and the connection goes on.
    let big = "v".repeat(8 * 1024);
    let r = h2_request("GET", &fnwire.url("/api/hello"), &[("x-big", big)], Bytes::new()).await;
    assert_eq!(r.status, 431, "{r:?}");

    // A body past the largest size: 413.
    let r = h2_request("POST", &fnwire.url("/api/echo"), &[], format!("\"{}\"", "a".repeat(2000))).await;
    assert_eq!(r.status, 413, "{}", r.body);

    // A body that holds the whole budget on one stream: another stream's body gets 503 and
    // Retry-After; once it completes, it is answered and the budget comes back.
    let body = format!("\"{}\"", "a".repeat(798));
    let request = http::Request::builder()
        .method("POST")
        .uri(fnwire.url("/api/echo"))
        .header("content-length", body.len())
        .body(())
        .unwrap();
    send = send.ready().await.unwrap();
    let (response, mut stream) = send.send_request(request, false).unwrap();
    stream.send_data(Bytes::copy_from_slice(&body.as_bytes()[..400]), false).unwrap();
    // This body's own admission line: the earlier echo wrote the same words for its body.
    let admitted = format!("{} ({} bytes announced)", fnwire_host::http::body::BODY_ADMITTED, body.len());
    let deadline = Instant::now() + Duration::from_secs(60);
    while !fnwire.output().contains(&admitted) {
        assert!(Instant::now() < deadline, "the host never admitted the body; output:\n{}", fnwire.output());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let busy = h2_request("POST", &fnwire.url("/api/echo"), &[], format!("\"{}\"", "b".repeat(300))).await;
    assert_eq!(busy.status, 503, "{}", busy.body);
    assert_eq!(busy.header("retry-after"), "1");
    stream.send_data(Bytes::copy_from_slice(&body.as_bytes()[400..]), true).unwrap();
    let response = tokio::time::timeout(Duration::from_secs(60), response).await.unwrap().unwrap();
    assert_eq!(response.status(), 200);
    let mut answer = response.into_body();
    let mut received = Vec::new();
    while let Some(chunk) = answer.data().await {
        let chunk = chunk.unwrap();
        let _ = answer.flow_control().release_capacity(chunk.len());
        received.extend_from_slice(&chunk);
    }
    assert_eq!(received, body.as_bytes());
    let r = h2_request("POST", &fnwire.url("/api/echo"), &[], format!("\"{}\"", "c".repeat(798))).await;
    assert_eq!(r.status, 200, "{}", r.body);

    drop(send);
    driver.abort();
    assert!(fnwire.terminate().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_http2_connection_is_closed_by_the_keep_alive_timeout() {
    // The headers timeout is long: an HTTP/2 connection has no request head to wait for, and its
    // pings must not count as one.
    let app = app_with_limits(serde_json::json!({"keepAliveTimeout": 1, "requestHeadersTimeout": 600}));
    let mut fnwire = Fnwire::start(app.path(), &[]);
    let (send, connection) = h2_connect(fnwire.port).await;
    let ended = tokio::time::timeout(Duration::from_secs(30), connection).await;
    assert!(ended.is_ok(), "an idle HTTP/2 connection stayed open past keepAliveTimeout");
    drop(send);
    let r = h2_request("GET", &fnwire.url("/api/hello"), &[], Bytes::new()).await;
    assert_eq!(r.status, 200);
    assert!(fnwire.terminate().success());
}

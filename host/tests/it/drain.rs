//! `--host`, the health endpoints and the drain on SIGTERM, through the real `fnwire` binary and
//! the test worker (which, like Microsoft's Node worker, exits as soon as it gets
//! `WorkerTerminate`).

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::*;

fn sigterm(fnwire: &Fnwire) {
    let status = Command::new("kill").args(["-TERM", &fnwire.child.id().to_string()]).status().unwrap();
    assert!(status.success(), "kill -TERM failed");
}

/// Waits (bounded) until a new TCP connection to the port is refused.
fn wait_until_refused(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("new connections to port {port} were still accepted while draining");
}

#[tokio::test(flavor = "multi_thread")]
async fn ping_and_status_answer_as_on_azure() {
    let app = test_worker_app();
    let master = master_key(app.path());
    let fnwire = Fnwire::start(app.path(), &["--host", "127.0.0.1"]);

    let ping = get(&fnwire.url("/admin/host/ping")).await;
    assert_eq!((ping.status, ping.body.as_str()), (200, ""), "ping is anonymous and empty");
    assert_eq!(request("POST", &fnwire.url("/admin/host/ping"), &[], "").await.status, 200);
    assert_eq!(request("DELETE", &fnwire.url("/admin/host/ping"), &[], "").await.status, 405);

    let refused = get(&fnwire.url("/admin/host/status")).await;
    assert_eq!(refused.status, 401, "the status needs the master key, as on Azure: {}", refused.body);
    assert!(refused.body.contains("master key"), "{}", refused.body);

    let status = request("GET", &fnwire.url("/admin/host/status"), &[("x-functions-key", &master)], "").await;
    assert_eq!(status.status, 200, "{}", status.body);
    assert!(status.header("content-type").starts_with("application/json"));
    let body: serde_json::Value = serde_json::from_str(&status.body).unwrap();
    assert_eq!(body["state"], "Running", "{body}");
    assert_eq!(body["version"], env!("CARGO_PKG_VERSION"), "{body}");
    assert!(body["id"].as_str().is_some_and(|id| !id.is_empty()), "{body}");
    assert!(body["processUptime"].as_u64().is_some(), "{body}");
    assert_eq!(body["store"]["kind"], "sqlite", "{body}");
    assert_eq!(body["store"]["state"], "Healthy", "{body}");
    assert!(body.get("errors").is_none(), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_in_flight_at_sigterm_gets_its_answer_and_new_connections_are_refused() {
    let app = test_worker_app();
    let gate = app.path().join("gate-open");
    let settings = serde_json::json!({ "Values": { "TEST_WORKER_GATE": gate } });
    std::fs::write(app.path().join("local.settings.json"), settings.to_string()).unwrap();
    let mut fnwire = Fnwire::start(app.path(), &["--drain-timeout", "60"]);
    let worker = fnwire.children();
    assert!(!worker.is_empty(), "the worker runs under fnwire");

    let url = fnwire.url("/api/gate");
    let in_flight = tokio::spawn(async move { get(&url).await });
    fnwire.wait_for_output("test worker: gate waiting", Duration::from_secs(30));

    sigterm(&fnwire);
    fnwire.wait_for_output("stopping: no new requests", Duration::from_secs(10));
    wait_until_refused(fnwire.port);
    // Still draining: neither the host nor its worker has ended while the request runs.
    assert!(fnwire.child.try_wait().unwrap().is_none(), "fnwire exited while a request was in flight");
    assert!(!fnwire.output().contains("test worker: terminating"), "{}", fnwire.output());
    assert!(worker.iter().all(|pid| !process_gone(*pid)), "the worker ended before its invocation did");

    std::fs::write(&gate, "open").unwrap();
    let reply = in_flight.await.unwrap();
    assert_eq!((reply.status, reply.body.as_str()), (200, "gate passed"), "{}", fnwire.output());

    let status = fnwire.wait_exit(EXIT_BOUND);
    assert!(status.success(), "fnwire exits 0 after draining: {status:?}\n{}", fnwire.output());
    // WorkerTerminate came, but only after the drain (it was absent above, while in flight).
    assert!(fnwire.output().contains("test worker: terminating"), "{}", fnwire.output());
    assert_processes_gone(&worker);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_drain_timeout_bounds_the_wait_for_invocations_that_never_end() {
    let app = test_worker_app();
    let mut fnwire = Fnwire::start(app.path(), &["--drain-timeout", "0.5"]);
    let url = fnwire.url("/api/slow");
    let in_flight = tokio::spawn(async move {
        let client: hyper_util::client::legacy::Client<_, http_body_util::Full<bytes::Bytes>> =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
        let req = http::Request::get(url).body(http_body_util::Full::new(bytes::Bytes::new())).unwrap();
        // The answer (a 5xx) or a closed connection: either way the client is not left hanging.
        let _ = tokio::time::timeout(Duration::from_secs(30), client.request(req)).await;
    });
    fnwire.wait_for_output("test worker handling id-slow", Duration::from_secs(30));
    sigterm(&fnwire);
    let status = fnwire.wait_exit(EXIT_BOUND);
    assert!(status.success(), "{status:?}\n{}", fnwire.output());
    assert!(fnwire.output().contains("still running after the drain timeout"), "{}", fnwire.output());
    in_flight.await.unwrap();
}

#[test]
fn a_host_address_that_is_not_an_ip_is_refused_with_what_to_pass() {
    let app = test_worker_app();
    let out = Command::new(fnwire_exe())
        .args(["start", &app.path().to_string_lossy(), "--host", "example.com"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--host") && err.contains("example.com"), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_queue_message_in_flight_at_sigterm_completes_and_no_new_one_is_taken() {
    let app = test_worker_app();
    let gate = app.path().join("gate-open");
    let settings = serde_json::json!({ "Values": { "TEST_WORKER_GATE": gate } });
    std::fs::write(app.path().join("local.settings.json"), settings.to_string()).unwrap();
    std::fs::write(
        app.path().join("host.json"),
        r#"{"version":"2.0","extensions":{"queues":{"maxPollingInterval":"00:00:00.2"}}}"#,
    )
    .unwrap();
    let store = fnwire_storage::Store::open(&app.path().join(".fnwire")).unwrap();
    let first = store.put("gatejobs", b"in flight at SIGTERM", None).unwrap();
    let mut fnwire = Fnwire::start(app.path(), &["--drain-timeout", "60"]);
    fnwire.wait_for_output("test worker: gate waiting", Duration::from_secs(30));

    sigterm(&fnwire);
    // The listener closes when the stop is raised; from then on no listener takes messages.
    wait_until_refused(fnwire.port);
    let second = store.put("gatejobs", b"arrived while draining", None).unwrap();
    assert!(fnwire.child.try_wait().unwrap().is_none(), "fnwire exited while a message was in flight");

    std::fs::write(&gate, "open").unwrap();
    let status = fnwire.wait_exit(EXIT_BOUND);
    assert!(status.success(), "{status:?}\n{}", fnwire.output());
    let out = fnwire.output();
    assert_eq!(out.matches("test worker handling id-gatequeue").count(), 1, "{out}");
    let left = store.peek("gatejobs", 10).unwrap();
    let ids: Vec<&str> = left.iter().map(|m| m.id.as_str()).collect();
    assert_eq!(ids, [second.id.as_str()], "the first completed (deleted), the second waits untouched: {out}");
    assert_ne!(first.id, second.id);
    assert_eq!(left[0].dequeue_count, 0, "nobody took the second message");
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_connections_and_unfinished_bodies_do_not_hold_the_drain() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let app = test_worker_app();
    let mut fnwire = Fnwire::start(app.path(), &["--drain-timeout", "60"]);
    // An idle connection, and a POST whose body stalls after 10 of its 100 bytes.
    let _idle = tokio::net::TcpStream::connect(("127.0.0.1", fnwire.port)).await.unwrap();
    let mut stalled = tokio::net::TcpStream::connect(("127.0.0.1", fnwire.port)).await.unwrap();
    stalled
        .write_all(b"POST /api/echo HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"a\":12345")
        .await
        .unwrap();
    // A full round trip on another connection: by its end the host has read the head that was
    // already in its socket and is waiting for the body.
    assert_eq!(get(&fnwire.url("/admin/host/ping")).await.status, 200);
    sigterm(&fnwire);
    let status = fnwire.wait_exit(EXIT_BOUND);
    assert!(status.success(), "{status:?}\n{}", fnwire.output());
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(10), stalled.read_to_end(&mut reply)).await;
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 503"), "the stalled request is told to go elsewhere: {reply}");
    assert!(reply.contains("stopping"), "{reply}");
}

// A plain test: the database guard's blocking client must not be dropped inside a runtime.
#[test]
fn the_status_reports_the_shared_store_when_postgresql_is_selected() {
    let db = fnwire_storage_postgres::testing::TestDatabase::new();
    let app = test_worker_app();
    let env = [("AzureWebJobsStorage", db.url.as_str())];
    // With the shared store the keys live in the database: `fnwire keys` reads them there.
    let out = Command::new(fnwire_exe()).arg("keys").arg(app.path()).envs(env).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8(out.stdout).unwrap();
    let master = text.lines().find_map(|l| l.strip_prefix("master key:")).unwrap().trim().to_string();
    let fnwire = Fnwire::spawn_with_env(app.path(), &[], &env);
    fnwire.wait_for_output("Host started", STARTUP_BOUND);
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let status = runtime.block_on(request(
        "GET",
        &fnwire.url("/admin/host/status"),
        &[("x-functions-key", &master)],
        "",
    ));
    assert_eq!(status.status, 200, "{}", status.body);
    let body: serde_json::Value = serde_json::from_str(&status.body).unwrap();
    assert_eq!(body["store"]["kind"], "postgresql", "{body}");
    assert_eq!(body["store"]["state"], "Healthy", "{body}");
}

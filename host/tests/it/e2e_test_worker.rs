//! `fnwire start` against the test worker (tests/support/test_worker.rs), launched through a
//! worker.config.json.

use std::time::Duration;

use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn serves_http_functions_and_stops_cleanly_on_sigterm() {
    let app = test_worker_app();
    std::fs::write(
        app.path().join("local.settings.json"),
        r#"{"Values":{"TEST_WORKER_SETTING":"from-settings"}}"#,
    )
    .unwrap();
    let mut fnwire = Fnwire::start(app.path(), &["--max-request-body", "1024"]);
    let out = fnwire.output();
    let row = |name: &str| {
        out.lines().find(|l| l.trim_start().starts_with(&format!("{name} "))).unwrap_or_default()
    };
    let hello = row("hello");
    assert!(hello.contains("httpTrigger") && hello.contains("GET,POST"), "{out}");
    assert!(hello.contains(&format!("http://127.0.0.1:{}/api/hello/{{name?}}", fnwire.port)), "{out}");
    assert!(row("tick").contains("timerTrigger"), "{out}");
    assert!(row("tick").contains("schedule */5 * * * * *"), "the table says what triggers it: {out}");
    assert!(out.contains("runtime Some(\"fnwire-test\"), setting Some(\"from-settings\")"), "{out}");

    let r = get(&fnwire.url("/api/hello?name=Ada")).await;
    assert_eq!((r.status, r.body.as_str()), (200, "Hello, Ada!"));
    assert!(r.header("content-type").starts_with("text/plain"));
    let r = get(&fnwire.url("/api/hello/Bob")).await;
    assert_eq!((r.status, r.body.as_str()), (200, "Hello, Bob!"));
    let r = get(&fnwire.url("/API/Hello/Ada%20L")).await;
    assert_eq!((r.status, r.body.as_str()), (200, "Hello, Ada L!"));
    let r = request("POST", &fnwire.url("/api/hello"), &[], "").await;
    assert_eq!((r.status, r.body.as_str()), (200, "Hello, world!"));

    let json = r#"{"a":[1,2,{"b":null}],"s":"x"}"#;
    let r = request("POST", &fnwire.url("/api/echo"), &[("content-type", "application/json")], json).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.header("content-type"), "application/json");
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(&r.body).unwrap(),
        serde_json::from_str::<serde_json::Value>(json).unwrap()
    );
    let r = request("POST", &fnwire.url("/api/echo"), &[], "not json").await;
    assert_eq!(r.status, 400);

    let r = get(&fnwire.url("/api/echo")).await;
    assert_eq!(r.status, 405);
    assert_eq!(r.header("allow"), "POST");
    let r = get(&fnwire.url("/api/nope")).await;
    assert_eq!(r.status, 404);
    let r = get(&fnwire.url("/elsewhere")).await;
    assert_eq!(r.status, 404);

    let r = get(&fnwire.url("/api/items/12")).await;
    assert_eq!((r.status, r.body.as_str()), (200, "item 12"));
    assert_eq!(r.header("set-cookie"), "seen=12; SameSite=Lax");
    assert_eq!(get(&fnwire.url("/api/items/abc")).await.status, 404, "the int constraint refuses `abc`");

    let big = "x".repeat(2048);
    let r = request("POST", &fnwire.url("/api/echo"), &[("content-type", "application/json")], big).await;
    assert_eq!(r.status, 413);

    // Without Content-Length (chunked), the limit applies while reading.
    {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", fnwire.port)).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(30))).unwrap();
        let chunk = "y".repeat(2048);
        let req = format!(
            "POST /api/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n{:x}\r\n{chunk}\r\n0\r\n\r\n",
            chunk.len()
        );
        s.write_all(req.as_bytes()).unwrap();
        let mut answer = Vec::new();
        let _ = s.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer);
        assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    }

    let r = get(&fnwire.url("/api/boom")).await;
    assert_eq!(r.status, 500);
    assert!(r.body.contains("'boom' failed") && r.body.contains("invocation id"), "{}", r.body);
    assert!(!r.body.contains("SECRET") && !r.body.contains("test_worker::invoke"), "{}", r.body);
    let invocation_id = r.body.split("invocation id ").nth(1).unwrap().split('.').next().unwrap().to_string();
    fnwire.wait_for_output("SECRET-INTERNAL-DETAIL", std::time::Duration::from_secs(10));
    assert!(fnwire.output().contains(&invocation_id));

    let r = get(&fnwire.url("/api/broken")).await;
    assert_eq!(r.status, 500);
    fnwire.wait_for_output("broken cannot load", std::time::Duration::from_secs(10));

    // User logs carry the function name and invocation id.
    fnwire.wait_for_output("test worker handling id-hello", std::time::Duration::from_secs(10));
    let out = fnwire.output();
    assert!(
        out.lines().any(|l| l.contains("[hello (") && l.contains("test worker handling id-hello")),
        "{out}"
    );

    let workers = fnwire.children();
    assert_eq!(workers.len(), 1, "one worker process: {workers:?}");
    let status = fnwire.terminate();
    assert!(status.success(), "exit status {status:?}; output:\n{}", fnwire.output());
    assert!(fnwire.output().contains("test worker: terminating"), "the worker got WorkerTerminate");
    assert_processes_gone(&workers);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_worker_means_503_then_it_is_restarted_and_the_host_still_stops_cleanly() {
    let app = test_worker_app();
    let mut fnwire = Fnwire::start(app.path(), &[]);
    let r = get(&fnwire.url("/api/die")).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("no worker is available"), "{}", r.body);
    fnwire.wait_for_output("exited unexpectedly", std::time::Duration::from_secs(10));
    fnwire.wait_for_output("restarting worker 0", std::time::Duration::from_secs(10));
    // Bounded wait for the restarted worker (no timing assertion).
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        let r = get(&fnwire.url("/api/hello")).await;
        if r.status == 200 {
            assert_eq!(r.body, "Hello, world!");
            break;
        }
        assert_eq!(r.status, 503, "{}", r.body);
        assert!(std::time::Instant::now() < deadline, "the worker never came back:\n{}", fnwire.output());
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let status = fnwire.terminate();
    assert!(status.success(), "{status:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn host_indexing_reads_function_json_and_honours_the_route_prefix() {
    let app = test_worker_app();
    std::fs::write(app.path().join("local.settings.json"), r#"{"Values":{"TEST_WORKER_HOST_INDEXING":"1"}}"#)
        .unwrap();
    std::fs::write(
        app.path().join("host.json"),
        r#"{"version":"2.0","extensions":{"http":{"routePrefix":"v1"}}}"#,
    )
    .unwrap();
    // The folder name is the function name; the test worker knows `hello` by its id.
    std::fs::create_dir(app.path().join("hello")).unwrap();
    std::fs::write(
        app.path().join("hello/function.json"),
        r#"{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","route":"greet/{name}","authLevel":"anonymous"},
            {"type":"http","direction":"out","name":"$return"}]}"#,
    )
    .unwrap();
    let mut fnwire = Fnwire::start(app.path(), &[]);
    assert!(fnwire.output().contains("worker asked for host indexing"));
    // The test worker answers by function id; host-indexed ids are derived from the name, so
    // the worker does not know this one and fails it: the route works, the failure is a 500.
    let r = get(&fnwire.url("/v1/greet/Zed")).await;
    assert_eq!(r.status, 500, "{}", r.body);
    fnwire.wait_for_output("unknown function id", std::time::Duration::from_secs(10));
    assert_eq!(get(&fnwire.url("/api/greet/Zed")).await.status, 404);
    assert!(fnwire.terminate().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_client_that_goes_away_cancels_its_invocation() {
    let app = test_worker_app();
    let mut fnwire = Fnwire::start(app.path(), &[]);
    let url = fnwire.url("/api/slow");
    // The worker never answers `slow` on its own; give up on the request after a moment.
    let gave_up = tokio::time::timeout(std::time::Duration::from_millis(500), get(&url)).await;
    assert!(gave_up.is_err(), "slow answered: {gave_up:?}");
    fnwire.wait_for_output("test worker: cancel ", std::time::Duration::from_secs(10));
    // The host keeps serving afterwards.
    assert_eq!(get(&fnwire.url("/api/hello/Ann")).await.body, "Hello, Ann!");
    assert!(fnwire.terminate().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_without_terminate_support_is_stopped_by_ending_its_stream() {
    let app = test_worker_app();
    std::fs::write(app.path().join("local.settings.json"), r#"{"Values":{"TEST_WORKER_NO_TERMINATE":"1"}}"#)
        .unwrap();
    let mut fnwire = Fnwire::start(app.path(), &[]);
    assert_eq!(get(&fnwire.url("/api/hello")).await.body, "Hello, world!");
    let workers = fnwire.children();
    assert!(fnwire.terminate().success());
    let out = fnwire.output();
    assert!(out.contains("test worker: stream ended") && !out.contains("test worker: terminating"), "{out}");
    assert_processes_gone(&workers);
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_requests_and_garbage_from_clients_do_not_disturb_the_host() {
    use std::io::{Read, Write};
    let app = test_worker_app();
    let mut fnwire = Fnwire::start(app.path(), &[]);
    // Not HTTP at all, then a request line with an absurd header, then a half-sent request.
    for junk in [
        &b"\x00\x01\x02garbage\r\n\r\n"[..],
        b"GET /api/hello HTTP/1.1\r\nHost: x\r\nX: \x01\x02\r\n\r\n",
        b"POST /api/echo HTTP/1.1\r\nContent-Length: 100\r\n\r\n{",
    ] {
        let mut s = std::net::TcpStream::connect(("127.0.0.1", fnwire.port)).unwrap();
        s.set_read_timeout(Some(std::time::Duration::from_secs(2))).unwrap();
        s.write_all(junk).unwrap();
        let _ = s.shutdown(std::net::Shutdown::Write);
        let mut sink = Vec::new();
        let _ = s.read_to_end(&mut sink);
    }
    let requests = (0..50).map(|i| {
        let url = fnwire.url(&format!("/api/hello/n{i}"));
        tokio::spawn(async move { (i, get(&url).await) })
    });
    for r in futures::future::join_all(requests).await {
        let (i, reply) = r.unwrap();
        assert_eq!((reply.status, reply.body), (200, format!("Hello, n{i}!")));
    }
    assert!(fnwire.terminate().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn host_json_log_levels_choose_the_lines_per_function() {
    let app = test_worker_app();
    std::fs::write(
        app.path().join("host.json"),
        r#"{"version":"2.0","logging":{"logLevel":{"default":"Information","Function":"Warning",
            "Function.echo":"Information"}}}"#,
    )
    .unwrap();
    let mut fnwire = Fnwire::start(app.path(), &[]);
    assert_eq!(get(&fnwire.url("/api/hello")).await.status, 200);
    assert_eq!(request("POST", &fnwire.url("/api/echo"), &[], "{}").await.status, 200);
    // Console lines are written in order: once echo's last line is out, hello's would be too.
    fnwire.wait_for_output("Executed 'echo' (Succeeded", Duration::from_secs(10));
    let out = fnwire.output();
    assert!(out.contains("Executing 'echo'") && out.contains("test worker handling id-echo"), "{out}");
    assert!(!out.contains("Executing 'hello'") && !out.contains("Executed 'hello'"), "{out}");
    assert!(
        !out.contains("test worker handling id-hello"),
        "the function's own logs follow Function too:\n{out}"
    );
    assert!(out.contains("Host started"), "other host lines keep the default:\n{out}");
    // A failure is an error line: above the Warning level, so it is shown.
    assert_eq!(get(&fnwire.url("/api/boom")).await.status, 500);
    fnwire.wait_for_output("Executed 'boom' (Failed", Duration::from_secs(10));
    assert!(fnwire.terminate().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_log_level_is_refused_at_start() {
    let app = test_worker_app();
    std::fs::write(app.path().join("host.json"), r#"{"logging":{"logLevel":{"Function":"Loud"}}}"#).unwrap();
    let mut fnwire = Fnwire::spawn(app.path(), &[]);
    assert!(!fnwire.wait_exit(Duration::from_secs(60)).success());
    let out = fnwire.output();
    assert!(out.contains("logging.logLevel.Function") && out.contains("Loud"), "{out}");
}

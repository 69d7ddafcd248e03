//! The dashboard through the real `fnwire` binary: open on the loopback, behind the master key
//! when the host listens beyond it, and gone with `--no-dashboard`.

use crate::support::*;

const MASTER: &str = "dashboard-test-master";
const FUNCTION: &str = "dashboard-test-function";

/// Starts the test worker app with keys of our choosing (the environment wins over the keys
/// file, as `fnwire keys` documents).
fn start(app: &std::path::Path, extra: &[&str]) -> Fnwire {
    let fnwire = Fnwire::spawn_with_env(
        app,
        extra,
        &[("FNWIRE_MASTER_KEY", MASTER), ("FNWIRE_FUNCTION_KEY", FUNCTION)],
    );
    fnwire.wait_for_output("Host started", STARTUP_BOUND);
    fnwire
}

/// The dashboard's routes a test asks for: the page, a JSON list, the OpenAPI document and the
/// live feed (asked only where it is refused: an accepted feed never ends).
const PAGE: &str = "/admin/ui";
const FUNCTIONS: &str = "/admin/api/functions";
const OPENAPI: &str = "/admin/api/openapi.json";
const FEED: &str = "/admin/api/invocations/stream";

#[tokio::test(flavor = "multi_thread")]
async fn the_dashboard_is_open_on_the_loopback() {
    let app = test_worker_app();
    let fnwire = start(app.path(), &[]);
    let address = format!("Dashboard: http://127.0.0.1:{}/admin/ui", fnwire.port);
    let output = fnwire.output();
    assert!(output.contains(&format!("{address}\n")), "the address, with no key to add:\n{output}");

    let page = get(&fnwire.url(PAGE)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert_eq!(page.header("content-type"), "text/html; charset=utf-8");
    assert!(page.body.contains("EventSource"), "{}", page.body);

    let functions = get(&fnwire.url(FUNCTIONS)).await;
    assert_eq!(functions.status, 200, "{}", functions.body);
    let functions: serde_json::Value = serde_json::from_str(&functions.body).unwrap();
    let names: Vec<&str> = functions.as_array().unwrap().iter().filter_map(|f| f["name"].as_str()).collect();
    assert!(names.contains(&"hello"), "the test worker's functions: {names:?}");

    assert_eq!(get(&fnwire.url(OPENAPI)).await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn beyond_the_loopback_the_dashboard_needs_the_master_key() {
    let app = test_worker_app();
    let fnwire = start(app.path(), &["--host", "0.0.0.0"]);
    let output = fnwire.output();
    assert!(
        output.contains("/admin/ui (add ?code=<master key>; `fnwire keys` prints it)"),
        "the address says how to pass the key:\n{output}"
    );

    for path in [PAGE, FUNCTIONS, OPENAPI, FEED] {
        let refused = get(&fnwire.url(path)).await;
        assert_eq!(refused.status, 401, "GET {path} without a key: {}", refused.body);
        assert!(!refused.body.contains(MASTER), "a refusal never shows the key: {}", refused.body);
        let wrong = request("GET", &fnwire.url(path), &[("x-functions-key", "not-the-key")], "").await;
        assert_eq!(wrong.status, 401, "GET {path} with a wrong key: {}", wrong.body);
        // The dashboard shows every function's data and acts on the queues: a function key,
        // which opens `function` routes, is not enough.
        let function = request("GET", &fnwire.url(path), &[("x-functions-key", FUNCTION)], "").await;
        assert_eq!(function.status, 401, "GET {path} with the function key: {}", function.body);
        let function = get(&fnwire.url(&format!("{path}?code={FUNCTION}"))).await;
        assert_eq!(function.status, 401, "GET {path}?code=<function key>: {}", function.body);
    }
    // Refused actions change nothing.
    let delete = request("DELETE", &fnwire.url("/admin/api/queues/q/messages/m"), &[], "").await;
    assert_eq!(delete.status, 401, "{}", delete.body);

    // The page as the printed address opens it, and its API calls with the key in the header.
    let page = get(&fnwire.url(&format!("{PAGE}?code={MASTER}"))).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("EventSource"), "{}", page.body);
    for path in [FUNCTIONS, OPENAPI] {
        let allowed = request("GET", &fnwire.url(path), &[("x-functions-key", MASTER)], "").await;
        assert_eq!(allowed.status, 200, "GET {path} with the master key: {}", allowed.body);
    }
    let functions = get(&fnwire.url(&format!("{FUNCTIONS}?code={MASTER}"))).await;
    assert_eq!(functions.status, 200, "{}", functions.body);
    assert!(functions.body.contains("\"hello\""), "{}", functions.body);
}

#[tokio::test(flavor = "multi_thread")]
async fn no_dashboard_serves_neither_the_page_nor_its_api() {
    let app = test_worker_app();
    let fnwire = start(app.path(), &["--no-dashboard"]);
    let output = fnwire.output();
    assert!(!output.contains("Dashboard:"), "no address is printed:\n{output}");
    for path in [PAGE, FUNCTIONS, OPENAPI, FEED] {
        let gone = get(&fnwire.url(path)).await;
        assert_eq!(gone.status, 404, "GET {path} with --no-dashboard: {}", gone.body);
        // Not even the master key brings it back.
        let keyed = request("GET", &fnwire.url(path), &[("x-functions-key", MASTER)], "").await;
        assert_eq!(keyed.status, 404, "GET {path} with the master key and --no-dashboard: {}", keyed.body);
    }
    // The app itself still runs.
    assert_eq!(get(&fnwire.url("/api/hello")).await.status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn dashboard_port_moves_the_dashboard_to_a_listener_of_its_own() {
    let app = test_worker_app();
    let dashboard_port = free_port();
    let mut fnwire = start(app.path(), &["--dashboard-port", &dashboard_port.to_string()]);
    let output = fnwire.output();
    assert!(
        output.contains(&format!("Dashboard: http://127.0.0.1:{dashboard_port}/admin/ui\n")),
        "the printed address is the dashboard's port:\n{output}"
    );
    let on_dashboard_port = |path: &str| format!("http://127.0.0.1:{dashboard_port}{path}");

    let page = get(&on_dashboard_port(PAGE)).await;
    assert_eq!(page.status, 200, "{}", page.body);
    assert!(page.body.contains("EventSource"), "{}", page.body);
    let functions = get(&on_dashboard_port(FUNCTIONS)).await;
    assert_eq!(functions.status, 200, "{}", functions.body);
    assert!(functions.body.contains("\"hello\""), "{}", functions.body);

    // Each port answers for the other with where to go.
    let app_route = get(&on_dashboard_port("/api/hello")).await;
    assert_eq!(app_route.status, 404, "{}", app_route.body);
    assert!(app_route.body.contains(&format!("on port {}", fnwire.port)), "{}", app_route.body);
    let health = get(&on_dashboard_port("/admin/host/ping")).await;
    assert_eq!(health.status, 404, "the dashboard's port serves only the dashboard: {}", health.body);
    for path in [PAGE, FUNCTIONS] {
        let moved = get(&fnwire.url(path)).await;
        assert_eq!(moved.status, 404, "GET {path} on the app's port: {}", moved.body);
        assert!(moved.body.contains(&format!("the dashboard is on port {dashboard_port}")), "{}", moved.body);
    }
    assert_eq!(get(&fnwire.url("/api/hello")).await.status, 200);

    // What ran on the app's port shows on the dashboard's.
    let invocations = get(&on_dashboard_port("/admin/api/invocations?function=hello")).await;
    assert_eq!(invocations.status, 200, "{}", invocations.body);
    let invocations: serde_json::Value = serde_json::from_str(&invocations.body).unwrap();
    assert_eq!(invocations.as_array().map(Vec::len), Some(1), "{invocations}");

    let status = fnwire.terminate();
    assert!(status.success(), "a clean stop with two listeners: {status:?}\n{}", fnwire.output());
}

#[tokio::test(flavor = "multi_thread")]
async fn on_its_own_port_beyond_the_loopback_the_dashboard_still_needs_the_master_key() {
    let app = test_worker_app();
    let dashboard_port = free_port();
    let fnwire = start(app.path(), &["--host", "0.0.0.0", "--dashboard-port", &dashboard_port.to_string()]);
    let url = |path: &str| format!("http://127.0.0.1:{dashboard_port}{path}");
    for path in [PAGE, FUNCTIONS, FEED] {
        assert_eq!(get(&url(path)).await.status, 401, "GET {path} without a key");
        let function = request("GET", &url(path), &[("x-functions-key", FUNCTION)], "").await;
        assert_eq!(function.status, 401, "GET {path} with the function key: {}", function.body);
    }
    assert_eq!(get(&url(&format!("{PAGE}?code={MASTER}"))).await.status, 200);
    let functions = request("GET", &url(FUNCTIONS), &[("x-functions-key", MASTER)], "").await;
    assert_eq!(functions.status, 200, "{}", functions.body);
    drop(fnwire);
}

/// Runs `fnwire start` expecting it to refuse the command line; returns what it printed.
fn refused_start(args: &[&str]) -> String {
    let app = test_worker_app();
    let out = std::process::Command::new(fnwire_exe())
        .arg("start")
        .arg(app.path())
        .args(args)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let printed = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "fnwire start {args:?} ran:\n{printed}");
    printed
}

#[test]
fn a_dashboard_port_that_cannot_be_used_is_refused_with_what_to_do() {
    let port = free_port().to_string();
    let same = refused_start(&["--port", &port, "--dashboard-port", &port]);
    assert!(same.contains(&format!("--dashboard-port {port} is also the app's port")), "{same}");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let taken_port = taken.local_addr().unwrap().port().to_string();
    let busy = refused_start(&["--port", &free_port().to_string(), "--dashboard-port", &taken_port]);
    assert!(
        busy.contains(&format!(
            "could not listen on 127.0.0.1:{taken_port} for the dashboard (--dashboard-port)"
        )),
        "{busy}"
    );
    drop(taken);

    let off = refused_start(&["--no-dashboard", "--dashboard-port", &port]);
    assert!(off.contains("--no-dashboard") && off.contains("--dashboard-port"), "{off}");
    let zero = refused_start(&["--dashboard-port", "0"]);
    assert!(zero.contains("--dashboard-port"), "{zero}");
}

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

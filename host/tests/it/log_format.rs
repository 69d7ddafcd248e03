//! `fnwire start --log-format json` (and `FNWIRE_LOG_FORMAT`): every console line is one JSON
//! object with time, level, function, invocation id, trace id and message.

use std::time::Duration;

use crate::support::*;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

/// Every line of the output as JSON; fails on a line that is not an object.
fn json_lines(output: &str) -> Vec<serde_json::Value> {
    output
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let value: serde_json::Value = serde_json::from_str(l)
                .unwrap_or_else(|e| panic!("not a JSON line ({e}): {l}\nall output:\n{output}"));
            assert!(value.is_object(), "{l}");
            for key in ["time", "level", "function", "invocation_id", "trace_id", "message"] {
                assert!(value.get(key).is_some(), "`{key}` missing: {l}");
            }
            value
        })
        .collect()
}

async fn run_hello_and_read_lines(fnwire: &mut Fnwire) -> Vec<serde_json::Value> {
    let traceparent = format!("00-{TRACE_ID}-00f067aa0ba902b7-01");
    let reply = request("GET", &fnwire.url("/api/hello"), &[("traceparent", &traceparent)], "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    fnwire.wait_for_output("test worker handling id-hello", Duration::from_secs(10));
    fnwire.wait_for_output("Executed 'hello' (Succeeded", Duration::from_secs(10));
    let status = fnwire.terminate();
    assert!(status.success(), "{status:?}\n{}", fnwire.output());
    json_lines(&fnwire.output())
}

#[tokio::test(flavor = "multi_thread")]
async fn json_console_lines_carry_the_function_invocation_and_trace() {
    let app = test_worker_app();
    let mut fnwire = Fnwire::start(app.path(), &["--log-format", "json"]);
    let lines = run_hello_and_read_lines(&mut fnwire).await;
    let executed = lines
        .iter()
        .find(|l| l["message"].as_str().is_some_and(|m| m.starts_with("Executed 'hello' (Succeeded")))
        .expect("an Executed line");
    assert_eq!(executed["level"], "info");
    assert_eq!(executed["function"], "hello");
    assert_eq!(executed["trace_id"], TRACE_ID, "the incoming traceparent's trace: {executed}");
    let invocation_id = executed["invocation_id"].as_str().expect("an invocation id");
    assert!(executed["message"].as_str().unwrap().contains(invocation_id), "{executed}");
    let user = lines
        .iter()
        .find(|l| l["message"].as_str().is_some_and(|m| m.contains("test worker handling id-hello")))
        .expect("the function's own log line");
    assert_eq!(
        (&user["function"], &user["invocation_id"]),
        (&"hello".into(), &invocation_id.into()),
        "{user}"
    );
    assert!(
        lines.iter().any(|l| l["message"].as_str().is_some_and(|m| m.contains("/api/hello"))),
        "the function table is a JSON line too"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_environment_chooses_json_and_a_bad_format_is_refused() {
    let app = test_worker_app();
    let mut fnwire = Fnwire::spawn_with_env(app.path(), &[], &[("FNWIRE_LOG_FORMAT", "json")]);
    fnwire.wait_for_output("Host started", STARTUP_BOUND);
    let lines = run_hello_and_read_lines(&mut fnwire).await;
    assert!(lines.iter().any(|l| l["function"] == "hello"), "{lines:?}");

    let out = std::process::Command::new(fnwire_exe())
        .arg("start")
        .arg(app.path())
        .args(["--log-format", "yaml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let error = String::from_utf8_lossy(&out.stderr);
    assert!(error.contains("`yaml` is not a log format") && error.contains("json"), "{error}");
}

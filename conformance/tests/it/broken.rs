//! A deliberately broken worker fails, and each failure names the scenario and what was
//! expected. Exclusions turn a failure into a skip with its reason.

use crate::support::{broken_worker_exe, empty_app, run_runner};

fn failure_line<'a>(stdout: &'a str, scenario: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.starts_with(&format!("FAIL {scenario} ")))
        .unwrap_or_else(|| panic!("no FAIL line for {scenario} in:\n{stdout}"))
}

#[test]
fn a_worker_that_does_not_send_start_stream_first_fails() {
    let app = empty_app();
    let worker = broken_worker_exe();
    let run = run_runner(
        &[
            "run",
            "--app",
            app.path().to_str().unwrap(),
            "--worker-cmd",
            worker.to_str().unwrap(),
            "--only",
            "lifecycle.start_stream,lifecycle.init",
            "--startup-timeout",
            "20",
            "--timeout",
            "10",
        ],
        &[("FNWIRE_BROKEN_MODE", "no-start-stream")],
    );
    assert_eq!(run.code, Some(1), "{}", run.output());
    let line = failure_line(&run.stdout, "lifecycle.start_stream");
    assert!(line.contains("expected the worker to connect and send StartStream"), "{line}");
    assert!(line.contains("the first message is not StartStream"), "{line}");
    failure_line(&run.stdout, "lifecycle.init");
}

#[test]
fn a_worker_that_answers_with_the_wrong_invocation_id_fails() {
    let app = empty_app();
    let worker = broken_worker_exe();
    let out = tempfile::tempdir().unwrap();
    let transcript = out.path().join("t.jsonl");
    let json = out.path().join("r.json");
    let run = run_runner(
        &[
            "run",
            "--app",
            app.path().to_str().unwrap(),
            "--worker-cmd",
            worker.to_str().unwrap(),
            "--only",
            "lifecycle.start_stream,indexing.function_list,http_text.get_with_name",
            "--timeout",
            "3",
            "--transcript",
            transcript.to_str().unwrap(),
            "--json",
            json.to_str().unwrap(),
        ],
        &[("FNWIRE_BROKEN_MODE", "wrong-invocation-id")],
    );
    assert_eq!(run.code, Some(1), "{}", run.output());
    let line = failure_line(&run.stdout, "http_text.get_with_name");
    assert!(line.contains("expected an InvocationResponse with invocation_id"), "{line}");
    assert!(line.contains("InvocationResponse(invocation_id `not-"), "{line}");
    let line = failure_line(&run.stdout, "indexing.function_list");
    assert!(line.contains("missing") && line.contains("http_echo"), "{line}");

    // The JSON report has every selected scenario with its result.
    let report: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let results: Vec<(&str, &str)> = report["scenarios"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["result"].as_str().unwrap()))
        .collect();
    assert_eq!(
        results,
        [
            ("lifecycle.start_stream", "pass"),
            ("indexing.function_list", "fail"),
            ("http_text.get_with_name", "fail")
        ]
    );

    // The transcript has both directions, in the reference transcripts' shape.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&transcript)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[0]["kind"], "start_stream");
    assert_eq!(lines[0]["dir"], "worker->host");
    assert!(lines.iter().any(|l| l["kind"] == "invocation_request" && l["dir"] == "host->worker"));
    let wrong = lines.iter().find(|l| l["kind"] == "invocation_response").expect("the wrong response");
    assert!(wrong["msg"]["invocation_response"]["invocation_id"].as_str().unwrap().starts_with("not-"));
}

#[test]
fn excluded_scenarios_are_skipped_with_their_reason() {
    let app = empty_app();
    let worker = broken_worker_exe();
    let exclusions = app.path().join("exclusions.toml");
    std::fs::write(&exclusions, "\"http_text.*\" = \"this worker answers with made-up invocation ids\"\n")
        .unwrap();
    let run = run_runner(
        &[
            "run",
            "--app",
            app.path().to_str().unwrap(),
            "--worker-cmd",
            worker.to_str().unwrap(),
            "--only",
            "http_text.get_with_name",
            "--exclusions",
            exclusions.to_str().unwrap(),
        ],
        &[("FNWIRE_BROKEN_MODE", "wrong-invocation-id")],
    );
    assert_eq!(run.code, Some(0), "{}", run.output());
    assert!(
        run.stdout.contains("excluded: this worker answers with made-up invocation ids"),
        "{}",
        run.output()
    );
    assert!(run.stdout.contains("0 failed, 1 skipped"), "{}", run.output());
}

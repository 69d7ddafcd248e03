use std::time::Duration;

use fnwire_dashboard::{History, InvocationFilter};
use fnwire_observe::{InvocationObserver, LogLevel, Outcome, WorkerLog};

use crate::support::run;

#[test]
fn the_ring_keeps_the_last_n_per_function_however_many_run() {
    let history = History::new(5);
    for i in 0..2000 {
        let function = if i % 2 == 0 { "even" } else { "odd" };
        run(&history, function, &format!("{i:04}"), "x", Outcome::Succeeded, Duration::from_millis(1));
        assert!(history.len() <= 10, "the history grew to {} after {} invocations", history.len(), i + 1);
    }
    assert_eq!(history.len(), 10);
    let even = history.list(&InvocationFilter { function: Some("even".into()), ..Default::default() }, 100);
    let ids: Vec<&str> = even.iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["1998", "1996", "1994", "1992", "1990"], "newest first, older ones dropped");
    assert!(history.get("0000").is_none(), "an evicted invocation is still found");
    // Counts cover every invocation since the start, not only the kept ones.
    assert_eq!(history.stats("even").invocations, 1000);
}

#[test]
fn log_lines_per_invocation_are_bounded_and_counted() {
    let history = History::new(10);
    run(&history, "chatty", "1", "x", Outcome::Succeeded, Duration::from_millis(1));
    for n in 0..(fnwire_dashboard::history::MAX_LOGS_PER_INVOCATION + 50) {
        history.add_log(&WorkerLog {
            invocation_id: "1".into(),
            function: Some("chatty".into()),
            worker_id: "worker-1".into(),
            level: if n == 0 { LogLevel::Warning } else { LogLevel::Information },
            user: true,
            message: format!("line {n}"),
            at: std::time::SystemTime::now(),
        });
    }
    let detail = history.get("1").unwrap();
    assert_eq!(detail["logs"].as_array().unwrap().len(), fnwire_dashboard::history::MAX_LOGS_PER_INVOCATION);
    assert_eq!(detail["logsDropped"], 50);
    assert_eq!(detail["logs"][0]["level"], "Warning");
    assert_eq!(detail["logs"][0]["worker"], "worker-1");
    assert_eq!(detail["workers"], serde_json::json!(["worker-1"]));
}

#[test]
fn stats_count_failures_and_take_percentiles_of_kept_durations() {
    let history = History::new(100);
    for ms in 1..=100u64 {
        let outcome = if ms % 10 == 0 { Outcome::Failed } else { Outcome::Succeeded };
        run(&history, "f", &ms.to_string(), "x", outcome, Duration::from_millis(ms));
    }
    let stats = history.stats("f");
    assert_eq!((stats.invocations, stats.failures), (100, 10));
    assert_eq!(stats.p50_ms, Some(50.0));
    assert_eq!(stats.p99_ms, Some(99.0));
    assert_eq!(history.stats("never").invocations, 0);
}

#[test]
fn an_invocation_shows_its_inputs_outputs_and_error() {
    let history = History::new(10);
    run(&history, "f", "abc", "the input", Outcome::Failed, Duration::from_millis(3));
    let detail = history.get("abc").unwrap();
    assert_eq!(detail["trigger"]["inputs"]["req"], "the input");
    assert_eq!(detail["outputs"]["outputs"]["done"], "out of abc");
    assert_eq!(detail["outcome"], "Failed");
    assert_eq!(detail["error"], "it broke");
    assert_eq!(detail["durationMs"], 3.0);
}

#[test]
fn a_still_running_invocation_is_listed_as_running() {
    let history = History::new(10);
    let request = fnwire_protocol::rpc::InvocationRequest::default();
    history.started(&fnwire_observe::InvocationStarted {
        function: "slow",
        invocation_id: "r1",
        reason: "test",
        at: std::time::SystemTime::now(),
        request: &request,
    });
    let running =
        history.list(&InvocationFilter { outcome: Some("running".into()), ..Default::default() }, 10);
    assert_eq!(running.len(), 1);
    assert_eq!(running[0]["durationMs"], serde_json::Value::Null);
}

#[test]
fn the_history_setting_is_read_from_host_json_and_checked() {
    use fnwire_dashboard::history_setting;
    use serde_json::json;
    assert_eq!(history_setting(&json!({})), Ok(None));
    let doc = json!({"extensions": {"fnwire": {"dashboard": {"historyPerFunction": 7}}}});
    assert_eq!(history_setting(&doc), Ok(Some(7)));
    let zero = json!({"extensions": {"fnwire": {"dashboard": {"historyPerFunction": 0}}}});
    let error = history_setting(&zero).unwrap_err();
    assert!(error.contains("historyPerFunction") && error.contains("found `0`"), "{error}");
    let typo = json!({"extensions": {"fnwire": {"dashboard": {"historyPerFuncton": 7}}}});
    assert!(history_setting(&typo).unwrap_err().contains("historyPerFuncton"));
}

#[test]
fn large_inputs_are_cut_so_each_kept_invocation_stays_small() {
    let history = History::new(10);
    let megabyte = "x".repeat(1 << 20);
    run(&history, "big", "1", &megabyte, Outcome::Succeeded, Duration::from_millis(1));
    let kept = history.get("1").unwrap().to_string();
    assert!(kept.len() < 20_000, "a 1 MiB input is kept as {} bytes", kept.len());
    assert!(kept.contains("more characters not kept"));
}

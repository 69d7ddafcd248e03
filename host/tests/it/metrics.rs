//! `GET /admin/metrics` through the real `fnwire` binary: the master key is required, and a
//! scrape after some invocations, a worker crash and a few queued messages counts them all, with
//! the age of each queue's oldest message and how long the store took to commit.

use std::process::Command;
use std::time::{Duration, Instant};

use prometheus_parse::{Scrape, Value};

use crate::support::*;

fn put_message(app: &std::path::Path, queue: &str) {
    let out = Command::new(fnwire_exe())
        .args(["queue", "put", queue, "payload", "--app"])
        .arg(app)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

async fn scrape(fnwire: &Fnwire, master: &str) -> Scrape {
    let reply = request("GET", &fnwire.url("/admin/metrics"), &[("x-functions-key", master)], "").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert!(
        reply.header("content-type").starts_with("application/openmetrics-text"),
        "{}",
        reply.header("content-type")
    );
    assert!(reply.body.ends_with("# EOF\n"), "a complete exposition:\n{}", reply.body);
    Scrape::parse(reply.body.lines().map(|l| Ok(l.to_string()))).unwrap()
}

/// The value of the one sample named `metric` whose labels include `labels`; 0 when there is none.
fn value(scrape: &Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    let matching: Vec<_> = scrape
        .samples
        .iter()
        .filter(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .collect();
    assert!(matching.len() <= 1, "{metric} {labels:?} matches {} samples", matching.len());
    match matching.first().map(|s| &s.value) {
        None => 0.0,
        Some(Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v)) => *v,
        Some(other) => panic!("{metric} is not a single number: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_need_the_master_key_and_count_invocations_failures_restarts_and_queues() {
    let app = test_worker_app();
    // `gatequeue` (on `gatejobs`) succeeds at once: its message's completion is a store commit.
    let gate = app.path().join("gate-open");
    std::fs::write(&gate, "").unwrap();
    let settings = serde_json::json!({ "Values": { "TEST_WORKER_GATE": gate } });
    std::fs::write(app.path().join("local.settings.json"), settings.to_string()).unwrap();
    let master = master_key(app.path());
    let fnwire = Fnwire::start(app.path(), &[]);

    let refused = get(&fnwire.url("/admin/metrics")).await;
    assert_eq!(refused.status, 401, "metrics need the master key like /admin/host/status: {}", refused.body);
    assert!(refused.body.contains("master key"), "{}", refused.body);
    let wrong =
        request("GET", &fnwire.url("/admin/metrics"), &[("x-functions-key", "not-the-key")], "").await;
    assert_eq!(wrong.status, 401);
    let post = request("POST", &fnwire.url("/admin/metrics"), &[("x-functions-key", &master)], "").await;
    assert_eq!(post.status, 405);

    for _ in 0..3 {
        assert_eq!(get(&fnwire.url("/api/hello")).await.status, 200);
    }
    let boom = request("GET", &fnwire.url("/api/boom"), &[("x-functions-key", &master)], "").await;
    assert_eq!(boom.status, 500, "{}", boom.body);
    // Nobody reads these queues: their depth stays as put.
    put_message(app.path(), "backlog");
    put_message(app.path(), "backlog");
    put_message(app.path(), "backlog-poison");

    let scraped = scrape(&fnwire, &master).await;
    let hello = [("function", "hello")];
    assert_eq!(
        value(&scraped, "fnwire_invocations_total", &[("function", "hello"), ("outcome", "Succeeded")]),
        3.0
    );
    assert_eq!(
        value(&scraped, "fnwire_invocations_total", &[("function", "boom"), ("outcome", "Failed")]),
        1.0
    );
    assert_eq!(value(&scraped, "fnwire_invocation_failures_total", &[("function", "boom")]), 1.0);
    assert_eq!(value(&scraped, "fnwire_invocation_failures_total", &hello), 0.0);
    assert_eq!(value(&scraped, "fnwire_invocations_in_flight", &hello), 0.0);
    assert_eq!(value(&scraped, "fnwire_invocation_duration_seconds_count", &hello), 3.0);
    let buckets = scraped
        .samples
        .iter()
        .find(|s| {
            s.metric == "fnwire_invocation_duration_seconds" && s.labels.get("function") == Some("hello")
        })
        .map(|s| s.value.clone());
    match buckets {
        Some(Value::Histogram(buckets)) => {
            let last = buckets.last().expect("buckets");
            assert!(last.less_than.is_infinite() && last.count == 3.0, "{buckets:?}");
        }
        other => panic!("the duration histogram of hello: {other:?}"),
    }
    assert_eq!(value(&scraped, "fnwire_queue_messages", &[("queue", "backlog")]), 2.0);
    assert_eq!(value(&scraped, "fnwire_queue_poison_messages", &[("queue", "backlog")]), 1.0);
    assert_eq!(value(&scraped, "fnwire_worker_restarts_total", &[]), 0.0);
    // Its oldest message has waited since it was put (how long depends on the machine); the
    // poison queue is not a backlog and has no age of its own.
    let has_age = |scraped: &Scrape, queue: &str| {
        scraped.samples.iter().any(|s| {
            s.metric == "fnwire_queue_oldest_message_age_seconds" && s.labels.get("queue") == Some(queue)
        })
    };
    assert!(has_age(&scraped, "backlog"), "a queue with messages has an age series");
    let age = value(&scraped, "fnwire_queue_oldest_message_age_seconds", &[("queue", "backlog")]);
    assert!(age.is_finite() && age >= 0.0, "{age}");
    assert!(!has_age(&scraped, "backlog-poison"), "a poison queue has no age series");
    let later = scrape(&fnwire, &master).await;
    assert!(value(&later, "fnwire_queue_oldest_message_age_seconds", &[("queue", "backlog")]) >= age);
    // HTTP functions without storage bindings commit nothing.
    assert_eq!(value(&scraped, "fnwire_store_commit_duration_seconds_count", &[]), 0.0);

    // A queue message's completion is one commit, timed.
    put_message(app.path(), "gatejobs");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let scraped = scrape(&fnwire, &master).await;
        if value(&scraped, "fnwire_store_commit_duration_seconds_count", &[]) == 1.0 {
            assert!(value(&scraped, "fnwire_store_commit_duration_seconds_sum", &[]) > 0.0);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the queue message's commit was never counted:\n{}",
            fnwire.output()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A crash is counted once the supervisor has seen it.
    assert_eq!(get(&fnwire.url("/api/die")).await.status, 503);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let scraped = scrape(&fnwire, &master).await;
        if value(&scraped, "fnwire_worker_restarts_total", &[]) == 1.0 {
            assert_eq!(
                value(&scraped, "fnwire_invocations_total", &[("function", "die"), ("outcome", "Failed")]),
                1.0,
                "the invocation the crash took down is a failure"
            );
            break;
        }
        assert!(Instant::now() < deadline, "the restart was never counted:\n{}", fnwire.output());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

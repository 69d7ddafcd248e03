//! Worker supervision, process count and functionTimeout through the real `fnwire` binary.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::support::*;

/// Polls `url` until it answers 200 (bounded); only 503 is accepted meanwhile.
async fn wait_until_served(fnwire: &Fnwire, url: &str) -> Reply {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = get(url).await;
        if r.status == 200 {
            return r;
        }
        assert_eq!(r.status, 503, "{}", r.body);
        assert!(Instant::now() < deadline, "{url} never came back:\n{}", fnwire.output());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn kill_9_under_load_gives_503_to_in_flight_requests_and_the_worker_comes_back() {
    let app = test_worker_app();
    let mut fnwire = Fnwire::start(app.path(), &[]);
    let workers = fnwire.children();
    assert_eq!(workers.len(), 1);
    // `slow` never answers on its own: these requests are in flight when the worker dies.
    let in_flight: Vec<_> = (0..20).map(|_| tokio::spawn(get_owned(fnwire.url("/api/slow")))).collect();
    let load: Vec<_> = (0..20).map(|_| tokio::spawn(get_owned(fnwire.url("/api/hello")))).collect();
    fnwire.wait_for_output("test worker handling id-slow", Duration::from_secs(10));
    let status = std::process::Command::new("kill").args(["-9", &workers[0].to_string()]).status().unwrap();
    assert!(status.success());
    for r in in_flight {
        // Bounded: a hang fails here instead of blocking the suite.
        let r = tokio::time::timeout(Duration::from_secs(30), r)
            .await
            .expect("an in-flight request hung")
            .unwrap();
        assert_eq!(r.status, 503, "{}", r.body);
        assert!(r.body.contains("no worker is available"), "{}", r.body);
    }
    for r in load {
        let r = tokio::time::timeout(Duration::from_secs(30), r).await.expect("a request hung").unwrap();
        assert!(r.status == 200 || r.status == 503, "{} {}", r.status, r.body);
    }
    let r = wait_until_served(&fnwire, &fnwire.url("/api/hello")).await;
    assert_eq!(r.body, "Hello, world!");
    let now = fnwire.children();
    assert_eq!(now.len(), 1, "{now:?}");
    assert_ne!(now, workers, "a new worker process serves");
    assert!(fnwire.terminate().success());
}

/// Waits (bounded) until `needle` appears `count` times in the output.
async fn wait_for_count(fnwire: &Fnwire, needle: &str, count: usize) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while fnwire.output().matches(needle).count() < count {
        assert!(Instant::now() < deadline, "`{needle}` did not appear {count} times:\n{}", fnwire.output());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn get_owned(url: String) -> Reply {
    get(&url).await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_that_keeps_crashing_is_given_up_on_and_the_host_exits_non_zero() {
    let app = test_worker_app();
    let marker = app.path().join("crashed-once");
    std::fs::write(
        app.path().join("local.settings.json"),
        serde_json::json!({"Values": {"TEST_WORKER_CRASH_MARKER": marker}}).to_string(),
    )
    .unwrap();
    let mut fnwire = Fnwire::start(app.path(), &[]);
    // The first worker dies; every restart crashes at once.
    assert_eq!(get(&fnwire.url("/api/die")).await.status, 503);
    // A process manager sees the exit and restarts fnwire.
    let status = fnwire.wait_exit(Duration::from_secs(60));
    assert!(!status.success(), "{status:?}\n{}", fnwire.output());
    let out = fnwire.output();
    assert!(out.contains("crashing at start on purpose"), "{out}");
    assert!(out.contains("giving up"), "{out}");
    assert!(out.contains("fnwire is exiting because its worker kept failing"), "{out}");
    assert!(out.contains("stopped restarting"), "the final message says why:\n{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn max_worker_failures_zero_exits_at_the_first_crash() {
    let app = test_worker_app();
    std::fs::write(
        app.path().join("host.json"),
        r#"{"version":"2.0","extensions":{"fnwire":{"maxWorkerFailures":0}}}"#,
    )
    .unwrap();
    let mut fnwire = Fnwire::start(app.path(), &[]);
    assert_eq!(get(&fnwire.url("/api/die")).await.status, 503);
    let status = fnwire.wait_exit(Duration::from_secs(60));
    assert!(!status.success(), "{status:?}\n{}", fnwire.output());
    assert!(fnwire.output().contains("the limit is 0"), "{}", fnwire.output());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_bad_supervision_setting_is_refused_at_start() {
    let app = test_worker_app();
    std::fs::write(
        app.path().join("host.json"),
        r#"{"version":"2.0","extensions":{"fnwire":{"workerRestartWait":"soon"}}}"#,
    )
    .unwrap();
    let mut fnwire = Fnwire::spawn(app.path(), &[]);
    assert!(!fnwire.wait_exit(Duration::from_secs(60)).success());
    let out = fnwire.output();
    assert!(out.contains("extensions.fnwire.workerRestartWait") && out.contains("soon"), "{out}");
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_that_arrive_while_the_worker_restarts_wait_for_it() {
    let app = test_worker_app();
    let mut fnwire = Fnwire::start(app.path(), &[]);
    for _ in 0..3 {
        let workers = fnwire.children();
        // The invocation in flight when the worker exits fails; the pool has seen the exit
        // when that answer arrives, so the next request finds no live worker.
        assert_eq!(get(&fnwire.url("/api/restart")).await.status, 503);
        let r = get(&fnwire.url("/api/hello")).await;
        assert_eq!(r.status, 200, "the request waited for the new worker: {}", r.body);
        assert_ne!(fnwire.children(), workers, "a new worker answered");
    }
    assert!(fnwire.terminate().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn with_no_restart_wait_requests_during_a_restart_get_503_at_once() {
    let app = test_worker_app();
    std::fs::write(
        app.path().join("host.json"),
        r#"{"version":"2.0","extensions":{"fnwire":{"workerRestartWait":"00:00:00"}}}"#,
    )
    .unwrap();
    let mut fnwire = Fnwire::start(app.path(), &[]);
    assert_eq!(get(&fnwire.url("/api/restart")).await.status, 503);
    let r = get(&fnwire.url("/api/hello")).await;
    assert_eq!(r.status, 503, "{}", r.body);
    assert!(r.body.contains("workerRestartWait"), "{}", r.body);
    wait_until_served(&fnwire, &fnwire.url("/api/hello")).await;
    assert!(fnwire.terminate().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_timed_out_function_that_does_not_end_gets_its_worker_restarted() {
    let app = test_worker_app();
    std::fs::write(
        app.path().join("host.json"),
        r#"{"version":"2.0","functionTimeout":"00:00:01",
            "extensions":{"fnwire":{"functionTimeoutGracePeriod":"00:00:00.5"}}}"#,
    )
    .unwrap();
    let mut fnwire = Fnwire::start(app.path(), &[]);
    let workers = fnwire.children();
    let r =
        tokio::time::timeout(Duration::from_secs(60), get(&fnwire.url("/api/stuck"))).await.expect("no hang");
    assert_eq!(r.status, 504, "{}", r.body);
    fnwire.wait_for_output("test worker: cancel ", Duration::from_secs(10));
    fnwire.wait_for_output("did not end within 500ms after functionTimeout", Duration::from_secs(10));
    assert_processes_gone(&workers);
    let r = wait_until_served(&fnwire, &fnwire.url("/api/hello")).await;
    assert_eq!(r.body, "Hello, world!");
    let now = fnwire.children();
    assert_eq!(now.len(), 1, "{now:?}");
    assert_ne!(now, workers, "a new worker process serves");
    // A stuck function is not a broken worker: the restart is not counted towards giving up.
    for restarts in 2..=5 {
        assert_eq!(get(&fnwire.url("/api/stuck")).await.status, 504);
        wait_for_count(&fnwire, "restarting worker 0", restarts).await;
        wait_until_served(&fnwire, &fnwire.url("/api/hello")).await;
    }
    assert!(!fnwire.output().contains("giving up"), "{}", fnwire.output());
    assert!(fnwire.terminate().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn process_count_two_runs_two_workers_that_both_serve() {
    let app = test_worker_app();
    std::fs::write(
        app.path().join("local.settings.json"),
        r#"{"Values":{"FUNCTIONS_WORKER_PROCESS_COUNT":"2"}}"#,
    )
    .unwrap();
    let mut fnwire = Fnwire::start(app.path(), &[]);
    fnwire.wait_for_output("worker 1 ready", Duration::from_secs(60));
    let workers: HashSet<u32> = fnwire.children().into_iter().collect();
    assert_eq!(workers.len(), 2, "{workers:?}");
    let mut served = HashSet::new();
    for _ in 0..20 {
        let r = get(&fnwire.url("/api/pid")).await;
        assert_eq!(r.status, 200, "{}", r.body);
        served.insert(r.body.parse::<u32>().unwrap());
    }
    assert_eq!(served, workers, "both worker processes serve");
    assert!(fnwire.terminate().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn process_count_out_of_range_is_refused_at_start() {
    let app = test_worker_app();
    std::fs::write(
        app.path().join("local.settings.json"),
        r#"{"Values":{"FUNCTIONS_WORKER_PROCESS_COUNT":"zero"}}"#,
    )
    .unwrap();
    let mut fnwire = Fnwire::spawn(app.path(), &[]);
    let status = fnwire.wait_exit(Duration::from_secs(60));
    assert!(!status.success());
    assert!(fnwire.output().contains("FUNCTIONS_WORKER_PROCESS_COUNT is `zero`"), "{}", fnwire.output());
}

#[tokio::test(flavor = "multi_thread")]
async fn function_timeout_answers_504_and_cancels_the_invocation() {
    let app = test_worker_app();
    std::fs::write(app.path().join("host.json"), r#"{"version":"2.0","functionTimeout":"00:00:01"}"#)
        .unwrap();
    let mut fnwire = Fnwire::start(app.path(), &[]);
    let r =
        tokio::time::timeout(Duration::from_secs(60), get(&fnwire.url("/api/slow"))).await.expect("no hang");
    assert_eq!(r.status, 504, "{}", r.body);
    assert!(r.body.contains("functionTimeout"), "{}", r.body);
    fnwire.wait_for_output("test worker: cancel ", Duration::from_secs(10));
    fnwire.wait_for_output("sent InvocationCancel", Duration::from_secs(10));
    // The worker keeps serving.
    assert_eq!(get(&fnwire.url("/api/hello")).await.status, 200);
    assert!(fnwire.terminate().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hung_worker_is_killed_and_restarted_and_its_requests_get_503() {
    let app = test_worker_app();
    std::fs::write(
        app.path().join("local.settings.json"),
        r#"{"Values":{"FNWIRE_WORKER_STATUS_INTERVAL":"0.2","FNWIRE_WORKER_STATUS_TIMEOUT":"1"}}"#,
    )
    .unwrap();
    let mut fnwire = Fnwire::start(app.path(), &[]);
    let workers = fnwire.children();
    let r =
        tokio::time::timeout(Duration::from_secs(60), get(&fnwire.url("/api/hang"))).await.expect("no hang");
    assert_eq!(r.status, 503, "{}", r.body);
    // Log lines arrive asynchronously: bounded waits, not immediate checks.
    fnwire.wait_for_output("test worker: hanging", Duration::from_secs(10));
    fnwire.wait_for_output("did not answer WorkerStatusRequest", Duration::from_secs(10));
    assert_processes_gone(&workers);
    let r = wait_until_served(&fnwire, &fnwire.url("/api/hello")).await;
    assert_eq!(r.body, "Hello, world!");
    assert!(fnwire.terminate().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn exit_code_200_restarts_the_worker_without_counting_a_failure() {
    let app = test_worker_app();
    let mut fnwire = Fnwire::start(app.path(), &[]);
    // More restarts than the failure limit (3 for one process): none of them counts.
    for _ in 0..5 {
        assert_eq!(get(&fnwire.url("/api/restart")).await.status, 503);
        wait_until_served(&fnwire, &fnwire.url("/api/hello")).await;
    }
    assert!(!fnwire.output().contains("giving up"), "{}", fnwire.output());
    fnwire.wait_for_output("exit status: 200", Duration::from_secs(10));
    assert!(fnwire.terminate().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_queue_invocation_that_times_out_is_retried_like_a_failure() {
    let app = test_worker_app();
    std::fs::write(
        app.path().join("host.json"),
        r#"{"version":"2.0","functionTimeout":"00:00:01",
            "extensions":{"queues":{"maxDequeueCount":2,"maxPollingInterval":"00:00:00.2"}}}"#,
    )
    .unwrap();
    let store = fnwire_storage::Store::open(&app.path().join(".fnwire")).unwrap();
    let put = store.put("slowjobs", b"never finishes", None).unwrap();
    let mut fnwire = Fnwire::start(app.path(), &[]);
    // Each attempt times out (the worker is told to cancel); after maxDequeueCount attempts
    // the message is poison, not lost.
    let deadline = Instant::now() + Duration::from_secs(120);
    while store.message_count("slowjobs-poison").unwrap() == 0 {
        assert!(Instant::now() < deadline, "the message never reached slowjobs-poison:\n{}", fnwire.output());
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let poisoned = store.peek("slowjobs-poison", 10).unwrap();
    assert_eq!(poisoned[0].id, put.id);
    // The store changes before the console writer thread has written the line that says so.
    fnwire.wait_for_output("moved to queue `slowjobs-poison`", Duration::from_secs(10));
    let out = fnwire.output();
    assert_eq!(out.matches("exceeded functionTimeout").count(), 2, "one timeout per attempt:\n{out}");
    fnwire.wait_for_output("test worker: cancel ", Duration::from_secs(10));
    assert!(fnwire.terminate().success());
}

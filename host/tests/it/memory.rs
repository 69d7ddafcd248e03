//! Memory of a real `fnwire start` process: what a burst of large request bodies takes is given
//! back once their requests are answered.

use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::support::*;

/// Resident memory of a process, from `/proc/<pid>/status`.
fn resident_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/<pid>/status");
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/<pid>/status");
    kib / 1024.0
}

/// Size of each body in the burst, and how many are sent at once (four, as the probe in
/// RELIABILITY.md sends; the budget below admits all of them).
const BODY_MIB: usize = 48;
const BODIES: usize = 4;

#[tokio::test(flavor = "multi_thread")]
async fn memory_taken_by_a_burst_of_large_bodies_is_given_back() {
    let app = test_worker_app();
    let host = serde_json::json!({"version": "2.0", "extensions": {"fnwire": {
        "maxRequestBodySize": BODY_MIB * 1024 * 1024,
        "maxRequestBodyBytesInFlight": BODIES * BODY_MIB * 1024 * 1024,
    }}});
    std::fs::write(app.path().join("host.json"), host.to_string()).unwrap();
    let mut fnwire = Fnwire::start(app.path(), &[]);
    // Warm up the paths a request takes, so the baseline is the host's working size.
    for _ in 0..20 {
        assert_eq!(request("POST", &fnwire.url("/api/hello"), &[], "x").await.status, 200);
    }
    let pid = fnwire.child.id();
    let baseline = resident_mib(pid);

    let body = Bytes::from(vec![b'x'; BODY_MIB * 1024 * 1024]);
    let burst = (0..BODIES).map(|_| {
        let url = fnwire.url("/api/hello");
        let body = body.clone();
        async move { request("POST", &url, &[], body).await }
    });
    let sampling = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(true));
    let sampler = {
        let sampling = sampling.clone();
        tokio::spawn(async move {
            let mut peak = 0f64;
            while sampling.load(std::sync::atomic::Ordering::Relaxed) {
                peak = peak.max(resident_mib(pid));
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            peak
        })
    };
    let statuses = futures::future::join_all(burst).await;
    let statuses: Vec<(u16, String)> = statuses.into_iter().map(|r| (r.status, r.body)).collect();
    sampling.store(false, std::sync::atomic::Ordering::Relaxed);
    let peak = sampler.await.unwrap();
    assert!(statuses.iter().all(|(status, _)| *status == 200), "{statuses:?}\n{}", fnwire.output());
    drop(body);
    // The burst held about 2 × BODIES × BODY_MIB (each body, and its gRPC message); after it
    // the host must come back near its baseline. What may stay: the gRPC library (tonic) keeps
    // the buffer of the largest message it encoded for the worker's stream, about one body.
    // Polled with a bound, never timed.
    let allowed = baseline + BODY_MIB as f64 + 24.0;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut now = resident_mib(pid);
    while now > allowed && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
        now = resident_mib(pid);
    }
    eprintln!(
        "host resident memory: {baseline:.0} MiB before, {peak:.0} MiB at the peak, {now:.0} MiB after"
    );
    assert!(
        now <= allowed,
        "the host's resident memory was {baseline:.0} MiB before {BODIES} bodies of {BODY_MIB} MiB and is still \
         {now:.0} MiB after them (allowed: {allowed:.0} MiB)"
    );
    assert!(fnwire.terminate().success());
}

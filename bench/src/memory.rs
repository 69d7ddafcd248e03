//! `rss-after-load`: does the host keep memory it took to serve a million requests?
//!
//! The host (`fnwire start`, packed hello-rust) and the plain hyper server answering the same
//! bytes each serve [`REQUESTS`] requests over 64 connections; the row is each one's resident
//! memory once the load has stopped and it has been idle a moment, against the same figure
//! before the load (`:idle-before`). The host keeps per-request state in bounded places only (the
//! dashboard's recent invocations, metrics with fixed labels), so after a million requests it
//! should hold about what it held idle; a leak shows here as growth.

use std::sync::Mutex;
use std::time::Duration;

use crate::load::{Budget, http_get};
use crate::scenarios::{HELLO, HTTP_CONNECTIONS, Pairs, hello_rust_and_plain_server};
use crate::setup::Env;
use crate::stats::{Better, Row};

/// Requests each side serves before its memory is read (the "after 1 M requests").
const REQUESTS: usize = 1_000_000;
/// A bound on the load, so a slow machine ends the row instead of running on.
const LOAD_BOUND: Duration = Duration::from_secs(240);
/// Idle time before each reading, for freed memory to go back (the host's allocator returns
/// freed pages at once, see `fnwire_alloc`; this covers in-flight work finishing).
const SETTLE: Duration = Duration::from_secs(1);

pub async fn rss_after_load(env: &Env) -> anyhow::Result<Vec<Row>> {
    let (fnwire, plain) = hello_rust_and_plain_server(env, "rss-after-load").await?;

    let pairs: Mutex<Pairs> = Mutex::default();
    let mut served_counts = Vec::new();
    for (is_fnwire, served) in [(true, &fnwire), (false, &plain)] {
        tokio::time::sleep(SETTLE).await;
        let idle = served.rss_mb().unwrap_or(f64::NAN);
        let budget = Budget { concurrency: HTTP_CONNECTIONS, max_requests: REQUESTS, max_time: LOAD_BOUND };
        let load = http_get(served.addr, HELLO, budget).await.check("rss-after-load")?;
        tokio::time::sleep(SETTLE).await;
        let after = served.rss_mb().unwrap_or(f64::NAN);
        served_counts.push(load.completed);
        let mut pairs = pairs.lock().unwrap_or_else(|e| e.into_inner());
        pairs.push(is_fnwire, "after", after);
        pairs.push(is_fnwire, "idle", idle);
    }
    let pairs = pairs.into_inner().unwrap_or_else(|e| e.into_inner());
    let note = format!(
        "rss-after-load: resident memory of the fnwire host (packed hello-rust) and of a plain hyper server after each served {} requests over {HTTP_CONNECTIONS} connections (fnwire: {}, plain: {} completed); :idle-before is the same process idle before the load",
        REQUESTS,
        served_counts.first().copied().unwrap_or(0),
        served_counts.get(1).copied().unwrap_or(0),
    );
    Ok(vec![
        pairs.row("rss-after-load", "after", "MB RSS after load", Better::Lower).with_note(note),
        pairs.row("rss-after-load:idle-before", "idle", "MB idle RSS before", Better::Lower),
    ])
}

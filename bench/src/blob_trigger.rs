//! The `blob-trigger` row: 4 KB blobs written into the embedded store's blob folder until every
//! one has run examples/thumbnails `thumbnail` (blob trigger → blob + table + queue outputs),
//! against the queue trigger on the same kind of store in the same run: 4 KB messages through
//! hello-rust `work` (queue trigger → queue + blob outputs). The blob side writes one table row
//! per item more than the queue side; each is timed from its first finished item, since both
//! hosts find new work by polling (that wait is latency, not throughput).

use std::path::Path;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use fnwire_storage::{BlobStore, MessageBody, Store};

use crate::scenarios::{Pairs, alternate, fnwire_start, prune_older_than, unix_seconds};
use crate::setup::{Env, run};
use crate::stats::{Better, Row};

const READY: &str = "/admin/host/ping";
const START_BOUND: Duration = Duration::from_secs(300);
const ITEM_BYTES: usize = 4096;

/// Packs examples/thumbnails/rust (release) next to the packed hello-rust.
fn prepare(env: &Env) -> anyhow::Result<std::path::PathBuf> {
    let app = env.work.join("thumbnails-rust");
    run(
        "packing thumbnails",
        std::process::Command::new(env.fnwire())
            .arg("pack")
            .arg(env.root.join("examples/thumbnails/rust"))
            .arg("--out")
            .arg(&app)
            .current_dir(&env.root),
    )?;
    let host_json = serde_json::json!({
        "version": "2.0",
        "extensions": { "queues": { "maxPollingInterval": "00:00:00.1", "batchSize": 16, "maxDequeueCount": 5 } }
    });
    std::fs::write(app.join("host.json"), serde_json::to_string_pretty(&host_json)?)?;
    Ok(app)
}

/// Waits until `count()` reaches `target` (counted from `before`) and returns items/s timed from
/// the first finished item.
async fn rate_from_first_done(
    what: &str,
    n: usize,
    before: usize,
    count: impl Fn() -> anyhow::Result<usize>,
    log: impl Fn() -> String,
) -> anyhow::Result<f64> {
    let bound = Duration::from_secs(180);
    let put_at = Instant::now();
    let mut first: Option<(Instant, usize)> = None;
    loop {
        let done = count()?.saturating_sub(before);
        if first.is_none() && done > 0 {
            first = Some((Instant::now(), done));
        }
        if done >= n {
            break;
        }
        if put_at.elapsed() > bound {
            anyhow::bail!("{what}: {n} items not processed within {bound:?}; {}", log());
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let (since, counted) = first.unwrap_or((put_at, 0));
    Ok((n - counted) as f64 / since.elapsed().as_secs_f64().max(1e-9))
}

pub async fn blob_trigger(env: &Env) -> anyhow::Result<Vec<Row>> {
    let n = if env.quick { 500 } else { 2_000 };
    let app = prepare(env)?;
    let root = env.work.join("blob-trigger-stores");
    prune_older_than(&root, Duration::from_secs(24 * 3600));
    let stores = root.join(format!("run-{}-{}", std::process::id(), unix_seconds()));
    measure(env, n, &app, &stores).await
}

async fn measure(env: &Env, n: usize, app: &Path, stores: &Path) -> anyhow::Result<Vec<Row>> {
    let (blob_dir, queue_dir) = (stores.join("blob"), stores.join("queue"));
    std::fs::create_dir_all(&blob_dir)?;
    std::fs::create_dir_all(&queue_dir)?;
    let (blob_env, queue_env) = (blob_dir.display().to_string(), queue_dir.display().to_string());
    let mut blob_host = fnwire_start(env, "blob-trigger-fnwire", app, &[("FNWIRE_STORAGE_DIR", &blob_env)])?;
    blob_host.wait_ready(READY, Instant::now(), START_BOUND).await?;
    let mut queue_host =
        fnwire_start(env, "blob-trigger-queue", &env.rust_app(), &[("FNWIRE_STORAGE_DIR", &queue_env)])?;
    queue_host.wait_ready(READY, Instant::now(), START_BOUND).await?;
    let (blob_store, queue_store) = (Store::open(&blob_dir)?, Store::open(&queue_dir)?);
    let blobs = BlobStore::new(blob_dir.join("blobs"));
    let content = vec![b'x'; ITEM_BYTES];
    let results: Mutex<Vec<(bool, f64)>> = Mutex::default();
    let mut round = 0;
    alternate(
        env.rounds(),
        || {
            round += 1;
            let (blobs, content, store, results, host) =
                (&blobs, &content, &blob_store, &results, &blob_host);
            async move {
                let before = store.message_count("thumbnailed")? as usize;
                for i in 0..n {
                    blobs.write(&format!("uploads/r{round}/b{i:05}"), content)?;
                }
                let count = || Ok(store.message_count("thumbnailed")? as usize);
                let rate = rate_from_first_done("blob-trigger", n, before, count, || host.log_tail()).await?;
                results.lock().unwrap_or_else(|e| e.into_inner()).push((true, rate));
                Ok(())
            }
        },
        || {
            let (content, store, results, host) = (&content, &queue_store, &results, &queue_host);
            async move {
                let before = store.message_count("done")? as usize;
                let batch: Vec<MessageBody> =
                    (0..n).map(|_| MessageBody::new("jobs", content.clone())).collect();
                store.put_many(&batch)?;
                let count = || Ok(store.message_count("done")? as usize);
                let rate =
                    rate_from_first_done("queue baseline", n, before, count, || host.log_tail()).await?;
                results.lock().unwrap_or_else(|e| e.into_inner()).push((false, rate));
                Ok(())
            }
        },
    )
    .await?;
    let mut pairs = Pairs::default();
    for (is_blob, v) in results.into_inner().unwrap_or_else(|e| e.into_inner()) {
        pairs.push(is_blob, "ips", v);
    }
    Ok(vec![pairs.row("blob-trigger", "ips", "blobs/s", Better::Higher).with_note(format!(
        "blob-trigger: {n} blobs of 4 KB per round written into the embedded blob folder, through examples/thumbnails `thumbnail` (blob trigger → blob + table + queue outputs), vs {n} 4 KB messages through hello-rust `work` (queue trigger → queue + blob outputs) on the same kind of store; each timed from its first finished item"
    ))])
}

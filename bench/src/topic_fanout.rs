//! `topic-fanout`: messages/s published to a Service Bus topic with four subscriptions, each
//! with its own SQL filter, and delivered to each subscription's function
//! (`bench/apps/topic-fanout-rust`: every message passes all four filters, so it is delivered
//! four times), against the same messages on one plain storage queue with one function, under
//! the same host. Each function completes its message together with one storage-queue output,
//! which the bench counts in the store.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use fnwire_messaging::Message;
use fnwire_storage::{MessageBody, Outgoing, Store};

use crate::procs::Served;
use crate::scenarios::{Pairs, START_BOUND, alternate, fnwire_start, prune_older_than, unix_seconds};
use crate::setup::{Env, run};
use crate::stats::{Better, Row};

const TOPIC: &str = "fanout";
const SUBSCRIPTIONS: usize = 4;
const FANOUT_DONE: &str = "fanout-done";
const PLAIN: &str = "plain";
const PLAIN_DONE: &str = "plain-done";
/// Bound for one round; never a timing assertion.
const ROUND_BOUND: Duration = Duration::from_secs(300);

pub async fn topic_fanout(env: &Env) -> anyhow::Result<Vec<Row>> {
    let n = if env.quick { 1_000 } else { 5_000 };
    let app = packed_app(env)?;
    // A folder per run, as the queue row does (see there why old ones are kept a day).
    let root = env.work.join("topic-fanout-stores");
    prune_older_than(&root, Duration::from_secs(24 * 3600));
    let storage = root.join(format!("run-{}-{}", std::process::id(), unix_seconds()));
    std::fs::create_dir_all(&storage)?;
    let storage_text = storage.display().to_string();
    let mut fnwire =
        fnwire_start(env, "topic-fanout-fnwire", &app, &[("FNWIRE_STORAGE_DIR", &storage_text)])?;
    fnwire.wait_ready("/api/ready", Instant::now(), START_BOUND).await?;
    let store = Store::open(&storage)?;
    let mut pairs = Pairs::default();
    let mut round_no = 0;
    let results = std::sync::Mutex::new(Vec::new());
    alternate(
        env.rounds(),
        || {
            round_no += 1;
            let (store, fnwire, results, round) = (&store, &fnwire, &results, round_no);
            async move {
                let sends = (0..n).map(|i| Outgoing::new(TOPIC, sale(round, i))).collect::<Vec<_>>();
                let rate = deliver(store, fnwire, FANOUT_DONE, SUBSCRIPTIONS, n, || {
                    let outcomes = store.send(&sends)?;
                    let copies: usize = outcomes.iter().map(|o| o.copies).sum();
                    anyhow::ensure!(
                        copies == n * SUBSCRIPTIONS,
                        "topic-fanout: {n} messages made {copies} copies, not {}: a filter of \
                         bench/apps/topic-fanout-rust/servicebus.json no longer takes the bench's messages",
                        n * SUBSCRIPTIONS
                    );
                    Ok(())
                })
                .await?;
                results.lock().unwrap_or_else(|e| e.into_inner()).push((true, rate));
                Ok(())
            }
        },
        || {
            let (store, fnwire, results) = (&store, &fnwire, &results);
            async move {
                let batch = (0..n).map(|i| MessageBody::new(PLAIN, format!("sale {i}"))).collect::<Vec<_>>();
                let rate = deliver(store, fnwire, PLAIN_DONE, 1, n, || Ok(store.put_many(&batch)?)).await?;
                results.lock().unwrap_or_else(|e| e.into_inner()).push((false, rate));
                Ok(())
            }
        },
    )
    .await?;
    for (is_fnwire, rate) in results.into_inner().unwrap_or_else(|e| e.into_inner()) {
        pairs.push(is_fnwire, "mps", rate);
    }
    drop(fnwire);
    let _ = std::fs::remove_dir_all(&storage);
    Ok(vec![pairs.row("topic-fanout", "mps", "messages/s", Better::Higher).with_note(format!(
        "topic-fanout: {n} messages per round sent in one transaction to a topic with {SUBSCRIPTIONS} subscriptions, each \
         with a SQL filter every message passes (bench/apps/topic-fanout-rust: {SUBSCRIPTIONS} deliveries a message, \
         each completed with a queue output), vs the same {n} messages on one plain storage queue with one function \
         (queue trigger → queue output), same host and store; published messages/s, timed from the first delivery \
         done to the last"
    ))])
}

/// One sale that every subscription's filter takes; ids differ per round.
fn sale(round: usize, i: usize) -> Message {
    Message::new(format!("{{\"sale\":{i}}}"))
        .with_system("MessageId", &format!("r{round}-{i}"))
        .with_property("type", "order")
        .with_property("total", 150.0 + (i % 100) as f64)
        .with_property("region", if i % 2 == 0 { "eu" } else { "us" })
        .with_property("sku", format!("A-{}", i % 7).as_str())
}

/// Publishes with `publish`, then waits until `per_message × n` more messages are on `done`:
/// published messages per second, from the first delivery done to the last (the host finds
/// messages by polling, and the wait for that poll is latency, not throughput).
async fn deliver(
    store: &Store,
    host: &Served,
    done: &str,
    per_message: usize,
    n: usize,
    publish: impl FnOnce() -> anyhow::Result<()>,
) -> anyhow::Result<f64> {
    let expected = per_message * n;
    let before = store.message_count(done)? as usize;
    let sent_at = Instant::now();
    publish()?;
    let mut first: Option<(Instant, usize)> = None;
    loop {
        let delivered = store.message_count(done)? as usize - before;
        if first.is_none() && delivered > 0 {
            first = Some((Instant::now(), delivered));
        }
        if delivered >= expected {
            break;
        }
        if sent_at.elapsed() > ROUND_BOUND {
            anyhow::bail!(
                "topic-fanout: only {delivered} of {expected} deliveries reached `{done}` within {ROUND_BOUND:?}; {}",
                host.log_tail()
            );
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let (since, counted) = first.unwrap_or((sent_at, 0));
    let messages = (expected - counted) as f64 / per_message as f64;
    Ok(messages / since.elapsed().as_secs_f64())
}

/// `fnwire pack bench/apps/topic-fanout-rust` (a release build), with its `servicebus.json`
/// (the subscriptions and their filters) beside the packed host.json.
fn packed_app(env: &Env) -> anyhow::Result<PathBuf> {
    let source = env.root.join("bench/apps/topic-fanout-rust");
    let out = env.work.join("bench-topic-fanout-rust");
    eprintln!("preparing: fnwire pack bench/apps/topic-fanout-rust");
    run(
        "packing bench/apps/topic-fanout-rust",
        Command::new(env.fnwire()).arg("pack").arg(&source).arg("--out").arg(&out).current_dir(&env.root),
    )?;
    copy_declarations(&source, &out)?;
    Ok(out)
}

fn copy_declarations(source: &Path, out: &Path) -> anyhow::Result<()> {
    let from = source.join("servicebus.json");
    std::fs::copy(&from, out.join("servicebus.json"))
        .map(|_| ())
        .map_err(|e| anyhow::anyhow!("copying {} into the packed app: {e}", from.display()))
}

//! `rabbitmq`: messages/s through a `rabbitMQTrigger` function under `fnwire start`
//! (`bench/apps/rabbitmq-rust` `relay`: trigger → `rabbitMQ` output, acknowledged after the
//! output is confirmed), against a lapin consumer alone in the bench process doing the same
//! broker work with the same prefetch (consume, publish to the done queue with a confirm, ack).
//! Both sides run against the broker of `FNWIRE_TEST_AMQP` (default guest@127.0.0.1:5672) on
//! queues of their own, which are deleted afterwards.

use std::path::PathBuf;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicPublishOptions, BasicQosOptions, ConfirmSelectOptions,
    QueueDeclareOptions, QueueDeleteOptions, QueuePurgeOptions,
};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

use crate::scenarios::{START_BOUND, fnwire_start};
use crate::setup::{Env, run};
use crate::stats::{Better, Row};

const FNWIRE_IN: &str = "fnwire-bench-in";
const FNWIRE_DONE: &str = "fnwire-bench-done";
const BASELINE_IN: &str = "fnwire-bench-baseline-in";
const BASELINE_DONE: &str = "fnwire-bench-baseline-done";
/// `extensions.rabbitMQ.prefetchCount` of the app, and the baseline consumer's `basic.qos`.
const PREFETCH: u16 = 64;
/// Bound for one round; never a timing assertion.
const ROUND_BOUND: Duration = Duration::from_secs(300);

fn broker_url() -> String {
    std::env::var("FNWIRE_TEST_AMQP").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

pub async fn rabbitmq(env: &Env) -> anyhow::Result<Vec<Row>> {
    let n = if env.quick { 2_000 } else { 10_000 };
    let url = broker_url();
    let connection = Connection::connect(&url, ConnectionProperties::default()).await.with_context(|| {
        format!("no RabbitMQ broker answers at {url}; start one with scripts/rabbitmq.sh")
    })?;
    let channel = connection.create_channel().await?;
    channel.confirm_select(ConfirmSelectOptions::default()).await?;
    for queue in [FNWIRE_IN, FNWIRE_DONE, BASELINE_IN, BASELINE_DONE] {
        let durable = QueueDeclareOptions { durable: true, ..Default::default() };
        channel.queue_declare(queue.into(), durable, FieldTable::default()).await?;
        channel.queue_purge(queue.into(), QueuePurgeOptions::default()).await?;
    }
    let result = measure(env, &url, &channel, n).await;
    for queue in [FNWIRE_IN, FNWIRE_DONE, BASELINE_IN, BASELINE_DONE] {
        let _ = channel.queue_delete(queue.into(), QueueDeleteOptions::default()).await;
    }
    let pairs = result?;
    Ok(vec![pairs.row("rabbitmq", "mps", "messages/s", Better::Higher).with_note(format!(
        "rabbitmq: {n} messages per round published (confirmed) to a queue and relayed by bench/apps/rabbitmq-rust \
         `relay` (rabbitMQTrigger → rabbitMQ output, prefetch {PREFETCH}) until all are on the done queue, vs a \
         lapin consumer alone in the bench process doing the same (consume, publish with confirm, ack); timed from \
         the first publish"
    ))])
}

async fn measure(
    env: &Env,
    url: &str,
    channel: &Channel,
    n: usize,
) -> anyhow::Result<crate::scenarios::Pairs> {
    let app = packed_app(env)?;
    let mut fnwire = fnwire_start(env, "rabbitmq-fnwire", &app, &[("RabbitMQConnection", url)])?;
    fnwire.wait_ready("/api/ready", Instant::now(), START_BOUND).await?;
    let baseline = tokio::spawn(baseline_consumer(url.to_string()));
    let fnwire = &fnwire;
    let pairs = crate::durable::measure_alternately(
        env.rounds(),
        "mps",
        || async move { round(channel, FNWIRE_IN, FNWIRE_DONE, n).await.with_context(|| fnwire.log_tail()) },
        || round(channel, BASELINE_IN, BASELINE_DONE, n),
    )
    .await;
    baseline.abort();
    pairs
}

/// `fnwire pack bench/apps/rabbitmq-rust` (a release build), with the prefetch in host.json.
fn packed_app(env: &Env) -> anyhow::Result<PathBuf> {
    let out = env.work.join("bench-rabbitmq-rust");
    eprintln!("preparing: fnwire pack bench/apps/rabbitmq-rust");
    run(
        "packing bench/apps/rabbitmq-rust",
        Command::new(env.fnwire())
            .arg("pack")
            .arg(env.root.join("bench/apps/rabbitmq-rust"))
            .arg("--out")
            .arg(&out)
            .current_dir(&env.root),
    )?;
    let host_json = serde_json::json!({
        "version": "2.0",
        "extensions": { "http": { "routePrefix": "api" }, "rabbitMQ": { "prefetchCount": PREFETCH } }
    });
    std::fs::write(out.join("host.json"), serde_json::to_string_pretty(&host_json)?)?;
    Ok(out)
}

/// Publishes `n` messages to `input` and waits until `n` are on `done`: messages/s.
async fn round(channel: &Channel, input: &str, done: &str, n: usize) -> anyhow::Result<f64> {
    channel.queue_purge(done.into(), QueuePurgeOptions::default()).await?;
    let started = Instant::now();
    let mut confirms = Vec::with_capacity(n);
    for i in 0..n {
        let body = format!("order {i}");
        let confirm = channel
            .basic_publish(
                "".into(),
                input.into(),
                BasicPublishOptions::default(),
                body.as_bytes(),
                BasicProperties::default(),
            )
            .await?;
        confirms.push(confirm);
    }
    for confirm in confirms {
        confirm.await?;
    }
    loop {
        let passive = QueueDeclareOptions { passive: true, ..Default::default() };
        let count = channel.queue_declare(done.into(), passive, FieldTable::default()).await?.message_count();
        if count as usize >= n {
            break;
        }
        if started.elapsed() > ROUND_BOUND {
            anyhow::bail!("rabbitmq: only {count} of {n} messages reached `{done}` within {ROUND_BOUND:?}");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    Ok(n as f64 / started.elapsed().as_secs_f64())
}

/// The baseline: consume with the same prefetch, publish each message to the done queue and wait
/// for the confirm, then acknowledge it, one task per message (as the host settles them).
async fn baseline_consumer(url: String) -> anyhow::Result<()> {
    let connection = Connection::connect(&url, ConnectionProperties::default()).await?;
    let channel = connection.create_channel().await?;
    channel.basic_qos(PREFETCH, BasicQosOptions::default()).await?;
    let publish = Arc::new(connection.create_channel().await?);
    publish.confirm_select(ConfirmSelectOptions::default()).await?;
    let mut consumer = channel
        .basic_consume(BASELINE_IN.into(), "".into(), BasicConsumeOptions::default(), FieldTable::default())
        .await?;
    while let Some(delivery) = consumer.next().await {
        let delivery = delivery?;
        let publish = publish.clone();
        tokio::spawn(async move {
            let sent = publish
                .basic_publish(
                    "".into(),
                    BASELINE_DONE.into(),
                    BasicPublishOptions::default(),
                    &delivery.data,
                    BasicProperties::default().with_delivery_mode(2),
                )
                .await;
            if let Ok(confirm) = sent {
                if confirm.await.is_ok() {
                    let _ = delivery.ack(BasicAckOptions::default()).await;
                }
            }
        });
    }
    Ok(())
}

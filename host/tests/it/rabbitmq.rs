//! RabbitMQ triggers and outputs through the real `fnwire` binary and a real broker
//! (`FNWIRE_TEST_AMQP`, set by `scripts/rabbitmq.sh`; else guest@127.0.0.1:5672). The test
//! worker relays (upper-cases) messages for functions named `relay*` and fails every other
//! function it does not know. Each test uses queues of its own and deletes them.

use std::path::Path;
use std::time::Duration;

use lapin::options::{BasicGetOptions, BasicPublishOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};

use crate::support::*;

const WORK_BOUND: Duration = Duration::from_secs(120);

// The broker helpers of the rabbitmq crate's own tests (URL, unique names, a vhost of one's own);
// this file uses part of them.
#[allow(dead_code)]
#[path = "../../../rabbitmq/tests/it/broker.rs"]
mod broker;
use broker::{Vhost, broker_url, unique};

async fn channel() -> (Connection, Channel) {
    let url = broker_url();
    let connection = Connection::connect(&url, ConnectionProperties::default())
        .await
        .unwrap_or_else(|e| panic!("no RabbitMQ broker answers at {url} ({e}); run scripts/rabbitmq.sh"));
    let channel = connection.create_channel().await.unwrap();
    (connection, channel)
}

async fn declare(channel: &Channel, queue: &str) {
    let options = QueueDeclareOptions { durable: true, ..Default::default() };
    channel.queue_declare(queue.into(), options, FieldTable::default()).await.unwrap();
}

async fn publish(channel: &Channel, queue: &str, body: &str) {
    let properties = BasicProperties::default();
    let options = BasicPublishOptions::default();
    channel
        .basic_publish("".into(), queue.into(), options, body.as_bytes(), properties)
        .await
        .unwrap()
        .await
        .unwrap();
}

async fn take_all(channel: &Channel, queue: &str, into: &mut Vec<String>) {
    while let Some(m) = channel.basic_get(queue.into(), BasicGetOptions { no_ack: true }).await.unwrap() {
        into.push(String::from_utf8(m.delivery.data).unwrap());
    }
}

async fn ready(channel: &Channel, queue: &str) -> u32 {
    let options = QueueDeclareOptions { passive: true, ..Default::default() };
    channel.queue_declare(queue.into(), options, FieldTable::default()).await.unwrap().message_count()
}

/// A function.json app on the test worker; the connection URI is in the `RabbitConn` setting.
fn app(functions: &[(&str, String)], host_json: &str, rabbit_conn: &str) -> tempfile::TempDir {
    app_with(functions, host_json, rabbit_conn, "")
}

/// As [`app`]; `relay_delay_ms` paces each relay when not empty.
fn app_with(
    functions: &[(&str, String)],
    host_json: &str,
    rabbit_conn: &str,
    relay_delay_ms: &str,
) -> tempfile::TempDir {
    let app = test_worker_app();
    let mut settings =
        serde_json::json!({"Values": {"TEST_WORKER_HOST_INDEXING": "1", "RabbitConn": rabbit_conn}});
    if !relay_delay_ms.is_empty() {
        settings["Values"]["TEST_WORKER_RELAY_DELAY_MS"] = relay_delay_ms.into();
    }
    std::fs::write(app.path().join("local.settings.json"), settings.to_string()).unwrap();
    std::fs::write(app.path().join("host.json"), host_json).unwrap();
    for (name, function_json) in functions {
        std::fs::create_dir(app.path().join(name)).unwrap();
        std::fs::write(app.path().join(name).join("function.json"), function_json).unwrap();
    }
    app
}

fn trigger_json(queue: &str, output_queue: Option<&str>) -> String {
    let mut bindings = vec![serde_json::json!({
        "type": "rabbitMQTrigger", "direction": "in", "name": "msg",
        "queueName": queue, "connectionStringSetting": "RabbitConn"
    })];
    if let Some(out) = output_queue {
        bindings.push(serde_json::json!({
            "type": "rabbitMQ", "direction": "out", "name": "$return",
            "queueName": out, "connectionStringSetting": "RabbitConn"
        }));
    }
    serde_json::json!({ "bindings": bindings }).to_string()
}

async fn poll_until(fnwire: &Fnwire, what: &str, mut done: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WORK_BOUND;
    while tokio::time::Instant::now() < deadline {
        if done().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("{what} did not happen within {WORK_BOUND:?}; output:\n{}", fnwire.output());
}

fn start(app: &Path) -> Fnwire {
    Fnwire::start(app, &["--debug"])
}

#[tokio::test(flavor = "multi_thread")]
async fn a_rabbitmq_trigger_relays_every_message_to_a_rabbitmq_output_through_fnwire_start() {
    const N: usize = 200;
    let (_c, channel) = channel().await;
    let (input, output) = (unique("in"), unique("out"));
    declare(&channel, &input).await;
    declare(&channel, &output).await;
    let app = app(
        &[("relay", trigger_json(&input, Some(&output)))],
        r#"{"version":"2.0","extensions":{"rabbitMQ":{"prefetchCount":16}}}"#,
        &broker_url(),
    );
    let mut fnwire = start(app.path());
    assert!(fnwire.output().contains(&format!("RabbitMQ queue {input}")), "{}", fnwire.output());
    assert!(!fnwire.output().contains("guest:guest@"), "the password is never printed");
    for i in 0..N {
        publish(&channel, &input, &format!("order {i}")).await;
    }
    let mut got = Vec::new();
    poll_until(&fnwire, "every message relayed", async || {
        take_all(&channel, &output, &mut got).await;
        got.len() >= N
    })
    .await;
    got.sort();
    let mut expected: Vec<String> = (0..N).map(|i| format!("ORDER {i}")).collect();
    expected.sort();
    assert_eq!(got, expected, "each message once, through the function");
    assert!(fnwire.terminate().success(), "{}", fnwire.output());
    assert_eq!(ready(&channel, &input).await, 0, "every trigger message was acknowledged");
    for q in [&input, &output] {
        channel.queue_delete(q.as_str().into(), QueueDeleteOptions::default()).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_function_moves_its_message_to_the_poison_queue_after_max_delivery_count() {
    let (_c, channel) = channel().await;
    let input = unique("fail");
    let poison = format!("{input}-poison");
    declare(&channel, &input).await;
    declare(&channel, &poison).await;
    // The test worker does not know `failing` and fails it.
    let app = app(
        &[("failing", trigger_json(&input, None))],
        r#"{"version":"2.0","extensions":{"rabbitMQ":{"maxDeliveryCount":3}}}"#,
        &broker_url(),
    );
    let mut fnwire = start(app.path());
    publish(&channel, &input, "bad order").await;
    let mut poisoned = Vec::new();
    poll_until(&fnwire, "the message reaching the poison queue", async || {
        take_all(&channel, &poison, &mut poisoned).await;
        !poisoned.is_empty()
    })
    .await;
    assert_eq!(poisoned, ["bad order"]);
    let out = fnwire.output();
    assert_eq!(out.matches("Executed 'failing' (Failed").count(), 3, "{out}");
    assert!(out.contains("attempt 1 of 3") && out.contains(&format!("moved to queue `{poison}`")), "{out}");
    assert!(fnwire.terminate().success());
    assert_eq!(ready(&channel, &input).await, 0);
    for q in [&input, &poison] {
        channel.queue_delete(q.as_str().into(), QueueDeleteOptions::default()).await.unwrap();
    }
}

#[test]
fn invalid_connection_settings_stop_the_host_at_start_naming_the_setting() {
    let function = trigger_json("orders", None);
    for (value, expected) in [
        ("", "`RabbitConn`"),
        ("localhost:5672", "`RabbitConn` does not hold a usable RabbitMQ URI"),
        ("amqps://u:topsecret@127.0.0.1/", "amqps://"),
    ] {
        let app = app(&[("consumer", function.clone())], r#"{"version":"2.0"}"#, value);
        let mut fnwire = Fnwire::spawn(app.path(), &[]);
        let status = fnwire.wait_exit(STARTUP_BOUND);
        let out = fnwire.output();
        assert!(!status.success(), "{out}");
        assert!(out.contains("function `consumer`") && out.contains(expected), "{value}: {out}");
        assert!(!out.contains("topsecret"), "{out}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_broker_closing_every_connection_mid_load_loses_no_message() {
    const N: usize = 600;
    let vhost = Vhost::new("vhost");
    let connect = async || {
        let connection = Connection::connect(&vhost.url, ConnectionProperties::default()).await.unwrap();
        let channel = connection.create_channel().await.unwrap();
        (connection, channel)
    };
    let (_c, channel) = connect().await;
    let (input, output) = ("in", "out");
    declare(&channel, input).await;
    declare(&channel, output).await;
    for i in 0..N {
        publish(&channel, input, &format!("order {i}")).await;
    }
    // Each relay takes 20 ms and 4 run at once: at most 200 messages/s, so the load lasts at
    // least 3 s, longer than rabbitmqctl takes to close the connections.
    let app = app_with(
        &[("relay", trigger_json(input, Some(output)))],
        r#"{"version":"2.0","extensions":{"rabbitMQ":{"prefetchCount":4}}}"#,
        &vhost.url,
        "20",
    );
    let mut fnwire = start(app.path());
    let mut got = Vec::new();
    // Both the listener's and the output publisher's connections are closed, twice, mid-load.
    let mut relayed_after_close = Vec::new();
    for share in [N / 10, N / 3] {
        let (_c, reader) = connect().await;
        // Progress is read as the output queue's length (one round trip), so that the load is
        // still running when the connections close.
        poll_until(&fnwire, "progress before closing the connections", async || {
            ready(&reader, output).await as usize >= share
        })
        .await;
        vhost.close_all_connections();
        // The close took this test's connections too: read through a new one.
        let (_c, after) = connect().await;
        relayed_after_close.push(ready(&after, output).await as usize);
    }
    let (_c, reader) = connect().await;
    let expected: std::collections::BTreeSet<String> = (0..N).map(|i| format!("ORDER {i}")).collect();
    poll_until(&fnwire, "every message relayed after the connections were closed", async || {
        take_all(&reader, output, &mut got).await;
        expected.iter().all(|e| got.contains(e))
    })
    .await;
    // The first close came mid-load: fewer than N messages were through when it had happened.
    assert!(relayed_after_close[0] < N, "the load finished before the close: {relayed_after_close:?}");
    let out = fnwire.output();
    assert!(out.contains("lost the RabbitMQ connection") || out.contains("ended the consumer"), "{out}");
    // A trigger message whose acknowledgement a closed connection took comes back and runs again:
    // stop the host only once the broker holds nothing of the input queue.
    poll_until(&fnwire, "the broker to hold nothing of the input queue", async || {
        vhost.unsettled(input) == 0
    })
    .await;
    assert!(fnwire.terminate().success(), "{}", fnwire.output());
    assert_eq!(ready(&reader, input).await, 0, "every trigger message was acknowledged");
    // At least once: a message whose acknowledgement the closed connection lost runs again.
    assert!(got.len() >= N && got.iter().all(|g| expected.contains(g)), "{} relayed", got.len());
}

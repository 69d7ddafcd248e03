//! Test helpers: the broker's URL, unique names, a vhost of one's own, queues to read. The
//! host's RabbitMQ tests use this file too (`host/tests/it/rabbitmq.rs`).

use std::time::Duration;

use futures::StreamExt as _;
use lapin::options::{BasicGetOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use lapin::{Channel, Connection, ConnectionProperties};

pub fn broker_url() -> String {
    std::env::var("FNWIRE_TEST_AMQP").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// A name no other test (or run) uses.
pub fn unique(prefix: &str) -> String {
    format!("fnwire-test-{prefix}-{}", uuid_ish())
}

fn uuid_ish() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().subsec_nanos();
    format!("{}-{nanos:x}-{}", std::process::id(), COUNTER.fetch_add(1, Ordering::Relaxed))
}

pub async fn connect(url: &str) -> (Connection, Channel) {
    let connection = Connection::connect(url, ConnectionProperties::default())
        .await
        .unwrap_or_else(|e| panic!("no RabbitMQ broker answers at {url} ({e}); run scripts/rabbitmq.sh"));
    let channel = connection.create_channel().await.unwrap();
    (connection, channel)
}

pub async fn declare(channel: &Channel, queue: &str, arguments: FieldTable) {
    channel
        .queue_declare(queue.into(), QueueDeclareOptions { durable: true, ..Default::default() }, arguments)
        .await
        .unwrap();
}

pub async fn delete(channel: &Channel, queue: &str) {
    let _ = channel.queue_delete(queue.into(), QueueDeleteOptions::default()).await;
}

/// Takes every message now on `queue` (acknowledging them).
pub async fn drain_queue(channel: &Channel, queue: &str) -> Vec<lapin::message::BasicGetMessage> {
    let mut out = Vec::new();
    while let Some(m) = channel.basic_get(queue.into(), BasicGetOptions { no_ack: true }).await.unwrap() {
        out.push(m);
    }
    out
}

/// Polls `check` until it is true, for at most `limit`.
pub async fn eventually(limit: Duration, mut check: impl AsyncFnMut() -> bool) -> bool {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if check().await {
            return true;
        }
        if tokio::time::Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A vhost of the test's own (guest may use it), so `rabbitmqctl close_all_connections -p`
/// touches no other test's connections. Deleted on drop.
pub struct Vhost {
    pub name: String,
    pub url: String,
}

fn rabbitmqctl(args: &[&str]) {
    let out = std::process::Command::new("rabbitmqctl").args(args).output().unwrap_or_else(|e| {
        panic!("rabbitmqctl could not run ({e}); this test needs the local broker's CLI")
    });
    assert!(out.status.success(), "rabbitmqctl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
}

impl Vhost {
    pub fn new(prefix: &str) -> Vhost {
        let name = unique(prefix);
        rabbitmqctl(&["add_vhost", &name]);
        rabbitmqctl(&["set_permissions", "-p", &name, "guest", ".*", ".*", ".*"]);
        let base = broker_url();
        let base = base.rsplit_once('/').map_or(base.as_str(), |(b, _)| b).to_string();
        Vhost { url: format!("{base}/{name}"), name }
    }

    /// Closes every client connection to this vhost, as a broker restart or an operator would.
    pub fn close_all_connections(&self) {
        rabbitmqctl(&["close_all_connections", "-p", &self.name, "closed by the test"]);
    }

    /// Messages on `queue` the broker still holds: ready, and delivered but not acknowledged.
    #[allow(dead_code)]
    pub fn unsettled(&self, queue: &str) -> u64 {
        let out = std::process::Command::new("rabbitmqctl")
            .args(["list_queues", "-p", &self.name, "-q", "--no-table-headers", "name", "messages"])
            .output()
            .expect("rabbitmqctl list_queues");
        assert!(out.status.success(), "rabbitmqctl list_queues: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|line| line.split_once(char::is_whitespace))
            .find(|(name, _)| *name == queue)
            .map_or(0, |(_, count)| count.trim().parse().expect("a message count"))
    }
}

impl Drop for Vhost {
    fn drop(&mut self) {
        let _ = std::process::Command::new("rabbitmqctl").args(["delete_vhost", &self.name]).output();
    }
}

#[allow(dead_code)]
pub async fn next_delivery(consumer: &mut lapin::Consumer) -> Option<lapin::message::Delivery> {
    tokio::time::timeout(Duration::from_secs(10), consumer.next()).await.ok()??.ok()
}

//! End to end: `fnwire start examples/orders`, then the README's requests: orders and quotes
//! published to the topic reach the function of the subscription whose filter takes them, and
//! only those; sales published to a RabbitMQ queue (the broker of `FNWIRE_TEST_AMQP`, set by
//! `scripts/rabbitmq.sh`; else guest@127.0.0.1:5672) are forwarded into the topic the same way.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use lapin::options::{BasicPublishOptions, QueueDeclareOptions, QueueDeleteOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties};
use serde_json::{Value, json};

fn workspace() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `fnwire` binary of this workspace, built if needed (the host is another package).
fn fnwire_exe() -> PathBuf {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--quiet", "-p", "fnwire-host", "--bin", "fnwire"])
        .current_dir(workspace())
        .status()
        .expect("run cargo to build fnwire");
    assert!(status.success(), "building fnwire failed");
    let target =
        std::env::var("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|_| workspace().join("target"));
    target.join("debug").join("fnwire")
}

/// `fnwire start` on this example with a store of its own; stopped when dropped.
struct Host {
    child: Child,
    base: String,
    output: Arc<Mutex<String>>,
}

impl Host {
    fn start(exe: &Path, storage: &Path, settings: &[(&str, &str)]) -> Host {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = Command::new(exe)
            .arg("start")
            .arg(env!("CARGO_MANIFEST_DIR"))
            .args(["--debug", "--port", &port.to_string()])
            .env("NO_COLOR", "1")
            .env("FNWIRE_STORAGE_DIR", storage)
            .envs(settings.iter().copied())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start fnwire");
        let output = Arc::new(Mutex::new(String::new()));
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        for stream in [
            Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
            Box::new(child.stderr.take().unwrap()),
        ] {
            let (output, ready_tx) = (Arc::clone(&output), ready_tx.clone());
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    if line.contains("Host started") {
                        let _ = ready_tx.send(());
                    }
                    output.lock().unwrap().push_str(&format!("{line}\n"));
                }
            });
        }
        let host = Host { child, base: format!("http://127.0.0.1:{port}"), output };
        // Generous: the first start builds the app.
        if ready_rx.recv_timeout(Duration::from_secs(600)).is_err() {
            panic!("fnwire did not start:\n{}", host.output.lock().unwrap());
        }
        host
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let _ = self.child.wait();
    }
}

async fn call(
    client: &Client<HttpConnector, Full<Bytes>>,
    method: &str,
    url: &str,
    body: &str,
) -> (u16, String) {
    let request = hyper::Request::builder()
        .method(method)
        .uri(url)
        .body(Full::new(Bytes::from(body.to_string())))
        .unwrap();
    let response = client.request(request).await.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&body).into())
}

#[tokio::test(flavor = "multi_thread")]
async fn orders_and_quotes_reach_the_function_of_the_subscription_that_takes_them() {
    let exe = fnwire_exe();
    let storage = tempfile_dir();
    let broker = Broker::connect().await;
    let inbox = format!("fnwire-orders-test-{}", std::process::id());
    broker.declare(&inbox).await;
    let url = broker_url();
    let host = Host::start(&exe, &storage, &[("RabbitMQConnection", &url), ("OrdersInboxQueue", &inbox)]);
    let client = Client::builder(TokioExecutor::new()).build_http();
    let base = host.base.clone();

    let sales = json!([
        {"id": "o-1", "type": "order", "total": 150},
        {"id": "o-2", "type": "order", "total": 50},
        {"id": "q-1", "type": "quote"},
        {"id": "o-3", "type": "order", "total": 101.5},
    ]);
    let (status, body) = call(&client, "POST", &format!("{base}/api/publish"), &sales.to_string()).await;
    assert_eq!((status, body.as_str()), (202, r#"{"published":4}"#));

    let mut handled = serde_json::Map::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while handled.len() < 3 && Instant::now() < deadline {
        for id in ["o-1", "q-1", "o-3"] {
            if handled.contains_key(id) {
                continue;
            }
            let (status, body) = call(&client, "GET", &format!("{base}/api/processed/{id}"), "").await;
            if status == 200 {
                handled.insert(id.into(), serde_json::from_str::<Value>(&body).unwrap());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(handled.len(), 3, "not every sale was handled:\n{}", host.output.lock().unwrap());
    assert_eq!(handled["o-1"]["handledBy"], "orders");
    assert_eq!(handled["o-1"]["priority"], "high", "the subscription's action marked its copy");
    assert_eq!(handled["o-3"]["handledBy"], "orders");
    assert_eq!(handled["q-1"]["handledBy"], "quotes");
    assert_eq!(handled["q-1"]["deliveryCount"], 1);

    // The small order was sent in the same transaction as the others, but no subscription
    // took it: nothing of it waits anywhere.
    let (status, _) = call(&client, "GET", &format!("{base}/api/processed/o-2"), "").await;
    assert_eq!(status, 404);
    let listed = Command::new(&exe)
        .args(["topic", "list", "--app", env!("CARGO_MANIFEST_DIR")])
        .env("FNWIRE_STORAGE_DIR", &storage)
        .output()
        .unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout).to_string();
    assert!(listed.contains("orders: 0 active, 0 dead-lettered"), "{listed}");
    assert!(listed.contains("quotes: 0 active, 0 dead-lettered"), "{listed}");

    // Bad input names the sale and what to send.
    let (status, body) =
        call(&client, "POST", &format!("{base}/api/publish"), r#"[{"id":"x","type":"thing"}]"#).await;
    assert_eq!(status, 400);
    assert!(body.contains("sale 0") && body.contains("\"order\" or \"quote\""), "{body}");

    // Sales from the RabbitMQ queue take the same way through the topic.
    broker.publish(&inbox, r#"{"id":"r-1","type":"order","total":250}"#).await;
    broker.publish(&inbox, r#"{"id":"r-2","type":"quote"}"#).await;
    broker.publish(&inbox, r#"{"id":"r-3","type":"order","total":20}"#).await;
    let mut forwarded = serde_json::Map::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    while forwarded.len() < 2 && Instant::now() < deadline {
        for id in ["r-1", "r-2"] {
            if forwarded.contains_key(id) {
                continue;
            }
            let (status, body) = call(&client, "GET", &format!("{base}/api/processed/{id}"), "").await;
            if status == 200 {
                forwarded.insert(id.into(), serde_json::from_str::<Value>(&body).unwrap());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(forwarded.len(), 2, "not every forwarded sale was handled:\n{}", host.output.lock().unwrap());
    assert_eq!(forwarded["r-1"]["handledBy"], "orders");
    assert_eq!(forwarded["r-1"]["priority"], "high");
    assert_eq!(forwarded["r-1"]["sale"]["total"], 250);
    assert_eq!(forwarded["r-2"]["handledBy"], "quotes");

    // A message that is not a sale fails each attempt and ends on the inbox's poison queue.
    let poison = format!("{inbox}-poison");
    broker.publish(&inbox, r#"{"id":"r-4","type":"refund"}"#).await;
    let deadline = Instant::now() + Duration::from_secs(120);
    while broker.ready(&poison).await != Some(1) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(broker.ready(&poison).await, Some(1), "{}", host.output.lock().unwrap());
    assert!(host.output.lock().unwrap().contains("is not a sale: `type` is `refund`"));
    // Everything the broker delivered was acknowledged, and the small order went nowhere.
    assert_eq!(broker.ready(&inbox).await, Some(0));
    let (status, _) = call(&client, "GET", &format!("{base}/api/processed/r-3"), "").await;
    assert_eq!(status, 404);

    drop(host);
    broker.delete(&[&inbox, &poison]).await;
    std::fs::remove_dir_all(&storage).ok();
}

fn broker_url() -> String {
    std::env::var("FNWIRE_TEST_AMQP").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into())
}

/// The test's side of the broker: queues of its own, deleted at the end.
struct Broker {
    connection: Connection,
    channel: Channel,
}

impl Broker {
    async fn connect() -> Broker {
        let url = broker_url();
        let connection = Connection::connect(&url, ConnectionProperties::default())
            .await
            .unwrap_or_else(|e| panic!("no RabbitMQ broker answers at {url} ({e}); run scripts/rabbitmq.sh"));
        let channel = connection.create_channel().await.unwrap();
        Broker { connection, channel }
    }

    async fn declare(&self, queue: &str) {
        let options = QueueDeclareOptions { durable: true, ..Default::default() };
        self.channel.queue_declare(queue.into(), options, FieldTable::default()).await.unwrap();
    }

    async fn publish(&self, queue: &str, body: &str) {
        let confirm = self
            .channel
            .basic_publish(
                "".into(),
                queue.into(),
                BasicPublishOptions::default(),
                body.as_bytes(),
                BasicProperties::default(),
            )
            .await
            .unwrap();
        confirm.await.unwrap();
    }

    /// Ready messages of `queue`, or `None` while it does not exist.
    async fn ready(&self, queue: &str) -> Option<u32> {
        // A passive declare of a missing queue closes the channel; ask on a channel of its own.
        let channel = self.connection.create_channel().await.unwrap();
        let options = QueueDeclareOptions { passive: true, ..Default::default() };
        let count =
            channel.queue_declare(queue.into(), options, FieldTable::default()).await.ok()?.message_count();
        let _ = channel.close(200, "done".into()).await;
        Some(count)
    }

    async fn delete(&self, queues: &[&str]) {
        for queue in queues {
            let _ = self.channel.queue_delete((*queue).into(), QueueDeleteOptions::default()).await;
        }
    }
}

/// A fresh storage directory under the target dir (this crate has no tempfile dependency).
fn tempfile_dir() -> PathBuf {
    let dir = workspace().join("target").join(format!("orders-e2e-{}", std::process::id()));
    std::fs::remove_dir_all(&dir).ok();
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

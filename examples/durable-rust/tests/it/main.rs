//! End to end: `fnwire start examples/durable-rust`, then the six patterns over HTTP exactly as
//! the README drives them (start → 202 + Location → poll → output), plus bad input.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
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

/// `fnwire start` on this example; killed when dropped.
struct Host {
    child: Child,
    base: String,
    output: Arc<Mutex<String>>,
}

impl Host {
    fn start() -> Host {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let mut child = Command::new(fnwire_exe())
            .arg("start")
            .arg(env!("CARGO_MANIFEST_DIR"))
            .args(["--debug", "--port", &port.to_string()])
            .env("NO_COLOR", "1")
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

struct Http {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

struct Answer {
    status: u16,
    location: Option<String>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

impl Http {
    async fn call(&self, method: &str, url: &str, body: &str) -> Answer {
        let url = if url.starts_with("http") { url.to_string() } else { format!("{}{url}", self.base) };
        let request = hyper::Request::builder()
            .method(method)
            .uri(&url)
            .body(Full::new(Bytes::from(body.to_string())))
            .unwrap();
        let response = self.client.request(request).await.unwrap_or_else(|e| panic!("{method} {url}: {e}"));
        let status = response.status().as_u16();
        let location = response.headers().get("location").map(|v| v.to_str().unwrap().to_string());
        let body = response.into_body().collect().await.unwrap().to_bytes();
        Answer { status, location, body: String::from_utf8_lossy(&body).into() }
    }

    /// Starts orchestrator `name` as the README does and polls its status URL until it ends.
    async fn run(&self, name: &str, input: &str) -> Value {
        let started = self.call("POST", &format!("/api/orchestrators/{name}"), input).await;
        assert_eq!(started.status, 202, "{name}: {}", started.body);
        let location = started.location.clone().expect("Location");
        assert_eq!(started.json()["statusQueryGetUri"], location.as_str());
        self.until_done(&location).await
    }

    async fn until_done(&self, status_url: &str) -> Value {
        for _ in 0..300 {
            let status = self.call("GET", status_url, "").await.json();
            match status["runtimeStatus"].as_str() {
                Some("Completed") => return status["output"].clone(),
                Some("Failed" | "Terminated") => panic!("the orchestration ended badly: {status}"),
                _ => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
        panic!("{status_url} did not complete");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_six_patterns_run_under_fnwire_start() {
    let host = Host::start();
    let http = Http { client: Client::builder(TokioExecutor::new()).build_http(), base: host.base.clone() };

    // 1. Chaining, and 3. the async HTTP API (202 + Location, then poll).
    assert_eq!(
        http.run("chain", "\"Tokyo\"").await,
        json!(["Hello Tokyo", "Hello Hello Tokyo", "Hello Hello Hello Tokyo"])
    );
    // 2. Fan-out / fan-in over 20 activities: sum of squares 0..20.
    assert_eq!(http.run("fan_out_fan_in", "20").await, json!(2470));
    // The waiting variant answers 200 with the output.
    let waited = http.call("POST", "/api/run/fan_out_fan_in", "5").await;
    assert_eq!((waited.status, waited.json()), (200, json!(30)));
    // 4. Monitor: two checks with a durable timer between them.
    assert_eq!(http.run("monitor", r#"{"doneAfter": 2}"#).await, json!({"checks": 2}));
    // 5. Human interaction: approved before the timeout, or timed out.
    let started = http.call("POST", "/api/orchestrators/approval", r#"{"timeoutSeconds": 120}"#).await;
    let id = started.json()["id"].as_str().unwrap().to_string();
    let approved = http.call("POST", &format!("/api/approve/{id}"), "yes").await;
    assert_eq!(approved.status, 202, "{}", approved.body);
    // The client posts event data as JSON text in a JSON string, as the official clients do, so
    // the orchestrator receives the text `"yes"` (the Python example answers the same).
    assert_eq!(http.until_done(&started.location.unwrap()).await, json!("approved: \"yes\""));
    assert_eq!(http.run("approval", r#"{"timeoutSeconds": 1}"#).await, json!("timed out"));
    let status = http.call("GET", &format!("/api/status/{id}"), "").await;
    assert_eq!(status.json()["runtimeStatus"], "Completed");
    // 6. Aggregator: a signal from outside, then a signal and a call from an orchestration.
    let key = format!("e2e{}", std::process::id());
    assert_eq!(http.call("POST", &format!("/api/counter/{key}/add"), "5").await.status, 202);
    let mut state = Value::Null;
    for _ in 0..100 {
        let read = http.call("GET", &format!("/api/counter/{key}"), "").await;
        if read.status == 200 {
            state = read.json();
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(state, json!(5));
    assert_eq!(http.run("count_with_entity", &format!("\"{key}\"")).await, json!(20));

    // Bad input: an unknown orchestrator is a 404 naming it; a body that is not JSON a 400.
    let unknown = http.call("POST", "/api/orchestrators/nosuch", "1").await;
    assert_eq!(unknown.status, 404, "{}", unknown.body);
    assert!(unknown.body.contains("nosuch"), "{}", unknown.body);
    let malformed = http.call("POST", "/api/orchestrators/chain", "{bad").await;
    assert_eq!(malformed.status, 400, "{}", malformed.body);
    drop(host);
}

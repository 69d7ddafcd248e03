//! `fnwire pack` on examples/hello-rust: the output validates and runs under `fnwire start`,
//! with worker indexing and with function.json indexing; on examples/orders: the package
//! carries `servicebus.json`, and the packed app starts with its topic subscriptions.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::*;

fn hello_rust_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/hello-rust"))
}

fn pack(app: &Path, out: &Path) -> std::process::Output {
    Command::new(fnwire_exe()).arg("pack").arg(app).arg("--out").arg(out).arg("--debug").output().unwrap()
}

/// Checks a function.json against Azure's schema as fnwire knows it.
fn check_function_json(out: &Path, name: &str) -> serde_json::Value {
    let dir = out.join(name);
    let doc: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("function.json")).unwrap()).unwrap();
    let script = doc["scriptFile"].as_str().expect("scriptFile");
    assert!(dir.join(script).is_file(), "scriptFile {script} exists relative to the function folder");
    assert!(script.ends_with(".fnwire"), "{script}");
    let bindings = doc["bindings"].as_array().expect("bindings");
    assert!(!bindings.is_empty());
    for b in bindings {
        let direction = b["direction"].as_str().unwrap();
        assert!(["in", "out", "inout"].contains(&direction), "lower-case direction: {b}");
        assert!(b["type"].as_str().is_some_and(|t| !t.is_empty()), "{b}");
        assert!(b["name"].as_str().is_some_and(|t| !t.is_empty()), "{b}");
    }
    let metadata = fnwire_metadata::FunctionMetadata::from_function_json(name, &doc).unwrap();
    metadata.validate().unwrap();
    doc
}

#[tokio::test(flavor = "multi_thread")]
async fn packed_hello_rust_validates_and_serves_hello_with_both_indexing_modes() {
    let out_root = tempfile::tempdir().unwrap();
    let out = out_root.path().join("app");
    let result = pack(&hello_rust_dir(), &out);
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    let stdout = String::from_utf8_lossy(&result.stdout);
    assert!(stdout.contains("hello") && stdout.contains("fnwire start"), "{stdout}");

    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("worker.config.json")).unwrap()).unwrap();
    let description = &config["description"];
    assert_eq!(description["language"], "rust");
    assert_eq!(description["workerIndexing"], "true");
    assert_eq!(description["extensions"], serde_json::json!([".fnwire"]));
    let exe = description["defaultExecutablePath"].as_str().unwrap();
    let binary = exe.strip_prefix("%FUNCTIONS_WORKER_DIRECTORY%/").expect(exe);
    assert!(out.join(binary).is_file());
    let host: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("host.json")).unwrap()).unwrap();
    assert_eq!(host["version"], "2.0");

    let hello = check_function_json(&out, "hello");
    assert_eq!(hello["bindings"][0]["type"], "httpTrigger");
    assert_eq!(hello["bindings"][0]["route"], "hello/{name?}");
    // Every function folder validates, whatever its trigger.
    let mut packed: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .flatten()
        .filter(|e| e.path().join("function.json").is_file())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    packed.sort();
    for name in &packed {
        check_function_json(&out, name);
    }
    for name in ["boom", "echo", "hello"] {
        assert!(packed.iter().any(|p| p == name), "{name} packed: {packed:?}");
    }

    // Worker indexing, as packed.
    let mut fnwire = Fnwire::start(&out, &[]);
    let r = get(&fnwire.url("/api/hello?name=Ada")).await;
    assert_eq!((r.status, r.body.as_str()), (200, "Hello, Ada!"), "{}", fnwire.output());
    assert!(fnwire.terminate().success());

    // function.json indexing: the host reads the folders and loads them into the worker.
    let text = std::fs::read_to_string(out.join("worker.config.json")).unwrap();
    std::fs::write(
        out.join("worker.config.json"),
        text.replace(r#""workerIndexing": "true""#, r#""workerIndexing": "false""#),
    )
    .unwrap();
    // Without its folder, `boom` is gone: the function list comes from the files.
    std::fs::remove_dir_all(out.join("boom")).unwrap();
    let mut fnwire = Fnwire::start(&out, &[]);
    let r = get(&fnwire.url("/api/hello/Bob")).await;
    assert_eq!((r.status, r.body.as_str()), (200, "Hello, Bob!"), "{}", fnwire.output());
    assert_eq!(get(&fnwire.url("/api/boom")).await.status, 404);
    assert!(fnwire.terminate().success());

    // Packing again into an earlier output is allowed; into a foreign non-empty folder is not.
    assert!(pack(&hello_rust_dir(), &out).status.success());
    let foreign = out_root.path().join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
    let refused = pack(&hello_rust_dir(), &foreign);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not empty"));
    assert_eq!(std::fs::read_to_string(foreign.join("notes.txt")).unwrap(), "mine");
    // Another app with a worker.config.json is not mistaken for an earlier pack.
    let other_app = test_worker_app();
    let refused = pack(&hello_rust_dir(), other_app.path());
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("not empty"));
}

#[test]
fn pack_refuses_a_non_cargo_app() {
    let app = test_worker_app();
    let out = tempfile::tempdir().unwrap();
    let result = pack(app.path(), &out.path().join("o"));
    assert!(!result.status.success());
    assert!(String::from_utf8_lossy(&result.stderr).contains("no Cargo.toml"));
}

fn orders_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/orders"))
}

/// examples/orders declares its topic and subscriptions in `servicebus.json`: the package carries
/// the file, and the packed app starts with them, so its subscription-triggered functions run.
#[tokio::test(flavor = "multi_thread")]
async fn packed_orders_carries_servicebus_json_and_starts_with_its_subscriptions() {
    let out_root = tempfile::tempdir().unwrap();
    let out = out_root.path().join("app");
    let result = pack(&orders_dir(), &out);
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    let packed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("servicebus.json")).expect("servicebus.json packed"),
    )
    .unwrap();
    let original: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(orders_dir().join("servicebus.json")).unwrap())
            .unwrap();
    assert_eq!(packed, original);
    for name in ["handle_order", "handle_quote"] {
        check_function_json(&out, name);
    }

    // The app's RabbitMQ forwarder needs its two settings and a queue; the queue is the test's own.
    let broker =
        std::env::var("FNWIRE_TEST_AMQP").unwrap_or_else(|_| "amqp://guest:guest@127.0.0.1:5672/%2f".into());
    let inbox = format!("fnwire-pack-test-{}", std::process::id());
    let connection = lapin::Connection::connect(&broker, lapin::ConnectionProperties::default())
        .await
        .unwrap_or_else(|e| panic!("no RabbitMQ broker answers at {broker} ({e}); run scripts/rabbitmq.sh"));
    let channel = connection.create_channel().await.unwrap();
    let durable = lapin::options::QueueDeclareOptions { durable: true, ..Default::default() };
    channel.queue_declare(inbox.as_str().into(), durable, lapin::types::FieldTable::default()).await.unwrap();

    let mut fnwire = Fnwire::spawn_with_env(
        &out,
        &[],
        &[("RabbitMQConnection", broker.as_str()), ("OrdersInboxQueue", &inbox)],
    );
    fnwire.wait_for_output("Host started", Duration::from_secs(120));
    let listed = Command::new(fnwire_exe()).args(["topic", "list", "--app"]).arg(&out).output().unwrap();
    let listed = String::from_utf8_lossy(&listed.stdout).to_string();
    assert!(listed.contains("orders: 0 active") && listed.contains("quotes: 0 active"), "{listed}");

    let sales = r#"[{"id":"o-1","type":"order","total":150},{"id":"q-1","type":"quote"}]"#;
    let r = request("POST", &fnwire.url("/api/publish"), &[], sales).await;
    assert_eq!(r.status, 202, "{}\n{}", r.body, fnwire.output());
    let mut handled = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while handled.len() < 2 && std::time::Instant::now() < deadline {
        handled.clear();
        for id in ["o-1", "q-1"] {
            let r = get(&fnwire.url(&format!("/api/processed/{id}"))).await;
            if r.status == 200 {
                handled
                    .push(serde_json::from_str::<serde_json::Value>(&r.body).unwrap()["handledBy"].clone());
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(handled, ["orders", "quotes"], "{}", fnwire.output());
    assert!(fnwire.terminate().success());
    channel.queue_delete(inbox.as_str().into(), lapin::options::QueueDeleteOptions::default()).await.unwrap();
}

//! `fnwire kube` on examples/hello-rust: it indexes the app with its worker, refuses an app
//! with queues and no shared store, writes manifests that Kubernetes' and KEDA's schemas accept,
//! and its scaler query, as written, counts the waiting messages of a real PostgreSQL store.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use fnwire_storage::QueueStore;
use fnwire_storage_postgres::PgStore;

use crate::support::*;

fn hello_rust_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/hello-rust"))
}

fn kube(out: &Path, storage: Option<&str>) -> std::process::Output {
    kube_app(&hello_rust_dir(), out, storage)
}

fn kube_app(app: &Path, out: &Path, storage: Option<&str>) -> std::process::Output {
    let mut command = Command::new(fnwire_exe());
    command
        .arg("kube")
        .arg(app)
        .args(["--image", "registry.example/hello:1", "--namespace", "apps", "--debug", "--out"])
        .arg(out)
        .env_remove("AzureWebJobsStorage");
    if let Some(url) = storage {
        command.env("AzureWebJobsStorage", url);
    }
    command.output().unwrap()
}

use fnwire_storage_postgres::testing::TestDatabase;

/// The validator of the deploy crate's tests (a virtualenv with kubernetes-validate).
fn validate(manifests: &Path) -> (bool, String) {
    let deploy = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy");
    let setup = Command::new("bash").arg(deploy.join("scripts/validate-setup.sh")).output().unwrap();
    assert!(setup.status.success(), "{}", String::from_utf8_lossy(&setup.stderr));
    let python = String::from_utf8(setup.stdout).unwrap();
    let out =
        Command::new(python.trim()).arg(deploy.join("tests/validate.py")).arg(manifests).output().unwrap();
    (
        out.status.success(),
        format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)),
    )
}

#[test]
fn kube_writes_valid_manifests_whose_scaler_query_counts_the_waiting_messages() {
    // Inside the app (the build context) and ignored by git, as `.fnwire/` is.
    std::fs::create_dir_all(hello_rust_dir().join(".fnwire")).unwrap();
    let out_root =
        tempfile::Builder::new().prefix("kube-it-").tempdir_in(hello_rust_dir().join(".fnwire")).unwrap();
    let out = out_root.path();

    let refused = kube(out, None);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("`work`") && err.contains("AzureWebJobsStorage") && err.contains("postgres://"),
        "{err}"
    );
    assert!(!out.join("kubernetes.yaml").exists(), "nothing is written when refused");

    let db = TestDatabase::new();
    let written = kube(out, Some(&db.url));
    let stdout = String::from_utf8_lossy(&written.stdout);
    assert!(written.status.success(), "{stdout}{}", String::from_utf8_lossy(&written.stderr));
    assert!(
        stdout.contains("KEDA on 1 postgresql trigger(s)") && stdout.contains("kubectl apply"),
        "{stdout}"
    );
    for file in ["Dockerfile", "Dockerfile.dockerignore", "kubernetes.yaml", "fnwire"] {
        assert!(out.join(file).is_file(), "{file} written");
    }
    let dockerfile = std::fs::read_to_string(out.join("Dockerfile")).unwrap();
    let context = out.canonicalize().unwrap();
    let context = context.strip_prefix(hello_rust_dir().canonicalize().unwrap()).unwrap();
    assert!(
        dockerfile.contains(&format!("COPY {}/fnwire /usr/local/bin/fnwire", context.display())),
        "{dockerfile}"
    );

    let manifests = out.join("kubernetes.yaml");
    let (ok, report) = validate(&manifests);
    assert!(ok, "{report}");
    assert_eq!(report.lines().filter(|l| l.starts_with("valid ")).count(), 4, "{report}");

    let text = std::fs::read_to_string(&manifests).unwrap();
    let docs = fnwire_deploy::parse_manifests(&text).unwrap();
    let secret = docs.iter().find(|d| d["kind"] == "Secret").unwrap();
    assert_eq!(secret["metadata"]["namespace"], "apps");
    assert_eq!(secret["stringData"]["AzureWebJobsStorage"], db.url.as_str());
    assert!(secret["stringData"]["FNWIRE_MASTER_KEY"].as_str().is_some_and(|k| !k.is_empty()));
    let scaled = docs.iter().find(|d| d["kind"] == "ScaledObject").unwrap();
    assert_eq!(scaled["spec"]["minReplicaCount"], 1, "hello-rust has HTTP and timer functions");
    let trigger = &scaled["spec"]["triggers"][0];
    assert_eq!(trigger["type"], "postgresql");
    assert_eq!(trigger["metadata"]["connectionFromEnv"], "AzureWebJobsStorage");
    assert_eq!(trigger["metadata"]["targetQueryValue"], "16", "host.json batchSize");
    assert_eq!(trigger["metadata"]["activationTargetQueryValue"], "0");
    let query = trigger["metadata"]["query"].as_str().unwrap().to_string();

    // The query as written, against the store hello-rust's `work` function reads.
    let counted = std::thread::spawn(move || {
        let store = PgStore::open(&db.url).unwrap();
        let empty = store.query_count(&query).unwrap();
        for i in 0..5 {
            store.put("jobs", format!("job {i}").as_bytes(), None).unwrap();
        }
        store.put("elsewhere", b"not counted", None).unwrap();
        // Taken by a host: invisible until its lease runs out, so not waiting work.
        store.get_messages("jobs", 2, Duration::from_secs(300)).unwrap();
        let waiting = store.query_count(&query).unwrap();
        drop(store);
        drop(db);
        (empty, waiting)
    })
    .join()
    .unwrap();
    assert_eq!(counted, (0, 3));
}

#[test]
fn kube_scales_a_durable_app_on_the_pending_work_of_its_task_hub() {
    let app = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/durable-rust"));
    std::fs::create_dir_all(app.join(".fnwire")).unwrap();
    let out_root = tempfile::Builder::new().prefix("kube-it-").tempdir_in(app.join(".fnwire")).unwrap();
    let out = out_root.path();
    let db = TestDatabase::new();
    let written = kube_app(&app, out, Some(&db.url));
    let stdout = String::from_utf8_lossy(&written.stdout);
    assert!(written.status.success(), "{stdout}{}", String::from_utf8_lossy(&written.stderr));
    assert!(stdout.contains("KEDA on 1 postgresql trigger(s)"), "{stdout}");
    let manifests = out.join("kubernetes.yaml");
    let (ok, report) = validate(&manifests);
    assert!(ok, "{report}");
    let docs = fnwire_deploy::parse_manifests(&std::fs::read_to_string(&manifests).unwrap()).unwrap();
    let scaled = docs.iter().find(|d| d["kind"] == "ScaledObject").unwrap();
    assert_eq!(scaled["spec"]["minReplicaCount"], 1, "durable-rust's HTTP starters keep a replica");
    let trigger = &scaled["spec"]["triggers"][0];
    assert_eq!(trigger["name"], "durable-task-hub");
    assert_eq!(trigger["metadata"]["connectionFromEnv"], "AzureWebJobsStorage");
    assert_eq!(trigger["metadata"]["activationTargetQueryValue"], "0");
    let query = trigger["metadata"]["query"].as_str().unwrap().to_string();

    // The query as written, against a task hub holding work: started instances wait, a leased
    // one is being worked on.
    let hub = fnwire_durable::postgres::PgTaskHub::open(&db.url).unwrap();
    use fnwire_durable::taskhub::{NewInstance, TaskHub};
    let empty = hub.store().query_count(&query).unwrap();
    for i in 0..4 {
        let new = NewInstance {
            instance_id: format!("i{i}"),
            name: "chain".into(),
            input: None,
            parent: None,
            start_at: None,
        };
        hub.create_instance(&new).unwrap();
    }
    let _held = hub.lock_next_instance("a-host", Duration::from_secs(300)).unwrap().unwrap();
    assert_eq!((empty, hub.store().query_count(&query).unwrap()), (0, 3));
}

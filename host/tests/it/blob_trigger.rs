//! Blob triggers through the real `fnwire` binary, each behaviour on both stores (the embedded
//! SQLite store with blobs as files, and PostgreSQL): examples/thumbnails/rust (the real SDK)
//! for the happy path, restarts, overwrites and `kill -9`; the test worker (which fails every
//! non-HTTP invocation) for poison blobs.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fnwire_storage::{BlobBackend, BlobStore, QueueStore, Store, TableStore};
use fnwire_storage_postgres::PgStore;
use fnwire_tables::{EdmValue, TableQuery};

use crate::support::*;
use fnwire_storage_postgres::testing::TestDatabase;

/// Bound for blob work to finish; never a timing assertion.
const WORK_BOUND: Duration = Duration::from_secs(180);
/// The queue the thumbnails example announces each card on: one message per invocation.
const DONE: &str = "thumbnailed";

fn thumbnails_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/thumbnails/rust"))
}

/// Where a test's app keeps its data, and the host settings that select it.
struct Backend {
    name: &'static str,
    env: BTreeMap<&'static str, String>,
    store: Arc<dyn QueueStore>,
    blobs: Arc<dyn BlobBackend>,
    tables: Arc<dyn TableStore>,
    /// The blob folder of the embedded store (none on PostgreSQL).
    blob_dir: Option<PathBuf>,
    _keep: Box<dyn std::any::Any>,
}

impl Backend {
    fn sqlite() -> Backend {
        let dir = tempfile::tempdir().unwrap();
        let store = Arc::new(Store::open(dir.path()).unwrap());
        let blob_dir = dir.path().join("blobs");
        Backend {
            name: "sqlite",
            env: BTreeMap::from([("FNWIRE_STORAGE_DIR", dir.path().display().to_string())]),
            tables: store.clone(),
            store,
            blobs: Arc::new(BlobStore::new(&blob_dir)),
            blob_dir: Some(blob_dir),
            _keep: Box::new(dir),
        }
    }

    fn postgres() -> Backend {
        let db = TestDatabase::new();
        let pg = Arc::new(PgStore::open(&db.url).unwrap());
        // The storage folder still holds the host's keys; the data is in the database.
        let dir = tempfile::tempdir().unwrap();
        Backend {
            name: "postgres",
            env: BTreeMap::from([
                ("AzureWebJobsStorage", db.url.clone()),
                ("FNWIRE_STORAGE_DIR", dir.path().display().to_string()),
                // Work a killed host held comes back after this (not Azure's 10 minutes): a
                // shared store cannot know the holder is dead.
                ("FNWIRE_QUEUE_MESSAGE_LEASE", "00:00:02".to_string()),
            ]),
            store: pg.clone(),
            tables: pg.clone(),
            blobs: pg,
            blob_dir: None,
            _keep: Box::new((db, dir)),
        }
    }

    fn both() -> [fn() -> Backend; 2] {
        [Backend::sqlite, Backend::postgres]
    }

    fn start(&self, app: &Path) -> Fnwire {
        let env: Vec<(&str, &str)> = self.env.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let f = Fnwire::spawn_with_env(app, &["--debug"], &env);
        f.wait_for_output("Host started", STARTUP_BOUND);
        f
    }

    /// Every `path etag` the function announced, visible ones (read while the host is idle).
    fn announced(&self) -> Vec<String> {
        self.store
            .peek(DONE, 100_000)
            .unwrap()
            .into_iter()
            .map(|m| String::from_utf8(m.body).unwrap())
            .collect()
    }

    fn card(&self, name: &str) -> Option<serde_json::Value> {
        let bytes = self.blobs.read(&format!("thumbnails/{name}.json")).unwrap()?;
        Some(serde_json::from_slice(&bytes).unwrap())
    }

    /// The example's table row for upload `name`: its `Bytes` and `Thumbnail` path.
    fn row(&self, name: &str) -> Option<(EdmValue, EdmValue)> {
        let entity = self.tables.get_entity("Thumbnails", "uploads", name).unwrap()?;
        Some((entity.property("Bytes")?, entity.property("Thumbnail")?))
    }

    fn row_count(&self) -> usize {
        self.tables.query_entities("Thumbnails", &TableQuery::default()).unwrap().len()
    }
}

fn wait_until(hosts: &[&Fnwire], what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WORK_BOUND;
    while Instant::now() < deadline {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let outputs: Vec<String> = hosts.iter().map(|h| h.output()).collect();
    panic!("{what} did not happen within {WORK_BOUND:?}; output:\n{}", outputs.join("\n-----\n"));
}

fn wait_gone(pids: &[u32]) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline && !pids.iter().all(|p| process_gone(*p)) {
        std::thread::sleep(Duration::from_millis(50));
    }
}

// A plain test: `PgStore` calls block, which a tokio runtime thread must not do.
#[test]
fn each_blob_version_runs_once_across_restarts_and_an_overwrite_runs_again() {
    for backend in Backend::both().map(|make| make()) {
        let b = &backend.name;
        // Blobs present before the first start are processed once.
        const N: usize = 20;
        for i in 0..N {
            backend.blobs.write(&format!("uploads/f{i:02}.txt"), format!("file {i}").as_bytes()).unwrap();
        }
        let mut first = backend.start(&thumbnails_dir());
        wait_until(&[&first], "the first cards", || backend.store.message_count(DONE).unwrap() == N as u64);
        let card = backend.card("f03.txt").expect("a card per upload");
        assert_eq!((card["bytes"].as_u64(), card["preview"].as_str()), (Some(6), Some("file 3")), "{b}");
        assert_eq!(card["contentType"], "text/plain", "{b}");
        assert_eq!(card["name"], "f03.txt", "{b}: the path's {{name}} reaches the function");
        // The table row is written with the card, in the same completion.
        assert_eq!(
            backend.row("f03.txt"),
            Some((EdmValue::Int64(6), EdmValue::String("thumbnails/f03.txt.json".into()))),
            "{b}"
        );
        assert_eq!(backend.row_count(), N, "{b}: a row per upload");
        assert!(first.terminate().success(), "{b}");

        // A restart runs nothing again: the new blob sorts after the others, so by the time its
        // card is there the restarted scan has looked at every older one.
        let mut second = backend.start(&thumbnails_dir());
        backend.blobs.write("uploads/zz-after-restart.txt", b"new").unwrap();
        wait_until(&[&second], "the new blob's card", || backend.card("zz-after-restart.txt").is_some());
        wait_until(&[&second], "its announcement", || backend.store.message_count(DONE).unwrap() > N as u64);
        assert_eq!(backend.store.message_count(DONE).unwrap(), N as u64 + 1, "{b}: nothing ran twice");

        // An overwrite is a new version: it runs again, once.
        backend.blobs.write("uploads/f03.txt", b"changed content").unwrap();
        wait_until(&[&second], "the overwritten blob's new card", || {
            backend.card("f03.txt").is_some_and(|c| c["preview"] == "changed content")
        });
        wait_until(&[&second], "its announcement", || {
            backend.store.message_count(DONE).unwrap() == N as u64 + 2
        });
        let announced = backend.announced();
        let distinct: BTreeSet<&String> = announced.iter().collect();
        assert_eq!(distinct.len(), announced.len(), "{b}: each (blob, ETag) once: {announced:?}");
        assert_eq!(announced.iter().filter(|a| a.starts_with("uploads/f03.txt ")).count(), 2, "{b}");
        // The overwrite replaced its row; a file is one row however often it changes.
        assert_eq!(backend.row("f03.txt").map(|(bytes, _)| bytes), Some(EdmValue::Int64(15)), "{b}");
        assert_eq!(backend.row_count(), N + 1, "{b}");
        assert!(second.terminate().success(), "{b}");
    }
}

// A plain test: `PgStore` calls block, which a tokio runtime thread must not do.
#[test]
fn a_host_killed_mid_batch_processes_the_rest_again_and_skips_nothing() {
    for backend in Backend::both().map(|make| make()) {
        let b = &backend.name;
        const N: usize = 300;
        for i in 0..N {
            backend.blobs.write(&format!("uploads/k{i:03}"), format!("blob {i}").as_bytes()).unwrap();
        }
        let mut first = backend.start(&thumbnails_dir());
        wait_until(&[&first], "some blobs processed", || backend.store.message_count(DONE).unwrap() > 0);
        let workers = first.children();
        first.child.kill().unwrap(); // SIGKILL: no clean-up of any kind
        first.child.wait().unwrap();
        eprintln!("{b}: killed the host after {} of {N} blobs", backend.store.message_count(DONE).unwrap());
        wait_gone(&workers);

        let mut second = backend.start(&thumbnails_dir());
        let expected: BTreeSet<String> = (0..N).map(|i| format!("uploads/k{i:03}")).collect();
        wait_until(&[&second], "every blob processed", || {
            let seen: BTreeSet<String> =
                backend.announced().iter().map(|a| a.split(' ').next().unwrap().to_string()).collect();
            seen == expected
        });
        for i in [0, N / 2, N - 1] {
            assert!(backend.card(&format!("k{i:03}")).is_some(), "{b}: card k{i:03}");
        }
        let total = backend.announced().len();
        eprintln!("{b}: {N} blobs, {total} runs ({} again after the kill)", total - N);
        assert!(second.terminate().success(), "{b}");
    }
}

// A plain test: `PgStore` calls block, which a tokio runtime thread must not do.
#[test]
fn hosts_sharing_a_database_process_each_blob_once() {
    let backend = Backend::postgres();
    let mut hosts = vec![backend.start(&thumbnails_dir()), backend.start(&thumbnails_dir())];
    const N: usize = 100;
    for i in 0..N {
        backend.blobs.write(&format!("uploads/s{i:03}"), b"shared").unwrap();
    }
    let refs: Vec<&Fnwire> = hosts.iter().collect();
    wait_until(&refs, "every blob processed", || backend.store.message_count(DONE).unwrap() >= N as u64);
    // Let a second scan of both hosts pass: a blob found by both would be queued by now.
    backend.blobs.write("uploads/zz-last", b"last").unwrap();
    wait_until(&refs, "the last blob", || backend.card("zz-last").is_some());
    wait_until(&refs, "its announcement", || backend.store.message_count(DONE).unwrap() > N as u64);
    assert_eq!(backend.announced().len(), N + 1, "no blob ran twice");
    for host in &mut hosts {
        assert!(host.terminate().success());
    }
}

/// A test-worker app with one blob-triggered function, which the test worker always fails.
fn failing_blob_app() -> tempfile::TempDir {
    let app = test_worker_app();
    std::fs::write(app.path().join("local.settings.json"), r#"{"Values":{"TEST_WORKER_HOST_INDEXING":"1"}}"#)
        .unwrap();
    std::fs::write(app.path().join("host.json"), r#"{"version":"2.0"}"#).unwrap();
    std::fs::create_dir(app.path().join("fail")).unwrap();
    std::fs::write(
        app.path().join("fail").join("function.json"),
        r#"{"bindings":[{"type":"blobTrigger","direction":"in","name":"blob","path":"inbox/{name}"}]}"#,
    )
    .unwrap();
    app
}

// A plain test: `PgStore` calls block, which a tokio runtime thread must not do.
#[test]
fn a_failing_blob_goes_to_the_poison_queue_after_five_attempts() {
    for backend in Backend::both().map(|make| make()) {
        let b = &backend.name;
        let app = failing_blob_app();
        backend.blobs.write("inbox/bad.txt", b"poisonous").unwrap();
        let mut fnwire = backend.start(app.path());
        wait_until(&[&fnwire], "the poison message", || {
            backend.store.message_count("webjobs-blobtrigger-poison").unwrap() == 1
        });
        fnwire.wait_for_output("webjobs-blobtrigger-poison", WORK_BOUND);
        let poisoned = backend.store.peek("webjobs-blobtrigger-poison", 10).unwrap();
        let message: serde_json::Value = serde_json::from_slice(&poisoned[0].body).unwrap();
        let etag = backend.blobs.read_with_properties("inbox/bad.txt").unwrap().unwrap().1.etag;
        assert_eq!(
            message,
            serde_json::json!({"Type": "BlobTrigger", "FunctionId": "Host.Functions.fail", "BlobType": "BlockBlob",
                "ContainerName": "inbox", "BlobName": "bad.txt", "ETag": etag}),
            "{b}: Azure's poison blob message"
        );
        let out = fnwire.output();
        assert_eq!(out.matches("Executing 'fail'").count(), 5, "{b}: five attempts:\n{out}");
        assert!(out.contains("New blob detected(inbox): inbox/bad.txt"), "{b}: {out}");
        let queues: Vec<String> = backend.store.list_queues().unwrap().into_iter().map(|q| q.name).collect();
        let work = queues.iter().find(|q| q.starts_with("azure-webjobs-blobtrigger-")).expect("a work queue");
        assert_eq!(backend.store.message_count(work).unwrap(), 0, "{b}: the work message is gone");
        assert!(fnwire.terminate().success(), "{b}");
    }
}

fn blob_cli(app: &Path, env: &BTreeMap<&str, String>, args: &[&str]) -> std::process::Output {
    Command::new(fnwire_exe())
        .arg("blob")
        .args(args)
        .arg("--app")
        .arg(app)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap()
}

/// What the example's README shows: start the app, drop a file into the blob folder by hand,
/// and read the result with the CLI; then the CLI's own put, list and delete.
// A plain test: `PgStore` calls block, which a tokio runtime thread must not do.
#[test]
fn a_file_dropped_into_the_blob_folder_runs_the_function_and_the_cli_reads_the_result() {
    let backend = Backend::sqlite();
    let app = thumbnails_dir();
    let mut fnwire = backend.start(&app);
    assert!(fnwire.output().contains("blobs in uploads"), "the table says what triggers");
    let uploads = backend.blob_dir.clone().unwrap().join("uploads");
    std::fs::create_dir_all(&uploads).unwrap();
    std::fs::write(uploads.join("photo.txt"), "a picture of a cat").unwrap();
    let env = &backend.env;
    let got = || blob_cli(&app, env, &["get", "thumbnails/photo.txt.json"]);
    wait_until(&[&fnwire], "the card of the dropped file", || got().status.success());
    let card: serde_json::Value = serde_json::from_slice(&got().stdout).unwrap();
    assert_eq!(card["preview"], "a picture of a cat");
    // The README's next step: the file's row in table `Thumbnails`.
    let query = Command::new(fnwire_exe())
        .args(["table", "query", "Thumbnails", "--filter", "RowKey eq 'photo.txt'", "--app"])
        .arg(&app)
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .output()
        .unwrap();
    assert!(query.status.success(), "{}", String::from_utf8_lossy(&query.stderr));
    let rows: Vec<serde_json::Value> = query
        .stdout
        .split(|b| *b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (&rows[0]["PartitionKey"], &rows[0]["Blob"], &rows[0]["Thumbnail"]),
        (
            &serde_json::json!("uploads"),
            &serde_json::json!("uploads/photo.txt"),
            &serde_json::json!("thumbnails/photo.txt.json")
        )
    );
    assert_eq!(rows[0]["Bytes"], "18", "Edm.Int64 prints as text: {rows:?}");

    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), "from the cli").unwrap();
    let put = blob_cli(&app, env, &["put", "uploads/cli.txt", file.path().to_str().unwrap()]);
    assert!(put.status.success(), "{}", String::from_utf8_lossy(&put.stderr));
    wait_until(&[&fnwire], "the card of the CLI's blob", || {
        blob_cli(&app, env, &["get", "thumbnails/cli.txt.json"]).status.success()
    });
    let list = blob_cli(&app, env, &["list", "thumbnails"]);
    let listed = String::from_utf8_lossy(&list.stdout);
    assert!(
        listed.contains("thumbnails/cli.txt.json") && listed.contains("thumbnails/photo.txt.json"),
        "{listed}"
    );
    let deleted = blob_cli(&app, env, &["delete", "uploads/cli.txt"]);
    assert!(deleted.status.success(), "{}", String::from_utf8_lossy(&deleted.stderr));
    let missing = blob_cli(&app, env, &["get", "uploads/cli.txt"]);
    let says = String::from_utf8_lossy(&missing.stderr);
    assert!(
        !missing.status.success() && says.contains("uploads/cli.txt") && says.contains("does not exist"),
        "{says}"
    );
    let bad = blob_cli(&app, env, &["put", "../escape", file.path().to_str().unwrap()]);
    let says = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success() && says.contains("../escape"), "{says}");
    assert!(fnwire.terminate().success());
}

#[test]
fn a_bad_blob_trigger_path_refuses_start_naming_function_and_path() {
    let app = failing_blob_app();
    std::fs::write(
        app.path().join("fail").join("function.json"),
        r#"{"bindings":[{"type":"blobTrigger","direction":"in","name":"blob","path":"inbox/{name"}]}"#,
    )
    .unwrap();
    let mut fnwire = Fnwire::spawn(app.path(), &[]);
    let status = fnwire.wait_exit(STARTUP_BOUND);
    let out = fnwire.output();
    assert!(!status.success(), "{out}");
    assert!(
        out.contains("function `fail`") && out.contains("inbox/{name") && out.contains("closing"),
        "{out}"
    );
}

#[test]
fn a_table_filter_that_does_not_parse_refuses_start_naming_function_filter_and_position() {
    let app = failing_blob_app();
    std::fs::write(
        app.path().join("fail").join("function.json"),
        r#"{"bindings":[{"type":"blobTrigger","direction":"in","name":"blob","path":"inbox/{name}"},
            {"type":"table","direction":"in","name":"seen","tableName":"Seen","filter":"RowKey eq '{name}' and and"}]}"#,
    )
    .unwrap();
    let mut fnwire = Fnwire::spawn(app.path(), &[]);
    let status = fnwire.wait_exit(STARTUP_BOUND);
    let out = fnwire.output();
    assert!(!status.success(), "{out}");
    for named in ["function `fail`", "RowKey eq '{name}' and and", "at character 24", "OData subset"] {
        assert!(out.contains(named), "the error names {named}: {out}");
    }
}

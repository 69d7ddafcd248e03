//! Many hosts, one PostgreSQL database (`AzureWebJobsStorage=postgres://…`): real `fnwire start`
//! processes on different ports, a database of their own per test, dropped afterwards. The
//! server is `FNWIRE_TEST_POSTGRES` (default `postgres://postgres@127.0.0.1:5432/postgres`;
//! `scripts/postgres.sh` starts one when none answers).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use fnwire_storage::{BlobBackend, MessageBody, QueueStore};
use fnwire_storage_postgres::PgStore;
use fnwire_storage_postgres::testing::{TestDatabase, server_url};

use crate::support::*;

/// Bound for queue work to finish; never a timing assertion.
const WORK_BOUND: Duration = Duration::from_secs(180);

fn hello_rust_dir() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/hello-rust"))
}

fn start_host(app: &Path, env: &BTreeMap<&str, String>) -> Fnwire {
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let f = Fnwire::spawn_with_env(app, &["--debug"], &env);
    f.wait_for_output("Host started", STARTUP_BOUND);
    f
}

fn wait_until(hosts: &[&Fnwire], what: &str, bound: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + bound;
    while Instant::now() < deadline {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let outputs: Vec<String> = hosts.iter().map(|h| h.output()).collect();
    panic!("{what} did not happen within {bound:?}; outputs:\n{}", outputs.join("\n-----\n"));
}

// A plain test: the store is called from this thread, never from inside a runtime.
#[test]
fn three_hosts_share_a_queue_and_a_killed_host_loses_nothing() {
    let db = TestDatabase::new();
    let store = PgStore::open(&db.url).unwrap();
    const N: usize = 3000;
    let jobs: Vec<MessageBody> = (0..N).map(|i| MessageBody::new("jobs", format!("m{i}"))).collect();

    let blobs = tempfile::tempdir().unwrap();
    let env = BTreeMap::from([
        ("AzureWebJobsStorage", db.url.clone()),
        ("FNWIRE_STORAGE_DIR", blobs.path().display().to_string()),
        // What the killed host held comes back after this, not after Azure's 10 minutes.
        ("FNWIRE_QUEUE_MESSAGE_LEASE", "00:00:03".to_string()),
    ]);
    let mut hosts: Vec<Fnwire> = (0..3).map(|_| start_host(&hello_rust_dir(), &env)).collect();
    // Put once every host runs: on a busy machine the first hosts could finish before the last
    // one starts.
    store.put_many(&jobs).unwrap();
    wait_until(&[&hosts[1]], "the second host working", WORK_BOUND, || {
        hosts[1].output().contains("Executing 'work'")
    });
    wait_until(&[&hosts[0]], "a tenth of the messages done", WORK_BOUND, || {
        store.message_count("done").unwrap() >= (N / 10) as u64
    });

    let victim = hosts.remove(1);
    let victim_worker = victim.children();
    let mut victim = victim;
    victim.child.kill().unwrap(); // SIGKILL: no clean-up of any kind
    victim.child.wait().unwrap();
    // Every message hidden now is held by one of the hosts; only the dead one's can run twice.
    let held_at_kill =
        store.list_queues().unwrap().into_iter().find(|q| q.name == "jobs").map_or(0, |q| q.invisible);
    let done_at_kill = store.message_count("done").unwrap();
    eprintln!(
        "killed one of 3 hosts with {done_at_kill} of {N} done and {held_at_kill} messages held by all hosts"
    );
    for pid in victim_worker {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline && !process_gone(pid) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    let survivors: Vec<&Fnwire> = hosts.iter().collect();
    wait_until(&survivors, "every message done", WORK_BOUND, || store.message_count("jobs").unwrap() == 0);
    let done: Vec<String> =
        store.peek("done", N * 2).unwrap().into_iter().map(|m| String::from_utf8(m.body).unwrap()).collect();
    let unique: std::collections::BTreeSet<&String> = done.iter().collect();
    let expected: std::collections::BTreeSet<String> = (0..N).map(|i| format!("M{i}")).collect();
    let missing: Vec<_> = expected.iter().filter(|m| !unique.contains(m)).take(5).collect();
    assert!(missing.is_empty(), "messages lost, e.g. {missing:?}");
    let duplicates = done.len() - unique.len();
    eprintln!("{N} messages, {} results, {duplicates} processed twice", done.len());
    assert!(
        duplicates as u64 <= held_at_kill,
        "{duplicates} duplicates, more than the {held_at_kill} messages held when the host died"
    );
    // Both survivors took part (competing consumers, not one host doing it all).
    for host in &hosts {
        assert!(host.output().contains("Executing 'work'"), "{}", host.output());
    }
    assert_eq!(store.message_count("jobs-poison").unwrap(), 0);
    // hello-rust's `work` also writes `done/{Id}.txt`: in the database, one per message id.
    assert_eq!(
        BlobBackend::list(&store, "done").unwrap().len(),
        N,
        "one blob per message, seen by every host"
    );
    for host in &mut hosts {
        assert!(host.terminate().success());
    }
}

// A plain test: the store is called from this thread, never from inside a runtime.
#[test]
fn a_one_second_timer_on_three_hosts_fires_each_occurrence_once() {
    let db = TestDatabase::new();
    let app = test_worker_app();
    std::fs::write(app.path().join("local.settings.json"), r#"{"Values":{"TEST_WORKER_HOST_INDEXING":"1"}}"#)
        .unwrap();
    std::fs::write(app.path().join("host.json"), r#"{"version":"2.0"}"#).unwrap();
    std::fs::create_dir(app.path().join("second")).unwrap();
    std::fs::write(
        app.path().join("second").join("function.json"),
        r#"{"bindings":[{"type":"timerTrigger","direction":"in","name":"t","schedule":"* * * * * *"}]}"#,
    )
    .unwrap();
    let env = BTreeMap::from([("AzureWebJobsStorage", db.url.clone())]);
    let mut hosts: Vec<Fnwire> = (0..3).map(|_| start_host(app.path(), &env)).collect();
    // The issue's window: the three hosts together for 10 s.
    std::thread::sleep(Duration::from_secs(10));
    for host in &mut hosts {
        assert!(host.terminate().success());
    }
    let runs: usize = hosts.iter().map(|h| h.output().matches("Executing 'second'").count()).sum();
    let per_host: Vec<usize> =
        hosts.iter().map(|h| h.output().matches("Executing 'second'").count()).collect();
    let claimed = std::thread::spawn({
        let url = db.url.clone();
        move || {
            let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            let row = client
                .query_one("SELECT COUNT(*) FROM fnwire_timer_occurrences WHERE function = 'second'", &[])
                .unwrap();
            row.get::<_, i64>(0) as usize
        }
    })
    .join()
    .unwrap();
    eprintln!("runs per host {per_host:?}; {} occurrences claimed", claimed);
    // Each run had its occurrence claimed first: more runs than claims would be a double run.
    // A host stopped between claiming and running leaves a claim without a run (one per host).
    assert!(runs <= claimed, "{runs} runs for {} occurrences: some ran twice", claimed);
    assert!(runs + hosts.len() >= claimed, "{runs} runs for {} claimed occurrences", claimed);
    // Loose on purpose: a loaded machine may delay a host's wake-up past an occurrence.
    assert!(runs >= 5, "a one-second timer ran {runs} times in 10 s");
}

#[test]
fn hosts_on_one_database_share_their_keys_and_the_queue_cli_follows_the_setting() {
    let db = TestDatabase::new();
    let app = test_worker_app();
    let run = |args: &[&str]| {
        let out = std::process::Command::new(fnwire_exe())
            .args(args)
            .env("AzureWebJobsStorage", &db.url)
            .env("NO_COLOR", "1")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stdout).unwrap()
    };
    let app_dir = app.path().to_str().unwrap();
    let first = run(&["keys", app_dir]);
    let other_app = test_worker_app();
    let second = run(&["keys", other_app.path().to_str().unwrap()]);
    assert!(first.contains("master key:"), "{first}");
    let master = |out: &str| out.lines().find(|l| l.starts_with("master key:")).map(str::to_string);
    assert_eq!(master(&first), master(&second), "one master key for every host on the database");
    assert!(first.contains("the app's database"), "{first}");
    assert!(!app.path().join(".fnwire").join("keys.json").exists(), "no keys file when the keys are shared");

    run(&["queue", "put", "cli-jobs", "hello from the cli", "--app", app_dir]);
    let listed = run(&["queue", "list", "--app", other_app.path().to_str().unwrap()]);
    assert!(listed.contains("cli-jobs"), "{listed}");
    let store = PgStore::open(&db.url).unwrap();
    assert_eq!(store.peek("cli-jobs", 5).unwrap()[0].body, b"hello from the cli");
}

/// The database dropping every connection (a restart, a failover) is a fault the host rides
/// out: calls fail, the pool opens new connections, and no message is lost.
// A plain test: the store is called from this thread, never from inside a runtime.
#[test]
fn a_host_rides_out_the_database_dropping_its_connections() {
    let db = TestDatabase::new();
    let store = PgStore::open(&db.url).unwrap();
    const N: usize = 1000;
    let jobs: Vec<MessageBody> = (0..N).map(|i| MessageBody::new("jobs", format!("m{i}"))).collect();
    store.put_many(&jobs).unwrap();
    let blobs = tempfile::tempdir().unwrap();
    let env = BTreeMap::from([
        ("AzureWebJobsStorage", db.url.clone()),
        ("FNWIRE_STORAGE_DIR", blobs.path().display().to_string()),
        ("FNWIRE_QUEUE_MESSAGE_LEASE", "00:00:03".to_string()),
    ]);
    let mut host = start_host(&hello_rust_dir(), &env);
    let name = db.name.clone();
    let cut = std::thread::spawn(move || {
        let mut admin = postgres::Client::connect(&server_url(), postgres::NoTls).unwrap();
        let mut cut = 0;
        for _ in 0..5 {
            std::thread::sleep(Duration::from_millis(300));
            let rows = admin
                .query(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()",
                    &[&name],
                )
                .unwrap();
            cut += rows.len();
        }
        cut
    });
    let cut = cut.join().unwrap();
    eprintln!("terminated {cut} connections of the host and the test");
    assert!(cut > 0, "the host had connections to cut");
    wait_until(&[&host], "every message done after the connections were cut", WORK_BOUND, || {
        store.message_count("jobs").is_ok_and(|n| n == 0)
    });
    let done: std::collections::BTreeSet<String> =
        store.peek("done", N * 2).unwrap().into_iter().map(|m| String::from_utf8(m.body).unwrap()).collect();
    assert_eq!(done.len(), N, "every message done, none lost");
    assert!(host.terminate().success(), "{}", host.output());
}

/// `examples/durable-rust` packed (debug build) into `dir`, with leases short enough that a
/// dead host's work moves within the test's bounds, and `activities` at once per host.
fn packed_durable_app(dir: &Path, activities: u32) -> PathBuf {
    let app = dir.join("durable-app");
    let out = std::process::Command::new(fnwire_exe())
        .arg("pack")
        .arg(PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/durable-rust")))
        .arg("--out")
        .arg(&app)
        .arg("--debug")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let host_json = serde_json::json!({
        "version": "2.0",
        "extensions": {
            "http": { "routePrefix": "api" },
            "durableTask": {
                "maxConcurrentActivityFunctions": activities,
                "storageProvider": {
                    "controlQueueVisibilityTimeout": "00:00:04",
                    "workItemQueueVisibilityTimeout": "00:00:04"
                }
            }
        }
    });
    std::fs::write(app.join("host.json"), host_json.to_string()).unwrap();
    app
}

/// Polls the durable status URL until the instance ends (bounded); returns the status body.
async fn wait_for_instance(hosts: &[&Fnwire], status_url: &str, bound: Duration) -> serde_json::Value {
    let deadline = Instant::now() + bound;
    loop {
        let reply = get(status_url).await;
        if reply.status == 200 {
            let body: serde_json::Value = serde_json::from_str(&reply.body).unwrap();
            if matches!(body["runtimeStatus"].as_str(), Some("Completed" | "Failed" | "Terminated")) {
                return body;
            }
        }
        if Instant::now() > deadline {
            let outputs: Vec<String> = hosts.iter().map(|h| h.output()).collect();
            panic!(
                "the instance did not end within {bound:?}; last status {} {}; outputs:\n{}",
                reply.status,
                reply.body,
                outputs.join("\n-----\n")
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_200_activity_fan_out_on_three_hosts_completes_when_one_is_killed() {
    let db = TestDatabase::new();
    let dir = tempfile::tempdir().unwrap();
    // Two activities at once per host, so the fan-out is still running when the host dies.
    let app = packed_durable_app(dir.path(), 2);
    let env = BTreeMap::from([("AzureWebJobsStorage", db.url.clone())]);
    let mut hosts: Vec<Fnwire> = (0..3).map(|_| start_host(&app, &env)).collect();

    let started = request("POST", &hosts[0].url("/api/orchestrators/fan_out_fan_in"), &[], "200").await;
    assert_eq!(started.status, 202, "{}", started.body);
    let status_url = serde_json::from_str::<serde_json::Value>(&started.body).unwrap()["statusQueryGetUri"]
        .as_str()
        .unwrap()
        .to_string();
    let instance_id =
        serde_json::from_str::<serde_json::Value>(&started.body).unwrap()["id"].as_str().unwrap().to_string();
    wait_until(&[&hosts[1]], "the second host running activities", WORK_BOUND, || {
        hosts[1].output().matches("Executing 'square'").count() >= 3
    });
    let mut victim = hosts.remove(1);
    victim.child.kill().unwrap(); // SIGKILL: its leases stay until they expire
    victim.child.wait().unwrap();
    let hub = fnwire_durable::postgres::PgTaskHub::open(&db.url).unwrap();
    let waiting_at_kill = hub.store().query_count("SELECT COUNT(*) FROM fnwire_durable_activities").unwrap();
    eprintln!("killed one of 3 hosts with {waiting_at_kill} of 200 activities not yet done");

    let survivors: Vec<&Fnwire> = hosts.iter().collect();
    let status = wait_for_instance(&survivors, &status_url, WORK_BOUND).await;
    assert_eq!(status["runtimeStatus"], "Completed", "{status}");
    let expected: i64 = (0..200i64).map(|n| n * n).sum();
    assert_eq!(status["output"], expected, "{status}");
    // Each activity's result entered the history once: a result from a host whose lease was
    // lost is refused, so a re-run never doubles one.
    let history = fnwire_durable::taskhub::TaskHub::get_history(&hub, &instance_id).unwrap();
    let completed: Vec<i64> = history
        .iter()
        .filter(|e| e.event_type == fnwire_durable::model::EventType::TaskCompleted)
        .filter_map(|e| e.task_scheduled_id)
        .collect();
    let unique: std::collections::BTreeSet<&i64> = completed.iter().collect();
    assert_eq!((completed.len(), unique.len()), (200, 200));
    let runs: usize = std::iter::once(&victim)
        .chain(hosts.iter())
        .map(|h| h.output().matches("Executing 'square'").count())
        .sum();
    eprintln!("200 activities, {runs} runs: {} ran again after the host died", runs.saturating_sub(200));
    for host in &hosts {
        assert!(host.output().contains("Executing 'square'"), "every survivor took part:\n{}", host.output());
    }
    for host in &mut hosts {
        assert!(host.terminate().success());
    }
}

/// A TCP relay between one host and the database. `cut` closes every relayed connection and
/// drops new ones as soon as they arrive, until `restore`: a network partition as that host
/// sees it (its connections break, new ones fail), while other hosts reach the database.
struct Relay {
    port: u16,
    cut: tokio::sync::watch::Sender<bool>,
    runtime: tokio::runtime::Runtime,
}

impl Relay {
    fn start(upstream: std::net::SocketAddr) -> Relay {
        let runtime =
            tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let listener = runtime.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).unwrap();
        let port = listener.local_addr().unwrap().port();
        let (cut, cut_watch) = tokio::sync::watch::channel(false);
        runtime.spawn(async move {
            loop {
                let Ok((mut client, _)) = listener.accept().await else { continue };
                if *cut_watch.borrow() {
                    continue; // dropped: the host's connection attempt fails
                }
                let mut cut_watch = cut_watch.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else { return };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut_watch.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        Relay { port, cut, runtime }
    }

    fn cut(&self) {
        self.cut.send_replace(true);
    }

    fn restore(&self) {
        self.cut.send_replace(false);
    }
}

/// The database server's address, and `url` with it replaced by `127.0.0.1:port`.
fn through_relay(url: &str, port: u16) -> (std::net::SocketAddr, String) {
    let config: fnwire_storage_postgres::tokio_postgres::Config = url.parse().unwrap();
    let host = match &config.get_hosts()[0] {
        fnwire_storage_postgres::tokio_postgres::config::Host::Tcp(host) => host.clone(),
        other => panic!("the test server must be reached over TCP, not {other:?}"),
    };
    let server_port = config.get_ports().first().copied().unwrap_or(5432);
    let authority = format!("{host}:{server_port}");
    assert!(url.contains(&authority), "FNWIRE_TEST_POSTGRES must name host:port explicitly: {url}");
    let upstream = std::net::ToSocketAddrs::to_socket_addrs(&authority).unwrap().next().unwrap();
    (upstream, url.replacen(&authority, &format!("127.0.0.1:{port}"), 1))
}

/// One host cut off from the database (the others are not): it reports the fault, answers 503
/// on a function that needs the store and 200 on one that does not, the other hosts finish its
/// queue work once its leases expire, and when the database is back it serves and takes queue
/// work again. Every message is done exactly once: a completion that cannot commit was never
/// acknowledged, and its message runs again elsewhere.
#[test]
fn a_host_cut_off_from_the_database_answers_503_and_resumes_losing_and_doubling_nothing() {
    const CUT_AT_LEAST: Duration = Duration::from_secs(20);
    let db = TestDatabase::new();
    let store = PgStore::open(&db.url).unwrap();
    const N: usize = 600;
    let (upstream, _) = through_relay(&db.url, 0);
    let relay = Relay::start(upstream);
    let (_, relayed_url) = through_relay(&db.url, relay.port);
    let blobs = tempfile::tempdir().unwrap();
    let env = |url: &str| {
        BTreeMap::from([
            ("AzureWebJobsStorage", url.to_string()),
            ("FNWIRE_STORAGE_DIR", blobs.path().display().to_string()),
            ("FNWIRE_QUEUE_MESSAGE_LEASE", "00:00:03".to_string()),
        ])
    };
    let mut hosts: Vec<Fnwire> = vec![
        start_host(&hello_rust_dir(), &env(&db.url)),
        start_host(&hello_rust_dir(), &env(&db.url)),
        start_host(&hello_rust_dir(), &env(&relayed_url)),
    ];
    let cut_off = 2;
    // Put once every host runs, so a slow start does not leave the cut-off host nothing to do.
    let jobs: Vec<MessageBody> = (0..N).map(|i| MessageBody::new("jobs", format!("m{i}"))).collect();
    store.put_many(&jobs).unwrap();
    wait_until(&[&hosts[cut_off]], "the cut-off host working", WORK_BOUND, || {
        hosts[cut_off].output().contains("Executing 'work'")
    });
    let post = |host: &Fnwire, path: &str, body: &str| {
        relay.runtime.block_on(request("POST", &host.url(path), &[], body.to_string()))
    };
    let hello = |host: &Fnwire| relay.runtime.block_on(get(&host.url("/api/hello/cut")));

    relay.cut();
    let cut_at = Instant::now();
    eprintln!("cut one host off with {} messages left", store.message_count("jobs").unwrap());
    // The first call that needs the store finds it gone; from then on the answer is 503 at once.
    let mut during_cut = 0;
    wait_until(&[&hosts[cut_off]], "503 from the cut-off host", WORK_BOUND, || {
        during_cut += 1;
        let reply = post(&hosts[cut_off], "/api/enqueue", &format!("during-cut-{during_cut}"));
        reply.status == 503
    });
    // The fault is reported (the console is written by its own thread: wait for the line).
    hosts[cut_off].wait_for_output("the app's store (postgresql) does not answer", WORK_BOUND);
    // Its work moves: what it held reappears after the lease and the others finish the queue.
    let survivors: Vec<&Fnwire> = hosts.iter().take(2).collect();
    wait_until(&survivors, "the others finishing the queue", WORK_BOUND, || {
        store.message_count("jobs").unwrap() == 0
    });
    // Until the cut has lasted long enough: a function that needs the store keeps answering
    // 503 with Retry-After, one that does not keeps answering 200.
    loop {
        let refused = post(&hosts[cut_off], "/api/enqueue", "during-cut-late");
        assert_eq!(refused.status, 503, "{}", refused.body);
        assert_eq!(refused.header("retry-after"), "5");
        assert!(refused.body.contains("needs the app's store"), "{}", refused.body);
        let served = hello(&hosts[cut_off]);
        assert_eq!(served.status, 200, "{}", served.body);
        if cut_at.elapsed() >= CUT_AT_LEAST {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let runs_before_restore = hosts[cut_off].output().matches("Executing 'work'").count();

    relay.restore();
    wait_until(&[&hosts[cut_off]], "the host serving again", WORK_BOUND, || {
        post(&hosts[cut_off], "/api/enqueue", "after-cut").status == 202
    });
    hosts[cut_off].wait_for_output("the app's store answers again", WORK_BOUND);
    // It takes queue work again (woken when its notifications reconnect, or by its polls).
    let more: Vec<MessageBody> = (0..300).map(|i| MessageBody::new("jobs", format!("r{i}"))).collect();
    store.put_many(&more).unwrap();
    wait_until(&[&hosts[cut_off]], "the host taking queue work again", WORK_BOUND, || {
        hosts[cut_off].output().matches("Executing 'work'").count() > runs_before_restore
    });
    let all: Vec<&Fnwire> = hosts.iter().collect();
    wait_until(&all, "every message done", WORK_BOUND, || store.message_count("jobs").unwrap() == 0);

    let done: Vec<String> =
        store.peek("done", 10 * N).unwrap().into_iter().map(|m| String::from_utf8(m.body).unwrap()).collect();
    let unique: std::collections::BTreeSet<&String> = done.iter().collect();
    assert_eq!(done.len(), unique.len(), "nothing done twice");
    let mut expected: std::collections::BTreeSet<String> = (0..N).map(|i| format!("M{i}")).collect();
    expected.extend((0..300).map(|i| format!("R{i}")));
    expected.insert("AFTER-CUT".into());
    let missing: Vec<_> = expected.iter().filter(|m| !unique.contains(m)).take(5).collect();
    assert!(missing.is_empty(), "messages lost, e.g. {missing:?}");
    // A refused enqueue was not acknowledged; one whose commit landed just as the connection
    // broke may still have gone through, once.
    let extra: Vec<_> = unique.iter().filter(|m| !expected.contains(**m)).collect();
    assert!(extra.iter().all(|m| m.starts_with("DURING-CUT")), "{extra:?}");
    eprintln!(
        "cut for {:.1} s; {} results, {} from enqueues refused during the cut",
        CUT_AT_LEAST.as_secs_f64(),
        done.len(),
        extra.len()
    );
    for host in &mut hosts {
        assert!(host.terminate().success(), "{}", host.output());
    }
}

/// `--host` decides what the start-up table prints: the address listened on, or for every
/// interface the loopback plus a line saying how other machines reach the host.
#[tokio::test(flavor = "multi_thread")]
async fn the_start_up_urls_name_the_address_the_host_listens_on() {
    let mut everywhere = Fnwire::spawn(&hello_rust_dir(), &["--debug", "--host", "0.0.0.0"]);
    everywhere.wait_for_output("Host started", STARTUP_BOUND);
    let port = everywhere.port;
    let output = everywhere.output();
    assert!(output.contains(&format!("Listening on every interface (0.0.0.0:{port})")), "{output}");
    assert!(output.contains(&format!("http://127.0.0.1:{port}/api/hello/{{name?}}")), "{output}");
    assert_eq!(get(&everywhere.url("/api/hello/there")).await.status, 200);
    assert!(everywhere.terminate().success());

    // Another loopback address: only it is listened on, and the table says so.
    let mut one = Fnwire::spawn(&hello_rust_dir(), &["--debug", "--host", "127.0.0.2"]);
    one.wait_for_output("Host started", STARTUP_BOUND);
    let output = one.output();
    let url = format!("http://127.0.0.2:{}/api/hello/{{name?}}", one.port);
    assert!(output.contains(&url), "{output}");
    assert!(!output.contains("Listening on every interface"), "{output}");
    assert_eq!(get(&format!("http://127.0.0.2:{}/api/hello/there", one.port)).await.status, 200);
    assert!(one.terminate().success());
}

//! What only the PostgreSQL store has: schema versions, hosts sharing a database, wake-ups,
//! and the queries KEDA scales on.

use std::sync::mpsc;
use std::time::Duration;

use fnwire_storage::{MessageBody, QueueStore, StorageError};
use fnwire_storage_postgres::{
    PgStore, SCHEMA_VERSION, is_postgres_url, listen_for_queues, redact, visible_messages_query,
};

use crate::{ManualClock, TestDatabase, pg_store};

#[test]
fn a_newer_schema_stops_the_store_and_changes_nothing() {
    let db = TestDatabase::new();
    drop(PgStore::open(&db.url).unwrap());
    let mut client = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    client.batch_execute(&format!("UPDATE fnwire_schema SET version = {}", SCHEMA_VERSION + 1)).unwrap();
    let tables_before: i64 = client
        .query_one("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'", &[])
        .unwrap()
        .get(0);
    let err = PgStore::open(&db.url).unwrap_err();
    assert!(
        matches!(err, StorageError::SchemaTooNew { found, .. } if found == SCHEMA_VERSION + 1),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains("newer") && text.contains("Nothing was changed"), "{text}");
    let version: i64 = client.query_one("SELECT version FROM fnwire_schema", &[]).unwrap().get(0);
    assert_eq!(version, SCHEMA_VERSION + 1);
    let tables_after: i64 = client
        .query_one("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'", &[])
        .unwrap()
        .get(0);
    assert_eq!(tables_before, tables_after);
}

#[test]
fn hosts_opening_together_create_the_schema_once() {
    let db = TestDatabase::new();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| PgStore::open(&db.url).unwrap());
        }
    });
    let mut client = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    let rows = client.query("SELECT version FROM fnwire_schema", &[]).unwrap();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].get::<_, i64>(0), SCHEMA_VERSION);
}

#[test]
fn an_unreachable_server_is_an_error_that_names_it_without_the_password() {
    let options = fnwire_storage_postgres::PgStoreOptions {
        connect_timeout: Duration::from_secs(2),
        ..Default::default()
    };
    // Port 1 on the loopback: nothing listens there.
    let err = PgStore::open_with("postgres://fnwire:secret@127.0.0.1:1/app", options).unwrap_err();
    let text = err.to_string();
    assert!(text.contains("postgres://fnwire:***@127.0.0.1:1/app"), "{text}");
    assert!(!text.contains("secret"), "{text}");
    assert!(text.contains("AzureWebJobsStorage"), "{text}");
}

#[test]
fn two_stores_on_one_database_share_queues() {
    let db = TestDatabase::new();
    let clock = ManualClock::default();
    let (host_a, host_b) = (pg_store(&db, &clock), pg_store(&db, &clock));
    host_a.put("shared", b"one", None).unwrap();
    let taken = host_b.get_messages("shared", 5, Duration::from_secs(30)).unwrap();
    assert_eq!(taken.len(), 1);
    assert!(host_a.get_messages("shared", 5, Duration::from_secs(30)).unwrap().is_empty());
    // A host that died holding it: the message is back once its visibility timeout ends.
    assert_eq!(host_a.recover_at_start().unwrap(), 0, "a shared store never takes back live holds");
    clock.advance(Duration::from_secs(31));
    let again = host_a.get_messages("shared", 5, Duration::from_secs(30)).unwrap();
    assert_eq!(again[0].id, taken[0].id);
    assert_eq!(again[0].dequeue_count, 2);
}

/// Tokio gives each task a budget of resource operations per turn; a synchronous store call
/// made from inside a task spends that task's budget, and once it is spent every later call in
/// the same turn must still finish (it used to spin on a spent budget for ever).
#[test]
fn store_calls_from_inside_an_async_task_on_a_multi_thread_runtime_finish() {
    let db = TestDatabase::new();
    let store = std::sync::Arc::new(PgStore::open(&db.url).unwrap());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let (done, finished) = mpsc::channel();
    let calls = 300;
    let in_task = store.clone();
    runtime.spawn(async move {
        // No await between calls: one turn of the task makes all of them.
        for i in 0..calls {
            in_task.put("in-task", format!("{i}").as_bytes(), None).unwrap();
        }
        let _ = done.send(in_task.peek("in-task", 32).unwrap().len());
    });
    let outcome = finished.recv_timeout(Duration::from_secs(60));
    // A task still spinning would keep a dropped runtime waiting: leave it behind instead.
    runtime.shutdown_background();
    assert_eq!(outcome, Ok(32), "{calls} store calls in one turn of an async task did not finish");
    assert_eq!(store.peek("in-task", calls + 1).unwrap().len(), calls);
}

#[test]
fn a_put_wakes_a_listener() {
    let db = TestDatabase::new();
    let store = PgStore::open(&db.url).unwrap();
    let (tx, rx) = mpsc::channel::<String>();
    let listener = listen_for_queues(&db.url, move |queue| tx.send(queue.to_string()).is_ok()).unwrap();
    // The listener may not be listening yet: put until a wake-up arrives (bounded).
    let mut woke = None;
    for _ in 0..50 {
        store.put("orders", b"x", None).unwrap();
        if let Ok(queue) = rx.recv_timeout(Duration::from_millis(200)) {
            woke = Some(queue);
            break;
        }
    }
    assert_eq!(woke.as_deref(), Some("orders"));
    drop(rx);
    // The next notification finds the receiver gone and stops the listener.
    store.put_many(&[MessageBody::new("orders", b"y".to_vec())]).unwrap();
    listener.join().unwrap();
}

#[test]
fn the_keda_query_counts_visible_messages_of_one_queue() {
    let db = TestDatabase::new();
    // The real clock: the query compares with the database's time, as KEDA runs it.
    let store = PgStore::open(&db.url).unwrap();
    for i in 0..7 {
        store.put("orders", format!("{i}").as_bytes(), None).unwrap();
    }
    store.put("other", b"x", None).unwrap();
    store.put("orders", b"gone", Some(Duration::from_millis(1))).unwrap();
    store.get_messages("orders", 2, Duration::from_secs(300)).unwrap();
    std::thread::sleep(Duration::from_millis(5));
    assert_eq!(store.query_count(&visible_messages_query("orders")).unwrap(), 5);
    assert_eq!(store.query_count(&visible_messages_query("it's")).unwrap(), 0, "quotes are escaped");
}

#[test]
fn urls_are_recognised_and_redacted() {
    assert!(is_postgres_url("postgres://u@h/db"));
    assert!(is_postgres_url("postgresql://u@h/db"));
    assert!(!is_postgres_url("UseDevelopmentStorage=true"));
    assert_eq!(redact("postgres://u:p@h:5432/db"), "postgres://u:***@h:5432/db");
    assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
}

/// The host opens its store, and the CLI uses it, from async code; a client that brings its
/// own runtime would panic there, on use or on drop.
#[tokio::test]
async fn a_store_opens_works_and_drops_inside_async_code() {
    let db = TestDatabase::new();
    let store = PgStore::open(&db.url).unwrap();
    store.put("async-queue", b"x", None).unwrap();
    assert_eq!(store.message_count("async-queue").unwrap(), 1);
    drop(store);
}

#[test]
fn messages_stored_before_schema_6_come_back_without_a_trace_context() {
    let db = TestDatabase::new();
    let clock = ManualClock::default();
    let store = pg_store(&db, &clock);
    store.put("work", b"old", None).unwrap();
    drop(store);
    // The database as schema 5 left it: no trace columns.
    let mut client = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    client
        .batch_execute(
            "ALTER TABLE fnwire_messages DROP COLUMN traceparent, DROP COLUMN tracestate;
             UPDATE fnwire_schema SET version = 5;",
        )
        .unwrap();
    let store = pg_store(&db, &clock);
    let version: i64 = client.query_one("SELECT version FROM fnwire_schema", &[]).unwrap().get(0);
    assert_eq!(version, SCHEMA_VERSION);
    let trace =
        fnwire_storage::MessageTrace::new("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", "");
    store.put_many(&[MessageBody::new("work", b"new".to_vec()).with_trace(trace.clone())]).unwrap();
    let taken = store.get_messages("work", 10, Duration::from_secs(30)).unwrap();
    let got: Vec<_> = taken.iter().map(|m| (m.body.as_slice(), m.trace.clone())).collect();
    assert_eq!(got, vec![(&b"old"[..], None), (&b"new"[..], trace)]);
}

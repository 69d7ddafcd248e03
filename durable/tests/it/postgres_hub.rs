//! What only the PostgreSQL task hub has: hosts (each a hub with its own connections) taking
//! work together, its schema version, the wake-up across hosts, and the query KEDA scales on.

use std::collections::BTreeSet;
use std::sync::mpsc;
use std::time::Duration;

use fnwire_durable::model::{EventType, HistoryEvent, RuntimeStatus};
use fnwire_durable::postgres::{PgTaskHub, TASK_HUB_SCHEMA_VERSION, pending_work_query};
use fnwire_durable::taskhub::{InstanceStep, NewActivity, NewInstance, TaskHub, WorkKind};
use fnwire_storage_postgres::testing::TestDatabase;

const LEASE: Duration = Duration::from_secs(30);

fn start(hub: &PgTaskHub, id: &str) {
    let new =
        NewInstance { instance_id: id.into(), name: "fan".into(), input: None, parent: None, start_at: None };
    hub.create_instance(&new).unwrap();
}

fn pending(hub: &PgTaskHub) -> i64 {
    hub.store().query_count(&pending_work_query()).unwrap()
}

#[test]
fn hosts_taking_work_together_never_take_one_instance_or_activity_twice() {
    let db = TestDatabase::new();
    let hosts: Vec<PgTaskHub> = (0..3).map(|_| PgTaskHub::open(&db.url).unwrap()).collect();
    const INSTANCES: usize = 40;
    for i in 0..INSTANCES {
        start(&hosts[i % 3], &format!("i{i}"));
    }
    // Four dispatchers per host take instances until none is left; each step schedules two
    // activities.
    let taken: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..12)
            .map(|d| {
                let hub = &hosts[d % 3];
                s.spawn(move || {
                    let mut mine = Vec::new();
                    while let Some(item) = hub.lock_next_instance(&format!("d{d}"), LEASE).unwrap() {
                        let step = InstanceStep {
                            consumed: item.events.iter().map(|e| e.0).collect(),
                            history: item.events.iter().map(|e| e.2.clone()).collect(),
                            status: Some(RuntimeStatus::Running),
                            activities: (0..2)
                                .map(|t| NewActivity { task_id: t, name: "work".into(), input: None })
                                .collect(),
                            ..Default::default()
                        };
                        hub.complete_instance(&item, &step).unwrap();
                        mine.push(item.instance.instance_id);
                    }
                    mine
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let unique: BTreeSet<&String> = taken.iter().collect();
    assert_eq!(taken.len(), INSTANCES, "each instance taken once: {taken:?}");
    assert_eq!(unique.len(), INSTANCES);

    let activities: Vec<(String, i64)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..12)
            .map(|d| {
                let hub = &hosts[d % 3];
                s.spawn(move || {
                    let mut mine = Vec::new();
                    while let Some(item) = hub.lock_next_activity(&format!("a{d}"), LEASE).unwrap() {
                        let mut done = HistoryEvent::new(EventType::TaskCompleted, chrono::Utc::now());
                        done.task_scheduled_id = Some(item.task_id);
                        hub.complete_activity(&item, done).unwrap();
                        mine.push((item.instance_id, item.task_id));
                    }
                    mine
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    let unique: BTreeSet<&(String, i64)> = activities.iter().collect();
    assert_eq!(activities.len(), INSTANCES * 2, "each activity run once");
    assert_eq!(unique.len(), INSTANCES * 2);
    assert_eq!(pending(&hosts[0]), INSTANCES as i64 * 2, "both results of each instance wait for it");
}

#[test]
fn the_scaler_query_counts_events_no_lease_holds_and_activities_waiting() {
    let db = TestDatabase::new();
    let hub = PgTaskHub::open(&db.url).unwrap();
    assert_eq!(pending(&hub), 0);
    for id in ["a", "b", "c"] {
        start(&hub, id);
    }
    assert_eq!(pending(&hub), 3, "three start events");
    let item = hub.lock_next_instance("host", LEASE).unwrap().unwrap();
    assert_eq!(pending(&hub), 2, "the leased instance's event is being worked on");
    let step = InstanceStep {
        consumed: item.events.iter().map(|e| e.0).collect(),
        activities: (0..5).map(|t| NewActivity { task_id: t, name: "work".into(), input: None }).collect(),
        ..Default::default()
    };
    hub.complete_instance(&item, &step).unwrap();
    assert_eq!(pending(&hub), 7, "two start events and five activities");
    let _held = hub.lock_next_activity("host", LEASE).unwrap().unwrap();
    assert_eq!(pending(&hub), 6, "a leased activity is not waiting");
}

#[test]
fn new_work_wakes_a_watching_host() {
    let db = TestDatabase::new();
    let watcher = PgTaskHub::open(&db.url).unwrap();
    let other = PgTaskHub::open(&db.url).unwrap();
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    watcher.watch(Box::new(move |kind| tx.lock().unwrap().send(kind).is_ok())).unwrap();
    // The LISTEN connection opens on the watcher's thread: send until a wake-up arrives.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let mut n = 0;
    let woke = loop {
        assert!(std::time::Instant::now() < deadline, "no wake-up for new instances");
        start(&other, &format!("w{n}"));
        n += 1;
        if let Ok(kind) = rx.recv_timeout(Duration::from_millis(500)) {
            break kind;
        }
    };
    assert_eq!(woke, WorkKind::Events);
    while rx.try_recv().is_ok() {}
    let item = other.lock_next_instance("host", LEASE).unwrap().unwrap();
    let step = InstanceStep {
        consumed: item.events.iter().map(|e| e.0).collect(),
        activities: vec![NewActivity { task_id: 0, name: "work".into(), input: None }],
        ..Default::default()
    };
    other.complete_instance(&item, &step).unwrap();
    let kinds: Vec<WorkKind> =
        std::iter::from_fn(|| rx.recv_timeout(Duration::from_secs(10)).ok()).take(1).collect();
    assert_eq!(
        kinds,
        [WorkKind::Activities],
        "a step that schedules activities wakes the activity dispatchers"
    );
}

#[test]
fn a_newer_task_hub_schema_stops_the_hub_and_changes_nothing() {
    let db = TestDatabase::new();
    drop(PgTaskHub::open(&db.url).unwrap());
    let run = |sql: String| {
        let url = db.url.clone();
        std::thread::spawn(move || {
            let mut client = postgres::Client::connect(&url, postgres::NoTls).unwrap();
            client.batch_execute(&sql).unwrap();
            let count: i64 = client
                .query_one(
                    "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = 'public'",
                    &[],
                )
                .unwrap()
                .get(0);
            count
        })
        .join()
        .unwrap()
    };
    let before = run(format!("UPDATE fnwire_durable_schema SET version = {}", TASK_HUB_SCHEMA_VERSION + 1));
    let error = PgTaskHub::open(&db.url).unwrap_err().to_string();
    assert!(error.contains("newer") && error.contains("Nothing was changed"), "{error}");
    assert!(!error.contains("password"), "{error}");
    let after = run("SELECT 1".into());
    assert_eq!(before, after);
}

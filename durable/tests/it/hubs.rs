//! The task hubs against the rules of the `TaskHub` trait: leases, one-transaction steps,
//! timers, competing activities, queries and purges. Each test body runs on the SQLite hub,
//! then on the PostgreSQL hub (a database of its own, dropped afterwards; the server is
//! `FNWIRE_TEST_POSTGRES`, started by `scripts/postgres.sh` when none answers).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use fnwire_durable::model::{EventType, HistoryEvent, RuntimeStatus};
use fnwire_durable::postgres::PgTaskHub;
use fnwire_durable::sqlite::SqliteTaskHub;
use fnwire_durable::taskhub::{
    InstanceQuery, InstanceStep, Message, NewActivity, NewInstance, TaskHub, TaskHubError,
};
use fnwire_storage_postgres::testing::TestDatabase;

pub struct Fixture {
    pub hub: Box<dyn TaskHub>,
    pub now: Arc<Mutex<DateTime<Utc>>>,
}

impl Fixture {
    pub fn advance(&self, by: Duration) {
        let mut now = self.now.lock().unwrap();
        *now += chrono::Duration::from_std(by).unwrap();
    }

    pub fn start(&self, id: &str) {
        let new = NewInstance {
            instance_id: id.into(),
            name: "chain".into(),
            input: Some("\"tokyo\"".into()),
            parent: None,
            start_at: None,
        };
        self.hub.create_instance(&new).unwrap();
    }
}

fn manual_clock() -> (Arc<Mutex<DateTime<Utc>>>, fnwire_durable::sqlite::Clock) {
    let now = Arc::new(Mutex::new(Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()));
    let clock = now.clone();
    (now, Arc::new(move || *clock.lock().unwrap()))
}

/// Runs `body` on a fresh SQLite hub, then on a fresh PostgreSQL hub, each with a clock the
/// test moves by hand. The log line before each run says which hub a failure belongs to.
pub fn on_both_hubs(body: impl Fn(&Fixture)) {
    let dir = tempfile::tempdir().unwrap();
    let (now, clock) = manual_clock();
    eprintln!("on the SQLite hub");
    body(&Fixture { hub: Box::new(SqliteTaskHub::open_with(dir.path(), clock).unwrap()), now });
    let db = TestDatabase::new();
    let (now, clock) = manual_clock();
    eprintln!("on the PostgreSQL hub");
    body(&Fixture { hub: Box::new(PgTaskHub::open_with(&db.url, clock).unwrap()), now });
}

const LEASE: Duration = Duration::from_secs(30);

#[test]
fn a_started_instance_is_locked_once_and_its_step_commits_history_activities_and_status() {
    on_both_hubs(|f| {
        f.start("a");
        let item = f.hub.lock_next_instance("one", LEASE).unwrap().expect("the start event is work");
        assert_eq!(item.events.len(), 1);
        assert_eq!(item.events[0].2.event_type, EventType::ExecutionStarted);
        assert_eq!(item.events[0].2.input.as_deref(), Some("\"tokyo\""));
        assert!(
            f.hub.lock_next_instance("two", LEASE).unwrap().is_none(),
            "a locked instance is not handed out twice"
        );

        let mut scheduled = HistoryEvent::new(EventType::TaskScheduled, Utc::now());
        scheduled.event_id = 0;
        scheduled.name = Some("shout".into());
        let step = InstanceStep {
            consumed: vec![item.events[0].0],
            history: vec![item.events[0].2.clone(), scheduled],
            status: Some(RuntimeStatus::Running),
            activities: vec![NewActivity {
                task_id: 0,
                name: "shout".into(),
                input: Some("\"tokyo\"".into()),
            }],
            ..Default::default()
        };
        f.hub.complete_instance(&item, &step).unwrap();
        assert!(f.hub.lock_next_instance("two", LEASE).unwrap().is_none(), "the consumed event is gone");
        let record = f.hub.get_instance("a").unwrap().unwrap();
        assert_eq!(record.status, RuntimeStatus::Running);
        assert_eq!(f.hub.get_history("a").unwrap().len(), 2);

        let activity = f.hub.lock_next_activity("w1", LEASE).unwrap().expect("the activity is work");
        assert_eq!((activity.task_id, activity.name.as_str()), (0, "shout"));
        assert!(f.hub.lock_next_activity("w2", LEASE).unwrap().is_none(), "activities compete");
        let mut done = HistoryEvent::new(EventType::TaskCompleted, Utc::now());
        done.task_scheduled_id = Some(0);
        done.result = Some("\"TOKYO\"".into());
        f.hub.complete_activity(&activity, done).unwrap();
        let next =
            f.hub.lock_next_instance("one", LEASE).unwrap().expect("the result is work for the instance");
        assert_eq!(next.events[0].2.event_type, EventType::TaskCompleted);
        assert_eq!(next.events[0].1.as_deref(), Some(record.execution_id.as_str()));
        assert_eq!(next.history.len(), 2);
    });
}

#[test]
fn an_expired_lease_hands_the_instance_to_another_owner_and_the_first_cannot_commit() {
    on_both_hubs(|f| {
        f.start("a");
        let first = f.hub.lock_next_instance("one", LEASE).unwrap().unwrap();
        f.advance(LEASE + Duration::from_secs(1));
        let second = f.hub.lock_next_instance("two", LEASE).unwrap().expect("the lease expired");
        let step = InstanceStep { consumed: vec![first.events[0].0], ..Default::default() };
        let error = f.hub.complete_instance(&first, &step).unwrap_err();
        assert!(matches!(error, TaskHubError::LeaseLost { .. }), "{error}");
        f.hub.complete_instance(&second, &step).unwrap();
    });
}

#[test]
fn an_activity_whose_lease_expired_runs_again_and_only_the_new_holder_delivers_its_result() {
    on_both_hubs(|f| {
        f.start("a");
        let item = f.hub.lock_next_instance("one", LEASE).unwrap().unwrap();
        let step = InstanceStep {
            consumed: vec![item.events[0].0],
            activities: vec![NewActivity { task_id: 0, name: "shout".into(), input: None }],
            ..Default::default()
        };
        f.hub.complete_instance(&item, &step).unwrap();
        let first = f.hub.lock_next_activity("w1", LEASE).unwrap().unwrap();
        f.advance(LEASE + Duration::from_secs(1));
        let second = f.hub.lock_next_activity("w2", LEASE).unwrap().expect("the activity is visible again");
        assert_eq!(first.id, second.id);
        let done = HistoryEvent::new(EventType::TaskCompleted, Utc::now());
        assert!(matches!(f.hub.complete_activity(&first, done.clone()), Err(TaskHubError::LeaseLost { .. })));
        f.hub.complete_activity(&second, done).unwrap();
    });
}

#[test]
fn a_timer_event_is_invisible_until_its_time_and_next_wake_says_when() {
    on_both_hubs(|f| {
        f.start("a");
        let item = f.hub.lock_next_instance("one", LEASE).unwrap().unwrap();
        let fire_at = *f.now.lock().unwrap() + chrono::Duration::hours(2);
        let mut fired = HistoryEvent::new(EventType::TimerFired, fire_at);
        fired.timer_id = Some(0);
        let step = InstanceStep {
            consumed: vec![item.events[0].0],
            messages: vec![Message {
                instance_id: "a".into(),
                execution_id: None,
                event: fired,
                visible_at: Some(fire_at),
            }],
            ..Default::default()
        };
        f.hub.complete_instance(&item, &step).unwrap();
        assert!(f.hub.lock_next_instance("one", LEASE).unwrap().is_none());
        assert_eq!(f.hub.next_wake().unwrap(), Some(fire_at));
        f.advance(Duration::from_secs(2 * 3600));
        let item = f.hub.lock_next_instance("one", LEASE).unwrap().expect("the timer fired");
        assert_eq!(item.events[0].2.event_type, EventType::TimerFired);
    });
}

#[test]
fn a_running_instance_id_cannot_be_started_again_but_a_finished_one_is_replaced() {
    on_both_hubs(|f| {
        f.start("a");
        let new = NewInstance {
            instance_id: "a".into(),
            name: "chain".into(),
            input: None,
            parent: None,
            start_at: None,
        };
        let error = f.hub.create_instance(&new).unwrap_err();
        assert!(error.to_string().contains("'a' already exists and is Pending"), "{error}");
        let item = f.hub.lock_next_instance("one", LEASE).unwrap().unwrap();
        let step = InstanceStep {
            consumed: vec![item.events[0].0],
            status: Some(RuntimeStatus::Completed),
            history: vec![item.events[0].2.clone()],
            ..Default::default()
        };
        f.hub.complete_instance(&item, &step).unwrap();
        f.hub.create_instance(&new).unwrap();
        assert_eq!(f.hub.get_instance("a").unwrap().unwrap().status, RuntimeStatus::Pending);
        assert!(f.hub.get_history("a").unwrap().is_empty(), "the old history went with the old instance");
    });
}

#[test]
fn a_suspended_instance_takes_only_resume_or_terminate() {
    on_both_hubs(|f| {
        f.start("a");
        let item = f.hub.lock_next_instance("one", LEASE).unwrap().unwrap();
        let step = InstanceStep {
            consumed: vec![item.events[0].0],
            status: Some(RuntimeStatus::Suspended),
            ..Default::default()
        };
        f.hub.complete_instance(&item, &step).unwrap();
        let raised = HistoryEvent::new(EventType::EventRaised, Utc::now());
        f.hub
            .send(&Message { instance_id: "a".into(), execution_id: None, event: raised, visible_at: None })
            .unwrap();
        assert!(f.hub.lock_next_instance("one", LEASE).unwrap().is_none(), "events wait while suspended");
        let resume = HistoryEvent::new(EventType::ExecutionResumed, Utc::now());
        f.hub
            .send(&Message { instance_id: "a".into(), execution_id: None, event: resume, visible_at: None })
            .unwrap();
        let item = f.hub.lock_next_instance("one", LEASE).unwrap().expect("resume is taken");
        let kinds: Vec<EventType> = item.events.iter().map(|e| e.2.event_type).collect();
        assert_eq!(kinds, [EventType::EventRaised, EventType::ExecutionResumed]);
    });
}

#[test]
fn events_for_unknown_instances_are_refused_but_entities_are_created_by_their_first_message() {
    on_both_hubs(|f| {
        let raised = HistoryEvent::new(EventType::EventRaised, Utc::now());
        let error = f
            .hub
            .send(&Message {
                instance_id: "nobody".into(),
                execution_id: None,
                event: raised.clone(),
                visible_at: None,
            })
            .unwrap_err();
        assert!(error.to_string().contains("'nobody'"), "{error}");
        f.hub
            .send(&Message {
                instance_id: "@counter@c1".into(),
                execution_id: None,
                event: raised,
                visible_at: None,
            })
            .unwrap();
        assert!(f.hub.lock_next_instance("one", LEASE).unwrap().is_some());
        let page = f.hub.query_instances(&InstanceQuery::default()).unwrap();
        assert!(page.instances.is_empty(), "entities are not listed with orchestrations");
    });
}

#[test]
fn the_list_pages_with_a_continuation_and_filters_by_status_and_purge_takes_finished_ones() {
    on_both_hubs(|f| {
        for i in 0..5 {
            f.start(&format!("i{i}"));
            f.advance(Duration::from_secs(1));
        }
        let mut seen = Vec::new();
        let mut query = InstanceQuery { page_size: 2, ..Default::default() };
        loop {
            let page = f.hub.query_instances(&query).unwrap();
            seen.extend(page.instances.iter().map(|r| r.instance_id.clone()));
            match page.continuation {
                Some(token) => query.continuation = Some(token),
                None => break,
            }
        }
        assert_eq!(seen, ["i0", "i1", "i2", "i3", "i4"]);
        let running = InstanceQuery { statuses: vec![RuntimeStatus::Running], ..Default::default() };
        assert!(f.hub.query_instances(&running).unwrap().instances.is_empty());
        assert_eq!(
            f.hub.purge_instances(&InstanceQuery::default()).unwrap(),
            0,
            "pending instances are not purged"
        );
        assert_eq!(f.hub.purge_instance("i0").unwrap(), 1);
        assert_eq!(f.hub.purge_instance("i0").unwrap(), 0);
    });
}

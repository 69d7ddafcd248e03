//! Service Bus queues and topics on PostgreSQL, with the same bodies the SQLite store runs
//! (`storage/tests/it/topic_behaviour.rs`), plus competing hosts on one subscription.

use std::time::Duration;

use fnwire_messaging::{EntityDecl, Message, SubscriptionOptions, TopicOptions};
use fnwire_storage::{Outgoing, QueueStore, TopicStore};

use crate::topic_behaviour as b;
use crate::{ManualClock, TestDatabase, pg_store};

#[test]
fn a_send_copies_into_each_matching_subscription_after_its_action() {
    let db = TestDatabase::new();
    b::a_send_copies_into_each_matching_subscription_after_its_action(&pg_store(
        &db,
        &ManualClock::default(),
    ));
}

#[test]
fn peek_lock_delivery_counts_and_lock_renewal() {
    let (db, clock) = (TestDatabase::new(), ManualClock::default());
    let store = pg_store(&db, &clock);
    b::peek_lock_delivery_counts_and_lock_renewal(&store, &|d: Duration| clock.advance(d));
}

#[test]
fn dead_letters_after_exactly_max_delivery_count() {
    let db = TestDatabase::new();
    b::dead_letters_after_exactly_max_delivery_count(&pg_store(&db, &ManualClock::default()));
}

#[test]
fn time_to_live_scheduling_and_duplicate_detection() {
    let (db, clock) = (TestDatabase::new(), ManualClock::default());
    let store = pg_store(&db, &clock);
    let now = clock.now();
    b::time_to_live_scheduling_and_duplicate_detection(&store, &|d: Duration| clock.advance(d), now);
}

#[test]
fn completion_adds_outputs_in_the_same_transaction() {
    let db = TestDatabase::new();
    let store = pg_store(&db, &ManualClock::default());
    b::completion_adds_outputs_in_the_same_transaction(&store, &|q: &str| store.message_count(q).unwrap());
}

#[test]
fn a_queue_message_completes_with_its_sends_all_or_nothing() {
    let db = TestDatabase::new();
    let store = pg_store(&db, &ManualClock::default());
    b::a_queue_message_completes_with_its_sends_all_or_nothing(&store, &|q: &str| {
        store.message_count(q).unwrap()
    });
}

#[test]
fn competing_hosts_receive_each_copy_once() {
    let (db, clock) = (TestDatabase::new(), ManualClock::default());
    let first = pg_store(&db, &clock);
    first
        .declare_entity(&EntityDecl::queue("jobs", TopicOptions::default(), SubscriptionOptions::default()))
        .unwrap();
    const N: usize = 200;
    let messages: Vec<Outgoing> =
        (0..N).map(|i| Outgoing::new("jobs", Message::new(format!("m{i}").into_bytes()))).collect();
    first.send(&messages).unwrap();
    let hosts: Vec<_> = (0..4).map(|_| pg_store(&db, &clock)).collect();
    let taken: Vec<Vec<i64>> = std::thread::scope(|s| {
        let handles: Vec<_> = hosts
            .iter()
            .map(|h| {
                s.spawn(move || {
                    let mut mine = Vec::new();
                    // Bounded: at most N receives each.
                    for _ in 0..N {
                        let got = h.receive("jobs", "$queue", 7).unwrap();
                        if got.is_empty() {
                            break;
                        }
                        mine.extend(got.iter().map(|m| m.sequence_number));
                    }
                    mine
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut all: Vec<i64> = taken.into_iter().flatten().collect();
    all.sort_unstable();
    let before = all.len();
    all.dedup();
    assert_eq!((before, all.len()), (N, N), "every copy received exactly once");
}

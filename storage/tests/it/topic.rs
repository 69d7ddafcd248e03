//! Service Bus queues and topics on the embedded store (the bodies are shared with the
//! PostgreSQL store's tests).

use std::time::Duration;

use crate::store_with_clock;
use crate::topic_behaviour as b;

#[test]
fn a_send_copies_into_each_matching_subscription_after_its_action() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = store_with_clock(dir.path());
    b::a_send_copies_into_each_matching_subscription_after_its_action(&store);
}

#[test]
fn peek_lock_delivery_counts_and_lock_renewal() {
    let dir = tempfile::tempdir().unwrap();
    let (store, clock) = store_with_clock(dir.path());
    b::peek_lock_delivery_counts_and_lock_renewal(&store, &|d: Duration| clock.advance(d));
}

#[test]
fn dead_letters_after_exactly_max_delivery_count() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = store_with_clock(dir.path());
    b::dead_letters_after_exactly_max_delivery_count(&store);
}

#[test]
fn time_to_live_scheduling_and_duplicate_detection() {
    let dir = tempfile::tempdir().unwrap();
    let (store, clock) = store_with_clock(dir.path());
    let now = clock.now();
    b::time_to_live_scheduling_and_duplicate_detection(&store, &|d: Duration| clock.advance(d), now);
}

#[test]
fn completion_adds_outputs_in_the_same_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = store_with_clock(dir.path());
    b::completion_adds_outputs_in_the_same_transaction(&store, &|q: &str| store.message_count(q).unwrap());
}

#[test]
fn a_queue_message_completes_with_its_sends_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = store_with_clock(dir.path());
    b::a_queue_message_completes_with_its_sends_all_or_nothing(&store, &|q: &str| {
        store.message_count(q).unwrap()
    });
}

#[test]
fn a_restarted_host_redelivers_locked_copies_with_their_count() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, _) = store_with_clock(dir.path());
        b::a_send_copies_into_each_matching_subscription_after_its_action(&store);
        assert_eq!(store.receive("sales", "quotes", 10).unwrap().len(), 1);
        // Dropped without completing: a killed host.
    }
    let (store, _) = store_with_clock(dir.path());
    assert_eq!(fnwire_storage::TopicStore::recover_locks_at_start(&store).unwrap(), 1);
    let again = store.receive("sales", "quotes", 10).unwrap();
    assert_eq!(again[0].delivery_count, 2);
}

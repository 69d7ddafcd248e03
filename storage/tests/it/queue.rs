use std::time::Duration;

use fnwire_storage::{MessageBody, StorageError, Store};

use crate::store_with_clock;

const MINUTE: Duration = Duration::from_secs(60);

#[test]
fn a_taken_message_is_invisible_until_its_timeout_then_comes_back_with_a_higher_count() {
    let dir = tempfile::tempdir().unwrap();
    let (store, clock) = store_with_clock(dir.path());
    let put = store.put("jobs", b"one", None).unwrap();
    let taken = store.get_messages("jobs", 16, MINUTE).unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].id, put.id);
    assert_eq!(taken[0].body, b"one");
    assert_eq!(taken[0].dequeue_count, 1);
    assert!(store.get_messages("jobs", 16, MINUTE).unwrap().is_empty(), "held messages are invisible");
    assert!(store.peek("jobs", 10).unwrap().is_empty());
    clock.advance(MINUTE);
    let again = store.get_messages("jobs", 16, MINUTE).unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].dequeue_count, 2);
    assert_ne!(again[0].pop_receipt, taken[0].pop_receipt);
    // The first holder's receipt no longer works.
    let e = store.delete("jobs", &taken[0].id, &taken[0].pop_receipt).unwrap_err();
    assert!(matches!(e, StorageError::PopReceiptMismatch { .. }), "{e}");
    assert!(e.to_string().contains("jobs"), "{e}");
    store.delete("jobs", &again[0].id, &again[0].pop_receipt).unwrap();
    assert_eq!(store.message_count("jobs").unwrap(), 0);
}

#[test]
fn messages_come_oldest_first_and_batches_are_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _clock) = store_with_clock(dir.path());
    for i in 0..5 {
        store.put("jobs", format!("m{i}").as_bytes(), None).unwrap();
    }
    let first = store.get_messages("jobs", 3, MINUTE).unwrap();
    let bodies: Vec<_> = first.iter().map(|m| String::from_utf8(m.body.clone()).unwrap()).collect();
    assert_eq!(bodies, ["m0", "m1", "m2"]);
    assert_eq!(store.get_messages("jobs", 3, MINUTE).unwrap().len(), 2);
    assert!(store.get_messages("other", 3, MINUTE).unwrap().is_empty());
}

#[test]
fn release_makes_a_message_visible_after_the_delay() {
    let dir = tempfile::tempdir().unwrap();
    let (store, clock) = store_with_clock(dir.path());
    store.put("jobs", b"x", None).unwrap();
    let m = store.get_messages("jobs", 1, MINUTE).unwrap().remove(0);
    store.release("jobs", &m.id, &m.pop_receipt, Duration::from_secs(10)).unwrap();
    assert!(store.get_messages("jobs", 1, MINUTE).unwrap().is_empty());
    clock.advance(Duration::from_secs(10));
    let m2 = store.get_messages("jobs", 1, MINUTE).unwrap().remove(0);
    assert_eq!(m2.dequeue_count, 2);
    // Release with zero delay is immediate.
    store.release("jobs", &m2.id, &m2.pop_receipt, Duration::ZERO).unwrap();
    assert_eq!(store.get_messages("jobs", 1, MINUTE).unwrap().len(), 1);
    assert!(store.release("jobs", &m2.id, &m2.pop_receipt, Duration::ZERO).is_err(), "stale receipt");
}

#[test]
fn poison_after_the_last_attempt_keeps_id_and_body() {
    let dir = tempfile::tempdir().unwrap();
    let (store, clock) = store_with_clock(dir.path());
    let put = store.put("jobs", b"bad", None).unwrap();
    let m = store.get_messages("jobs", 1, MINUTE).unwrap().remove(0);
    let poison = store.move_to_poison("jobs", &m.id, &m.pop_receipt).unwrap();
    assert_eq!(poison, "jobs-poison");
    assert_eq!(store.message_count("jobs").unwrap(), 0);
    let peeked = store.peek("jobs-poison", 10).unwrap();
    assert_eq!(peeked.len(), 1);
    assert_eq!(peeked[0].id, put.id);
    assert_eq!(peeked[0].body, b"bad");
    clock.advance(MINUTE);
    assert!(store.move_to_poison("jobs", &m.id, &m.pop_receipt).is_err());
}

#[test]
fn expired_messages_are_never_returned() {
    let dir = tempfile::tempdir().unwrap();
    let (store, clock) = store_with_clock(dir.path());
    store.put("jobs", b"short", Some(Duration::from_secs(30))).unwrap();
    store.put("jobs", b"default", None).unwrap();
    clock.advance(Duration::from_secs(30));
    let taken = store.get_messages("jobs", 16, MINUTE).unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(taken[0].body, b"default");
    assert_eq!((taken[0].expiration_time - taken[0].insertion_time).num_days(), 7, "Azure's default TTL");
    clock.advance(Duration::from_secs(7 * 24 * 3600));
    assert_eq!(store.message_count("jobs").unwrap(), 0);
    assert!(store.peek("jobs", 10).unwrap().is_empty());
}

#[test]
fn completing_a_message_and_adding_outputs_is_one_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let (store, clock) = store_with_clock(dir.path());
    store.put("jobs", b"in", None).unwrap();
    let m = store.get_messages("jobs", 1, MINUTE).unwrap().remove(0);
    let outputs = [MessageBody::new("done", "IN"), MessageBody::new("audit", "seen")];
    store.complete_and_put(Some(("jobs", &m.id, &m.pop_receipt)), &outputs).unwrap();
    assert_eq!(store.message_count("jobs").unwrap(), 0);
    assert_eq!(store.peek("done", 10).unwrap()[0].body, b"IN");
    assert_eq!(store.message_count("audit").unwrap(), 1);

    // A stale receipt adds nothing: the outputs are not enqueued.
    store.put("jobs", b"in2", None).unwrap();
    let m = store.get_messages("jobs", 1, MINUTE).unwrap().remove(0);
    clock.advance(MINUTE);
    let _retaken = store.get_messages("jobs", 1, MINUTE).unwrap();
    let e = store.complete_and_put(Some(("jobs", &m.id, &m.pop_receipt)), &outputs).unwrap_err();
    assert!(matches!(e, StorageError::PopReceiptMismatch { .. }));
    assert_eq!(store.message_count("done").unwrap(), 1);
    assert_eq!(store.message_count("audit").unwrap(), 1);

    // An invalid output queue name rejects the whole batch too.
    let bad = [MessageBody::new("done", "x"), MessageBody::new("Bad_Name", "y")];
    assert!(matches!(store.put_many(&bad).unwrap_err(), StorageError::InvalidQueueName { .. }));
    assert_eq!(store.message_count("done").unwrap(), 1);
}

#[test]
fn leases_of_a_dead_holder_are_released_at_once() {
    let dir = tempfile::tempdir().unwrap();
    {
        let (store, _clock) = store_with_clock(dir.path());
        for i in 0..3 {
            store.put("jobs", format!("{i}").as_bytes(), None).unwrap();
        }
        let held = store.get_messages("jobs", 2, Duration::from_secs(600)).unwrap();
        assert_eq!(held.len(), 2);
        let waiting = store.get_messages("jobs", 1, MINUTE).unwrap().remove(0);
        store.release("jobs", &waiting.id, &waiting.pop_receipt, Duration::from_secs(30)).unwrap();
    }
    // A new process opens the same file: the two held messages come back, the one waiting
    // out its retry delay does not.
    let (store, _clock) = store_with_clock(dir.path());
    assert_eq!(store.release_all_leases().unwrap(), 2);
    let again = store.get_messages("jobs", 16, MINUTE).unwrap();
    assert_eq!(again.len(), 2);
    assert!(again.iter().all(|m| m.dequeue_count == 2));
}

#[test]
fn list_counts_visible_and_invisible_messages_and_names_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _clock) = store_with_clock(dir.path());
    store.put("jobs", b"1", None).unwrap();
    store.put("jobs", b"2", None).unwrap();
    store.put("done", b"3", None).unwrap();
    store.get_messages("jobs", 1, MINUTE).unwrap();
    let list = store.list_queues().unwrap();
    let summary: Vec<_> = list.iter().map(|q| (q.name.as_str(), q.visible, q.invisible)).collect();
    assert_eq!(summary, [("done", 1, 0), ("jobs", 1, 1)]);
    for bad in ["ab", "Jobs", "a--b", "-ab", "has space"] {
        let e = store.put(bad, b"x", None).unwrap_err();
        assert!(e.to_string().contains(bad), "{e}");
    }
}

#[test]
fn two_connections_to_one_file_see_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let a = Store::open(dir.path()).unwrap();
    let b = Store::open(dir.path()).unwrap();
    a.put("jobs", b"from a", None).unwrap();
    assert_eq!(b.peek("jobs", 1).unwrap()[0].body, b"from a");
    let m = b.get_messages("jobs", 1, MINUTE).unwrap().remove(0);
    assert!(a.get_messages("jobs", 1, MINUTE).unwrap().is_empty());
    a.delete("jobs", &m.id, &m.pop_receipt).unwrap();
    assert_eq!(b.message_count("jobs").unwrap(), 0);
}

#[test]
fn a_message_never_attempted_keeps_its_dequeue_count() {
    let dir = tempfile::tempdir().unwrap();
    let (store, clock) = store_with_clock(dir.path());
    store.put("jobs", b"x", None).unwrap();
    for _ in 0..10 {
        let m = store.get_messages("jobs", 1, MINUTE).unwrap().remove(0);
        assert_eq!(m.dequeue_count, 1);
        store.release_unattempted("jobs", &m.id, &m.pop_receipt, Duration::from_secs(1)).unwrap();
        assert!(store.get_messages("jobs", 1, MINUTE).unwrap().is_empty(), "hidden for the delay");
        clock.advance(Duration::from_secs(1));
    }
}

#[test]
fn renewing_keeps_a_long_running_message_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let (store, clock) = store_with_clock(dir.path());
    store.put("jobs", b"x", None).unwrap();
    let m = store.get_messages("jobs", 1, MINUTE).unwrap().remove(0);
    clock.advance(Duration::from_secs(50));
    store.renew("jobs", &m.id, &m.pop_receipt, MINUTE).unwrap();
    clock.advance(Duration::from_secs(50));
    assert!(
        store.get_messages("jobs", 1, MINUTE).unwrap().is_empty(),
        "still hidden 100 s after it was taken"
    );
    store.delete("jobs", &m.id, &m.pop_receipt).unwrap();
    assert!(store.renew("jobs", &m.id, &m.pop_receipt, MINUTE).is_err());
}

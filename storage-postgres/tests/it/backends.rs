//! Behaviour both backends must share: each test body runs on SQLite and on PostgreSQL.

use std::collections::HashSet;
use std::sync::Mutex;
use std::time::Duration;

use fnwire_storage::{MessageBody, MessageTrace, ScheduleStatus, StorageError};

use crate::{on_both, on_both_blob_stores};

const MINUTE: Duration = Duration::from_secs(60);

#[test]
fn a_taken_message_is_hidden_until_its_visibility_timeout_ends() {
    on_both(|backend, store, clock| {
        for body in ["a", "b", "c"] {
            store.put("work", body.as_bytes(), None).unwrap();
        }
        let taken = store.get_messages("work", 2, MINUTE).unwrap();
        let bodies: Vec<_> = taken.iter().map(|m| m.body.clone()).collect();
        assert_eq!(bodies, vec![b"a".to_vec(), b"b".to_vec()], "{backend}");
        assert!(taken.iter().all(|m| m.dequeue_count == 1), "{backend}");
        assert_eq!(store.peek("work", 10).unwrap().len(), 1, "{backend}");
        assert_eq!(store.message_count("work").unwrap(), 3, "{backend}");
        clock.advance(MINUTE + Duration::from_secs(1));
        let again = store.get_messages("work", 10, MINUTE).unwrap();
        assert_eq!(again.len(), 3, "{backend}: the hidden ones came back");
        let a = again.iter().find(|m| m.body == b"a").unwrap();
        assert_eq!(a.dequeue_count, 2, "{backend}");
        assert_ne!(a.pop_receipt, taken[0].pop_receipt, "{backend}");
    });
}

#[test]
fn completion_deletes_and_puts_outputs_in_one_step_and_a_stale_receipt_writes_nothing() {
    on_both(|backend, store, clock| {
        store.put("inbox", b"job", None).unwrap();
        let first = store.get_messages("inbox", 1, MINUTE).unwrap().remove(0);
        clock.advance(MINUTE * 2);
        let second = store.get_messages("inbox", 1, MINUTE).unwrap().remove(0);
        assert_eq!(first.id, second.id, "{backend}");
        let outputs = [MessageBody::new("outbox", b"result".to_vec())];
        let stale = store.complete_and_put(Some(("inbox", &first.id, &first.pop_receipt)), &outputs);
        assert!(matches!(stale, Err(StorageError::PopReceiptMismatch { .. })), "{backend}: {stale:?}");
        assert_eq!(store.message_count("outbox").unwrap(), 0, "{backend}: no output from the stale holder");
        store.complete_and_put(Some(("inbox", &second.id, &second.pop_receipt)), &outputs).unwrap();
        assert_eq!(store.message_count("inbox").unwrap(), 0, "{backend}");
        let out = store.peek("outbox", 10).unwrap();
        assert_eq!(out.len(), 1, "{backend}");
        assert_eq!(out[0].body, b"result", "{backend}");
        let names: Vec<_> = store.list_queues().unwrap().into_iter().map(|q| (q.name, q.visible)).collect();
        assert_eq!(names, vec![("inbox".to_string(), 0), ("outbox".to_string(), 1)], "{backend}");
    });
}

#[test]
fn release_renew_and_poison_follow_the_pop_receipt() {
    on_both(|backend, store, clock| {
        store.put("work", b"x", None).unwrap();
        let m = store.get_messages("work", 1, MINUTE).unwrap().remove(0);
        store.renew("work", &m.id, &m.pop_receipt, MINUTE * 5).unwrap();
        clock.advance(MINUTE * 2);
        assert!(
            store.get_messages("work", 1, MINUTE).unwrap().is_empty(),
            "{backend}: renewed, still hidden"
        );
        let receipt = store.release_unattempted("work", &m.id, &m.pop_receipt, Duration::ZERO).unwrap();
        assert!(store.delete("work", &m.id, &m.pop_receipt).is_err(), "{backend}: old receipt after release");
        assert_ne!(receipt, m.pop_receipt, "{backend}");
        let m = store.get_messages("work", 1, MINUTE).unwrap().remove(0);
        assert_eq!(m.dequeue_count, 1, "{backend}: an unattempted release does not count");
        store.release("work", &m.id, &m.pop_receipt, MINUTE).unwrap();
        assert!(
            store.get_messages("work", 1, MINUTE).unwrap().is_empty(),
            "{backend}: released with a delay"
        );
        clock.advance(MINUTE);
        let m = store.get_messages("work", 1, MINUTE).unwrap().remove(0);
        assert_eq!(m.dequeue_count, 2, "{backend}");
        assert_eq!(store.move_to_poison("work", &m.id, &m.pop_receipt).unwrap(), "work-poison", "{backend}");
        assert_eq!(store.message_count("work").unwrap(), 0, "{backend}");
        let poisoned = store.peek("work-poison", 1).unwrap();
        assert_eq!(poisoned[0].id, m.id, "{backend}");
        assert_eq!(poisoned[0].dequeue_count, 0, "{backend}");
    });
}

#[test]
fn expired_messages_are_never_taken() {
    on_both(|backend, store, clock| {
        store.put("work", b"short", Some(Duration::from_secs(10))).unwrap();
        store.put("work", b"long", None).unwrap();
        clock.advance(Duration::from_secs(11));
        let taken = store.get_messages("work", 10, MINUTE).unwrap();
        assert_eq!(taken.len(), 1, "{backend}");
        assert_eq!(taken[0].body, b"long", "{backend}");
    });
}

#[test]
fn competing_consumers_take_each_message_once() {
    on_both(|backend, store, _clock| {
        let total = 400;
        let batch: Vec<_> =
            (0..total).map(|i| MessageBody::new("jobs", format!("{i}").into_bytes())).collect();
        store.put_many(&batch).unwrap();
        let seen = Mutex::new(Vec::new());
        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    loop {
                        let taken = store.get_messages("jobs", 16, MINUTE).unwrap();
                        if taken.is_empty() {
                            break;
                        }
                        for m in taken {
                            store.complete_and_put(Some(("jobs", &m.id, &m.pop_receipt)), &[]).unwrap();
                            seen.lock().unwrap().push(m.body);
                        }
                    }
                });
            }
        });
        let seen = seen.into_inner().unwrap();
        let unique: HashSet<_> = seen.iter().cloned().collect();
        assert_eq!(seen.len(), total, "{backend}: no message was taken twice");
        assert_eq!(unique.len(), total, "{backend}");
        assert_eq!(store.message_count("jobs").unwrap(), 0, "{backend}");
    });
}

#[test]
fn timer_status_round_trips() {
    on_both(|backend, store, _clock| {
        assert_eq!(store.schedule_status("tick").unwrap(), None, "{backend}");
        let status = ScheduleStatus {
            last: "2027-01-15T08:00:00+00:00".into(),
            next: "2027-01-15T08:05:00+00:00".into(),
            last_updated: "2027-01-15T08:00:00.1+00:00".into(),
        };
        store.set_schedule_status("tick", &status).unwrap();
        let newer = ScheduleStatus { last: status.next.clone(), ..status.clone() };
        store.set_schedule_status("tick", &newer).unwrap();
        assert_eq!(store.schedule_status("tick").unwrap(), Some(newer), "{backend}");
    });
}

#[test]
fn a_timer_occurrence_is_claimed_once_until_its_lease_expires() {
    on_both(|backend, store, clock| {
        let due = clock.now();
        assert!(store.claim_timer_occurrence("tick", due, "host-a", MINUTE).unwrap(), "{backend}");
        assert!(!store.claim_timer_occurrence("tick", due, "host-b", MINUTE).unwrap(), "{backend}");
        let next = due + chrono::Duration::seconds(1);
        assert!(
            store.claim_timer_occurrence("tick", next, "host-b", MINUTE).unwrap(),
            "{backend}: another occurrence"
        );
        // host-a died without finishing: after its lease, another host runs the occurrence.
        clock.advance(MINUTE);
        assert!(store.claim_timer_occurrence("tick", due, "host-c", MINUTE).unwrap(), "{backend}");
        store.finish_timer_occurrence("tick", due, "host-c").unwrap();
        clock.advance(MINUTE * 2);
        assert!(
            !store.claim_timer_occurrence("tick", due, "host-a", MINUTE).unwrap(),
            "{backend}: done stays done"
        );
    });
}

#[test]
fn concurrent_claims_of_one_occurrence_have_one_winner() {
    on_both(|backend, store, clock| {
        let due = clock.now();
        let winners = Mutex::new(0);
        std::thread::scope(|s| {
            for host in 0..6 {
                let winners = &winners;
                s.spawn(move || {
                    if store.claim_timer_occurrence("tick", due, &format!("host-{host}"), MINUTE).unwrap() {
                        *winners.lock().unwrap() += 1;
                    }
                });
            }
        });
        assert_eq!(winners.into_inner().unwrap(), 1, "{backend}");
    });
}

#[test]
fn blobs_are_written_whole_read_back_and_listed_by_container() {
    on_both_blob_stores(|backend, blobs| {
        assert_eq!(blobs.read("done/missing.txt").unwrap(), None, "{backend}");
        blobs.write("done/a.txt", b"first").unwrap();
        blobs.write("/done/a.txt", b"second").unwrap();
        blobs.write("done/sub/b.bin", &[0, 255, 1]).unwrap();
        blobs.write("done_x/c.txt", b"other container").unwrap();
        assert_eq!(blobs.read("done/a.txt").unwrap().as_deref(), Some(&b"second"[..]), "{backend}");
        assert_eq!(blobs.read("done/./sub/b.bin").unwrap().as_deref(), Some(&[0, 255, 1][..]), "{backend}");
        assert_eq!(blobs.list("done").unwrap(), vec!["done/a.txt", "done/sub/b.bin"], "{backend}");
        assert_eq!(blobs.list("done/sub").unwrap(), vec!["done/sub/b.bin"], "{backend}");
        for bad in ["../etc/passwd", "done/../../x", "done", "done/"] {
            let err = blobs.write(bad, b"x").unwrap_err().to_string();
            assert!(err.contains("is not valid"), "{backend}: {bad}: {err}");
        }
    });
}

#[test]
fn a_message_keeps_the_trace_context_it_was_put_with_and_one_without_has_none() {
    on_both(|backend, store, clock| {
        let parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
        let traced = MessageTrace::new(parent, "vendor=1,other=2");
        let no_state = MessageTrace::new(parent, "");
        store
            .put_many(&[
                MessageBody::new("work", b"traced".to_vec()).with_trace(traced.clone()),
                MessageBody::new("work", b"no state".to_vec()).with_trace(no_state.clone()),
                MessageBody::new("work", b"plain".to_vec()),
            ])
            .unwrap();
        store.put("work", b"from outside", None).unwrap();
        let taken = store.get_messages("work", 10, MINUTE).unwrap();
        let by_body: Vec<(&[u8], Option<MessageTrace>)> =
            taken.iter().map(|m| (m.body.as_slice(), m.trace.clone())).collect();
        assert_eq!(
            by_body,
            vec![
                (&b"traced"[..], traced.clone()),
                (&b"no state"[..], no_state),
                (&b"plain"[..], None),
                (&b"from outside"[..], None),
            ],
            "{backend}: the body stays as written, the trace beside it"
        );
        // A completion's outputs carry theirs, and a message given back keeps its own.
        let held = &taken[0];
        let output = MessageBody::new("next", b"onward".to_vec()).with_trace(traced.clone());
        store.complete_and_put(Some(("work", &held.id, &held.pop_receipt)), &[output]).unwrap();
        let onward = store.get_messages("next", 1, MINUTE).unwrap().remove(0);
        assert_eq!(onward.trace, traced, "{backend}");
        store.release("next", &onward.id, &onward.pop_receipt, Duration::ZERO).unwrap();
        clock.advance(Duration::from_secs(1));
        let again = store.get_messages("next", 1, MINUTE).unwrap().remove(0);
        assert_eq!((again.dequeue_count, again.trace), (2, traced), "{backend}");
    });
}

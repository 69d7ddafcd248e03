//! Service Bus topic and queue behaviour, written once against `TopicStore` so every backend
//! runs the same bodies (the PostgreSQL crate's tests include this file too). `advance` moves
//! the store's clock.

use std::time::Duration;

use fnwire_messaging::{
    CorrelationFilter, EntityDecl, EntityKind, FilterSpec, Message, RuleSpec, SubscriptionDecl,
    SubscriptionOptions, TopicOptions,
};
use fnwire_storage::{
    MAX_DELIVERY_REASON, MessageBody, Outgoing, QueueStore, StorageError, TTL_EXPIRED_REASON, TopicStore,
};

const SECOND: Duration = Duration::from_secs(1);

fn subscription(name: &str, rules: Vec<RuleSpec>) -> SubscriptionDecl {
    SubscriptionDecl {
        name: name.into(),
        options: SubscriptionOptions {
            lock_duration: 30 * SECOND,
            max_delivery_count: 3,
            ..Default::default()
        },
        rules,
    }
}

fn sales(options: TopicOptions) -> EntityDecl {
    EntityDecl {
        name: "sales".into(),
        kind: EntityKind::Topic,
        options,
        subscriptions: vec![
            subscription(
                "orders",
                vec![RuleSpec::sql("type = 'order' AND total > 100").with_action("SET big = TRUE")],
            ),
            subscription("quotes", vec![RuleSpec::sql("type = 'quote'")]),
            subscription(
                "vip",
                vec![RuleSpec {
                    name: "vip".into(),
                    filter: FilterSpec::Correlation(CorrelationFilter::parse_pairs("sys.Label=vip").unwrap()),
                    action: None,
                }],
            ),
            subscription("all", vec![RuleSpec::accept_all()]),
        ],
    }
}

fn order(total: i64) -> Message {
    Message::new(format!("{{\"total\":{total}}}").into_bytes())
        .with_property("type", "order")
        .with_property("total", total)
}

fn ids(store: &dyn TopicStore, sub: &str) -> Vec<i64> {
    store
        .peek_subscription("sales", sub, 100, false)
        .unwrap()
        .into_iter()
        .map(|p| p.sequence_number)
        .collect()
}

pub fn a_send_copies_into_each_matching_subscription_after_its_action(store: &dyn TopicStore) {
    store.declare_entity(&sales(TopicOptions::default())).unwrap();
    let sent = store
        .send(&[
            Outgoing::new("sales", order(150)),
            Outgoing::new("sales", order(50)),
            Outgoing::new(
                "sales",
                Message::new(&b"q"[..]).with_property("type", "quote").with_system("Label", "vip"),
            ),
        ])
        .unwrap();
    assert_eq!(sent.iter().map(|s| s.copies).collect::<Vec<_>>(), [2, 1, 3]);
    let orders = store.peek_subscription("sales", "orders", 10, false).unwrap();
    assert_eq!(orders.len(), 1);
    assert_eq!(orders[0].message.properties["total"], 150i64.into());
    assert_eq!(orders[0].message.properties["big"], true.into(), "the action changed this copy");
    let all = store.peek_subscription("sales", "all", 10, false).unwrap();
    assert_eq!(all.len(), 3);
    assert!(!all[0].message.properties.contains_key("big"), "other subscriptions' copies are untouched");
    assert!(all[0].message.system.message_id.is_some(), "a message id is given when the sender set none");
    assert_eq!(ids(store, "quotes").len(), 1);
    assert_eq!(ids(store, "vip").len(), 1);

    let e = store.send(&[Outgoing::new("sales", order(1)), Outgoing::new("nope", order(1))]).unwrap_err();
    assert!(
        matches!(e, StorageError::EntityNotFound { .. })
            && e.to_string().contains("fnwire topic create nope"),
        "{e}"
    );
    assert_eq!(ids(store, "all").len(), 3, "a failed send adds nothing: all or none");

    let bad = store.create_subscription("sales", &subscription("broken", vec![RuleSpec::sql("type = ")]));
    let e = bad.unwrap_err().to_string();
    assert!(e.contains("at character 8") && e.contains("expected"), "{e}");
    assert!(store.list_entities().unwrap()[0].subscriptions.iter().all(|s| s.name != "broken"));
}

pub fn peek_lock_delivery_counts_and_lock_renewal(store: &dyn TopicStore, advance: &dyn Fn(Duration)) {
    store
        .declare_entity(&EntityDecl::queue(
            "jobs",
            TopicOptions::default(),
            SubscriptionOptions { lock_duration: 30 * SECOND, max_delivery_count: 5, ..Default::default() },
        ))
        .unwrap();
    store.send(&[Outgoing::new("jobs", Message::new(&b"one"[..]))]).unwrap();
    let first = store.receive("jobs", "$queue", 10).unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].delivery_count, 1);
    assert!(store.receive("jobs", "$queue", 10).unwrap().is_empty(), "a locked copy is not delivered again");
    advance(20 * SECOND);
    store.renew_lock(&first[0].lock()).unwrap();
    advance(20 * SECOND);
    assert!(store.receive("jobs", "$queue", 10).unwrap().is_empty(), "the renewed lock still holds");
    advance(20 * SECOND);
    let second = store.receive("jobs", "$queue", 10).unwrap();
    assert_eq!(second.len(), 1, "the lock expired: delivered again");
    assert_eq!(second[0].delivery_count, 2);
    let e = store.complete_and_send(Some(&first[0].lock()), &[], &[]).unwrap_err();
    assert!(matches!(e, StorageError::LockLost { .. }), "{e}");
    store.abandon(&second[0].lock(), Duration::ZERO, false).unwrap();
    let third = store.receive("jobs", "$queue", 10).unwrap();
    assert_eq!(third[0].delivery_count, 2, "an attempt that never ran is not counted");
    store.complete_and_send(Some(&third[0].lock()), &[], &[]).unwrap();
    assert!(store.peek_subscription("jobs", "$queue", 10, false).unwrap().is_empty());
}

pub fn dead_letters_after_exactly_max_delivery_count(store: &dyn TopicStore) {
    store.declare_entity(&sales(TopicOptions::default())).unwrap();
    store.send(&[Outgoing::new("sales", order(500))]).unwrap();
    for attempt in 1..=3 {
        let got = store.receive("sales", "orders", 10).unwrap();
        assert_eq!(got.len(), 1, "delivery {attempt}");
        assert_eq!(got[0].delivery_count, attempt);
        store.abandon(&got[0].lock(), Duration::ZERO, true).unwrap();
    }
    assert!(store.receive("sales", "orders", 10).unwrap().is_empty(), "no fourth delivery");
    let dead = store.peek_subscription("sales", "orders", 10, true).unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].dead_letter_reason.as_deref(), Some(MAX_DELIVERY_REASON));
    assert!(
        dead[0].dead_letter_description.as_deref().unwrap_or_default().contains("3 delivery attempts"),
        "{dead:?}"
    );
    assert_eq!(ids(store, "all").len(), 1, "other subscriptions keep their copy");

    let got = store.receive("sales", "all", 1).unwrap();
    store.dead_letter(&got[0].lock(), "Invalid", "the order has no customer").unwrap();
    let dead = store.peek_subscription("sales", "all", 10, true).unwrap();
    assert_eq!(dead[0].dead_letter_description.as_deref(), Some("the order has no customer"));
}

pub fn time_to_live_scheduling_and_duplicate_detection(
    store: &dyn TopicStore,
    advance: &dyn Fn(Duration),
    now: chrono::DateTime<chrono::Utc>,
) {
    store
        .declare_entity(&sales(TopicOptions {
            default_ttl: 60 * SECOND,
            duplicate_detection: Some(120 * SECOND),
        }))
        .unwrap();
    let mut dl = subscription("expiring", vec![RuleSpec::accept_all()]);
    dl.options.dead_lettering_on_expiration = true;
    store.create_subscription("sales", &dl).unwrap();
    let mut short = order(200);
    short.system.time_to_live_ms = Some(10_000);
    short.system.message_id = Some("m-1".into());
    let mut later = order(300);
    later.system.message_id = Some("m-2".into());
    later.system.scheduled_enqueue_time_utc = Some(now + chrono::Duration::seconds(30));
    let sent = store.send(&[Outgoing::new("sales", short.clone()), Outgoing::new("sales", later)]).unwrap();
    assert!(sent.iter().all(|s| !s.duplicate));
    let again = store.send(&[Outgoing::new("sales", short.clone())]).unwrap();
    assert!(again[0].duplicate && again[0].copies == 0, "the same MessageId within the window is dropped");

    let ready = store.receive("sales", "orders", 10).unwrap();
    assert_eq!(ready.len(), 1, "the scheduled message is not ready yet");
    store.complete_and_send(Some(&ready[0].lock()), &[], &[]).unwrap();
    advance(31 * SECOND);
    let scheduled = store.receive("sales", "orders", 10).unwrap();
    assert_eq!(scheduled.len(), 1);
    assert_eq!(scheduled[0].message.system.message_id.as_deref(), Some("m-2"));
    assert!(
        store
            .receive("sales", "all", 10)
            .unwrap()
            .iter()
            .all(|m| m.message.system.message_id.as_deref() == Some("m-2")),
        "m-1 expired after 10 s"
    );
    let expired = store.peek_subscription("sales", "expiring", 10, false).unwrap();
    assert!(expired.iter().all(|m| m.message.system.message_id.as_deref() != Some("m-1")));
    let _ = store.receive("sales", "expiring", 10).unwrap();
    let dead = store.peek_subscription("sales", "expiring", 10, true).unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].dead_letter_reason.as_deref(), Some(TTL_EXPIRED_REASON));
    advance(200 * SECOND);
    let after_window = store.send(&[Outgoing::new("sales", short)]).unwrap();
    assert!(!after_window[0].duplicate, "after the window the id is new again");
}

pub fn completion_adds_outputs_in_the_same_transaction(
    store: &dyn TopicStore,
    queue_count: &dyn Fn(&str) -> u64,
) {
    store.declare_entity(&sales(TopicOptions::default())).unwrap();
    store
        .declare_entity(&EntityDecl::queue("audit", TopicOptions::default(), SubscriptionOptions::default()))
        .unwrap();
    store.send(&[Outgoing::new("sales", order(150))]).unwrap();
    let got = store.receive("sales", "orders", 1).unwrap();
    let outputs = [MessageBody::new("shipping", b"ship it".to_vec())];
    let sends = [Outgoing::new("audit", Message::new(&b"seen"[..]))];
    store.complete_and_send(Some(&got[0].lock()), &outputs, &sends).unwrap();
    assert_eq!(queue_count("shipping"), 1);
    assert_eq!(store.peek_subscription("audit", "$queue", 10, false).unwrap().len(), 1);
    // A lost lock rolls the outputs back.
    let e = store.complete_and_send(Some(&got[0].lock()), &outputs, &sends).unwrap_err();
    assert!(matches!(e, StorageError::LockLost { .. }), "{e}");
    assert_eq!(queue_count("shipping"), 1);
    assert_eq!(store.peek_subscription("audit", "$queue", 10, false).unwrap().len(), 1);
    assert!(store.delete_subscription("sales", "orders").unwrap());
    assert!(store.delete_entity("audit").unwrap());
    assert!(!store.delete_entity("audit").unwrap());
    let names: Vec<String> = store.list_entities().unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(names, ["sales"]);
}

/// A storage-queue message that triggered an invocation completes with the invocation's queue
/// outputs and Service Bus sends in one transaction: a stale pop receipt adds and sends nothing,
/// and a send that fails (no such entity) leaves the message held and adds nothing.
pub fn a_queue_message_completes_with_its_sends_all_or_nothing(
    store: &dyn QueueStore,
    queue_count: &dyn Fn(&str) -> u64,
) {
    let topics = store.topics().expect("the store keeps Service Bus entities");
    topics.declare_entity(&sales(TopicOptions::default())).unwrap();
    store.put("jobs", b"job", None).unwrap();
    let held = store.get_messages("jobs", 1, 30 * SECOND).unwrap().remove(0);
    let outputs = [MessageBody::new("shipping", b"ship it".to_vec())];
    let sends = [Outgoing::new("sales", order(150))];
    let nothing_done = || {
        assert_eq!(queue_count("jobs"), 1, "the trigger message is still there");
        assert_eq!(queue_count("shipping"), 0, "no queue output");
        assert!(topics.peek_subscription("sales", "orders", 10, false).unwrap().is_empty(), "no send");
    };

    let e =
        topics.complete_queue_message_and_send(("jobs", &held.id, "stale"), &outputs, &sends).unwrap_err();
    assert!(matches!(e, StorageError::PopReceiptMismatch { .. }), "{e}");
    nothing_done();

    let to_nowhere = [sends[0].clone(), Outgoing::new("no-such-topic", order(1))];
    let e = topics
        .complete_queue_message_and_send(("jobs", &held.id, &held.pop_receipt), &outputs, &to_nowhere)
        .unwrap_err();
    assert!(matches!(e, StorageError::EntityNotFound { .. }), "{e}");
    nothing_done();

    let outcomes = topics
        .complete_queue_message_and_send(("jobs", &held.id, &held.pop_receipt), &outputs, &sends)
        .unwrap();
    assert_eq!(outcomes.len(), 1);
    assert_eq!(queue_count("jobs"), 0);
    assert_eq!(queue_count("shipping"), 1);
    assert_eq!(topics.peek_subscription("sales", "orders", 10, false).unwrap().len(), 1);
    // Completed once: the same receipt again is stale, and nothing is sent twice.
    let e = topics
        .complete_queue_message_and_send(("jobs", &held.id, &held.pop_receipt), &outputs, &sends)
        .unwrap_err();
    assert!(matches!(e, StorageError::PopReceiptMismatch { .. }), "{e}");
    assert_eq!(queue_count("shipping"), 1);
    assert_eq!(topics.peek_subscription("sales", "orders", 10, false).unwrap().len(), 1);
}

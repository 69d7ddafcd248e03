//! What a Service Bus delivery costs the store against a storage-queue delivery, the store side
//! of the bench's `topic-fanout` row without the host and worker: 1,000 messages to a topic with
//! the bench app's four filtered subscriptions, each copy received and completed with one queue
//! output, the way the host's listener does (`maxConcurrentCalls` 16, topping up one slot at a
//! time or once half are free); the baseline takes the same messages from a storage queue in
//! batches of 16. A measurement, never an assertion: run it with
//! `cargo nextest run -p fnwire-storage --run-ignored only -E 'test(topic_delivery_cost)' --no-capture`.

use std::time::{Duration, Instant};

use fnwire_messaging::{
    EntityDecl, EntityKind, Message, RuleSpec, SubscriptionDecl, SubscriptionOptions, TopicOptions,
};
use fnwire_storage::{MessageBody, Outgoing, Store};

const MESSAGES: usize = 1_000;
const SLOTS: usize = 16;
const ROUNDS: usize = 5;
const SUBSCRIPTIONS: [(&str, &str); 4] = [
    ("by-type", "type = 'order'"),
    ("by-total", "total > 100 AND total <= 1000"),
    ("by-region", "region IN ('eu', 'us')"),
    ("by-sku", "sku LIKE 'A-%' AND NOT EXISTS(blocked)"),
];

fn sale(i: usize) -> Message {
    Message::new(format!("{{\"sale\":{i}}}"))
        .with_system("MessageId", &format!("m-{i}"))
        .with_property("type", "order")
        .with_property("total", 150.0 + (i % 100) as f64)
        .with_property("region", if i % 2 == 0 { "eu" } else { "us" })
        .with_property("sku", format!("A-{}", i % 7).as_str())
}

/// Microseconds per delivered copy.
fn topic_round(refill_at_half: bool) -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let subscriptions = SUBSCRIPTIONS
        .iter()
        .map(|(name, filter)| SubscriptionDecl {
            name: (*name).into(),
            options: SubscriptionOptions::default(),
            rules: vec![RuleSpec::sql(filter)],
        })
        .collect();
    let topic = EntityDecl {
        name: "fanout".into(),
        kind: EntityKind::Topic,
        options: TopicOptions::default(),
        subscriptions,
    };
    store.declare_entity(&topic).unwrap();
    let sends: Vec<Outgoing> = (0..MESSAGES).map(|i| Outgoing::new("fanout", sale(i))).collect();
    store.send(&sends).unwrap();
    let started = Instant::now();
    for (subscription, _) in SUBSCRIPTIONS {
        let mut held = store.receive("fanout", subscription, SLOTS).unwrap();
        while let Some(copy) = held.pop() {
            let output = [MessageBody::new("fanout-done", b"done".to_vec())];
            store.complete_and_send(Some(&copy.lock()), &output, &[]).unwrap();
            if !refill_at_half || held.len() <= SLOTS / 2 {
                held.extend(store.receive("fanout", subscription, SLOTS - held.len()).unwrap());
            }
        }
    }
    started.elapsed().as_secs_f64() * 1e6 / (MESSAGES * SUBSCRIPTIONS.len()) as f64
}

/// Microseconds per delivered message.
fn queue_round() -> f64 {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let bodies: Vec<MessageBody> =
        (0..MESSAGES).map(|i| MessageBody::new("plain", format!("{{\"sale\":{i}}}").into_bytes())).collect();
    store.put_many(&bodies).unwrap();
    let started = Instant::now();
    loop {
        let taken = store.get_messages("plain", SLOTS, Duration::from_secs(30)).unwrap();
        if taken.is_empty() {
            break;
        }
        for m in taken {
            let output = [MessageBody::new("plain-done", b"done".to_vec())];
            store.complete_and_put(Some(("plain", &m.id, &m.pop_receipt)), &output).unwrap();
        }
    }
    started.elapsed().as_secs_f64() * 1e6 / MESSAGES as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[test]
#[ignore = "a measurement: prints costs, asserts nothing"]
fn topic_delivery_cost() {
    let (mut one_slot, mut half, mut queue) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        one_slot.push(topic_round(false));
        half.push(topic_round(true));
        queue.push(queue_round());
    }
    let (one_slot, half, queue) = (median(one_slot), median(half), median(queue));
    eprintln!(
        "µs per delivery (median of {ROUNDS} rounds): topic copy, receive per free slot {one_slot:.0} ({:.2}× a queue \
         message); topic copy, receive once half the slots are free {half:.0} ({:.2}×); storage-queue message \
         {queue:.0}",
        one_slot / queue,
        half / queue
    );
}

//! Service Bus triggers through the real `fnwire` binary and the test worker (which fails every
//! invocation of a function.json app, and never answers `slowbus`): dead-lettering after exactly
//! `MaxDeliveryCount` deliveries, and a `kill -9` of the host with copies locked.

use std::path::Path;
use std::time::{Duration, Instant};

use fnwire_messaging::{EntityDecl, Message, SubscriptionOptions, TopicOptions};
use fnwire_storage::{MAX_DELIVERY_REASON, Outgoing, Store};

use crate::support::*;

const WORK_BOUND: Duration = Duration::from_secs(120);

fn wait_until(fnwire: &Fnwire, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + WORK_BOUND;
    while Instant::now() < deadline {
        if done() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not happen within {WORK_BOUND:?}; output:\n{}", fnwire.output());
}

fn send(storage: &Path, queue: &str, bodies: &[&str]) -> Store {
    let store = Store::open(storage).unwrap();
    store
        .declare_entity(&EntityDecl::queue(queue, TopicOptions::default(), SubscriptionOptions::default()))
        .unwrap();
    let out: Vec<Outgoing> =
        bodies.iter().map(|b| Outgoing::new(queue, Message::new(b.as_bytes()))).collect();
    store.send(&out).unwrap();
    store
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_message_is_dead_lettered_after_exactly_max_delivery_count() {
    let app = test_worker_app();
    std::fs::write(app.path().join("local.settings.json"), r#"{"Values":{"TEST_WORKER_HOST_INDEXING":"1"}}"#)
        .unwrap();
    std::fs::write(app.path().join("host.json"), r#"{"version":"2.0"}"#).unwrap();
    std::fs::create_dir(app.path().join("fail")).unwrap();
    std::fs::write(
        app.path().join("fail/function.json"),
        r#"{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"msg","queueName":"jobs"}]}"#,
    )
    .unwrap();
    std::fs::write(
        app.path().join("servicebus.json"),
        r#"{"UserConfig":{"Namespaces":[{"Name":"t","Queues":[{"Name":"jobs","Properties":{"MaxDeliveryCount":3,"LockDuration":"PT30S"}}]}]}}"#,
    )
    .unwrap();
    let store = send(&app.path().join(".fnwire"), "jobs", &["poisonous"]);
    let mut fnwire = Fnwire::start(app.path(), &[]);
    wait_until(&fnwire, "the message in the dead-letter queue", || {
        !store.peek_subscription("jobs", "$queue", 10, true).unwrap().is_empty()
    });
    let dead = store.peek_subscription("jobs", "$queue", 10, true).unwrap();
    assert_eq!(dead[0].message.body, b"poisonous");
    assert_eq!(dead[0].delivery_count, 3);
    assert_eq!(dead[0].dead_letter_reason.as_deref(), Some(MAX_DELIVERY_REASON));
    assert!(store.peek_subscription("jobs", "$queue", 10, false).unwrap().is_empty());
    let out = fnwire.output();
    assert_eq!(out.matches("Executing 'fail'").count(), 3, "exactly MaxDeliveryCount deliveries:\n{out}");
    assert!(out.contains("service bus queue jobs"), "the table says what triggers: {out}");
    assert!(fnwire.terminate().success());
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_the_host_with_copies_locked_redelivers_them_with_their_delivery_count() {
    let app = test_worker_app();
    let store = send(&app.path().join(".fnwire"), "slowbus", &["one", "two"]);
    let locked = |store: &Store, count: i64| {
        let copies = store.peek_subscription("slowbus", "$queue", 10, false).unwrap();
        copies.len() == 2 && copies.iter().all(|c| c.state == "locked" && c.delivery_count == count)
    };
    let mut first = Fnwire::start(app.path(), &[]);
    wait_until(&first, "both copies locked by the first host", || locked(&store, 1));
    first.child.kill().unwrap(); // SIGKILL: no clean-up of any kind
    let _ = first.child.wait();
    assert!(locked(&store, 1), "a killed host releases nothing");
    let second = Fnwire::start(app.path(), &[]);
    wait_until(&second, "both copies delivered again, counted", || locked(&store, 2));
    assert!(second.output().contains("visible again"), "{}", second.output());
    drop(second);
}

#[test]
fn an_undeclared_topic_subscription_refuses_start_naming_it() {
    let app = test_worker_app();
    std::fs::write(app.path().join("local.settings.json"), r#"{"Values":{"TEST_WORKER_HOST_INDEXING":"1"}}"#)
        .unwrap();
    std::fs::create_dir(app.path().join("orders")).unwrap();
    std::fs::write(
        app.path().join("orders/function.json"),
        r#"{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"msg","topicName":"sales","subscriptionName":"orders"}]}"#,
    )
    .unwrap();
    let mut fnwire = Fnwire::spawn(app.path(), &[]);
    assert!(!fnwire.wait_exit(STARTUP_BOUND).success());
    let out = fnwire.output();
    assert!(
        out.contains("topic `sales`, subscription `orders`, which is not declared")
            && out.contains("servicebus.json"),
        "{out}"
    );
    std::fs::write(
        app.path().join("servicebus.json"),
        r#"{"UserConfig":{"Namespaces":[{"Name":"t","Topics":[{"Name":"sales","Subscriptions":[{"Name":"orders","Rules":[{"Name":"r","Properties":{"FilterType":"Sql","SqlFilter":{"SqlExpression":"total >"}}}]}]}]}]}}"#,
    )
    .unwrap();
    let mut fnwire = Fnwire::spawn(app.path(), &[]);
    assert!(!fnwire.wait_exit(STARTUP_BOUND).success());
    let out = fnwire.output();
    assert!(out.contains("servicebus.json") && out.contains("at character 8"), "{out}");
}

/// A function.json relay (the test worker returns its message upper-cased) from one Service Bus
/// queue to another.
fn relay_json(from: &str, to: &str) -> String {
    serde_json::json!({"bindings": [
        {"type": "serviceBusTrigger", "direction": "in", "name": "msg", "queueName": from},
        {"type": "serviceBus", "direction": "out", "name": "$return", "queueName": to},
    ]})
    .to_string()
}

/// The trace id of the `Executed '<function>'` line of a JSON console.
fn executed_trace_id(output: &str, function: &str) -> Option<String> {
    output.lines().filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok()).find_map(|line| {
        let executed = line["message"].as_str()?.starts_with(&format!("Executed '{function}' (Succeeded"));
        executed.then(|| line["trace_id"].as_str().map(String::from)).flatten()
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_message_carries_its_senders_trace_through_every_relay() {
    const TRACE: &str = "0af7651916cd43dd8448eb211c80319c";
    const SENDER_SPAN: &str = "b7ad6b7169203331";
    let app = test_worker_app();
    std::fs::write(app.path().join("local.settings.json"), r#"{"Values":{"TEST_WORKER_HOST_INDEXING":"1"}}"#)
        .unwrap();
    std::fs::write(app.path().join("host.json"), r#"{"version":"2.0"}"#).unwrap();
    for (name, from, to) in [("relayfirst", "traced", "relayed"), ("relaysecond", "relayed", "done")] {
        std::fs::create_dir(app.path().join(name)).unwrap();
        std::fs::write(app.path().join(name).join("function.json"), relay_json(from, to)).unwrap();
    }
    // Sent as Azure's Service Bus SDKs send within a trace: its traceparent in `Diagnostic-Id`.
    let store = Store::open(&app.path().join(".fnwire")).unwrap();
    for queue in ["traced", "relayed", "done"] {
        store
            .declare_entity(&EntityDecl::queue(
                queue,
                TopicOptions::default(),
                SubscriptionOptions::default(),
            ))
            .unwrap();
    }
    let sender = format!("00-{TRACE}-{SENDER_SPAN}-01");
    store
        .send(&[Outgoing::new(
            "traced",
            Message::new(&b"hi"[..]).with_property("Diagnostic-Id", sender.as_str()),
        )])
        .unwrap();
    let mut fnwire = Fnwire::start(app.path(), &["--log-format", "json"]);
    wait_until(&fnwire, "the message relayed twice", || {
        !store.peek_subscription("done", "$queue", 10, false).unwrap().is_empty()
    });
    let done = store.peek_subscription("done", "$queue", 10, false).unwrap();
    assert_eq!(done[0].message.body, b"HI");
    let carried = match done[0].message.properties.get("Diagnostic-Id") {
        Some(fnwire_messaging::Value::Str(text)) => text.clone(),
        other => panic!("the relayed message has no Diagnostic-Id: {other:?}"),
    };
    assert!(carried.starts_with(&format!("00-{TRACE}-")), "the same trace: {carried}");
    assert!(!carried.contains(SENDER_SPAN), "parented by the relay's own span, not the sender's: {carried}");
    assert_eq!(
        done[0].message.properties.get("traceparent"),
        done[0].message.properties.get("Diagnostic-Id")
    );
    wait_until(&fnwire, "both relays' Executed lines", || {
        executed_trace_id(&fnwire.output(), "relaysecond").is_some()
    });
    let out = fnwire.output();
    for function in ["relayfirst", "relaysecond"] {
        assert_eq!(
            executed_trace_id(&out, function).as_deref(),
            Some(TRACE),
            "{function}'s invocation:\n{out}"
        );
    }
    assert!(fnwire.terminate().success());
}

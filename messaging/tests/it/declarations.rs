//! The declaration file in the Service Bus emulator's `Config.json` shape.

use std::time::Duration;

use fnwire_messaging::{EntityKind, FilterSpec, QUEUE_SUBSCRIPTION, parse_duration, read_declarations};

#[test]
fn queues_topics_subscriptions_and_rules_are_read_and_checked() {
    let text = r#"{"UserConfig": {"Namespaces": [{"Name": "sbemulatorns",
        "Queues": [{"Name": "jobs", "Properties": {"LockDuration": "PT30S", "MaxDeliveryCount": 3,
                    "RequiresDuplicateDetection": true, "DuplicateDetectionHistoryTimeWindow": "PT20S"}}],
        "Topics": [{"Name": "sales", "Properties": {"DefaultMessageTimeToLive": "PT1H"},
          "Subscriptions": [
            {"Name": "orders", "Rules": [{"Name": "big", "Properties": {"FilterType": "Sql",
                "SqlFilter": {"SqlExpression": "type = 'order' AND total > 100"},
                "Action": {"SqlExpression": "SET seen = TRUE"}}}]},
            {"Name": "audit", "Properties": {"MaxDeliveryCount": 5}}
          ]}]}]}}"#;
    let entities = read_declarations(text).unwrap();
    assert_eq!(entities.len(), 2);
    let jobs = &entities[0];
    assert_eq!((jobs.kind, jobs.name.as_str()), (EntityKind::Queue, "jobs"));
    assert_eq!(jobs.options.duplicate_detection, Some(Duration::from_secs(20)));
    assert_eq!(jobs.subscriptions[0].name, QUEUE_SUBSCRIPTION);
    assert_eq!(jobs.subscriptions[0].options.lock_duration, Duration::from_secs(30));
    assert_eq!(jobs.subscriptions[0].options.max_delivery_count, 3);
    let sales = &entities[1];
    assert_eq!(sales.options.default_ttl, Duration::from_secs(3600));
    assert!(
        matches!(&sales.subscriptions[0].rules[0].filter, FilterSpec::Sql(s) if s.contains("total > 100"))
    );
    assert_eq!(sales.subscriptions[1].rules[0].filter, FilterSpec::True, "no rule: everything");
    assert_eq!(sales.subscriptions[1].options.max_delivery_count, 5);

    let bad = text.replace("total > 100", "total >");
    let err = read_declarations(&bad).unwrap_err().to_string();
    assert!(err.contains("subscription `sales/orders`") && err.contains("at character"), "{err}");
    let bad = text.replace("PT30S", "soon");
    assert!(read_declarations(&bad).unwrap_err().to_string().contains("`soon`"));
}

#[test]
fn durations() {
    assert_eq!(parse_duration("PT1M"), Some(Duration::from_secs(60)));
    assert_eq!(parse_duration("P14D"), Some(Duration::from_secs(14 * 86400)));
    assert_eq!(parse_duration("PT0.5S"), Some(Duration::from_millis(500)));
    assert_eq!(parse_duration("00:01:30"), Some(Duration::from_secs(90)));
    assert_eq!(parse_duration("1.00:00:00"), Some(Duration::from_secs(86400)));
    for bad in ["P", "PT", "PT1X", "1M", "00:61:00", ""] {
        assert_eq!(parse_duration(bad), None, "{bad}");
    }
}

#[test]
fn output_envelopes_set_body_and_properties() {
    use fnwire_messaging::{Message, Value};
    let plain = Message::from_output_json(&serde_json::json!({"total": 5})).unwrap();
    assert_eq!(plain.body, br#"{"total":5}"#);
    let text = Message::from_output_json(&serde_json::json!("hello")).unwrap();
    assert_eq!(text.body, b"hello");
    let m = Message::from_output_json(&serde_json::json!({"$serviceBus": {
        "body": {"total": 5}, "applicationProperties": {"type": "order", "total": 5},
        "correlationId": "c-1", "subject": "sales", "timeToLive": "PT5M",
        "scheduledEnqueueTimeUtc": "2027-01-02T03:04:05Z"}}))
    .unwrap();
    assert_eq!(m.body, br#"{"total":5}"#);
    assert_eq!(m.properties["total"], Value::Long(5));
    assert_eq!(m.system.correlation_id.as_deref(), Some("c-1"));
    assert_eq!(m.system.subject.as_deref(), Some("sales"));
    assert_eq!(m.system.time_to_live_ms, Some(300_000));
    assert!(m.system.scheduled_enqueue_time_utc.is_some());
    let bad = Message::from_output_json(&serde_json::json!({"$serviceBus": {"colour": "red"}})).unwrap_err();
    assert!(bad.to_string().contains("`colour`"), "{bad}");
    let bad =
        Message::from_output_json(&serde_json::json!({"$serviceBus": {"applicationProperties": {"a": [1]}}}));
    assert!(bad.unwrap_err().to_string().contains("`a`"));
}

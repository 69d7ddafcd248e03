//! Entities in their three JSON forms: the service's (stored, printed), what Azure's Tables
//! extension gives a worker, and what a worker hands a `table` output.

use chrono::TimeZone as _;
use fnwire_tables::{EdmValue, Entity, EntityError, OutputWrite, validate_table_name};
use serde_json::json;

#[test]
fn the_service_form_types_every_value_and_reads_back_the_same() {
    let t =
        chrono::Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap() + chrono::Duration::microseconds(1234);
    let mut entity = Entity::new("p", "r")
        .unwrap()
        .with("Name", EdmValue::String("ada".into()))
        .with("Small", EdmValue::Int32(7))
        .with("Big", EdmValue::Int64(9_007_199_254_740_993))
        .with("Ratio", EdmValue::Double(2.0))
        .with("Odd", EdmValue::Double(f64::INFINITY))
        .with("When", EdmValue::DateTime(t))
        .with("Id", EdmValue::Guid(uuid::Uuid::from_u128(7)))
        .with("Raw", EdmValue::Binary(vec![0, 255]))
        .with("Ok", EdmValue::Boolean(true));
    entity.timestamp = Some(t);
    entity.etag = Some(fnwire_tables::etag_for(&t));
    let json = serde_json::Value::Object(entity.to_odata_json());
    assert_eq!(json["Big"], json!("9007199254740993"));
    assert_eq!(json["Big@odata.type"], json!("Edm.Int64"));
    assert_eq!(json["Small"], json!(7));
    assert!(json.get("Small@odata.type").is_none(), "an Int32 needs no annotation");
    assert_eq!(json["When"], json!("2024-05-01T12:00:00.0012340Z"));
    assert_eq!(json["Raw"], json!("AP8="));
    assert_eq!(json["Odd"], json!("Infinity"));
    assert_eq!(json["odata.etag"], json!("W/\"datetime'2024-05-01T12%3A00%3A00.0012340Z'\""));
    assert_eq!(Entity::from_odata_json(&json).unwrap(), entity);
}

#[test]
fn a_worker_gets_plain_json_without_timestamp_and_etag_as_azure_sends_it() {
    let t = chrono::Utc.with_ymd_and_hms(2024, 5, 1, 12, 0, 0).unwrap();
    let mut entity = Entity::new("p", "r")
        .unwrap()
        .with("Big", EdmValue::Int64(5))
        .with("When", EdmValue::DateTime(t))
        .with("Ok", EdmValue::Boolean(false));
    entity.timestamp = Some(t);
    entity.etag = Some("W/\"x\"".into());
    assert_eq!(
        entity.to_binding_json(),
        json!({"PartitionKey": "p", "RowKey": "r", "Big": 5, "Ok": false, "When": "2024-05-01T12:00:00+00:00"})
    );
}

#[test]
fn a_worker_output_is_read_as_the_tables_extension_reads_it() {
    let out = json!({
        "partitionkey": "p", "ROWKEY": 42, "ETag": "W/\"v1\"", "Timestamp": "ignored",
        "Count": 3, "Ratio": 0.5, "Text": "2024-05-01T00:00:00Z", "Nested": {"a": [1]}, "Gone": null,
        "Typed": "2024-05-01T00:00:00Z", "Typed@odata.type": "Edm.DateTime"
    });
    let entity = Entity::from_binding_json(&out, (None, None)).unwrap();
    assert_eq!((entity.partition_key.as_str(), entity.row_key.as_str()), ("p", "42"));
    assert_eq!(entity.properties["Count"], EdmValue::Int64(3));
    assert_eq!(entity.properties["Ratio"], EdmValue::Double(0.5));
    assert_eq!(
        entity.properties["Text"],
        EdmValue::String("2024-05-01T00:00:00Z".into()),
        "dates are not guessed"
    );
    assert_eq!(entity.properties["Nested"], EdmValue::String(r#"{"a":[1]}"#.into()));
    assert!(matches!(entity.properties["Typed"], EdmValue::DateTime(_)));
    assert!(!entity.properties.contains_key("Gone") && !entity.properties.contains_key("ETag"));
    assert_eq!(entity.properties.len(), 5);
    assert_eq!(entity.output_write(), OutputWrite::ReplaceIfMatch("W/\"v1\""), "the ETag is the condition");

    let keyless = json!({"Count": 1});
    let entity = Entity::from_binding_json(&keyless, (Some("fromBinding"), Some("row"))).unwrap();
    assert_eq!(entity.partition_key, "fromBinding");
    let e = Entity::from_binding_json(&keyless, (Some("p"), None)).unwrap_err();
    assert_eq!(e, EntityError::MissingKey("RowKey", "rowKey"));
    assert!(e.to_string().contains("set `rowKey` on the binding"), "{e}");
}

#[test]
fn the_etag_a_worker_gives_decides_the_write_as_in_azures_table_entity_writer() {
    let write = |etag: serde_json::Value| {
        let entity = Entity::from_binding_json(
            &json!({"PartitionKey": "p", "RowKey": "r", "etag": etag}),
            (None, None),
        );
        entity.map(|e| format!("{:?}", e.output_write()))
    };
    assert_eq!(write(json!(null)).unwrap(), "Insert");
    assert_eq!(write(json!("")).unwrap(), "Insert");
    assert_eq!(write(json!("*")).unwrap(), "InsertOrReplace");
    assert_eq!(write(json!("W/\"datetime'x'\"")).unwrap(), r#"ReplaceIfMatch("W/\"datetime'x'\"")"#);
    let e = write(json!(7)).unwrap_err();
    assert!(e.to_string().contains("the string `*`"), "{e}");
    let entity =
        Entity::from_binding_json(&json!({"PartitionKey": "p", "RowKey": "r"}), (None, None)).unwrap();
    assert_eq!(entity.output_write(), OutputWrite::Insert);
}

#[test]
fn bad_entities_are_refused_naming_what_is_wrong() {
    let cases = [
        (json!("text"), "JSON object"),
        (json!({"PartitionKey": "a/b", "RowKey": "r"}), "`/`"),
        (json!({"PartitionKey": "p", "RowKey": "r", "N": "x", "N@odata.type": "Edm.Int64"}), "property `N`"),
        (json!({"PartitionKey": "p", "RowKey": "r", "N": "x", "N@odata.type": "Edm.Money"}), "Edm.Money"),
        (json!({"PartitionKey": "p", "RowKey": ["r"]}), "must be a string"),
    ];
    for (value, named) in cases {
        let e = Entity::from_binding_json(&value, (None, None)).unwrap_err().to_string();
        assert!(e.contains(named), "{value}: {e}");
    }
    let many: serde_json::Map<_, _> = (0..300)
        .map(|i| (format!("p{i}"), json!(i)))
        .chain([("PartitionKey".into(), json!("p")), ("RowKey".into(), json!("r"))])
        .collect();
    assert!(
        Entity::from_binding_json(&serde_json::Value::Object(many), (None, None))
            .unwrap_err()
            .to_string()
            .contains("at most 252")
    );
}

#[test]
fn table_names_follow_azure_rules() {
    for ok in ["abc", "Orders2024", "a23456789012345678901234567890123456789012345678901234567890123"] {
        validate_table_name(ok).unwrap();
    }
    for (bad, why) in [
        ("ab", "3 to 63"),
        ("1abc", "start with a letter"),
        ("my-table", "letters and digits"),
        ("Tables", "reserved"),
    ] {
        let e = validate_table_name(bad).unwrap_err().to_string();
        assert!(e.contains(why) && e.contains(bad), "{e}");
    }
}

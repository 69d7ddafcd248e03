//! Table entities, from one test body on both backends (SQLite, then PostgreSQL).

use std::time::Duration;

use fnwire_storage::{MessageBody, QueueStore, StorageError, TableStore, TableWrite, TableWriteMode};
use fnwire_tables::{EdmValue, Entity, Filter, TableQuery};

use crate::on_both;

fn tables(store: &dyn QueueStore) -> &dyn TableStore {
    store.as_table_store().expect("both stores keep tables")
}

fn entity(pk: &str, rk: &str, n: i64) -> Entity {
    Entity::new(pk, rk)
        .unwrap()
        .with("N", EdmValue::Int64(n))
        .with("Name", EdmValue::String(format!("{pk}-{rk}")))
}

fn keys(entities: &[Entity]) -> Vec<(String, String)> {
    entities.iter().map(|e| (e.partition_key.clone(), e.row_key.clone())).collect()
}

fn query(filter: Option<&str>, take: Option<usize>) -> TableQuery {
    TableQuery { filter: filter.map(|f| Filter::parse(f).unwrap()), take }
}

#[test]
fn upsert_replaces_whole_entities_and_get_returns_them_with_timestamp_and_etag() {
    on_both(|backend, store, clock| {
        let t = tables(store);
        t.upsert_entities("Orders", &[entity("p", "1", 1).with("Extra", EdmValue::Boolean(true))]).unwrap();
        let first = t.get_entity("orders", "p", "1").unwrap().unwrap();
        assert_eq!(first.properties["N"], EdmValue::Int64(1), "{backend}");
        assert_eq!(first.timestamp, Some(clock.now()), "{backend}");
        assert!(first.etag.as_deref().is_some_and(|e| e.starts_with("W/\"datetime'")), "{backend}");
        clock.advance(Duration::from_secs(1));
        t.upsert_entities("ORDERS", &[entity("p", "1", 2)]).unwrap();
        let second = t.get_entity("Orders", "p", "1").unwrap().unwrap();
        assert_eq!(second.properties["N"], EdmValue::Int64(2), "{backend}");
        assert!(!second.properties.contains_key("Extra"), "{backend}: replaced whole, not merged");
        assert_ne!(first.etag, second.etag, "{backend}");
        assert_eq!(t.get_entity("Orders", "p", "2").unwrap(), None, "{backend}");
        assert_eq!(t.get_entity("Missing", "p", "1").unwrap(), None, "{backend}");
        let listed: Vec<_> = t.list_tables().unwrap().into_iter().map(|s| (s.name, s.entities)).collect();
        assert_eq!(listed, vec![("Orders".to_string(), 1)], "{backend}: the name keeps its first spelling");
    });
}

#[test]
fn queries_filter_and_take_in_key_order_across_pages() {
    on_both(|backend, store, _| {
        let t = tables(store);
        // More than a page (256 rows), written out of order.
        let mut batch: Vec<Entity> = (0..300)
            .rev()
            .map(|i| entity(if i % 2 == 0 { "even" } else { "odd" }, &format!("{i:04}"), i))
            .collect();
        batch.push(Entity::new("", "").unwrap());
        t.upsert_entities("numbers", &batch).unwrap();
        let all = t.query_entities("numbers", &query(None, None)).unwrap();
        assert_eq!(all.len(), 301, "{backend}");
        assert_eq!(
            keys(&all[..2]),
            [("".into(), "".into()), ("even".into(), "0000".into())],
            "{backend}: empty keys sort first"
        );
        assert!(all.windows(2).all(|w| keys(&w[..1]) < keys(&w[1..])), "{backend}: in key order");
        let big_odd =
            t.query_entities("numbers", &query(Some("PartitionKey eq 'odd' and N ge 281"), None)).unwrap();
        assert_eq!(
            big_odd.iter().map(|e| e.row_key.as_str()).collect::<Vec<_>>(),
            ["0281", "0283", "0285", "0287", "0289", "0291", "0293", "0295", "0297", "0299"],
            "{backend}"
        );
        let taken = t.query_entities("numbers", &query(Some("N gt 250"), Some(3))).unwrap();
        assert_eq!(
            taken.iter().map(|e| e.row_key.as_str()).collect::<Vec<_>>(),
            ["0252", "0254", "0256"],
            "{backend}"
        );
        let late =
            t.query_entities("numbers", &query(Some("N ge 295 or RowKey eq '0001'"), Some(100))).unwrap();
        assert_eq!(late.len(), 6, "{backend}: the last page is read too");
        assert!(t.query_entities("none", &query(None, None)).unwrap().is_empty(), "{backend}");
    });
}

#[test]
fn entities_commit_with_the_trigger_message_and_outputs_or_not_at_all() {
    on_both(|backend, store, clock| {
        let t = tables(store);
        store.put("jobs", b"job", None).unwrap();
        let held = store.get_messages("jobs", 1, Duration::from_secs(60)).unwrap().remove(0);
        let writes = [TableWrite {
            table: "results".into(),
            entities: vec![entity("p", "1", 1), entity("p", "2", 2)],
            mode: TableWriteMode::OutputBinding,
        }];
        let outputs = [MessageBody::new("done", b"ok".to_vec())];
        // A stale pop receipt: nothing is written.
        let stale = t.complete_with_entities(Some(("jobs", &held.id, "not-the-receipt")), &outputs, &writes);
        assert!(matches!(stale, Err(StorageError::PopReceiptMismatch { .. })), "{backend}: {stale:?}");
        assert!(t.list_tables().unwrap().is_empty(), "{backend}: no table from a failed completion");
        assert_eq!(store.message_count("done").unwrap(), 0, "{backend}");
        // A bad table name among the writes: nothing is written either.
        let bad = [
            writes[0].clone(),
            TableWrite {
                table: "no-dashes".into(),
                entities: vec![entity("p", "1", 1)],
                mode: TableWriteMode::OutputBinding,
            },
        ];
        let e = t
            .complete_with_entities(Some(("jobs", &held.id, &held.pop_receipt)), &outputs, &bad)
            .unwrap_err();
        assert!(e.to_string().contains("no-dashes"), "{backend}: {e}");
        assert_eq!(store.message_count("jobs").unwrap(), 1, "{backend}");
        t.complete_with_entities(Some(("jobs", &held.id, &held.pop_receipt)), &outputs, &writes).unwrap();
        assert_eq!(store.message_count("jobs").unwrap(), 0, "{backend}");
        assert_eq!(store.message_count("done").unwrap(), 1, "{backend}");
        let stored = t.query_entities("results", &query(None, None)).unwrap();
        assert_eq!(keys(&stored).len(), 2, "{backend}");
        assert!(stored.iter().all(|e| e.timestamp == Some(clock.now())), "{backend}");
    });
}

/// Azure's table output binding (`TableEntityWriter`): no ETag inserts, `*` inserts or
/// replaces, another ETag replaces only that version; a refused entity writes nothing of its
/// transaction, not even the trigger message's completion.
#[test]
fn output_binding_writes_follow_each_entitys_etag_as_azures_do() {
    on_both(|backend, store, clock| {
        let t = tables(store);
        let output = |entities: Vec<Entity>| {
            [TableWrite { table: "Orders".into(), entities, mode: TableWriteMode::OutputBinding }]
        };
        let with_etag = |e: Entity, etag: &str| Entity { etag: Some(etag.into()), ..e };
        t.complete_with_entities(None, &[], &output(vec![entity("p", "1", 1)])).unwrap();
        let first = t.get_entity("Orders", "p", "1").unwrap().unwrap();

        // The same RowKey again without an ETag: Azure's `Add` answers 409; nothing is written.
        store.put("jobs", b"job", None).unwrap();
        let held = store.get_messages("jobs", 1, Duration::from_secs(60)).unwrap().remove(0);
        let completion = Some(("jobs", held.id.as_str(), held.pop_receipt.as_str()));
        let again = output(vec![entity("p", "2", 2), entity("p", "1", 9)]);
        let e = t
            .complete_with_entities(completion, &[MessageBody::new("done", b"ok".to_vec())], &again)
            .unwrap_err();
        assert!(
            matches!(&e, StorageError::EntityExists { row_key, .. } if row_key == "1"),
            "{backend}: {e:?}"
        );
        assert!(e.to_string().contains("\"ETag\": \"*\""), "{backend}: the message says what to do: {e}");
        assert_eq!(t.get_entity("Orders", "p", "1").unwrap(), Some(first.clone()), "{backend}: unchanged");
        assert_eq!(t.get_entity("Orders", "p", "2").unwrap(), None, "{backend}: rolled back with it");
        assert_eq!(store.message_count("jobs").unwrap(), 1, "{backend}: the trigger message stays");
        assert_eq!(store.message_count("done").unwrap(), 0, "{backend}");

        // `*`: inserted or replaced whole.
        clock.advance(Duration::from_secs(1));
        let starred = output(vec![with_etag(entity("p", "1", 3), "*"), with_etag(entity("p", "3", 3), "*")]);
        t.complete_with_entities(None, &[], &starred).unwrap();
        let second = t.get_entity("Orders", "p", "1").unwrap().unwrap();
        assert_eq!(second.properties["N"], EdmValue::Int64(3), "{backend}");
        assert_ne!(second.etag, first.etag, "{backend}");
        assert!(t.get_entity("Orders", "p", "3").unwrap().is_some(), "{backend}");

        // A stale ETag (Azure: 412) or one of an entity that is not there (404): refused.
        let stale = output(vec![with_etag(entity("p", "1", 4), first.etag.as_deref().unwrap())]);
        let e = t.complete_with_entities(None, &[], &stale).unwrap_err();
        assert!(matches!(e, StorageError::EtagMismatch { .. }), "{backend}: {e:?}");
        let missing = output(vec![with_etag(entity("p", "9", 4), second.etag.as_deref().unwrap())]);
        let e = t.complete_with_entities(None, &[], &missing).unwrap_err();
        assert!(matches!(e, StorageError::EtagMismatch { .. }), "{backend}: {e:?}");
        assert_eq!(t.get_entity("Orders", "p", "9").unwrap(), None, "{backend}");

        // The current ETag: replaced.
        clock.advance(Duration::from_secs(1));
        let current = output(vec![with_etag(entity("p", "1", 5), second.etag.as_deref().unwrap())]);
        t.complete_with_entities(None, &[], &current).unwrap();
        assert_eq!(
            t.get_entity("Orders", "p", "1").unwrap().unwrap().properties["N"],
            EdmValue::Int64(5),
            "{backend}"
        );

        // `fnwire table put` and `upsert_entities` replace whatever the ETag.
        t.upsert_entities("Orders", &[with_etag(entity("p", "1", 6), "W/\"stale\"")]).unwrap();
        assert_eq!(
            t.get_entity("Orders", "p", "1").unwrap().unwrap().properties["N"],
            EdmValue::Int64(6),
            "{backend}"
        );
    });
}

#[test]
fn delete_removes_one_entity_or_a_whole_table() {
    on_both(|backend, store, _| {
        let t = tables(store);
        t.upsert_entities("pets", &[entity("dog", "rex", 1), entity("cat", "tom", 2)]).unwrap();
        assert!(t.delete_entity("pets", "dog", "rex").unwrap(), "{backend}");
        assert!(!t.delete_entity("pets", "dog", "rex").unwrap(), "{backend}: already gone");
        assert_eq!(
            keys(&t.query_entities("pets", &query(None, None)).unwrap()),
            [("cat".into(), "tom".into())],
            "{backend}"
        );
        assert!(t.delete_table("Pets").unwrap(), "{backend}");
        assert!(!t.delete_table("pets").unwrap(), "{backend}");
        assert!(
            t.list_tables().unwrap().is_empty() && t.get_entity("pets", "cat", "tom").unwrap().is_none(),
            "{backend}"
        );
        let e = t.get_entity("x", "a", "b").unwrap_err().to_string();
        assert!(e.contains("table name `x`") && e.contains("3 to 63"), "{backend}: {e}");
    });
}

#[test]
fn every_value_type_survives_the_store() {
    on_both(|backend, store, _| {
        let t = tables(store);
        let typed = Entity::new("p", "r")
            .unwrap()
            .with("s", EdmValue::String("é 'q' \"d\"".into()))
            .with("i32", EdmValue::Int32(-7))
            .with("i64", EdmValue::Int64(i64::MAX))
            .with("d", EdmValue::Double(0.1))
            .with("nan", EdmValue::Double(f64::NEG_INFINITY))
            .with("b", EdmValue::Boolean(false))
            .with(
                "t",
                EdmValue::DateTime(chrono::DateTime::from_timestamp(1_700_000_000, 123_456_700).unwrap()),
            )
            .with("g", EdmValue::Guid(uuid::Uuid::from_u128(42)))
            .with("bin", EdmValue::Binary(vec![0, 1, 254, 255]));
        t.upsert_entities("typed", std::slice::from_ref(&typed)).unwrap();
        let back = t.get_entity("typed", "p", "r").unwrap().unwrap();
        assert_eq!(back.properties, typed.properties, "{backend}");
    });
}

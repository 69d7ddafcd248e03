//! The `table` bindings, with the shapes of Azure's Tables extension for non-.NET workers:
//!
//! * input: with both `partitionKey` and `rowKey`, the one entity as a JSON object (null when
//!   there is none); otherwise the entities of `PartitionKey eq '<partitionKey>' and
//!   (<filter>)`, at most `take`, as a JSON array. Entities carry `PartitionKey`, `RowKey` and
//!   their properties; the extension leaves out `Timestamp` and `odata.etag`, and so does this.
//!   (Azure's current extension has a known bug that returns the whole partition even when
//!   `rowKey` is set, for non-.NET languages; fnwire follows the documented behaviour.)
//! * output: a JSON object or an array of them (a JSON string, as Python's `func.Out[str]`
//!   sends, or JSON); an entity without `PartitionKey`/`RowKey` takes the binding's
//!   `partitionKey`/`rowKey`. Each is written as Azure's extension writes it (its
//!   `TableEntityWriter`), by the entity's `ETag`: none inserts and fails if the entity exists,
//!   `*` inserts or replaces, any other replaces only the entity stored with that ETag. The
//!   writes are committed with the invocation's other outputs (see `AppBindings::complete`),
//!   all or none: a refused entity fails the invocation and writes nothing.
//!
//! Every value may hold binding expressions (`{id}`, `{rand-guid}`…) except `take`.

use fnwire_metadata::Binding;
use fnwire_protocol::rpc::{TypedData, typed_data};
use fnwire_storage::{TableStore, TableWrite, TableWriteMode};
use fnwire_tables::{Entity, Filter, TableQuery};

use super::expressions::ExpressionValues;
use super::{BindingError, BindingRole};

/// The keys of a `table` binding that may hold binding expressions, checked at start.
pub const TEMPLATE_KEYS: &[&str] = &["tableName", "partitionKey", "rowKey", "filter"];

fn problem(role: BindingRole, binding: &Binding, error: impl ToString) -> BindingError {
    BindingError::Table { role, binding: binding.name.clone(), error: error.to_string() }
}

/// A key's value with its expressions resolved; `None` when it is absent or empty.
fn resolved(
    role: BindingRole,
    binding: &Binding,
    key: &str,
    values: &ExpressionValues,
) -> Result<Option<String>, BindingError> {
    let Some(template) = binding.str_property(key).filter(|t| !t.is_empty()) else { return Ok(None) };
    let text = values.resolve(template).map_err(|error| BindingError::Expression {
        role,
        binding: binding.name.clone(),
        error,
    })?;
    Ok(Some(text).filter(|t| !t.is_empty()))
}

/// A binding's `take`, when it has one (a number, or a number in a string as some
/// `function.json` files write it).
fn take(binding: &Binding) -> Result<Option<usize>, BindingError> {
    match binding.properties.get("take") {
        None | Some(serde_json::Value::Null) => Ok(None),
        Some(value) => value
            .as_u64()
            .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
            .filter(|n| *n > 0)
            .and_then(|n| usize::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| {
                problem(
                    BindingRole::TableInput,
                    binding,
                    format!("`take` is `{value}`; it takes a whole number of at least 1"),
                )
            }),
    }
}

/// The value of a `table` input for this invocation (see the module comment).
pub fn read_input(
    tables: &dyn TableStore,
    binding: &Binding,
    values: &ExpressionValues,
) -> Result<TypedData, BindingError> {
    let role = BindingRole::TableInput;
    let table = resolved(role, binding, "tableName", values)?
        .ok_or_else(|| problem(role, binding, "it has no `tableName`"))?;
    let partition_key = resolved(role, binding, "partitionKey", values)?;
    let row_key = resolved(role, binding, "rowKey", values)?;
    if let (Some(pk), Some(rk)) = (&partition_key, &row_key) {
        let entity = tables.get_entity(&table, pk, rk).map_err(|e| problem(role, binding, e))?;
        return Ok(TypedData {
            data: entity.map(|e| typed_data::Data::Json(e.to_binding_json().to_string())),
        });
    }
    let mut filter = partition_key.as_deref().map(Filter::partition_key_is);
    if let Some(rk) = &row_key {
        let by_row = Filter::parse(&format!("RowKey eq '{}'", rk.replace('\'', "''")))
            .map_err(|e| problem(role, binding, e))?;
        filter = Some(match filter {
            Some(f) => f.and(by_row),
            None => by_row,
        });
    }
    if let Some(text) = resolved(role, binding, "filter", values)? {
        let user = Filter::parse(&text).map_err(|e| problem(role, binding, e))?;
        filter = Some(match filter {
            Some(f) => f.and(user),
            None => user,
        });
    }
    let query = TableQuery { filter, take: take(binding)? };
    let entities = tables.query_entities(&table, &query).map_err(|e| problem(role, binding, e))?;
    let array = serde_json::Value::Array(entities.iter().map(Entity::to_binding_json).collect());
    Ok(TypedData { data: Some(typed_data::Data::Json(array.to_string())) })
}

/// The entities a `table` output value stands for, to be written with the invocation's
/// other outputs.
pub fn output_write(
    binding: &Binding,
    value: &TypedData,
    values: &ExpressionValues,
) -> Result<TableWrite, BindingError> {
    let role = BindingRole::TableOutput;
    let table = resolved(role, binding, "tableName", values)?
        .ok_or_else(|| problem(role, binding, "it has no `tableName`"))?;
    fnwire_tables::validate_table_name(&table).map_err(|e| problem(role, binding, e))?;
    let partition_key = resolved(role, binding, "partitionKey", values)?;
    let row_key = resolved(role, binding, "rowKey", values)?;
    let json: serde_json::Value = match value.data.as_ref() {
        Some(typed_data::Data::Json(text)) | Some(typed_data::Data::String(text)) => {
            serde_json::from_str(text).map_err(|e| {
                problem(
                    role,
                    binding,
                    format!("the value is not JSON ({e}); set a JSON object or an array of them"),
                )
            })?
        }
        Some(typed_data::Data::Bytes(bytes)) | Some(typed_data::Data::Stream(bytes)) => {
            serde_json::from_slice(bytes).map_err(|e| {
                problem(
                    role,
                    binding,
                    format!("the value is not JSON ({e}); set a JSON object or an array of them"),
                )
            })?
        }
        Some(typed_data::Data::CollectionString(items)) => serde_json::Value::Array(
            items
                .string
                .iter()
                .map(|s| serde_json::from_str(s))
                .collect::<Result<_, _>>()
                .map_err(|e| problem(role, binding, format!("an item is not JSON ({e})")))?,
        ),
        None => serde_json::Value::Null,
        Some(_) => {
            return Err(problem(role, binding, "a table entity is a JSON object (or an array of them)"));
        }
    };
    let items = match json {
        serde_json::Value::Array(items) => items,
        serde_json::Value::Null => Vec::new(),
        one => vec![one],
    };
    let defaults = (partition_key.as_deref(), row_key.as_deref());
    let entities = items
        .iter()
        .enumerate()
        .map(|(i, item)| {
            Entity::from_binding_json(item, defaults).map_err(|e| {
                let which =
                    if i == 0 && items.len() == 1 { String::new() } else { format!("entity {}: ", i + 1) };
                problem(role, binding, format!("{which}{e}"))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    Ok(TableWrite { table, entities, mode: TableWriteMode::OutputBinding })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use fnwire_metadata::{Binding, Direction};
    use fnwire_protocol::rpc::{InvocationRequest, TypedData, parameter_binding, typed_data};
    use fnwire_storage::TableStore;
    use fnwire_tables::{EdmValue, Entity, TableQuery};
    use serde_json::{Value, json};

    use crate::bindings::tests::{app, function, queue_request, success};
    use crate::bindings::{AppBindings, HeldMessage};

    fn tables(bindings: &AppBindings) -> &dyn TableStore {
        bindings.store().as_table_store().unwrap()
    }

    fn input_json(request: &InvocationRequest, name: &str) -> Value {
        let found = request.input_data.iter().find(|p| p.name == name).expect("the input is added");
        match &found.rpc_data {
            Some(parameter_binding::RpcData::Data(TypedData {
                data: Some(typed_data::Data::Json(text)),
            })) => serde_json::from_str(text).unwrap(),
            Some(parameter_binding::RpcData::Data(TypedData { data: None })) => Value::Null,
            other => panic!("{name}: not JSON: {other:?}"),
        }
    }

    fn order(pk: &str, rk: &str, total: f64) -> Entity {
        Entity::new(pk, rk).unwrap().with("Total", EdmValue::Double(total))
    }

    #[test]
    fn inputs_give_one_entity_with_both_keys_else_the_filtered_partition_as_azure_shapes_them() {
        let dir = tempfile::tempdir().unwrap();
        let f = function(
            "lookup",
            vec![
                Binding::new("msg", "queueTrigger", Direction::In).with("queueName", "jobs"),
                Binding::new("one", "table", Direction::In)
                    .with("tableName", "Orders")
                    .with("partitionKey", "{customer}")
                    .with("rowKey", "{order}"),
                Binding::new("none", "table", Direction::In)
                    .with("tableName", "Orders")
                    .with("partitionKey", "{customer}")
                    .with("rowKey", "missing"),
                Binding::new("big", "table", Direction::In)
                    .with("tableName", "orders")
                    .with("partitionKey", "{customer}")
                    .with("filter", "Total ge {min}")
                    .with("take", 2),
                Binding::new("nothing", "table", Direction::In).with("tableName", "Absent"),
            ],
        );
        let bindings = app(dir.path(), &[f]);
        tables(&bindings)
            .upsert_entities(
                "Orders",
                &[
                    order("ada", "o1", 5.0),
                    order("ada", "o2", 50.0),
                    order("ada", "o3", 70.0),
                    order("ada", "o4", 90.0),
                    order("bob", "o5", 99.0),
                ],
            )
            .unwrap();
        let mut request = queue_request(r#"{"customer":"ada","order":"o2","min":10}"#, "m1");
        bindings.prepare("lookup", &mut request).unwrap();
        assert_eq!(
            input_json(&request, "one"),
            json!({"PartitionKey": "ada", "RowKey": "o2", "Total": 50.0})
        );
        assert_eq!(input_json(&request, "none"), Value::Null, "a missing entity is null");
        let big = input_json(&request, "big");
        let keys: Vec<_> = big.as_array().unwrap().iter().map(|e| e["RowKey"].as_str().unwrap()).collect();
        assert_eq!(keys, ["o2", "o3"], "the partition, filtered, at most `take`, in key order");
        assert!(
            big[0].get("Timestamp").is_none() && big[0].get("odata.etag").is_none(),
            "as the extension sends them"
        );
        assert_eq!(input_json(&request, "nothing"), json!([]));
    }

    #[test]
    fn a_filter_that_does_not_parse_fails_the_invocation_naming_binding_and_position() {
        let dir = tempfile::tempdir().unwrap();
        let f = function(
            "lookup",
            vec![
                Binding::new("msg", "queueTrigger", Direction::In).with("queueName", "jobs"),
                Binding::new("rows", "table", Direction::In)
                    .with("tableName", "Orders")
                    .with("filter", "Total gt {min} and"),
            ],
        );
        let bindings = app(dir.path(), &[f]);
        let e = bindings.prepare("lookup", &mut queue_request(r#"{"min":3}"#, "m1")).unwrap_err().to_string();
        assert!(
            e.contains("table input `rows`") && e.contains("Total gt 3 and") && e.contains("character 15"),
            "{e}"
        );
        let e = bindings.prepare("lookup", &mut queue_request("{}", "m1")).unwrap_err().to_string();
        assert!(e.contains("table input `rows`") && e.contains("{min}"), "{e}");
    }

    #[test]
    fn outputs_commit_with_the_trigger_message_and_queue_outputs_all_or_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let f = function(
            "record",
            vec![
                Binding::new("msg", "queueTrigger", Direction::In).with("queueName", "jobs"),
                Binding::new("one", "table", Direction::Out)
                    .with("tableName", "Audit")
                    .with("partitionKey", "{customer}")
                    .with("rowKey", "{rand-guid}"),
                Binding::new("many", "table", Direction::Out).with("tableName", "Orders"),
                Binding::new("done", "queue", Direction::Out).with("queueName", "done"),
            ],
        );
        let bindings = app(dir.path(), &[f]);
        let store = bindings.store().clone();
        store.put("jobs", br#"{"customer":"ada"}"#, None).unwrap();
        let held = store.get_messages("jobs", 1, std::time::Duration::from_secs(60)).unwrap().remove(0);
        let mut request = queue_request(std::str::from_utf8(&held.body).unwrap(), &held.id);
        let values = bindings.prepare("record", &mut request).unwrap();
        let held = HeldMessage::Queue { queue: "jobs".into(), id: held.id, pop_receipt: held.pop_receipt };

        // The second entity has no RowKey and the binding gives none: nothing at all is written.
        let bad = success(
            vec![
                ("one", typed_data::Data::String(r#"{"Seen":true}"#.into())),
                (
                    "many",
                    typed_data::Data::Json(
                        r#"[{"PartitionKey":"ada","RowKey":"o1","Total":5},{"PartitionKey":"ada"}]"#.into(),
                    ),
                ),
                ("done", typed_data::Data::String("ok".into())),
            ],
            None,
        );
        let e = bindings.complete("record", &values, &bad, Some(&held)).unwrap_err().to_string();
        assert!(e.contains("table output `many`") && e.contains("entity 2") && e.contains("RowKey"), "{e}");
        assert!(tables(&bindings).list_tables().unwrap().is_empty());
        assert_eq!(store.message_count("done").unwrap(), 0);
        assert_eq!(store.message_count("jobs").unwrap(), 1, "the trigger message stays");

        let good = success(vec![
            ("one", typed_data::Data::String(r#"{"Seen":true}"#.into())),
            ("many", typed_data::Data::Json(r#"[{"PartitionKey":"ada","RowKey":"o1","Total":5},{"PartitionKey":"ada","RowKey":"o2","Items":[1,2]}]"#.into())),
            ("done", typed_data::Data::String("ok".into())),
        ], None);
        bindings.complete("record", &values, &good, Some(&held)).unwrap();
        assert_eq!(store.message_count("jobs").unwrap(), 0);
        assert_eq!(store.message_count("done").unwrap(), 1);
        let audit = tables(&bindings).query_entities("Audit", &TableQuery::default()).unwrap();
        assert_eq!(audit.len(), 1);
        assert_eq!(audit[0].partition_key, "ada", "the binding's partitionKey, resolved");
        assert!(uuid::Uuid::parse_str(&audit[0].row_key).is_ok(), "{{rand-guid}} as the row key");
        let o2 = tables(&bindings).get_entity("Orders", "ada", "o2").unwrap().unwrap();
        assert_eq!(o2.properties["Items"], EdmValue::String("[1,2]".into()), "nested JSON is stored as text");
    }

    #[test]
    fn an_existing_row_key_fails_the_invocation_unless_the_entity_says_etag_star_as_on_azure() {
        let dir = tempfile::tempdir().unwrap();
        let f = function(
            "record",
            vec![
                Binding::new("msg", "queueTrigger", Direction::In).with("queueName", "jobs"),
                Binding::new("row", "table", Direction::Out)
                    .with("tableName", "Orders")
                    .with("partitionKey", "ada"),
            ],
        );
        let bindings = app(dir.path(), &[f]);
        tables(&bindings).upsert_entities("Orders", &[order("ada", "o1", 5.0)]).unwrap();
        let store = bindings.store().clone();
        store.put("jobs", b"{}", None).unwrap();
        let held = store.get_messages("jobs", 1, std::time::Duration::from_secs(60)).unwrap().remove(0);
        let mut request = queue_request("{}", &held.id);
        let values = bindings.prepare("record", &mut request).unwrap();
        let held = HeldMessage::Queue { queue: "jobs".into(), id: held.id, pop_receipt: held.pop_receipt };
        let write = |row: &str| success(vec![("row", typed_data::Data::Json(row.into()))], None);

        let e = bindings
            .complete("record", &values, &write(r#"{"RowKey":"o1","Total":7}"#), Some(&held))
            .unwrap_err();
        let e = e.to_string();
        assert!(
            e.contains("already has an entity") && e.contains("`o1`") && e.contains("\"ETag\": \"*\""),
            "{e}"
        );
        assert_eq!(store.message_count("jobs").unwrap(), 1, "the trigger message stays, to be tried again");
        let stored = tables(&bindings).get_entity("Orders", "ada", "o1").unwrap().unwrap();
        assert_eq!(stored.properties["Total"], EdmValue::Double(5.0), "unchanged");

        bindings
            .complete("record", &values, &write(r#"{"RowKey":"o1","Total":7,"etag":"*"}"#), Some(&held))
            .unwrap();
        assert_eq!(store.message_count("jobs").unwrap(), 0);
        let replaced = tables(&bindings).get_entity("Orders", "ada", "o1").unwrap().unwrap();
        assert_eq!(replaced.properties["Total"], EdmValue::Int64(7));
        assert!(!replaced.properties.contains_key("etag"), "the ETag is the condition, not a property");
    }

    #[test]
    fn start_refuses_table_expressions_that_cannot_work() {
        let dir = tempfile::tempdir().unwrap();
        let f = function(
            "nightly",
            vec![
                Binding::new("tick", "timerTrigger", Direction::In).with("schedule", "0 0 * * * *"),
                Binding::new("rows", "table", Direction::Out)
                    .with("tableName", "Runs")
                    .with("partitionKey", "{customer}"),
            ],
        );
        let store = Arc::new(fnwire_storage::Store::open(&dir.path().join("store")).unwrap());
        let e = AppBindings::new(store, Arc::new(fnwire_storage::BlobStore::new(dir.path().join("b"))), &[f])
            .unwrap_err()
            .to_string();
        assert!(e.contains("table output `rows` (partitionKey)") && e.contains("{customer}"), "{e}");
    }
}

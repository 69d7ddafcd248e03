//! Table input and output: one entity (or none) with both keys, a query's entities as a JSON
//! array, entities written from the return value; `main` runs the function through its invoker.
#![deny(warnings)]

use fnwire::__private::{Invocation, Registration, inventory};
use fnwire::protocol::rpc::TypedData;
use fnwire::protocol::rpc::typed_data::Data;
use fnwire::{Json, QueueMessage};
use fnwire::{queue_trigger, table_input, table_output};
use serde_json::{Value, json};

#[queue_trigger(queue = "orders")]
#[table_input(name = "customer", table_name = "Customers", partition_key = "web", row_key = "{customerId}")]
#[table_input(name = "recent", table_name = "Orders", partition_key = "{customerId}", filter = "Total gt 10", take = 5)]
#[table_output(table_name = "Orders", partition_key = "{customerId}", row_key = "{rand-guid}")]
pub fn record(msg: QueueMessage, customer: Option<Json<Value>>, recent: Json<Vec<Value>>) -> Json<Value> {
    let name = customer.map(|c| c.0["Name"].clone()).unwrap_or(Value::Null);
    Json(json!({ "Customer": name, "Previous": recent.0.len(), "Body": msg.text() }))
}

fn registration(name: &str) -> &'static Registration {
    inventory::iter::<Registration>
        .into_iter()
        .find(|r| r.name == name)
        .unwrap_or_else(|| panic!("`{name}` is not registered"))
}

fn json_data(text: &str) -> TypedData {
    TypedData { data: Some(Data::Json(text.to_string())) }
}

fn main() {
    assert_eq!(
        registration("record").bindings,
        [
            r#"{"type":"queueTrigger","direction":"in","name":"msg","queueName":"orders"}"#,
            r#"{"type":"table","direction":"in","name":"customer","tableName":"Customers","partitionKey":"web","rowKey":"{customerId}"}"#,
            r#"{"type":"table","direction":"in","name":"recent","tableName":"Orders","partitionKey":"{customerId}","filter":"Total gt 10","take":5}"#,
            r#"{"type":"table","direction":"out","name":"$return","tableName":"Orders","partitionKey":"{customerId}","rowKey":"{rand-guid}"}"#,
        ]
    );
    let runtime = tokio::runtime::Runtime::new().expect("tokio runtime");
    let invocation = Invocation::new("1", "record")
        .with_input("msg", TypedData { data: Some(Data::String("hi".into())) })
        .with_input("customer", json_data(r#"{"PartitionKey":"web","RowKey":"c1","Name":"Ada"}"#))
        .with_input("recent", json_data(r#"[{"PartitionKey":"c1","RowKey":"o1","Total":12}]"#));
    let outcome = runtime.block_on(registration("record").invoke.call(invocation)).expect("record succeeds");
    let Some(TypedData { data: Some(Data::Json(text)) }) = outcome.return_value else {
        panic!("a JSON return value, got {:?}", outcome.return_value)
    };
    assert_eq!(serde_json::from_str::<Value>(&text).unwrap(), json!({"Customer": "Ada", "Previous": 1, "Body": "hi"}));
}

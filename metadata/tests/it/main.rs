//! Tests of the binding-metadata model: what hosts accept, and the JSON they read.

mod frontend;

use fnwire_metadata::{Binding, BindingKind, DataType, Direction, FunctionMetadata};
use serde_json::json;

fn hello() -> FunctionMetadata {
    FunctionMetadata::new("hello")
        .with_binding(
            Binding::new("req", "httpTrigger", Direction::In)
                .with("route", "hello/{name?}")
                .with("methods", json!(["get", "post"]))
                .with("authLevel", "anonymous"),
        )
        .with_binding(Binding::new("$return", "http", Direction::Out))
}

#[test]
fn raw_bindings_use_function_json_spelling_in_a_stable_order() {
    assert_eq!(
        hello().raw_bindings(),
        vec![
            r#"{"type":"httpTrigger","direction":"in","name":"req","route":"hello/{name?}","methods":["get","post"],"authLevel":"anonymous"}"#,
            r#"{"type":"http","direction":"out","name":"$return"}"#,
        ]
    );
}

#[test]
fn function_ids_are_deterministic_uuids() {
    let a = hello().function_id();
    assert_eq!(a, hello().function_id());
    assert_eq!(a.len(), 36);
    assert_ne!(a, FunctionMetadata::new("other").function_id());
}

#[test]
fn valid_function_passes() {
    hello().validate().unwrap();
}

#[test]
fn every_host_rule_is_reported_at_once() {
    let meta = FunctionMetadata::new("9bad")
        .with_binding(Binding::new("req", "httpTrigger", Direction::In))
        .with_binding(Binding::new("t", "timerTrigger", Direction::In))
        .with_binding(Binding::new("my_out", "queue", Direction::Out))
        .with_binding(Binding::new("REQ", "blob", Direction::In))
        .with_binding(Binding::new("$return", "http", Direction::In));
    let errors = meta.validate().unwrap_err();
    let text: Vec<String> = errors.iter().map(ToString::to_string).collect();
    let all = text.join("\n");
    assert!(all.contains("`9bad` is not a valid function name"), "{all}");
    assert!(all.contains("2 triggers (req, t)"), "{all}");
    assert!(all.contains("binding `my_out`: `my_out` is not a valid binding name"), "{all}");
    assert!(all.contains("binding `REQ`: two bindings have this name"), "{all}");
    assert!(all.contains("`$return` must be an output binding"), "{all}");
    assert_eq!(errors.len(), 5, "{all}");
}

#[test]
fn no_bindings_and_no_trigger_are_errors() {
    let e = FunctionMetadata::new("f").validate().unwrap_err();
    assert!(e[0].to_string().contains("no bindings"), "{}", e[0]);
    let e = FunctionMetadata::new("f")
        .with_binding(Binding::new("q", "queue", Direction::Out))
        .validate()
        .unwrap_err();
    assert!(e[0].to_string().contains("no trigger"), "{}", e[0]);
    assert!(!is_host_name_allowed());
}

fn is_host_name_allowed() -> bool {
    fnwire_metadata::is_valid_function_name("host") || fnwire_metadata::is_valid_function_name("HOST")
}

#[test]
fn function_json_round_trips() {
    let mut meta = hello();
    meta.script_file = "worker".into();
    meta.bindings[0].data_type = Some(DataType::Binary);
    let doc = meta.to_function_json();
    assert_eq!(doc["scriptFile"], "worker");
    assert_eq!(doc["bindings"][0]["dataType"], "binary");
    let back = FunctionMetadata::from_function_json("hello", &doc).unwrap();
    assert_eq!(back, meta);
}

#[test]
fn reads_function_json_case_insensitively_like_hosts() {
    let doc = json!({"bindings": [{"Type": "queueTrigger", "Direction": "IN", "Name": "msg", "queueName": "jobs"}]});
    let meta = FunctionMetadata::from_function_json("work", &doc).unwrap();
    assert_eq!(meta.bindings[0].binding_type, "queueTrigger");
    assert_eq!(meta.bindings[0].direction, Direction::In);
    assert_eq!(meta.bindings[0].str_property("queueName"), Some("jobs"));
}

#[test]
fn unreadable_bindings_say_what_is_wrong() {
    let e = Binding::from_json_str("{").unwrap_err();
    assert!(e.to_string().contains("does not parse"), "{e}");
    let e = Binding::from_json_str(r#"{"type":"x","name":"a","direction":"sideways"}"#).unwrap_err();
    assert!(e.to_string().contains("`sideways` is not one of in, out, inout"), "{e}");
    let e = FunctionMetadata::from_function_json("f", &json!({})).unwrap_err();
    assert_eq!(e.to_string(), "function `f`: function.json has no `bindings` array");
}

#[test]
fn unknown_binding_types_keep_their_raw_json() {
    let raw = r#"{"type":"sqlTrigger","direction":"in","name":"changes","tableName":"dbo.Items","connectionStringSetting":"Sql","extra":{"nested":[1,2]}}"#;
    let binding = Binding::from_json_str(raw).unwrap();
    assert_eq!(binding.to_json_string(), raw);
}

#[test]
fn catalog_normalizes_values_and_explains_rejections() {
    let http = BindingKind::lookup("http_trigger").unwrap();
    assert!(http.is_trigger());
    let methods = http.key("methods").unwrap();
    assert_eq!(methods.normalize(json!("GET, post,GET")).unwrap(), json!(["get", "post"]));
    let e = methods.normalize(json!(["fetch"])).unwrap_err();
    assert!(e.contains("`fetch` is not an HTTP method"), "{e}");
    let e = http.key("auth_level").unwrap().normalize(json!("public")).unwrap_err();
    assert!(e.contains("expected anonymous, function or admin"), "{e}");
    let e = http.key("route").unwrap().normalize(json!(true)).unwrap_err();
    assert!(e.contains("`route` takes a string"), "{e}");
    let queue = BindingKind::lookup("queue_output").unwrap();
    assert_eq!(queue.key("queue").unwrap().json_name, "queueName");
    assert!(queue.key("route").is_none());
    assert!(queue.key_names().contains(&"data_type"));
    assert!(BindingKind::lookup("nope").is_none());
}

#[test]
fn misspelled_keys_get_a_suggestion() {
    let accepted = ["route", "methods", "auth_level", "name", "data_type"];
    assert_eq!(fnwire_metadata::closest_key("rout", &accepted), Some("route"));
    assert_eq!(fnwire_metadata::closest_key("authLevel", &accepted), Some("auth_level"));
    assert_eq!(fnwire_metadata::closest_key("schedule", &accepted), None);
}

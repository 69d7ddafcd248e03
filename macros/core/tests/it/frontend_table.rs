//! The shared front-end table (`metadata/tests/frontend_cases.json`) through the macro model:
//! each case becomes a function with stacked attributes, and must get the same verdict as in
//! the Python decorators and Node's `app.*`.

use serde_json::Value;

const CASES: &str = include_str!("../../../../metadata/tests/frontend_cases.json");

fn rust_value(value: &Value) -> String {
    match value {
        Value::String(text) => format!("{text:?}"),
        Value::Array(items) => format!("[{}]", items.iter().map(rust_value).collect::<Vec<_>>().join(", ")),
        other => other.to_string(),
    }
}

/// The case as Rust source: one attribute per binding, parameters typed `String` or `Out<String>`.
fn source(case: &Value) -> String {
    let mut text = String::new();
    for binding in case["bindings"].as_array().unwrap() {
        let options: Vec<String> = binding["options"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(key, value)| format!("{key} = {}", rust_value(value)))
            .collect();
        text += &format!("#[{}({})]\n", binding["kind"].as_str().unwrap(), options.join(", "));
    }
    let params: Vec<String> = case["parameters"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| match p {
            Value::String(name) => format!("{name}: String"),
            other => format!("{}: Out<String>", other["name"].as_str().unwrap()),
        })
        .collect();
    // `async`, because orchestrators must be (the model checks that beyond the table).
    text + &format!(
        "pub async fn {}({}) -> String {{ todo!() }}",
        case["function"].as_str().unwrap(),
        params.join(", ")
    )
}

fn sorted(mut bindings: Vec<Value>) -> Vec<Value> {
    bindings.sort_by_key(|b| b["name"].as_str().unwrap_or_default().to_string());
    bindings
}

#[test]
fn every_case_of_the_shared_table_gets_its_verdict_with_spans() {
    let table: Value = serde_json::from_str(CASES).unwrap();
    let mut ran = 0;
    for case in table["cases"].as_array().unwrap() {
        if case.get("languages").is_some_and(|only| !only.as_array().unwrap().iter().any(|l| l == "rust")) {
            continue;
        }
        ran += 1;
        let title = case["case"].as_str().unwrap();
        let source = source(case);
        match (crate::model_of(&source), case.get("ok")) {
            (Ok(model), Some(expected)) => {
                let bindings =
                    model.metadata.bindings.iter().map(fnwire_metadata::Binding::to_json).collect();
                assert_eq!(
                    sorted(bindings),
                    sorted(expected.as_array().unwrap().clone()),
                    "{title}\n{source}"
                );
            }
            (Ok(model), None) => panic!("{title}: expected errors, got {:#?}\n{source}", model.metadata),
            (Err(error), Some(_)) => panic!("{title}: expected bindings, got {error}\n{source}"),
            (Err(error), None) => {
                let messages: Vec<String> = error.into_iter().map(|e| e.to_string()).collect();
                let expected = case["problems"].as_array().unwrap();
                assert_eq!(messages.len(), expected.len(), "{title}: {messages:#?}\n{source}");
                for want in expected {
                    let fragment = want["message"].as_str().unwrap();
                    assert!(
                        messages.iter().any(|m| m.contains(fragment)),
                        "{title}: no error contains {fragment:?}: {messages:#?}\n{source}"
                    );
                }
            }
        }
    }
    assert!(ran >= 20, "the table lost cases: {ran}");
}

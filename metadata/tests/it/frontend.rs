//! The shared front-end table (`tests/frontend_cases.json`) through the Rust front end: the
//! same cases run through the macros, the Python decorators and Node's `app.*`.

use fnwire_metadata::frontend::{self, Language, Parameter, Problem, Signature};
use serde_json::Value;

const CASES: &str = include_str!("../frontend_cases.json");

/// The cases that apply to `language` (all of them unless a case lists its languages).
pub fn cases(language: &str) -> Vec<Value> {
    let table: Value = serde_json::from_str(CASES).unwrap();
    table["cases"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|case| match case.get("languages") {
            Some(only) => only.as_array().unwrap().iter().any(|l| l == language),
            None => true,
        })
        .cloned()
        .collect()
}

fn parameter(value: &Value) -> Parameter {
    let (name, out) = match value {
        Value::String(name) => (name.clone(), false),
        other => (other["name"].as_str().unwrap().to_string(), other["out"] == true),
    };
    Parameter { written: name.clone(), binding_name: name, can_take_trigger: !out, is_output_slot: out }
}

/// Runs one case: the rendered bindings, or every problem.
fn run(case: &Value) -> Result<Vec<Value>, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut declarations = Vec::new();
    let mut incomplete = false;
    for binding in case["bindings"].as_array().unwrap() {
        let options: Vec<(String, Value)> =
            binding["options"].as_object().unwrap().iter().map(|(k, v)| (k.clone(), v.clone())).collect();
        let declared = frontend::declare(Language::Rust, binding["kind"].as_str().unwrap(), &options);
        problems.extend(declared.problems);
        match declared.declaration {
            Some(declaration) => declarations.push(declaration),
            None => incomplete = true,
        }
    }
    let signature = Signature {
        name: case["function"].as_str().unwrap().to_string(),
        parameters: Some(case["parameters"].as_array().unwrap().iter().map(parameter).collect()),
        returns_value: true,
        incomplete,
    };
    match frontend::resolve(Language::Rust, &signature, &declarations) {
        Ok(resolved) if problems.is_empty() => {
            Ok(resolved.metadata.bindings.iter().map(fnwire_metadata::Binding::to_json).collect())
        }
        Ok(_) => Err(problems),
        Err(more) => {
            problems.extend(more);
            Err(problems)
        }
    }
}

/// Bindings compared in any order: each front end orders the ones it adds differently.
fn sorted(mut bindings: Vec<Value>) -> Vec<Value> {
    bindings.sort_by_key(|b| b["name"].as_str().unwrap_or_default().to_string());
    bindings
}

#[test]
fn every_case_of_the_shared_table_gets_its_verdict() {
    let cases = cases("rust");
    assert!(cases.len() >= 20, "the table lost cases: {}", cases.len());
    for case in cases {
        let title = case["case"].as_str().unwrap();
        match (run(&case), case.get("ok")) {
            (Ok(bindings), Some(expected)) => {
                assert_eq!(sorted(bindings), sorted(expected.as_array().unwrap().clone()), "{title}");
            }
            (Ok(bindings), None) => panic!("{title}: expected problems, got {bindings:#?}"),
            (Err(problems), Some(_)) => panic!("{title}: expected bindings, got {problems:#?}"),
            (Err(problems), None) => {
                let expected = case["problems"].as_array().unwrap();
                assert_eq!(problems.len(), expected.len(), "{title}: {problems:#?}");
                for want in expected {
                    let found = problems.iter().any(|p| {
                        p.message.contains(want["message"].as_str().unwrap())
                            && p.key() == want["key"].as_str()
                    });
                    assert!(
                        found,
                        "{title}: no problem at key {} containing {}: {problems:#?}",
                        want["key"], want["message"]
                    );
                }
            }
        }
    }
}

#[test]
fn node_spells_options_in_camel_case_and_names_no_function_in_options() {
    let options =
        vec![("authLevel".to_string(), Value::from("admin")), ("auth_level".to_string(), Value::from("x"))];
    let declared = frontend::declare(Language::Node, "http_trigger", &options);
    let declaration = declared.declaration.unwrap();
    assert_eq!(declaration.binding.properties["authLevel"], "admin");
    assert_eq!(declared.problems.len(), 1, "{:#?}", declared.problems);
    assert!(
        declared.problems[0]
            .message
            .contains("`trigger.http` has no option `auth_level`; did you mean `authLevel`?")
    );
    let declared =
        frontend::declare(Language::Node, "http_trigger", &[("functionName".into(), Value::from("x"))]);
    assert_eq!(declared.problems[0].key(), Some("functionName"));
}

#[test]
fn null_options_count_as_not_given() {
    let options = vec![("route".to_string(), Value::Null), ("name".to_string(), Value::from("req"))];
    let declared = frontend::declare(Language::Python, "http_trigger", &options);
    assert!(declared.problems.is_empty(), "{:#?}", declared.problems);
    assert!(declared.declaration.unwrap().binding.properties.is_empty());
}

#[test]
fn unknown_kinds_point_to_the_generic_binding() {
    let declared = frontend::declare(Language::Python, "cosmos_trigger", &[]);
    assert!(declared.declaration.is_none());
    assert!(declared.problems[0].message.contains("declare any other Azure binding with `@app.binding`"));
}

#[test]
fn default_names_apply_where_the_rules_give_none() {
    let mut trigger =
        frontend::declare(Language::Node, "queue_trigger", &[("queue".into(), Value::from("q"))])
            .declaration
            .unwrap();
    trigger.default_name = Some("msg".into());
    let signature =
        Signature { name: "work".into(), parameters: None, returns_value: true, incomplete: false };
    let resolved = frontend::resolve(Language::Node, &signature, &[trigger]).unwrap();
    assert_eq!(resolved.metadata.bindings[0].name, "msg");
    assert_eq!(resolved.origins, [Some(0)]);
}

//! What worker indexing must return (CONTRACT.md §1.2): the function list and binding objects
//! from `scenarios/functions.toml`, and the comparison rules for `raw_bindings`.

use std::collections::{BTreeMap, BTreeSet};

use fnwire_protocol::rpc::RpcFunctionMetadata;
use serde::Deserialize;
use serde_json::{Map, Value};

/// Keys whose string values compare ignoring ASCII case.
const CASE_INSENSITIVE_KEYS: &[&str] = &["direction", "authLevel", "dataType"];

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContractFile {
    function: Vec<ContractFunctionText>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct ContractFunctionText {
    name: String,
    bindings: Vec<String>,
}

/// One contract function and its expected binding objects, by binding name.
#[derive(Debug, Clone)]
pub struct ContractFunction {
    pub name: String,
    pub bindings: BTreeMap<String, Map<String, Value>>,
}

/// Reads `functions.toml`.
pub fn load_contract(text: &str) -> Result<Vec<ContractFunction>, String> {
    let file: ContractFile =
        toml::from_str(text).map_err(|e| format!("scenario file `functions.toml` is not valid: {e}"))?;
    file.function
        .into_iter()
        .map(|f| {
            let mut bindings = BTreeMap::new();
            for text in &f.bindings {
                let object = match serde_json::from_str::<Value>(text) {
                    Ok(Value::Object(o)) => o,
                    _ => {
                        return Err(format!(
                            "functions.toml: `{}` has a binding that is not a JSON object: {text}",
                            f.name
                        ));
                    }
                };
                let name = object.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
                bindings.insert(name, object);
            }
            Ok(ContractFunction { name: f.name, bindings })
        })
        .collect()
}

/// A worker's `raw_bindings`, parsed and keyed by binding name.
pub fn parse_raw_bindings(
    rpc: &RpcFunctionMetadata,
) -> Result<BTreeMap<String, Map<String, Value>>, Vec<String>> {
    let mut out = BTreeMap::new();
    let mut problems = Vec::new();
    for (i, text) in rpc.raw_bindings.iter().enumerate() {
        match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(o)) => {
                let name = o.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
                if out.insert(name.clone(), o).is_some() {
                    problems.push(format!("binding name {name:?} appears twice in raw_bindings"));
                }
            }
            Ok(other) => problems.push(format!("raw_bindings[{i}] is JSON but not an object: {other}")),
            Err(e) => problems.push(format!("raw_bindings[{i}] is not JSON ({e}): {text:?}")),
        }
    }
    if problems.is_empty() { Ok(out) } else { Err(problems) }
}

fn eq_ignore_case(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::String(a), Value::String(b)) => a.eq_ignore_ascii_case(b),
        _ => a == b,
    }
}

fn methods_equal(expected: &Value, actual: &Value) -> bool {
    let set = |v: &Value| -> Option<BTreeSet<String>> {
        v.as_array()?.iter().map(|m| m.as_str().map(str::to_ascii_uppercase)).collect()
    };
    match (set(expected), set(actual)) {
        (Some(a), Some(b)) => a == b,
        _ => false,
    }
}

/// Compares one binding object with the contract's; returns each difference.
pub fn compare_binding(expected: &Map<String, Value>, actual: &Map<String, Value>) -> Vec<String> {
    let mut problems = Vec::new();
    for (key, want) in expected {
        match actual.get(key).filter(|v| !v.is_null()) {
            None => problems.push(format!("missing key {key:?} (expected {want})")),
            Some(got) => {
                let same = if key == "methods" {
                    methods_equal(want, got)
                } else if CASE_INSENSITIVE_KEYS.contains(&key.as_str()) {
                    eq_ignore_case(want, got)
                } else {
                    want == got
                };
                if !same {
                    problems.push(format!("key {key:?}: expected {want}, received {got}"));
                }
            }
        }
    }
    for (key, got) in actual {
        if expected.contains_key(key) || got.is_null() {
            continue;
        }
        if key == "properties" {
            if !got.is_object() {
                problems.push(format!("key \"properties\" must be an object, received {got}"));
            }
            continue;
        }
        problems.push(format!("unexpected key {key:?} = {got} (only `properties` may be added)"));
    }
    problems
}

/// Compares a function's raw bindings with the contract; returns each difference.
pub fn compare_function(contract: &ContractFunction, rpc: &RpcFunctionMetadata) -> Vec<String> {
    let actual = match parse_raw_bindings(rpc) {
        Ok(a) => a,
        Err(problems) => return problems,
    };
    let want: BTreeSet<&String> = contract.bindings.keys().collect();
    let got: BTreeSet<&String> = actual.keys().collect();
    if want != got {
        return vec![format!("expected bindings named {want:?}, received {got:?}")];
    }
    let mut problems = Vec::new();
    for (name, expected) in &contract.bindings {
        for p in compare_binding(expected, &actual[name]) {
            problems.push(format!("binding {name:?}: {p}"));
        }
    }
    problems
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().unwrap().clone()
    }

    #[test]
    fn contract_file_parses_with_sixteen_functions() {
        let text = crate::embedded::SCENARIO_FILES.iter().find(|(p, _)| *p == "functions.toml").unwrap().1;
        let functions = load_contract(text).unwrap();
        assert_eq!(functions.len(), 16);
        assert!(functions.iter().all(|f| !f.bindings.is_empty()));
    }

    #[test]
    fn comparison_rules() {
        let want = obj(
            json!({"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous","methods":["GET","POST"],"route":"r"}),
        );
        let peer = obj(
            json!({"type":"httpTrigger","direction":"IN","name":"req","authLevel":"ANONYMOUS","methods":["post","get"],"route":"r","dataType":null,"properties":{"x":"y"}}),
        );
        assert!(compare_binding(&want, &peer).is_empty());
        let wrong = obj(
            json!({"type":"HttpTrigger","direction":"in","name":"req","authLevel":"anonymous","methods":["GET"],"route":"r","extra":1}),
        );
        let problems = compare_binding(&want, &wrong);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(problems.iter().any(|p| p.contains("\"type\"")));
        assert!(problems.iter().any(|p| p.contains("methods")));
        assert!(problems.iter().any(|p| p.contains("extra")));
        let null_value = obj(
            json!({"type":"httpTrigger","direction":"in","name":"req","authLevel":"anonymous","methods":["GET","POST"],"route":null}),
        );
        assert!(compare_binding(&want, &null_value).iter().any(|p| p.contains("missing key \"route\"")));
    }
}

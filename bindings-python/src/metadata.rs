//! Decorator options -> binding metadata, through the same catalog and model as the Rust macros.
//!
//! The Python layer passes each decorator's keyword arguments as they were written; this module
//! checks them against `fnwire_metadata::CATALOG` (`BindingKind::lookup`, `KeySpec::normalize`)
//! and renders the binding, and `validate_function` runs `FunctionMetadata::validate`, so a key
//! or value is accepted, spelled and rejected exactly as in `#[http_trigger(...)]`.

use fnwire_metadata::{Binding, BindingKind, COMMON_KEYS, DataType, Direction, FunctionMetadata};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Value};

/// The key on a trigger decorator that overrides the function name.
const FUNCTION_NAME_KEY: &str = "function_name";

/// One decorator's binding: `(binding JSON text, name or None, function_name or None)`.
/// The binding's `name` is left empty when the decorator has none; the Python layer resolves it
/// from the parameters, as the macros do.
#[pyfunction]
pub fn build_binding(
    decorator: &str,
    options: &Bound<'_, PyDict>,
) -> PyResult<(String, Option<String>, Option<String>)> {
    let mut pairs = Vec::new();
    for (key, value) in options.iter() {
        let key: String = key.extract()?;
        let value = to_json(&value)
            .map_err(|why| PyValueError::new_err(format!("`@app.{decorator}`: `{key}` {why}")))?;
        pairs.push((key, value));
    }
    let built = if decorator == "binding" { build_generic(&pairs) } else { build_known(decorator, &pairs) };
    match built {
        Ok((binding, name, function_name)) => Ok((binding.to_json_string(), name, function_name)),
        Err(problems) => Err(PyValueError::new_err(problems.join("; "))),
    }
}

type Built = (Binding, Option<String>, Option<String>);

fn build_known(decorator: &str, pairs: &[(String, Value)]) -> Result<Built, Vec<String>> {
    let Some(kind) = BindingKind::lookup(decorator) else {
        return Err(vec![format!(
            "`@app.{decorator}` is not a binding fnwire knows; use `@app.binding(type=..., direction=..., ...)` \
             for any other Azure binding"
        )]);
    };
    let mut problems = Vec::new();
    let mut binding = Binding::new("", kind.binding_type, kind.direction);
    let mut name = None;
    let mut function_name = None;
    for (key, value) in pairs {
        if key == FUNCTION_NAME_KEY {
            match (kind.is_trigger(), value.as_str()) {
                (true, Some(text)) => function_name = Some(text.to_string()),
                (true, None) => problems.push(format!("`{FUNCTION_NAME_KEY}` takes a string, e.g. \"Hello\"")),
                (false, _) => problems.push(format!(
                    "`{FUNCTION_NAME_KEY}` names the whole function, so it goes on the trigger decorator, not on \
                     `@app.{decorator}`"
                )),
            }
            continue;
        }
        let Some(spec) = kind.key(key) else {
            let mut accepted = kind.key_names();
            if kind.is_trigger() {
                accepted.push(FUNCTION_NAME_KEY);
            }
            let hint = fnwire_metadata::closest_key(key, &accepted)
                .map(|near| format!("did you mean `{near}`? "))
                .unwrap_or_default();
            problems.push(format!(
                "`@app.{decorator}` has no option `{key}`; {hint}it accepts: {}",
                accepted.join(", ")
            ));
            continue;
        };
        match spec.normalize(value.clone()) {
            Err(why) => problems.push(why),
            Ok(value) => match spec.json_name {
                "name" => name = value.as_str().map(str::to_string),
                "dataType" => binding.data_type = value.as_str().and_then(DataType::parse),
                json_name => {
                    binding.properties.insert(json_name.to_string(), value);
                }
            },
        }
    }
    for required in kind.keys.iter().filter(|k| k.required) {
        if !pairs.iter().any(|(key, _)| key == required.name) {
            problems.push(format!(
                "`@app.{decorator}` requires `{}=...` ({})",
                required.name,
                required.kind.describe()
            ));
        }
    }
    if problems.is_empty() { Ok((binding, name, function_name)) } else { Err(problems) }
}

/// `@app.binding(type=..., direction=..., name=..., any_key=value)`: any Azure binding; keys are
/// rendered in camelCase, values as written.
fn build_generic(pairs: &[(String, Value)]) -> Result<Built, Vec<String>> {
    let mut problems = Vec::new();
    let mut binding_type = None;
    let mut direction = None;
    let mut name = None;
    let mut function_name = None;
    let mut data_type = None;
    let mut properties = Map::new();
    for (key, value) in pairs {
        let json_key = fnwire_metadata::snake_to_camel(key);
        match json_key.as_str() {
            "type" => match value.as_str() {
                Some(t) if !t.trim().is_empty() => binding_type = Some(t.to_string()),
                _ => problems.push(
                    "`type` takes the Azure binding type as a non-empty string, e.g. \"sql\" or \"serviceBusTrigger\""
                        .to_string(),
                ),
            },
            "direction" => match value.as_str().and_then(Direction::parse) {
                Some(d) => direction = Some(d),
                None => problems.push("`direction` takes \"in\", \"out\" or \"inout\"".to_string()),
            },
            "name" => match value.as_str() {
                Some(n) => name = Some(n.to_string()),
                None => problems.push("`name` takes a string: the parameter it binds to".to_string()),
            },
            "functionName" => function_name = Some(value.clone()),
            "dataType" => {
                let checked = match COMMON_KEYS.iter().find(|k| k.json_name == "dataType") {
                    Some(spec) => spec.normalize(value.clone()),
                    None => Ok(value.clone()),
                };
                match checked {
                    Ok(v) => data_type = v.as_str().and_then(DataType::parse),
                    Err(why) => problems.push(why),
                }
            }
            _ => {
                if properties.contains_key(&json_key) {
                    problems.push(format!("`{key}` and another option both become the JSON key `{json_key}`: keep one"));
                } else {
                    properties.insert(json_key, value.clone());
                }
            }
        }
    }
    if !pairs.iter().any(|(k, _)| k == "type") {
        problems.push(
            "`@app.binding` requires `type=\"...\"`: the Azure binding type, e.g. \"sql\" or \"serviceBusTrigger\""
                .to_string(),
        );
    }
    if !pairs.iter().any(|(k, _)| k == "direction") {
        problems.push("`@app.binding` requires `direction=\"in\"`, `\"out\"` or `\"inout\"`".to_string());
    }
    let (Some(binding_type), Some(direction)) = (binding_type, direction) else { return Err(problems) };
    let mut binding = Binding::new("", binding_type.clone(), direction);
    binding.data_type = data_type;
    binding.properties = properties;
    if binding.is_trigger() && direction != Direction::In {
        problems.push(format!(
            "`{binding_type}` is a trigger (its type ends in `Trigger`), and triggers have `direction=\"in\"`"
        ));
    }
    let function_name = match function_name {
        None => None,
        Some(_) if !binding.is_trigger() => {
            problems.push(format!(
                "`{FUNCTION_NAME_KEY}` names the whole function, so it goes on the trigger decorator"
            ));
            None
        }
        Some(Value::String(s)) => Some(s),
        Some(_) => {
            problems.push(format!("`{FUNCTION_NAME_KEY}` takes a string, e.g. \"Hello\""));
            None
        }
    };
    if problems.is_empty() { Ok((binding, name, function_name)) } else { Err(problems) }
}

/// Validates a whole function as a host would and returns its `raw_bindings`. The error lists
/// every problem, one per line.
#[pyfunction]
pub fn validate_function(name: &str, bindings: Vec<String>) -> PyResult<Vec<String>> {
    let texts: Vec<&str> = bindings.iter().map(String::as_str).collect();
    let metadata = FunctionMetadata::from_raw_bindings(name, &texts)
        .map_err(|e| PyValueError::new_err(e.to_string()))?;
    match metadata.validate() {
        Ok(()) => Ok(metadata.raw_bindings()),
        Err(problems) => {
            let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
            Err(PyValueError::new_err(lines.join("\n")))
        }
    }
}

/// The function id every worker process reports for this function name.
#[pyfunction]
pub fn function_id(name: &str) -> String {
    FunctionMetadata::new(name).function_id()
}

/// A decorator option as JSON: str, bool, int, float, or a list/tuple of those.
fn to_json(value: &Bound<'_, PyAny>) -> Result<Value, String> {
    if value.is_instance_of::<PyBool>() {
        return Ok(Value::Bool(value.extract::<bool>().map_err(|e| e.to_string())?));
    }
    if let Ok(s) = value.cast::<PyString>() {
        return Ok(Value::String(s.to_string_lossy().into_owned()));
    }
    if value.is_instance_of::<PyInt>() {
        return value
            .extract::<i64>()
            .map(Value::from)
            .map_err(|_| "is an integer too large for a binding option".to_string());
    }
    if value.is_instance_of::<PyFloat>() {
        let f: f64 = value.extract::<f64>().map_err(|e| e.to_string())?;
        return serde_json::Number::from_f64(f)
            .map(Value::Number)
            .ok_or_else(|| "is not a finite number".into());
    }
    if value.is_instance_of::<PyList>() || value.is_instance_of::<PyTuple>() {
        let mut items = Vec::new();
        for item in value.try_iter().map_err(|e| e.to_string())? {
            items.push(to_json(&item.map_err(|e| e.to_string())?)?);
        }
        return Ok(Value::Array(items));
    }
    if value.is_none() {
        return Ok(Value::Null);
    }
    let type_name = value.get_type().name().map(|n| n.to_string()).unwrap_or_else(|_| "?".into());
    Err(format!("takes a string, a boolean, a number or a list of strings, not a `{type_name}`"))
}

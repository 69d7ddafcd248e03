//! Function registration: the options a JS `app.*` call collected become fnwire binding metadata,
//! checked and rendered with the same catalog as the Rust attribute macros.
//!
//! Option names are the catalog's snake_case key names camelCased (`auth_level` → `authLevel`).

use std::sync::Mutex;

use fnwire_metadata::{Binding, BindingKind, COMMON_KEYS, DataType, Direction, FunctionMetadata};
use serde_json::{Map, Value, json};

/// One binding as the JS layer describes it.
#[derive(Debug)]
struct BindingRequest {
    /// Catalog attribute (`http_trigger`, `queue_output`, …) or `binding` for the generic one.
    kind: String,
    /// The name used when the options do not give one.
    default_name: String,
    options: Map<String, Value>,
}

/// A function that passed registration.
#[derive(Debug, Clone)]
pub(crate) struct Registered {
    pub(crate) id: u32,
    pub(crate) metadata: FunctionMetadata,
}

static REGISTRY: Mutex<Vec<Registered>> = Mutex::new(Vec::new());

fn registry() -> std::sync::MutexGuard<'static, Vec<Registered>> {
    REGISTRY.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Every function registered so far, in registration order.
pub(crate) fn registered() -> Vec<Registered> {
    registry().clone()
}

/// Checks and records a function. `request` is
/// `{name, via, scriptFile, bindings: [{kind, defaultName, options}]}`; the answer is
/// `{id, name, bindings: [{name, type, direction}]}`. The error text names the function and the
/// call that declared it, and lists every problem.
pub(crate) fn define(request: &Value) -> Result<Value, String> {
    let via = request.get("via").and_then(Value::as_str).unwrap_or("app.generic");
    let name = match request.get("name") {
        Some(Value::String(name)) => name.clone(),
        other => {
            return Err(format!(
                "{via}() needs the function name as its first argument (a string such as 'hello'), got {}",
                describe(other)
            ));
        }
    };
    let site = format!("{via}('{name}')");
    let requests = parse_requests(request).map_err(|e| format!("{site}: {e}"))?;
    let mut problems = Vec::new();
    let mut metadata = FunctionMetadata::new(name.clone());
    for binding in &requests {
        if let Some(binding) = build_binding(binding, &mut problems) {
            metadata.bindings.push(binding);
        }
    }
    if let Some(script) = request.get("scriptFile").and_then(Value::as_str) {
        metadata.script_file = script.to_string();
    }
    metadata.entry_point = name.clone();
    if problems.is_empty()
        && let Err(errors) = metadata.validate()
    {
        problems.extend(errors.into_iter().map(|e| e.to_string()));
    }
    let mut functions = registry();
    if problems.is_empty()
        && let Some(first) = functions.iter().find(|f| f.metadata.name.eq_ignore_ascii_case(&name))
    {
        problems.push(format!(
            "a function named '{}' is already registered; function names must be unique (case-insensitively): \
             rename one of them",
            first.metadata.name
        ));
    }
    if !problems.is_empty() {
        let list: Vec<String> = problems.iter().map(|p| format!("  - {p}")).collect();
        return Err(format!("{site} is not a valid function:\n{}", list.join("\n")));
    }
    let id = u32::try_from(functions.len()).map_err(|_| format!("{site}: too many functions"))?;
    let bindings: Vec<Value> = metadata
        .bindings
        .iter()
        .map(|b| json!({"name": b.name, "type": b.binding_type, "direction": b.direction.as_str()}))
        .collect();
    functions.push(Registered { id, metadata });
    Ok(json!({"id": id, "name": name, "bindings": bindings}))
}

/// The rendered `raw_bindings` of a registered function, for tests and `fnwire`'s own checks.
pub(crate) fn raw_bindings(name: &str) -> Option<Vec<String>> {
    registry().iter().find(|f| f.metadata.name == name).map(|f| f.metadata.raw_bindings())
}

fn describe(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => "nothing".into(),
        Some(v) => format!("`{v}`"),
    }
}

fn parse_requests(request: &Value) -> Result<Vec<BindingRequest>, String> {
    let items = request.get("bindings").and_then(Value::as_array).ok_or("no bindings were given")?;
    items
        .iter()
        .map(|item| {
            let kind = item.get("kind").and_then(Value::as_str).ok_or("a binding without `kind`")?;
            let default_name = item.get("defaultName").and_then(Value::as_str).unwrap_or_default();
            let options = match item.get("options") {
                None | Some(Value::Null) => Map::new(),
                Some(Value::Object(map)) => map.clone(),
                Some(other) => return Err(format!("binding options must be an object, got `{other}`")),
            };
            Ok(BindingRequest { kind: kind.to_string(), default_name: default_name.to_string(), options })
        })
        .collect()
}

/// `auth_level` → `authLevel`.
pub(crate) fn camel(snake: &str) -> String {
    let mut out = String::with_capacity(snake.len());
    let mut upper = false;
    for c in snake.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// `authLevel` → `auth_level`.
fn snake(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 4);
    for c in camel.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// A binding's display name in messages: `output.queue`, `trigger.http`, …
fn display(kind: &str) -> String {
    match kind.rsplit_once('_') {
        Some((base, "trigger")) => format!("{}Trigger", camel(base)),
        Some((base, "output")) => format!("output.{}", camel(base)),
        Some((base, "input")) => format!("input.{}", camel(base)),
        _ => "generic binding".to_string(),
    }
}

fn build_binding(request: &BindingRequest, problems: &mut Vec<String>) -> Option<Binding> {
    if request.kind == "binding" {
        return build_generic(request, problems);
    }
    let Some(kind) = BindingKind::lookup(&request.kind) else {
        problems.push(format!("fnwire knows no binding kind `{}`", request.kind));
        return None;
    };
    let shown = display(&request.kind);
    let mut binding = Binding::new(request.default_name.clone(), kind.binding_type, kind.direction);
    for (key, value) in &request.options {
        if value.is_null() {
            continue;
        }
        let Some(spec) = kind.key(&snake(key)).filter(|spec| camel(spec.name) == *key) else {
            let accepted: Vec<String> = kind.key_names().iter().map(|k| camel(k)).collect();
            let hint = kind
                .keys
                .iter()
                .chain(COMMON_KEYS)
                .find(|spec| spec.json_name.eq_ignore_ascii_case(key) || spec.name.eq_ignore_ascii_case(key))
                .map(|spec| format!("did you mean `{}`? ", camel(spec.name)))
                .unwrap_or_default();
            problems
                .push(format!("{shown} has no option `{key}`; {hint}it accepts: {}", accepted.join(", ")));
            continue;
        };
        match spec.normalize(value.clone()) {
            Err(why) => problems
                .push(format!("{shown}: {}", why.replace(&format!("`{}`", spec.name), &format!("`{key}`")))),
            Ok(value) => match spec.json_name {
                "name" => binding.name = value.as_str().unwrap_or_default().to_string(),
                "dataType" => binding.data_type = value.as_str().and_then(DataType::parse),
                json_name => {
                    binding.properties.insert(json_name.to_string(), value);
                }
            },
        }
    }
    for spec in kind.keys.iter().filter(|k| k.required) {
        if request.options.get(&camel(spec.name)).is_none_or(Value::is_null) {
            problems.push(format!(
                "{shown} requires the option `{}` ({})",
                camel(spec.name),
                spec.kind.describe().replace('`', "")
            ));
        }
    }
    Some(binding)
}

/// `input.generic({type, name, ...})` and friends: any Azure binding. Keys other than `type`,
/// `direction`, `name` and `dataType` pass through as written.
fn build_generic(request: &BindingRequest, problems: &mut Vec<String>) -> Option<Binding> {
    let options = &request.options;
    let binding_type = match options.get("type") {
        Some(Value::String(t)) if !t.trim().is_empty() => t.clone(),
        other => {
            problems.push(format!(
                "a generic binding needs `type`: the Azure binding type as a non-empty string, e.g. 'sql' \
                 or 'serviceBusTrigger'; got {}",
                describe(other)
            ));
            return None;
        }
    };
    let direction = match options.get("direction").and_then(Value::as_str).and_then(Direction::parse) {
        Some(direction) => direction,
        None => {
            problems.push(format!(
                "the generic binding of type `{binding_type}` needs `direction`: 'in', 'out' or 'inout'"
            ));
            return None;
        }
    };
    let name = match options.get("name") {
        None | Some(Value::Null) => request.default_name.clone(),
        Some(Value::String(name)) => name.clone(),
        Some(other) => {
            problems.push(format!("the binding `name` must be a string, got `{other}`"));
            return None;
        }
    };
    let mut binding = Binding::new(name, binding_type, direction);
    for (key, value) in options {
        match key.as_str() {
            "type" | "direction" | "name" => {}
            "dataType" => match COMMON_KEYS.iter().find(|k| k.json_name == "dataType") {
                Some(spec) => match spec.normalize(value.clone()) {
                    Ok(v) => binding.data_type = v.as_str().and_then(DataType::parse),
                    Err(why) => problems.push(why.replace("`data_type`", "`dataType`")),
                },
                None => problems.push("`dataType` is not supported".into()),
            },
            _ if value.is_null() => {}
            _ => {
                binding.properties.insert(key.clone(), value.clone());
            }
        }
    }
    Some(binding)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_convert_both_ways() {
        assert_eq!(camel("auth_level"), "authLevel");
        assert_eq!(camel("run_on_startup"), "runOnStartup");
        assert_eq!(snake("authLevel"), "auth_level");
        assert_eq!(display("queue_output"), "output.queue");
        assert_eq!(display("http_trigger"), "httpTrigger");
    }
}

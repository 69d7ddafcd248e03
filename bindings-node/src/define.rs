//! Function registration: the bindings a JS `app.*` call collected go through
//! `fnwire_metadata::frontend`, the same front end, rules and messages as the Rust attribute
//! macros and the Python decorators. Options are spelled in camelCase (`authLevel`).

use std::sync::Mutex;

use fnwire_metadata::frontend::{self, Language, Signature};
use fnwire_metadata::{Direction, FunctionMetadata};
use napi_derive::napi;
use serde_json::{Map, Value};

/// What `app.*` hands over to register one function.
#[napi(object)]
#[derive(Debug)]
pub struct FunctionRequest {
    /// The function name: the first argument of `app.*`.
    pub name: String,
    /// The call that declared it, for messages, e.g. `app.httpTrigger`.
    pub via: String,
    /// The entry file being loaded.
    pub script_file: String,
    /// The trigger first, then the return binding and the extra bindings.
    pub bindings: Vec<BindingRequest>,
}

/// One binding as `trigger.*`, `input.*` or `output.*` described it.
#[napi(object)]
#[derive(Debug)]
pub struct BindingRequest {
    /// A catalog attribute (`http_trigger`, `queue_output`, …) or `binding` for the generic one.
    pub kind: String,
    /// The name to use when the options give none and the rules give none.
    pub default_name: Option<String>,
    /// The options exactly as the user wrote them.
    pub options: Map<String, Value>,
}

/// Which way data flows through a binding.
#[napi(string_enum = "lowercase")]
#[derive(Debug, PartialEq, Eq)]
pub enum BindingDirection {
    In,
    Out,
    Inout,
}

impl From<Direction> for BindingDirection {
    fn from(direction: Direction) -> Self {
        match direction {
            Direction::In => BindingDirection::In,
            Direction::Out => BindingDirection::Out,
            Direction::InOut => BindingDirection::Inout,
        }
    }
}

/// One binding of a registered function, with the name the front end settled on.
#[napi(object)]
#[derive(Debug)]
pub struct DefinedBinding {
    pub name: String,
    /// The Azure binding type (`httpTrigger`, `queue`, …).
    #[napi(js_name = "type")]
    pub binding_type: String,
    pub direction: BindingDirection,
    /// Index of the request binding it came from; absent for the HTTP trigger's implicit
    /// response.
    pub declaration: Option<u32>,
}

/// A registered function.
#[napi(object)]
#[derive(Debug)]
pub struct DefinedFunction {
    /// The id the worker calls the function by.
    pub id: u32,
    pub name: String,
    /// The trigger first, then the other bindings.
    pub bindings: Vec<DefinedBinding>,
}

/// One problem of a definition.
#[napi(object)]
#[derive(Debug)]
pub struct DefinitionProblem {
    /// The option at fault, as the user wrote it, if the problem is about one.
    pub key: Option<String>,
    /// Index of the request binding it is about, if any.
    pub declaration: Option<u32>,
    pub message: String,
}

/// Why a function was not registered: the whole message, and each problem.
#[napi(object)]
#[derive(Debug)]
pub struct DefinitionError {
    pub message: String,
    pub problems: Vec<DefinitionProblem>,
}

/// The answer of `defineFunction`: the function, or why it is not valid.
#[napi(object)]
#[derive(Debug)]
pub struct Definition {
    pub function: Option<DefinedFunction>,
    pub error: Option<DefinitionError>,
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

/// Checks and records a function. A function that is not valid is not recorded; the answer
/// says why, naming the call that declared it, with every problem.
#[napi]
pub fn define_function(request: FunctionRequest) -> Definition {
    match define(request) {
        Ok(function) => Definition { function: Some(function), error: None },
        Err(error) => Definition { function: None, error: Some(error) },
    }
}

fn define(request: FunctionRequest) -> Result<DefinedFunction, DefinitionError> {
    let site = format!("{}('{}')", request.via, request.name);
    let mut problems = Vec::new();
    let mut declarations = Vec::new();
    let mut incomplete = false;
    for (index, binding) in request.bindings.into_iter().enumerate() {
        let options: Vec<(String, Value)> = binding.options.into_iter().collect();
        let declared = frontend::declare(Language::Node, &binding.kind, &options);
        problems.extend(declared.problems.into_iter().map(|p| (Some(index), p)));
        match declared.declaration {
            Some(mut declaration) => {
                declaration.default_name = binding.default_name;
                declarations.push((index, declaration));
            }
            None => incomplete = true,
        }
    }
    let signature =
        Signature { name: request.name.clone(), parameters: None, returns_value: true, incomplete };
    let resolving: Vec<frontend::Declaration> = declarations.iter().map(|(_, d)| d.clone()).collect();
    let resolved = frontend::resolve(Language::Node, &signature, &resolving);
    // Resolution counts only the declarations that were read; map back to request indexes.
    let request_index =
        |declaration: Option<usize>| declaration.and_then(|i| declarations.get(i)).map(|(r, _)| *r);
    let resolved = match resolved {
        Ok(resolved) if problems.is_empty() => resolved,
        Ok(_) => return Err(definition_error(&site, problems)),
        Err(more) => {
            problems.extend(more.into_iter().map(|p| (request_index(p.declaration), p)));
            return Err(definition_error(&site, problems));
        }
    };
    let mut metadata = resolved.metadata;
    metadata.script_file = request.script_file;
    metadata.entry_point = request.name.clone();
    let mut functions = registry();
    if let Some(first) = functions.iter().find(|f| f.metadata.name.eq_ignore_ascii_case(&metadata.name)) {
        let earlier = format!("'{}'", first.metadata.name);
        let problem = frontend::duplicate_function(Language::Node, &metadata.name, &earlier);
        return Err(definition_error(&site, vec![(None, problem)]));
    }
    let id = u32::try_from(functions.len()).map_err(|_| DefinitionError {
        message: format!("{site}: too many functions (more than {})", u32::MAX),
        problems: Vec::new(),
    })?;
    let bindings = metadata
        .bindings
        .iter()
        .zip(&resolved.origins)
        .map(|(binding, origin)| DefinedBinding {
            name: binding.name.clone(),
            binding_type: binding.binding_type.clone(),
            direction: binding.direction.into(),
            declaration: request_index(*origin).and_then(|i| u32::try_from(i).ok()),
        })
        .collect();
    functions.push(Registered { id, metadata: metadata.clone() });
    Ok(DefinedFunction { id, name: metadata.name, bindings })
}

fn definition_error(site: &str, problems: Vec<(Option<usize>, frontend::Problem)>) -> DefinitionError {
    let list: Vec<String> = problems.iter().map(|(_, p)| format!("  - {}", p.message)).collect();
    DefinitionError {
        message: format!("{site} is not a valid function:\n{}", list.join("\n")),
        problems: problems
            .into_iter()
            .map(|(index, p)| DefinitionProblem {
                key: p.key().map(str::to_string),
                declaration: index.and_then(|i| u32::try_from(i).ok()),
                message: p.message,
            })
            .collect(),
    }
}

/// The `raw_bindings` the worker will report for a registered function, or null.
#[napi]
pub fn function_raw_bindings(name: String) -> Option<Vec<String>> {
    registry().iter().find(|f| f.metadata.name == name).map(|f| f.metadata.raw_bindings())
}

/// One option of a catalog binding.
#[napi(object)]
#[derive(Debug)]
pub struct CatalogOption {
    /// As JavaScript spells it (`authLevel`).
    pub name: String,
    /// As the catalog and the other languages spell it (`auth_level`).
    pub key: String,
    pub required: bool,
}

/// One binding fnwire knows by name.
#[napi(object)]
#[derive(Debug)]
pub struct CatalogEntry {
    /// The catalog attribute (`http_trigger`), the `kind` of a binding request.
    pub kind: String,
    #[napi(js_name = "type")]
    pub binding_type: String,
    pub direction: BindingDirection,
    pub options: Vec<CatalogOption>,
}

/// The catalog of binding kinds, with option names as JavaScript spells them.
#[napi]
pub fn binding_catalog() -> Vec<CatalogEntry> {
    fnwire_metadata::CATALOG
        .iter()
        .map(|kind| CatalogEntry {
            kind: kind.attribute.to_string(),
            binding_type: kind.binding_type.to_string(),
            direction: kind.direction.into(),
            options: kind
                .keys
                .iter()
                .chain(fnwire_metadata::COMMON_KEYS)
                .map(|k| CatalogOption {
                    name: Language::Node.option(k.name),
                    key: k.name.to_string(),
                    required: k.required,
                })
                .collect(),
        })
        .collect()
}

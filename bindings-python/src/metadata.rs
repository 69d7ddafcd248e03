//! Decorators -> binding metadata, through `fnwire_metadata::frontend`: the same front end, rules
//! and messages as the Rust attribute macros and Node's `app.*`.
//!
//! Each decorator calls [`declare`] and keeps the [`Declaration`] it returns; `App.functions()`
//! calls [`define_function`] with the function's parameters, which resolves every binding name
//! and returns a [`DefinedFunction`]. Problems raise [`FunctionDefinitionError`] (a `ValueError`)
//! whose `problems` lists them as [`Problem`] objects. [`FunctionEntry`] is what `serve` reads
//! back from each `fnwire._app.FunctionInfo`.

use fnwire_metadata::FunctionMetadata;
use fnwire_metadata::frontend::{self, Language, Parameter, Signature, Site};
use pyo3::create_exception;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::Value;

create_exception!(
    fnwire,
    FunctionDefinitionError,
    PyValueError,
    "A decorated function that a host would reject or that fnwire cannot call. The message names the \
     function, where it is defined, and what to change; `problems` lists each problem (its `key`, \
     `parameter` and `message`)."
);

/// Adds this module's functions, classes and exception to `fnwire._native`.
pub fn register(module: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = module.py();
    let error = py.get_type::<FunctionDefinitionError>();
    // Errors raised by the Python layer itself list no structured problems.
    error.setattr("problems", PyTuple::empty(py))?;
    module.add("FunctionDefinitionError", error)?;
    module.add_class::<Problem>()?;
    module.add_class::<Declaration>()?;
    module.add_class::<ResolvedBinding>()?;
    module.add_class::<DefinedFunction>()?;
    module.add_function(wrap_pyfunction!(declare, module)?)?;
    module.add_function(wrap_pyfunction!(define_function, module)?)?;
    module.add_function(wrap_pyfunction!(function_id, module)?)?;
    module.add_function(wrap_pyfunction!(duplicate_function, module)?)?;
    Ok(())
}

/// One problem of a definition.
#[pyclass(frozen, get_all, module = "fnwire._native")]
#[derive(Debug, Clone)]
pub struct Problem {
    /// The decorator option at fault, if the problem is about one.
    key: Option<String>,
    /// The parameter at fault, if the problem is about one.
    parameter: Option<String>,
    message: String,
}

#[pymethods]
impl Problem {
    fn __repr__(&self) -> String {
        format!("Problem(key={:?}, parameter={:?}, message={:?})", self.key, self.parameter, self.message)
    }
}

/// One decorator's binding, checked against the catalog; its name is resolved by
/// [`define_function`].
#[pyclass(frozen, module = "fnwire._native")]
#[derive(Debug)]
pub struct Declaration {
    inner: frontend::Declaration,
}

#[pymethods]
impl Declaration {
    /// The decorator that declared it, e.g. `queue_output` or `binding`.
    #[getter]
    fn decorator(&self) -> &str {
        &self.inner.attribute
    }

    #[getter]
    fn is_trigger(&self) -> bool {
        self.inner.is_trigger()
    }
}

/// A binding of a defined function, with its resolved name.
#[pyclass(frozen, get_all, module = "fnwire._native")]
#[derive(Debug, Clone)]
pub struct ResolvedBinding {
    name: String,
    /// The Azure binding type (`httpTrigger`, `queue`, …).
    #[pyo3(name = "type")]
    binding_type: String,
    /// `in`, `out` or `inout`.
    direction: String,
}

/// A function whose bindings passed every check: what `App.functions()` builds on.
#[pyclass(frozen, get_all, module = "fnwire._native")]
#[derive(Debug)]
pub struct DefinedFunction {
    name: String,
    /// The `raw_bindings` JSON texts the worker reports.
    raw_bindings: Vec<String>,
    /// The bindings in the same order.
    bindings: Vec<ResolvedBinding>,
}

/// A parameter as `App.functions()` describes it (a dict).
#[derive(Debug, FromPyObject)]
#[pyo3(from_item_all)]
pub struct PyParameter {
    name: String,
    /// Not a context or an output slot, so a trigger without `name` may bind to it.
    can_take_trigger: bool,
    /// Annotated `fnwire.Out[...]`.
    is_output_slot: bool,
}

/// Checks one decorator's options. `site` names the function for messages, e.g.
/// "function `hello` (app.py:12)".
#[pyfunction]
pub fn declare(
    py: Python<'_>,
    decorator: &str,
    options: &Bound<'_, PyDict>,
    site: &str,
) -> PyResult<Declaration> {
    let mut pairs = Vec::new();
    for (key, value) in options.iter() {
        let key: String = key.extract()?;
        let value = to_json(&value).map_err(|why| {
            let message = format!("`@app.{decorator}`: `{key}` {why}");
            let problem = Problem { key: Some(key.clone()), parameter: None, message: message.clone() };
            definition_error(py, format!("{site}: {message}"), vec![problem])
        })?;
        pairs.push((key, value));
    }
    let declared = frontend::declare(Language::Python, decorator, &pairs);
    match declared.declaration {
        Some(inner) if declared.problems.is_empty() => Ok(Declaration { inner }),
        _ => {
            let problems: Vec<Problem> = declared
                .problems
                .into_iter()
                .map(|p| Problem { key: p.key().map(str::to_string), parameter: None, message: p.message })
                .collect();
            let text: Vec<&str> = problems.iter().map(|p| p.message.as_str()).collect();
            Err(definition_error(py, format!("{site}: {}", text.join("; ")), problems))
        }
    }
}

/// Resolves the bindings of a function named `name` against its parameters and checks it as a
/// host would. The error has one line per problem, each starting with `site`.
#[pyfunction]
pub fn define_function(
    py: Python<'_>,
    site: &str,
    name: &str,
    declarations: Vec<PyRef<'_, Declaration>>,
    parameters: Vec<PyParameter>,
) -> PyResult<DefinedFunction> {
    let signature = Signature {
        name: name.to_string(),
        parameters: Some(
            parameters
                .iter()
                .map(|p| Parameter {
                    written: p.name.clone(),
                    binding_name: p.name.clone(),
                    can_take_trigger: p.can_take_trigger,
                    is_output_slot: p.is_output_slot,
                })
                .collect(),
        ),
        returns_value: true,
        incomplete: false,
    };
    let declarations: Vec<frontend::Declaration> = declarations.iter().map(|d| d.inner.clone()).collect();
    match frontend::resolve(Language::Python, &signature, &declarations) {
        Ok(resolved) => Ok(DefinedFunction {
            name: resolved.metadata.name.clone(),
            raw_bindings: resolved.metadata.raw_bindings(),
            bindings: resolved
                .metadata
                .bindings
                .iter()
                .map(|b| ResolvedBinding {
                    name: b.name.clone(),
                    binding_type: b.binding_type.clone(),
                    direction: b.direction.as_str().to_string(),
                })
                .collect(),
        }),
        Err(problems) => {
            let problems: Vec<Problem> = problems
                .into_iter()
                .map(|p| {
                    let parameter = match p.site {
                        Site::Parameter(i) | Site::ParameterType(i) => {
                            parameters.get(i).map(|p| p.name.clone())
                        }
                        _ => None,
                    };
                    Problem { key: p.key().map(str::to_string), parameter, message: p.message }
                })
                .collect();
            let lines: Vec<String> = problems.iter().map(|p| format!("{site}: {}", p.message)).collect();
            Err(definition_error(py, lines.join("\n"), problems))
        }
    }
}

/// The message for a function named like an `earlier` one of the same app.
#[pyfunction]
pub fn duplicate_function(name: &str, earlier: &str) -> String {
    frontend::duplicate_function(Language::Python, name, earlier).message
}

/// The function id every worker process reports for this function name.
#[pyfunction]
pub fn function_id(name: &str) -> String {
    FunctionMetadata::new(name).function_id()
}

fn definition_error(py: Python<'_>, message: String, problems: Vec<Problem>) -> PyErr {
    let error = FunctionDefinitionError::new_err(message);
    let attached = PyList::new(py, problems).and_then(|list| error.value(py).setattr("problems", list));
    match attached {
        Ok(()) => error,
        Err(failure) => failure,
    }
}

/// What `serve` reads from each function the package hands it, by attribute: a
/// `fnwire._app.FunctionInfo`, or an `azure.functions` app's function.
#[derive(Debug, FromPyObject)]
pub struct FunctionEntry {
    pub name: String,
    pub raw_bindings: Vec<String>,
    pub is_async: bool,
    /// `(parameter, binding, kind, annotation)` of each input the runner passes, in order.
    pub inputs: Vec<(String, String, String, Py<PyAny>)>,
    pub script_file: String,
    pub entry_point: String,
}

impl FunctionEntry {
    /// The function's metadata, as the worker reports it.
    pub fn metadata(&self) -> PyResult<FunctionMetadata> {
        let texts: Vec<&str> = self.raw_bindings.iter().map(String::as_str).collect();
        let mut metadata = FunctionMetadata::from_raw_bindings(&self.name, &texts)
            .map_err(|e| FunctionDefinitionError::new_err(e.to_string()))?;
        metadata.script_file = self.script_file.clone();
        metadata.entry_point = self.entry_point.clone();
        Ok(metadata)
    }
}

/// A decorator option as JSON: str, bool, int, float, None, or a list/tuple of those.
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

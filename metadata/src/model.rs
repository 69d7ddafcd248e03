use serde_json::{Map, Value};

use crate::{MetadataError, is_valid_binding_name, is_valid_function_name};

/// The binding name that stands for a function's return value.
pub const RETURN_BINDING_NAME: &str = "$return";

/// Which way data flows through a binding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    In,
    Out,
    InOut,
}

impl Direction {
    /// The `function.json` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::In => "in",
            Direction::Out => "out",
            Direction::InOut => "inout",
        }
    }

    /// Parses the `function.json` spelling, case-insensitively as hosts do.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "in" => Some(Direction::In),
            "out" => Some(Direction::Out),
            "inout" => Some(Direction::InOut),
            _ => None,
        }
    }
}

/// How the host should hand a binding's data over (`dataType` in `function.json`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DataType {
    String,
    Binary,
    Stream,
}

impl DataType {
    /// The `function.json` spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DataType::String => "string",
            DataType::Binary => "binary",
            DataType::Stream => "stream",
        }
    }

    /// Parses the `function.json` spelling, case-insensitively.
    pub fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "string" => Some(DataType::String),
            "binary" => Some(DataType::Binary),
            "stream" => Some(DataType::Stream),
            _ => None,
        }
    }
}

/// One binding of a function, in `function.json` terms.
#[derive(Debug, Clone, PartialEq)]
pub struct Binding {
    /// Binding name: a parameter name, or `$return`.
    pub name: String,
    /// Azure binding type, e.g. `httpTrigger`, `queue`, `blob`, or any other type string.
    pub binding_type: String,
    pub direction: Direction,
    pub data_type: Option<DataType>,
    /// Every other key (`route`, `queueName`, …) with its JSON value, in declaration order.
    pub properties: Map<String, Value>,
}

impl Binding {
    /// A binding with no properties yet.
    pub fn new(name: impl Into<String>, binding_type: impl Into<String>, direction: Direction) -> Self {
        Binding {
            name: name.into(),
            binding_type: binding_type.into(),
            direction,
            data_type: None,
            properties: Map::new(),
        }
    }

    /// Adds or replaces a property (builder style).
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.properties.insert(key.into(), value.into());
        self
    }

    /// A trigger is a binding whose type ends in `Trigger` (case-insensitively), as hosts decide.
    pub fn is_trigger(&self) -> bool {
        self.binding_type.to_ascii_lowercase().ends_with("trigger")
    }

    /// A property as a string, if it is one.
    pub fn str_property(&self, key: &str) -> Option<&str> {
        self.properties.get(key).and_then(Value::as_str)
    }

    /// A property as a bool; accepts JSON booleans and the strings `"true"`/`"false"`.
    pub fn bool_property(&self, key: &str) -> Option<bool> {
        match self.properties.get(key)? {
            Value::Bool(b) => Some(*b),
            Value::String(s) => s.parse().ok(),
            _ => None,
        }
    }

    /// The binding as a `function.json` binding object: `type`, `direction`, `name`, the
    /// properties in order, then `dataType`.
    pub fn to_json(&self) -> Value {
        let mut obj = Map::new();
        obj.insert("type".into(), Value::String(self.binding_type.clone()));
        obj.insert("direction".into(), Value::String(self.direction.as_str().into()));
        obj.insert("name".into(), Value::String(self.name.clone()));
        for (k, v) in &self.properties {
            obj.insert(k.clone(), v.clone());
        }
        if let Some(dt) = self.data_type {
            obj.insert("dataType".into(), Value::String(dt.as_str().into()));
        }
        Value::Object(obj)
    }

    /// Compact JSON text of [`Binding::to_json`]: one `raw_bindings` entry.
    pub fn to_json_string(&self) -> String {
        self.to_json().to_string()
    }

    /// Reads a `function.json` binding object (or a `raw_bindings` entry).
    pub fn from_json(value: &Value) -> Result<Self, MetadataError> {
        let obj = value
            .as_object()
            .ok_or_else(|| MetadataError::new(format!("a binding must be a JSON object, found `{value}`")))?;
        let get_str = |key: &str| -> Result<&str, MetadataError> {
            obj.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .and_then(|(_, v)| v.as_str())
                .ok_or_else(|| MetadataError::new(format!("the binding has no string `{key}`: `{value}`")))
        };
        let name = get_str("name")?.to_string();
        let binding_type = get_str("type").map_err(|e| e.in_binding(&name))?.to_string();
        let direction_text = get_str("direction").map_err(|e| e.in_binding(&name))?;
        let direction = Direction::parse(direction_text).ok_or_else(|| {
            MetadataError::new(format!("direction `{direction_text}` is not one of in, out, inout"))
                .in_binding(&name)
        })?;
        let mut data_type = None;
        let mut properties = Map::new();
        for (k, v) in obj {
            match k.to_ascii_lowercase().as_str() {
                "name" | "type" | "direction" => {}
                "datatype" => {
                    let text = v.as_str().unwrap_or_default();
                    data_type = Some(DataType::parse(text).ok_or_else(|| {
                        MetadataError::new(format!("dataType `{v}` is not one of string, binary, stream"))
                            .in_binding(&name)
                    })?);
                }
                _ => {
                    properties.insert(k.clone(), v.clone());
                }
            }
        }
        Ok(Binding { name, binding_type, direction, data_type, properties })
    }

    /// Parses one `raw_bindings` JSON text.
    pub fn from_json_str(text: &str) -> Result<Self, MetadataError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|e| MetadataError::new(format!("binding JSON does not parse ({e}): {text}")))?;
        Self::from_json(&value)
    }
}

/// A function and its bindings: everything a host needs to index, load and route it.
#[derive(Debug, Clone, PartialEq)]
pub struct FunctionMetadata {
    /// Function name as users see it in URLs and logs.
    pub name: String,
    /// Bindings in declaration order, the trigger first by convention.
    pub bindings: Vec<Binding>,
    /// Where the function lives, for hosts that want it (`scriptFile`); empty when not known.
    pub script_file: String,
    /// The entry point (`entryPoint`); empty when not known.
    pub entry_point: String,
    /// Extra function properties sent to the host (`RpcFunctionMetadata.properties`).
    pub properties: Map<String, Value>,
}

impl FunctionMetadata {
    /// A function with no bindings yet.
    pub fn new(name: impl Into<String>) -> Self {
        FunctionMetadata {
            name: name.into(),
            bindings: Vec::new(),
            script_file: String::new(),
            entry_point: String::new(),
            properties: Map::new(),
        }
    }

    /// Adds a binding (builder style).
    pub fn with_binding(mut self, binding: Binding) -> Self {
        self.bindings.push(binding);
        self
    }

    /// The trigger binding, if there is exactly one trigger or more (the first one).
    pub fn trigger(&self) -> Option<&Binding> {
        self.bindings.iter().find(|b| b.is_trigger())
    }

    /// A binding by name.
    pub fn binding(&self, name: &str) -> Option<&Binding> {
        self.bindings.iter().find(|b| b.name == name)
    }

    /// Deterministic function id: a name-based UUID (v5) of the function name, so the same app
    /// always reports the same ids across restarts and machines.
    pub fn function_id(&self) -> String {
        // Namespace chosen for fnwire; any fixed UUID works, it only has to never change.
        const FNWIRE_NAMESPACE: uuid::Uuid = uuid::Uuid::from_u128(0x6f6e_7769_7265_4a2b_9a3e_1c5d_7f00_2b41);
        uuid::Uuid::new_v5(&FNWIRE_NAMESPACE, self.name.as_bytes()).to_string()
    }

    /// The `raw_bindings` a worker reports for this function.
    pub fn raw_bindings(&self) -> Vec<String> {
        self.bindings.iter().map(Binding::to_json_string).collect()
    }

    /// Checks everything a Functions host checks when it indexes a function. All problems are
    /// reported, not only the first.
    pub fn validate(&self) -> Result<(), Vec<MetadataError>> {
        let mut errors = Vec::new();
        if !is_valid_function_name(&self.name) {
            errors.push(MetadataError::new(format!(
                "`{}` is not a valid function name: use a letter followed by letters, digits, `_` or `-` \
                 (at most 128 characters), and not `host`",
                self.name
            )));
        }
        if self.bindings.is_empty() {
            errors.push(MetadataError::new(
                "the function has no bindings: declare exactly one trigger, e.g. an HTTP, timer or queue trigger",
            ));
        }
        let triggers: Vec<&str> =
            self.bindings.iter().filter(|b| b.is_trigger()).map(|b| b.name.as_str()).collect();
        match triggers.len() {
            0 if !self.bindings.is_empty() => errors.push(MetadataError::new(
                "the function has no trigger: declare exactly one binding whose type ends in `Trigger`",
            )),
            0 | 1 => {}
            _ => errors.push(MetadataError::new(format!(
                "the function has {} triggers ({}): a function has exactly one trigger",
                triggers.len(),
                triggers.join(", ")
            ))),
        }
        for (i, b) in self.bindings.iter().enumerate() {
            if !is_valid_binding_name(&b.name) {
                errors.push(
                    MetadataError::new(format!(
                        "`{}` is not a valid binding name: hosts accept letters and digits only, starting \
                         with a letter (no `_`), or `$return`",
                        b.name
                    ))
                    .in_binding(&b.name),
                );
            }
            if b.name == RETURN_BINDING_NAME && b.direction != Direction::Out {
                errors.push(
                    MetadataError::new("`$return` must be an output binding (direction `out`)")
                        .in_binding(&b.name),
                );
            }
            if b.binding_type.is_empty() {
                errors.push(MetadataError::new("the binding has an empty type").in_binding(&b.name));
            }
            if self.bindings[..i].iter().any(|other| other.name.eq_ignore_ascii_case(&b.name)) {
                errors.push(
                    MetadataError::new("two bindings have this name: binding names must be unique")
                        .in_binding(&b.name),
                );
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.into_iter().map(|e| e.in_function(&self.name)).collect())
        }
    }

    /// The function as a `function.json` document.
    pub fn to_function_json(&self) -> Value {
        let mut obj = Map::new();
        if !self.script_file.is_empty() {
            obj.insert("scriptFile".into(), Value::String(self.script_file.clone()));
        }
        if !self.entry_point.is_empty() {
            obj.insert("entryPoint".into(), Value::String(self.entry_point.clone()));
        }
        obj.insert("bindings".into(), Value::Array(self.bindings.iter().map(Binding::to_json).collect()));
        Value::Object(obj)
    }

    /// Builds the model from a function name and its `raw_bindings` JSON texts: the form the
    /// attribute macros embed in the worker binary.
    pub fn from_raw_bindings(name: &str, raw_bindings: &[&str]) -> Result<Self, MetadataError> {
        let mut meta = FunctionMetadata::new(name);
        for text in raw_bindings {
            meta.bindings.push(Binding::from_json_str(text).map_err(|e| e.in_function(name))?);
        }
        Ok(meta)
    }

    /// Reads a `function.json` document; `name` is the function's folder name.
    pub fn from_function_json(name: &str, doc: &Value) -> Result<Self, MetadataError> {
        let bindings = doc
            .get("bindings")
            .and_then(Value::as_array)
            .ok_or_else(|| MetadataError::new("function.json has no `bindings` array").in_function(name))?;
        let mut meta = FunctionMetadata::new(name);
        for b in bindings {
            meta.bindings.push(Binding::from_json(b).map_err(|e| e.in_function(name))?);
        }
        meta.script_file = doc.get("scriptFile").and_then(Value::as_str).unwrap_or_default().to_string();
        meta.entry_point = doc.get("entryPoint").and_then(Value::as_str).unwrap_or_default().to_string();
        Ok(meta)
    }
}

//! The one binding front end: from what a user wrote (an attribute, a decorator, an `app.*` call)
//! to checked bindings with their names resolved.
//!
//! The Rust attribute macros, the Python decorators and the Node `app.*` functions all call
//! [`declare`] for each binding and [`resolve`] for the function, so every rule and every error
//! message exists here once. Problems come back as data ([`Problem`]: which declaration, which
//! key, value or parameter, and the message); each front end turns them into what its users
//! expect: a `syn::Error` at the offending token, a Python exception, a JavaScript error.
//! Messages speak each language's spelling through [`Language`].

use serde_json::{Map, Value};

use crate::catalog::{BindingKind, COMMON_KEYS, KeySpec, closest_key, snake_to_camel};
use crate::{
    Binding, DataType, Direction, FunctionMetadata, RETURN_BINDING_NAME, is_valid_binding_name,
    is_valid_function_name,
};

/// The catalog attribute that declares any Azure binding by type and direction.
pub const GENERIC_ATTRIBUTE: &str = "binding";

/// The trigger option that overrides the function name.
pub const FUNCTION_NAME_KEY: &str = "function_name";

/// The name a trigger gets when no parameter can take it and the front end gives no default.
pub const UNNAMED_TRIGGER: &str = "trigger";

/// The language a user declared bindings in: it decides how options, declarations and examples
/// are spelled in messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    /// `#[queue_output(queue = "done")]`
    Rust,
    /// `@app.queue_output(queue="done")`
    Python,
    /// `output.queue({ queue: 'done' })`: options in camelCase.
    Node,
}

impl Language {
    /// How a declaration is shown: `#[queue_output]`, `@app.queue_output`, `output.queue`.
    pub fn declaration(self, attribute: &str) -> String {
        match self {
            Language::Rust => format!("#[{attribute}]"),
            Language::Python => format!("@app.{attribute}"),
            Language::Node => match attribute.rsplit_once('_') {
                Some((base, role @ ("trigger" | "input" | "output"))) => {
                    format!("{role}.{}", snake_to_camel(base))
                }
                _ => "*.generic".to_string(),
            },
        }
    }

    /// How an option (catalog name, snake_case) is written in this language.
    pub fn option(self, snake: &str) -> String {
        match self {
            Language::Node => snake_to_camel(snake),
            Language::Rust | Language::Python => snake.to_string(),
        }
    }

    fn option_noun(self) -> &'static str {
        match self {
            Language::Rust => "key",
            Language::Python | Language::Node => "option",
        }
    }

    fn declaration_noun(self) -> &'static str {
        match self {
            Language::Rust => "attribute",
            Language::Python => "decorator",
            Language::Node => "binding",
        }
    }

    /// A string literal: `"x"`, or `'x'` in JavaScript.
    fn quote(self, text: &str) -> String {
        match self {
            Language::Node => format!("'{text}'"),
            Language::Rust | Language::Python => format!("\"{text}\""),
        }
    }

    /// `key = value`, `key=value`, `key: value`.
    fn assign(self, snake: &str, value: &str) -> String {
        let key = self.option(snake);
        match self {
            Language::Rust => format!("{key} = {value}"),
            Language::Python => format!("{key}={value}"),
            Language::Node => format!("{key}: {value}"),
        }
    }

    /// A call of a declaration with one option: `#[http_output(name = "...")]`.
    fn call(self, attribute: &str, option: &str) -> String {
        match self {
            Language::Rust => format!("#[{attribute}({option})]"),
            Language::Python => format!("@app.{attribute}({option})"),
            Language::Node => format!("{}({{ {option} }})", self.declaration(attribute)),
        }
    }

    /// The output slot type, as written in a parameter.
    fn out_type(self) -> &'static str {
        match self {
            Language::Rust => "Out<T>",
            Language::Python | Language::Node => "fnwire.Out[...]",
        }
    }

    /// A parameter declaration that sets output `name`, or receives input `name`.
    fn parameter(self, name: &str, output: bool) -> String {
        match (self, output) {
            (Language::Rust, true) => format!("{name}: Out<T>"),
            (Language::Rust, false) => format!("{name}: T"),
            (_, true) => format!("{name}: fnwire.Out[str]"),
            (_, false) => name.to_string(),
        }
    }

    /// Whether a trigger may rename the function with [`FUNCTION_NAME_KEY`] (Node names every
    /// function in its first argument instead).
    fn takes_function_name(self) -> bool {
        self != Language::Node
    }

    fn trigger_examples(self) -> String {
        match self {
            Language::Rust => "add exactly one of #[http_trigger(...)], #[timer_trigger(...)], #[queue_trigger(...)] \
                 or #[binding(type = \"...Trigger\", direction = \"in\", ...)] (stacked attributes are recognized \
                 by their last path segment, so a renamed import is not)"
                .to_string(),
            Language::Python => "add exactly one trigger decorator, e.g. `@app.http_trigger(...)`, \
                 `@app.timer_trigger(...)`, `@app.queue_trigger(...)` or \
                 `@app.binding(type=\"...Trigger\", direction=\"in\", ...)`"
                .to_string(),
            Language::Node => "give it a trigger such as trigger.http({...}), trigger.timer({...}), \
                 trigger.queue({...}) or trigger.generic({ type: '...Trigger' })"
                .to_string(),
        }
    }
}

/// Which part of a declaration, or of the function, a problem is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Site {
    /// The whole declaration (attribute, decorator, binding helper call).
    Declaration,
    /// An option's key, as the user wrote it.
    Key(String),
    /// An option's value; the key as the user wrote it.
    Value(String),
    /// The parameter at this index of the [`Signature`].
    Parameter(usize),
    /// The type of the parameter at this index.
    ParameterType(usize),
    /// The function as a whole: its name or its set of bindings.
    Function,
}

/// One thing wrong with what a user declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Index of the declaration it is about, in the order given to [`resolve`]; `None` for the
    /// function as a whole (and, from [`declare`], for the one declaration it checked).
    pub declaration: Option<usize>,
    pub site: Site,
    /// What is wrong and what to do, in the user's language.
    pub message: String,
}

impl Problem {
    fn at(site: Site, message: impl Into<String>) -> Self {
        Problem { declaration: None, site, message: message.into() }
    }

    fn of(declaration: usize, site: Site, message: impl Into<String>) -> Self {
        Problem { declaration: Some(declaration), site, message: message.into() }
    }

    /// The key the problem is about, as the user wrote it, if it is about one option.
    pub fn key(&self) -> Option<&str> {
        match &self.site {
            Site::Key(key) | Site::Value(key) => Some(key),
            _ => None,
        }
    }
}

/// One binding as declared, before its name is resolved against the function.
#[derive(Debug, Clone, PartialEq)]
pub struct Declaration {
    /// The catalog attribute (`queue_output`) or [`GENERIC_ATTRIBUTE`].
    pub attribute: String,
    /// The binding; its `name` is empty until [`resolve`] decides it.
    pub binding: Binding,
    /// The `name` option, if given.
    pub name: Option<String>,
    /// The name to use when `name` is not given and the rules give none (Node's stable names).
    pub default_name: Option<String>,
    /// A trigger's [`FUNCTION_NAME_KEY`] option, if given.
    pub function_name: Option<String>,
}

impl Declaration {
    pub fn is_trigger(&self) -> bool {
        self.binding.is_trigger()
    }

    fn is_output(&self) -> bool {
        self.binding.direction == Direction::Out
    }
}

/// What [`declare`] made of one declaration: the binding when its type and direction are known
/// (even if some option was wrong, so later checks still run), and every problem found.
#[derive(Debug, Clone, PartialEq)]
pub struct Declared {
    pub declaration: Option<Declaration>,
    pub problems: Vec<Problem>,
}

/// Builds the binding one declaration describes, checking every option against the catalog.
/// `options` are `(key as written, value)` pairs; `null` values count as not given.
pub fn declare(language: Language, attribute: &str, options: &[(String, Value)]) -> Declared {
    let options: Vec<(&str, &Value)> =
        options.iter().filter(|(_, v)| !v.is_null()).map(|(k, v)| (k.as_str(), v)).collect();
    let mut problems = Vec::new();
    let declaration = if attribute == GENERIC_ATTRIBUTE {
        declare_generic(language, &options, &mut problems)
    } else if let Some(kind) = BindingKind::lookup(attribute) {
        Some(declare_known(language, kind, &options, &mut problems))
    } else {
        let generic = language.declaration(GENERIC_ATTRIBUTE);
        problems.push(Problem::at(
            Site::Declaration,
            format!(
                "`{}` is not a binding fnwire knows; declare any other Azure binding with `{generic}` \
                 (its type and direction)",
                language.declaration(attribute)
            ),
        ));
        None
    };
    Declared { declaration, problems }
}

fn declare_known(
    language: Language,
    kind: &'static BindingKind,
    options: &[(&str, &Value)],
    problems: &mut Vec<Problem>,
) -> Declaration {
    let shown = language.declaration(kind.attribute);
    let mut declaration = Declaration {
        attribute: kind.attribute.to_string(),
        binding: Binding::new("", kind.binding_type, kind.direction),
        name: None,
        default_name: None,
        function_name: None,
    };
    let takes_function_name = kind.is_trigger() && language.takes_function_name();
    for &(key, value) in options {
        if language.takes_function_name() && key == language.option(FUNCTION_NAME_KEY) {
            take_function_name(language, &mut declaration, key, value, kind.is_trigger(), problems);
            continue;
        }
        let Some(spec) = kind.keys.iter().chain(COMMON_KEYS).find(|spec| language.option(spec.name) == key)
        else {
            let mut accepted: Vec<String> = kind.key_names().iter().map(|k| language.option(k)).collect();
            if takes_function_name {
                accepted.push(language.option(FUNCTION_NAME_KEY));
            }
            let hint = suggestion(language, kind, key, &accepted)
                .map(|near| format!("did you mean `{near}`? "))
                .unwrap_or_default();
            problems.push(Problem::at(
                Site::Key(key.to_string()),
                format!(
                    "`{shown}` has no {} `{key}`; {hint}it accepts: {}",
                    language.option_noun(),
                    accepted.join(", ")
                ),
            ));
            continue;
        };
        match normalize(language, spec, value) {
            Err(why) => problems.push(Problem::at(Site::Value(key.to_string()), why)),
            Ok(value) => match spec.json_name {
                "name" => declaration.name = value.as_str().map(str::to_string),
                "dataType" => declaration.binding.data_type = value.as_str().and_then(DataType::parse),
                json_name => {
                    declaration.binding.properties.insert(json_name.to_string(), value);
                }
            },
        }
    }
    for required in kind.keys.iter().filter(|k| k.required) {
        if !options.iter().any(|(key, _)| *key == language.option(required.name)) {
            problems.push(Problem::at(
                Site::Declaration,
                format!(
                    "`{shown}` requires `{}` ({})",
                    language.assign(required.name, "..."),
                    required.kind.describe()
                ),
            ));
        }
    }
    entity_choice(language, kind, options, &shown, problems);
    declaration
}

/// Service Bus bindings name one entity: `queue`, or `topic` (with `subscription` on a
/// trigger), never both.
fn entity_choice(
    language: Language,
    kind: &BindingKind,
    options: &[(&str, &Value)],
    shown: &str,
    problems: &mut Vec<Problem>,
) {
    let trigger = match kind.binding_type {
        "serviceBusTrigger" => true,
        "serviceBus" => false,
        _ => return,
    };
    let has = |key: &str| options.iter().any(|(k, _)| *k == language.option(key));
    let (queue, topic, subscription) = (has("queue"), has("topic"), has("subscription"));
    let example = |k: &str| language.assign(k, "...");
    let message = match (queue, topic) {
        (true, true) => {
            Some(format!("`{shown}` takes `{}` or `{}`, not both", example("queue"), example("topic")))
        }
        (false, false) if trigger => Some(format!(
            "`{shown}` requires `{}`, or `{}` with `{}`",
            example("queue"),
            example("topic"),
            example("subscription")
        )),
        (false, false) => {
            Some(format!("`{shown}` requires `{}` or `{}`", example("queue"), example("topic")))
        }
        (false, true) if trigger && !subscription => {
            Some(format!("`{shown}` on a topic requires `{}`", example("subscription")))
        }
        (true, false) if subscription => Some(format!(
            "`{shown}`: `{}` belongs to a topic; a queue has no subscriptions",
            example("subscription")
        )),
        _ => None,
    };
    if let Some(message) = message {
        problems.push(Problem::at(Site::Declaration, message));
    }
}

/// Azure's option names that differ from fnwire's by more than spelling.
const AZURE_ALIASES: &[(&str, &str)] = &[("arg_name", "name")];

/// The accepted option a wrong one most likely meant: the one whose `function.json` or catalog
/// spelling it is (`queueName` for `queue`), else the closest by edit distance.
/// Azure's own option names (its Python decorators say `arg_name` for the parameter a binding
/// fills) map to the option fnwire uses.
fn suggestion(language: Language, kind: &BindingKind, key: &str, accepted: &[String]) -> Option<String> {
    let fold = |text: &str| text.replace('_', "").to_ascii_lowercase();
    let folded = fold(key);
    let azure_name = AZURE_ALIASES.iter().find(|(azure, _)| fold(azure) == folded).map(|(_, ours)| *ours);
    let by_spelling = kind
        .keys
        .iter()
        .chain(COMMON_KEYS)
        .find(|spec| {
            Some(spec.name) == azure_name || fold(spec.json_name) == folded || fold(spec.name) == folded
        })
        .map(|spec| language.option(spec.name));
    let accepted: Vec<&str> = accepted.iter().map(String::as_str).collect();
    by_spelling.or_else(|| closest_key(key, &accepted).map(str::to_string))
}

/// [`KeySpec::normalize`], with the key spelled as the user wrote it.
fn normalize(language: Language, spec: &KeySpec, value: &Value) -> Result<Value, String> {
    spec.normalize(value.clone()).map_err(|why| {
        let written = language.option(spec.name);
        if written == spec.name {
            why
        } else {
            why.replace(&format!("`{}`", spec.name), &format!("`{written}`"))
        }
    })
}

fn take_function_name(
    language: Language,
    declaration: &mut Declaration,
    key: &str,
    value: &Value,
    on_trigger: bool,
    problems: &mut Vec<Problem>,
) {
    if !on_trigger {
        problems.push(Problem::at(
            Site::Key(key.to_string()),
            format!(
                "`{key}` names the whole function, so it goes on the trigger {}, not on `{}`",
                language.declaration_noun(),
                language.declaration(&declaration.attribute)
            ),
        ));
        return;
    }
    match value.as_str() {
        Some(name) => declaration.function_name = Some(name.to_string()),
        None => problems.push(Problem::at(
            Site::Value(key.to_string()),
            format!(
                "`{key}` takes a string, e.g. `{}`",
                language.assign(FUNCTION_NAME_KEY, &language.quote("Hello"))
            ),
        )),
    }
}

/// The generic binding: any Azure binding by `type` and `direction`. Other keys are rendered
/// in camelCase (camelCase keys stay as written), values as given.
fn declare_generic(
    language: Language,
    options: &[(&str, &Value)],
    problems: &mut Vec<Problem>,
) -> Option<Declaration> {
    let shown = language.declaration(GENERIC_ATTRIBUTE);
    let mut binding_type = None;
    let mut direction = None;
    let mut name = None;
    let mut function_name = None;
    let mut data_type = None;
    let mut properties = Map::new();
    let mut written_as: Vec<(String, &str)> = Vec::new();
    let type_example = format!("e.g. {} or {}", language.quote("sql"), language.quote("serviceBusTrigger"));
    for &(key, value) in options {
        let json_key = snake_to_camel(key);
        let value_site = || Site::Value(key.to_string());
        match json_key.as_str() {
            "type" => match value.as_str() {
                Some(t) if !t.trim().is_empty() => binding_type = Some(t.to_string()),
                _ => problems.push(Problem::at(
                    value_site(),
                    format!("`{key}` takes the Azure binding type as a non-empty string, {type_example}"),
                )),
            },
            "direction" => match value.as_str().and_then(Direction::parse) {
                Some(d) => direction = Some(d),
                None => problems.push(Problem::at(
                    value_site(),
                    format!(
                        "`{key}` takes {}, {} or {}",
                        language.quote("in"),
                        language.quote("out"),
                        language.quote("inout")
                    ),
                )),
            },
            "name" => match value.as_str() {
                Some(n) => name = Some(n.to_string()),
                None => problems.push(Problem::at(
                    value_site(),
                    format!("`{key}` takes a string: the parameter it binds to"),
                )),
            },
            "functionName" if language.takes_function_name() => function_name = Some((key, value)),
            "dataType" => {
                let spec = COMMON_KEYS.iter().find(|k| k.json_name == "dataType");
                match spec.map(|spec| normalize(language, spec, value)) {
                    Some(Ok(v)) => data_type = v.as_str().and_then(DataType::parse),
                    Some(Err(why)) => problems.push(Problem::at(value_site(), why)),
                    None => data_type = value.as_str().and_then(DataType::parse),
                }
            }
            _ => {
                if let Some((_, first)) = written_as.iter().find(|(k, _)| *k == json_key) {
                    problems.push(Problem::at(
                        Site::Key(key.to_string()),
                        format!("`{key}` and `{first}` both become the JSON key `{json_key}`: keep one"),
                    ));
                } else {
                    written_as.push((json_key.clone(), key));
                    properties.insert(json_key, value.clone());
                }
            }
        }
    }
    let given = |snake: &str| options.iter().any(|(k, _)| snake_to_camel(k) == snake_to_camel(snake));
    if !given("type") {
        problems.push(Problem::at(
            Site::Declaration,
            format!(
                "`{shown}` requires `{}`: the Azure binding type, {type_example}",
                language.assign("type", &language.quote("..."))
            ),
        ));
    }
    if !given("direction") {
        problems.push(Problem::at(
            Site::Declaration,
            format!(
                "`{shown}` requires `{}`, `{}` or `{}`",
                language.assign("direction", &language.quote("in")),
                language.quote("out"),
                language.quote("inout")
            ),
        ));
    }
    let (binding_type, direction) = (binding_type?, direction?);
    let mut binding = Binding::new("", binding_type.clone(), direction);
    binding.data_type = data_type;
    binding.properties = properties;
    let mut declaration = Declaration {
        attribute: GENERIC_ATTRIBUTE.to_string(),
        binding,
        name,
        default_name: None,
        function_name: None,
    };
    if declaration.is_trigger() && direction != Direction::In {
        let key =
            options.iter().map(|(k, _)| *k).find(|k| snake_to_camel(k) == "direction").unwrap_or("direction");
        problems.push(Problem::at(
            Site::Value(key.to_string()),
            format!(
                "`{binding_type}` is a trigger (its type ends in `Trigger`), and triggers have `{}`",
                language.assign("direction", &language.quote("in"))
            ),
        ));
    }
    if let Some((key, value)) = function_name {
        let on_trigger = declaration.is_trigger();
        take_function_name(language, &mut declaration, key, value, on_trigger, problems);
    }
    Some(declaration)
}

/// One parameter of the user's function, as the front end sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parameter {
    /// The parameter as written, for messages.
    pub written: String,
    /// The binding name it stands for (Rust drops a leading `_`, so `_req` binds to `req`).
    pub binding_name: String,
    /// Whether a trigger without `name` may bind to it (not a context or an output slot).
    pub can_take_trigger: bool,
    /// Declared as an output slot (`Out<T>`, `fnwire.Out[...]`).
    pub is_output_slot: bool,
}

/// What the resolver needs to know about the function the bindings are declared on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signature {
    /// The function's own name (the Rust or Python function, the name given to Node's `app.*`).
    pub name: String,
    /// The parameters; `None` where bindings are not matched to parameters (Node's handler
    /// receives the trigger and a context).
    pub parameters: Option<Vec<Parameter>>,
    /// Whether the function returns a value, so an output may bind to `$return`.
    pub returns_value: bool,
    /// Some declaration could not be read (already reported): skip the problems that would only
    /// follow from its absence, such as "no trigger".
    pub incomplete: bool,
}

/// The function with every binding named: trigger first, the rest in declaration order, then
/// the HTTP trigger's implicit response.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    pub metadata: FunctionMetadata,
    /// For each binding of `metadata`, the declaration it came from; `None` for the implicit
    /// HTTP response.
    pub origins: Vec<Option<usize>>,
}

/// A named binding and where its name came from, for pointing problems at the right place.
struct Named {
    declaration: Option<usize>,
    attribute: String,
    binding: Binding,
    name_site: Site,
    /// The name came from the first parameter.
    from_parameter: bool,
}

impl Named {
    fn is_implicit(&self) -> bool {
        self.declaration.is_none()
    }

    fn problem(&self, site: Site, message: String) -> Problem {
        Problem { declaration: self.declaration, site, message }
    }
}

/// Names every binding against the function and checks the function as a whole: exactly one
/// trigger, valid and unique binding names, outputs that have a parameter or the return value,
/// output slots that have an output, and a valid function name. Every problem is reported.
pub fn resolve(
    language: Language,
    signature: &Signature,
    declarations: &[Declaration],
) -> Result<Resolved, Vec<Problem>> {
    let mut problems = Vec::new();
    let fn_name = &signature.name;
    let triggers: Vec<usize> = (0..declarations.len()).filter(|&i| declarations[i].is_trigger()).collect();
    for &extra in triggers.iter().skip(1) {
        problems.push(Problem::of(
            extra,
            Site::Declaration,
            format!(
                "`{fn_name}` already has the trigger {}; a function has exactly one trigger, so move this {} to a \
                 function of its own",
                language.declaration(&declarations[triggers[0]].attribute),
                language.declaration(&declarations[extra].attribute)
            ),
        ));
    }
    if triggers.is_empty() && !signature.incomplete {
        problems.push(Problem::at(
            Site::Function,
            format!("`{fn_name}` has no trigger: {}", language.trigger_examples()),
        ));
    }
    // Extra triggers were reported above; leaving them out avoids follow-up problems about them.
    let order = triggers
        .first()
        .copied()
        .into_iter()
        .chain((0..declarations.len()).filter(|&i| !declarations[i].is_trigger()));
    let named = name_bindings(language, signature, declarations, order, &mut problems);
    check_names(language, signature, &named, &mut problems);
    check_output_slots(language, signature, &named, &mut problems);
    let function_name =
        function_name(language, signature, triggers.first().map(|&i| (i, &declarations[i])), &mut problems);

    let mut metadata = FunctionMetadata::new(function_name);
    let origins = named.iter().map(|n| n.declaration).collect();
    metadata.bindings = named.into_iter().map(|n| n.binding).collect();
    if problems.is_empty() && !signature.incomplete {
        // Backstop: anything a host would reject that the checks above did not name.
        if let Err(errors) = metadata.validate() {
            problems.extend(errors.into_iter().map(|e| Problem::at(Site::Function, e.message)));
        }
    }
    if problems.is_empty() { Ok(Resolved { metadata, origins }) } else { Err(problems) }
}

/// Gives every binding its name and adds the HTTP trigger's implicit response output.
fn name_bindings(
    language: Language,
    signature: &Signature,
    declarations: &[Declaration],
    order: impl Iterator<Item = usize>,
    problems: &mut Vec<Problem>,
) -> Vec<Named> {
    let mut named = Vec::new();
    let trigger_parameter =
        signature.parameters.iter().flatten().enumerate().find(|(_, p)| p.can_take_trigger);
    for index in order {
        let declaration = &declarations[index];
        let trigger_slot = trigger_parameter.filter(|_| declaration.is_trigger());
        let (name, name_site, from_parameter) = if let Some(name) = &declaration.name {
            (name.clone(), Site::Value(language.option("name")), false)
        } else if let Some((at, parameter)) = trigger_slot {
            (parameter.binding_name.clone(), Site::Parameter(at), true)
        } else if let Some(default) = &declaration.default_name {
            (default.clone(), Site::Declaration, false)
        } else if declaration.is_trigger() {
            (UNNAMED_TRIGGER.to_string(), Site::Declaration, false)
        } else if declaration.is_output() {
            (RETURN_BINDING_NAME.to_string(), Site::Declaration, false)
        } else {
            problems.push(Problem::of(
                index,
                Site::Declaration,
                format!(
                    "{} needs `{}`: the parameter that receives this input",
                    language.declaration(&declaration.attribute),
                    language.assign("name", &language.quote("..."))
                ),
            ));
            continue;
        };
        let mut binding = declaration.binding.clone();
        binding.name = name;
        named.push(Named {
            declaration: Some(index),
            attribute: declaration.attribute.clone(),
            binding,
            name_site,
            from_parameter,
        });
    }
    let http_trigger = named.iter().any(|n| n.binding.binding_type == "httpTrigger");
    let declares_http_output =
        named.iter().any(|n| n.binding.binding_type == "http" && n.binding.direction == Direction::Out);
    if http_trigger && !declares_http_output {
        named.push(Named {
            declaration: None,
            attribute: "http_output".to_string(),
            binding: Binding::new(RETURN_BINDING_NAME, "http", Direction::Out),
            name_site: Site::Declaration,
            from_parameter: false,
        });
    }
    named
}

fn check_names(language: Language, signature: &Signature, named: &[Named], problems: &mut Vec<Problem>) {
    let fn_name = &signature.name;
    for (index, this) in named.iter().enumerate() {
        let name = &this.binding.name;
        let shown = language.declaration(&this.attribute);
        if !is_valid_binding_name(name) {
            let message = if this.from_parameter {
                format!(
                    "the trigger takes its binding name from the first parameter, `{name}`, but binding names are \
                     letters and digits only, starting with a letter (Azure rule): rename the parameter, e.g. `{}`",
                    suggest_binding_name(name)
                )
            } else {
                format!(
                    "`{name}` is not a valid binding name: binding names are letters and digits only, starting with \
                     a letter (Azure rule), e.g. `{}`",
                    suggest_binding_name(name)
                )
            };
            problems.push(this.problem(this.name_site.clone(), message));
            continue;
        }
        if name == RETURN_BINDING_NAME && this.binding.direction != Direction::Out {
            problems.push(this.problem(
                this.name_site.clone(),
                format!("`{RETURN_BINDING_NAME}` is the return value and only an output binding can use it"),
            ));
            continue;
        }
        if let Some(earlier) = named[..index].iter().find(|n| n.binding.name.eq_ignore_ascii_case(name)) {
            let declared = if this.is_implicit() { earlier } else { this };
            let declared_shown = language.declaration(&declared.attribute);
            let message = if name == RETURN_BINDING_NAME && (earlier.is_implicit() || this.is_implicit()) {
                format!(
                    "{declared_shown} has no `name`, so it binds to the return value, but `{}` already returns the \
                     HTTP response there: give {declared_shown} a `name` and add that `{}` parameter, or move the \
                     response with `{}`",
                    language.declaration("http_trigger"),
                    language.out_type(),
                    language.call("http_output", &language.assign("name", &language.quote("...")))
                )
            } else if name == RETURN_BINDING_NAME {
                format!(
                    "{} and {shown} both bind to the return value: give one of them a `name` and add that `{}` \
                     parameter",
                    language.declaration(&earlier.attribute),
                    language.out_type()
                )
            } else {
                let earlier_name = &earlier.binding.name;
                let rule = if earlier_name == name {
                    "binding names must be unique".to_string()
                } else {
                    format!(
                        "Azure compares binding names case-insensitively, so `{name}` and `{earlier_name}` clash"
                    )
                };
                format!(
                    "{shown} is named `{name}`, like {} before it: {rule}; rename one of them (and its parameter)",
                    language.declaration(&earlier.attribute)
                )
            };
            problems.push(declared.problem(declared.name_site.clone(), message));
            continue;
        }
        if name == RETURN_BINDING_NAME {
            if !signature.returns_value && !this.is_implicit() {
                problems.push(this.problem(
                    Site::Declaration,
                    format!(
                        "{shown} has no `name`, so it binds to the return value, but `{fn_name}` returns nothing: \
                         return the value (e.g. `-> String`), or set `{}` and add that `{}` parameter",
                        language.assign("name", &language.quote("...")),
                        language.out_type()
                    ),
                ));
            }
            continue;
        }
        let Some(parameters) = &signature.parameters else { continue };
        let has_parameter = parameters.iter().any(|p| p.binding_name == *name);
        if !has_parameter && !this.binding.is_trigger() {
            let output = this.binding.direction == Direction::Out;
            let message = if output {
                format!(
                    "no parameter is named `{name}`: add `{}` to `{fn_name}` to set this output, or leave out \
                     `name` to bind the return value",
                    language.parameter(name, true)
                )
            } else {
                format!(
                    "no parameter is named `{name}`: add `{}` to `{fn_name}` to receive this input",
                    language.parameter(name, false)
                )
            };
            problems.push(this.problem(this.name_site.clone(), message));
        }
    }
}

/// An output slot parameter with no output binding of its name.
fn check_output_slots(
    language: Language,
    signature: &Signature,
    named: &[Named],
    problems: &mut Vec<Problem>,
) {
    for (at, parameter) in signature.parameters.iter().flatten().enumerate() {
        if !parameter.is_output_slot {
            continue;
        }
        let output = named
            .iter()
            .any(|n| n.binding.name == parameter.binding_name && n.binding.direction == Direction::Out);
        if !output {
            let written = &parameter.written;
            let example = language.call(
                "queue_output",
                &format!(
                    "{}, {}",
                    language.assign("name", &language.quote(written)),
                    language.assign("queue", &language.quote("..."))
                ),
            );
            problems.push(Problem::at(
                Site::ParameterType(at),
                format!(
                    "`{written}` is an `{}` parameter, but no output binding is named `{written}`: declare one, e.g. \
                     `{example}`",
                    match language {
                        Language::Rust => "Out<_>",
                        Language::Python | Language::Node => "fnwire.Out[...]",
                    }
                ),
            ));
        }
    }
}

fn function_name(
    language: Language,
    signature: &Signature,
    trigger: Option<(usize, &Declaration)>,
    problems: &mut Vec<Problem>,
) -> String {
    let rule =
        "use a letter followed by letters, digits, `_` or `-` (at most 128 characters), and not `host`";
    if let Some((index, name)) = trigger.and_then(|(i, t)| t.function_name.as_ref().map(|n| (i, n))) {
        if !is_valid_function_name(name) {
            problems.push(Problem::of(
                index,
                Site::Value(language.option(FUNCTION_NAME_KEY)),
                format!("`{name}` is not a valid function name: {rule}"),
            ));
        }
        return name.clone();
    }
    let name = signature.name.clone();
    if !is_valid_function_name(&name) {
        let message = if language.takes_function_name() {
            format!(
                "`{name}` is not a valid Azure function name (a letter followed by letters, digits, `_` or `-`, \
                 not `host`): rename the function or set `{}` on the trigger",
                language.assign(FUNCTION_NAME_KEY, &language.quote("..."))
            )
        } else {
            format!("`{name}` is not a valid function name: {rule}")
        };
        problems.push(Problem::at(Site::Function, message));
    }
    name
}

/// A valid name close to an invalid one, for "e.g." hints: `my_out` -> `myout`.
fn suggest_binding_name(name: &str) -> String {
    let kept: String = name.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    let trimmed = kept.trim_start_matches(|c: char| c.is_ascii_digit());
    if trimmed.is_empty() { "value".to_string() } else { trimmed.to_string() }
}

/// The problem for a second function named like an `earlier` one of the same app (hosts compare
/// function names case-insensitively). `earlier` says where that one is defined.
pub fn duplicate_function(language: Language, name: &str, earlier: &str) -> Problem {
    let or_rename = if language.takes_function_name() {
        format!(", or set `{}` on its trigger", language.assign(FUNCTION_NAME_KEY, &language.quote("...")))
    } else {
        String::new()
    };
    Problem::at(
        Site::Function,
        format!(
            "another function, {earlier}, is also named `{name}`; function names must be unique \
             (case-insensitively): rename one{or_rename}"
        ),
    )
}

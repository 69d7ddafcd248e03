//! One attribute -> one binding, checked against fnwire-metadata's catalog.

use fnwire_metadata::{Binding, BindingKind, COMMON_KEYS, DataType, Direction};
use proc_macro2::TokenStream;
use serde_json::Value;

use crate::args::{ArgValue, AttrArg};
use crate::attrs::BindingAttr;
use crate::diagnostics::Diagnostics;

/// The trigger key that overrides the function name (the Rust fn name by default).
pub const FUNCTION_NAME_KEY: &str = "function_name";

/// A string given in an attribute, with the tokens errors about it cover.
#[derive(Debug, Clone)]
pub struct Spanned<T> {
    pub value: T,
    pub tokens: TokenStream,
}

impl<T> Spanned<T> {
    pub fn error(&self, message: impl std::fmt::Display) -> syn::Error {
        syn::Error::new_spanned(&self.tokens, message)
    }
}

/// A binding declared by one attribute. Its `binding.name` is empty until the function model
/// resolves it (the `name` key, the first parameter for a trigger, or `$return` for an output).
#[derive(Debug, Clone)]
pub struct BindingSpec {
    /// The attribute that declared it, e.g. `queue_output` or `binding`.
    pub attribute: String,
    pub binding: Binding,
    /// The `name` key, if given.
    pub name: Option<Spanned<String>>,
    /// The trigger's `function_name` key, if given.
    pub function_name: Option<Spanned<String>>,
    /// Tokens errors about the whole attribute cover.
    pub site: TokenStream,
}

impl BindingSpec {
    pub fn is_trigger(&self) -> bool {
        self.binding.is_trigger()
    }

    /// How the attribute is shown in messages: `#[queue_output]`.
    pub fn display(&self) -> String {
        format!("#[{}]", self.attribute)
    }

    pub fn error(&self, message: impl std::fmt::Display) -> syn::Error {
        syn::Error::new_spanned(&self.site, message)
    }
}

/// Builds the binding an attribute declares; every problem is reported to `diagnostics`.
/// Returns `None` only when the attribute says too little to know even its type and direction.
pub fn build_binding(attr: &BindingAttr, diagnostics: &mut Diagnostics) -> Option<BindingSpec> {
    if attr.attribute == "binding" {
        return build_generic(attr, diagnostics);
    }
    let kind = BindingKind::lookup(&attr.attribute)?;
    let mut spec = BindingSpec {
        attribute: attr.attribute.clone(),
        binding: Binding::new("", kind.binding_type, kind.direction),
        name: None,
        function_name: None,
        site: attr.site.clone(),
    };
    for arg in &attr.args {
        let key = arg.key_name();
        if key == FUNCTION_NAME_KEY {
            take_function_name(&mut spec, arg, kind.is_trigger(), diagnostics);
            continue;
        }
        let Some(key_spec) = kind.key(&key) else {
            let mut accepted = kind.key_names();
            if kind.is_trigger() {
                accepted.push(FUNCTION_NAME_KEY);
            }
            let hint = match fnwire_metadata::closest_key(&key, &accepted) {
                Some(near) => format!("did you mean `{near}`? "),
                None => String::new(),
            };
            diagnostics.at(
                arg.key.span(),
                format!(
                    "`#[{}]` has no key `{key}`; {hint}it accepts: {}",
                    attr.attribute,
                    accepted.join(", ")
                ),
            );
            continue;
        };
        match key_spec.normalize(arg.value.to_json()) {
            Err(why) => diagnostics.push(arg.value_error(why)),
            Ok(value) => apply_common_or_property(&mut spec, arg, key_spec.json_name, value),
        }
    }
    for required in kind.keys.iter().filter(|k| k.required) {
        if !attr.args.iter().any(|arg| arg.key_name() == required.name) {
            diagnostics.push(attr.error(format!(
                "`#[{}]` requires `{} = ...` ({})",
                attr.attribute,
                required.name,
                required.kind.describe()
            )));
        }
    }
    Some(spec)
}

/// Stores a normalized value: `name` and `data_type` go to their fields, the rest to properties.
fn apply_common_or_property(spec: &mut BindingSpec, arg: &AttrArg, json_name: &str, value: Value) {
    match json_name {
        "name" => {
            let name = value.as_str().unwrap_or_default().to_string();
            spec.name = Some(Spanned { value: name, tokens: arg.value_tokens.clone() });
        }
        "dataType" => spec.binding.data_type = value.as_str().and_then(DataType::parse),
        _ => {
            spec.binding.properties.insert(json_name.to_string(), value);
        }
    }
}

fn take_function_name(
    spec: &mut BindingSpec,
    arg: &AttrArg,
    on_trigger: bool,
    diagnostics: &mut Diagnostics,
) {
    if !on_trigger {
        diagnostics.at(
            arg.key.span(),
            format!(
                "`{FUNCTION_NAME_KEY}` names the whole function, so it goes on the trigger attribute, not on `#[{}]`",
                spec.attribute
            ),
        );
        return;
    }
    match arg.value.as_str() {
        Some(name) => {
            spec.function_name = Some(Spanned { value: name.to_string(), tokens: arg.value_tokens.clone() })
        }
        None => diagnostics.push(arg.value_error(format!(
            "`{FUNCTION_NAME_KEY}` takes a string, e.g. `{FUNCTION_NAME_KEY} = \"Hello\"`"
        ))),
    }
}

/// `#[binding(type = "...", direction = "...", name = "...", any_key = value, ...)]`: any Azure
/// binding. Keys are passed through in camelCase, values as written.
fn build_generic(attr: &BindingAttr, diagnostics: &mut Diagnostics) -> Option<BindingSpec> {
    let mut binding_type: Option<Spanned<String>> = None;
    let mut direction: Option<Spanned<Direction>> = None;
    let mut name = None;
    let mut function_name = None;
    let mut data_type = None;
    let mut properties: Vec<(String, &AttrArg)> = Vec::new();
    for arg in &attr.args {
        let key = arg.key_name();
        let json_key = fnwire_metadata::snake_to_camel(&key);
        match json_key.as_str() {
            "type" => match &arg.value {
                ArgValue::Str(t) if !t.trim().is_empty() => {
                    binding_type = Some(Spanned { value: t.clone(), tokens: arg.value_tokens.clone() })
                }
                _ => diagnostics.push(arg.value_error(
                    "`type` takes the Azure binding type as a non-empty string, e.g. \"sql\" or \"serviceBusTrigger\"",
                )),
            },
            "direction" => match arg.value.as_str().and_then(Direction::parse) {
                Some(d) => direction = Some(Spanned { value: d, tokens: arg.value_tokens.clone() }),
                None => diagnostics.push(arg.value_error("`direction` takes \"in\", \"out\" or \"inout\"")),
            },
            "name" => match &arg.value {
                ArgValue::Str(n) => name = Some(Spanned { value: n.clone(), tokens: arg.value_tokens.clone() }),
                _ => diagnostics.push(arg.value_error("`name` takes a string: the parameter it binds to")),
            },
            "functionName" => function_name = Some(arg),
            "dataType" => {
                // Same spelling and check as on every known binding.
                let checked = match COMMON_KEYS.iter().find(|k| k.json_name == "dataType") {
                    Some(spec) => spec.normalize(arg.value.to_json()),
                    None => Ok(arg.value.to_json()),
                };
                match checked {
                    Ok(v) => data_type = v.as_str().and_then(DataType::parse),
                    Err(why) => diagnostics.push(arg.value_error(why)),
                }
            }
            _ => {
                if let Some((_, first)) = properties.iter().find(|(k, _)| *k == json_key) {
                    diagnostics.at(
                        arg.key.span(),
                        format!(
                            "`{key}` and `{}` both become the JSON key `{json_key}`: keep one",
                            first.key_name()
                        ),
                    );
                } else {
                    properties.push((json_key, arg));
                }
            }
        }
    }
    if binding_type.is_none() && !attr.args.iter().any(|a| a.key_name() == "type") {
        diagnostics.push(attr.error(
            "`#[binding]` requires `type = \"...\"`: the Azure binding type, e.g. \"sql\" or \"serviceBusTrigger\"",
        ));
    }
    if direction.is_none() && !attr.args.iter().any(|a| a.key_name() == "direction") {
        diagnostics.push(attr.error("`#[binding]` requires `direction = \"in\"`, `\"out\"` or `\"inout\"`"));
    }
    let binding_type = binding_type?;
    let direction = direction?;
    let mut binding = Binding::new("", binding_type.value.clone(), direction.value);
    binding.data_type = data_type;
    for (json_key, arg) in properties {
        binding.properties.insert(json_key, arg.value.to_json());
    }
    let mut spec = BindingSpec {
        attribute: attr.attribute.clone(),
        binding,
        name,
        function_name: None,
        site: attr.site.clone(),
    };
    if spec.is_trigger() && direction.value != Direction::In {
        diagnostics.push(direction.error(format!(
            "`{}` is a trigger (its type ends in `Trigger`), and triggers have `direction = \"in\"`",
            binding_type.value
        )));
    }
    if let Some(arg) = function_name {
        let on_trigger = spec.is_trigger();
        take_function_name(&mut spec, arg, on_trigger, diagnostics);
    }
    Some(spec)
}

//! The function model: a checked function, its bindings, and how each parameter is filled.

use fnwire_metadata::{
    Binding, Direction, FunctionMetadata, RETURN_BINDING_NAME, is_valid_binding_name, is_valid_function_name,
};
use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{FnArg, Ident, ItemFn, Pat, ReturnType, Type};

use crate::args::parse_args;
use crate::attrs::{BindingAttr, fnwire_attribute_name, take_binding_attrs};
use crate::binding::{BindingSpec, build_binding};
use crate::diagnostics::Diagnostics;

/// How the generated invoker obtains one argument of the user's function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParamRole {
    /// Data of an input binding (the trigger included), through `FromInput`.
    Input { binding: String },
    /// A slot for an output binding, through `OutputParam`.
    Output { binding: String },
    /// Something about the invocation itself (e.g. `Context`), through `FromInvocation`.
    Invocation,
}

/// One parameter of the user's function.
#[derive(Debug, Clone)]
pub struct ParamModel {
    pub ident: Ident,
    pub ty: Type,
    pub role: ParamRole,
}

/// A function that passed every check: what the macros expand from.
#[derive(Debug, Clone)]
pub struct FunctionModel {
    /// The user's function as written, with fnwire attributes removed.
    pub item: ItemFn,
    /// Function name and bindings, trigger first, exactly as reported to the host.
    pub metadata: FunctionMetadata,
    pub params: Vec<ParamModel>,
    /// Paths of the stacked fnwire attributes this expansion removed. The expansion mentions
    /// them again so their imports count as used and a missing import is still reported.
    pub stacked_paths: Vec<syn::Path>,
}

impl FunctionModel {
    /// Builds the model from what an attribute macro receives: the attribute's name (e.g.
    /// `http_trigger`), its argument tokens, and the item it is on.
    pub fn from_tokens(attribute: &str, args: TokenStream, item: TokenStream) -> syn::Result<FunctionModel> {
        analyze(attribute, args, item).model
    }

    /// The `raw_bindings` JSON texts, one per binding.
    pub fn raw_bindings(&self) -> Vec<String> {
        self.metadata.raw_bindings()
    }
}

/// Result of analyzing one attribute expansion: the item to emit in any case (so IDEs and unit
/// tests keep seeing the user's function) and the model or every error found.
#[derive(Debug)]
pub struct Analysis {
    pub item: TokenStream,
    pub model: syn::Result<FunctionModel>,
    /// See [`FunctionModel::stacked_paths`]; also needed when the model failed.
    pub stacked_paths: Vec<syn::Path>,
}

/// Where a binding's name came from, for pointing errors at the right token.
#[derive(Debug, Clone)]
struct NamedBinding {
    spec: BindingSpec,
    /// Tokens that produced the name: the `name` value, the parameter, or the attribute.
    name_tokens: TokenStream,
    /// Added by fnwire (the HTTP response of an `http_trigger`), not written by the user.
    implicit: bool,
}

pub fn analyze(attribute: &str, args: TokenStream, item: TokenStream) -> Analysis {
    let mut diagnostics = Diagnostics::new();
    let first = BindingAttr::from_parsed(attribute, TokenStream::new(), parse_args(args), &mut diagnostics);
    let mut function: ItemFn = match syn::parse2(item.clone()) {
        Ok(function) => function,
        Err(_) => {
            diagnostics.at(
                proc_macro2::Span::call_site(),
                format!(
                    "`#[{attribute}]` goes on a function, e.g. \
                     `pub fn name(req: HttpRequest) -> HttpResponse {{ ... }}`"
                ),
            );
            let error = match diagnostics.finish(()) {
                Err(error) => error,
                Ok(()) => syn::Error::new(proc_macro2::Span::call_site(), "expected a function"),
            };
            return Analysis { item, model: Err(error), stacked_paths: Vec::new() };
        }
    };
    let stacked_paths: Vec<syn::Path> = function
        .attrs
        .iter()
        .filter(|a| fnwire_attribute_name(a).is_some())
        .map(|a| a.path().clone())
        .collect();
    let mut attrs = vec![first];
    attrs.extend(take_binding_attrs(&mut function.attrs, &mut diagnostics));
    let item = function.to_token_stream();
    let model = build_model(function, &attrs, stacked_paths.clone(), diagnostics);
    Analysis { item, model, stacked_paths }
}

fn build_model(
    function: ItemFn,
    attrs: &[BindingAttr],
    stacked_paths: Vec<syn::Path>,
    mut diagnostics: Diagnostics,
) -> syn::Result<FunctionModel> {
    check_signature(&function, &mut diagnostics);
    let params = collect_params(&function, &mut diagnostics);
    let specs: Vec<BindingSpec> =
        attrs.iter().filter(|a| !a.broken).filter_map(|a| build_binding(a, &mut diagnostics)).collect();
    let some_attr_broken = attrs.iter().any(|a| a.broken);
    let fn_ident = &function.sig.ident;

    // Exactly one trigger; it goes first, the rest keep their source order.
    let triggers: Vec<&BindingSpec> = specs.iter().filter(|s| s.is_trigger()).collect();
    for extra in triggers.iter().skip(1) {
        diagnostics.push(extra.error(format!(
            "`{fn_ident}` already has the trigger {}; a function has exactly one trigger, so move this \
             {} to a function of its own",
            triggers[0].display(),
            extra.display()
        )));
    }
    let broken_trigger = attrs.iter().any(|a| a.broken && a.attribute.ends_with("_trigger"));
    if triggers.is_empty() && !some_attr_broken && !broken_trigger {
        diagnostics.spanned(
            fn_ident,
            format!(
                "`{fn_ident}` has no trigger: add exactly one of #[http_trigger(...)], #[timer_trigger(...)], \
                 #[queue_trigger(...)] or #[binding(type = \"...Trigger\", direction = \"in\", ...)] \
                 (stacked attributes are recognized by their last path segment, so a renamed import is not)"
            ),
        );
    }
    let trigger = triggers.first().map(|t| (*t).clone());
    let mut ordered: Vec<BindingSpec> = trigger.iter().cloned().collect();
    // Extra triggers were reported above; leaving them out avoids follow-up errors about them.
    for spec in &specs {
        if spec.is_trigger() {
            continue;
        }
        ordered.push(spec.clone());
    }

    let named = name_bindings(ordered, &params, &mut diagnostics);
    check_binding_names(&named, &function, &params, &mut diagnostics);
    let params = assign_roles(params, &named, &mut diagnostics);

    let function_name = match trigger.as_ref().and_then(|t| t.function_name.clone()) {
        Some(name) => {
            if !is_valid_function_name(&name.value) {
                diagnostics.push(name.error(format!(
                    "`{}` is not a valid function name: use a letter followed by letters, digits, `_` or `-` \
                     (at most 128 characters), and not `host`",
                    name.value
                )));
            }
            name.value
        }
        None => {
            let name = fn_ident.to_string().trim_start_matches("r#").to_string();
            if !is_valid_function_name(&name) {
                diagnostics.spanned(
                    fn_ident,
                    format!(
                        "`{name}` is not a valid Azure function name (a letter followed by letters, digits, \
                         `_` or `-`, not `host`): rename the function or set `function_name = \"...\"` on the trigger"
                    ),
                );
            }
            name
        }
    };

    let mut metadata = FunctionMetadata::new(function_name);
    metadata.bindings = named.into_iter().map(|n| n.spec.binding).collect();
    if diagnostics.is_empty() {
        // Backstop: anything the host would reject that the checks above did not name.
        if let Err(errors) = metadata.validate() {
            for error in errors {
                diagnostics.spanned(fn_ident, error);
            }
        }
    }
    diagnostics.finish(FunctionModel { item: function, metadata, params, stacked_paths })
}

fn check_signature(function: &ItemFn, diagnostics: &mut Diagnostics) {
    let sig = &function.sig;
    let name = &sig.ident;
    if let Some(constness) = &sig.constness {
        diagnostics.spanned(
            constness,
            format!("`{name}` cannot be a `const fn`: the worker calls it at run time; remove `const`"),
        );
    }
    if let Some(unsafety) = &sig.unsafety {
        diagnostics.spanned(
            unsafety,
            format!(
                "`{name}` cannot be `unsafe`: the worker has no safety contract to uphold for it; \
                 remove `unsafe` and use an `unsafe` block inside"
            ),
        );
    }
    if let Some(abi) = &sig.abi {
        diagnostics.spanned(
            abi,
            format!("`{name}` cannot have an `extern` ABI: remove `{}`", abi.to_token_stream()),
        );
    }
    if let Some(variadic) = &sig.variadic {
        diagnostics.spanned(
            variadic,
            format!("`{name}` cannot be variadic: every parameter must be named and typed"),
        );
    }
    if !sig.generics.params.is_empty() || sig.generics.where_clause.is_some() {
        let tokens = if sig.generics.params.is_empty() {
            sig.generics.where_clause.to_token_stream()
        } else {
            sig.generics.to_token_stream()
        };
        diagnostics.spanned(
            tokens,
            format!(
                "`{name}` cannot be generic: the worker needs one concrete function to call; remove the \
                 type and lifetime parameters and use concrete types"
            ),
        );
    }
}

/// The typed parameters, each with a plain identifier; other shapes are reported.
fn collect_params(function: &ItemFn, diagnostics: &mut Diagnostics) -> Vec<ParamModel> {
    let mut params = Vec::new();
    for input in &function.sig.inputs {
        let typed = match input {
            FnArg::Receiver(receiver) => {
                diagnostics.spanned(
                    receiver,
                    "fnwire functions are free functions: a `self` parameter is not supported; move the \
                     function out of the `impl` block",
                );
                continue;
            }
            FnArg::Typed(typed) => typed,
        };
        if let Type::ImplTrait(impl_trait) = &*typed.ty {
            diagnostics.spanned(
                impl_trait,
                "an `impl Trait` parameter makes the function generic: use a concrete type",
            );
        }
        match &*typed.pat {
            Pat::Ident(pat) if pat.subpat.is_none() => params.push(ParamModel {
                ident: pat.ident.clone(),
                ty: (*typed.ty).clone(),
                role: ParamRole::Invocation,
            }),
            Pat::Wild(wild) => diagnostics.spanned(
                wild,
                "give this parameter a name (e.g. `_ctx`): fnwire matches parameters to bindings by name",
            ),
            other => diagnostics.spanned(
                other,
                "fnwire matches parameters to bindings by name, so each parameter must be a plain name \
                 such as `req: HttpRequest`; destructure inside the function body instead",
            ),
        }
    }
    params
}

/// The binding name a parameter stands for. Leading underscores are dropped, so the usual Rust
/// spelling of an unused parameter (`_req`) still binds to `req`: binding names cannot contain `_`.
pub fn binding_name_of(ident: &Ident) -> String {
    let text = ident.to_string();
    let text = text.strip_prefix("r#").unwrap_or(&text);
    let trimmed = text.trim_start_matches('_');
    if trimmed.is_empty() { text.to_string() } else { trimmed.to_string() }
}

/// Gives every binding its name and adds the HTTP trigger's implicit response output.
fn name_bindings(
    ordered: Vec<BindingSpec>,
    params: &[ParamModel],
    diagnostics: &mut Diagnostics,
) -> Vec<NamedBinding> {
    let mut named = Vec::new();
    let declares_http_output =
        ordered.iter().any(|s| s.binding.binding_type == "http" && s.binding.direction == Direction::Out);
    let mut http_trigger_site = None;
    for mut spec in ordered {
        let (name, name_tokens) = match &spec.name {
            Some(explicit) => (explicit.value.clone(), explicit.tokens.clone()),
            None if spec.is_trigger() => match params.first() {
                Some(first) => (binding_name_of(&first.ident), first.ident.to_token_stream()),
                None => ("trigger".to_string(), spec.site.clone()),
            },
            None if spec.binding.direction == Direction::Out => {
                (RETURN_BINDING_NAME.to_string(), spec.site.clone())
            }
            None => {
                diagnostics.push(spec.error(format!(
                    "{} needs `name = \"...\"`: the parameter that receives this input",
                    spec.display()
                )));
                continue;
            }
        };
        if spec.attribute == "http_trigger" {
            http_trigger_site = Some(spec.site.clone());
        }
        spec.binding.name = name;
        named.push(NamedBinding { spec, name_tokens, implicit: false });
    }
    if let (Some(site), false) = (http_trigger_site, declares_http_output) {
        let binding = Binding::new(RETURN_BINDING_NAME, "http", Direction::Out);
        let spec = BindingSpec {
            attribute: "http_output".to_string(),
            binding,
            name: None,
            function_name: None,
            site: site.clone(),
        };
        named.push(NamedBinding { spec, name_tokens: site, implicit: true });
    }
    named
}

fn check_binding_names(
    named: &[NamedBinding],
    function: &ItemFn,
    params: &[ParamModel],
    diagnostics: &mut Diagnostics,
) {
    let fn_ident = &function.sig.ident;
    let returns_nothing = matches!(function.sig.output, ReturnType::Default);
    for (index, this) in named.iter().enumerate() {
        let binding = &this.spec.binding;
        let name = &binding.name;
        let from_param = this.spec.name.is_none() && this.spec.is_trigger();
        if !is_valid_binding_name(name) {
            let message = if from_param {
                format!(
                    "the trigger takes its binding name from the first parameter, `{name}`, but binding names \
                     are letters and digits only, starting with a letter (Azure rule): rename the parameter, \
                     e.g. `{}`",
                    suggest_binding_name(name)
                )
            } else {
                format!(
                    "`{name}` is not a valid binding name: binding names are letters and digits only, starting \
                     with a letter (Azure rule), e.g. `{}`",
                    suggest_binding_name(name)
                )
            };
            diagnostics.spanned(&this.name_tokens, message);
            continue;
        }
        if name == RETURN_BINDING_NAME && binding.direction != Direction::Out {
            diagnostics.spanned(
                &this.name_tokens,
                format!("`{RETURN_BINDING_NAME}` is the return value and only an output binding can use it"),
            );
            continue;
        }
        if let Some(earlier) = named[..index].iter().find(|n| n.spec.binding.name.eq_ignore_ascii_case(name))
        {
            let declared = if this.implicit { earlier } else { this };
            let message = if name == RETURN_BINDING_NAME && (earlier.implicit || this.implicit) {
                format!(
                    "{} has no `name`, so it binds to the return value, but `#[http_trigger]` already returns \
                     the HTTP response there: give {} a `name` and add that `Out<T>` parameter, or move the \
                     response with `#[http_output(name = \"...\")]`",
                    declared.spec.display(),
                    declared.spec.display()
                )
            } else if name == RETURN_BINDING_NAME {
                format!(
                    "{} and {} both bind to the return value: give one of them a `name` and add that \
                     `Out<T>` parameter",
                    earlier.spec.display(),
                    this.spec.display()
                )
            } else {
                let earlier_name = &earlier.spec.binding.name;
                let rule = if earlier_name == name {
                    "binding names must be unique".to_string()
                } else {
                    format!(
                        "Azure compares binding names case-insensitively, so `{name}` and `{earlier_name}` clash"
                    )
                };
                format!(
                    "{} is named `{name}`, like {} before it: {rule}; rename one of them (and its parameter)",
                    this.spec.display(),
                    earlier.spec.display()
                )
            };
            diagnostics.spanned(&declared.name_tokens, message);
            continue;
        }
        if name == RETURN_BINDING_NAME {
            if returns_nothing && !this.implicit {
                diagnostics.push(this.spec.error(format!(
                    "{} has no `name`, so it binds to the return value, but `{fn_ident}` returns nothing: \
                     return the value (e.g. `-> String`), or set `name = \"...\"` and add that `Out<T>` parameter",
                    this.spec.display()
                )));
            }
            continue;
        }
        let has_param = params.iter().any(|p| binding_name_of(&p.ident) == *name);
        if !has_param && !this.spec.is_trigger() {
            let message = if binding.direction == Direction::Out {
                format!(
                    "no parameter is named `{name}`: add `{name}: Out<T>` to `{fn_ident}` to set this output, \
                     or leave out `name` to bind the return value"
                )
            } else {
                format!(
                    "no parameter is named `{name}`: add `{name}: T` to `{fn_ident}` to receive this input"
                )
            };
            diagnostics.spanned(&this.name_tokens, message);
        }
    }
}

/// Decides how each parameter is filled, and reports `Out<_>` parameters without an output.
fn assign_roles(
    params: Vec<ParamModel>,
    named: &[NamedBinding],
    diagnostics: &mut Diagnostics,
) -> Vec<ParamModel> {
    params
        .into_iter()
        .map(|mut param| {
            let binding = named.iter().map(|n| &n.spec.binding).find(|b| binding_name_of(&param.ident) == b.name);
            param.role = match binding {
                Some(b) if b.direction == Direction::Out => ParamRole::Output { binding: b.name.clone() },
                Some(b) => ParamRole::Input { binding: b.name.clone() },
                None => ParamRole::Invocation,
            };
            // Only a hint for a clearer message; roles never depend on how a type is spelled.
            if !matches!(param.role, ParamRole::Output { .. }) && looks_like_out(&param.ty) {
                let ident = &param.ident;
                diagnostics.spanned(
                    &param.ty,
                    format!(
                        "`{ident}` is an `Out<_>` parameter, but no output binding is named `{ident}`: declare \
                         one, e.g. `#[queue_output(name = \"{ident}\", queue = \"...\")]`"
                    ),
                );
            }
            param
        })
        .collect()
}

fn looks_like_out(ty: &Type) -> bool {
    match ty {
        Type::Path(path) => path.path.segments.last().is_some_and(|s| {
            s.ident == "Out" && matches!(s.arguments, syn::PathArguments::AngleBracketed(_))
        }),
        _ => false,
    }
}

/// A valid name close to an invalid one, for "e.g." hints: `my_out` -> `myout`.
fn suggest_binding_name(name: &str) -> String {
    let kept: String = name.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    let trimmed = kept.trim_start_matches(|c: char| c.is_ascii_digit());
    if trimmed.is_empty() { "value".to_string() } else { trimmed.to_string() }
}

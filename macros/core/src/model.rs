//! The function model: a checked function, its bindings, and how each parameter is filled.

use fnwire_metadata::frontend::{self, Declaration, Language, Parameter, Problem, Signature, Site};
use fnwire_metadata::{Direction, FunctionMetadata};
use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{FnArg, Ident, ItemFn, Pat, ReturnType, Type};

use crate::args::parse_args;
use crate::attrs::{BindingAttr, fnwire_attribute_name, take_binding_attrs};
use crate::binding;
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

/// Durable trigger types: the macros generate a replay (orchestrator), a JSON in/out call
/// (activity) or a batch loop (entity) for them.
pub const ORCHESTRATION_TRIGGER: &str = "orchestrationTrigger";
pub const ACTIVITY_TRIGGER: &str = "activityTrigger";
pub const ENTITY_TRIGGER: &str = "entityTrigger";

impl FunctionModel {
    /// The trigger binding's name (bindings are ordered trigger first).
    pub fn trigger_name(&self) -> Option<&str> {
        self.metadata.bindings.first().filter(|b| b.is_trigger()).map(|b| b.name.as_str())
    }

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
    // Declarations and the attributes they came from, index for index.
    let mut declared: Vec<(&BindingAttr, Declaration)> = Vec::new();
    let mut incomplete = false;
    for attr in attrs {
        // A broken attribute was reported when it was parsed; it still counts as present.
        let declaration = if attr.broken { None } else { binding::declare(attr, &mut diagnostics) };
        match declaration {
            Some(declaration) => declared.push((attr, declaration)),
            None => incomplete = true,
        }
    }
    let signature = Signature {
        name: function.sig.ident.to_string().trim_start_matches("r#").to_string(),
        parameters: Some(
            params
                .iter()
                .map(|p| Parameter {
                    written: p.ident.to_string(),
                    binding_name: binding_name_of(&p.ident),
                    can_take_trigger: true,
                    is_output_slot: looks_like_out(&p.ty),
                })
                .collect(),
        ),
        returns_value: !matches!(function.sig.output, ReturnType::Default),
        incomplete,
    };
    let declarations: Vec<Declaration> = declared.iter().map(|(_, d)| d.clone()).collect();
    let metadata = match frontend::resolve(Language::Rust, &signature, &declarations) {
        Ok(resolved) => resolved.metadata,
        Err(problems) => {
            for problem in problems {
                report(problem, &declared, &function, &params, &mut diagnostics);
            }
            FunctionMetadata::new(signature.name)
        }
    };
    check_durable_shape(&function, &metadata, &mut diagnostics);
    let params = assign_roles(params, &metadata);
    diagnostics.finish(FunctionModel { item: function, metadata, params, stacked_paths })
}

/// Reports a problem of the function at the token it is about.
fn report(
    problem: Problem,
    declared: &[(&BindingAttr, Declaration)],
    function: &ItemFn,
    params: &[ParamModel],
    diagnostics: &mut Diagnostics,
) {
    let param = match &problem.site {
        Site::Parameter(i) | Site::ParameterType(i) => params.get(*i),
        _ => None,
    };
    match (&problem.site, param, problem.declaration.and_then(|i| declared.get(i))) {
        (Site::Parameter(_), Some(param), _) => diagnostics.spanned(&param.ident, problem.message),
        (Site::ParameterType(_), Some(param), _) => diagnostics.spanned(&param.ty, problem.message),
        (Site::Declaration | Site::Key(_) | Site::Value(_), _, Some((attr, _))) => {
            binding::report(attr, problem, diagnostics)
        }
        _ => diagnostics.spanned(&function.sig.ident, problem.message),
    }
}

/// An orchestrator is replayed by polling its future, so it must be an `async fn`.
fn check_durable_shape(function: &ItemFn, metadata: &FunctionMetadata, diagnostics: &mut Diagnostics) {
    let trigger = metadata.bindings.first().map(|b| b.binding_type.as_str());
    if trigger == Some(ORCHESTRATION_TRIGGER) && function.sig.asyncness.is_none() {
        diagnostics.spanned(
            function.sig.fn_token,
            format!(
                "an orchestrator must be an `async fn`: it is replayed by polling its future; write \
                 `pub async fn {}(...) -> Result<T, E>` and `.await` the context's durable tasks",
                function.sig.ident
            ),
        );
    }
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

/// Decides how each parameter is filled: by the binding of its name, if any.
fn assign_roles(params: Vec<ParamModel>, metadata: &FunctionMetadata) -> Vec<ParamModel> {
    params
        .into_iter()
        .map(|mut param| {
            param.role = match metadata.binding(&binding_name_of(&param.ident)) {
                Some(b) if b.direction == Direction::Out => ParamRole::Output { binding: b.name.clone() },
                Some(b) => ParamRole::Input { binding: b.name.clone() },
                None => ParamRole::Invocation,
            };
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

//! One attribute -> one declared binding, through `fnwire-metadata`'s front end; its problems
//! become `syn::Error`s at the key, the value or the attribute they are about.

use crate::attrs::BindingAttr;
use crate::diagnostics::Diagnostics;
use fnwire_metadata::frontend::{self, Declaration, Language, Problem, Site};

/// Declares the binding an attribute describes; every problem is reported to `diagnostics`.
/// Returns `None` only when the attribute says too little to know even its type and direction.
pub fn declare(attr: &BindingAttr, diagnostics: &mut Diagnostics) -> Option<Declaration> {
    let options: Vec<(String, serde_json::Value)> =
        attr.args.iter().map(|arg| (arg.key_name(), arg.value.to_json())).collect();
    let declared = frontend::declare(Language::Rust, &attr.attribute, &options);
    for problem in declared.problems {
        report(attr, problem, diagnostics);
    }
    declared.declaration
}

/// Reports a problem about `attr` at the token it is about: the key, the value, or else the
/// whole attribute.
pub fn report(attr: &BindingAttr, problem: Problem, diagnostics: &mut Diagnostics) {
    let arg = problem.key().and_then(|key| attr.args.iter().find(|arg| arg.key_name() == key));
    match (&problem.site, arg) {
        (Site::Key(_), Some(arg)) => diagnostics.at(arg.key.span(), problem.message),
        (Site::Value(_), Some(arg)) => diagnostics.spanned(&arg.value_tokens, problem.message),
        _ => diagnostics.push(attr.error(problem.message)),
    }
}

//! The machinery behind fnwire's attribute macros, as an ordinary library: **parse → model →
//! expand**. `fnwire-macros` only declares the attributes and calls [`expand_attribute`]; all
//! logic lives here so it can be unit-tested without running a compiler.
//!
//! * [`args`] parses one attribute's `key = value` list;
//! * [`attrs`] finds the fnwire attributes stacked on a function;
//! * [`binding`] declares one attribute's binding through `fnwire-metadata`'s front end;
//! * [`model`] checks the signature, resolves the bindings with the front end and builds a
//!   [`FunctionModel`]: its metadata (the exact binding JSON the host receives) and how each
//!   parameter is filled;
//! * [`expand`] generates code from the model, against the SDK contract (`::fnwire::__private`).
//!
//! Errors are `syn::Error`s at the user's token, all of them combined; on error the user's
//! function is still emitted so the rest of the crate and IDEs keep working.

pub mod args;
pub mod attrs;
pub mod binding;
pub mod diagnostics;
pub mod expand;
pub mod model;

pub use attrs::ATTRIBUTE_NAMES;
pub use model::{FunctionModel, ParamModel, ParamRole};

use proc_macro2::TokenStream;

/// The whole expansion of one fnwire attribute named `attribute` (e.g. `"http_trigger"`), given
/// its argument tokens and the item it is on. Never panics: problems become `compile_error!`s.
pub fn expand_attribute(attribute: &str, args: TokenStream, item: TokenStream) -> TokenStream {
    let analysis = model::analyze(attribute, args, item);
    match &analysis.model {
        Ok(model) => expand::expand(model),
        Err(error) => expand::expand_errors(analysis.item, &analysis.stacked_paths, error),
    }
}

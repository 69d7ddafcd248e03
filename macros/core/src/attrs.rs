//! Finding fnwire's binding attributes on a function.
//!
//! The compiler hands an attribute macro only its own arguments and the item below it. So the
//! first fnwire attribute to expand also takes every other fnwire attribute still on the
//! function, removes them, and expands the function once with all its bindings. An attribute is
//! recognized by the last segment of its path (`http_trigger`, `fnwire::http_trigger`,
//! `my::reexport::http_trigger`), because the macro cannot resolve paths; an attribute imported
//! under another name (`use fnwire::http_trigger as web;`) is therefore not gathered.

use proc_macro2::TokenStream;
use quote::ToTokens;
use syn::{Attribute, Meta};

use crate::args::{AttrArg, parse_args};
use crate::diagnostics::Diagnostics;

/// Attribute names fnwire declares; also the names recognized when gathering stacked attributes.
pub const ATTRIBUTE_NAMES: &[&str] = &[
    "http_trigger",
    "timer_trigger",
    "queue_trigger",
    "blob_trigger",
    "http_output",
    "queue_output",
    "service_bus_trigger",
    "service_bus_output",
    "blob_input",
    "blob_output",
    "rabbitmq_trigger",
    "rabbitmq_output",
    "orchestration_trigger",
    "activity_trigger",
    "entity_trigger",
    "durable_client_input",
    "table_input",
    "table_output",
    "binding",
];

/// One fnwire attribute with its parsed arguments.
#[derive(Debug, Clone)]
pub struct BindingAttr {
    /// The attribute's name: one of [`ATTRIBUTE_NAMES`].
    pub attribute: String,
    /// Tokens errors about the whole attribute cover: the attribute path, or nothing for the
    /// expanding attribute (an empty stream makes `syn` use the call site, which is that attribute).
    pub site: TokenStream,
    pub args: Vec<AttrArg>,
    /// The arguments did not parse (already reported); the attribute still counts as present so
    /// that no follow-up error such as "no trigger" is reported for it.
    pub broken: bool,
}

impl BindingAttr {
    /// Builds the attribute from its parse result, reporting a parse error.
    pub fn from_parsed(
        attribute: &str,
        site: TokenStream,
        args: syn::Result<Vec<AttrArg>>,
        diagnostics: &mut Diagnostics,
    ) -> Self {
        let attribute = attribute.to_string();
        match args {
            Ok(args) => BindingAttr { attribute, site, args, broken: false },
            Err(error) => {
                diagnostics.push(error);
                BindingAttr { attribute, site, args: Vec::new(), broken: true }
            }
        }
    }

    /// An error covering the attribute.
    pub fn error(&self, message: impl std::fmt::Display) -> syn::Error {
        syn::Error::new_spanned(&self.site, message)
    }
}

/// The fnwire attribute name an attribute stands for, if any.
pub fn fnwire_attribute_name(attr: &Attribute) -> Option<&'static str> {
    let last = attr.path().segments.last()?;
    ATTRIBUTE_NAMES.iter().copied().find(|name| last.ident == name)
}

/// Removes every fnwire attribute from `attrs` and returns them parsed, in source order. Errors
/// in their arguments are reported and the attribute is marked `broken`.
pub fn take_binding_attrs(attrs: &mut Vec<Attribute>, diagnostics: &mut Diagnostics) -> Vec<BindingAttr> {
    let mut found = Vec::new();
    let mut kept = Vec::with_capacity(attrs.len());
    for attr in attrs.drain(..) {
        let Some(name) = fnwire_attribute_name(&attr) else {
            kept.push(attr);
            continue;
        };
        let site = attr.path().to_token_stream();
        let args = match &attr.meta {
            Meta::Path(_) => Ok(Vec::new()),
            Meta::List(list) => parse_args(list.tokens.clone()),
            Meta::NameValue(nv) => Err(syn::Error::new_spanned(
                nv,
                format!("write `#[{name}(key = value, ...)]`, not `#[{name} = ...]`"),
            )),
        };
        found.push(BindingAttr::from_parsed(name, site, args, diagnostics));
    }
    *attrs = kept;
    found
}

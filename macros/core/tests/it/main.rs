//! Tests of fnwire-macros-core without a compiler run: parsing, the model, the binding JSON
//! (insta snapshots, so any change to what hosts receive is a reviewed diff) and the expansion.

mod args;
mod expansion;
mod frontend_table;
mod metadata_snapshots;
mod model;

use fnwire_macros_core::FunctionModel;
use proc_macro2::TokenStream;

/// Splits `#[attr(args)]` off the front of `source` the way the compiler does before calling
/// the attribute macro, and builds the model.
pub fn model_of(source: &str) -> syn::Result<FunctionModel> {
    let (attribute, args, item) = split_first_attribute(source);
    FunctionModel::from_tokens(&attribute, args, item)
}

/// Every error message of a failed model, in order.
pub fn errors_of(source: &str) -> Vec<String> {
    match model_of(source) {
        Ok(model) => panic!("expected errors, got a model: {:?}", model.metadata),
        Err(error) => error.into_iter().map(|e| e.to_string()).collect(),
    }
}

fn split_first_attribute(source: &str) -> (String, TokenStream, TokenStream) {
    let mut function: syn::ItemFn = syn::parse_str(source).expect("test source is a function");
    let first = function.attrs.remove(0);
    let attribute = first.path().segments.last().expect("attribute has a name").ident.to_string();
    let args = match first.meta {
        syn::Meta::List(list) => list.tokens,
        _ => TokenStream::new(),
    };
    (attribute, args, quote::ToTokens::to_token_stream(&function))
}

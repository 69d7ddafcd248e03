//! Parsing of one attribute's argument list: `key = value, key = value, ...`.
//!
//! Values are literals only (string, bool, integer) or a bracketed list of strings, because they
//! are rendered into binding JSON at compile time; an expression could not be.

use proc_macro2::TokenStream;
use quote::ToTokens;
use serde_json::Value;
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream, Parser};
use syn::punctuated::Punctuated;
use syn::{Ident, Lit, Token, bracketed};

/// What a value was written as, for error messages and for keys that only take one shape.
#[derive(Debug, Clone, PartialEq)]
pub enum ArgValue {
    Str(String),
    Bool(bool),
    Int(i64),
    StrList(Vec<String>),
}

impl ArgValue {
    /// The value as JSON, before any catalog normalization.
    pub fn to_json(&self) -> Value {
        match self {
            ArgValue::Str(s) => Value::String(s.clone()),
            ArgValue::Bool(b) => Value::Bool(*b),
            ArgValue::Int(i) => Value::from(*i),
            ArgValue::StrList(items) => Value::Array(items.iter().cloned().map(Value::String).collect()),
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            ArgValue::Str(s) => Some(s),
            _ => None,
        }
    }
}

/// One `key = value` pair with the spans errors point at.
#[derive(Debug, Clone)]
pub struct AttrArg {
    /// The key as written (`type` is accepted although it is a keyword).
    pub key: Ident,
    pub value: ArgValue,
    /// Tokens of the value, so an error can cover all of it (e.g. a whole `[...]` list).
    pub value_tokens: TokenStream,
}

impl AttrArg {
    pub fn key_name(&self) -> String {
        self.key.unraw().to_string()
    }

    pub fn value_error(&self, message: impl std::fmt::Display) -> syn::Error {
        syn::Error::new_spanned(&self.value_tokens, message)
    }
}

impl Parse for AttrArg {
    fn parse(input: ParseStream) -> syn::Result<Self> {
        let key = Ident::parse_any(input).map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected a key such as `route = \"...\"`: arguments are `key = value` pairs",
            )
        })?;
        if !input.peek(Token![=]) {
            let name = key.unraw();
            return Err(syn::Error::new(
                if input.is_empty() { key.span() } else { input.span() },
                format!(
                    "expected `=` after `{name}`: write `{name} = <value>` (a string, bool, integer or list of strings)"
                ),
            ));
        }
        input.parse::<Token![=]>()?;
        let (value, value_tokens) = parse_value(input)?;
        Ok(AttrArg { key, value, value_tokens })
    }
}

const VALUE_KINDS: &str =
    "a string (\"...\"), `true`/`false`, an integer, or a list of strings ([\"a\", \"b\"])";

fn parse_value(input: ParseStream) -> syn::Result<(ArgValue, TokenStream)> {
    if input.peek(syn::token::Bracket) {
        let content;
        let bracket = bracketed!(content in input);
        let items = Punctuated::<Lit, Token![,]>::parse_terminated(&content).map_err(|e| {
            syn::Error::new(e.span(), "a list holds string literals only, e.g. [\"get\", \"post\"]")
        })?;
        let mut strings = Vec::new();
        for item in &items {
            match item {
                Lit::Str(s) => strings.push(s.value()),
                other => {
                    return Err(syn::Error::new_spanned(
                        other,
                        "a list holds string literals only, e.g. [\"get\", \"post\"]",
                    ));
                }
            }
        }
        let mut tokens = TokenStream::new();
        bracket.surround(&mut tokens, |inner| items.to_tokens(inner));
        return Ok((ArgValue::StrList(strings), tokens));
    }
    if input.peek(Token![-]) {
        let minus: Token![-] = input.parse()?;
        let lit: syn::LitInt = input.parse().map_err(|e| {
            syn::Error::new(e.span(), format!("expected an integer after `-`; values are {VALUE_KINDS}"))
        })?;
        let value = format!("-{}", lit.base10_digits())
            .parse::<i64>()
            .map_err(|_| syn::Error::new(lit.span(), "this integer does not fit in 64 bits"))?;
        return Ok((ArgValue::Int(value), quote::quote!(#minus #lit)));
    }
    let lit: Lit = input
        .parse()
        .map_err(|e| syn::Error::new(e.span(), format!("expected a literal value: {VALUE_KINDS}")))?;
    let value = match &lit {
        Lit::Str(s) => ArgValue::Str(s.value()),
        Lit::Bool(b) => ArgValue::Bool(b.value),
        Lit::Int(i) => ArgValue::Int(
            i.base10_parse::<i64>()
                .map_err(|_| syn::Error::new(i.span(), "this integer does not fit in 64 bits"))?,
        ),
        other => {
            return Err(syn::Error::new(
                other.span(),
                format!("unsupported value: values are {VALUE_KINDS}"),
            ));
        }
    };
    Ok((value, lit.to_token_stream()))
}

/// Parses `key = value, ...` (trailing comma allowed) and rejects a key given twice.
pub fn parse_args(tokens: TokenStream) -> syn::Result<Vec<AttrArg>> {
    let parsed = Punctuated::<AttrArg, Token![,]>::parse_terminated.parse2(tokens)?;
    let mut args: Vec<AttrArg> = Vec::new();
    let mut errors: Option<syn::Error> = None;
    for arg in parsed {
        let name = arg.key_name();
        if args.iter().any(|seen| seen.key_name() == name) {
            let error = syn::Error::new(arg.key.span(), format!("`{name}` is given twice: keep one"));
            match &mut errors {
                Some(e) => e.combine(error),
                None => errors = Some(error),
            }
            continue;
        }
        args.push(arg);
    }
    match errors {
        Some(e) => Err(e),
        None => Ok(args),
    }
}

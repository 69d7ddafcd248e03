//! Collects every error of one expansion, so a user sees all problems of a function at once.

use std::fmt::Display;

use quote::ToTokens;

/// Accumulates `syn::Error`s; each keeps its own span.
#[derive(Debug, Default)]
pub struct Diagnostics {
    combined: Option<syn::Error>,
}

impl Diagnostics {
    pub fn new() -> Self {
        Diagnostics::default()
    }

    pub fn push(&mut self, error: syn::Error) {
        match &mut self.combined {
            Some(existing) => existing.combine(error),
            None => self.combined = Some(error),
        }
    }

    /// An error covering `tokens` (first to last token).
    pub fn spanned(&mut self, tokens: impl ToTokens, message: impl Display) {
        self.push(syn::Error::new_spanned(tokens, message));
    }

    /// An error at one span.
    pub fn at(&mut self, span: proc_macro2::Span, message: impl Display) {
        self.push(syn::Error::new(span, message));
    }

    pub fn is_empty(&self) -> bool {
        self.combined.is_none()
    }

    /// `Ok(value)` when nothing was reported, else every error combined.
    pub fn finish<T>(self, value: T) -> syn::Result<T> {
        match self.combined {
            Some(error) => Err(error),
            None => Ok(value),
        }
    }

    pub fn into_error(self) -> Option<syn::Error> {
        self.combined
    }
}

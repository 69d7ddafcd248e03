//! The SQL filter language of Service Bus subscriptions: syntax tree, parser, evaluation.

pub mod ast;
mod eval;
mod parse;

pub use eval::{Truth, equal, evaluate, like};
pub use parse::{MAX_EXPRESSION_LEN, MAX_NESTING, SyntaxError, parse_action, parse_constant, parse_filter};

pub(crate) use eval::{apply, test};

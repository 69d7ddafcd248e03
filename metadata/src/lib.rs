//! The binding-metadata model: one description of a function and its bindings, used
//!
//! * by `fnwire-macros` at compile time, through [`frontend`], to check attributes and render the
//!   binding JSON;
//! * by the worker runtime, to answer worker indexing (`RpcFunctionMetadata.raw_bindings`);
//! * by the Python and Node layers, which declare bindings through the same [`frontend`];
//! * by the host, to read `function.json` files and to write them (`fnwire pack`).
//!
//! Binding JSON uses Azure's `function.json` spelling (`type`, `direction`, `name`, camelCase
//! keys), because that is what hosts parse.

pub mod blob_path;
mod catalog;
mod error;
pub mod frontend;
mod model;
pub mod route;
#[cfg(feature = "rpc")]
pub mod rpc;

pub use catalog::{
    BindingKind, CATALOG, COMMON_KEYS, KeySpec, ValueCheck, ValueKind, closest_key, snake_to_camel,
};
pub use error::MetadataError;
pub use model::{Binding, DataType, Direction, FunctionMetadata, RETURN_BINDING_NAME};

/// Validates a binding name the way Azure hosts do: letters and digits, starting with a letter,
/// at most 128 characters, or exactly `$return`.
pub fn is_valid_binding_name(name: &str) -> bool {
    if name == RETURN_BINDING_NAME {
        return true;
    }
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && name.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric())
}

/// Validates a function name the way Azure hosts do: `^[a-z][a-z0-9_\-]{0,127}$`, case-insensitive,
/// and not `host`.
pub fn is_valid_function_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic())
        && name.len() <= 128
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        && !name.eq_ignore_ascii_case("host")
}

//! The native half of the `fnwire` npm package.
//!
//! Everything protocol-related runs here, in the fnwire Rust core: binding metadata
//! (`defineFunction`), the worker runtime (`workerStart`), TypedData conversion, and the host
//! (`cliRun`). The JavaScript layer in `lib/` only adapts calling conventions. The rules of this
//! boundary are in `BRIDGE.md`; `lib/native.d.ts` declares the same items in the same order.

// napi-derive registers exports only outside `cfg(test)`, so the unit-test build sees them unused.
#![cfg_attr(test, allow(dead_code))]

mod azure;
mod cli;
mod convert;
mod define;
mod worker;

use napi_derive::napi;

/// Checks and records a function (see `define::define`); throws with every problem, naming
/// the function.
#[napi]
pub fn define_function(request: serde_json::Value) -> napi::Result<serde_json::Value> {
    define::define(&request).map_err(napi::Error::from_reason)
}

/// The `raw_bindings` the worker will report for a registered function, or null.
#[napi]
pub fn function_raw_bindings(name: String) -> Option<Vec<String>> {
    define::raw_bindings(&name)
}

/// The catalog of binding kinds: `{kind, type, direction, options: [{name, required}]}` with
/// option names as JS spells them.
#[napi]
pub fn binding_catalog() -> serde_json::Value {
    fnwire_metadata::CATALOG
        .iter()
        .map(|kind| {
            let options: Vec<serde_json::Value> = kind
                .keys
                .iter()
                .chain(fnwire_metadata::COMMON_KEYS)
                .map(|k| serde_json::json!({"name": define::camel(k.name), "required": k.required}))
                .collect();
            serde_json::json!({
                "kind": kind.attribute,
                "type": kind.binding_type,
                "direction": kind.direction.as_str(),
                "options": options,
            })
        })
        .collect()
}

/// Checks an HTTP response the way `invocationComplete` does; throws the Rust SDK's message
/// (the same rules and words as in Rust and Python).
#[napi]
pub fn check_http_response(response: convert::HttpResponseOut) -> napi::Result<()> {
    convert::http_response(response).map(|_| ()).map_err(|e| napi::Error::from_reason(e.message))
}

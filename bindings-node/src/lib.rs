//! The native half of the `fnwire` npm package.
//!
//! Everything protocol-related runs here, in the fnwire Rust core: binding metadata
//! (`defineFunction`, in [`define`]), the worker runtime (`workerStart`), TypedData conversion,
//! and the host (`cliRun`). The JavaScript layer in `lib/` only adapts calling conventions. The
//! rules of this boundary are in `BRIDGE.md`; `lib/native.d.ts` declares the same items in the
//! same order.

// napi-derive registers exports only outside `cfg(test)`, so the unit-test build sees them unused.
#![cfg_attr(test, allow(dead_code))]

mod azure;
mod cli;
mod convert;
mod define;
mod worker;

use napi_derive::napi;

/// The addon's Rust code (worker, conversions, the host of `npx fnwire start`) allocates with
/// the allocator of the `fnwire` binary; JavaScript's objects keep V8's heap.
#[global_allocator]
static ALLOCATOR: fnwire_alloc::Allocator = fnwire_alloc::Allocator;

/// Checks an HTTP response the way `invocationComplete` does; throws the Rust SDK's message
/// (the same rules and words as in Rust and Python).
#[napi]
pub fn check_http_response(response: convert::HttpResponseOut) -> napi::Result<()> {
    convert::http_response(response).map(|_| ()).map_err(|e| napi::Error::from_reason(e.message))
}

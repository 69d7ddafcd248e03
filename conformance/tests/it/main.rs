//! Integration tests: the real `fnwire-conformance` binary against the Rust contract app (every
//! scenario passes) and against a deliberately broken worker (the run fails, and the messages
//! name the scenario and what was expected).

mod broken;
mod cli;
mod rust_app;
mod support;

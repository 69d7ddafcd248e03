//! fnwire's conformance runner: a FunctionRpc host that starts a language worker the way
//! `fnwire start` does and checks it against the contract app (`conformance/CONTRACT.md`).
//!
//! * [`scenarios`]: the scenario list; invocation cases come from `scenarios/invocations/*.toml`,
//!   lifecycle scenarios are Rust ([`builtin`]);
//! * [`runner`]: runs them against one app and collects a [`report::Report`];
//! * [`context`]: the state the scenarios of a run share (workers, indexing, loading);
//! * [`session`]: workers started through `fnwire-host`, with "expected …, received …" errors;
//! * [`transcript`]: every message both ways, for scenarios and `--transcript`;
//! * [`exclusions`]: known gaps of a particular worker, each with a reason.

pub mod builtin;
pub mod cases;
pub mod context;
pub mod exclusions;
pub mod indexing;
pub mod report;
pub mod runner;
pub mod scenarios;
pub mod session;
pub mod transcript;
pub mod typed;

/// The data files under `scenarios/` and `exclusions/`, embedded at build time.
pub mod embedded {
    include!(concat!(env!("OUT_DIR"), "/embedded.rs"));
}

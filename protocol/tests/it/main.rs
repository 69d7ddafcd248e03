//! Integration tests of the protocol crate: one binary, modules per concern.

mod pitfalls;
mod transcripts;
mod worker_args;

//! fnwire benchmarks: every scenario measures fnwire and a baseline in the same run, alternating,
//! and reports medians over several rounds with a ratio oriented so that above 1 favours fnwire.
//! See `BENCHMARKS.md` at the repository root.

pub mod azure_node;
pub mod azure_python;
pub mod blob_trigger;
pub mod cli;
pub mod durable;
pub mod instructions;
pub mod load;
pub mod memory;
pub mod peers;
pub mod procs;
pub mod rabbitmq;
pub mod scale;
pub mod scenarios;
pub mod setup;
pub mod stats;
pub mod topic_fanout;

//! The durable extension's tests: one binary (see the crate layout notes in ARCHITECTURE.md).

mod http_api;
mod replay_golden;
mod sqlite_hub;

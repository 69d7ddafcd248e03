//! The durable extension's tests: one binary (see the crate layout notes in ARCHITECTURE.md).

mod http_api;
mod hubs;
mod postgres_hub;
mod replay_golden;

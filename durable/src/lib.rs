//! fnwire's Durable Functions extension: the out-of-process protocol the official durable
//! libraries speak (`model`), the replay of an orchestrator's actions against its history
//! (`replay`), and the task hub that stores instances, history and work items (`taskhub`, with
//! the SQLite implementation in `sqlite` and the PostgreSQL one in `postgres`). `PROTOCOL.md` describes the wire shapes.

pub mod engine;
pub mod http;
pub mod model;
pub mod postgres;
pub mod replay;
pub mod sqlite;
pub mod taskhub;

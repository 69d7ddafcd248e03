//! The fnwire local host: runs a function app's language worker over FunctionRpc (gRPC) and
//! serves its HTTP-triggered functions, like Azure's `func start`.
//!
//! The pieces are usable on their own (the conformance runner drives workers with them):
//! * [`app`]: detect an app and build a [`app::WorkerLaunch`];
//! * [`grpc::GrpcServer`]: the FunctionRpc server that accepts only launched workers;
//! * [`worker_process::WorkerProcess`]: a launched worker process;
//! * [`channel::WorkerChannel`]: request/response over a worker's stream;
//! * [`lifecycle`]: start → init → index → load;
//! * [`invoke`]: the one invocation pipeline every trigger goes through;
//! * [`routes`], [`http`]: route templates and the HTTP ↔ `RpcHttp` mapping;
//! * [`triggers`], [`bindings`]: timers and queues, and the storage bindings;
//! * [`config`]: `host.json` and app settings;
//! * [`host::run_start`]: the whole `fnwire start` command;
//! * [`watch`]: `fnwire start --watch`, rebuilding and reloading the worker on save.

pub mod app;
pub mod app_store;
pub mod bindings;
pub mod channel;
pub mod cli;
pub mod config;
pub mod console;
pub mod dashboard;
pub mod drain;
pub mod durable;
pub mod grpc;
pub mod health;
pub mod host;
pub mod http;
pub mod invoke;
pub mod keys;
pub mod kube;
pub mod lifecycle;
pub mod log_limit;
pub mod pack;
pub mod routes;
pub mod store_cli;
pub mod supervisor;
pub mod table_cli;
pub mod timeout;
pub mod triggers;
pub mod watch;
pub mod worker_process;

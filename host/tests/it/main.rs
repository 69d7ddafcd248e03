//! fnwire-host integration tests: the real `fnwire` binary, real worker processes, real gRPC and
//! real HTTP.

mod auth_keys;
mod blob_trigger;
mod cli;
mod dashboard;
mod drain;
mod e2e_cargo_app;
mod e2e_hello_rust;
mod e2e_test_worker;
mod embedded_triggers;
mod http2;
mod kube;
mod listener_limits;
mod log_file;
mod log_format;
mod memory;
mod metrics;
mod new_app;
mod otel;
mod pack;
mod rabbitmq;
mod scale_out;
mod service_bus;
mod store;
mod supervision;
mod support;
mod table_cli;

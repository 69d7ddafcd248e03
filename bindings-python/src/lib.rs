//! The native part of the `fnwire` Python package (`fnwire._native`).
//!
//! Everything the protocol needs is the Rust SDK's: this crate only adapts it to Python. It
//! exposes the binding catalog ([`metadata`]), the worker ([`worker::serve`]), the Rust SDK's
//! per-invocation types and value conversions ([`convert`]) and the `fnwire` host command ([`host::host_main`]).
//! The rules for crossing the boundary are in `bindings-python/BRIDGE.md`.

mod convert;
mod host;
mod metadata;
mod worker;

use pyo3::prelude::*;

/// The module's Rust code (worker, conversions, the host of `python -m fnwire start`) allocates
/// with the allocator of the `fnwire` binary; Python's own objects keep Python's. glibc's
/// `malloc` and `free` were 12 % of the worker's instructions per HTTP request (callgrind).
#[global_allocator]
static ALLOCATOR: fnwire_alloc::Allocator = fnwire_alloc::Allocator;

#[pymodule]
#[pyo3(name = "_native")]
fn native(module: &Bound<'_, PyModule>) -> PyResult<()> {
    // Module import runs before any of the module's threads exist.
    fnwire_alloc::configure();
    metadata::register(module)?;
    module.add_function(wrap_pyfunction!(convert::parse_json, module)?)?;
    module.add_function(wrap_pyfunction!(worker::serve, module)?)?;
    module.add_function(wrap_pyfunction!(worker::async_wakeup_fd, module)?)?;
    module.add_function(wrap_pyfunction!(worker::take_async_calls, module)?)?;
    module.add_function(wrap_pyfunction!(host::host_main, module)?)?;
    module.add_function(wrap_pyfunction!(convert::check_status, module)?)?;
    module.add_class::<worker::LogSink>()?;
    module.add_class::<worker::Completion>()?;
    module.add_class::<worker::ContextData>()?;
    module.add_class::<worker::RetryData>()?;
    module.add_class::<convert::HttpRequestData>()?;
    module.add_class::<convert::TimerData>()?;
    module.add_class::<convert::ScheduleStatusData>()?;
    module.add_class::<convert::QueueMessageData>()?;
    module.add_class::<convert::BlobData>()?;
    module.add_class::<convert::ServiceBusMessageData>()?;
    module.add_class::<convert::TriggerData>()?;
    module.add_class::<convert::JsonText>()?;
    module.add_class::<convert::UnsupportedData>()?;
    module.add_class::<convert::Cookie>()?;
    module.add_class::<convert::HttpResponseData>()?;
    module.add_class::<convert::Success>()?;
    module.add_class::<convert::Failure>()?;
    module.add("CORE_VERSION", env!("CARGO_PKG_VERSION"))?;
    Ok(())
}

//! The worker runtime, usable without the macros.
//!
//! A [`Worker`] serves a list of [`FunctionDefinition`]s: binding metadata plus a [`Handler`].
//! The attribute macros are one source of definitions ([`registered_functions`]); the Python and
//! Node layers build them from decorators and drive the same runtime.
//!
//! ```no_run
//! use fnwire::runtime::{FunctionDefinition, Worker};
//! use fnwire::{HttpResponse, Invocation, IntoTypedData, InvocationOutcome};
//! use fnwire_metadata::{Binding, Direction, FunctionMetadata};
//!
//! # async fn demo() -> Result<(), fnwire::runtime::WorkerError> {
//! let metadata = FunctionMetadata::new("hello")
//!     .with_binding(Binding::new("req", "httpTrigger", Direction::In).with("authLevel", "anonymous"))
//!     .with_binding(Binding::new("$return", "http", Direction::Out));
//! let hello = FunctionDefinition::new(metadata, |_invocation: Invocation| async move {
//!     let response = HttpResponse::ok().with_text("hello").into_typed_data()?;
//!     Ok(InvocationOutcome { outputs: vec![], return_value: Some(response) })
//! });
//! let args = fnwire::protocol::WorkerArgs::from_env().expect("started by a host");
//! Worker::new(args).function(hello).run().await
//! # }
//! ```

mod logging;
mod panic;
mod reload;
mod session;
mod traces;

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use fnwire_metadata::{FunctionMetadata, MetadataError};

pub use logging::{HostLogLayer, INVOCATION_SPAN_TARGET, install_default_subscriber};
pub(crate) use panic::catch as catch_panic;
pub use reload::AppReload;

/// Runs blocking code for a handler: on tokio's blocking pool, inside the invocation's span (so its
/// logs reach the host), with panics turned into a [`crate::FunctionError`].
pub use crate::__private::run_blocking;
/// The host's command-line arguments a [`Worker`] connects with.
pub use fnwire_protocol::WorkerArgs;

use crate::__private::{BoxFuture, Registration};
use crate::invocation::{Invocation, InvocationResult};

/// Runs one invocation of a function.
///
/// Closures `Fn(Invocation) -> impl Future<Output = InvocationResult>` are handlers.
pub trait Handler: Send + Sync + 'static {
    /// Starts the invocation; the future resolves to its outcome.
    fn call(&self, invocation: Invocation) -> BoxFuture<'static, InvocationResult>;
}

impl<F, Fut> Handler for F
where
    F: Fn(Invocation) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = InvocationResult> + Send + 'static,
{
    fn call(&self, invocation: Invocation) -> BoxFuture<'static, InvocationResult> {
        Box::pin(self(invocation))
    }
}

/// Runs one invocation of a function synchronously; it may block.
///
/// Closures `Fn(Invocation) -> InvocationResult` are blocking handlers.
pub trait BlockingHandler: Send + Sync + 'static {
    /// Runs the invocation to its outcome, blocking the calling thread.
    fn call(&self, invocation: Invocation) -> InvocationResult;
}

impl<F> BlockingHandler for F
where
    F: Fn(Invocation) -> InvocationResult + Send + Sync + 'static,
{
    fn call(&self, invocation: Invocation) -> InvocationResult {
        self(invocation)
    }
}

/// The code of a function, and how the runtime runs it.
#[derive(Clone)]
pub enum FunctionHandler {
    /// Polled as a task on the runtime's threads; must not block.
    Async(Arc<dyn Handler>),
    /// Run whole on a blocking-pool thread, which also sends the response. A blocking call costs
    /// one thread hand-off per invocation and no async task at all.
    Blocking(Arc<dyn BlockingHandler>),
}

impl FunctionHandler {
    /// Runs one invocation to its result: an async handler as it is, a blocking one on the
    /// blocking pool (inside the current span, panics turned into errors). For tests and for
    /// runtimes other than [`Worker`].
    pub fn call(&self, invocation: Invocation) -> BoxFuture<'static, InvocationResult> {
        match self {
            FunctionHandler::Async(handler) => handler.call(invocation),
            FunctionHandler::Blocking(handler) => {
                let handler = handler.clone();
                Box::pin(async move { run_blocking(move || handler.call(invocation)).await? })
            }
        }
    }
}

impl fmt::Debug for FunctionHandler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FunctionHandler::Async(_) => "FunctionHandler::Async",
            FunctionHandler::Blocking(_) => "FunctionHandler::Blocking",
        })
    }
}

impl From<crate::__private::Invoke> for FunctionHandler {
    fn from(invoke: crate::__private::Invoke) -> Self {
        match invoke {
            crate::__private::Invoke::Async(f) => FunctionHandler::Async(Arc::new(f)),
            crate::__private::Invoke::Blocking(f) => FunctionHandler::Blocking(Arc::new(f)),
        }
    }
}

/// A function the worker serves: what the host is told about it, and the code that runs it.
#[derive(Clone)]
pub struct FunctionDefinition {
    /// The function's name and bindings, as the host sees them.
    pub metadata: FunctionMetadata,
    /// What runs for each invocation.
    pub handler: FunctionHandler,
}

impl FunctionDefinition {
    /// A function whose handler is async.
    pub fn new(metadata: FunctionMetadata, handler: impl Handler) -> Self {
        FunctionDefinition { metadata, handler: FunctionHandler::Async(Arc::new(handler)) }
    }

    /// A function whose handler is synchronous and may block: the runtime runs each invocation
    /// whole on a blocking-pool thread.
    pub fn blocking(metadata: FunctionMetadata, handler: impl BlockingHandler) -> Self {
        FunctionDefinition { metadata, handler: FunctionHandler::Blocking(Arc::new(handler)) }
    }
}

impl fmt::Debug for FunctionDefinition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FunctionDefinition")
            .field("metadata", &self.metadata)
            .field("handler", &self.handler)
            .finish()
    }
}

/// Why a worker stopped with an error.
#[derive(Debug)]
pub enum WorkerError {
    /// The functions' metadata would be rejected by the host. Nothing was sent.
    InvalidFunctions(Vec<MetadataError>),
    /// The host could not be reached or refused the stream.
    Connect {
        /// The host address from the command line.
        uri: String,
        /// Why the connection failed.
        message: String,
    },
    /// The stream broke while running (the host went away without ending the stream).
    Stream {
        /// What broke.
        message: String,
    },
}

impl fmt::Display for WorkerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WorkerError::InvalidFunctions(errors) => {
                write!(f, "{} problem(s) in the function definitions; fix them and rebuild:", errors.len())?;
                for e in errors {
                    write!(f, "\n  - {e}")?;
                }
                Ok(())
            }
            WorkerError::Connect { uri, message } => write!(
                f,
                "could not connect to the Functions host at {uri}: {message}. The worker must be started \
                 by a host (e.g. `fnwire start`), which passes its address"
            ),
            WorkerError::Stream { message } => {
                write!(f, "the connection to the Functions host broke: {message}")
            }
        }
    }
}

impl std::error::Error for WorkerError {}

/// A registered function whose metadata is wrong, with where it was declared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistrationError {
    /// `file:line` of the function.
    pub location: String,
    /// What is wrong with the metadata.
    pub error: MetadataError,
}

impl fmt::Display for RegistrationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.error)
    }
}

impl std::error::Error for RegistrationError {}

/// The functions declared with the attribute macros anywhere in the program, validated. Every
/// problem is reported, each with the function's source location.
pub fn registered_functions() -> Result<Vec<FunctionDefinition>, Vec<RegistrationError>> {
    let registrations: Vec<&Registration> = inventory::iter::<Registration>.into_iter().collect();
    definitions_from(registrations)
}

fn definitions_from(
    registrations: Vec<&Registration>,
) -> Result<Vec<FunctionDefinition>, Vec<RegistrationError>> {
    let script_file = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_default();
    let mut definitions = Vec::new();
    let mut errors = Vec::new();
    let mut seen: Vec<(String, &str)> = Vec::new();
    for registration in registrations {
        let located =
            |error: MetadataError| RegistrationError { location: registration.location.to_string(), error };
        let mut metadata = match FunctionMetadata::from_raw_bindings(registration.name, registration.bindings)
        {
            Ok(metadata) => metadata,
            Err(error) => {
                errors.push(located(error));
                continue;
            }
        };
        if let Err(problems) = metadata.validate() {
            errors.extend(problems.into_iter().map(located));
            continue;
        }
        let lower = registration.name.to_ascii_lowercase();
        if let Some((_, first)) = seen.iter().find(|(name, _)| *name == lower) {
            errors.push(RegistrationError {
                location: registration.location.to_string(),
                error: duplicate_name_error(registration.name, first),
            });
            continue;
        }
        seen.push((lower, registration.location));
        metadata.script_file = script_file.clone();
        metadata.entry_point = registration.name.to_string();
        definitions.push(FunctionDefinition { metadata, handler: registration.invoke.into() });
    }
    if errors.is_empty() { Ok(definitions) } else { Err(errors) }
}

fn duplicate_name_error(name: &str, first_location: &str) -> MetadataError {
    // MetadataError's constructor is crate-private to fnwire-metadata; build the same shape here.
    let message = format!(
        "another function with this name is declared at {first_location}; function names must be unique \
         (case-insensitively): rename one, or set `function_name = \"...\"` on its trigger"
    );
    MetadataError { function: Some(name.to_string()), binding: None, message }
}

/// The language runtime a worker reports to the host: `WorkerMetadata.runtime_name` and
/// `runtime_version`, and the `language` of each function it indexes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LanguageRuntime {
    /// The language, e.g. `rust`, `python`, `node`.
    pub name: String,
    /// Its version, e.g. the compiler's or the interpreter's.
    pub version: String,
}

impl Default for LanguageRuntime {
    /// Rust, with the version of the compiler that built the worker.
    fn default() -> Self {
        LanguageRuntime { name: "rust".to_string(), version: env!("FNWIRE_RUSTC_VERSION").to_string() }
    }
}

/// The default time in-flight invocations get to finish when the worker stops.
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// A language worker: connects to the host named in its [`WorkerArgs`] and serves functions
/// until the host terminates it or closes the stream.
#[derive(Debug)]
pub struct Worker {
    args: WorkerArgs,
    functions: Vec<FunctionDefinition>,
    shutdown_grace: Duration,
    reload: Option<AppReload>,
    runtime: LanguageRuntime,
    shared_memory: Option<fnwire_shared_memory::Settings>,
}

impl Worker {
    /// A worker with no functions yet, connecting with `args`.
    pub fn new(args: WorkerArgs) -> Self {
        Worker {
            args,
            functions: Vec::new(),
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            reload: None,
            runtime: LanguageRuntime::default(),
            shared_memory: fnwire_shared_memory::Settings::from_env(),
        }
    }

    /// A worker serving every function declared with the attribute macros.
    pub fn from_registrations(args: WorkerArgs) -> Result<Self, Vec<RegistrationError>> {
        Ok(Worker::new(args).functions(registered_functions()?))
    }

    /// Adds a function.
    pub fn function(mut self, definition: FunctionDefinition) -> Self {
        self.functions.push(definition);
        self
    }

    /// Adds functions.
    pub fn functions(mut self, definitions: impl IntoIterator<Item = FunctionDefinition>) -> Self {
        self.functions.extend(definitions);
        self
    }

    /// How long in-flight invocations may run on when the stream ends without a
    /// `WorkerTerminate` (which brings its own grace period). Default 5 s.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Loads the app's functions when the host specializes this worker with
    /// `FunctionEnvironmentReloadRequest` (placeholder mode); they are added to the served ones.
    pub fn on_environment_reload(mut self, reload: AppReload) -> Self {
        self.reload = Some(reload);
        self
    }

    /// Where this worker puts output values of 1 MiB and more (shared memory), or `None` to send
    /// them inline. By default the app settings decide
    /// (`FUNCTIONS_WORKER_SHARED_MEMORY_DATA_TRANSFER_ENABLED`, `FUNCTIONS_UNIX_SHARED_MEMORY_DIRECTORIES`);
    /// the maps a host sends are read either way.
    pub fn shared_memory(mut self, settings: Option<fnwire_shared_memory::Settings>) -> Self {
        self.shared_memory = settings;
        self
    }

    /// [`Worker::run`] from synchronous code: serves on `runtime` and returns when the worker
    /// stops. Prefer it to `runtime.block_on(worker.run())`: `block_on` polls its future on the
    /// calling thread, outside the runtime's worker threads, so the session's reader would hand
    /// every message across threads. Here the session is one of the runtime's tasks.
    pub fn run_on(self, runtime: &tokio::runtime::Runtime) -> Result<(), WorkerError> {
        runtime.block_on(async {
            match tokio::spawn(self.run()).await {
                Ok(result) => result,
                Err(e) => {
                    Err(WorkerError::Stream { message: format!("the worker's session task ended: {e}") })
                }
            }
        })
    }

    /// The language runtime reported to the host (default: Rust). The Python and Node layers
    /// report theirs, as Microsoft's workers do (`python` / `3.11.7`, `node` / `v20.20.2`).
    pub fn runtime(mut self, name: impl Into<String>, version: impl Into<String>) -> Self {
        self.runtime = LanguageRuntime { name: name.into(), version: version.into() };
        self
    }

    /// The functions this worker serves.
    pub fn definitions(&self) -> &[FunctionDefinition] {
        &self.functions
    }

    /// Serves until the host sends `WorkerTerminate` or ends the stream (then `Ok`), or the
    /// connection breaks (then `Err`). Installs the default log subscriber if the process has
    /// none, so function logs reach the host.
    pub async fn run(self) -> Result<(), WorkerError> {
        let mut errors: Vec<MetadataError> = Vec::new();
        for (i, f) in self.functions.iter().enumerate() {
            if let Err(problems) = f.metadata.validate() {
                errors.extend(problems);
            }
            if let Some(first) = self.functions[..i]
                .iter()
                .find(|other| other.metadata.name.eq_ignore_ascii_case(&f.metadata.name))
            {
                errors.push(duplicate_name_error(
                    &f.metadata.name,
                    &format!("function `{}`", first.metadata.name),
                ));
            }
        }
        if !errors.is_empty() {
            return Err(WorkerError::InvalidFunctions(errors));
        }
        install_default_subscriber();
        panic::install_hook();
        session::run(
            self.args,
            self.functions,
            self.shutdown_grace,
            self.reload,
            self.runtime,
            self.shared_memory,
        )
        .await
    }
}

/// The entry point of a worker built with the attribute macros: `fn main() -> ExitCode { fnwire::run() }`.
///
/// Reads the host's arguments, collects and validates the declared functions, and serves them on a
/// multi-threaded tokio runtime. Exits 0 when the host stops the worker; otherwise prints why on
/// stderr (which the host logs) and exits non-zero.
pub fn run() -> std::process::ExitCode {
    use std::process::ExitCode;
    let args = match WorkerArgs::from_env() {
        Ok(args) => args,
        Err(e) => {
            eprintln!("fnwire: {e}");
            return ExitCode::from(2);
        }
    };
    let worker = match Worker::from_registrations(args) {
        Ok(worker) => worker,
        Err(errors) => {
            eprintln!("fnwire: {} problem(s) in the declared functions; fix them and rebuild:", errors.len());
            for e in errors {
                eprintln!("  {e}");
            }
            return ExitCode::from(3);
        }
    };
    if worker.functions.is_empty() {
        eprintln!(
            "fnwire: no functions are declared. Annotate functions with an fnwire trigger attribute such as \
             #[fnwire::http_trigger] in this binary, then rebuild"
        );
        return ExitCode::from(3);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("fnwire: could not start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    install_default_subscriber();
    let result = worker.run_on(&runtime);
    // A synchronous function stuck past the grace period must not keep the process alive: the
    // host already has its answer ("cancelled") and waits for this process to exit.
    runtime.shutdown_timeout(Duration::from_millis(500));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fnwire: {e}");
            ExitCode::FAILURE
        }
    }
}

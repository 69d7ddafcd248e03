//! Functions that appear when a placeholder worker is specialized.
//!
//! A host may start a worker before the app exists (placeholder mode) and later send
//! `FunctionEnvironmentReloadRequest` with the app's directory. Workers whose functions are
//! compiled in need nothing; language layers that load the app at run time (Node, Python) set an
//! [`AppReload`] hook that loads it and returns its functions.

use std::fmt;
use std::path::Path;
use std::sync::Arc;

use super::FunctionDefinition;

type LoadFn = dyn Fn(&Path) -> Result<Vec<FunctionDefinition>, String> + Send + Sync;

/// Loads the app in a directory and returns its functions; the error says why it could not.
/// Runs on a runtime thread and may block (it is the only thing the worker does then).
#[derive(Clone)]
pub struct AppReload(Arc<LoadFn>);

impl AppReload {
    /// The hook: `load` gets the app directory the host named.
    pub fn new(
        load: impl Fn(&Path) -> Result<Vec<FunctionDefinition>, String> + Send + Sync + 'static,
    ) -> Self {
        AppReload(Arc::new(load))
    }

    /// Runs the hook without stalling other tasks on a multi-threaded runtime.
    pub(crate) fn load(&self, app_dir: &Path) -> Result<Vec<FunctionDefinition>, String> {
        let load = &self.0;
        match tokio::runtime::Handle::try_current().map(|h| h.runtime_flavor()) {
            Ok(tokio::runtime::RuntimeFlavor::MultiThread) => tokio::task::block_in_place(|| load(app_dir)),
            _ => load(app_dir),
        }
    }
}

impl fmt::Debug for AppReload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AppReload(..)")
    }
}

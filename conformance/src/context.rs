//! The state the scenarios of one run share: the host, the main worker (started on first use
//! and restarted if it died), a second worker, a worker specialized by an environment reload,
//! and what indexing and loading returned on each. The runner creates it; the scenarios
//! (`builtin`) use it.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use fnwire_host::app::{self, WorkerLaunch};
use fnwire_host::channel::{Expect, capability};
use fnwire_host::http::request::HttpCapabilities;
use fnwire_host::lifecycle::{IndexedFunction, from_worker_metadata, read_function_json_dir};
use fnwire_protocol::rpc::streaming_message::Content;
use fnwire_protocol::rpc::{
    FunctionLoadRequest, FunctionLoadRequestCollection, FunctionMetadataResponse, FunctionsMetadataRequest,
    StatusResult, status_result,
};

use crate::session::{Host, StartFailure, Timeouts, Worker};

/// Per function name: its id when loaded, else why it cannot be invoked.
pub type Loaded = HashMap<String, Result<String, String>>;

/// What indexing returned on one worker.
#[derive(Debug)]
pub struct Index {
    pub response: FunctionMetadataResponse,
    /// Function name → id, as indexed.
    pub ids: BTreeMap<String, String>,
    /// The functions as a host keeps them (for load requests).
    pub functions: Vec<IndexedFunction>,
}

/// A worker plus what has been done with it.
#[derive(Debug)]
struct Session {
    worker: Arc<Worker>,
    index: Option<Result<Arc<Index>, String>>,
    /// Per function name: `Ok` when loaded, else why not.
    loaded: Option<Result<Arc<Loaded>, String>>,
    /// Capabilities after an environment reload (init capabilities merged with the reload's).
    capabilities: HashMap<String, String>,
}

impl Session {
    fn new(worker: Worker) -> Self {
        let capabilities = worker.init.capabilities.clone();
        Session { worker: Arc::new(worker), index: None, loaded: None, capabilities }
    }

    fn http_caps(&self) -> HttpCapabilities {
        HttpCapabilities::from_capabilities(&self.capabilities)
    }

    fn has(&self, name: &str) -> bool {
        self.capabilities.get(name).is_some_and(|v| !v.is_empty())
    }
}

/// The state shared by the scenarios of one run.
pub struct Ctx {
    host: Host,
    launch: WorkerLaunch,
    main: Option<Session>,
    main_failure: Option<Arc<StartFailure>>,
    main_starts: usize,
    second: Option<Result<Session, String>>,
    reload: Option<Result<Session, String>>,
    placeholder_dir: Option<tempfile::TempDir>,
}

impl std::fmt::Debug for Ctx {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Ctx").field("launch", &self.launch).finish_non_exhaustive()
    }
}

pub const LAUNCH_ONLY_VARIABLE: &str = "FNWIRE_CONFORMANCE_LAUNCH_ONLY";
pub const RELOADED_VARIABLE: &str = "FNWIRE_CONFORMANCE_RELOADED";
pub const RELOADED_VALUE: &str = "reloaded: ✓ 日本";

impl Ctx {
    /// A context for one run: the host and the launch every worker of the run uses.
    pub fn new(host: Host, launch: WorkerLaunch) -> Self {
        Ctx {
            host,
            launch,
            main: None,
            main_failure: None,
            main_starts: 0,
            second: None,
            reload: None,
            placeholder_dir: None,
        }
    }

    pub fn timeouts(&self) -> Timeouts {
        self.host.timeouts
    }

    pub fn launch(&self) -> &WorkerLaunch {
        &self.launch
    }

    /// The main worker: started on first use, and restarted if it died.
    async fn main_session(&mut self) -> Result<&mut Session, String> {
        if let Some(session) = &self.main
            && !session.worker.is_alive()
        {
            tracing::warn!("the main worker is gone ({:?}); starting a new one", session.worker.exit_text());
            if let Some(s) = self.main.take() {
                stop(s.worker).await;
            }
        }
        if self.main.is_none() {
            if let Some(failure) = &self.main_failure {
                return Err(format!("the worker could not be started: {failure}"));
            }
            self.main_starts += 1;
            let label =
                if self.main_starts == 1 { "main".to_string() } else { format!("main-{}", self.main_starts) };
            match self.host.start_worker(&label, &self.launch).await {
                Ok(worker) => self.main = Some(Session::new(worker)),
                Err(failure) => {
                    let failure = Arc::new(failure);
                    self.main_failure = Some(failure.clone());
                    return Err(format!("the worker could not be started: {failure}"));
                }
            }
        }
        Ok(self.main.as_mut().expect("just started"))
    }

    /// Starts the main worker (if needed) and returns the result of that start.
    pub async fn main_start(&mut self) -> Result<Arc<Worker>, Arc<StartFailure>> {
        match self.main_session().await {
            Ok(s) => Ok(s.worker.clone()),
            Err(_) => Err(self.main_failure.clone().expect("a failed start is recorded")),
        }
    }

    pub async fn main_worker(&mut self) -> Result<Arc<Worker>, String> {
        self.main_session().await.map(|s| s.worker.clone())
    }

    pub async fn main_caps(&mut self) -> Result<(HttpCapabilities, HashMap<String, String>), String> {
        self.main_session().await.map(|s| (s.http_caps(), s.capabilities.clone()))
    }

    pub async fn main_index(&mut self) -> Result<Arc<Index>, String> {
        let app_dir = self.launch.app_dir.clone();
        let language = self.launch.language.clone();
        let session = self.main_session().await?;
        if session.index.is_none() {
            session.index = Some(index(&session.worker, &app_dir, &language).await.map(Arc::new));
        }
        session.index.clone().expect("just indexed")
    }

    /// Indexes and loads the main worker's functions (as a host does) once; returns each
    /// function's id, or why it cannot be invoked.
    pub async fn main_loaded(&mut self) -> Result<Arc<Loaded>, String> {
        let index = self.main_index().await.map_err(|e| format!("indexing failed: {e}"))?;
        let session = self.main_session().await?;
        if session.loaded.is_none() {
            session.loaded = Some(load_as_host(session, &index).await.map(Arc::new));
        }
        session.loaded.clone().expect("just loaded")
    }

    /// Marks the main worker's functions as loaded (by a load scenario).
    pub fn set_main_loaded(&mut self, loaded: Loaded) {
        if let Some(session) = &mut self.main {
            session.loaded = Some(Ok(Arc::new(loaded)));
        }
    }

    /// The second worker process: started and indexed once.
    pub async fn second(&mut self) -> Result<(Arc<Worker>, Arc<Index>), String> {
        if self.second.is_none() {
            let started = match self.host.start_worker("second", &self.launch).await {
                Ok(worker) => {
                    let mut session = Session::new(worker);
                    let indexed = index(&session.worker, &self.launch.app_dir, &self.launch.language).await;
                    match indexed {
                        Ok(i) => {
                            session.index = Some(Ok(Arc::new(i)));
                            Ok(session)
                        }
                        Err(e) => Err(format!("the second worker's indexing failed: {e}")),
                    }
                }
                Err(failure) => Err(format!("a second worker process could not be started: {failure}")),
            };
            self.second = Some(started);
        }
        match self.second.as_ref().expect("just set") {
            Ok(s) => {
                let index = s.index.clone().expect("indexed at start").map_err(|e| e.to_string())?;
                Ok((s.worker.clone(), index))
            }
            Err(e) => Err(e.clone()),
        }
    }

    pub fn second_has(&self, capability: &str) -> bool {
        matches!(&self.second, Some(Ok(s)) if s.has(capability))
    }

    /// Drops the second worker (after it was asked to terminate).
    pub fn forget_second(&mut self) -> Option<Arc<Worker>> {
        match self.second.take() {
            Some(Ok(s)) => Some(s.worker),
            _ => None,
        }
    }

    /// The placeholder-mode worker: started for an empty app directory, then specialized with
    /// FunctionEnvironmentReloadRequest, indexed and loaded. Done once.
    pub async fn reloaded(&mut self) -> Result<(Arc<Worker>, HttpCapabilities, Arc<Loaded>), String> {
        if self.reload.is_none() {
            let result = self.specialize().await;
            self.reload = Some(result);
        }
        match self.reload.as_ref().expect("just set") {
            Ok(s) => {
                let loaded = s.loaded.clone().expect("loaded during specialization")?;
                Ok((s.worker.clone(), s.http_caps(), loaded))
            }
            Err(e) => Err(e.clone()),
        }
    }

    async fn specialize(&mut self) -> Result<Session, String> {
        let placeholder = tempfile::Builder::new()
            .prefix("fnwire-conformance-placeholder-")
            .tempdir()
            .map_err(|e| format!("cannot create a placeholder app directory: {e}"))?;
        let mut launch = self.launch.clone();
        launch.app_dir = placeholder.path().to_path_buf();
        launch.env.insert(LAUNCH_ONLY_VARIABLE.into(), "present before the reload".into());
        self.placeholder_dir = Some(placeholder);
        let worker = self
            .host
            .start_worker("reload", &launch)
            .await
            .map_err(|f| format!("the placeholder worker could not be started: {f}"))?;
        let mut session = Session::new(worker);
        let mut environment: HashMap<String, String> = std::env::vars().collect();
        environment.extend(self.launch.env.clone());
        environment.extend(app::host_env(
            &self.launch.worker_dir,
            &self.launch.app_dir,
            &self.launch.language,
        ));
        environment.insert(RELOADED_VARIABLE.into(), RELOADED_VALUE.into());
        environment.remove(LAUNCH_ONLY_VARIABLE);
        let request = fnwire_protocol::rpc::FunctionEnvironmentReloadRequest {
            environment_variables: environment,
            function_app_directory: self.launch.app_dir.display().to_string(),
        };
        let reply = session
            .worker
            .request(
                Content::FunctionEnvironmentReloadRequest(request),
                Expect::FunctionEnvironmentReloadResponse,
            )
            .await?;
        let Some(Content::FunctionEnvironmentReloadResponse(response)) = reply.content else {
            return Err("expected FunctionEnvironmentReloadResponse".into());
        };
        check_success("FunctionEnvironmentReloadRequest", response.result.as_ref())?;
        use fnwire_protocol::rpc::function_environment_reload_response::CapabilitiesUpdateStrategy;
        if response.capabilities_update_strategy == CapabilitiesUpdateStrategy::Replace as i32 {
            session.capabilities = response.capabilities.clone();
        } else {
            session.capabilities.extend(response.capabilities.clone());
        }
        let index = index(&session.worker, &self.launch.app_dir, &self.launch.language)
            .await
            .map_err(|e| format!("after the reload, indexing failed: {e}"))?;
        let loaded = load_as_host(&session, &index).await.map_err(|e| format!("after the reload, {e}"))?;
        session.index = Some(Ok(Arc::new(index)));
        session.loaded = Some(Ok(Arc::new(loaded)));
        Ok(session)
    }

    /// Takes the placeholder-mode worker out (to end its stream).
    pub fn take_reload_worker(&mut self) -> Option<Arc<Worker>> {
        match self.reload.take() {
            Some(Ok(s)) => Some(s.worker),
            _ => None,
        }
    }

    /// Starts a worker just to be stopped.
    pub async fn throwaway_worker(&self, label: &str) -> Result<Worker, String> {
        self.host
            .start_worker(label, &self.launch)
            .await
            .map_err(|f| format!("a worker could not be started: {f}"))
    }

    /// Stops every worker still running.
    pub async fn shutdown(&mut self) {
        let mut workers = Vec::new();
        if let Some(s) = self.main.take() {
            workers.push(s.worker);
        }
        if let Some(Ok(s)) = self.second.take() {
            workers.push(s.worker);
        }
        if let Some(Ok(s)) = self.reload.take() {
            workers.push(s.worker);
        }
        futures::future::join_all(workers.into_iter().map(stop)).await;
    }
}

fn check_success(what: &str, result: Option<&StatusResult>) -> Result<(), String> {
    match result {
        Some(r) if r.status == status_result::Status::Success as i32 => Ok(()),
        Some(r) => Err(format!(
            "expected {what} to be answered with Success, received {}{}",
            fnwire_host::channel::status_name(r.status),
            r.exception.as_ref().map(|e| format!(": {}", e.message)).unwrap_or_default()
        )),
        None => Err(format!(
            "expected {what} to be answered with Success, received no result (Failure on the wire)"
        )),
    }
}

/// `FunctionsMetadataRequest` → the index.
pub async fn index(worker: &Worker, app_dir: &Path, language: &str) -> Result<Index, String> {
    let reply = worker
        .request(
            Content::FunctionsMetadataRequest(FunctionsMetadataRequest {
                function_app_directory: app_dir.display().to_string(),
            }),
            Expect::FunctionMetadataResponse,
        )
        .await?;
    let Some(Content::FunctionMetadataResponse(mut response)) = reply.content else {
        return Err("expected FunctionMetadataResponse".into());
    };
    check_success("FunctionsMetadataRequest", response.result.as_ref())?;
    let functions: Vec<IndexedFunction> = if response.use_default_metadata_indexing {
        host_index(app_dir, language, &mut response)?
    } else {
        response
            .function_metadata_results
            .iter()
            .map(|rpc| from_worker_metadata(rpc.clone(), language))
            .collect()
    };
    let ids =
        response.function_metadata_results.iter().map(|f| (f.name.clone(), f.function_id.clone())).collect();
    Ok(Index { response, ids, functions })
}

/// A worker that declines to index (function.json apps) is indexed as a host does it: from
/// `<app>/<function>/function.json`, with the load metadata `fnwire start` sends. The functions
/// stand in the response, so the indexing scenarios check the function.json files.
fn host_index(
    app_dir: &Path,
    language: &str,
    response: &mut FunctionMetadataResponse,
) -> Result<Vec<IndexedFunction>, String> {
    let functions = read_function_json_dir(app_dir, language).map_err(|e| {
        format!("the worker asked for host indexing (use_default_metadata_indexing = true): {e}")
    })?;
    let problems: Vec<String> = functions
        .iter()
        .filter_map(|f| f.error.as_ref().map(|e| format!("`{}`: {e}", f.metadata.name)))
        .collect();
    if !problems.is_empty() {
        return Err(format!(
            "the worker asked for host indexing (use_default_metadata_indexing = true), and these function.json \
             files cannot run: {}",
            problems.join("; ")
        ));
    }
    response.function_metadata_results = functions.iter().map(|f| f.rpc.clone()).collect();
    Ok(functions)
}

/// The load requests a host sends for indexed functions.
pub fn load_requests(index: &Index) -> Vec<FunctionLoadRequest> {
    index
        .functions
        .iter()
        .map(|f| FunctionLoadRequest {
            function_id: f.function_id.clone(),
            metadata: Some(f.rpc.clone()),
            managed_dependency_enabled: false,
        })
        .collect()
}

/// Loads like a host: one collection if the worker declared it, else one request per function.
async fn load_as_host(session: &Session, index: &Index) -> Result<Loaded, String> {
    let requests = load_requests(index);
    let responses = if session.has(capability::SUPPORTS_LOAD_RESPONSE_COLLECTION) {
        let reply = session
            .worker
            .request(
                Content::FunctionLoadRequestCollection(FunctionLoadRequestCollection {
                    function_load_requests: requests,
                }),
                Expect::FunctionLoadResponseCollection,
            )
            .await
            .map_err(|e| format!("loading failed: {e}"))?;
        match reply.content {
            Some(Content::FunctionLoadResponseCollection(c)) => c.function_load_responses,
            _ => Vec::new(),
        }
    } else {
        let replies = requests.into_iter().map(|r| {
            let expect = Expect::FunctionLoadResponse { function_id: r.function_id.clone() };
            session.worker.request(Content::FunctionLoadRequest(r), expect)
        });
        let mut out = Vec::new();
        for reply in futures::future::join_all(replies).await {
            if let Some(Content::FunctionLoadResponse(r)) =
                reply.map_err(|e| format!("loading failed: {e}"))?.content
            {
                out.push(r);
            }
        }
        out
    };
    let mut loaded = HashMap::new();
    for (name, id) in &index.ids {
        let state = match responses.iter().find(|r| &r.function_id == id) {
            None => Err(format!("function `{name}` got no FunctionLoadResponse")),
            Some(r) => check_success(&format!("the load of `{name}`"), r.result.as_ref()).map(|_| id.clone()),
        };
        loaded.insert(name.clone(), state);
    }
    Ok(loaded)
}

/// Ends a worker: WorkerTerminate if declared, else end the stream; kill after 5 s.
pub async fn stop(worker: Arc<Worker>) {
    const GRACE: Duration = Duration::from_secs(5);
    if worker.process.exit_status().is_some() {
        return;
    }
    if !worker.channel.terminate(GRACE) {
        worker.channel.close_stream();
    }
    if worker.process.wait_timeout(GRACE).await.is_none() {
        // If someone still holds it, dropping the last reference kills the process.
        if let Ok(mut w) = Arc::try_unwrap(worker) {
            w.process.kill().await;
        }
    }
}

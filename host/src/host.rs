//! `fnwire start`: detect the app, start its worker, serve HTTP, stop cleanly.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::app::{self, AppError, DetectOptions};
use crate::config::{ConfigError, read_host_json};
use crate::console::{FunctionRow, function_table, trigger_type};
use crate::grpc::GrpcServer;
use crate::http::{self as http_front, Availability, HttpCapabilities, HttpFunction, HttpState, ReadyApp};
use crate::invoke::Pipeline;
use crate::keys::KeysError;
use crate::lifecycle::IndexedFunction;
use crate::lifecycle::StartupError;
use crate::routes::{Route, RouteTable, RouteTemplate, RoutesError, parse_methods};
use crate::supervisor::{SupervisorOptions, WorkerPool};
use crate::triggers::TriggerError;

/// Why `fnwire start` could not start the app. Each variant's message says what to fix.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("`{}` is not a directory: pass the function app's directory to `fnwire start`", .0.display())]
    NotADirectory(PathBuf),
    #[error(
        "could not listen on {host}:{port}; is another program using it, or is {host} not an address of this \
         machine? Pass another port with --port or another address with --host"
    )]
    Listen {
        host: std::net::IpAddr,
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "could not listen on {host}:{port} for the dashboard (--dashboard-port); is another program using it? \
         Pass another port with --dashboard-port, or leave it out to serve the dashboard on the app's port"
    )]
    DashboardListen {
        host: std::net::IpAddr,
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "--dashboard-port {0} is also the app's port (--port); pass another port, or leave --dashboard-port out \
         to serve the dashboard on the app's port at /admin/ui"
    )]
    DashboardPortIsAppPort(u16),
    #[error("could not start the gRPC server for the worker on 127.0.0.1")]
    Grpc(#[source] std::io::Error),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    App(#[from] AppError),
    #[error(transparent)]
    Keys(#[from] KeysError),
    #[error(transparent)]
    Startup(#[from] StartupError),
    #[error(transparent)]
    Routes(#[from] RoutesError),
    #[error(transparent)]
    Triggers(#[from] TriggerError),
    #[error(transparent)]
    Durable(#[from] crate::durable::DurableError),
    #[error(transparent)]
    Expressions(#[from] crate::bindings::InvalidExpressions),
    #[error(transparent)]
    Watch(#[from] crate::watch::WatchError),
    /// The supervisor stopped restarting the worker; the host exits so that whatever runs it
    /// (systemd, Kubernetes, a shell loop) notices and starts it again.
    #[error(transparent)]
    Traces(#[from] fnwire_telemetry::traces::TraceExportError),
    #[error("fnwire is exiting because its worker kept failing: {0}")]
    WorkersGaveUp(String),
}

/// Options of `fnwire start`.
#[derive(Debug, Clone)]
pub struct StartOptions {
    pub app_dir: PathBuf,
    /// The address the HTTP server listens on (`--host`; 0.0.0.0 in a container).
    pub host: std::net::IpAddr,
    pub port: u16,
    /// How long in-flight invocations may run on after SIGTERM or Ctrl-C (`--drain-timeout`).
    pub drain_timeout: std::time::Duration,
    /// Build Cargo apps with `--release`.
    pub release: bool,
    /// Listener limits from the command line (over `host.json`'s `extensions.fnwire`).
    pub limits: crate::http::limits::LimitOverrides,
    /// Rebuild and reload the worker when the app's sources change (`--watch`).
    pub watch: bool,
    /// The dashboard's settings from the command line; `None` serves no dashboard
    /// (`--no-dashboard`).
    pub dashboard: Option<DashboardOptions>,
}

/// Command-line settings of the dashboard (over `host.json`'s `extensions.fnwire.dashboard`).
#[derive(Debug, Clone, Default)]
pub struct DashboardOptions {
    /// `--dashboard-history`: invocations kept per function.
    pub history_per_function: Option<usize>,
    /// `--dashboard-port`: serve the dashboard on this port (same address) instead of the app's.
    pub port: Option<u16>,
}

/// The dashboard's history size: the flag, else `host.json`, else the default.
fn dashboard_history(app_dir: &Path, options: &DashboardOptions) -> Result<usize, StartError> {
    if let Some(n) = options.history_per_function {
        return Ok(n);
    }
    let setting = fnwire_dashboard::history_setting(&read_host_json(app_dir)?)
        .map_err(|message| ConfigError::HostJsonValue { path: app_dir.join("host.json"), message })?;
    Ok(setting.unwrap_or(fnwire_dashboard::DEFAULT_HISTORY_PER_FUNCTION))
}

/// Reads `extensions.http.routePrefix` from `host.json` (default `api`).
pub fn read_route_prefix(app_dir: &Path) -> Result<String, ConfigError> {
    let doc = read_host_json(app_dir)?;
    match doc.pointer("/extensions/http/routePrefix") {
        None | Some(serde_json::Value::Null) => Ok("api".into()),
        Some(serde_json::Value::String(s)) => Ok(s.trim_matches('/').to_string()),
        Some(other) => Err(ConfigError::HostJsonValue {
            path: app_dir.join("host.json"),
            message: format!("extensions.http.routePrefix must be a string, found `{other}`"),
        }),
    }
}

/// Whether a function has bindings the app's store serves: anything besides its HTTP trigger
/// and `http` output (blobs, queues, the durable client).
fn needs_store(metadata: &fnwire_metadata::FunctionMetadata) -> bool {
    metadata.bindings.iter().any(|b| {
        !b.binding_type.eq_ignore_ascii_case("httpTrigger") && !b.binding_type.eq_ignore_ascii_case("http")
    })
}

/// Builds the route table and HTTP function list. A bad route template or a route used twice
/// is an error naming the function.
pub fn http_functions(
    functions: &[IndexedFunction],
) -> Result<(RouteTable, HashMap<String, HttpFunction>), RoutesError> {
    let mut routes = RouteTable::new();
    let mut by_name = HashMap::new();
    for f in functions {
        let Some(trigger) = f.metadata.trigger() else { continue };
        if !trigger.binding_type.eq_ignore_ascii_case("httpTrigger") {
            continue;
        }
        let name = &f.metadata.name;
        let route_text = trigger.str_property("route").unwrap_or(name);
        let function = || name.clone();
        let template = RouteTemplate::parse(route_text)
            .map_err(|error| RoutesError::Template { function: function(), error })?;
        let methods = parse_methods(trigger.properties.get("methods"))
            .map_err(|error| RoutesError::Methods { function: function(), error })?;
        routes.add(Route { function_name: name.clone(), template, methods })?;
        let auth_level = crate::keys::AuthLevel::parse(trigger.str_property("authLevel"))
            .map_err(|error| RoutesError::AuthLevel { function: function(), error })?;
        let http_output = f
            .metadata
            .bindings
            .iter()
            .find(|b| {
                b.binding_type.eq_ignore_ascii_case("http") && b.direction != fnwire_metadata::Direction::In
            })
            .map(|b| b.name.clone());
        by_name.insert(
            name.clone(),
            HttpFunction {
                name: name.clone(),
                function_id: f.function_id.clone(),
                trigger_name: trigger.name.clone(),
                http_output,
                error: f.error.clone(),
                auth_level,
                needs_store: needs_store(&f.metadata),
            },
        );
    }
    Ok((routes, by_name))
}

/// The origin (`http://address:port`) the start-up table and the durable API's URLs use: the
/// address the host listens on, or, when it listens on every interface (`0.0.0.0`, `::`), the
/// loopback, which reaches it from this machine (other machines use one of its addresses; see
/// [`every_interface_note`]).
pub fn public_origin(host: std::net::IpAddr, port: u16) -> String {
    use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
    let shown = match host {
        IpAddr::V4(a) if a.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(a) if a.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        other => other,
    };
    match shown {
        IpAddr::V4(a) => format!("http://{a}:{port}"),
        IpAddr::V6(a) => format!("http://[{a}]:{port}"),
    }
}

/// For a host listening on every interface: a console line saying so, with how other machines
/// reach it (the machine's name, which a container's or pod's network resolves).
pub fn every_interface_note(host: std::net::IpAddr, port: u16) -> Option<String> {
    if !host.is_unspecified() {
        return None;
    }
    let name = std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    let elsewhere = match name {
        Some(name) => format!("http://{name}:{port}/… or any address of this machine"),
        None => format!("any address of this machine on port {port}"),
    };
    let shown = match host {
        std::net::IpAddr::V6(a) => format!("[{a}]:{port}"),
        std::net::IpAddr::V4(a) => format!("{a}:{port}"),
    };
    Some(format!(
        "Listening on every interface ({shown}): the URLs below work from this machine; from others use {elsewhere}"
    ))
}

/// The rows of the start-up table; `origin` is [`public_origin`]'s.
pub fn function_rows(
    functions: &[IndexedFunction],
    routes: &RouteTable,
    origin: &str,
    prefix: &str,
) -> Vec<FunctionRow> {
    let mut rows = functions
        .iter()
        .map(|f| {
            let trigger = trigger_type(f);
            let route = routes.routes().iter().find(|r| r.function_name == f.metadata.name);
            let (methods, target) = match route {
                Some(r) => {
                    let methods = r
                        .methods
                        .as_ref()
                        .map(|ms| ms.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(","))
                        .unwrap_or_default();
                    let path = [prefix, r.template.as_str()]
                        .iter()
                        .filter(|s| !s.is_empty())
                        .copied()
                        .collect::<Vec<_>>()
                        .join("/");
                    let level = f.metadata.trigger().and_then(|t| t.str_property("authLevel"));
                    let key = match crate::keys::AuthLevel::parse(level) {
                        Ok(crate::keys::AuthLevel::Anonymous) => String::new(),
                        Ok(l) => format!("  [{} key required]", l.as_str()),
                        Err(_) => String::new(),
                    };
                    (methods, format!("{origin}/{path}{key}"))
                }
                None => (String::new(), trigger.clone()),
            };
            FunctionRow { name: f.metadata.name.clone(), trigger, methods, target, error: f.error.clone() }
        })
        .collect::<Vec<_>>();
    // HTTP functions first (they are what a user calls), each group by name.
    rows.sort_by(|a, b| {
        (!a.target.starts_with("http"), &a.name).cmp(&(!b.target.starts_with("http"), &b.name))
    });
    rows
}

/// Completes when Ctrl-C or SIGTERM arrives.
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!("cannot listen for SIGTERM ({e}); only Ctrl-C stops fnwire");
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

struct Running {
    workers: Arc<WorkerPool>,
    // Kept alive for as long as the workers' streams are served.
    _server: Arc<GrpcServer>,
    // Timer and queue listeners; they stop when this is dropped.
    triggers: crate::triggers::RunningTriggers,
    // The durable dispatchers and API listener; they stop when this is dropped.
    _durable: Option<crate::durable::RunningDurable>,
    // `--watch`: stops watching when dropped.
    _watch: Option<crate::watch::AppWatch>,
    // `--watch`: the HTTP routes follow reloads until dropped.
    _routes: Option<crate::watch::RouteFollower>,
    /// Its live feeds end when the host stops, so the HTTP drain does not wait for them.
    dashboard: Option<Arc<fnwire_dashboard::Dashboard>>,
}

/// Counts every worker that stopped unexpectedly in `metrics`, for as long as the pool runs.
fn count_worker_restarts(workers: &WorkerPool, metrics: &Arc<fnwire_telemetry::metrics::Metrics>) {
    let mut events = workers.subscribe();
    let metrics = metrics.clone();
    tokio::spawn(async move {
        use tokio::sync::broadcast::error::RecvError;
        loop {
            match events.recv().await {
                Ok(crate::supervisor::WorkerEvent::WorkerExited { .. }) => metrics.worker_restarted(),
                Ok(_) | Err(RecvError::Lagged(_)) => {}
                Err(RecvError::Closed) => return,
            }
        }
    });
}

async fn start_app(
    options: &StartOptions,
    state: &Arc<HttpState>,
    stop: &crate::drain::StopSignal,
    traces: Option<&fnwire_telemetry::traces::TraceExport>,
) -> Result<Running, StartError> {
    let detected = app::detect(&options.app_dir, DetectOptions { release: options.release }).await?;
    let (launch, kind) = (detected.launch, detected.kind);
    let server = Arc::new(GrpcServer::start_with_limits(state.limits()).await.map_err(StartError::Grpc)?);
    // Workers on fnwire's runtime prove the per-launch secret; others (Microsoft's among them)
    // are accepted on their worker id alone.
    server.require_worker_secret(crate::lifecycle::speaks_worker_secret(detected.kind, &options.app_dir));
    let keys = Arc::new(crate::keys::load_or_create(&options.app_dir, &launch.env)?);
    state.health.set_keys(keys.clone());
    let process_count = crate::supervisor::read_process_count(&launch.env)?;
    let function_timeout = crate::timeout::read_function_timeout(&options.app_dir)?;
    let embedded = crate::triggers::Embedded::open(&options.app_dir, &launch.env)?;
    let probed = embedded.store.clone();
    let store_kind =
        if crate::triggers::backend::postgres_url(&launch.env).is_some() { "postgresql" } else { "sqlite" };
    state
        .health
        .set_store(store_kind, Arc::new(move || probed.list_queues().map(drop).map_err(|e| e.to_string())));
    let mut supervisor_options = SupervisorOptions::new(process_count, function_timeout);
    crate::supervisor::read_health_settings(&launch.env, &mut supervisor_options)?;
    crate::supervisor::read_supervision_settings(
        &read_host_json(&options.app_dir)?,
        &mut supervisor_options,
    )?;
    tracing::info!("starting the worker: {}", launch.program.display());
    let env = launch.env.clone();
    let (workers, functions) = WorkerPool::start(server.clone(), launch, supervisor_options).await?;
    if process_count > 1 {
        tracing::info!(
            "running {process_count} worker processes ({})",
            crate::supervisor::PROCESS_COUNT_SETTING
        );
    }
    let (routes, http_functions) = http_functions(&functions)?;
    let mut trigger_plan = crate::triggers::TriggerPlan::new(&functions, embedded.queue_options.clone())?;
    trigger_plan.service_bus_options =
        crate::triggers::service_bus::ServiceBusOptions::read(&options.app_dir)?;
    crate::triggers::service_bus::apply_declarations(
        &options.app_dir,
        embedded.store.as_ref(),
        &trigger_plan.service_bus,
        &functions,
    )
    .map_err(TriggerError::from)?;
    let rabbitmq =
        crate::triggers::rabbitmq::RabbitPlan::new(&read_host_json(&options.app_dir)?, &env, &functions)
            .map_err(crate::triggers::TriggerError::from)?;
    let origin = public_origin(options.host, options.port);
    let mut rows = function_rows(&functions, &routes, &origin, state.route_prefix());
    let durable_plan = crate::durable::DurablePlan::new(&functions);
    let mut descriptions = trigger_plan.descriptions();
    descriptions.extend(durable_plan.descriptions());
    descriptions.extend(rabbitmq.descriptions());
    for row in &mut rows {
        if let Some(d) = descriptions.get(&row.name) {
            row.target = d.clone();
        }
    }
    let bindings = Arc::new(crate::bindings::AppBindings::new(
        embedded.store.clone(),
        embedded.blobs.clone(),
        &functions,
    )?);
    crate::triggers::backend::wake_on_new_messages(&env, &bindings);
    if let Some(note) = every_interface_note(options.host, options.port) {
        crate::console::print_console(&format!("{note}\n"));
    }
    crate::console::print_console(&format!("{}\n", function_table(&rows)));
    let capabilities = HttpCapabilities::from_capabilities(&workers.capabilities());
    let metrics = Arc::new(fnwire_telemetry::metrics::Metrics::new());
    count_worker_restarts(&workers, &metrics);
    state.metrics.set(crate::http::admin_metrics::MetricsSource {
        metrics: metrics.clone(),
        keys: keys.clone(),
        store: embedded.store.clone(),
    });
    let history = match &options.dashboard {
        Some(dashboard) => {
            Some(fnwire_dashboard::History::new(dashboard_history(&options.app_dir, dashboard)?))
        }
        None => None,
    };
    let mut observers = fnwire_observe::Observers::default().with(metrics);
    if let Some(traces) = traces {
        let triggers =
            functions.iter().map(|f| (f.metadata.name.clone(), crate::console::trigger_type(f))).collect();
        observers = observers.with(traces.observer(triggers));
    }
    if let Some(history) = &history {
        observers = observers.with(history.clone());
    }
    let mut pipeline = Pipeline::new(workers.clone(), Some(bindings.clone()))
        .with_rabbitmq_outputs(rabbitmq.outputs.clone())
        .with_observers(observers);
    let durable = if durable_plan.is_empty() {
        None
    } else {
        let (with_client, hub, api, listener) =
            crate::durable::prepare(&options.app_dir, &env, &durable_plan, &origin, pipeline).await?;
        pipeline = with_client;
        Some(crate::durable::start_engine(
            &options.app_dir,
            durable_plan,
            pipeline.clone(),
            hub,
            api,
            listener,
        )?)
    };
    let dashboard = history.map(|history| {
        let timers = trigger_plan.timers.iter().map(|t| (t.name.clone(), t.schedule.clone())).collect();
        let sources = crate::dashboard::HostSources::new(&rows, &functions, timers, &workers);
        let durable = durable
            .as_ref()
            .map(|d| fnwire_dashboard::DurableSource { engine: d.engine.clone(), api: d.api.clone() });
        Arc::new(fnwire_dashboard::Dashboard::new(
            history,
            Arc::new(sources),
            Some(embedded.store.clone()),
            durable,
        ))
    });
    let dashboard_port = options.dashboard.as_ref().and_then(|d| d.port);
    if dashboard.is_some() {
        let origin = match dashboard_port {
            Some(port) => public_origin(options.host, port),
            None => origin.clone(),
        };
        let key_note = if options.host.is_loopback() {
            String::new()
        } else {
            " (add ?code=<master key>; `fnwire keys` prints it)".to_string()
        };
        crate::console::print_console(&format!(
            "Dashboard: {origin}{}{key_note}\n\n",
            fnwire_dashboard::UI_PATH
        ));
    }
    state.set(Availability::Ready(Arc::new(ReadyApp {
        pipeline: pipeline.clone(),
        keys,
        routes,
        functions: http_functions,
        capabilities,
        durable: durable.as_ref().map(crate::durable::RunningDurable::api),
        dashboard: dashboard.clone().map(|dashboard| crate::http::DashboardRoutes {
            dashboard,
            requires_key: !options.host.is_loopback(),
            own_port: dashboard_port
                .map(|dashboard| crate::http::DashboardPorts { dashboard, app: options.port }),
        }),
    })));
    let rabbitmq_listeners = rabbitmq.start(pipeline.clone(), stop);
    let mut triggers = trigger_plan.start(embedded.store, pipeline, &bindings, stop);
    triggers.add(rabbitmq_listeners);
    let (watch, routes) = match options.watch {
        true => (
            Some(crate::watch::watch_app(&options.app_dir, kind, options.release, workers.clone())?),
            Some(crate::watch::follow_routes(state.clone(), functions, workers.reloaded_functions())),
        ),
        false => (None, None),
    };
    state.health.set_state(crate::health::HostState::Running);
    tracing::info!("Host started; press Ctrl-C to stop.");
    Ok(Running {
        workers,
        _server: server,
        triggers,
        _durable: durable,
        _watch: watch,
        _routes: routes,
        dashboard,
    })
}

/// How long the host waits at exit for the last spans to be exported.
const TRACE_FLUSH_BOUND: std::time::Duration = std::time::Duration::from_secs(5);

/// The OTLP trace export the `OTEL_*` environment variables ask for; `None` (and nothing set up)
/// without an endpoint. Spans are named after the app's directory unless `OTEL_SERVICE_NAME` says.
fn start_trace_export(
    app_dir: &std::path::Path,
) -> Result<Option<fnwire_telemetry::traces::TraceExport>, StartError> {
    let app_name = std::fs::canonicalize(app_dir)
        .ok()
        .and_then(|dir| dir.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "fnwire".into());
    let Some(settings) =
        fnwire_telemetry::traces::TraceSettings::read(|name| std::env::var(name).ok(), &app_name)?
    else {
        return Ok(None);
    };
    let export = fnwire_telemetry::traces::TraceExport::start(&settings)?;
    tracing::info!("exporting a span of every invocation over OTLP (OTEL_* environment variables)");
    Ok(Some(export))
}

/// Sends the spans still batched. Every way out of `run_start` goes through here: the SDK's
/// provider, merely dropped, would block the runtime thread dropping it until the export ends.
async fn stop_trace_export(traces: Option<fnwire_telemetry::traces::TraceExport>) {
    if let Some(traces) = traces {
        traces.shutdown(TRACE_FLUSH_BOUND).await;
    }
}

/// Runs `fnwire start` until Ctrl-C or SIGTERM, then drains (see [`crate::drain`]).
pub async fn run_start(options: StartOptions) -> Result<(), StartError> {
    let app_dir = &options.app_dir;
    if !app_dir.is_dir() {
        return Err(StartError::NotADirectory(app_dir.clone()));
    }
    let prefix = read_route_prefix(app_dir)?;
    let limits = crate::http::ListenerLimits::read(app_dir, &options.limits)?;
    crate::console::apply_log_levels(crate::config::LogLevels::from_host_json(&read_host_json(app_dir)?)?);
    let listener = tokio::net::TcpListener::bind((options.host, options.port))
        .await
        .map_err(|source| StartError::Listen { host: options.host, port: options.port, source })?;
    // Bound before the app starts, like the app's port, so that a taken port fails at once.
    let dashboard_listener = match options.dashboard.as_ref().and_then(|d| d.port) {
        Some(port) if port == options.port => return Err(StartError::DashboardPortIsAppPort(port)),
        Some(port) => Some(
            tokio::net::TcpListener::bind((options.host, port))
                .await
                .map_err(|source| StartError::DashboardListen { host: options.host, port, source })?,
        ),
        None => None,
    };
    let dashboard_state =
        dashboard_listener.as_ref().map(|_| Arc::new(HttpState::dashboard_only(&prefix, limits.clone())));
    let traces = start_trace_export(app_dir)?;
    let state = Arc::new(HttpState::new(&prefix, limits));
    let (stop_trigger, stop) = crate::drain::stop_signal();
    let http_task = tokio::spawn(http_front::serve(listener, state.clone(), stop.clone()));
    let dashboard_task =
        dashboard_listener.zip(dashboard_state.clone()).map(|(listener, dashboard_state)| {
            tokio::spawn(http_front::serve(listener, dashboard_state, stop.clone()))
        });
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let started = tokio::select! {
        r = start_app(&options, &state, &stop, traces.as_ref()) => r,
        _ = &mut shutdown => {
            tracing::info!("stopping before the app finished starting");
            http_task.abort();
            if let Some(task) = dashboard_task {
                task.abort();
            }
            stop_trace_export(traces).await;
            return Ok(());
        }
    };
    let running = match started {
        Ok(running) => running,
        Err(e) => {
            state.health.set_state(crate::health::HostState::Error);
            stop_trace_export(traces).await;
            return Err(e);
        }
    };
    // The dashboard's listener serves the same app (it answers 503 until now).
    if let Some(dashboard_state) = &dashboard_state {
        dashboard_state.set(state.get());
    }
    // The supervisor restarts workers that die; the host runs until asked to stop, or until the
    // supervisor gives up.
    let gave_up = tokio::select! {
        _ = shutdown => None,
        reason = running.workers.given_up() => Some(reason),
    };
    tracing::info!(
        "stopping: no new requests or messages; waiting up to {:?} for invocations in flight",
        options.drain_timeout
    );
    state.health.set_state(crate::health::HostState::Stopping);
    stop_trigger.stop();
    let Running { workers, _server, mut triggers, _durable, _watch, _routes, dashboard } = running;
    drop(_watch);
    drop(_routes);
    if let Some(dashboard) = &dashboard {
        dashboard.close();
    }
    let http_drained = async {
        match http_task.await {
            Ok(graceful) => graceful.shutdown().await,
            Err(e) => tracing::warn!("the HTTP listener ended early: {e}"),
        }
        if let Some(task) = dashboard_task {
            match task.await {
                Ok(graceful) => graceful.shutdown().await,
                Err(e) => tracing::warn!("the dashboard's listener ended early: {e}"),
            }
        }
    };
    let (http_done, triggers_done) = tokio::join!(
        crate::drain::within(options.drain_timeout, http_drained),
        triggers.drain(options.drain_timeout),
    );
    if !(http_done && triggers_done) {
        tracing::warn!(
            "invocations were still running after the drain timeout ({:?}); they are cancelled, and their queue \
             messages reappear after their visibility timeout. Raise --drain-timeout to wait longer",
            options.drain_timeout
        );
    }
    state.set(Availability::Unavailable("the host is shutting down".into()));
    if let Some(dashboard_state) = &dashboard_state {
        dashboard_state.set(Availability::Unavailable("the host is shutting down".into()));
    }
    drop(triggers);
    drop(_durable);
    workers.shutdown().await;
    stop_trace_export(traces).await;
    match gave_up {
        Some(reason) => Err(StartError::WorkersGaveUp(reason)),
        None => Ok(()),
    }
}

//! Runs the scenarios against one app: resolves the worker launch, starts the host, runs each
//! selected scenario with the run's shared [`Ctx`], and collects the results.

use std::path::PathBuf;
use std::time::Instant;

use fnwire_host::app::{self, DetectOptions, WorkerConfig, WorkerLaunch};

use crate::context::Ctx;
use crate::exclusions::Exclusions;
use crate::report::{Outcome, Report, ScenarioResult};
use crate::scenarios::{self, Kind, Scenario};
use crate::session::{Host, Timeouts};
use crate::transcript::Recorder;

/// The variable every worker gets at launch; `http_env.variable_set_at_launch` reads it.
pub const MARKER_VARIABLE: &str = "FNWIRE_CONFORMANCE_MARKER";
pub const MARKER_VALUE: &str = "set at launch: Grüße";

/// Options of `fnwire-conformance run`.
#[derive(Debug, Clone)]
pub struct RunOptions {
    pub app_dir: PathBuf,
    /// Overrides the worker command the app directory implies (split like a shell).
    pub worker_cmd: Option<String>,
    pub only: Option<String>,
    pub exclusions: Option<PathBuf>,
    pub no_exclusions: bool,
    /// Build Cargo apps without `--release`.
    pub debug_build: bool,
    pub timeouts: Timeouts,
}

/// Works out how to launch the worker: `--worker-cmd`, else the same detection as `fnwire start`.
pub async fn resolve_launch(options: &RunOptions) -> anyhow::Result<WorkerLaunch> {
    let app_dir = options.app_dir.canonicalize().map_err(|e| {
        anyhow::anyhow!(
            "`{}` is not an app directory ({e}); pass the directory that holds the app",
            options.app_dir.display()
        )
    })?;
    let mut launch = match &options.worker_cmd {
        Some(command) => {
            let words = shlex::split(command).filter(|w| !w.is_empty()).ok_or_else(|| {
                anyhow::anyhow!("--worker-cmd `{command}` cannot be split into words (unbalanced quotes?)")
            })?;
            let config = std::fs::read_to_string(app_dir.join("worker.config.json"))
                .ok()
                .and_then(|text| WorkerConfig::parse(&text).ok());
            let language = match config {
                Some(c) => c.language,
                None if app_dir.join("Cargo.toml").is_file() => "rust".into(),
                None => "custom".into(),
            };
            // The worker runs in the app directory; a relative path is meant from where the
            // runner was started. A bare name is looked up in PATH.
            let program = PathBuf::from(&words[0]);
            let program = if program.is_relative() && program.components().count() > 1 {
                std::env::current_dir()?.join(program)
            } else {
                program
            };
            let mut launch = WorkerLaunch::new(program, &app_dir, language);
            launch.args = words[1..].to_vec();
            launch.env = app::read_local_settings(&app_dir)?;
            launch
        }
        None => app::detect(&app_dir, DetectOptions { release: !options.debug_build }).await?.launch,
    };
    launch.env.insert(MARKER_VARIABLE.into(), MARKER_VALUE.into());
    Ok(launch)
}

/// The command line shown in reports.
pub fn describe_launch(launch: &WorkerLaunch) -> String {
    let mut words = vec![launch.program.display().to_string()];
    words.extend(launch.args.iter().cloned());
    words
        .iter()
        .map(|w| shlex::try_quote(w).map(|q| q.into_owned()).unwrap_or_else(|_| w.clone()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Runs the selected scenarios. `on_result` sees each result as it is known.
pub async fn run(
    options: &RunOptions,
    recorder: Recorder,
    mut on_result: impl FnMut(&ScenarioResult),
) -> anyhow::Result<Report> {
    let scenarios = scenarios::all().map_err(|e| anyhow::anyhow!(e))?;
    let exclusions = if options.no_exclusions {
        None
    } else if let Some(path) = &options.exclusions {
        Some(Exclusions::read(path).map_err(|e| anyhow::anyhow!(e))?)
    } else {
        Exclusions::for_app(&options.app_dir.canonicalize().unwrap_or_else(|_| options.app_dir.clone()))
            .map_err(|e| anyhow::anyhow!(e))?
    };
    if let Some(ex) = &exclusions {
        let names: Vec<String> = scenarios.iter().map(|s| s.name.clone()).collect();
        for pattern in ex.unmatched(&names) {
            tracing::warn!("exclusion `{pattern}` in {} matches no scenario", ex.source);
        }
    }
    let launch = resolve_launch(options).await?;
    let host = Host::start(recorder, options.timeouts).await?;
    let mut report = Report {
        app: options.app_dir.display().to_string(),
        worker_command: describe_launch(&launch),
        exclusions: exclusions.as_ref().map(|e| e.source.clone()),
        results: Vec::new(),
    };
    let mut ctx = Ctx::new(host, launch);
    // A scenario that hangs past this is cut off (each wait inside is bounded already).
    let guard = options.timeouts.startup + options.timeouts.request * 4;
    for scenario in scenarios.iter().filter(|s| scenarios::selected(&s.name, options.only.as_deref())) {
        let started = Instant::now();
        let outcome = match exclusions.as_ref().and_then(|e| e.reason(&scenario.name)) {
            Some(reason) => Outcome::Skip(format!("excluded: {reason}")),
            None => match tokio::time::timeout(guard, run_one(&mut ctx, scenario)).await {
                Ok(outcome) => outcome,
                Err(_) => Outcome::Fail(format!("the scenario did not finish within {guard:?}")),
            },
        };
        let result = ScenarioResult {
            name: scenario.name.clone(),
            area: scenario.area.clone(),
            description: scenario.description.clone(),
            outcome,
            duration: started.elapsed(),
        };
        on_result(&result);
        report.results.push(result);
    }
    ctx.shutdown().await;
    Ok(report)
}

async fn run_one(ctx: &mut Ctx, scenario: &Scenario) -> Outcome {
    match &scenario.kind {
        Kind::Builtin(b) => crate::builtin::run(ctx, *b).await,
        Kind::Case(case) => crate::builtin::run_case(ctx, case).await,
    }
}

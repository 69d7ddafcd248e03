//! `fnwire start --watch`: when the app's sources change, rebuild (Cargo apps) and replace the
//! worker through [`WorkerPool::reload`], so the host, its port, its queues and the
//! invocations in flight stay as they are. A failed build is shown and the running worker keeps
//! serving.
//!
//! File events come from `notify` through `notify-debouncer-full`: an editor's save (often a
//! write, a rename and a metadata change, on several files) becomes one batch, so one rebuild.
//! Build output, the local store and installed packages are not sources and are ignored.
//!
//! The HTTP route table follows each reload ([`follow_routes`]): functions added, removed or
//! given another route are served as the new worker declares them, without a restart. Other
//! triggers and bindings are set up at start; a reload that changes them says to restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify_debouncer_full::notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, new_debouncer};

use std::collections::BTreeMap;

use crate::app::{AppKind, cargo_build};
use crate::http::{Availability, HttpState};
use crate::lifecycle::IndexedFunction;
use crate::routes::Route;
use crate::supervisor::WorkerPool;

/// How long the file events of one save are gathered before acting on them.
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// Folders whose changes never trigger a reload: build output, fnwire's store, installed
/// packages, caches and version control.
const IGNORED_FOLDERS: &[&str] =
    &["target", ".fnwire", "node_modules", "__pycache__", ".git", ".venv", "venv", ".pytest_cache", "deploy"];

/// Why watching could not start.
#[derive(Debug, thiserror::Error)]
#[error(
    "could not watch `{}` for changes ({source}); run without --watch, or raise the system's file-watch limit \
     (on Linux: sysctl fs.inotify.max_user_watches)",
    dir.display()
)]
pub struct WatchError {
    dir: PathBuf,
    #[source]
    source: notify_debouncer_full::notify::Error,
}

/// Whether a changed path is one of the app's sources (not under an ignored folder, not an
/// editor's swap or backup file, not `Cargo.lock`, which the build itself may rewrite).
pub fn is_source(app_dir: &Path, path: &Path) -> bool {
    let relative = path.strip_prefix(app_dir).unwrap_or(path);
    let in_ignored = relative.components().any(|c| IGNORED_FOLDERS.iter().any(|i| c.as_os_str() == *i));
    let name = relative.file_name().map(|n| n.to_string_lossy()).unwrap_or_default();
    let editor_file =
        name.ends_with('~') || name.ends_with(".swp") || name.ends_with(".swx") || name.starts_with(".#");
    !in_ignored && !editor_file && !name.is_empty() && name != "Cargo.lock"
}

/// A running watch; dropping it stops watching.
pub struct AppWatch {
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for AppWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppWatch").finish_non_exhaustive()
    }
}

impl Drop for AppWatch {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Watches `app_dir` and reloads `workers` on every change of its sources (see the module docs).
pub fn watch_app(
    app_dir: &Path,
    kind: AppKind,
    release: bool,
    workers: Arc<WorkerPool>,
) -> Result<AppWatch, WatchError> {
    let app_dir = app_dir.canonicalize().unwrap_or_else(|_| app_dir.to_path_buf());
    let (changed_tx, mut changed_rx) = tokio::sync::mpsc::unbounded_channel::<Vec<PathBuf>>();
    let handler = move |result: DebounceEventResult| match result {
        Ok(events) => {
            let paths = events.into_iter().flat_map(|e| e.event.paths).collect::<Vec<_>>();
            let _ = changed_tx.send(paths);
        }
        Err(errors) => {
            for e in errors {
                tracing::warn!("watching the app's files: {e}");
            }
        }
    };
    let to_error = |source| WatchError { dir: app_dir.clone(), source };
    let mut debouncer = new_debouncer(DEBOUNCE, None, handler).map_err(to_error)?;
    // The app folder itself, then each of its folders but the ignored ones: a `target/` or
    // `node_modules/` can hold many thousands of folders (each an inotify watch on Linux).
    debouncer.watch(&app_dir, RecursiveMode::NonRecursive).map_err(to_error)?;
    let folders = std::fs::read_dir(&app_dir)
        .map(|entries| entries.flatten().map(|e| e.path()).filter(|p| p.is_dir()).collect::<Vec<_>>())
        .unwrap_or_default();
    for folder in folders.iter().filter(|f| is_source(&app_dir, f)) {
        debouncer.watch(folder, RecursiveMode::Recursive).map_err(to_error)?;
    }
    crate::console::print_console(&format!(
        "Watching {} for changes; saving a source file {} the worker\n",
        app_dir.display(),
        if kind == AppKind::Cargo { "rebuilds and restarts" } else { "restarts" }
    ));
    let task = tokio::spawn(async move {
        // Owned by the task: watching lasts as long as it runs.
        let mut debouncer = debouncer;
        while let Some(mut paths) = changed_rx.recv().await {
            // Changes that arrive during a build are folded into the next one.
            while let Ok(more) = changed_rx.try_recv() {
                paths.extend(more);
            }
            // A folder made in the app folder is watched from now on.
            for path in &paths {
                if path.parent() == Some(app_dir.as_path()) && path.is_dir() && is_source(&app_dir, path) {
                    if let Err(e) = debouncer.watch(path, RecursiveMode::Recursive) {
                        tracing::warn!("cannot watch the new folder {}: {e}", path.display());
                    }
                }
            }
            // A folder's own event (its times change with its files) is no change of a source.
            let Some(first) = paths.iter().find(|p| is_source(&app_dir, p) && !p.is_dir()) else { continue };
            let shown = first.strip_prefix(&app_dir).unwrap_or(first).display().to_string();
            crate::console::print_console(&format!("{shown} changed; reloading the worker\n"));
            if kind == AppKind::Cargo {
                if let Err(e) = cargo_build(&app_dir, release).await {
                    crate::console::print_console(&format!(
                        "the build failed, so the running worker keeps serving the previous code: {e}\n"
                    ));
                    continue;
                }
            }
            workers.reload();
        }
    });
    Ok(AppWatch { task })
}

/// Keeps the HTTP route table in step with reloads; dropping it stops following.
pub struct RouteFollower {
    task: tokio::task::JoinHandle<()>,
}

impl std::fmt::Debug for RouteFollower {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RouteFollower").finish_non_exhaustive()
    }
}

impl Drop for RouteFollower {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// After each reload, serves the HTTP routes of the functions the new worker indexed: added
/// routes answer, removed ones get 404, changed ones move (and says so in the console). A
/// reloaded app whose routes cannot be served (a bad template, two functions on one route)
/// keeps the previous routes, with the reason.
///
/// Only the HTTP front door follows: timers, queues, blob triggers and the storage bindings are
/// set up when the host starts, so a reload that adds, removes or changes a function's other
/// triggers or bindings is named in the console with a request to restart.
pub fn follow_routes(
    state: Arc<HttpState>,
    started_with: Vec<IndexedFunction>,
    mut reloaded: tokio::sync::watch::Receiver<Arc<Vec<IndexedFunction>>>,
) -> RouteFollower {
    let task = tokio::spawn(async move {
        // Each worker process of a reload publishes its functions; one report per change.
        let mut shown_restart_note = String::new();
        while reloaded.changed().await.is_ok() {
            let functions = reloaded.borrow_and_update().clone();
            let Availability::Ready(ready) = state.get() else { continue };
            let (routes, http) = match crate::host::http_functions(&functions) {
                Ok(table) => table,
                Err(e) => {
                    crate::console::print_console(&format!(
                        "the reloaded app's HTTP routes cannot be served ({e}); the previous routes stay. Fix the \
                         function and save again\n"
                    ));
                    continue;
                }
            };
            let changes = route_changes(ready.routes.routes(), routes.routes(), state.route_prefix());
            // Swapped whatever changed: an auth level or a function that now loads matters too.
            state.set(Availability::Ready(Arc::new(ready.with_http_functions(routes, http))));
            if !changes.is_empty() {
                crate::console::print_console(&format!(
                    "HTTP routes changed with the reload:\n{}\n",
                    changes.join("\n")
                ));
            }
            let note = restart_note(&started_with, &functions);
            if note != shown_restart_note {
                if !note.is_empty() {
                    crate::console::print_console(&format!("{note}\n"));
                }
                shown_restart_note = note;
            }
        }
    });
    RouteFollower { task }
}

fn shown_route(route: &Route, prefix: &str) -> String {
    let methods = match &route.methods {
        Some(methods) => methods.iter().map(|m| m.as_str()).collect::<Vec<_>>().join(","),
        None => "any method".into(),
    };
    let path =
        [prefix, route.template.as_str()].iter().filter(|s| !s.is_empty()).copied().collect::<Vec<_>>();
    format!("{methods} /{}", path.join("/"))
}

/// One line per function whose route was added, removed or changed, by function name.
pub fn route_changes(before: &[Route], after: &[Route], prefix: &str) -> Vec<String> {
    let by_name = |routes: &[Route]| {
        routes.iter().map(|r| (r.function_name.clone(), shown_route(r, prefix))).collect::<BTreeMap<_, _>>()
    };
    let (before, after) = (by_name(before), by_name(after));
    let mut lines = Vec::new();
    for (name, route) in &after {
        match before.get(name) {
            None => lines.push(format!("  + {name}: {route}")),
            Some(old) if old != route => lines.push(format!("  ~ {name}: {route} (was {old})")),
            Some(_) => {}
        }
    }
    for (name, route) in &before {
        if !after.contains_key(name) {
            lines.push(format!("  - {name}: {route} (now 404)"));
        }
    }
    lines
}

/// Whether a binding is part of what the HTTP front door serves by itself (the HTTP trigger
/// and its response); everything else is set up when the host starts.
fn served_by_http_front(binding: &fnwire_metadata::Binding) -> bool {
    binding.binding_type.eq_ignore_ascii_case("httpTrigger")
        || binding.binding_type.eq_ignore_ascii_case("http")
}

/// The functions whose triggers or bindings (beyond HTTP) differ from those the host started
/// with, and what to do; empty when there are none.
pub fn restart_note(started_with: &[IndexedFunction], now: &[IndexedFunction]) -> String {
    let others = |f: &IndexedFunction| {
        f.metadata.bindings.iter().filter(|b| !served_by_http_front(b)).cloned().collect::<Vec<_>>()
    };
    let before: BTreeMap<&str, _> =
        started_with.iter().map(|f| (f.metadata.name.as_str(), others(f))).collect();
    let after: BTreeMap<&str, _> = now.iter().map(|f| (f.metadata.name.as_str(), others(f))).collect();
    let mut changed = Vec::new();
    for (name, bindings) in &after {
        match before.get(name) {
            None if !bindings.is_empty() => changed.push(format!("`{name}` (added)")),
            Some(old) if old != bindings => changed.push(format!("`{name}` (changed)")),
            _ => {}
        }
    }
    for (name, bindings) in &before {
        if !after.contains_key(name) && !bindings.is_empty() {
            changed.push(format!("`{name}` (removed)"));
        }
    }
    if changed.is_empty() {
        return String::new();
    }
    format!(
        "the reload changed the triggers or bindings of {}: only HTTP routes follow a reload, the others are set \
         up when fnwire starts. Stop and run `fnwire start` again to apply them",
        changed.join(", ")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sources_are_app_files_outside_build_output_stores_and_packages() {
        let app = Path::new("/apps/hello");
        for source in ["src/main.rs", "function_app.py", "src/functions/hello.js", "host.json", "Cargo.toml"]
        {
            assert!(is_source(app, &app.join(source)), "{source}");
        }
        for ignored in [
            "target/debug/hello",
            ".fnwire/store.sqlite-wal",
            "node_modules/fnwire/lib/worker.js",
            "__pycache__/function_app.cpython-311.pyc",
            ".git/index",
            "src/.main.rs.swp",
            "function_app.py~",
            "Cargo.lock",
        ] {
            assert!(!is_source(app, &app.join(ignored)), "{ignored}");
        }
    }

    fn route(function: &str, template: &str, methods: &[http::Method]) -> Route {
        Route {
            function_name: function.into(),
            template: crate::routes::RouteTemplate::parse(template).unwrap(),
            methods: (!methods.is_empty()).then(|| methods.to_vec()),
        }
    }

    #[test]
    fn route_changes_name_each_added_moved_and_removed_function() {
        use http::Method;
        let before = [
            route("hello", "hello/{name?}", &[Method::GET]),
            route("old", "old", &[]),
            route("same", "same", &[]),
        ];
        let after = [
            route("hello", "greet/{name?}", &[Method::GET, Method::POST]),
            route("same", "same", &[]),
            route("added", "added/{id:int}", &[Method::DELETE]),
        ];
        assert_eq!(
            route_changes(&before, &after, "api"),
            [
                "  + added: DELETE /api/added/{id:int}",
                "  ~ hello: GET,POST /api/greet/{name?} (was GET /api/hello/{name?})",
                "  - old: any method /api/old (now 404)",
            ]
        );
        assert!(route_changes(&after, &after, "").is_empty());
    }

    fn function(name: &str, bindings: Vec<fnwire_metadata::Binding>) -> IndexedFunction {
        let mut metadata = fnwire_metadata::FunctionMetadata::new(name);
        metadata.bindings = bindings;
        IndexedFunction { metadata, rpc: Default::default(), function_id: name.into(), error: None }
    }

    #[test]
    fn a_restart_is_asked_for_only_when_triggers_or_bindings_beyond_http_change() {
        use fnwire_metadata::{Binding, Direction};
        let http = |route: &str| {
            vec![
                Binding::new("req", "httpTrigger", Direction::In).with("route", route),
                Binding::new("$return", "http", Direction::Out),
            ]
        };
        let queue =
            |name: &str| vec![Binding::new("msg", "queueTrigger", Direction::In).with("queueName", name)];
        let started = [function("hello", http("hello")), function("work", queue("jobs"))];
        // HTTP functions added or moved: the route table follows, nothing to restart.
        let moved = [
            function("hello", http("hi")),
            function("extra", http("extra")),
            function("work", queue("jobs")),
        ];
        assert_eq!(restart_note(&started, &moved), "");
        let mut output = http("save");
        output.push(Binding::new("out", "queue", Direction::Out).with("queueName", "saved"));
        let changed =
            [function("hello", http("hello")), function("work", queue("other")), function("save", output)];
        let note = restart_note(&started, &changed);
        assert!(note.contains("`work` (changed)") && note.contains("`save` (added)"), "{note}");
        assert!(note.contains("`fnwire start` again"), "{note}");
        let note = restart_note(&started, &started[..1]);
        assert!(note.contains("`work` (removed)"), "{note}");
    }
}

//! `fnwire start --watch`: when the app's sources change, rebuild (Cargo apps) and replace the
//! worker through [`WorkerPool::reload`], so the host, its port, its queues and the
//! invocations in flight stay as they are. A failed build is shown and the running worker keeps
//! serving.
//!
//! File events come from `notify` through `notify-debouncer-full`: an editor's save (often a
//! write, a rename and a metadata change, on several files) becomes one batch, so one rebuild.
//! Build output, the local store and installed packages are not sources and are ignored.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify_debouncer_full::notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, new_debouncer};

use crate::app::{AppKind, cargo_build};
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
}

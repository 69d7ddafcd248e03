//! The store of an app named by a command's `--app`: what `fnwire queue`, `topic`, `table`,
//! `blob` and `store` open before they act. One place decides how an app directory becomes a
//! store (its settings, `host.json`'s storage paths, SQLite or PostgreSQL), so every command
//! opens the same store `fnwire start` would, and fails the same way when it cannot.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use fnwire_storage::{QueueStore, StorageError};

use crate::app::AppError;
use crate::config::ConfigError;
use crate::triggers::config::{StoragePaths, storage_paths};

/// Why a command could not reach the store of the app it was given.
#[derive(Debug, thiserror::Error)]
pub enum AppStoreError {
    #[error("`{}` is not a directory: pass the function app's directory with --app", .0.display())]
    NotADirectory(PathBuf),
    #[error(transparent)]
    Settings(#[from] AppError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("opening the store of the app in `{}`", app.display())]
    Open {
        app: PathBuf,
        #[source]
        source: Box<StorageError>,
    },
}

/// An app directory's settings (`local.settings.json`) and the storage paths they and
/// `host.json` give.
#[derive(Debug)]
pub struct AppStorage {
    pub app: PathBuf,
    pub settings: BTreeMap<String, String>,
    pub paths: StoragePaths,
}

impl AppStorage {
    /// Reads the app's settings and storage paths; nothing is opened yet.
    pub fn locate(app: &Path) -> Result<AppStorage, AppStoreError> {
        if !app.is_dir() {
            return Err(AppStoreError::NotADirectory(app.to_path_buf()));
        }
        let settings = crate::app::read_local_settings(app)?;
        let paths = storage_paths(app, &settings)?;
        Ok(AppStorage { app: app.to_path_buf(), settings, paths })
    }

    /// Opens the app's store as a command (not a host) uses it.
    pub fn open(&self) -> Result<Arc<dyn QueueStore>, AppStoreError> {
        crate::triggers::backend::open(&self.paths.storage_dir, &self.settings, false)
            .map_err(|e| self.open_error(e))
    }

    /// The error for a store of this app that would not open.
    pub fn open_error(&self, source: StorageError) -> AppStoreError {
        AppStoreError::Open { app: self.app.clone(), source: Box::new(source) }
    }
}

/// Opens the store of the app in `app` as a command uses it.
pub fn open(app: &Path) -> Result<Arc<dyn QueueStore>, AppStoreError> {
    AppStorage::locate(app)?.open()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_path_that_is_not_a_directory_is_named_with_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("host.json");
        std::fs::write(&file, "{}").unwrap();
        let Err(error) = open(&file) else { panic!("a file opened as an app") };
        let message = error.to_string();
        assert!(message.contains(&file.display().to_string()), "{message}");
        assert!(message.contains("--app"), "{message}");
    }

    #[test]
    fn an_app_without_settings_opens_its_embedded_store_where_start_would() {
        let dir = tempfile::tempdir().unwrap();
        let storage = AppStorage::locate(dir.path()).unwrap();
        assert_eq!(storage.paths.storage_dir, dir.path().join(".fnwire"));
        let store = storage.open().unwrap();
        store.put("app-store-check", b"hi", None).unwrap();
        assert_eq!(open(dir.path()).unwrap().list_queues().unwrap().len(), 1);
    }
}

//! `fnwire store check|backup|restore`: look after an app's embedded store from the command
//! line. `check` and `backup` work beside a running host; `restore` is refused while one runs.

use std::path::{Path, PathBuf};

use crate::app_store::{AppStorage, AppStoreError};
use clap::Subcommand;
use fnwire_storage::{IntegrityCheck, StorageError, Store, StoreOptions};

#[derive(Debug, Subcommand)]
pub enum StoreCommand {
    /// Run SQLite's full integrity check on the app's store (every page, record and index).
    Check {
        /// The function app's directory (its store is `<app>/.fnwire` unless configured).
        #[arg(long, default_value = ".")]
        app: PathBuf,
        /// Run the quicker check a host runs at start (indexes are not matched to tables).
        #[arg(long)]
        quick: bool,
    },
    /// Write a consistent copy of the store to a new file (works while the host runs).
    Backup {
        /// The file to write; it must not exist.
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
        #[arg(long, default_value = ".")]
        app: PathBuf,
    },
    /// Replace the store with a backup (refused while a host runs on it). The replaced store is
    /// kept as `fnwire.db.before-restore`.
    Restore {
        /// The backup to restore.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        #[arg(long, default_value = ".")]
        app: PathBuf,
    },
}

/// Why a `fnwire store` command failed.
#[derive(Debug, thiserror::Error)]
pub enum StoreCliError {
    #[error(transparent)]
    App(#[from] AppStoreError),
    // Boxed: a storage error is large.
    #[error(transparent)]
    Storage(Box<StorageError>),
}

impl From<StorageError> for StoreCliError {
    fn from(e: StorageError) -> Self {
        StoreCliError::Storage(Box::new(e))
    }
}

fn storage_dir(app: &Path) -> Result<PathBuf, StoreCliError> {
    Ok(AppStorage::locate(app)?.paths.storage_dir)
}

/// Runs a `fnwire store` command and returns what it prints.
pub fn run(command: StoreCommand) -> Result<String, StoreCliError> {
    match command {
        StoreCommand::Check { app, quick } => {
            let check = if quick { IntegrityCheck::Quick } else { IntegrityCheck::Full };
            // The check runs once, below, with its report; not also at open.
            let options = StoreOptions { check: IntegrityCheck::Skip, ..StoreOptions::default() };
            let store = Store::open_with(&storage_dir(&app)?, options)?;
            let report = store.check(check)?;
            Ok(format!(
                "{}: ok ({} check; {} pages of {} bytes; {} messages)\n",
                report.path.display(),
                if quick { "quick" } else { "full" },
                report.pages,
                report.page_size,
                report.messages
            ))
        }
        StoreCommand::Backup { to, app } => {
            let store = Store::open(&storage_dir(&app)?)?;
            store.backup_to(&to)?;
            Ok(format!("backed up {} to {}\n", store.path().display(), to.display()))
        }
        StoreCommand::Restore { from, app } => {
            let dir = storage_dir(&app)?;
            let kept = fnwire_storage::restore(&dir, &from)?;
            let mut out = format!("restored {} into {}\n", from.display(), dir.display());
            if kept.exists() {
                out.push_str(&format!("the replaced store is kept as {}\n", kept.display()));
            }
            Ok(out)
        }
    }
}

//! `fnwire blob put|get|list|delete`: an app's blobs from the command line, in whichever store
//! its `AzureWebJobsStorage` selects (the blob folder of the embedded store, or the shared
//! PostgreSQL database), so a blob trigger can be fed and its outputs read while the host runs.

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use clap::Subcommand;

use super::backend::SharedBlobs;
use crate::app_store::{AppStorage, AppStoreError};

#[derive(Debug, Subcommand)]
pub enum BlobCommand {
    /// Write a blob from FILE (or standard input when FILE is `-` or missing).
    Put {
        /// `container/name`.
        blob: String,
        file: Option<PathBuf>,
        /// The function app's directory (its storage is `<app>/.fnwire` unless configured).
        #[arg(long, default_value = ".")]
        app: PathBuf,
    },
    /// Write a blob's content to FILE (or standard output when FILE is `-` or missing).
    Get {
        /// `container/name`.
        blob: String,
        file: Option<PathBuf>,
        #[arg(long, default_value = ".")]
        app: PathBuf,
    },
    /// List the blobs of a container (or `container/folder`) with their size and ETag.
    List {
        prefix: String,
        #[arg(long, default_value = ".")]
        app: PathBuf,
    },
    /// Delete a blob.
    Delete {
        /// `container/name`.
        blob: String,
        #[arg(long, default_value = ".")]
        app: PathBuf,
    },
}

/// Why a `fnwire blob` command failed.
#[derive(Debug, thiserror::Error)]
pub enum BlobCliError {
    #[error(transparent)]
    App(#[from] AppStoreError),
    #[error("blob `{0}` does not exist; `fnwire blob list CONTAINER` shows the blobs there")]
    NotFound(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BlobCliError {
    let what = what.into();
    move |source| BlobCliError::Io { what, source }
}

fn open(app: &Path) -> Result<SharedBlobs, BlobCliError> {
    let storage = AppStorage::locate(app)?;
    let paths = &storage.paths;
    if super::backend::postgres_url(&storage.settings).is_some() {
        let (_, blobs) =
            super::backend::open_with_blobs(&paths.storage_dir, &paths.blob_dir, &storage.settings, false)
                .map_err(|e| storage.open_error(e))?;
        return Ok(blobs);
    }
    Ok(std::sync::Arc::new(fnwire_storage::BlobStore::new(paths.blob_dir.clone())))
}

fn is_stdio(file: &Option<PathBuf>) -> bool {
    file.as_ref().is_none_or(|f| f.as_os_str() == "-")
}

/// Runs a `fnwire blob` command and returns what it prints (`get` to standard output writes
/// the content itself and returns nothing).
pub fn run(command: BlobCommand) -> Result<String, BlobCliError> {
    let mut out = String::new();
    match command {
        BlobCommand::Put { blob, file, app } => {
            let bytes = if is_stdio(&file) {
                let mut bytes = Vec::new();
                std::io::stdin().read_to_end(&mut bytes).map_err(io("reading standard input"))?;
                bytes
            } else {
                let file = file.unwrap_or_default();
                std::fs::read(&file).map_err(io(format!("reading `{}`", file.display())))?
            };
            let blobs = open(&app)?;
            blobs.write(&blob, &bytes).map_err(io(format!("writing blob `{blob}`")))?;
            let _ = writeln!(out, "put blob `{blob}` ({} bytes)", bytes.len());
        }
        BlobCommand::Get { blob, file, app } => {
            let blobs = open(&app)?;
            let bytes = blobs
                .read(&blob)
                .map_err(io(format!("reading blob `{blob}`")))?
                .ok_or_else(|| BlobCliError::NotFound(blob.clone()))?;
            if is_stdio(&file) {
                std::io::stdout().write_all(&bytes).map_err(io("writing standard output"))?;
            } else {
                let file = file.unwrap_or_default();
                std::fs::write(&file, &bytes).map_err(io(format!("writing `{}`", file.display())))?;
                let _ = writeln!(out, "wrote blob `{blob}` to `{}` ({} bytes)", file.display(), bytes.len());
            }
        }
        BlobCommand::List { prefix, app } => {
            let blobs = open(&app)?;
            let listed = blobs.list_properties(&prefix).map_err(io(format!("listing `{prefix}`")))?;
            if listed.is_empty() {
                let _ = writeln!(out, "(no blobs under `{prefix}`)");
            } else {
                let width = listed.iter().map(|b| b.path.len()).max().unwrap_or(0).max("Blob".len());
                let _ = writeln!(out, "{:width$}  {:>10}  {:<20}  Last modified", "Blob", "Bytes", "ETag");
                for b in listed {
                    let _ = writeln!(
                        out,
                        "{:width$}  {:>10}  {:<20}  {}",
                        b.path,
                        b.length,
                        b.etag,
                        b.last_modified.format("%Y-%m-%dT%H:%M:%SZ")
                    );
                }
            }
        }
        BlobCommand::Delete { blob, app } => {
            let blobs = open(&app)?;
            if !blobs.delete(&blob).map_err(io(format!("deleting blob `{blob}`")))? {
                return Err(BlobCliError::NotFound(blob));
            }
            let _ = writeln!(out, "deleted blob `{blob}`");
        }
    }
    Ok(out)
}

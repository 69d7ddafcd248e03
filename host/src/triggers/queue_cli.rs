//! `fnwire queue put|peek|list`: operate an app's embedded queues from the command line. It
//! opens the same SQLite file as a running host (WAL mode and a busy timeout let both work).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use std::sync::Arc;

use crate::app_store::AppStoreError;
use fnwire_storage::{QueueStore, StorageError};

/// Azure's largest peek.
pub const DEFAULT_PEEK: usize = 32;

#[derive(Debug, Subcommand)]
pub enum QueueCommand {
    /// Add a message to a queue (the queue is created if needed).
    Put {
        queue: String,
        message: String,
        /// The function app's directory (its storage is `<app>/.fnwire` unless configured).
        #[arg(long, default_value = ".")]
        app: PathBuf,
    },
    /// Show the messages at the front of a queue without taking them.
    Peek {
        queue: String,
        /// How many messages to show.
        #[arg(long, default_value_t = DEFAULT_PEEK)]
        max: usize,
        #[arg(long, default_value = ".")]
        app: PathBuf,
    },
    /// List the queues with their message counts.
    List {
        #[arg(long, default_value = ".")]
        app: PathBuf,
    },
}

/// Why a `fnwire queue` command failed.
#[derive(Debug, thiserror::Error)]
pub enum QueueCliError {
    #[error(transparent)]
    App(#[from] AppStoreError),
    // Boxed: a storage error is large, and every result of this module carries its room.
    #[error(transparent)]
    Storage(Box<StorageError>),
}

impl From<StorageError> for QueueCliError {
    fn from(e: StorageError) -> Self {
        QueueCliError::Storage(Box::new(e))
    }
}

fn open(app: &Path) -> Result<Arc<dyn QueueStore>, QueueCliError> {
    Ok(crate::app_store::open(app)?)
}

/// Runs a `fnwire queue` command and returns what it prints.
pub fn run(command: QueueCommand) -> Result<String, QueueCliError> {
    let mut out = String::new();
    match command {
        QueueCommand::Put { queue, message, app } => {
            let store = open(&app)?;
            let m = store.put(&queue, message.as_bytes(), None)?;
            let _ = writeln!(out, "put message {} on queue `{queue}`", m.id);
        }
        QueueCommand::Peek { queue, max, app } => {
            let store = open(&app)?;
            let messages = store.peek(&queue, max)?;
            let total = store.message_count(&queue)?;
            for m in &messages {
                let _ = writeln!(
                    out,
                    "{}  dequeued {}x  inserted {}  {}",
                    m.id,
                    m.dequeue_count,
                    m.insertion_time.format("%Y-%m-%dT%H:%M:%SZ"),
                    String::from_utf8_lossy(&m.body)
                );
            }
            let _ = writeln!(
                out,
                "({} shown; queue `{queue}` holds {total} message(s), visible or not)",
                messages.len()
            );
        }
        QueueCommand::List { app } => {
            let store = open(&app)?;
            let queues = store.list_queues()?;
            if queues.is_empty() {
                out.push_str("(no queues yet)\n");
            } else {
                let width = queues.iter().map(|q| q.name.len()).max().unwrap_or(0).max("Queue".len());
                let _ = writeln!(out, "{:width$}  {:>8}  {:>9}", "Queue", "Visible", "Invisible");
                for q in queues {
                    let _ = writeln!(out, "{:width$}  {:>8}  {:>9}", q.name, q.visible, q.invisible);
                }
            }
        }
    }
    Ok(out)
}

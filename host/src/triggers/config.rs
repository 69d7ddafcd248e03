//! Settings of the embedded triggers: where storage lives, and `extensions.queues` of
//! host.json with Azure's defaults.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use crate::config::{ConfigError, read_host_json};

/// App setting (or environment variable) naming the storage directory.
pub const STORAGE_DIR_SETTING: &str = "FNWIRE_STORAGE_DIR";
/// App setting (or environment variable) naming the blob directory.
pub const BLOB_DIR_SETTING: &str = "FNWIRE_BLOB_DIR";
/// Default storage directory, relative to the app.
pub const DEFAULT_STORAGE_DIR: &str = ".fnwire";

/// Where the embedded store and blobs live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoragePaths {
    /// Holds `fnwire.db`.
    pub storage_dir: PathBuf,
    pub blob_dir: PathBuf,
}

/// Resolves the storage paths: the app setting / environment variable, else host.json
/// `extensions.fnwire.storageDirectory` / `blobDirectory`, else `<app>/.fnwire` and
/// `<storage>/blobs`. Relative paths are relative to the app directory.
pub fn storage_paths(
    app_dir: &Path,
    settings: &BTreeMap<String, String>,
) -> Result<StoragePaths, ConfigError> {
    let doc = read_host_json(app_dir)?;
    let setting = |name: &str| {
        settings.get(name).cloned().or_else(|| std::env::var(name).ok()).filter(|s| !s.is_empty())
    };
    let from_json = |key: &str| -> Result<Option<String>, ConfigError> {
        match doc.pointer(&format!("/extensions/fnwire/{key}")) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => {
                Err(extension(format!("extensions.fnwire.{key} must be a string (a path), found `{other}`")))
            }
        }
    };
    let storage = setting(STORAGE_DIR_SETTING)
        .or(from_json("storageDirectory")?)
        .unwrap_or_else(|| DEFAULT_STORAGE_DIR.to_string());
    let storage_dir = app_dir.join(storage);
    let blob_dir = match setting(BLOB_DIR_SETTING).or(from_json("blobDirectory")?) {
        Some(p) => app_dir.join(p),
        None => storage_dir.join("blobs"),
    };
    Ok(StoragePaths { storage_dir, blob_dir })
}

/// A host.json time span that cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimespanError {
    #[error("`{0}` is not a time span; write hh:mm:ss or d.hh:mm:ss, e.g. 00:00:30")]
    Malformed(String),
    #[error(
        "`{0}` is not a time span; write hh:mm:ss or d.hh:mm:ss, e.g. 00:00:30: hours go to 23, minutes and seconds \
         to 59"
    )]
    OutOfRange(String),
}

/// Parses a .NET TimeSpan as host.json writes it: `hh:mm:ss`, `d.hh:mm:ss`, with optional
/// `.fffffff` fractions; a bare integer is a number of days, as .NET reads it.
pub fn parse_timespan(text: &str) -> Result<Duration, TimespanError> {
    let bad = || TimespanError::Malformed(text.to_string());
    let t = text.trim();
    if t.is_empty() || t.starts_with('-') {
        return Err(bad());
    }
    let (days, clock) = match t.split_once(':') {
        None => return t.parse::<u64>().map(|d| Duration::from_secs(d * 86_400)).map_err(|_| bad()),
        Some(_) => {
            let first_colon = t.find(':').unwrap_or(0);
            match t[..first_colon].split_once('.') {
                Some((d, _)) => (d.parse::<u64>().map_err(|_| bad())?, &t[d.len() + 1..]),
                None => (0, t),
            }
        }
    };
    let parts: Vec<&str> = clock.split(':').collect();
    if parts.len() < 2 || parts.len() > 3 {
        return Err(bad());
    }
    let hours: u64 = parts[0].parse().map_err(|_| bad())?;
    let minutes: u64 = parts[1].parse().map_err(|_| bad())?;
    let (secs, nanos) = match parts.get(2) {
        None => (0, 0),
        Some(s) => match s.split_once('.') {
            None => (s.parse::<u64>().map_err(|_| bad())?, 0u32),
            Some((whole, frac)) => {
                if frac.is_empty() || frac.len() > 7 || !frac.chars().all(|c| c.is_ascii_digit()) {
                    return Err(bad());
                }
                let padded = format!("{frac:0<9}");
                (whole.parse::<u64>().map_err(|_| bad())?, padded.parse::<u32>().map_err(|_| bad())?)
            }
        },
    };
    if hours > 23 || minutes > 59 || secs > 59 {
        return Err(TimespanError::OutOfRange(text.to_string()));
    }
    Ok(Duration::new(days * 86_400 + hours * 3600 + minutes * 60 + secs, nanos))
}

/// host.json `extensions.queues`, with Azure's defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueOptions {
    /// Longest wait between polls of an empty queue (Azure: 1 minute).
    pub max_polling_interval: Duration,
    /// Messages taken per poll (Azure: 16, at most 32).
    pub batch_size: usize,
    /// Fetch a new batch when fewer than this many are in flight (Azure: batchSize / 2).
    pub new_batch_threshold: usize,
    /// Delay before a failed message is visible again (Azure: 0).
    pub visibility_timeout: Duration,
    /// Attempts before a message goes to `<queue>-poison` (Azure: 5).
    pub max_dequeue_count: i64,
    /// How long a taken message stays hidden, renewed at half-time while its invocation runs
    /// (Azure: 10 minutes). On a shared database it is also how long the messages of a host
    /// that died wait before another host takes them: `FNWIRE_QUEUE_MESSAGE_LEASE` (a time
    /// span) shortens it.
    pub message_lease: Duration,
}

/// App setting (or environment variable) for [`QueueOptions::message_lease`].
pub const MESSAGE_LEASE_SETTING: &str = "FNWIRE_QUEUE_MESSAGE_LEASE";

impl Default for QueueOptions {
    fn default() -> Self {
        QueueOptions {
            max_polling_interval: Duration::from_secs(60),
            batch_size: 16,
            new_batch_threshold: 8,
            visibility_timeout: Duration::ZERO,
            max_dequeue_count: 5,
            message_lease: super::queue::IN_FLIGHT_VISIBILITY,
        }
    }
}

fn extension(message: String) -> ConfigError {
    ConfigError::Extension { message }
}

/// Shortest polling interval Azure accepts.
const MIN_POLLING_INTERVAL: Duration = Duration::from_millis(100);

impl QueueOptions {
    /// Reads `extensions.queues` from the app's host.json.
    pub fn read(app_dir: &Path) -> Result<QueueOptions, ConfigError> {
        QueueOptions::from_host_json(&read_host_json(app_dir)?)
    }

    pub fn from_host_json(doc: &Value) -> Result<QueueOptions, ConfigError> {
        let mut o = QueueOptions::default();
        let Some(section) = doc.pointer("/extensions/queues") else { return Ok(o) };
        let Some(section) = section.as_object() else {
            return Err(extension("extensions.queues must be an object".into()));
        };
        let get = |key: &str| section.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)).map(|(_, v)| v);
        let span = |key: &str| -> Result<Option<Duration>, ConfigError> {
            match get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => parse_timespan(s)
                    .map(Some)
                    .map_err(|e| extension(format!("extensions.queues.{key}: {e}"))),
                // Version 1 host.json wrote milliseconds.
                Some(Value::Number(n)) if n.as_u64().is_some() => Ok(n.as_u64().map(Duration::from_millis)),
                Some(other) => Err(extension(format!(
                    "extensions.queues.{key} must be a time span like \"00:00:30\", found `{other}`"
                ))),
            }
        };
        let int = |key: &str| -> Result<Option<i64>, ConfigError> {
            match get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v.as_i64().map(Some).ok_or_else(|| {
                    extension(format!("extensions.queues.{key} must be an integer, found `{v}`"))
                }),
            }
        };
        if let Some(d) = span("maxPollingInterval")? {
            if d < MIN_POLLING_INTERVAL {
                return Err(extension(format!(
                    "extensions.queues.maxPollingInterval must be at least 00:00:00.1, found {d:?}"
                )));
            }
            o.max_polling_interval = d;
        }
        if let Some(d) = span("visibilityTimeout")? {
            o.visibility_timeout = d;
        }
        if let Some(n) = int("batchSize")? {
            if !(1..=32).contains(&n) {
                return Err(extension(format!(
                    "extensions.queues.batchSize must be between 1 and 32, found {n}"
                )));
            }
            o.batch_size = n as usize;
        }
        o.new_batch_threshold = o.batch_size / 2;
        if let Some(n) = int("newBatchThreshold")? {
            if n < 0 {
                return Err(extension(format!(
                    "extensions.queues.newBatchThreshold may not be negative, found {n}"
                )));
            }
            o.new_batch_threshold = n as usize;
        }
        if let Some(n) = int("maxDequeueCount")? {
            if n < 1 {
                return Err(extension(format!(
                    "extensions.queues.maxDequeueCount must be at least 1, found {n}"
                )));
            }
            o.max_dequeue_count = n;
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespans_in_dotnet_forms() {
        assert_eq!(parse_timespan("00:00:02").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_timespan("01:30:00").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse_timespan("1.02:00:00").unwrap(), Duration::from_secs(86_400 + 7200));
        assert_eq!(parse_timespan("00:00:00.5").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_timespan("00:05").unwrap(), Duration::from_secs(300));
        assert_eq!(parse_timespan("2").unwrap(), Duration::from_secs(2 * 86_400));
        for bad in ["", "x", "00:60:00", "24:00:00", "-00:00:01", "1:2:3:4", "00:00:01.", "a.00:00:01"] {
            let e = parse_timespan(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("`{bad}`")), "{bad}: {e}");
        }
    }

    #[test]
    fn queue_options_defaults_and_overrides() {
        let d = QueueOptions::from_host_json(&serde_json::json!({"version": "2.0"})).unwrap();
        assert_eq!(d, QueueOptions::default());
        let doc = serde_json::json!({"extensions": {"queues": {
            "maxPollingInterval": "00:00:02", "batchSize": 4, "visibilityTimeout": "00:00:05", "maxDequeueCount": 2
        }}});
        let o = QueueOptions::from_host_json(&doc).unwrap();
        assert_eq!(o.max_polling_interval, Duration::from_secs(2));
        assert_eq!((o.batch_size, o.new_batch_threshold, o.max_dequeue_count), (4, 2, 2));
        assert_eq!(o.visibility_timeout, Duration::from_secs(5));
        let ms = QueueOptions::from_host_json(
            &serde_json::json!({"extensions": {"queues": {"maxPollingInterval": 500}}}),
        );
        assert_eq!(ms.unwrap().max_polling_interval, Duration::from_millis(500));
        for bad in [
            serde_json::json!({"extensions": {"queues": {"batchSize": 64}}}),
            serde_json::json!({"extensions": {"queues": {"maxDequeueCount": 0}}}),
            serde_json::json!({"extensions": {"queues": {"visibilityTimeout": "soon"}}}),
        ] {
            let e = QueueOptions::from_host_json(&bad).unwrap_err().to_string();
            assert!(e.contains("extensions.queues."), "{e}");
        }
    }

    #[test]
    fn storage_paths_default_and_overrides() {
        let dir = tempfile::tempdir().unwrap();
        let p = storage_paths(dir.path(), &BTreeMap::new()).unwrap();
        assert_eq!(p.storage_dir, dir.path().join(".fnwire"));
        assert_eq!(p.blob_dir, dir.path().join(".fnwire/blobs"));
        std::fs::write(
            dir.path().join("host.json"),
            r#"{"extensions":{"fnwire":{"storageDirectory":"data"}}}"#,
        )
        .unwrap();
        assert_eq!(
            storage_paths(dir.path(), &BTreeMap::new()).unwrap().blob_dir,
            dir.path().join("data/blobs")
        );
        let settings = BTreeMap::from([(BLOB_DIR_SETTING.to_string(), "/tmp/b".to_string())]);
        assert_eq!(storage_paths(dir.path(), &settings).unwrap().blob_dir, PathBuf::from("/tmp/b"));
    }
}

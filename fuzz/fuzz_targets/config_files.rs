//! The app's configuration files as users write them: `host.json`, `function.json`,
//! `worker.config.json` and `local.settings.json`, through the same readers `fnwire start` uses.
//! A bad file is an error naming it, never a panic.

#![no_main]

use std::sync::OnceLock;

use fnwire_host::app::{WorkerConfig, read_local_settings};
use fnwire_host::http::ListenerLimits;
use libfuzzer_sys::fuzz_target;

/// One app directory for the whole run: the readers take a directory, not text.
fn app_dir() -> &'static std::path::Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory")).path()
}

/// Input: one byte choosing the file, then its text.
fuzz_target!(|data: &[u8]| {
    let Some((&which, rest)) = data.split_first() else { return };
    let text = String::from_utf8_lossy(rest).into_owned();
    let dir = app_dir();
    match which % 4 {
        0 => {
            std::fs::write(dir.join("host.json"), &text).expect("write host.json");
            let _ = fnwire_host::host::read_route_prefix(dir);
            let _ = fnwire_host::timeout::read_function_timeout(dir);
            let _ = fnwire_host::triggers::config::QueueOptions::read(dir);
            if let Ok(doc) = serde_json::from_str::<serde_json::Value>(&text) {
                let _ = ListenerLimits::from_host_json(&doc);
            }
        }
        1 => {
            if let Ok(doc) = serde_json::from_str::<serde_json::Value>(&text) {
                let _ = fnwire_metadata::FunctionMetadata::from_function_json("fuzzed", &doc);
            }
        }
        2 => {
            if let Ok(config) = WorkerConfig::parse(&text) {
                let _ = config.to_launch(dir, dir, Default::default());
            }
        }
        _ => {
            std::fs::write(dir.join("local.settings.json"), &text).expect("write local.settings.json");
            let _ = read_local_settings(dir);
        }
    }
});

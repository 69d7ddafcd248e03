//! Building a Rust (Cargo) app and finding its binary.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use serde_json::Value;

use super::AppError;

/// Builds a Cargo app and returns its binary. Cargo's own output (compiling lines, errors)
/// goes to the console as usual; its JSON messages on stdout are read to find the binary.
pub async fn cargo_build(app_dir: &Path, release: bool) -> Result<PathBuf, AppError> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut args = vec!["build", "--message-format=json-render-diagnostics"];
    if release {
        args.push("--release");
    }
    let command = format!("cargo {}", args.join(" "));
    tracing::info!("building the app: {command} (in {})", app_dir.display());
    let output = tokio::process::Command::new(&cargo)
        .args(&args)
        .current_dir(app_dir)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .output()
        .await
        .map_err(|source| AppError::Spawn { command: command.clone(), dir: app_dir.to_path_buf(), source })?;
    // Rendered diagnostics arrive as JSON on stdout; show them like cargo would.
    let stdout = String::from_utf8_lossy(&output.stdout);
    for line in stdout.lines() {
        if let Ok(msg) = serde_json::from_str::<Value>(line)
            && msg.get("reason").and_then(Value::as_str) == Some("compiler-message")
            && let Some(rendered) = msg.pointer("/message/rendered").and_then(Value::as_str)
        {
            eprint!("{rendered}");
        }
    }
    if !output.status.success() {
        return Err(AppError::BuildFailed { dir: app_dir.to_path_buf(), status: output.status.to_string() });
    }
    find_binary(&stdout, &app_dir.join("Cargo.toml"))
        .map_err(|error| AppError::NoBinary { dir: app_dir.to_path_buf(), error })
}

/// Cargo built no binary fnwire can run as the worker.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BinaryError {
    #[error(
        "no binary target found for `{}`; a Rust function app needs `src/main.rs` (or a [[bin]] target) that runs \
         the fnwire worker",
        manifest.display()
    )]
    None { manifest: PathBuf },
    #[error(
        "the package has several binaries ({names}); keep one, or name the worker binary like the package"
    )]
    Several { names: String },
}

/// Picks the app's binary from cargo's JSON messages: a `bin` artifact of the package whose
/// manifest is `manifest`. With several binaries, the one named like the package wins.
pub fn find_binary(cargo_json: &str, manifest: &Path) -> Result<PathBuf, BinaryError> {
    let manifest = manifest.canonicalize().unwrap_or_else(|_| manifest.to_path_buf());
    let mut bins: Vec<(String, PathBuf, String)> = Vec::new();
    for line in cargo_json.lines() {
        let Ok(msg) = serde_json::from_str::<Value>(line) else { continue };
        if msg.get("reason").and_then(Value::as_str) != Some("compiler-artifact") {
            continue;
        }
        let Some(exe) = msg.get("executable").and_then(Value::as_str) else { continue };
        let Some(path) = msg.get("manifest_path").and_then(Value::as_str) else { continue };
        let path = Path::new(path);
        if path.canonicalize().unwrap_or_else(|_| path.to_path_buf()) != manifest {
            continue;
        }
        let is_bin = msg
            .pointer("/target/kind")
            .and_then(Value::as_array)
            .is_some_and(|kinds| kinds.iter().any(|k| k == "bin"));
        if !is_bin {
            continue;
        }
        let name = msg.pointer("/target/name").and_then(Value::as_str).unwrap_or_default().to_string();
        let package = msg.get("package_id").and_then(Value::as_str).unwrap_or_default().to_string();
        bins.push((name, PathBuf::from(exe), package));
    }
    match bins.len() {
        0 => Err(BinaryError::None { manifest }),
        1 => Ok(bins.remove(0).1),
        _ => {
            let names: Vec<&str> = bins.iter().map(|(n, _, _)| n.as_str()).collect();
            let package_name = manifest
                .parent()
                .and_then(|_| std::fs::read_to_string(&manifest).ok())
                .and_then(|t| package_name_from_manifest(&t));
            if let Some(pkg) = package_name
                && let Some((_, exe, _)) = bins.iter().find(|(n, _, _)| *n == pkg)
            {
                return Ok(exe.clone());
            }
            Err(BinaryError::Several { names: names.join(", ") })
        }
    }
}

fn package_name_from_manifest(text: &str) -> Option<String> {
    let mut in_package = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
            continue;
        }
        if in_package && let Some(rest) = line.strip_prefix("name") {
            let value = rest.trim_start().strip_prefix('=')?.trim().trim_matches('"');
            return Some(value.to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_package_binary_in_cargo_messages() {
        let dir = tempfile::tempdir().unwrap();
        let manifest = dir.path().join("Cargo.toml");
        std::fs::write(&manifest, "[package]\nname = \"app\"\n").unwrap();
        let m = manifest.display().to_string();
        let json = format!(
            "{{\"reason\":\"compiler-artifact\",\"manifest_path\":\"/elsewhere/Cargo.toml\",\"target\":{{\"kind\":[\"bin\"],\"name\":\"dep\"}},\"executable\":\"/t/dep\"}}\n\
             {{\"reason\":\"compiler-artifact\",\"manifest_path\":\"{m}\",\"target\":{{\"kind\":[\"lib\"],\"name\":\"app\"}},\"executable\":null}}\n\
             {{\"reason\":\"compiler-artifact\",\"manifest_path\":\"{m}\",\"target\":{{\"kind\":[\"bin\"],\"name\":\"app\"}},\"executable\":\"/t/app\"}}\n\
             {{\"reason\":\"build-finished\",\"success\":true}}\n"
        );
        assert_eq!(find_binary(&json, &manifest).unwrap(), PathBuf::from("/t/app"));
        assert!(find_binary("", &manifest).unwrap_err().to_string().contains("no binary target"));
    }
}

//! Embeds what the runner needs at run time, so the binary works from any directory:
//! * the scenario and exclusion data files (`scenarios/**/*.toml`, `exclusions/*.toml`);
//! * a descriptor set of fnwire's `FunctionRpc.proto`, to render transcripts as proto3 JSON.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use prost::Message;

fn toml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            toml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "toml") {
            out.push(path);
        }
    }
}

fn embed(name: &str, root: &Path, code: &mut String) {
    let mut files = Vec::new();
    toml_files(root, &mut files);
    files.sort();
    writeln!(code, "pub const {name}: &[(&str, &str)] = &[").unwrap();
    for file in files {
        let relative = file.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
        let absolute = file.canonicalize().unwrap();
        writeln!(code, "    ({relative:?}, include_str!({:?})),", absolute.display().to_string()).unwrap();
    }
    writeln!(code, "];").unwrap();
    println!("cargo:rerun-if-changed={}", root.display());
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR")?);
    let out = PathBuf::from(std::env::var("OUT_DIR")?);

    let mut code = String::new();
    embed("SCENARIO_FILES", &manifest.join("scenarios"), &mut code);
    embed("EXCLUSION_FILES", &manifest.join("exclusions"), &mut code);
    std::fs::write(out.join("embedded.rs"), code)?;

    let proto_dir = manifest.join("../protocol/proto");
    println!("cargo:rerun-if-changed={}", proto_dir.join("FunctionRpc.proto").display());
    let descriptors = protox::compile(["FunctionRpc.proto"], [&proto_dir])?;
    std::fs::write(out.join("function_rpc.bin"), descriptors.encode_to_vec())?;
    Ok(())
}

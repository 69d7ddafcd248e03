//! Links the `fnwire` binary with the functions the host runs to start and to serve requests
//! placed next to each other (`fnwire.order`, written by `scripts/order-file.sh`).
//!
//! Why: the kernel maps a binary's code in 64 KiB blocks around each page a process touches
//! ("fault-around"), and the linker's default layout scatters the ≈ 3,700 functions a host runs
//! over the whole 16 MiB of code. An idle host then holds ≈ 11 MiB of its own code resident,
//! although it ran less than 3 MiB of it. Grouped, the same functions fill a few contiguous
//! MiB: measured on `fnwire start examples/hello-rust`, idle RSS 20.5 → 12.6 MB.
//!
//! The file lists symbol names as the linker sees them; a name a build does not have (another
//! toolchain or dependency version renames generic instances) is skipped without a warning, so a
//! stale file costs memory, never a failed build. A name's hash comes from the crate's
//! `-C metadata`, which Cargo derives from the profile and the features, so the file holds three
//! sets: `release` with `-p fnwire-host` (what the benches build), `release` with `--bin fnwire`
//! (features of the whole workspace: `cargo run --release --bin fnwire`) and `dist` with
//! `--bin fnwire` (the release tarball of scripts/dist.sh), each build using its own and
//! skipping the others'. Measured on the dist build: idle RSS 18.1 → 11.3 MB. Only lld (Rust's default linker on x86_64 Linux since 1.90) takes the option, so it
//! is given only there, and never when the user chose a linker of their own. The Python wheel
//! and the npm addon never get it: their host is compiled into the extension library, not this
//! binary, and `maturin --zig` also names zig as the wheel's linker.

use std::env;
use std::path::Path;
use std::process::Command;

const TARGET_WITH_LLD: &str = "x86_64-unknown-linux-gnu";
const FIRST_RUSTC_MINOR_WITH_LLD: u32 = 90;

fn main() {
    println!("cargo:rerun-if-changed=fnwire.order");
    println!("cargo:rerun-if-env-changed=CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER");
    if linked_by_rust_lld() {
        let order = Path::new(&env::var("CARGO_MANIFEST_DIR").unwrap_or_default()).join("fnwire.order");
        if order.is_file() {
            println!("cargo:rustc-link-arg-bin=fnwire=-Wl,--symbol-ordering-file={}", order.display());
            println!("cargo:rustc-link-arg-bin=fnwire=-Wl,--no-warn-symbol-ordering");
        }
    }
}

/// True when this build links with the lld that rustc brings: the target is the one where that
/// is the default, rustc is new enough, and neither the rustflags nor the environment name
/// another linker.
fn linked_by_rust_lld() -> bool {
    if env::var("TARGET").as_deref() != Ok(TARGET_WITH_LLD) {
        return false;
    }
    if env::var_os("CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER").is_some() {
        return false;
    }
    let rustflags = env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if ["linker", "fuse-ld", "link-self-contained"].iter().any(|flag| rustflags.contains(flag)) {
        return false;
    }
    rustc_minor_version().is_some_and(|minor| minor >= FIRST_RUSTC_MINOR_WITH_LLD)
}

/// The minor version of the rustc this build uses (`rustc 1.95.0 (…)` → 95).
fn rustc_minor_version() -> Option<u32> {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".to_string());
    let output = Command::new(rustc).arg("--version").output().ok()?;
    let text = String::from_utf8(output.stdout).ok()?;
    let version = text.split_whitespace().nth(1)?;
    let mut parts = version.split('.');
    let major: u32 = parts.next()?.parse().ok()?;
    let minor: u32 = parts.next()?.parse().ok()?;
    (major == 1).then_some(minor)
}

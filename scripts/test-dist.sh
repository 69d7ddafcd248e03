#!/usr/bin/env bash
# Tests the prebuilt artifacts as a user installs them, on a PATH without cargo or rustc:
#   - the wheel, with pip into a fresh virtualenv: `fnwire start` serves the hello app;
#   - the two npm tarballs, into an empty project: `npx fnwire start` serves the hello app; the main
#     package alone (no platform package) fails to load with the message that says what to do;
#   - the release tarball's `fnwire`, serving the Python hello app on the wheel's worker;
#   - `cargo install --path host` (with cargo, as its users have it) gives a working `fnwire`.
# The artifacts are built first by scripts/dist.sh (the crates are checked there, with
# `cargo publish --dry-run`).
#
# Usage: scripts/test-dist.sh     FNWIRE_DIST_PROFILE=dev by default (reuses the workspace's
#                                 debug build); `dist` tests what a release ships.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
profile="${FNWIRE_DIST_PROFILE:-dev}"
python="${PYTHON:-python3.11}"
dist="$root/dist"
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"

step() { printf '\n==> test-dist: %s\n' "$*"; }

step "build the artifacts (scripts/dist.sh --profile $profile all)"
FNWIRE_DIST_ALLOW_DIRTY=1 scripts/dist.sh --profile "$profile" --out "$dist" all

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT

step "cargo install --path host (debug build, reusing the workspace's)"
cargo install --quiet --path host --debug --locked --root "$scratch/cargo-root"
"$scratch/cargo-root/bin/fnwire" --version

# What a user without a Rust toolchain has: the same PATH minus cargo's and rustup's directories.
# The interpreters are named by absolute path, since pyenv-style shims may live beside cargo.
python_bin="$(command -v "$python")"
python_bin="$("$python_bin" -c 'import sys; print(sys.executable)')"
user_path="$(printf '%s' "$PATH" | tr ':' '\n' | grep -v -e '\.cargo' -e 'rustup' | paste -sd: -)"
if PATH="$user_path" command -v cargo >/dev/null || PATH="$user_path" command -v rustc >/dev/null; then
    echo "test-dist: cargo or rustc is still on the stripped PATH ($user_path)" >&2
    exit 1
fi
as_user() { env -u CARGO_TARGET_DIR -u RUSTUP_TOOLCHAIN PATH="$user_path" "$@"; }

step "Python: pip install the wheel into a fresh virtualenv, then the hello app"
as_user "$python_bin" -m venv "$scratch/venv"
as_user "$scratch/venv/bin/pip" install --quiet --disable-pip-version-check --no-index "$dist"/fnwire-"$version"-*.whl
cp -r examples/hello-python "$scratch/hello-python"
as_user "$scratch/venv/bin/fnwire" --version
as_user "$python_bin" scripts/check-hello.py "$scratch/venv/bin/fnwire" "$scratch/hello-python" 7481

step "Node: npm install both tarballs into an empty project, then the hello app"
project="$scratch/hello-node"
mkdir -p "$project"
cp -r examples/hello-node/src examples/hello-node/host.json "$project/"
(
    cd "$project"
    as_user npm init -y >/dev/null
    as_user npm pkg set type=module main='src/functions/*.js'
    as_user npm install --no-audit --no-fund "$dist/fnwire-linux-x64-gnu-$version.tgz" "$dist/fnwire-$version.tgz"
    # The addon comes from the platform package, not from the main one.
    test -f node_modules/fnwire-linux-x64-gnu/fnwire.linux-x64-gnu.node
    if ls node_modules/fnwire/*.node >/dev/null 2>&1; then
        echo "test-dist: the main npm package carries an addon; only the platform package should" >&2
        exit 1
    fi
    as_user npx --no-install fnwire --version
)
(cd "$project" && as_user "$python_bin" "$root/scripts/check-hello.py" "npx --no-install fnwire" . 7482)

step "Node: the main package without its platform package says what is needed"
bare="$scratch/bare-node"
mkdir -p "$bare"
(
    cd "$bare"
    as_user npm init -y >/dev/null
    as_user npm install --no-audit --no-fund --omit=optional "$dist/fnwire-$version.tgz"
    if as_user npx --no-install fnwire --version >"$bare/run.log" 2>&1; then
        echo "test-dist: fnwire ran without its platform package; it cannot have an addon" >&2
        exit 1
    fi
    for needed in "no native addon for linux-x64-gnu" "fnwire-linux-x64-gnu" "reinstall fnwire" "Rust toolchain"; do
        grep -q "$needed" "$bare/run.log" || {
            cat "$bare/run.log" >&2
            echo "test-dist: the failure does not say '$needed'" >&2
            exit 1
        }
    done
    echo "ok  without the platform package, fnwire names it and what to do"
)

step "release tarball: its fnwire serves the Python hello app on the wheel's worker"
tar -xzf "$dist/fnwire-$version-x86_64-unknown-linux-gnu.tar.gz" -C "$scratch"
host="$scratch/fnwire-$version-x86_64-unknown-linux-gnu/fnwire"
as_user "$host" --version
VIRTUAL_ENV="$scratch/venv" as_user "$python_bin" scripts/check-hello.py "$host" "$scratch/hello-python" 7483

printf '\nall dist artifacts install and serve the hello app\n'

#!/usr/bin/env bash
# Builds fnwire's prebuilt artifacts into dist/ (ignored by git), for users without a Rust toolchain:
#
#   python  the manylinux abi3 wheel (worker + `fnwire` host) and the sdist of bindings-python
#   node    the npm platform package fnwire-linux-x64-gnu (the prebuilt addon) and the main
#           package fnwire, which names it in optionalDependencies (napi-rs's layout)
#   rust    the release tarball of the host binary
#   crates  the .crate files of the crates users depend on (`cargo publish --dry-run` of them
#           together: packaged, each built from its package, not uploaded)
#   all     the four above
#
# Usage: scripts/dist.sh [--profile dist|release|dev] [--out DIR] COMMAND...
#   --profile  Cargo profile of the native code; `dist` (default) is what users get, `dev` reuses
#              the workspace's debug build (the test script's choice: a whole-stack LTO build
#              costs many minutes on a small machine; the layout and behaviour are the same).
#   FNWIRE_DIST_ALLOW_DIRTY=1  packages the crates with uncommitted changes.
#   PYTHON     interpreter the wheel is built with (abi3: it serves every Python >= 3.9);
#              python3.11 by default.
#
# Prints every artifact with its size at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)"

profile=dist
out="$root/dist"
commands=()
while [ $# -gt 0 ]; do
    case "$1" in
        --profile) profile="${2:?--profile needs a Cargo profile name}"; shift 2 ;;
        --out) out="${2:?--out needs a directory}"; shift 2 ;;
        python|node|rust|crates) commands+=("$1"); shift ;;
        all) commands+=(python node rust crates); shift ;;
        -h|--help) sed -n '2,/^set -euo/{/^#/p}' "$0"; exit 0 ;;
        *) echo "dist.sh: unknown argument '$1'; expected python, node, rust, crates, all, --profile or --out (see --help)" >&2; exit 2 ;;
    esac
done
if [ ${#commands[@]} -eq 0 ]; then
    echo "dist.sh: name what to build: python, node, rust, crates or all (see --help)" >&2
    exit 2
fi
mkdir -p "$out"
out="$(cd "$out" && pwd)"

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
profile_dir="$profile"
[ "$profile" = dev ] && profile_dir=debug
version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -n 1)"
triple="$(rustc -vV | sed -n 's/^host: //p')"
python="${PYTHON:-python3.11}"
tools="$CARGO_TARGET_DIR/fnwire-dist-tools"

step() { printf '\n==> dist: %s\n' "$*"; }

# maturin builds the wheel; ziglang (zig from PyPI) is its linker for an older glibc than this
# machine's; auditwheel checks the result.
tools_venv() {
    if [ ! -x "$tools/bin/maturin" ] || [ ! -x "$tools/bin/auditwheel" ] || ! "$tools/bin/python" -c 'import ziglang' 2>/dev/null; then
        step "tools venv (maturin, ziglang, auditwheel from PyPI)"
        "$python" -m venv "$tools"
        "$tools/bin/pip" install --quiet --disable-pip-version-check "maturin>=1.7,<2" "ziglang>=0.13" "auditwheel>=6"
    fi
}

build_python() {
    tools_venv
    step "Python wheel (maturin --zig, manylinux_2_17, profile $profile)"
    rm -f "$out"/fnwire-"$version"-*.whl "$out"/fnwire-"$version".tar.gz
    # zig links against glibc 2.17's symbols, which `auditwheel repair` cannot do: it can only
    # bundle libraries, not lower the glibc a binary built on this machine needs. zig's C compiler
    # also compiles the C parts (ring, mimalloc, SQLite); so the wheel gets a target directory of
    # its own instead of rebuilding those in the workspace's after every run.
    (cd bindings-python && PATH="$tools/bin:$PATH" CARGO_TARGET_DIR="$CARGO_TARGET_DIR/wheel-manylinux" \
        "$tools/bin/maturin" build --profile "$profile" --zig --compatibility manylinux2014 \
        --interpreter "$python" --out "$out")
    wheel="$(ls "$out"/fnwire-"$version"-*.whl)"
    step "check the wheel's platform tag and libraries (auditwheel show)"
    "$tools/bin/auditwheel" show "$wheel" | tee "$CARGO_TARGET_DIR/auditwheel-show.txt"
    if ! grep -q 'manylinux_2_17_x86_64' "$CARGO_TARGET_DIR/auditwheel-show.txt"; then
        echo "dist.sh: auditwheel does not accept $wheel as manylinux_2_17 (see above)" >&2
        exit 1
    fi
    step "Python sdist (maturin sdist)"
    (cd bindings-python && "$tools/bin/maturin" sdist --out "$out")
}

# The npm packages: the platform package carries the addon (which also holds the host: `fnwire`
# runs it through the addon), the main package carries the JavaScript and names the platform
# packages as optional dependencies, so npm installs only the one matching the machine.
build_node() {
    local platform=linux-x64-gnu
    [ "$triple" = x86_64-unknown-linux-gnu ] || {
        echo "dist.sh: the node packages are built for x86_64-unknown-linux-gnu; this machine is $triple" >&2
        exit 1
    }
    step "Node addon (cargo build -p fnwire-node, profile $profile)"
    cargo build --profile "$profile" -p fnwire-node
    local addon="$CARGO_TARGET_DIR/$profile_dir/libfnwire_node.so"
    local stage="$CARGO_TARGET_DIR/npm-stage"
    rm -rf "$stage" && mkdir -p "$stage"
    rm -f "$out"/fnwire-"$version".tgz "$out"/fnwire-"$platform"-"$version".tgz

    step "npm platform package fnwire-$platform"
    mkdir "$stage/$platform"
    cp "$addon" "$stage/$platform/fnwire.$platform.node"
    # The dev profile's addon carries debug info (hundreds of MB); users never get that.
    strip --strip-debug "$stage/$platform/fnwire.$platform.node"
    node "$root/bindings-node/scripts/platform-package.js" "$root/bindings-node/package.json" "$platform" "$stage/$platform"
    (cd "$stage/$platform" && npm pack --silent --pack-destination "$out" >/dev/null)

    step "npm main package fnwire (optionalDependencies: fnwire-$platform)"
    # Packed from a copy whose package.json names the platform packages: the checkout's own
    # package.json does not, so `npm install` in a checkout never asks the registry for them.
    mkdir "$stage/main"
    (cd bindings-node && npm pack --silent --pack-destination "$stage" >/dev/null)
    tar -xzf "$stage/fnwire-$version.tgz" -C "$stage/main" --strip-components=1
    rm -f "$stage"/main/fnwire.*.node
    node "$root/bindings-node/scripts/platform-package.js" --main "$stage/main/package.json" "$platform"
    (cd "$stage/main" && npm pack --silent --pack-destination "$out" >/dev/null)
}

build_rust() {
    step "host binary (cargo build --bin fnwire, profile $profile)"
    cargo build --profile "$profile" --bin fnwire
    local name="fnwire-$version-$triple"
    local stage="$CARGO_TARGET_DIR/tarball-stage"
    rm -rf "$stage" && mkdir -p "$stage/$name"
    cp "$CARGO_TARGET_DIR/$profile_dir/fnwire" "$stage/$name/fnwire"
    strip --strip-debug "$stage/$name/fnwire"
    cp README.md "$stage/$name/"
    tar -czf "$out/$name.tar.gz" -C "$stage" "$name"
}

build_crates() {
    step "crates (cargo publish --dry-run: packages, builds each package, stops before the upload)"
    # Packaged together: cargo builds each against the others through a local registry overlay,
    # since none of them is on crates.io yet. FNWIRE_DIST_ALLOW_DIRTY=1 packages uncommitted
    # changes too (the test script, on a work tree); a release packages a clean checkout.
    local crates=(-p fnwire-protocol -p fnwire-tables -p fnwire-metadata -p fnwire-macros-core -p fnwire-shared-memory -p fnwire-macros -p fnwire)
    local dirty=()
    [ "${FNWIRE_DIST_ALLOW_DIRTY:-0}" = 1 ] && dirty=(--allow-dirty)
    cargo publish --dry-run "${dirty[@]}" "${crates[@]}"
    mkdir -p "$out/crates"
    # A dry run of several crates leaves their .crate files in package/tmp-crate (a single
    # `cargo package` leaves them in package/); take each crate from wherever this cargo put it.
    local name file
    for name in fnwire-protocol fnwire-metadata fnwire-macros-core fnwire-shared-memory fnwire-macros fnwire; do
        file="$CARGO_TARGET_DIR/package/tmp-crate/$name-$version.crate"
        [ -f "$file" ] || file="$CARGO_TARGET_DIR/package/$name-$version.crate"
        [ -f "$file" ] || { echo "dist.sh: cargo left no $name-$version.crate under $CARGO_TARGET_DIR/package" >&2; exit 1; }
        cp "$file" "$out/crates/"
    done
}

for command in "${commands[@]}"; do
    "build_$command"
done

step "artifacts in $out"
(cd "$out" && find . -maxdepth 2 -type f \( -name '*.whl' -o -name '*.tar.gz' -o -name '*.tgz' -o -name '*.crate' \) \
    -printf '%10s  %p\n' | sort -k2 | awk '{ printf "%8.1f MB  %s\n", $1 / 1048576, $2 }')

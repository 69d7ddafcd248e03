#!/usr/bin/env bash
# Writes host/fnwire.order: the functions of the `fnwire` binary that a host runs to start and to
# serve requests, which host/build.rs hands to the linker so they sit next to each other (see the
# comment there for why: idle RSS). Run it after changes that rename many functions (a toolchain
# or dependency update, a large refactor of the host); a stale file only costs memory.
#
#   scripts/order-file.sh            # three builds, hello-rust under callgrind three times,
#                                    # ≈ 5 min plus the builds
#
# How: `fnwire start` on packed examples/hello-rust runs under callgrind (symbol names kept
# mangled, as the linker needs them), serves GET and POST requests and its queue and timer
# triggers, and stops; every function of the binary that ran is written in the order callgrind
# first lists it. Needs valgrind and python3.
#
# Three builds, because a mangled name ends in a hash (`…17h<16 hex digits>E`) of the crate's
# `-C metadata`, which Cargo derives from the profile and the features, so these binaries share
# few names:
#   - release: `cargo build --release -p fnwire-host`, what the benches build.
#   - release-workspace: `cargo build --release --bin fnwire`, what `cargo run --release --bin
#     fnwire` and scripts/soak.sh build: without `-p`, features resolve over the whole workspace.
#   - dist: `cargo build --profile dist --bin fnwire`, what scripts/dist.sh puts in the release
#     tarball users install. That build strips its symbols, which leaves callgrind nothing to
#     name, and `CARGO_PROFILE_DIST_STRIP=none` would change the profile and with it every hash.
#     `RUSTFLAGS=-C strip=none` does not: Cargo keeps RUSTFLAGS out of `-C metadata` (it only
#     names the files apart), so this unstripped binary has exactly the stripped one's names.
#     The package selection must be dist.sh's too: `--bin fnwire` resolves features over the
#     whole workspace, `-p fnwire-host` over the host alone, and other features are other hashes.
# The file lists the release names, then the others' names that are not already there (functions
# of the precompiled standard library have one name in all); lld skips the names a build lacks.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in valgrind python3 curl; do
  command -v "$tool" >/dev/null || { echo "order-file: $tool is needed (apt-get install $tool)" >&2; exit 1; }
done

target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json, sys; print(json.load(sys.stdin)["target_directory"])')
work=$target_dir/order-file
rm -rf "$work" && mkdir -p "$work"
port=${ORDER_FILE_PORT:-7419}

# capture NAME BINARY: runs BINARY on the packed app under callgrind and writes the mangled names
# of its functions that ran, in first-run order, to $work/NAME.names.
capture() {
  local name=$1 binary=$2
  valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/$name.callgrind.out" \
    "$binary" start "$work/app" --port "$port" >"$work/$name.host.log" 2>&1 &
  host=$!
  trap 'kill "$host" 2>/dev/null || true' EXIT

  local up=""
  for _ in $(seq 1 120); do
    if curl -sf "http://127.0.0.1:$port/api/hello?name=order" >/dev/null; then up=1; break; fi
    sleep 1
  done
  [ -n "$up" ] || { echo "order-file: the $name host did not answer within 120 s; see $work/$name.host.log" >&2; exit 1; }

  for i in $(seq 1 300); do curl -s "http://127.0.0.1:$port/api/hello?name=n$i" >/dev/null; done
  head -c 2000000 /dev/zero | curl -s -X POST --data-binary @- "http://127.0.0.1:$port/api/mirror" >/dev/null
  for i in $(seq 1 20); do curl -s -X POST -d "job $i" "http://127.0.0.1:$port/api/enqueue" >/dev/null || true; done
  sleep 5

  kill -INT "$host"
  wait "$host" || true
  trap - EXIT

  python3 - "$work/$name.callgrind.out" "$binary" "$work/$name.names" <<'PY'
import re, sys
callgrind_out, binary, names_path = sys.argv[1:]
objects, functions = {}, {}
current_object = None
ran = []  # (function id) in the order callgrind first lists them under this binary
seen = set()

def name_of(table, line, key):
    match = re.match(key + r"=\((\d+)\)(?: (.*))?$", line)
    if match.group(2):
        table[match.group(1)] = match.group(2)
    return match.group(1)

for line in open(callgrind_out, encoding="utf-8", errors="replace"):
    line = line.rstrip("\n")
    if line.startswith("ob="):
        current_object = name_of(objects, line, "ob")
    elif line.startswith("cob="):
        name_of(objects, line, "cob")
    elif line.startswith("cfn="):
        name_of(functions, line, "cfn")
    elif line.startswith("fn="):
        function = name_of(functions, line, "fn")
        if objects.get(current_object) == binary and function not in seen:
            seen.add(function)
            ran.append(function)

names, written = [], set()
for function in ran:
    name = re.sub(r"'\d+$", "", functions[function])  # callgrind marks recursion levels as 'N
    if name not in written:
        written.add(name)
        names.append(name)
if len(names) < 500:
    sys.exit(f"order-file: only {len(names)} functions of {binary} ran; the run did not reach the host, "
             "or the binary has no symbols")
with open(names_path, "w") as out:
    out.write("\n".join(names) + "\n")
print(f"order-file: {len(names)} functions of {binary} ran")
PY
}

cargo build --release -p fnwire-host --bin fnwire
"$target_dir/release/fnwire" pack examples/hello-rust --out "$work/app"
capture release "$target_dir/release/fnwire"

cargo build --release --bin fnwire
capture release-workspace "$target_dir/release/fnwire"

# Leaves target/dist/fnwire unstripped; the next plain dist build links it again, as this run
# changes fnwire.order, which host/build.rs watches.
RUSTFLAGS="${RUSTFLAGS:-} -C strip=none" cargo build --profile dist --bin fnwire
capture dist "$target_dir/dist/fnwire"

python3 - "$work/release.names" "$work/release-workspace.names" "$work/dist.names" host/fnwire.order <<'PY'
import sys
*lists, order_path = sys.argv[1:]
names, written = [], set()
for path in lists:
    for name in open(path).read().split():
        if name not in written:
            written.add(name)
            names.append(name)
with open(order_path, "w") as out:
    out.write("\n".join(names) + "\n")
print(f"order-file: {len(names)} names written to {order_path}")
PY

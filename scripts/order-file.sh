#!/usr/bin/env bash
# Writes host/fnwire.order: the functions of the `fnwire` binary that a host runs to start and to
# serve requests, which host/build.rs hands to the linker so they sit next to each other (see the
# comment there for why: idle RSS). Run it after changes that rename many functions (a toolchain
# or dependency update, a large refactor of the host); a stale file only costs memory.
#
#   scripts/order-file.sh            # release build, hello-rust under callgrind, ≈ 2 min plus the build
#
# How: `fnwire start` on packed examples/hello-rust runs under callgrind (symbol names kept
# mangled, as the linker needs them), serves GET and POST requests and its queue and timer
# triggers, and stops; every function of the binary that ran is written in the order callgrind
# first lists it. Needs valgrind and python3.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in valgrind python3 curl; do
  command -v "$tool" >/dev/null || { echo "order-file: $tool is needed (apt-get install $tool)" >&2; exit 1; }
done

work=target/order-file
rm -rf "$work" && mkdir -p "$work"
cargo build --release -p fnwire-host --bin fnwire
binary=$PWD/target/release/fnwire
"$binary" pack examples/hello-rust --out "$work/app"

port=${ORDER_FILE_PORT:-7419}
valgrind --tool=callgrind --demangle=no --callgrind-out-file="$work/callgrind.out" \
  "$binary" start "$work/app" --port "$port" >"$work/host.log" 2>&1 &
host=$!
trap 'kill "$host" 2>/dev/null || true' EXIT

up=""
for _ in $(seq 1 120); do
  if curl -sf "http://127.0.0.1:$port/api/hello?name=order" >/dev/null; then up=1; break; fi
  sleep 1
done
[ -n "$up" ] || { echo "order-file: the host did not answer within 120 s; see $work/host.log" >&2; exit 1; }

for i in $(seq 1 300); do curl -s "http://127.0.0.1:$port/api/hello?name=n$i" >/dev/null; done
head -c 2000000 /dev/zero | curl -s -X POST --data-binary @- "http://127.0.0.1:$port/api/mirror" >/dev/null
for i in $(seq 1 20); do curl -s -X POST -d "job $i" "http://127.0.0.1:$port/api/enqueue" >/dev/null || true; done
sleep 5

kill -INT "$host"
wait "$host" || true
trap - EXIT

python3 - "$work/callgrind.out" "$binary" host/fnwire.order <<'PY'
import re, sys
callgrind_out, binary, order_path = sys.argv[1:]
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
    sys.exit(f"order-file: only {len(names)} functions of {binary} ran; the run did not reach the host")
with open(order_path, "w") as out:
    out.write("\n".join(names) + "\n")
print(f"order-file: {len(names)} functions written to {order_path}")
PY

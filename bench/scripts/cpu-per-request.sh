#!/usr/bin/env bash
# CPU time and context switches per request of the fnwire host and its worker under HTTP load.
#
#   bench/scripts/cpu-per-request.sh APP_DIR [FNWIRE_BINARY] [PORT] [SECONDS] [PATH]
#
# Starts `fnwire start APP_DIR`, drives PATH with `fnwire-bench load` (64 keep-alive connections)
# and reads both processes' CPU ticks and voluntary context switches from /proc before and after.
# CPU per request moves less with machine noise than requests/s, so it suits A/B comparisons of
# two binaries: run them alternately, several times. Build first:
#   cargo build --release -p fnwire-host -p fnwire-bench
# and pack the app (e.g. `fnwire pack examples/hello-rust --out /tmp/hello`) so no build runs.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
app="${1:?usage: cpu-per-request.sh APP_DIR [FNWIRE_BINARY] [PORT] [SECONDS] [PATH]}"
fnwire="${2:-$root/target/release/fnwire}"
port="${3:-7301}"
seconds="${4:-3}"
path="${5:-/api/hello?name=bench}"
bench="$root/target/release/fnwire-bench"

"$fnwire" start "$app" --port "$port" >"/tmp/cpu-per-request-$port.log" 2>&1 &
host=$!
# Wait for the host to exit, so a run right after this one (an A/B pair on the same packed app)
# does not find the app's store still held.
trap 'kill $host 2>/dev/null || true; wait $host 2>/dev/null || true' EXIT
for _ in $(seq 1 200); do
  curl -sf "http://127.0.0.1:$port$path" >/dev/null && break
  sleep 0.1
done
worker=$(pgrep -P "$host" | head -1)
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
switches() { cat /proc/"$1"/task/*/status 2>/dev/null | awk '/^voluntary_ctxt_switches/ {s += $2} END {print s}'; }
h0=$(ticks "$host"); w0=$(ticks "$worker"); hs0=$(switches "$host"); ws0=$(switches "$worker")
out=$("$bench" load "127.0.0.1:$port" "$path" "$seconds")
h1=$(ticks "$host"); w1=$(ticks "$worker"); hs1=$(switches "$host"); ws1=$(switches "$worker")
rps=$(echo "$out" | awk '{print $1}')
tick_us=$((1000000 / $(getconf CLK_TCK)))
awk -v rps="$rps" -v s="$seconds" -v t="$tick_us" -v h=$((h1 - h0)) -v w=$((w1 - w0)) \
    -v hs=$((hs1 - hs0)) -v ws=$((ws1 - ws0)) 'BEGIN {
  n = rps * s
  printf "%7.0f req/s  host %5.1f us %4.2f csw/req  worker %5.1f us %4.2f csw/req\n", rps, h * t / n, hs / n, w * t / n, ws / n
}'

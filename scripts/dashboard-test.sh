#!/usr/bin/env bash
# The dashboard of a running app (examples/hello-rust under `fnwire start`):
#  1. the page in headless Chromium (Debian's `chromium`, installed with apt-get when missing),
#     driven by playwright-core (npm): functions run and appear live; the screenshots it takes
#     go to target/dashboard-test/screenshots/, or with FNWIRE_UPDATE_SCREENSHOTS=1 to
#     docs/screenshots/, which the README shows;
#  2. its JSON API checked against its own OpenAPI document by schemathesis (PyPI, in a venv).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
work="$root/target/dashboard-test"
mkdir -p "$work"

step() { printf '\n==> %s\n' "$*"; }

step "dashboard: Chromium"
chromium_bin="$(command -v chromium || true)"
if [ -z "$chromium_bin" ]; then
  started=$(date +%s)
  apt_get() { if [ "$(id -u)" -eq 0 ]; then apt-get "$@"; else sudo apt-get "$@"; fi; }
  apt_get update -qq
  DEBIAN_FRONTEND=noninteractive apt_get install -y -qq --no-install-recommends chromium >/dev/null
  echo "installed chromium in $(( $(date +%s) - started )) s"
  chromium_bin="$(command -v chromium)"
fi
"$chromium_bin" --version

step "dashboard: schemathesis venv"
venv="$work/venv"
marker="$venv/.schemathesis-4.32.5"
exec 9>"$venv.lock"
flock 9
if [ ! -f "$marker" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "schemathesis==4.32.5"
  touch "$marker"
fi
exec 9>&-

step "dashboard: playwright-core"
if [ ! -d "$work/node/node_modules/playwright-core" ] || ! cmp -s scripts/dashboard/package.json "$work/node/package.json"; then
  rm -rf "$work/node"
  mkdir -p "$work/node"
  cp scripts/dashboard/package.json "$work/node/"
  (cd "$work/node" && npm install --no-audit --no-fund --silent)
fi
cp scripts/dashboard/browser.mjs "$work/node/"

step "dashboard: fnwire start examples/hello-rust"
cargo build --quiet --bin fnwire
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
storage="$(mktemp -d)"
log="$work/fnwire.log"
# Emptied here, not by the background command's redirect: that one may run after the first wait
# below has already read the last run's "Host started".
: >"$log"
FNWIRE_STORAGE_DIR="$storage" target/debug/fnwire start examples/hello-rust --debug --port "$port" >"$log" 2>&1 &
host_pid=$!
cleanup() {
  kill -TERM "$host_pid" 2>/dev/null || true
  wait "$host_pid" 2>/dev/null || true
  rm -rf "$storage"
}
trap cleanup EXIT
origin="http://127.0.0.1:$port"
# Bounded: the first start builds the app.
for _ in $(seq 1 600); do
  if grep -q "Host started" "$log"; then break; fi
  if ! kill -0 "$host_pid" 2>/dev/null; then cat "$log"; echo "fnwire start exited" >&2; exit 1; fi
  sleep 0.5
done
grep -q "Host started" "$log" || { cat "$log"; echo "fnwire start did not start within 5 minutes" >&2; exit 1; }
grep -q "Dashboard: $origin/admin/ui" "$log" || { cat "$log"; echo "fnwire start did not print the dashboard's address" >&2; exit 1; }

step "dashboard: headless Chromium"
# The README's screenshots change only when asked for, so a test run leaves the tree as it was.
shots="$work/screenshots"
if [ "${FNWIRE_UPDATE_SCREENSHOTS:-}" = 1 ]; then shots="$root/docs/screenshots"; fi
mkdir -p "$shots"
node "$work/node/browser.mjs" "$origin" "$shots" "$chromium_bin"
echo "screenshots: $shots"

step "dashboard: schemathesis against $origin/admin/api/openapi.json"
# After the browser test, so the API has data to follow its links to: invocations, a queue with
# a message, and a poison message that a requeue can move back.
FNWIRE_STORAGE_DIR="$storage" target/debug/fnwire queue put jobs-poison "job from the poison queue" \
  --app examples/hello-rust >/dev/null
# The live feed never ends by design; its own tests are in dashboard/tests. Run from the work
# directory: schemathesis keeps its cache in `.schemathesis/` under the current directory.
(cd "$work" && "$venv/bin/schemathesis" run "$origin/admin/api/openapi.json" \
  --checks all --exclude-path /admin/api/invocations/stream \
  --max-examples 40 --seed 1 --no-color)
kill -0 "$host_pid" 2>/dev/null || { cat "$log"; echo "fnwire start exited during the API tests" >&2; exit 1; }

#!/usr/bin/env bash
# Tests of the fnwire Python package: builds the abi3 wheel with maturin (reusing the workspace's
# target dir), installs it with its `azure` extra (azure-functions from PyPI) into a fresh
# virtualenv, runs pytest (unit + end to end through `fnwire start`), then the conformance suite
# against conformance/apps/python, conformance/apps/azure-python (azure.functions v2) and the v1
# contract app of conformance/peers/azure-python-v1, all on fnwire's worker.
#
# Usage: bindings-python/scripts/test.sh            (PYTHON=python3.11 by default)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
root="$(cd "$here/.." && pwd)"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$root/target}"
python="${PYTHON:-python3.11}"
work="$CARGO_TARGET_DIR/fnwire-python"
mkdir -p "$work"

echo "== fnwire-python: tools venv (maturin, pytest)"
if [ ! -x "$work/tools/bin/maturin" ]; then
    "$python" -m venv "$work/tools"
    "$work/tools/bin/pip" install --quiet --disable-pip-version-check "maturin>=1.7,<2"
fi

# Tests build the wheel with the dev profile so it reuses the dependencies the workspace tests
# already compiled (a release build of the whole stack costs minutes on a 2-core machine);
# FNWIRE_PY_RELEASE=1 builds it the way `pip install` does.
profile_flag=()
[ "${FNWIRE_PY_RELEASE:-0}" = 1 ] && profile_flag=(--release)
echo "== fnwire-python: building the wheel ${profile_flag[*]:-(dev profile)}"
rm -rf "$work/wheels"
(cd "$here" && "$work/tools/bin/maturin" build "${profile_flag[@]}" --interpreter "$python" --out "$work/wheels")
wheel="$(ls "$work"/wheels/fnwire-*.whl)"

echo "== fnwire-python: fresh virtualenv with $python"
rm -rf "$work/venv"
"$python" -m venv "$work/venv"
# azure-functions-durable: the official Durable Functions library, for the durable end-to-end tests;
# pika: the orders test publishes to and reads from RabbitMQ as a client of the broker would.
"$work/venv/bin/pip" install --quiet --disable-pip-version-check "$wheel[azure]" pytest "azure-functions-durable==1.7.0" "pika==1.4.4"

echo "== fnwire-python: pytest"
set +e
(cd "$here" && "$work/venv/bin/python" -m pytest -q tests)
status=$?
set -e
if [ "$status" -eq 5 ]; then
    echo "pytest collected no tests: that is a failure here" >&2
    exit 1
fi
[ "$status" -eq 0 ] || exit "$status"

echo "== fnwire-python: conformance suite against conformance/apps/python"
(cd "$root" && cargo build --quiet --bin fnwire-conformance)
(cd "$root" && VIRTUAL_ENV="$work/venv" PATH="$work/venv/bin:$PATH" \
    "$CARGO_TARGET_DIR/debug/fnwire-conformance" run --app conformance/apps/python)

# The azure.functions contract app is Microsoft's peer's, unchanged; on fnwire's worker it runs
# without the peer's exclusions (which the runner would pick by the folder's name).
echo "== fnwire-python: conformance suite against conformance/apps/azure-python (azure.functions v2)"
(cd "$root" && VIRTUAL_ENV="$work/venv" PATH="$work/venv/bin:$PATH" \
    "$CARGO_TARGET_DIR/debug/fnwire-conformance" run --app conformance/apps/azure-python --no-exclusions)

# The v1 (function.json) contract app is the azure-python-v1 peer's; `--worker-cmd` runs it on
# fnwire's worker instead of the peer's (its worker.config.json names Microsoft's runtime).
echo "== fnwire-python: conformance suite against conformance/peers/azure-python-v1 (azure.functions v1) on fnwire's worker"
(cd "$root" && VIRTUAL_ENV="$work/venv" PATH="$work/venv/bin:$PATH" \
    "$CARGO_TARGET_DIR/debug/fnwire-conformance" run --app conformance/peers/azure-python-v1 \
    --worker-cmd "$work/venv/bin/python -m fnwire" --no-exclusions)

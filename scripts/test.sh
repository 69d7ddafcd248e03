#!/usr/bin/env bash
# Runs every fnwire test on a fresh machine: formatting, lints, the Rust workspace (unit,
# integration, macro UI and end-to-end tests through `fnwire start`), and the conformance suite.
# Anything the tests need is installed here, from the package registries.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

step "toolchain"
cargo --version
if ! cargo nextest --version >/dev/null 2>&1; then
  step "installing cargo-nextest from crates.io"
  cargo install cargo-nextest --locked
fi

step "self-contained: nothing outside the repository"
scripts/check-self-contained.sh

step "format"
cargo fmt --all -- --check

step "lints"
cargo clippy --workspace --all-targets -- -D warnings

step "PostgreSQL for the shared-store tests"
eval "$(scripts/postgres.sh)"
echo "FNWIRE_TEST_POSTGRES=$FNWIRE_TEST_POSTGRES"

step "RabbitMQ for the AMQP trigger and output tests"
eval "$(scripts/rabbitmq.sh)"
echo "FNWIRE_TEST_AMQP=$FNWIRE_TEST_AMQP"

step "Rust tests (workspace)"
cargo nextest run --workspace --no-fail-fast
# Doc tests are not run by nextest.
cargo test --workspace --doc

step "conformance: Rust contract app"
cargo run --bin fnwire-conformance -- run --app conformance/apps/rust --debug-build --json target/conformance-rust.json

step "conformance: Azure Python peer (Microsoft's azure-functions-runtime)"
peer_rc=0
conformance/peers/azure-python/setup.sh || peer_rc=$?
if [ "$peer_rc" -eq 0 ]; then
  cargo run --bin fnwire-conformance -- run --app conformance/peers/azure-python \
    --json target/conformance-azure-python.json
elif [ "$peer_rc" -eq 3 ]; then
  echo "skipping the Azure peer: no Python >= 3.13 (setup.sh said why above)"
else
  exit "$peer_rc"
fi

step "conformance: Azure Python v1 peer (Microsoft's azure-functions-runtime-v1, a function.json app)"
peer_rc=0
conformance/peers/azure-python-v1/setup.sh || peer_rc=$?
if [ "$peer_rc" -eq 0 ]; then
  cargo run --bin fnwire-conformance -- run --app conformance/peers/azure-python-v1 \
    --json target/conformance-azure-python-v1.json
  # The same app through the host binary: HTTP, queue and blob functions as a user sees them.
  cargo build --bin fnwire
  conformance/peers/azure-python-v1/.venv/bin/python conformance/peers/azure-python-v1/check_fnwire_start.py \
    target/debug/fnwire
elif [ "$peer_rc" -eq 3 ]; then
  echo "skipping the Azure v1 peer: no Python >= 3.13 (setup.sh said why above)"
else
  exit "$peer_rc"
fi

step "Python: wheel, pytest, conformance (bindings-python)"
bindings-python/scripts/test.sh

step "Node: addon, npm pack, node --test, conformance (bindings-node)"
bash bindings-node/scripts/test.sh

step "dashboard: its API against its OpenAPI document (schemathesis), the page in headless Chromium"
scripts/dashboard-test.sh

step "prebuilt packages: wheel, npm packages, release tarball and crates, installed as users do"
scripts/test-dist.sh

printf '\nall fnwire tests passed\n'

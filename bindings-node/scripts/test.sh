#!/usr/bin/env bash
# Tests of the fnwire npm package: install (builds the addon), pack and install the tarball into an
# empty project, node --test (JS layer and end to end through the host; `fnwire new --lang node` for
# every template, each generated app installed from the tarball and run; the @azure/functions tests
# install that tarball and @azure/functions from npm into an app of their own), and the conformance
# suite against conformance/apps/node and conformance/apps/azure-node. Exits non-zero on the first
# failure.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
repo="$(cd "$here/.." && pwd)"
# Reuse the workspace's build output (the addon shares most crates with the host and the suite).
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$repo/target}"
# The dev profile reuses the dependencies the workspace tests compiled; FNWIRE_ADDON_PROFILE=release
# builds the addon the way `npm install` does for users.
export FNWIRE_ADDON_PROFILE="${FNWIRE_ADDON_PROFILE:-dev}"

step() { printf '\n== %s\n' "$*"; }

step "npm install in bindings-node (from the npm registry; builds the native addon)"
cd "$here"
# --force rebuilds the addon: a leftover one may be older than the Rust sources.
npm install --no-audit --no-fund
node scripts/build-addon.js --force

step "npm pack, then install the tarball into an empty project"
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
tarball="$(npm pack --silent --pack-destination "$scratch" | tail -n 1)"
# test/azure.test.js installs this same tarball into a copy of examples/azure-node.
export FNWIRE_TARBALL="$scratch/$tarball"
mkdir "$scratch/project"
(
  cd "$scratch/project"
  npm init -y >/dev/null
  npm install --no-audit --no-fund "$scratch/$tarball"
  node -e "const { app } = require('fnwire'); if (typeof app.httpTrigger !== 'function') process.exit(1)"
  node --input-type=module -e "import { app } from 'fnwire'; if (typeof app.queueTrigger !== 'function') process.exit(1)"
  npx --no-install fnwire --version
)

step "install the example and contract apps (they depend on this package by path)"
(cd "$repo/examples/hello-node" && npm install --no-audit --no-fund)
(cd "$repo/conformance/apps/node" && npm install --no-audit --no-fund)
(cd "$repo/conformance/apps/azure-node" && npm install --no-audit --no-fund)

step "node --test"
cd "$here"
node --test test/

step "conformance suite against conformance/apps/node"
cd "$repo"
cargo run --bin fnwire-conformance -- run --app conformance/apps/node

step "conformance suite against conformance/apps/azure-node (@azure/functions v4, unchanged)"
cargo run --bin fnwire-conformance -- run --app conformance/apps/azure-node

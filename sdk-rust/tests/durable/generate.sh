#!/usr/bin/env bash
# Regenerates golden.json with the official Python durable library, in a virtualenv under
# target/ (the Rust tests read the committed golden.json and need no Python).
set -euo pipefail
cd "$(dirname "$0")/../../.."
venv=target/durable-golden-venv
if [ ! -x "$venv/bin/python" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "azure-functions-durable==1.7.*"
fi
"$venv/bin/python" sdk-rust/tests/durable/generate.py sdk-rust/tests/durable/golden.json

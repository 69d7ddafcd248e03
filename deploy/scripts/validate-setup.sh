#!/usr/bin/env bash
# Makes the virtualenv the deploy tests validate manifests with: kubernetes-validate carries the
# Kubernetes OpenAPI schemas; jsonschema (one of its dependencies) checks the ScaledObject
# against deploy/tests/data/keda-scaledobject.schema.json. Prints the venv's python on success.
#
# nextest runs each test in a process of its own, so several copies of this script start at
# once: a lock makes one build the venv while the others wait. The marker is written last, so a
# venv left half-made by a killed run is thrown away and made again.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="${FNWIRE_DEPLOY_VENV:-$root/target/deploy-venv}"
marker="$venv/.kubernetes-validate-1.37.0"
mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if [ ! -f "$marker" ]; then
  rm -rf "$venv"
  python3 -m venv "$venv" >&2
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "kubernetes-validate==1.37.0" >&2
  touch "$marker"
fi
echo "$venv/bin/python"

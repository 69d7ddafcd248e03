#!/usr/bin/env bash
# Makes the virtualenv the deploy tests validate manifests with: kubernetes-validate carries the
# Kubernetes OpenAPI schemas; jsonschema (one of its dependencies) checks the ScaledObject
# against deploy/tests/data/keda-scaledobject.schema.json. Prints the venv's python on success.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="${FNWIRE_DEPLOY_VENV:-$root/target/deploy-venv}"
marker="$venv/.kubernetes-validate-1.37.0"
if [ ! -f "$marker" ]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==1.37.0" >&2
  touch "$marker"
fi
echo "$venv/bin/python"

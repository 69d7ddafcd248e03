#!/usr/bin/env bash
# Prepares the azure-python-v1 conformance peer: the azure-python peer's setup, with Microsoft's
# azure-functions-runtime-v1 (the function.json model) in this folder's own virtualenv.
# Pinned: azure-functions-runtime-v1 1.2.0 (the newest on PyPI; it needs Python >= 3.13) is the
# version the exclusions were written against.
# Exit codes: as ../azure-python/setup.sh (0 ready, 3 no Python >= 3.13, 4 pip, 5 proto compile).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PEER_DIR="$here" PEER_NAME="azure-python-v1" PEER_RUNTIME="azure-functions-runtime-v1==1.2.0" \
  PEER_SETUP="$0" exec "$here/../azure-python/setup.sh"

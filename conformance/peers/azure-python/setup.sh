#!/usr/bin/env bash
# Prepares the azure-python conformance peer: a virtualenv with Microsoft's
# azure-functions-runtime and fnwire's FunctionRpc.proto compiled for grpcio.
# The azure-python-v1 peer runs this script too, naming its own folder and runtime
# (PEER_DIR, PEER_NAME, PEER_RUNTIME).
# Idempotent: a second run only checks what is there.
# Exit codes: 0 ready, 3 no Python >= 3.13 found, 4 pip install failed, 5 proto compile failed.
set -euo pipefail

script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
here="${PEER_DIR:-$script_dir}"
peer="${PEER_NAME:-azure-python}"
proto_dir="$(cd "$script_dir/../../../protocol/proto" && pwd)"
venv="$here/.venv"
generated="$here/_generated"
# Pinned: azure-functions-runtime 1.3.0 is the version the exclusions were written against;
# grpcio/protobuf follow the official Python 3.13 worker's pins (grpcio ~1.70, protobuf ~5.29).
requirements=(
  "${PEER_RUNTIME:-azure-functions-runtime==1.3.0}"
  "azure-functions==2.3.0"
  "grpcio==1.70.0"
  "grpcio-tools==1.70.0"
  "protobuf==5.29.3"
)

python_ok() { "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 13) else 1)' >/dev/null 2>&1; }

find_python() {
  local candidate
  for candidate in python3.14 python3.13 python3 python; do
    if command -v "$candidate" >/dev/null 2>&1 && python_ok "$(command -v "$candidate")"; then
      command -v "$candidate"; return 0
    fi
  done
  for candidate in "${PYENV_ROOT:-$HOME/.pyenv}"/versions/3.1[3-9]*/bin/python3 /usr/local/bin/python3.1[3-9] /usr/bin/python3.1[3-9]; do
    if [ -x "$candidate" ] && python_ok "$candidate"; then
      echo "$candidate"; return 0
    fi
  done
  return 1
}

if [ ! -x "$venv/bin/python" ] || ! python_ok "$venv/bin/python"; then
  if ! python="$(find_python)"; then
    echo "$peer peer: no Python >= 3.13 found on PATH or under ${PYENV_ROOT:-$HOME/.pyenv}/versions." >&2
    echo "${requirements[0]%%==*} requires Python >= 3.13; install one (e.g. pyenv install 3.13) and rerun ${PEER_SETUP:-$0}." >&2
    exit 3
  fi
  echo "$peer peer: creating $venv with $python"
  rm -rf "$venv"
  "$python" -m venv "$venv"
fi

if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${requirements[@]}"; then
  echo "$peer peer: pip could not install ${requirements[*]} into $venv; check network access to PyPI and rerun ${PEER_SETUP:-$0}." >&2
  exit 4
fi

stamp="$generated/.proto.sha256"
proto_sum="$(sha256sum "$proto_dir/FunctionRpc.proto" | cut -d' ' -f1)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$proto_sum" ] || [ ! -f "$generated/FunctionRpc_pb2_grpc.py" ]; then
  rm -rf "$generated"
  mkdir -p "$generated"
  if ! "$venv/bin/python" -m grpc_tools.protoc -I "$proto_dir" \
      --python_out="$generated" --grpc_python_out="$generated" "$proto_dir/FunctionRpc.proto"; then
    echo "$peer peer: grpc_tools.protoc failed on $proto_dir/FunctionRpc.proto." >&2
    exit 5
  fi
  echo "$proto_sum" > "$stamp"
fi

echo "$peer peer: ready ($("$venv/bin/python" --version), $venv)"

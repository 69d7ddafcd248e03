#!/usr/bin/env bash
# A bounded soak of `fnwire start` on examples/hello-rust: HTTP load, queue traffic and timer
# ticks for SOAK_SECONDS (default 600), with worker SIGKILLs, one host SIGKILL and restart, and
# slow clients throughout; then checks that no queue message was lost, no request hung, and the
# host's memory and open files returned to idle. Not run in CI; its figures are in RELIABILITY.md.
#
#   scripts/soak.sh                    # 10 minutes
#   SOAK_SECONDS=120 scripts/soak.sh   # a shorter run
#   SOAK_PROFILE=debug scripts/soak.sh  # debug builds of fnwire and the app (no release build)
set -euo pipefail
cd "$(dirname "$0")/.."
profile=${SOAK_PROFILE:-release}
if [ "$profile" = release ]; then
  cargo build --release --bin fnwire
  exec python3 scripts/soak.py target/release/fnwire examples/hello-rust
else
  cargo build --bin fnwire
  SOAK_FNWIRE_ARGS=--debug exec python3 scripts/soak.py target/debug/fnwire examples/hello-rust
fi

#!/usr/bin/env bash
# Fails when a tracked file reads, links or documents a path outside the repository: a user's clone
# has only the repository, so every file a test or script needs must live in it.
set -euo pipefail
cd "$(dirname "$0")/.."

# Paths that exist only on the developers' machines: the folder beside the repository
# (`../shared`, `shared/reference`) and the workplace root.
pattern='(\.\./)+shared/|shared/reference|/work/|\.library/'
if hits=$(git grep -nIE "$pattern" -- . ':!scripts/check-self-contained.sh'); then
  echo "these files name a path outside the repository; copy what they need into the repository" >&2
  echo "and point at the copy instead:" >&2
  echo "$hits" >&2
  exit 1
fi
echo "self-contained: no tracked file names a path outside the repository"

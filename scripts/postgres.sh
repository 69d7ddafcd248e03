#!/usr/bin/env bash
# Makes sure the PostgreSQL tests have a server, and prints `export FNWIRE_TEST_POSTGRES=…` for
# the caller to eval. Uses FNWIRE_TEST_POSTGRES, or the usual local server
# (postgres@127.0.0.1:5432), when one answers; otherwise starts a throwaway cluster under
# target/postgres (Debian's `postgresql` package and its pg_ctl, installed when missing) on
# port 55432, with trust authentication on 127.0.0.1 only.
#
#   eval "$(scripts/postgres.sh)"        start or find one
#   scripts/postgres.sh stop             stop the throwaway cluster, if this script started it
set -euo pipefail
cd "$(dirname "$0")/.."

cluster_dir="$PWD/target/postgres"
port=55432
default_url="postgres://postgres@127.0.0.1:5432/postgres"
throwaway_url="postgres://postgres@127.0.0.1:$port/postgres"

pg_bin() {
  # Debian keeps pg_ctl and initdb under /usr/lib/postgresql/<version>/bin.
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  if [ -n "$dir" ] && [ -x "$dir/pg_ctl" ]; then
    echo "$dir"
  fi
}

answers() {
  # pg_isready is in postgresql-client; without it, psql's own check.
  local url=$1
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -d "$url" -t 3
  else
    psql "$url" -Atqc 'SELECT 1' >/dev/null 2>&1
  fi
}

if [ "${1:-}" = stop ]; then
  bin=$(pg_bin)
  if [ -n "$bin" ] && [ -f "$cluster_dir/data/postmaster.pid" ]; then
    runuser -u postgres -- "$bin/pg_ctl" -D "$cluster_dir/data" -m fast stop >&2
  fi
  exit 0
fi

for url in "${FNWIRE_TEST_POSTGRES:-}" "$default_url" "$throwaway_url"; do
  if [ -n "$url" ] && command -v psql >/dev/null 2>&1 && answers "$url"; then
    echo "export FNWIRE_TEST_POSTGRES='$url'"
    exit 0
  fi
done

echo "no PostgreSQL server answers; starting a throwaway cluster in $cluster_dir on port $port" >&2
if [ -z "$(pg_bin)" ] || ! command -v psql >/dev/null 2>&1; then
  echo "installing Debian's postgresql package" >&2
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi
bin=$(pg_bin)
# The server refuses to run as root; the package creates the postgres user.
id postgres >/dev/null 2>&1 || useradd --system --home-dir "$cluster_dir" postgres
mkdir -p "$cluster_dir"
chown postgres "$cluster_dir"
if [ ! -f "$cluster_dir/data/PG_VERSION" ]; then
  runuser -u postgres -- "$bin/initdb" -D "$cluster_dir/data" -U postgres --auth=trust >&2
fi
runuser -u postgres -- "$bin/pg_ctl" -D "$cluster_dir/data" -l "$cluster_dir/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -c port=$port -c unix_socket_directories=$cluster_dir -c max_connections=300" start >&2
echo "export FNWIRE_TEST_POSTGRES='$throwaway_url'"

#!/usr/bin/env bash
# Makes sure the RabbitMQ tests have a broker, and prints `export FNWIRE_TEST_AMQP=…` for the
# caller to eval. Uses FNWIRE_TEST_AMQP, or the usual local broker (guest@127.0.0.1:5672), when
# one answers; otherwise installs Debian's `rabbitmq-server` when missing and starts it detached
# (no systemd needed), waiting until it accepts connections. The tests delete what they create.
#
#   eval "$(scripts/rabbitmq.sh)"        start or find one
#   scripts/rabbitmq.sh stop             stop the broker, if this script started it
set -euo pipefail
cd "$(dirname "$0")/.."

default_url="amqp://guest:guest@127.0.0.1:5672/%2f"
marker="$PWD/target/rabbitmq-started-by-script"

answers() {
  # host:port of an amqp:// URL; a TCP connect is enough to know a broker listens.
  local url=$1 hostport host port
  hostport=${url#*://}
  hostport=${hostport#*@}
  hostport=${hostport%%/*}
  host=${hostport%%:*}
  port=${hostport##*:}
  [ "$port" = "$hostport" ] && port=5672
  timeout 3 bash -c "exec 3<>/dev/tcp/$host/$port" 2>/dev/null
}

if [ "${1:-}" = stop ]; then
  if [ -f "$marker" ]; then
    rabbitmqctl stop >&2 || true
    rm -f "$marker"
  fi
  exit 0
fi

for url in "${FNWIRE_TEST_AMQP:-}" "$default_url"; do
  if [ -n "$url" ] && answers "$url"; then
    echo "export FNWIRE_TEST_AMQP='$url'"
    exit 0
  fi
done

echo "no RabbitMQ broker answers on 127.0.0.1:5672; starting one" >&2
if ! command -v rabbitmq-server >/dev/null 2>&1; then
  echo "installing Debian's rabbitmq-server package" >&2
  apt-get update -qq >&2
  # The package's post-install start fails without systemd; the broker is started below.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >&2 || true
  command -v rabbitmq-server >/dev/null 2>&1 || { echo "rabbitmq-server did not install" >&2; exit 1; }
fi
# The broker must listen on loopback only: tests send traffic to 127.0.0.1 and nowhere else.
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
mkdir -p target
# Debian's wrapper runs the broker (and rabbitmqctl) as the rabbitmq user when called as root.
rabbitmq-server -detached >&2
touch "$marker"
# `-detached` returns before the node has registered, and `rabbitmqctl await_startup` fails at
# once ("node 'rabbit' not running at all") until it has: ask again until the node has booted and
# the port answers. Bounded, so a broken install fails the run.
deadline=$((SECONDS + 120))
until rabbitmqctl -q await_startup >/dev/null 2>&1 && answers "$default_url"; do
  if [ "$SECONDS" -ge "$deadline" ]; then
    rabbitmqctl await_startup >&2 || true
    echo "RabbitMQ was started but did not accept connections on 127.0.0.1:5672 within 120 s" >&2
    exit 1
  fi
  sleep 1
done
echo "RabbitMQ started" >&2
echo "export FNWIRE_TEST_AMQP='$default_url'"

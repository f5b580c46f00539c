#!/usr/bin/env bash
# A 3-node NATS JetStream cluster on loopback ports, for replicated streams:
#   scripts/nats-cluster.sh start   # prints the NATS_URL and BKDATA_BUS_REPLICAS to use
#   scripts/nats-cluster.sh stop
#   scripts/nats-cluster.sh stop-node 2 / start-node 2   # one node away and back
# Clients connect on 4231-4233, the nodes route to each other on 6231-6233; each keeps its
# streams under data/nats-cluster/n{1,2,3}. Installs nats-server (Debian's package) if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${BKDATA_NATS_CLUSTER_DIR:-$PWD/data/nats-cluster}
NODES=(1 2 3)
client_port() { echo $((4230 + $1)); }
route_port() { echo $((6230 + $1)); }
port_up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") >/dev/null 2>&1; }

if ! command -v nats-server >/dev/null && [ ! -x /usr/sbin/nats-server ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nats-server >/dev/null
fi
BIN=$(command -v nats-server || echo /usr/sbin/nats-server)

routes() {
  local r=""
  for n in "${NODES[@]}"; do r="$r${r:+,}nats://127.0.0.1:$(route_port "$n")"; done
  echo "$r"
}

start_node() {
  local n=$1
  if [ -f "$DIR/n$n.pid" ] && kill -0 "$(cat "$DIR/n$n.pid")" 2>/dev/null; then return; fi
  mkdir -p "$DIR/n$n"
  "$BIN" -js -a 127.0.0.1 -p "$(client_port "$n")" -sd "$DIR/n$n" -n "bkdata-n$n" \
    --cluster_name bkdata --cluster "nats://127.0.0.1:$(route_port "$n")" --routes "$(routes)" \
    >>"$DIR/n$n.log" 2>&1 &
  echo $! >"$DIR/n$n.pid"
  for _ in $(seq 1 100); do port_up "$(client_port "$n")" && return; sleep 0.1; done
  echo "node $n did not start (see $DIR/n$n.log)" >&2
  exit 1
}

stop_node() {
  local n=$1
  if [ -f "$DIR/n$n.pid" ]; then
    local pid; pid=$(cat "$DIR/n$n.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    rm -f "$DIR/n$n.pid"
  fi
}

urls() {
  local u=""
  for n in "${NODES[@]}"; do u="$u${u:+,}nats://127.0.0.1:$(client_port "$n")"; done
  echo "$u"
}

case "${1:-start}" in
  start)
    mkdir -p "$DIR"
    for n in "${NODES[@]}"; do start_node "$n"; done
    echo "NATS cluster up (logs in $DIR). Run the server and workers with:"
    echo "  export NATS_URL=$(urls) BKDATA_BUS_REPLICAS=3"
    ;;
  stop) for n in "${NODES[@]}"; do stop_node "$n"; done; echo "NATS cluster stopped" ;;
  start-node) start_node "${2:?node 1, 2 or 3}" ;;
  stop-node) stop_node "${2:?node 1, 2 or 3}" ;;
  urls) urls ;;
  *) echo "usage: $0 start|stop|start-node N|stop-node N|urls" >&2; exit 2 ;;
esac

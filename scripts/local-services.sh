#!/usr/bin/env bash
# Starts and stops a RabbitMQ node and a PostgreSQL cluster on loopback, with all their data in one folder.
# Used by `make run` (folder .local/, fixed ports) and by the integration tests (a temporary folder, free ports).
#
#   scripts/local-services.sh install
#   scripts/local-services.sh start DIR PG_PORT AMQP_PORT
#   scripts/local-services.sh stop DIR
#   scripts/local-services.sh stop-rabbitmq|start-rabbitmq|stop-postgres|start-postgres DIR
set -euo pipefail

PG_BIN=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}
RABBIT_BIN=${RABBIT_BIN:-/usr/lib/rabbitmq/bin}

ROOT=$(cd "$(dirname "$0")/.." && pwd)

log() { echo "[services] $*" >&2; }

# Runs a command as the service's own user when we are root: both servers refuse to run as root.
as_user() {
  local user=$1; shift
  if [ "$(id -u)" = 0 ]; then runuser -u "$user" -- "$@"; else "$@"; fi
}

own() {
  local user=$1 dir=$2
  if [ "$(id -u)" = 0 ]; then chown -R "$user:$user" "$dir"; fi
}

wait_port() {
  local port=$1 what=$2 tries=${3:-600}
  for _ in $(seq "$tries"); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  log "$what did not listen on 127.0.0.1:$port"; return 1
}

install_packages() {
  local missing=()
  [ -x "$RABBIT_BIN/rabbitmq-server" ] || missing+=(rabbitmq-server)
  [ -n "$PG_BIN" ] && [ -x "$PG_BIN/initdb" ] || missing+=(postgresql)
  # Node.js runs the AsyncAPI parser that the contract test checks docs/asyncapi.yaml with.
  command -v node >/dev/null && command -v npm >/dev/null || missing+=(nodejs npm)
  # The outage tests make a server's port silent with iptables DROP rules (tests/.../BlackHole.cs).
  [ -x /usr/sbin/iptables ] || command -v iptables >/dev/null || missing+=(iptables)
  # promtool (from Debian's prometheus package) checks the worker's /metrics exposition in the tests.
  local without_recommends=()
  command -v promtool >/dev/null || without_recommends+=(prometheus)
  if [ ${#missing[@]} -gt 0 ] || [ ${#without_recommends[@]} -gt 0 ]; then
    local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
    log "installing ${missing[*]} ${without_recommends[*]}"
    $sudo apt-get update -qq
    # policy-rc.d may refuse to start the packaged services; we start our own instances anyway.
    if [ ${#missing[@]} -gt 0 ]; then
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
    fi
    # Without its recommends, prometheus does not bring a node exporter listening on every interface.
    if [ ${#without_recommends[@]} -gt 0 ]; then
      DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${without_recommends[@]}" >/dev/null
    fi
    PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  fi
}

start_postgres() {
  local dir=$1 port=$2 data="$1/postgres"
  mkdir -p "$data"; chmod 755 "$dir"
  if [ ! -f "$data/PG_VERSION" ]; then
    own postgres "$data"; chmod 700 "$data"
    as_user postgres "$PG_BIN/initdb" -D "$data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
    echo "$port" > "$data/port"
  fi
  if as_user postgres "$PG_BIN/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    log "postgres already running on $(cat "$data/port")"; return 0
  fi
  as_user postgres "$PG_BIN/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 \
    -o "-p $port -k $data -c listen_addresses=127.0.0.1 ${PG_EXTRA_OPTS:-}" start >/dev/null
  wait_port "$port" postgres
  as_user postgres "$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -tAc \
    "select 1 from pg_database where datname='worker'" | grep -q 1 ||
    as_user postgres "$PG_BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -qc "create database worker" >/dev/null
  log "postgres on 127.0.0.1:$port"
}

stop_postgres() {
  local data="$1/postgres"
  [ -f "$data/PG_VERSION" ] || return 0
  as_user postgres "$PG_BIN/pg_ctl" -D "$data" -m fast -w stop >/dev/null 2>&1 || true
}

rabbit_env() {
  local dir=$1 port=$2
  echo RABBITMQ_MNESIA_BASE="$dir/rabbitmq/mnesia" RABBITMQ_LOG_BASE="$dir/rabbitmq/log" \
    RABBITMQ_PID_FILE="$dir/rabbitmq/pid" RABBITMQ_NODENAME="worker$port@localhost" \
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 RABBITMQ_NODE_PORT="$port" RABBITMQ_DIST_PORT="$((port + 20000))" \
    RABBITMQ_ENABLED_PLUGINS_FILE="$dir/rabbitmq/enabled_plugins" HOME="$dir/rabbitmq" \
    RABBITMQ_ADVANCED_CONFIG_FILE="$dir/rabbitmq/advanced.config" ERL_EPMD_ADDRESS=127.0.0.1
}

start_rabbitmq() {
  local dir=$1 port=$2 r="$1/rabbitmq"
  mkdir -p "$r/mnesia" "$r/log"; chmod 755 "$dir"
  echo "$port" > "$r/port"
  # Only the consistent-hash exchange, which routes commands to their partition queues (it ships with RabbitMQ);
  # the management UI is for docker-compose users, here it would only slow the start.
  # RABBIT_PLUGINS=none starts a stock node, as apt and the official image install it.
  if [ "${RABBIT_PLUGINS:-}" = none ]; then echo "[]." > "$r/enabled_plugins"
  else echo "[rabbitmq_consistent_hash_exchange]." > "$r/enabled_plugins"; fi
  [ -f "$r/.erlang.cookie" ] || { head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$r/.erlang.cookie"; chmod 400 "$r/.erlang.cookie"; }
  own rabbitmq "$r"
  if [ -f "$r/pid" ] && kill -0 "$(cat "$r/pid")" 2>/dev/null; then
    log "rabbitmq already running on $port"; return 0
  fi
  # The broker refuses a message over 1 MiB before anyone holds it (deploy/rabbitmq/limits.conf, as docker compose
  # sets it); RABBIT_EXTRA_CONF adds lines (the TLS listener).
  { cat "$ROOT/deploy/rabbitmq/limits.conf"; printf '%s\n' "${RABBIT_EXTRA_CONF:-}"; } > "$r/rabbitmq.conf"
  # Erlang's distribution listener (the nodes' and rabbitmqctl's channel, which a leaked cookie opens to anyone)
  # and epmd (ERL_EPMD_ADDRESS, above) listen on every interface unless told: loopback only, like the AMQP port.
  echo "[{kernel, [{inet_dist_use_interface, {127,0,0,1}}]}]." > "$r/advanced.config"
  own rabbitmq "$r"
  local config=(RABBITMQ_CONFIG_FILE="$r/rabbitmq.conf")
  # shellcheck disable=SC2046
  as_user rabbitmq env $(rabbit_env "$dir" "$port") "${config[@]}" setsid "$RABBIT_BIN/rabbitmq-server" \
    > "$r/log/stdout.log" 2>&1 < /dev/null &
  wait_port "$port" rabbitmq || { tail -20 "$r/log/stdout.log" >&2; return 1; }
  bound_error_queues "$dir"
  log "rabbitmq on 127.0.0.1:$port"
}

# The error and skipped queues keep at most ERROR_QUEUE_MAX_LENGTH messages and ERROR_QUEUE_MAX_BYTES bytes each,
# dropping the oldest past that (docs/security.md): every command in them has been answered already.
bound_error_queues() {
  local dir=$1
  for _ in $(seq 100); do rabbitmqctl_at "$dir" -q await_startup >/dev/null 2>&1 && break; sleep 0.2; done
  rabbitmqctl_at "$dir" -q set_policy --apply-to queues --priority 10 bounded-error-queues '_(error|skipped)$' \
    "{\"max-length\":${ERROR_QUEUE_MAX_LENGTH:-100000},\"max-length-bytes\":${ERROR_QUEUE_MAX_BYTES:-268435456},\"overflow\":\"drop-head\"}" >/dev/null
}

stop_rabbitmq() {
  local r="$1/rabbitmq"
  [ -f "$r/pid" ] || return 0
  local pid; pid=$(cat "$r/pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 300); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$r/pid"
}

rabbitmqctl_at() {
  local dir=$1; shift
  local port; port=$(cat "$dir/rabbitmq/port")
  as_user rabbitmq env HOME="$dir/rabbitmq" ERL_EPMD_ADDRESS=127.0.0.1 "$RABBIT_BIN/rabbitmqctl" -n "worker$port@localhost" "$@"
}

# Three nodes on loopback, DIR/node1..3, clustered: one Erlang cookie, node names and distribution ports of their own.
start_cluster() {
  local dir=$1; shift
  chmod 755 "$dir"
  local cookie; cookie=$(head -c 20 /dev/urandom | od -An -tx1 | tr -d ' \n')
  for i in 1 2 3; do
    mkdir -p "$dir/node$i/rabbitmq"
    [ -f "$dir/node$i/rabbitmq/.erlang.cookie" ] || { printf %s "$cookie" > "$dir/node$i/rabbitmq/.erlang.cookie"; chmod 400 "$dir/node$i/rabbitmq/.erlang.cookie"; }
  done
  start_rabbitmq "$dir/node1" "$1"; start_rabbitmq "$dir/node2" "$2"; start_rabbitmq "$dir/node3" "$3"
  for i in 2 3; do
    rabbitmqctl_at "$dir/node$i" -q stop_app
    rabbitmqctl_at "$dir/node$i" -q join_cluster "worker$1@localhost"
    rabbitmqctl_at "$dir/node$i" -q start_app
  done
  log "rabbitmq cluster on 127.0.0.1:$1,$2,$3"
}

# DIR/tls holds ca.crt, server.crt and server.key (made by the caller): PostgreSQL and RabbitMQ get TLS listeners
# with them, PostgreSQL on PG_PORT (plain connections too), RabbitMQ on AMQPS_PORT beside AMQP_PORT, where it asks
# for a client certificate signed by the same CA (mutual TLS).
start_tls() {
  local dir=$1 pg_port=$2 amqp_port=$3 amqps_port=$4
  mkdir -p "$dir/postgres" "$dir/rabbitmq"
  cp "$dir/tls/ca.crt" "$dir/tls/server.crt" "$dir/tls/server.key" "$dir/rabbitmq/"
  RABBIT_EXTRA_CONF="listeners.ssl.default = 127.0.0.1:$amqps_port
ssl_options.cacertfile = $dir/rabbitmq/ca.crt
ssl_options.certfile = $dir/rabbitmq/server.crt
ssl_options.keyfile = $dir/rabbitmq/server.key
ssl_options.verify = verify_peer
ssl_options.fail_if_no_peer_cert = true" start_rabbitmq "$dir" "$amqp_port"
  wait_port "$amqps_port" "rabbitmq (TLS)"
  local tls="$dir/postgres-tls"
  mkdir -p "$tls"; cp "$dir/tls/server.crt" "$dir/tls/server.key" "$tls/"
  own postgres "$tls"; chmod 600 "$tls/server.key"
  PG_EXTRA_OPTS="${PG_EXTRA_OPTS:-} -c ssl=on -c ssl_cert_file=$tls/server.crt -c ssl_key_file=$tls/server.key" \
    start_postgres "$dir" "$pg_port"
}

cmd=${1:-}; shift || true
case "$cmd" in
  install) install_packages ;;
  start) install_packages; start_postgres "$1" "$2"; start_rabbitmq "$1" "$3" ;;
  stop) stop_rabbitmq "$1"; stop_postgres "$1" ;;
  start-postgres) start_postgres "$1" "$(cat "$1/postgres/port")" ;;
  stop-postgres) stop_postgres "$1" ;;
  start-rabbitmq) start_rabbitmq "$1" "$(cat "$1/rabbitmq/port")" ;;
  stop-rabbitmq) stop_rabbitmq "$1" ;;
  # Diagnostics: scripts/local-services.sh rabbitmqctl DIR list_queues name messages consumers
  rabbitmqctl) rabbitmqctl_at "$@" ;;
  start-cluster) install_packages; start_cluster "$@" ;;
  start-tls) install_packages; start_tls "$@" ;;
  start-stock-rabbitmq) install_packages; RABBIT_PLUGINS=none start_rabbitmq "$1" "$2" ;;
  # A node that loads definitions at boot, as docker compose starts it (deploy/rabbitmq/definitions.conf).
  start-rabbitmq-with-definitions) install_packages; mkdir -p "$1/rabbitmq"; cp "$3" "$1/rabbitmq/definitions.json"
    RABBIT_EXTRA_CONF="load_definitions = $1/rabbitmq/definitions.json" start_rabbitmq "$1" "$2" ;;
  stop-cluster) for i in 1 2 3; do stop_rabbitmq "$1/node$i"; done ;;
  # SIGKILL, as a crashed machine: DIR is a node's folder (DIR/node2 of a cluster, say).
  kill-rabbitmq) kill -9 "$(cat "$1/rabbitmq/pid")"; rm -f "$1/rabbitmq/pid" ;;
  # The postmaster and its children at once, as a container's kill ends them all; the next start recovers.
  kill-postgres) pid=$(head -1 "$1/postgres/postmaster.pid"); children=$(pgrep -P "$pid" || true)
    kill -9 "$pid" $children 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" $children 2>/dev/null || break; sleep 0.1; done ;;
  psql) dir=$1; shift
    as_user postgres "$PG_BIN/psql" -h 127.0.0.1 -p "$(cat "$dir/postgres/port")" -U postgres "$@" ;;
  *) echo "usage: $0 install | start DIR PG_PORT AMQP_PORT | stop DIR | start-/stop-postgres|rabbitmq DIR | rabbitmqctl|psql DIR ARGS | start-cluster DIR PORT1 PORT2 PORT3 | stop-cluster DIR | kill-rabbitmq|kill-postgres DIR" >&2; exit 2 ;;
esac

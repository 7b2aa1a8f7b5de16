#!/usr/bin/env bash
# `make bench`: measures the worker beside the raw limit and a plain MassTransit baseline. Starts RabbitMQ and
# PostgreSQL on loopback like `make run` (on their own ports, data in a throwaway folder), starts the worker built
# in Release, runs the bench with the arguments given (e.g. --count 50000, --smoke), and stops everything again.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_PORT=${BENCH_PG_PORT:-15432}
AMQP_PORT=${BENCH_AMQP_PORT:-15672}
HEALTH_PORT=${BENCH_HEALTH_PORT:-18081}
export ConnectionStrings__RabbitMq="amqp://guest:guest@127.0.0.1:$AMQP_PORT/"
export ConnectionStrings__Postgres="Host=127.0.0.1;Port=$PG_PORT;Database=worker;Username=postgres"
export Health__Urls="http://127.0.0.1:$HEALTH_PORT"

# The GC's youngest generation gets 32 MB (see docs/performance.md): where the machine does not report its CPU
# caches, .NET falls back to about 2 MB and collects very often under load. The bench process, which
# runs the limit pipeline, gets the same.
export DOTNET_GCgen0size=${DOTNET_GCgen0size:-0x2000000}

data=$(mktemp -d)
worker=""
untraced=""
extra=()
cleanup() {
  [ -n "$worker" ] && kill "$worker" 2>/dev/null && wait "$worker" 2>/dev/null || true
  [ -n "$untraced" ] && kill "$untraced" 2>/dev/null && wait "$untraced" 2>/dev/null || true
  for pid in "${extra[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true; done
  scripts/local-services.sh stop "$data" >/dev/null 2>&1 || true
  rm -rf "$data"
}
trap cleanup EXIT

# Waits for a worker's readiness on its health port; shows its log if it never gets there.
wait_ready() {
  for _ in $(seq 1 120); do
    curl -sf "http://127.0.0.1:$1/health/ready" >/dev/null && return 0
    sleep 0.5
  done
  cat "$2"; exit 1
}

scripts/local-services.sh start "$data" "$PG_PORT" "$AMQP_PORT"
echo "[bench] building"
dotnet build src/Worker -c Release -v quiet -nologo
dotnet build src/Bench -c Release -v quiet -nologo
dotnet src/Worker/bin/Release/net10.0/Worker.dll > "${BENCH_WORKER_LOG:-$data/worker.log}" 2>&1 &
worker=$!
wait_ready "$HEALTH_PORT" "${BENCH_WORKER_LOG:-$data/worker.log}"

# More instances of the worker on the same queues (BENCH_INSTANCES=2; with --partitioned they share the partitions).
for n in $(seq 2 "${BENCH_INSTANCES:-1}"); do
  port=$((HEALTH_PORT + 10 + n))
  Health__Urls="http://127.0.0.1:$port" dotnet src/Worker/bin/Release/net10.0/Worker.dll > "$data/worker$n.log" 2>&1 &
  extra+=($!)
  wait_ready "$port" "$data/worker$n.log"
done

# What metrics and tracing cost: the same build with both off, on a virtual host and a database of its own, measured
# in the same run right after the worker (BENCH_TELEMETRY_COST=0 leaves it out).
untraced_args=()
if [ "${BENCH_TELEMETRY_COST:-1}" != 0 ]; then
  UNTRACED_HEALTH_PORT=$((HEALTH_PORT + 1))
  scripts/local-services.sh rabbitmqctl "$data" add_vhost untraced >/dev/null
  scripts/local-services.sh rabbitmqctl "$data" set_permissions -p untraced guest '.*' '.*' '.*' >/dev/null
  scripts/local-services.sh psql "$data" -qc "create database worker_untraced" >/dev/null
  untraced_amqp="amqp://guest:guest@127.0.0.1:$AMQP_PORT/untraced"
  untraced_pg="Host=127.0.0.1;Port=$PG_PORT;Database=worker_untraced;Username=postgres"
  # BENCH_SECOND_WORKER=path/to/Worker.dll puts another build there instead, and BENCH_SECOND_WORKER_ENV="Key=value
  # ..." the same build with other settings; either way with telemetry on like the first: an A/B comparison, round by
  # round, in one run (docs/performance.md).
  second_dll=${BENCH_SECOND_WORKER:-src/Worker/bin/Release/net10.0/Worker.dll}
  telemetry=(Observability__Metrics=false Observability__Tracing=false)
  label="worker untraced"
  if [ -n "${BENCH_SECOND_WORKER:-}${BENCH_SECOND_WORKER_ENV:-}" ]; then
    # shellcheck disable=SC2206
    telemetry=(${BENCH_SECOND_WORKER_ENV:-}); label="worker B"
  fi
  env ConnectionStrings__RabbitMq="$untraced_amqp" ConnectionStrings__Postgres="$untraced_pg" \
    Health__Urls="http://127.0.0.1:$UNTRACED_HEALTH_PORT" "${telemetry[@]}" \
    dotnet "$second_dll" > "$data/worker-untraced.log" 2>&1 &
  untraced=$!
  wait_ready "$UNTRACED_HEALTH_PORT" "$data/worker-untraced.log"
  untraced_args=(--untraced-rabbitmq "$untraced_amqp" --untraced-postgres "$untraced_pg" --untraced-worker-pid "$untraced"
    --untraced-label "$label")
fi
status=0
# The servers' main processes, for their CPU per command beside each pipeline's.
servers=(--broker-pid "$(cat "$data/rabbitmq/pid")" --database-pid "$(head -1 "$data/postgres/postmaster.pid")")
dotnet src/Bench/bin/Release/net10.0/Bench.dll --worker-pid "$worker" "${servers[@]}" "${untraced_args[@]}" "$@" || status=$?
if [ $status -ne 0 ]; then echo "[bench] worker log:"; tail -50 "$data/worker.log"; fi
exit $status

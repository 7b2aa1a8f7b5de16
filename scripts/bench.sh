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

# The GC's youngest generation gets 32 MB (see README, "Performance"): where the machine does not report its CPU
# caches, .NET falls back to about 2 MB and collects very often under load. The bench process, which
# runs the limit pipeline, gets the same.
export DOTNET_GCgen0size=${DOTNET_GCgen0size:-0x2000000}

data=$(mktemp -d)
worker=""
cleanup() {
  [ -n "$worker" ] && kill "$worker" 2>/dev/null && wait "$worker" 2>/dev/null || true
  scripts/local-services.sh stop "$data" >/dev/null 2>&1 || true
  rm -rf "$data"
}
trap cleanup EXIT

scripts/local-services.sh start "$data" "$PG_PORT" "$AMQP_PORT"
echo "[bench] building"
dotnet build src/Worker -c Release -v quiet -nologo
dotnet build src/Publisher -c Release -v quiet -nologo
dotnet src/Worker/bin/Release/net10.0/Worker.dll > "${BENCH_WORKER_LOG:-$data/worker.log}" 2>&1 &
worker=$!
for _ in $(seq 1 120); do
  curl -sf "http://127.0.0.1:$HEALTH_PORT/health/ready" >/dev/null && break
  sleep 0.5
done
curl -sf "http://127.0.0.1:$HEALTH_PORT/health/ready" >/dev/null || { cat "$data/worker.log"; exit 1; }
status=0
dotnet src/Publisher/bin/Release/net10.0/Publisher.dll bench --worker-pid "$worker" "$@" || status=$?
if [ $status -ne 0 ]; then echo "[bench] worker log:"; tail -50 "$data/worker.log"; fi
exit $status

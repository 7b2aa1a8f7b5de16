#!/usr/bin/env bash
# `make run`: installs what is missing, starts RabbitMQ and PostgreSQL on loopback (data in .local/, reused when
# already running), creates the schema, loads the demo data and runs the worker in the foreground until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."

PG_PORT=${PG_PORT:-5432}
AMQP_PORT=${AMQP_PORT:-5672}
export ConnectionStrings__RabbitMq=${ConnectionStrings__RabbitMq:-amqp://guest:guest@127.0.0.1:$AMQP_PORT/}
export ConnectionStrings__Postgres=${ConnectionStrings__Postgres:-Host=127.0.0.1;Port=$PG_PORT;Database=worker;Username=postgres}

# The GC's youngest generation gets 32 MB (see docs/performance.md): where the machine does not report its CPU
# caches, .NET falls back to about 2 MB and collects very often under load.
export DOTNET_GCgen0size=${DOTNET_GCgen0size:-0x2000000}
scripts/local-services.sh start "$PWD/.local" "$PG_PORT" "$AMQP_PORT"
echo "[run] building the worker"
dotnet build src/Worker -c Release -v quiet -nologo
echo "[run] creating the schema and importing samples/seed-data.json"
dotnet run --project src/Worker -c Release --no-build -- import samples/seed-data.json
echo "[run] worker running; Ctrl-C stops it (the services keep running: 'make stop' stops them)"
# Exit code 75 means fresh starts in-process kept failing and the worker wants a new process, as
# a supervisor (docker compose, systemd, Kubernetes) would give it.
while true; do
  status=0
  dotnet run --project src/Worker -c Release --no-build || status=$?
  [ "$status" -eq 75 ] || exit "$status"
  echo "[run] the worker asked to be started afresh (exit 75); starting it again"
done

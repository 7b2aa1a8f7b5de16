#!/usr/bin/env bash
# Runs the built worker under strace for SECONDS (default 420: past MassTransit's 5-minute usage report) with a
# command sent every 3 s, then lists every address it connected to and fails if any is not on loopback.
# Needs the services of `make run` (or ConnectionStrings__* pointing elsewhere) and the Release build.
#
#   scripts/connections.sh [SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-420}
command -v strace >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq strace >/dev/null; }
export ConnectionStrings__RabbitMq=${ConnectionStrings__RabbitMq:-amqp://guest:guest@127.0.0.1:5672/}
export ConnectionStrings__Postgres=${ConnectionStrings__Postgres:-Host=127.0.0.1;Port=5432;Database=worker;Username=postgres}
export Health__Urls=${Health__Urls:-http://127.0.0.1:0}
out=$(mktemp -d)
worker=src/Worker/bin/Release/net10.0/Worker.dll
publisher=src/Publisher/bin/Release/net10.0/Publisher.dll
strace -f -qq -e trace=connect -o "$out/connect.log" dotnet "$worker" > "$out/worker.log" 2>&1 &
tracer=$!
sleep 8
sent=0
end=$((SECONDS + seconds))
while [ $SECONDS -lt $end ]; do
  dotnet "$publisher" lead-segment update --enterprise acme --id 1234 --code "TRACE$((sent % 5))" \
    --rabbitmq "$ConnectionStrings__RabbitMq" >/dev/null
  sent=$((sent + 1))
  sleep 3
done
pkill -TERM -f "dotnet $worker" || true
wait "$tracer" || true
echo "[connections] worker ran ${seconds} s with ${sent} commands; it connected to:"
grep -o 'sa_family=AF_INET6\?, sin6\?_port=htons([0-9]*), [a-z6_]*=[a-z_]*([^)]*)' "$out/connect.log" | sort | uniq -c || true
if grep -E 'sa_family=AF_INET6?' "$out/connect.log" | grep -vqE '127\.0\.0\.1|::1'; then
  echo "[connections] FAILED: the worker connected beyond loopback (see $out/connect.log)"; exit 1
fi
echo "[connections] nothing beyond loopback (trace in $out)"

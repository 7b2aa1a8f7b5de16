#!/usr/bin/env bash
# `make profile`: where the CPU goes, per command. Runs the bench (worker and limit, one round each, 40,000 commands)
# with a system-wide Linux perf profile of each measured run, then prints CPU milliseconds per command by process
# (pipeline, broker, database, bench) and, inside each pipeline's process, by component (docs/performance.md).
# Extra bench options pass through, e.g. scripts/profile.sh --pipelines worker,limit,baseline.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v perf >/dev/null; then
  echo "[profile] installing perf"
  sudo_if() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
  sudo_if apt-get install -y -qq linux-perf >/dev/null
fi
# perf names a .NET method from the map the runtime writes to /tmp/perf-<pid>.map, and only for code in anonymous
# memory: with the runtime's W^X double mapping on, compiled code lives in a shared-memory file perf cannot map.
export DOTNET_PerfMapEnabled=1 DOTNET_EnableWriteXorExecute=0
export BENCH_TELEMETRY_COST=${BENCH_TELEMETRY_COST:-0}
# The broker's Erlang VM writes its own perf map too, so that its functions are named.
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="${RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS:-} +JPperf true"
out=${PROFILE_OUTPUT:-bench-results/profile-$(date -u +%Y%m%d-%H%M%S)}
mkdir -p "$out"
scripts/bench.sh --pipelines worker,limit --rounds 1 --half-rate false --count 40000 --output "$out" --perf "$out" "$@"
dotnet src/Bench/bin/Release/net10.0/Bench.dll profile "$out" | tee "$out/profile.md"

#!/usr/bin/env bash
# `make test`: every test. The integration tests start their own throwaway RabbitMQ and PostgreSQL, so this only
# makes sure the server packages are installed.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/local-services.sh install
log=$(mktemp)
status=0
dotnet test Worker.sln -c Release --logger "console;verbosity=normal" 2>&1 | tee "$log" || status=$?

# One closing line over all test projects.
awk '/^(Passed|Failed)! +- Failed: / {
       for (i = 1; i <= NF; i++) { if ($i == "Failed:") f += $(i+1); if ($i == "Passed:") p += $(i+1); if ($i == "Skipped:") s += $(i+1) }
     }
     END { gsub(",", "", f); printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$log"
rm -f "$log"
exit $status

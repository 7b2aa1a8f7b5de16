#!/usr/bin/env bash
# `make test`: every test. The integration tests start their own throwaway RabbitMQ and PostgreSQL: as containers
# (Testcontainers) where a Docker engine answers or podman can run, as local processes otherwise. This installs what
# either needs, and for podman serves its Docker API for the run only.
#   WORKER_IT_SERVERS=containers  containers or fail;  WORKER_IT_SERVERS=processes  local processes, no containers
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/local-services.sh install

# Whether a Docker engine answers its ping at DOCKER_HOST or at the default socket.
docker_answers() {
  local host=${DOCKER_HOST:-unix:///var/run/docker.sock}
  case "$host" in
    unix://*) [ -S "${host#unix://}" ] && curl -sf -m 2 --unix-socket "${host#unix://}" http://docker/_ping >/dev/null ;;
    tcp://*) curl -sf -m 2 "http://${host#tcp://}/_ping" >/dev/null ;;
    *) return 1 ;;
  esac
}

containers_dir=""
package_user=""
# The outage tests' iptables rules (tests/Worker.IntegrationTests/Infrastructure/BlackHole.cs) carry a comment naming
# the run; a test that was killed before it took its rules away leaves them, and they go here.
remove_black_holes() {
  local run=${WORKER_IT_RUN:-local} iptables=/usr/sbin/iptables chain rules rule
  [ -x "$iptables" ] || iptables=$(command -v iptables) || return 0
  for chain in OUTPUT INPUT; do
    # None left is the usual case: grep's "no match" must not become the run's exit status.
    rules=$("$iptables" -w -S "$chain" 2>/dev/null | grep -F -- "--comment \"worker-tests $run\"" || true)
    while read -r rule; do
      [ -n "$rule" ] && eval "\"$iptables\" -w ${rule/#-A /-D }" || true
    done <<<"$rules"
  done
}
stop_containers() {
  remove_black_holes
  if [ -n "$package_user" ]; then rm -rf "$package_user"; fi
  if [ -n "$containers_dir" ]; then scripts/test-containers.sh stop "$containers_dir"; rm -rf "$containers_dir"; fi
}
trap stop_containers EXIT

choice=$(echo "${WORKER_IT_SERVERS:-}" | tr -d ' ' | tr '[:upper:]' '[:lower:]')
if [ -n "${ConnectionStrings__RabbitMq:-}" ] && [ -n "${ConnectionStrings__Postgres:-}" ]; then
  echo "[tests] servers: the external ones ConnectionStrings__RabbitMq and ConnectionStrings__Postgres name"
elif [ "$choice" = processes ]; then
  echo "[tests] servers: local processes, because WORKER_IT_SERVERS=processes"
elif docker_answers; then
  echo "[tests] servers: containers on the Docker engine at ${DOCKER_HOST:-unix:///var/run/docker.sock}"
  export WORKER_IT_SERVERS=containers WORKER_IT_WORKER_IMAGE=update-worker:test
else
  containers_dir=$(mktemp -d -t worker-containers-XXXXXX)
  if variables=$(scripts/test-containers.sh setup "$containers_dir"); then
    eval "$variables"
    export WORKER_IT_SERVERS=containers
    echo "[tests] servers: containers on podman (no Docker engine answers), its API at $DOCKER_HOST for this run"
  elif [ "$choice" = containers ]; then
    echo "[tests] WORKER_IT_SERVERS=containers, but neither a Docker engine nor podman can run containers here" >&2
    exit 1
  else
    rm -rf "$containers_dir"; containers_dir=""
    export WORKER_IT_SERVERS=processes
    echo "[tests] servers: local processes, because neither a Docker engine nor podman can run containers here (above)"
  fi
fi
only_with_containers=()
if [ "${WORKER_IT_SERVERS:-}" = containers ]; then
  # The worker's image for the compose and image tests (tests/.../Deployment), built once, by compose's own build of
  # docker-compose.yml (src/Worker/Dockerfile); on podman, on the .NET images made from this machine's SDK.
  command -v docker-compose >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq docker-compose >/dev/null
  started=$SECONDS
  # COMPOSE_DOCKER_CLI_BUILD=0: compose builds through the engine's API itself, not through a docker client.
  COMPOSE_DOCKER_CLI_BUILD=0 WORKER_IMAGE=$WORKER_IT_WORKER_IMAGE DOTNET_SDK_IMAGE=${WORKER_IT_DOTNET_SDK_IMAGE:-} \
    DOTNET_RUNTIME_IMAGE=${WORKER_IT_DOTNET_RUNTIME_IMAGE:-} docker-compose -p worker-image build -q worker || exit 1
  echo "[tests] built the worker's image $WORKER_IT_WORKER_IMAGE in $((SECONDS - started)) s"
else
  echo "[tests] not run: the compose stack and worker image tests (Needs=Containers), which need a container engine"
  # Joined to a filter of the caller's own (TEST_ARGS="--filter ..."): dotnet test takes one.
  filter="Needs!=Containers" arguments=()
  while [ $# -gt 0 ]; do
    if [ "$1" = --filter ] && [ $# -gt 1 ]; then filter="($2)&$filter"; shift 2; else arguments+=("$1"); shift; fi
  done
  set -- "${arguments[@]}"
  only_with_containers=(--filter "$filter")
fi
# The AsyncAPI parser the contract test runs, and the Node.js requester the reply tests run (Node.js is installed above).
npm ci --prefix tools/asyncapi --no-audit --no-fund --loglevel=error
npm ci --prefix tools/amqp-rpc --no-audit --no-fund --loglevel=error
# The Kubernetes API's schemas the deploy/kubernetes manifests are validated against.
npm ci --prefix tools/kubernetes --no-audit --no-fund --loglevel=error
log=$(mktemp)
apart_log=$(mktemp)
status=0
dotnet build Worker.sln -c Release --nologo -v quiet || exit 1
# A .NET service of another team on the packed Contracts (tests/PackageUser), restored from a folder feed into a
# package folder of its own. Built here, before the outage tests start beside the others, so that its restore and
# build do not take the machine's cores while they time how soon an outage is noticed.
package_user=$(mktemp -d)
dotnet pack src/Contracts -c Release -o "$package_user/feed" --nologo -v quiet || exit 1
contracts_version=$(ls "$package_user/feed" | sed -n 's/^UpdateWorker\.Contracts\.\(.*\)\.nupkg$/\1/p')
dotnet build tests/PackageUser -c Release -o "$package_user/app" --nologo -v quiet -p:ContractsVersion="$contracts_version" \
  -p:RestoreAdditionalProjectSources="$package_user/feed" -p:RestorePackagesPath="$package_user/packages" || exit 1
export WORKER_IT_PACKAGE_USER="$package_user/app/PackageUser.dll"
# The outage tests keep a dependency away for minutes with the machine mostly idle, on servers of their own: they run
# beside the other test projects, in a test host of their own, and their output follows the others'.
apart=tests/Worker.OutageTests/Worker.OutageTests.csproj
dotnet test "$apart" -c Release --no-build --logger "console;verbosity=normal" "${only_with_containers[@]}" "$@" >"$apart_log" 2>&1 &
apart_pid=$!
for project in tests/*/*.csproj; do
  [ "$project" != "$apart" ] && grep -q '<IsTestProject>true</IsTestProject>' "$project" || continue
  dotnet test "$project" -c Release --no-build --logger "console;verbosity=normal" "${only_with_containers[@]}" "$@" 2>&1 | tee -a "$log" || status=$?
done
wait "$apart_pid" || status=$?
echo "[tests] $apart, run beside the others:"
tee -a "$log" <"$apart_log"
rm -f "$apart_log"

# One closing line over all test projects.
awk '/^Total tests: / { counting = 1; next }
     counting && /^ +Passed: [0-9]+$/ { p += $2 }
     counting && /^ +Failed: [0-9]+$/ { f += $2 }
     counting && /^ +Skipped: [0-9]+$/ { s += $2 }
     /^ Total time:/ { counting = 0 }
     END { printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$log"
# The failures again at the very end, with their messages, so that the last lines of a long run say what broke.
if [ "$status" -ne 0 ]; then
  awk '/^  Failed / { shown = 0; printing = 1; print; next }
       printing && /^  (Passed|Skipped) / { printing = 0 }
       printing && shown < 40 { print; shown++ }' "$log"
  # A test that failed once on a shared, noisy machine gets one more run on its own, and is named either way: a
  # real defect fails again, a timing flake is reported here to be looked into rather than hidden.
  failed=$(sed -n 's/^  Failed \([A-Za-z0-9_.]*\).*/\1/p' "$log" | sort -u)
  if [ -n "$failed" ] && [ "$(echo "$failed" | wc -l)" -le 3 ]; then
    filter=$(echo "$failed" | sed 's/^/FullyQualifiedName~/' | paste -sd '|')
    echo "[tests] running again, once: $(echo "$failed" | paste -sd ' ')"
    if dotnet test Worker.sln -c Release --no-build --filter "$filter" --logger "console;verbosity=normal"; then
      echo "[tests] FLAKY: failed once, then passed on their own: $(echo "$failed" | paste -sd ' ')"
      status=0
    fi
  fi
fi
rm -f "$log"
exit $status

#!/usr/bin/env bash
# Containers for the integration tests where no Docker engine answers: podman from Debian's packages, serving the
# Docker API on a socket of the run's own, and RabbitMQ and PostgreSQL images built from Debian's packages
# (tests/images/). No registry is needed: the base image comes from debootstrap with the mirror apt already uses.
#
#   scripts/test-containers.sh setup DIR    installs podman, builds the images that are missing, starts the API on
#                                           DIR/podman.sock and prints the variables the tests need (sh syntax)
#   scripts/test-containers.sh stop DIR     stops that API
#   scripts/test-containers.sh images       builds the images that are missing, and says which
#
# The images are tagged with a hash of their folder, so a changed Containerfile or entrypoint builds a new one.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BASE_IMAGE=localhost/worker-test-debian:bookworm
SUITE=bookworm

log() { echo "[containers] $*" >&2; }

sudo_if_needed() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Podman's settings for this run, kept out of /etc: runc (crun refuses hybrid cgroups), cgroupfs (no systemd in
# a container or a CI sandbox), events in a file (no journald), and ulimits no higher than this machine allows
# (podman's default nofile of 1048576 fails where the hard limit is lower).
write_conf() {
  local conf=$1
  local nofile nproc
  nofile=$(ulimit -Hn); [ "$nofile" = unlimited ] && nofile=1048576
  nproc=$(cat /proc/sys/kernel/pid_max); [ "$nproc" -gt 65536 ] && nproc=65536
  mkdir -p "$(dirname "$conf")"
  cat > "$conf" <<CONF
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
}

install_podman() {
  local missing=()
  command -v podman >/dev/null || missing+=(podman)
  command -v runc >/dev/null || missing+=(runc)
  command -v debootstrap >/dev/null || missing+=(debootstrap)
  # The compose client of Debian's that the compose test drives podman's Docker API with.
  command -v docker-compose >/dev/null || missing+=(docker-compose)
  if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    sudo_if_needed apt-get update -qq
    DEBIAN_FRONTEND=noninteractive sudo_if_needed apt-get install -y -qq "${missing[@]}" >/dev/null
  fi
}

tag_of() { # a short hash of an image's folder
  (cd "$ROOT/tests/images/$1" && find . -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-12)
}

image_of() { echo "localhost/worker-test-$1:$2-$(tag_of "$1")"; }

has_image() { podman image exists "$1"; }

build_base() {
  has_image "$BASE_IMAGE" && return 0
  local mirror dir started=$SECONDS
  mirror=$(apt_mirror)
  dir=$(mktemp -d)
  log "building $BASE_IMAGE: debootstrap --variant=minbase $SUITE from $mirror (about a minute, once per machine)"
  if ! debootstrap --variant=minbase "$SUITE" "$dir" "$mirror" >"$dir.log" 2>&1; then
    tail -20 "$dir.log" >&2; rm -rf "$dir" "$dir.log"; return 1
  fi
  # The security updates too, so that the images' servers are the very versions apt installs on the machine.
  cp /etc/apt/sources.list.d/debian.sources "$dir/etc/apt/sources.list.d/" 2>/dev/null \
    && rm -f "$dir/etc/apt/sources.list" || true
  tar -C "$dir" -c . | podman import --change 'CMD ["/bin/bash"]' - "$BASE_IMAGE" >/dev/null
  rm -rf "$dir" "$dir.log"
  log "built $BASE_IMAGE in $((SECONDS - started)) s"
}

# The Debian mirror apt is set up with, so that the images come from where the machine's packages come from.
apt_mirror() {
  local uri
  uri=$(grep -hoE '^URIs: *[^ ]+' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -1)
  [ -n "$uri" ] || uri=$(grep -hoE '^deb +[^ ]+' /etc/apt/sources.list 2>/dev/null | awk '{print $2}' | head -1)
  echo "${uri:-http://deb.debian.org/debian}"
}

build_image() { # name version
  local image started=$SECONDS
  image=$(image_of "$1" "$2")
  if has_image "$image"; then log "$image is there"; return 0; fi
  log "building $image from tests/images/$1 (under a minute, once per machine)"
  podman build --network host -q -t "$image" -f "$ROOT/tests/images/$1/Containerfile" "$ROOT/tests/images/$1" >/dev/null
  log "built $image in $((SECONDS - started)) s"
  # Earlier builds of the same image (an older Containerfile) only take disk space; one still in use stays.
  podman images --format '{{.Repository}}:{{.Tag}}' "localhost/worker-test-$1" | grep -vxF "$image" \
    | xargs -r podman rmi >/dev/null 2>&1 || true
}

# The .NET SDK and ASP.NET Core runtime images src/Worker/Dockerfile builds on here (its SDK_IMAGE and RUNTIME_IMAGE):
# Debian's base with this machine's own .NET and certificate authorities, tagged by both and by their Containerfiles.
dotnet_root() { dirname "$(readlink -f "$(command -v dotnet)")"; }
dotnet_tag() {
  { tag_of dotnet; dotnet --version; ls "$(dotnet_root)/shared/"*; cat /usr/local/share/ca-certificates/*.crt 2>/dev/null; } \
    | sha256sum | cut -c1-12
}
dotnet_image() { echo "localhost/worker-test-dotnet-$1:$(dotnet --version)-$(dotnet_tag)"; }

build_dotnet_images() {
  local sdk runtime context started=$SECONDS
  sdk=$(dotnet_image sdk); runtime=$(dotnet_image aspnet)
  if has_image "$sdk" && has_image "$runtime"; then log "$sdk and $runtime are there"; return 0; fi
  log "building $sdk and $runtime from tests/images/dotnet and $(dotnet_root) (about a minute, once per machine)"
  context=$(mktemp -d)
  mkdir "$context/ca"
  cp /usr/local/share/ca-certificates/*.crt "$context/ca/" 2>/dev/null || true
  # Hard links where the folder is on the same disk: the SDK is some 600 MB.
  cp -al "$(dotnet_root)" "$context/dotnet" 2>/dev/null || cp -a "$(dotnet_root)" "$context/dotnet"
  podman build --network host -q -t "$sdk" -f "$ROOT/tests/images/dotnet/sdk.Containerfile" \
    --build-arg NUGET_CERT_REVOCATION_MODE="${NUGET_CERT_REVOCATION_MODE:-online}" "$context" >/dev/null
  podman build --network host -q -t "$runtime" -f "$ROOT/tests/images/dotnet/aspnet.Containerfile" "$context" >/dev/null
  rm -rf "$context"
  log "built them in $((SECONDS - started)) s"
}

build_images() {
  build_base
  build_image postgres 15
  build_image rabbitmq 3.10
  build_image prometheus 2.42
  build_dotnet_images
}

start_api() {
  local dir=$1 socket=$1/podman.sock
  podman system service --time=0 "unix://$socket" >"$dir/podman-service.log" 2>&1 &
  echo $! > "$dir/podman-service.pid"
  for _ in $(seq 100); do
    if curl -sf --unix-socket "$socket" http://d/_ping >/dev/null 2>&1; then return 0; fi
    sleep 0.1
  done
  log "podman's API did not answer on $socket:"; tail -20 "$dir/podman-service.log" >&2; return 1
}

setup() {
  local dir=$1
  [ "$(id -u)" = 0 ] || { log "podman is run as root here (rootless needs subordinate ids set up by an administrator)"; return 1; }
  mkdir -p "$dir"
  install_podman
  export CONTAINERS_CONF=$dir/containers.conf
  write_conf "$CONTAINERS_CONF"
  build_images
  # One container that runs, before the tests count on it.
  if ! out=$(podman run --rm --network none "$BASE_IMAGE" true 2>&1); then
    log "podman cannot run a container here: $out"; return 1
  fi
  start_api "$dir"
  cat <<VARS
export CONTAINERS_CONF=$CONTAINERS_CONF
export DOCKER_HOST=unix://$dir/podman.sock
export TESTCONTAINERS_RYUK_DISABLED=true
export TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1
export WORKER_IT_POSTGRES_IMAGE=$(image_of postgres 15)
export WORKER_IT_RABBITMQ_IMAGE=$(image_of rabbitmq 3.10)
export WORKER_IT_PROMETHEUS_IMAGE=$(image_of prometheus 2.42)
export WORKER_IT_DOTNET_SDK_IMAGE=$(dotnet_image sdk)
export WORKER_IT_DOTNET_RUNTIME_IMAGE=$(dotnet_image aspnet)
export WORKER_IT_RUN=$(basename "$dir")
export WORKER_IT_WORKER_IMAGE=$(worker_image "$(basename "$dir")")
VARS
}

stop() {
  local dir=$1
  if [ -f "$dir/podman-service.pid" ]; then
    kill "$(cat "$dir/podman-service.pid")" 2>/dev/null || true
    rm -f "$dir/podman-service.pid"
  fi
  # Containers and networks a crashed run left behind (Ryuk, which would remove them, cannot be pulled here); this
  # run's only (label worker-tests.run), so that another run on the machine keeps its own.
  export CONTAINERS_CONF=$dir/containers.conf
  local run; run=$(basename "$dir")
  podman ps -aq --filter "label=worker-tests.run=$run" 2>/dev/null | xargs -r podman rm -f >/dev/null 2>&1 || true
  podman network ls -q --filter "label=worker-tests.run=$run" 2>/dev/null | xargs -r podman network rm -f >/dev/null 2>&1 || true
  # What a compose test that did not get to `down -v` left (its project is worker-stack-<run>), and the run's worker
  # image (scripts/test.sh).
  local project; project=worker-stack-$(echo "$run" | tr '[:upper:]' '[:lower:]')
  podman ps -aq --filter "label=com.docker.compose.project=$project" 2>/dev/null | xargs -r podman rm -f >/dev/null 2>&1 || true
  podman network ls -q --filter "label=com.docker.compose.project=$project" 2>/dev/null | xargs -r podman network rm -f >/dev/null 2>&1 || true
  podman volume ls -q --filter "label=com.docker.compose.project=$project" 2>/dev/null | xargs -r podman volume rm -f >/dev/null 2>&1 || true
  podman rmi -f "$(worker_image "$run")" >/dev/null 2>&1 || true
}

# The worker's image of a run (scripts/test.sh builds it with docker-compose).
worker_image() { echo "localhost/update-worker:test-$(echo "$1" | tr '[:upper:]' '[:lower:]')"; }

command=${1:-}; shift || true
case "$command" in
  setup) setup "$@" ;;
  stop) stop "$@" ;;
  images) install_podman; export CONTAINERS_CONF=${CONTAINERS_CONF:-$(mktemp -d)/containers.conf}; write_conf "$CONTAINERS_CONF"; build_images ;;
  *) echo "usage: $0 setup DIR | stop DIR | images" >&2; exit 64 ;;
esac

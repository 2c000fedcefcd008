#!/usr/bin/env bash
# Gets the Docker provider going on a Debian machine that reaches only Debian's apt mirrors:
#  1. makes a Docker engine answer: when none does, installs docker.io from Debian 13 (trixie; Debian 12's
#     20.10 speaks API 1.41, too old for Testcontainers 4) and starts dockerd in the background;
#  2. builds the local images described under scripts/docker/ with debootstrap, no registry needed:
#     testdbkit/postgres:15 and testdbkit/mariadb:10.11, whose entrypoints honour the official postgres /
#     mysql images' contract (POSTGRES_* / MYSQL_* variables) that Testcontainers' modules rely on.
# Each image is one folder, scripts/docker/<image>/: image.env (tag, Debian suite, packages),
# prepare-root.sh (turns the bootstrapped root into the image's file system), image.changes (the image
# configuration, given to docker import), and the files it installs (docker-entrypoint.sh, ...).
# Run as root. Idempotent: an answering engine and up-to-date images are left alone; an image is rebuilt
# when the hash of its folder (and of the build functions below), kept as its label
# org.testdbkit.recipe, changes. Quiet on success except the image names, one a line, at the end.
# Then, for the kit:
#   TESTDBKIT_POSTGRES_IMAGE=testdbkit/postgres:15 TESTDBKIT_MYSQL_IMAGE=testdbkit/mariadb:10.11
#   TESTDBKIT_DOCKER_PULL=never TESTCONTAINERS_RYUK_DISABLED=true TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1
# Environment: TESTDBKIT_DEBIAN_MIRROR (default: the machine's Debian mirror from its apt sources),
# DOCKERD_LOG (default /var/log/testdbkit-dockerd.log), TESTDBKIT_REBUILD_IMAGES=1 rebuilds the images.
set -euo pipefail

IMAGES_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/docker
IMAGES=(postgres mariadb) # folders under $IMAGES_DIR, built and printed in this order
DOCKERD_LOG=${DOCKERD_LOG:-/var/log/testdbkit-dockerd.log}
LOG=/var/log/testdbkit-docker-setup.log
MIN_ENGINE_MAJOR=25 # Docker 25 = API 1.44, the oldest Testcontainers 4 accepts
TRIXIE_SOURCES=/etc/apt/sources.list.d/testdbkit-trixie.sources
TRIXIE_PIN=/etc/apt/preferences.d/testdbkit-trixie
WORK=""
GUARD=""
BUILD_PIDS=()

say() { echo "docker-setup: $*" >&2; }

# fail WHAT FIX [LOGFILE]: says what failed, shows the end of the log, names the command that fixes it.
fail() {
  say "FAILED: $1"
  local log=${3:-}
  if [ -n "$log" ] && [ -s "$log" ]; then
    tail -n 25 "$log" | sed 's/^/  | /' >&2
    say "full log: $log"
  fi
  [ -n "$2" ] && say "to fix: $2"
  exit 1
}

# quietly WHAT FIX COMMAND...: runs COMMAND with its output in $LOG; on failure, fail with WHAT and FIX.
quietly() {
  local what=$1 fix=$2
  shift 2
  echo "+ $*" >>"$LOG"
  if ! "$@" >>"$LOG" 2>&1 </dev/null; then
    fail "$what ($*)" "$fix" "$LOG"
  fi
}

LOG_STARTED=""
need_root() {
  [ "$(id -u)" -eq 0 ] || fail "$1 needs root" "sudo $0"
  if [ -z "$LOG_STARTED" ]; then # the log holds the last run that had work to do
    mkdir -p "$(dirname "$LOG")"
    echo "--- $(date -Is) $0" >"$LOG"
    LOG_STARTED=1
  fi
}

cleanup() {
  local pid
  for pid in "${BUILD_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  [ -n "$GUARD" ] && rm -f "$GUARD"
  if [ -n "$WORK" ] && [ -d "$WORK" ]; then
    # A debootstrap cut short can leave /proc or /sys mounted inside its target.
    awk -v w="$WORK/" 'index($2, w) == 1 { print $2 }' /proc/mounts | sort -r | while read -r m; do
      umount -l "$m" 2>/dev/null || true
    done
    rm -rf --one-file-system "$WORK"
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- engine

DOCKER=docker
# engine_answers: true when a client on PATH (or Debian's /usr/bin/docker, which matches a docker.io
# engine) gets an answer from the engine; sets DOCKER to that client.
engine_answers() {
  local c
  for c in docker /usr/bin/docker; do
    command -v "$c" >/dev/null 2>&1 || continue
    if timeout 20 "$c" info >/dev/null 2>&1; then
      DOCKER=$c
      return 0
    fi
  done
  return 1
}

dockerd_major() {
  command -v dockerd >/dev/null 2>&1 || { echo 0; return; }
  dockerd --version 2>/dev/null | sed -n 's/^Docker version \([0-9]*\)\..*/\1/p' | grep . || echo 0
}

# The machine's Debian mirror (first URI that serves the machine's own release), for apt and debootstrap.
debian_mirror() {
  if [ -n "${TESTDBKIT_DEBIAN_MIRROR:-}" ]; then
    echo "$TESTDBKIT_DEBIAN_MIRROR"
    return
  fi
  local codename uri=""
  codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
  if compgen -G '/etc/apt/sources.list.d/*.sources' >/dev/null; then
    uri=$(awk -v s="${codename:-bookworm}" '
      BEGIN { RS = ""; FS = "\n" }
      {
        uris = ""; suites = ""; enabled = "yes"
        for (i = 1; i <= NF; i++) {
          if ($i ~ /^URIs:/) { uris = substr($i, 6) }
          if ($i ~ /^Suites:/) { suites = substr($i, 8) }
          if ($i ~ /^Enabled:/) { enabled = substr($i, 9); gsub(/ /, "", enabled) }
        }
        if (enabled == "no") next
        n = split(suites, a, " ")
        for (j = 1; j <= n; j++) if (a[j] == s) { split(uris, u, " "); for (k in u) if (u[k] != "") { print u[k]; exit } }
      }' /etc/apt/sources.list.d/*.sources | head -n 1)
  fi
  if [ -z "$uri" ]; then
    uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
      awk -v s="${codename:-bookworm}" '$1 == "deb" { sub(/\[[^]]*\] */, ""); if ($3 == s) { print $2; exit } }')
  fi
  echo "${uri:-http://deb.debian.org/debian}"
}

# write_file PATH CONTENT: writes only when the content differs (keeps reruns from touching apt).
write_file() {
  if [ ! -f "$1" ] || [ "$(cat "$1")" != "$2" ]; then
    printf '%s\n' "$2" >"$1"
  fi
}

# Keeps package scripts from starting daemons (docker.io's would start its own dockerd).
guard_services() {
  if [ -z "$GUARD" ] && [ ! -e /usr/sbin/policy-rc.d ]; then
    GUARD=/usr/sbin/policy-rc.d
    printf '#!/bin/sh\nexit 101\n' >"$GUARD"
    chmod +x "$GUARD"
  fi
}

install_engine() {
  command -v apt-get >/dev/null ||
    fail "no Docker engine answers and this machine has no apt-get" \
      "install Docker Engine $MIN_ENGINE_MAJOR or newer (API 1.44+) and start it, or point DOCKER_HOST at one"
  local mirror codename pkgs=(docker.io docker-cli)
  mirror=$(debian_mirror)
  codename=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
  if [ "$codename" = bookworm ]; then
    # Debian 13's docker.io, and only it: the pin keeps every other package on Debian 12, and naming the
    # release per package (not -t trixie, which would also upgrade libc6 and friends) keeps dependencies there.
    write_file "$TRIXIE_SOURCES" "Types: deb
URIs: $mirror
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"
    write_file "$TRIXIE_PIN" "Package: *
Pin: release n=trixie
Pin-Priority: 100"
    pkgs=(docker.io/trixie docker-cli/trixie)
  fi
  export DEBIAN_FRONTEND=noninteractive
  quietly "apt-get update (is $mirror reachable? does the keyring know Debian 13's key?)" \
    "apt-get update && apt-get install -y debian-archive-keyring" apt-get update -q
  guard_services
  quietly "installing ${pkgs[*]}" \
    "apt-get install -y --no-install-recommends ${pkgs[*]}" \
    apt-get install -y -q --no-install-recommends "${pkgs[@]}"
  local major
  major=$(dockerd_major)
  [ "$major" -ge "$MIN_ENGINE_MAJOR" ] ||
    fail "the installed dockerd is version $major, older than $MIN_ENGINE_MAJOR (API 1.44) that Testcontainers 4 needs" \
      "apt-get install -y --no-install-recommends docker.io/trixie docker-cli/trixie (after adding a trixie source pinned at 100)"
}

start_engine() {
  local pid=""
  # A dockerd of ours (or anyone's) that is still coming up: wait for it instead of starting another.
  if [ -s /var/run/docker.pid ] && kill -0 "$(cat /var/run/docker.pid)" 2>/dev/null; then
    pid=$(cat /var/run/docker.pid)
  else
    mkdir -p "$(dirname "$DOCKERD_LOG")"
    echo "--- $(date -Is) docker-setup.sh starts dockerd" >>"$DOCKERD_LOG"
    setsid dockerd --host=unix:///var/run/docker.sock --pidfile=/var/run/docker.pid \
      </dev/null >>"$DOCKERD_LOG" 2>&1 &
    pid=$!
  fi
  local deadline=$((SECONDS + 90))
  until engine_answers; do
    kill -0 "$pid" 2>/dev/null ||
      fail "dockerd exited while starting (log: $DOCKERD_LOG)" \
        "fix the cause in the log, then rerun $0 (or start it by hand: dockerd >>$DOCKERD_LOG 2>&1 &)" "$DOCKERD_LOG"
    [ "$SECONDS" -lt "$deadline" ] ||
      fail "dockerd (pid $pid) did not answer 'docker info' within 90 s" \
        "look at $DOCKERD_LOG; kill $pid and rerun $0" "$DOCKERD_LOG"
    sleep 0.2
  done
}

ensure_engine() {
  engine_answers && return 0
  if [ -n "${DOCKER_HOST:-}" ] && [ "$DOCKER_HOST" != unix:///var/run/docker.sock ]; then
    fail "DOCKER_HOST=$DOCKER_HOST does not answer" \
      "start the engine it names, or unset DOCKER_HOST and rerun $0 to start a local one"
  fi
  need_root "installing and starting a Docker engine"
  if [ "$(dockerd_major)" -lt "$MIN_ENGINE_MAJOR" ]; then
    install_engine
  fi
  start_engine
}
# ---------------------------------------------------------------- images

# image_var DIR VAR: VAR as DIR/image.env sets it.
image_var() {
  [ -f "$1/image.env" ] || fail "no $1/image.env" "restore it from git (git checkout -- scripts/docker)"
  (
    # shellcheck disable=SC1091 # one of scripts/docker/*/image.env
    . "$1/image.env"
    printf '%s' "${!2:-}"
  )
}

# recipe_of DIR: a short hash of what goes into the image built from DIR (its files, and the functions
# that bootstrap and import it): an image built from another recipe is rebuilt.
recipe_of() {
  {
    declare -f bootstrap build_image
    (cd "$1" && find . -type f -print0 | LC_ALL=C sort -z | xargs -0 sha256sum)
  } | sha256sum | cut -c1-16
}

image_current() { # image_current NAME RECIPE
  [ "${TESTDBKIT_REBUILD_IMAGES:-}" != 1 ] || return 1
  [ "$("$DOCKER" image inspect --format '{{ index .Config.Labels "org.testdbkit.recipe" }}' "$1" 2>/dev/null)" = "$2" ]
}

# bootstrap ROOT SUITE PACKAGES: a minimal Debian SUITE with PACKAGES, services kept from starting.
bootstrap() {
  debootstrap --variant=minbase --include="$3" "$2" "$1" "$MIRROR"
  rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/* "$1"/var/log/*.log "$1"/var/log/apt/*
  printf 'nameserver 127.0.0.1\n' >"$1/etc/resolv.conf" # Docker replaces it in every container
}

# build_image DIR RECIPE: bootstraps the root that DIR/image.env describes, lets DIR/prepare-root.sh
# finish it, and imports it with DIR/image.changes and the recipe label.
build_image() {
  local dir=$1 recipe=$2 name root line changes=()
  name=$(image_var "$dir" NAME)
  root=$WORK/$(basename "$dir")
  bootstrap "$root" "$(image_var "$dir" SUITE)" "$(image_var "$dir" PACKAGES)"
  bash "$dir/prepare-root.sh" "$root"
  while IFS= read -r line || [ -n "$line" ]; do
    case "$line" in '' | '#'*) continue ;; esac
    changes+=(--change "$line")
  done <"$dir/image.changes"
  tar --numeric-owner -C "$root" -c . |
    "$DOCKER" import "${changes[@]}" --change "LABEL org.testdbkit.recipe=$recipe" - "$name"
  rm -rf --one-file-system "$root"
}

ensure_images() {
  local image dir recipe todo=() recipes=()
  for image in "${IMAGES[@]}"; do
    dir=$IMAGES_DIR/$image
    recipe=$(recipe_of "$dir")
    image_current "$(image_var "$dir" NAME)" "$recipe" || { todo+=("$image"); recipes+=("$recipe"); }
  done
  [ ${#todo[@]} -gt 0 ] || return 0

  need_root "building the images with debootstrap"
  if ! command -v debootstrap >/dev/null; then
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -q --no-install-recommends debootstrap >>"$LOG" 2>&1 </dev/null; then
      quietly "apt-get update" "apt-get update" apt-get update -q
      quietly "installing debootstrap" "apt-get install -y debootstrap" \
        apt-get install -y -q --no-install-recommends debootstrap
    fi
  fi
  MIRROR=$(debian_mirror)
  WORK=$(mktemp -d /var/tmp/testdbkit-images.XXXXXX)

  # All at once: debootstrap spends much of its time waiting on the mirror and on dpkg's fsyncs.
  local pid i failed=()
  for i in "${!todo[@]}"; do
    image=${todo[$i]}
    (set -euo pipefail; build_image "$IMAGES_DIR/$image" "${recipes[$i]}") >"$WORK/$image.log" 2>&1 </dev/null &
    BUILD_PIDS+=($!)
  done
  for i in "${!todo[@]}"; do
    image=${todo[$i]}
    pid=${BUILD_PIDS[$i]}
    if ! wait "$pid"; then failed+=("$image"); fi
    { echo "--- build of $image"; cat "$WORK/$image.log"; } >>"$LOG"
  done
  BUILD_PIDS=()
  if [ ${#failed[@]} -gt 0 ]; then
    image=${failed[0]}
    fail "building $(image_var "$IMAGES_DIR/$image" NAME) from $IMAGES_DIR/$image (debootstrap from $MIRROR, then docker import)" \
      "see the log; a rerun of $0 retries (TESTDBKIT_DEBIAN_MIRROR=URL picks another mirror)" "$WORK/$image.log"
  fi
}

ensure_engine
ensure_images
for image in "${IMAGES[@]}"; do
  image_var "$IMAGES_DIR/$image" NAME
  echo
done

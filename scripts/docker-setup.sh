#!/usr/bin/env bash
# Gets the Docker provider going on a Debian machine that reaches only Debian's apt mirrors:
#  1. makes a Docker engine answer: when none does, installs docker.io from Debian 13 (trixie; Debian 12's
#     20.10 speaks API 1.41, too old for Testcontainers 4) and starts dockerd in the background;
#  2. builds two local images with debootstrap, no registry needed: testdbkit/postgres:15 and
#     testdbkit/mariadb:10.11, whose entrypoints honour the official postgres / mysql images' contract
#     (POSTGRES_* / MYSQL_* variables) that Testcontainers' PostgreSql and MySql modules rely on.
# Run as root. Idempotent: an answering engine and up-to-date images are left alone. Quiet on success
# except the image names, one a line, at the end. Then, for the kit:
#   TESTDBKIT_POSTGRES_IMAGE=testdbkit/postgres:15 TESTDBKIT_MYSQL_IMAGE=testdbkit/mariadb:10.11
#   TESTDBKIT_DOCKER_PULL=never TESTCONTAINERS_RYUK_DISABLED=true TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1
# Environment: TESTDBKIT_DEBIAN_MIRROR (default: the machine's Debian mirror from its apt sources),
# DOCKERD_LOG (default /var/log/testdbkit-dockerd.log), TESTDBKIT_REBUILD_IMAGES=1 rebuilds the images.
set -euo pipefail

PG_IMAGE=testdbkit/postgres:15
MY_IMAGE=testdbkit/mariadb:10.11
IMAGE_SUITE=bookworm # Debian 12: PostgreSQL 15, MariaDB 10.11
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

# The entrypoint of testdbkit/postgres: the official postgres image's contract.
PG_ENTRYPOINT=$(cat <<'ENTRYPOINT'
#!/bin/bash
# testdbkit/postgres entrypoint (built by TestDbKit's scripts/docker-setup.sh), after the official image:
# POSTGRES_USER (default postgres), POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust),
# POSTGRES_DB (default: the user's name), POSTGRES_INITDB_ARGS, PGDATA, /docker-entrypoint-initdb.d/*.
# Arguments starting with '-' go to postgres (e.g. -c fsync=off); any other command is run as given.
set -euo pipefail

case "${1:-}" in -*) set -- postgres "$@" ;; esac
[ "${1:-}" = postgres ] || exec "$@"
shift

export PGDATA=${PGDATA:-/var/lib/postgresql/data}

if [ "$(id -u)" = 0 ]; then
  mkdir -p "$PGDATA" /var/run/postgresql
  chmod 700 "$PGDATA"
  chmod 2775 /var/run/postgresql
  find "$PGDATA" /var/run/postgresql \! -user postgres -exec chown postgres:postgres '{}' +
  export HOME=/var/lib/postgresql
  exec setpriv --reuid=postgres --regid=postgres --init-groups "${BASH_SOURCE[0]}" postgres "$@"
fi

POSTGRES_USER=${POSTGRES_USER:-postgres}
POSTGRES_DB=${POSTGRES_DB:-$POSTGRES_USER}
POSTGRES_PASSWORD=${POSTGRES_PASSWORD:-}
auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "$POSTGRES_PASSWORD" ] && [ "$auth" != trust ]; then
    echo "error: the database is uninitialized and POSTGRES_PASSWORD is not set;" >&2
    echo "       set POSTGRES_PASSWORD, or POSTGRES_HOST_AUTH_METHOD=trust to allow connections without one." >&2
    exit 1
  fi
  pwargs=()
  pwfile=""
  if [ -n "$POSTGRES_PASSWORD" ]; then
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    pwargs=(--pwfile="$pwfile")
  fi
  # shellcheck disable=SC2086 # POSTGRES_INITDB_ARGS is a list of arguments
  initdb -D "$PGDATA" --username="$POSTGRES_USER" "${pwargs[@]}" --auth-local=trust --auth-host="$auth" \
    --encoding=UTF8 --locale=C.UTF-8 --no-sync ${POSTGRES_INITDB_ARGS:-} >/dev/null
  [ -n "$pwfile" ] && rm -f "$pwfile"
  cat >"$PGDATA/pg_hba.conf" <<HBA
# TYPE  DATABASE     USER  ADDRESS     METHOD
local   all          all               trust
host    all          all   0.0.0.0/0   $auth
host    all          all   ::/0        $auth
local   replication  all               trust
host    replication  all   0.0.0.0/0   $auth
host    replication  all   ::/0        $auth
HBA
  printf "\n# docker-entrypoint.sh\nlisten_addresses = '*'\npassword_encryption = scram-sha-256\n" >>"$PGDATA/postgresql.conf"

  shopt -s nullglob
  scripts=(/docker-entrypoint-initdb.d/*)
  if [ "$POSTGRES_DB" != postgres ] || [ ${#scripts[@]} -gt 0 ]; then
    # A server on the socket only, so that readiness probes over TCP wait for the end of initialisation.
    extra=""
    [ $# -eq 0 ] || extra=$(printf '%q ' "$@")
    pg_ctl -D "$PGDATA" -w -t 60 -s -o "-c listen_addresses='' -p 5432 $extra" start
    psql=(psql -X -q -v ON_ERROR_STOP=1 --no-password --username "$POSTGRES_USER")
    if [ "$POSTGRES_DB" != postgres ]; then
      "${psql[@]}" --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";'
    fi
    export PGUSER=$POSTGRES_USER PGDATABASE=$POSTGRES_DB
    for f in "${scripts[@]}"; do
      case "$f" in
        *.sh) if [ -x "$f" ]; then "$f"; else bash "$f"; fi ;;
        *.sql) "${psql[@]}" --dbname "$POSTGRES_DB" -f "$f" ;;
        *.sql.gz) gunzip -c "$f" | "${psql[@]}" --dbname "$POSTGRES_DB" ;;
        *) echo "docker-entrypoint.sh: ignoring $f" >&2 ;;
      esac
    done
    pg_ctl -D "$PGDATA" -m fast -w -s stop
  fi
  echo "PostgreSQL init process complete; ready for start up."
fi

exec postgres "$@"
ENTRYPOINT
)

# The entrypoint of testdbkit/mariadb: the official mysql / mariadb images' contract.
MY_ENTRYPOINT=$(cat <<'ENTRYPOINT'
#!/bin/bash
# testdbkit/mariadb entrypoint (built by TestDbKit's scripts/docker-setup.sh), after the official images:
# MYSQL_ROOT_PASSWORD (or MYSQL_ALLOW_EMPTY_PASSWORD / MYSQL_RANDOM_ROOT_PASSWORD), MYSQL_ROOT_HOST
# (default %), MYSQL_DATABASE, MYSQL_USER, MYSQL_PASSWORD, each also as MARIADB_*, and
# /docker-entrypoint-initdb.d/*. Arguments starting with '-' go to mariadbd; other commands run as given.
# The server reads /etc/mysql/testdbkit.cnf only: Testcontainers overwrites /etc/mysql/my.cnf with a
# client configuration while the server starts.
set -euo pipefail

case "${1:-}" in -*) set -- mariadbd "$@" ;; esac
case "${1:-}" in
  mariadbd | mysqld) shift ;;
  *) exec "$@" ;;
esac

var() { # var NAME: MARIADB_NAME, else MYSQL_NAME, else empty
  local m="MARIADB_$1" y="MYSQL_$1"
  printf '%s' "${!m:-${!y:-}}"
}
sql_str() { # a quoted SQL string literal
  local s=${1//\\/\\\\}
  s=${s//\'/\\\'}
  printf "'%s'" "$s"
}
sql_id() { printf '`%s`' "${1//\`/\`\`}"; }

CNF=/etc/mysql/testdbkit.cnf
DATADIR=/var/lib/mysql
SOCKET=/run/mysqld/mysqld.sock
server=(mariadbd "--defaults-file=$CNF")
if [ "$(id -u)" = 0 ]; then
  mkdir -p "$DATADIR" /run/mysqld
  find "$DATADIR" /run/mysqld \! -user mysql -exec chown mysql:mysql '{}' +
  server+=(--user=mysql)
fi

if [ ! -d "$DATADIR/mysql" ]; then
  root_password=$(var ROOT_PASSWORD)
  database=$(var DATABASE)
  user=$(var USER)
  password=$(var PASSWORD)
  root_host=$(var ROOT_HOST)
  root_host=${root_host:-%}
  allow_empty=${MARIADB_ALLOW_EMPTY_ROOT_PASSWORD:-${MYSQL_ALLOW_EMPTY_PASSWORD:-}}
  random=$(var RANDOM_ROOT_PASSWORD)
  if [ "$user" = root ]; then
    # The official images refuse MYSQL_USER=root; here it means: root, with MYSQL_PASSWORD if no root one.
    root_password=${root_password:-$password}
    user=""
  fi
  if [ -n "$random" ] && [ -z "$root_password" ]; then
    root_password=$(head -c 48 /dev/urandom | base64 | tr -d '+/=\n' | cut -c1-32)
    echo "GENERATED ROOT PASSWORD: $root_password"
  fi
  if [ -z "$root_password" ] && [ -z "$allow_empty" ]; then
    echo "error: the database is uninitialized and no root password option is given;" >&2
    echo "       set MYSQL_ROOT_PASSWORD, MYSQL_ALLOW_EMPTY_PASSWORD or MYSQL_RANDOM_ROOT_PASSWORD (or their MARIADB_ names)." >&2
    exit 1
  fi
  if [ -n "$user" ] && [ -z "$password" ]; then
    echo "error: MYSQL_USER is set but MYSQL_PASSWORD is not." >&2
    exit 1
  fi

  log=$(mktemp)
  if ! mariadb-install-db "--defaults-file=$CNF" "${server[@]:2}" --datadir="$DATADIR" \
    --auth-root-authentication-method=normal --skip-test-db --skip-name-resolve >"$log" 2>&1; then
    cat "$log" >&2
    exit 1
  fi
  rm -f "$log"

  # A server without networking, so that readiness probes over TCP wait for the end of initialisation.
  "${server[@]}" --skip-networking --socket="$SOCKET" "$@" &
  pid=$!
  client=(mariadb --no-defaults --socket="$SOCKET" --user=root)
  for _ in $(seq 1 600); do
    if mariadb-admin --no-defaults --socket="$SOCKET" --user=root ping >/dev/null 2>&1; then break; fi
    kill -0 "$pid" 2>/dev/null || { echo "error: mariadbd stopped during initialisation" >&2; exit 1; }
    sleep 0.1
  done

  sql="SET @@SESSION.SQL_LOG_BIN=0;
SET @@SESSION.SQL_MODE=REPLACE(@@SESSION.SQL_MODE, 'NO_BACKSLASH_ESCAPES', '');
DROP USER IF EXISTS 'root'@'127.0.0.1', 'root'@'::1', ''@'localhost';
EXECUTE IMMEDIATE CONCAT('DROP USER IF EXISTS root@''', @@hostname, ''', ''''@''', @@hostname, '''');"
  if [ -n "$root_password" ]; then
    sql+="
SET PASSWORD FOR 'root'@'localhost' = PASSWORD($(sql_str "$root_password"));"
  fi
  if [ "$root_host" != localhost ]; then
    identified=""
    [ -n "$root_password" ] && identified=" IDENTIFIED BY $(sql_str "$root_password")"
    sql+="
CREATE USER 'root'@$(sql_str "$root_host")$identified;
GRANT ALL ON *.* TO 'root'@$(sql_str "$root_host") WITH GRANT OPTION;
GRANT PROXY ON ''@'%' TO 'root'@$(sql_str "$root_host") WITH GRANT OPTION;"
  fi
  if [ -n "$database" ]; then
    sql+="
CREATE DATABASE IF NOT EXISTS $(sql_id "$database");"
  fi
  if [ -n "$user" ]; then
    sql+="
CREATE USER $(sql_str "$user")@'%' IDENTIFIED BY $(sql_str "$password");"
    if [ -n "$database" ]; then
      sql+="
GRANT ALL ON $(sql_id "$database").* TO $(sql_str "$user")@'%';"
    fi
  fi
  "${client[@]}" <<<"$sql"

  export MYSQL_PWD=$root_password
  shopt -s nullglob
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh) if [ -x "$f" ]; then "$f"; else bash "$f"; fi ;;
      *.sql) "${client[@]}" ${database:+"$database"} <"$f" ;;
      *.sql.gz) gunzip -c "$f" | "${client[@]}" ${database:+"$database"} ;;
      *) echo "docker-entrypoint.sh: ignoring $f" >&2 ;;
    esac
  done
  unset MYSQL_PWD

  kill -TERM "$pid"
  wait "$pid" || true
  echo "MariaDB init process done. Ready for start up."
fi

exec "${server[@]}" "$@"
ENTRYPOINT
)

MY_CNF=$(cat <<'CNF'
# testdbkit/mariadb server settings; the entrypoint starts mariadbd with --defaults-file=this file.
[mysqld]
datadir = /var/lib/mysql
socket = /run/mysqld/mysqld.sock
pid-file = /run/mysqld/mysqld.pid
port = 3306
bind-address = 0.0.0.0
skip-name-resolve
character-set-server = utf8mb4
collation-server = utf8mb4_general_ci
!includedir /etc/mysql/conf.d/
CNF
)

# A short hash of what goes into an image: an image built from another recipe is rebuilt.
recipe_of() { printf '%s\n' "$IMAGE_SUITE" "$@" | sha256sum | cut -c1-16; }
PG_RECIPE=$(recipe_of "$PG_ENTRYPOINT")
MY_RECIPE=$(recipe_of "$MY_ENTRYPOINT" "$MY_CNF")

image_current() { # image_current NAME RECIPE
  [ "${TESTDBKIT_REBUILD_IMAGES:-}" != 1 ] || return 1
  [ "$("$DOCKER" image inspect --format '{{ index .Config.Labels "org.testdbkit.recipe" }}' "$1" 2>/dev/null)" = "$2" ]
}

# bootstrap ROOT PACKAGES: a minimal Debian 12 with PACKAGES, services kept from starting.
bootstrap() {
  debootstrap --variant=minbase --include="$2" "$IMAGE_SUITE" "$1" "$MIRROR"
  rm -rf "$1"/var/cache/apt/archives/*.deb "$1"/var/lib/apt/lists/* "$1"/var/log/*.log "$1"/var/log/apt/*
  printf 'nameserver 127.0.0.1\n' >"$1/etc/resolv.conf" # Docker replaces it in every container
}

build_postgres() {
  local root=$WORK/postgres bindir
  bootstrap "$root" postgresql,postgresql-client
  bindir=$(cd "$root" && compgen -G 'usr/lib/postgresql/*/bin' | sort -V | tail -n 1)
  [ -x "$root/$bindir/pg_isready" ] || { echo "no pg_isready under $root/usr/lib/postgresql" >&2; return 1; }
  # The package's default cluster is not used: the entrypoint initialises PGDATA.
  rm -rf "$root"/etc/postgresql/*/main "$root"/var/lib/postgresql/*/main
  chroot "$root" install -d -o postgres -g postgres -m 700 /var/lib/postgresql/data
  chroot "$root" install -d -o postgres -g postgres -m 2775 /var/run/postgresql
  printf '%s\n' "$PG_ENTRYPOINT" >"$root/usr/local/bin/docker-entrypoint.sh"
  chmod 755 "$root/usr/local/bin/docker-entrypoint.sh"
  tar --numeric-owner -C "$root" -c . | "$DOCKER" import \
    --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
    --change 'CMD ["postgres"]' \
    --change "ENV PATH=/$bindir:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
    --change 'ENV PGDATA=/var/lib/postgresql/data' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'EXPOSE 5432' \
    --change 'STOPSIGNAL SIGINT' \
    --change "LABEL org.testdbkit.recipe=$PG_RECIPE" \
    - "$PG_IMAGE"
  rm -rf --one-file-system "$root"
}

build_mariadb() {
  local root=$WORK/mariadb
  bootstrap "$root" mariadb-server,mariadb-client
  [ -x "$root/usr/bin/mysql" ] || { echo "no mysql client in $root/usr/bin" >&2; return 1; }
  # The package initialised a data directory; the entrypoint makes a fresh one from the environment.
  find "$root/var/lib/mysql" -mindepth 1 -delete
  chroot "$root" install -d -o mysql -g mysql -m 755 /run/mysqld
  printf '%s\n' "$MY_CNF" >"$root/etc/mysql/testdbkit.cnf"
  printf '%s\n' "$MY_ENTRYPOINT" >"$root/usr/local/bin/docker-entrypoint.sh"
  chmod 755 "$root/usr/local/bin/docker-entrypoint.sh"
  tar --numeric-owner -C "$root" -c . | "$DOCKER" import \
    --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
    --change 'CMD ["mariadbd"]' \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV LANG=C.UTF-8' \
    --change 'EXPOSE 3306' \
    --change "LABEL org.testdbkit.recipe=$MY_RECIPE" \
    - "$MY_IMAGE"
  rm -rf --one-file-system "$root"
}

ensure_images() {
  local todo=()
  image_current "$PG_IMAGE" "$PG_RECIPE" || todo+=(postgres)
  image_current "$MY_IMAGE" "$MY_RECIPE" || todo+=(mariadb)
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

  # Both at once: debootstrap spends much of its time waiting on the mirror and on dpkg's fsyncs.
  local kind pid i failed=()
  for kind in "${todo[@]}"; do
    (set -euo pipefail; "build_$kind") >"$WORK/$kind.log" 2>&1 </dev/null &
    BUILD_PIDS+=($!)
  done
  for i in "${!todo[@]}"; do
    kind=${todo[$i]}
    pid=${BUILD_PIDS[$i]}
    if ! wait "$pid"; then failed+=("$kind"); fi
    { echo "--- build of $kind"; cat "$WORK/$kind.log"; } >>"$LOG"
  done
  BUILD_PIDS=()
  if [ ${#failed[@]} -gt 0 ]; then
    kind=${failed[0]}
    fail "building testdbkit/$kind (debootstrap from $MIRROR, then docker import)" \
      "see the log; a rerun of $0 retries (TESTDBKIT_DEBIAN_MIRROR=URL picks another mirror)" "$WORK/$kind.log"
  fi
}

ensure_engine
ensure_images
echo "$PG_IMAGE"
echo "$MY_IMAGE"

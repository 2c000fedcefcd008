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

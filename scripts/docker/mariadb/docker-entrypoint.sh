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

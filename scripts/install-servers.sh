#!/usr/bin/env bash
# Installs the database server binaries the embedded (Local) provider runs: PostgreSQL and MariaDB; and the
# Python database clients the tool's Python tests drive (tests/python): Debian's SQLAlchemy, PyMySQL and
# psycopg2, for Debian's own interpreter /usr/bin/python3 (not a pyenv or virtualenv python3 on PATH).
# Idempotent and quiet when everything is already there. Needs root (or sudo) only when installing.
set -euo pipefail

have_postgres() {
  [ -n "${TESTDBKIT_POSTGRES_BIN:-}" ] && [ -x "$TESTDBKIT_POSTGRES_BIN/postgres" ] && return 0
  compgen -G '/usr/lib/postgresql/*/bin/postgres' >/dev/null && return 0
  command -v postgres >/dev/null && command -v initdb >/dev/null
}

have_mysql() {
  [ -n "${TESTDBKIT_MYSQL_BIN:-}" ] && return 0
  command -v mariadbd >/dev/null || command -v mysqld >/dev/null || [ -x /usr/sbin/mariadbd ] || [ -x /usr/sbin/mysqld ]
}

# A Python module counts as there when Debian's interpreter imports it (whatever installed it).
have_python_module() {
  [ -x /usr/bin/python3 ] && /usr/bin/python3 -c "import $1" >/dev/null 2>&1
}

missing=()
have_postgres || missing+=(postgresql)
have_mysql || missing+=(mariadb-server)
have_python_module sqlalchemy || missing+=(python3-sqlalchemy)
have_python_module pymysql || missing+=(python3-pymysql)
have_python_module psycopg2 || missing+=(python3-psycopg2)
# The Django scenario (tests/python/scenarios.py django): Django and, for its MySQL backend, mysqlclient.
have_python_module django || missing+=(python3-django)
have_python_module MySQLdb || missing+=(python3-mysqldb)
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null; then
  echo "install-servers: missing ${missing[*]} and this is not a Debian/Ubuntu machine." >&2
  echo "Install PostgreSQL and MariaDB (or MySQL) server packages, or point TESTDBKIT_POSTGRES_BIN /" >&2
  echo "TESTDBKIT_MYSQL_BIN at their bin folders; the Python tests need /usr/bin/python3 with the modules" >&2
  echo "sqlalchemy (1.4 or later), pymysql, psycopg2, django and MySQLdb (mysqlclient)." >&2
  exit 1
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo=(sudo -n)
  else
    echo "install-servers: missing ${missing[*]}; run as root: apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
fi

echo "install-servers: installing ${missing[*]} ..." >&2
# The kit starts its own servers; keep the packages from starting system-wide ones.
guard=""
if [ ! -e /usr/sbin/policy-rc.d ]; then
  guard=/usr/sbin/policy-rc.d
  printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$guard" >/dev/null
  "${sudo[@]}" chmod +x "$guard"
fi
trap '[ -n "$guard" ] && "${sudo[@]}" rm -f "$guard"' EXIT

export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq >/dev/null
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-servers: done." >&2

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

# The MySQL-compatible server the kit's Local provider will find, as "FLAVOUR PATH" (mariadb or mysql), or nothing.
# Same order as the kit: TESTDBKIT_MYSQL_BIN, then PATH and /usr/sbin; mariadbd before mysqld. A mysqld is MariaDB's
# when it says so in its version (Debian's mariadb-server-core ships mysqld as a link to mariadbd).
mysql_server() {
  local folders=() folder name path
  if [ -n "${TESTDBKIT_MYSQL_BIN:-}" ]; then folders=("$TESTDBKIT_MYSQL_BIN")
  else IFS=: read -r -a folders <<<"${PATH:-}"; folders+=(/usr/sbin /usr/bin /usr/local/mysql/bin /usr/local/mariadb/bin /usr/local/sbin)
  fi
  for name in mariadbd mysqld; do
    for folder in "${folders[@]}"; do
      path="$folder/$name"
      [ -x "$path" ] || continue
      if [ "$name" = mariadbd ] || "$path" --version 2>/dev/null | grep -qi mariadb; then echo "mariadb $path"; else echo "mysql $path"; fi
      return 0
    done
  done
}

# TESTDBKIT_MYSQL_FLAVOUR picks the flavour (the kit honours the same variable): mariadb, mysql, or unset for
# whichever is installed. MariaDB is installed when nothing is; an installed MySQL is never replaced: its packages
# conflict with MariaDB's, and removing a server is the machine owner's call.
flavour="${TESTDBKIT_MYSQL_FLAVOUR:-}"
case "$flavour" in
  ""|mariadb|mysql) ;;
  *) echo "install-servers: TESTDBKIT_MYSQL_FLAVOUR is '$flavour'; use mariadb, mysql, or leave it unset for whichever is installed." >&2; exit 64 ;;
esac
found="$(mysql_server)"
found_flavour="${found%% *}"
found_path="${found#* }"
if [ -n "$found" ] && [ -n "$flavour" ] && [ "$found_flavour" != "$flavour" ]; then
  if [ "$flavour" = mariadb ]; then
    packages="$(dpkg-query -W -f='${db:Status-Abbrev} ${Package}\n' 'mysql-server*' 'mysql-client*' 2>/dev/null | awk '$1 == "ii" { printf "%s ", $2 }' || true)"
    packages="${packages% }"
    echo "install-servers: TESTDBKIT_MYSQL_FLAVOUR=mariadb, but the server found is MySQL ($found_path: $("$found_path" --version 2>/dev/null | head -n1))." >&2
    echo "Installing MariaDB would remove MySQL's packages, so this script does not. Either remove MySQL first" >&2
    echo "(sudo apt-get purge -y ${packages:-mysql-server mysql-client}; GitHub's ubuntu-24.04 runners ship MySQL 8.0), then run this again," >&2
    echo "or point TESTDBKIT_MYSQL_BIN at a folder holding mariadbd, or unset TESTDBKIT_MYSQL_FLAVOUR to run MySQL." >&2
  else
    echo "install-servers: TESTDBKIT_MYSQL_FLAVOUR=mysql, but the server found is MariaDB ($found_path); this script installs MariaDB only." >&2
    echo "Install MySQL's server yourself and point TESTDBKIT_MYSQL_BIN at the folder holding its mysqld, or unset TESTDBKIT_MYSQL_FLAVOUR." >&2
  fi
  exit 1
fi
if [ "$found_flavour" = mysql ] && [ -z "$flavour" ]; then
  echo "install-servers: MySQL found ($found_path: $("$found_path" --version 2>/dev/null | head -n1)); the kit's Local provider will run it." >&2
  echo "  TestDbKit's own suite runs on MariaDB 10.11; for MariaDB set TESTDBKIT_MYSQL_FLAVOUR=mariadb (this script then says how)." >&2
fi
if [ -z "$found" ] && [ "$flavour" = mysql ]; then
  echo "install-servers: TESTDBKIT_MYSQL_FLAVOUR=mysql, but no MySQL server (mysqld) was found; this script installs MariaDB only." >&2
  echo "Install MySQL's server (e.g. apt-get install mysql-server-core-8.0 where the distribution has it) or point TESTDBKIT_MYSQL_BIN at its folder." >&2
  exit 1
fi

have_mysql() { [ -n "$found" ]; }

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

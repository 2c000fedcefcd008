#!/usr/bin/env bash
# prepare-root.sh ROOT: turns a freshly bootstrapped Debian root into testdbkit/postgres's file system.
# Run by docker-setup.sh as root, before the root is imported with image.changes.
set -euo pipefail
root=${1:?usage: prepare-root.sh ROOT}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# image.changes puts this folder on PATH; Testcontainers' readiness probe runs pg_isready from it.
bindir=usr/lib/postgresql/15/bin
[ -x "$root/$bindir/pg_isready" ] || {
  echo "no $bindir/pg_isready in $root: the suite's PostgreSQL is not 15; update image.env and image.changes together" >&2
  exit 1
}
# The package's default cluster is not used: the entrypoint initialises PGDATA.
rm -rf "$root"/etc/postgresql/*/main "$root"/var/lib/postgresql/*/main
chroot "$root" install -d -o postgres -g postgres -m 700 /var/lib/postgresql/data
chroot "$root" install -d -o postgres -g postgres -m 2775 /var/run/postgresql
install -m 755 "$here/docker-entrypoint.sh" "$root/usr/local/bin/docker-entrypoint.sh"

#!/usr/bin/env bash
# prepare-root.sh ROOT: turns a freshly bootstrapped Debian root into testdbkit/mariadb's file system.
# Run by docker-setup.sh as root, before the root is imported with image.changes.
set -euo pipefail
root=${1:?usage: prepare-root.sh ROOT}
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# Testcontainers' readiness probe runs the mysql client.
[ -x "$root/usr/bin/mysql" ] || { echo "no mysql client in $root/usr/bin" >&2; exit 1; }
# The package initialised a data directory; the entrypoint makes a fresh one from the environment.
find "$root/var/lib/mysql" -mindepth 1 -delete
chroot "$root" install -d -o mysql -g mysql -m 755 /run/mysqld
install -m 644 "$here/testdbkit.cnf" "$root/etc/mysql/testdbkit.cnf"
install -m 755 "$here/docker-entrypoint.sh" "$root/usr/local/bin/docker-entrypoint.sh"

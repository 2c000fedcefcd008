#!/usr/bin/python3
"""A Python client through the proxy of `testdbkit serve --proxy` sees `testdbkit fault network-reset`.

    /usr/bin/python3 tests/python/network_reset.py --engine postgres|mysql --url PROXY_URL --admin ADMIN_URL [-- TOOL COMMAND...]

PROXY_URL is the `proxy.url` of `serve --json` (psycopg2 takes it as is; for PyMySQL its parts are passed),
ADMIN_URL its `admin.url`; TOOL COMMAND is how to run the tool (`testdbkit`, the default, or `dotnet
path/to/TestDbKit.Cli.dll`). The script connects through the proxy and queries (the premise), resets every
connection through the proxy with the tool, queries again on the same connection (the consequence), then opens
a new connection through the proxy. It prints ONE JSON object on its last stdout line and asserts nothing: the
test that runs it does. Exit 0 when it could observe, 1 with a traceback when something broke on the way, 3
when a Python module is missing.
"""

import argparse
import json
import subprocess
import sys
import traceback
import urllib.parse

MISSING_MODULE_EXIT = 3


def connect(engine, url):
    if engine == "postgres":
        import psycopg2
        return psycopg2.connect(url, connect_timeout=10)
    import pymysql
    parts = urllib.parse.urlsplit(url)
    return pymysql.connect(host=parts.hostname, port=parts.port, user=urllib.parse.unquote(parts.username or ""),
                           password=urllib.parse.unquote(parts.password or ""), database=parts.path.lstrip("/") or None,
                           connect_timeout=10)


def query_one(connection):
    cursor = connection.cursor()
    try:
        cursor.execute("SELECT 1")
        return cursor.fetchone()[0]
    finally:
        try:
            cursor.close()
        except Exception:  # a broken connection may refuse to close its cursor too
            pass


def closed(engine, connection):
    if engine == "postgres":
        return connection.closed != 0  # psycopg2: nonzero once the connection is broken or closed
    return not connection.open  # PyMySQL: False once it saw the socket fail


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--engine", choices=["postgres", "mysql"], required=True)
    parser.add_argument("--url", required=True)
    parser.add_argument("--admin", required=True)
    parser.add_argument("tool", nargs="*", default=["testdbkit"])
    args = parser.parse_args()
    tool = args.tool or ["testdbkit"]
    try:
        import psycopg2  # noqa: F401
        import pymysql  # noqa: F401
    except ImportError as e:
        print(f"{sys.executable} cannot import {e.name}: apt-get install -y python3-psycopg2 python3-pymysql "
              "(scripts/install-servers.sh does).", file=sys.stderr)
        sys.exit(MISSING_MODULE_EXIT)

    result = {"engine": args.engine}
    connection = connect(args.engine, args.url)
    result["premise"] = {"select": query_one(connection)}

    fault = subprocess.run([*tool, "fault", "network-reset", "--connection", args.admin, "--json"],
                           capture_output=True, text=True, timeout=120)
    result["fault"] = {"exit": fault.returncode, "lines": [json.loads(line) for line in fault.stdout.splitlines() if line.startswith("{")],
                       "stderr": fault.stderr}

    try:
        result["after"] = {"select": query_one(connection)}
    except Exception as e:  # what the driver raises is the observation
        result["after"] = {"error": f"{type(e).__module__}.{type(e).__name__}", "message": str(e).strip(),
                           "closed": closed(args.engine, connection)}
    try:
        connection.close()
    except Exception:
        pass

    again = connect(args.engine, args.url)
    result["new_connection"] = {"select": query_one(again)}
    again.close()
    print(json.dumps(result))


if __name__ == "__main__":
    try:
        main()
    except SystemExit:
        raise
    except Exception:
        traceback.print_exc()
        sys.exit(1)

#!/usr/bin/python3
"""The Python rows of the published fault matrix (docs/fault-matrix.md): what SQLAlchemy over psycopg2
(PostgreSQL) or PyMySQL (MySQL/MariaDB) sees when `testdbkit fault` breaks its database, and what recovers.

    /usr/bin/python3 tests/python/fault_matrix.py --engine postgres|mysql [-- TOOL COMMAND...]

TOOL COMMAND is how to run the tool: `testdbkit` (the default) or `dotnet path/to/TestDbKit.Cli.dll`. The script
starts one `testdbkit serve --json --database matrix`, then for each fault kind uses a naive engine (SQLAlchemy's
default QueuePool, no pre-ping, no retry), proves the fault's premise (the session is gone, the setting is in
effect), and records what the client raised, whether the next attempt on a new checkout works, and, for the faults
that kill a pooled session, whether `pool_pre_ping=True` hides it. It prints ONE JSON object on its last stdout line
({"engine", "versions", "serve", "rows": [...]}); it asserts nothing (the .NET test that runs it does). Exit codes
as scenarios.py: 0 observed, 1 broke on the way (traceback on stderr), 3 a Python module is missing.
"""

import argparse
import json
import sys
import time
import traceback

from scenarios import Admin, Sql, attempt, describe, scalar, versions  # checks the modules first (exit 3)
from sqlalchemy import create_engine, text
from testdbkit_tool import Fault, Serve, fault_once

TIMEOUT = "1s"  # the idle and idle-in-transaction faults' server timeout
STATEMENT_TIMEOUT = "300ms"


def sleep_sql(engine, seconds):
    return f"SELECT pg_sleep({seconds})" if engine == "postgres" else f"SELECT SLEEP({seconds})"


class Matrix:
    def __init__(self, tool, engine, info):
        self.tool, self.engine, self.info = tool, engine, info
        self.sql = Sql(engine)
        self.admin = Admin(self.sql, info)
        self.url = info["urls"]["sqlalchemy"]
        self.rows = []

    def fault(self, kind, value=None):
        return Fault(self.tool, kind, self.info["admin"]["url"], engine=self.engine, database=self.info["database"],
                     value=value, hold="60s")

    def once(self, kind):
        fault_once(self.tool, kind, self.info["admin"]["url"], engine=self.engine, database=self.info["database"])

    def insert(self, connection):
        connection.execute(text("INSERT INTO matrix_items (tag) VALUES ('write')"))

    def next_attempt(self, app):
        """A new checkout from the same engine and one write: the plain application's next request."""
        def run():
            with app.begin() as c:
                self.insert(c)
        _, error = attempt(run)
        return error

    def record(self, fault, premise, error, invalidated, next_error, pre_ping_error="not tried", lasting=False):
        self.rows.append({"fault": fault, "premise": premise, "error": error, "invalidated": invalidated,
                          "nextAttempt": {"error": next_error}, "lasting": lasting,
                          "prePing": None if pre_ping_error == "not tried" else {"error": pre_ping_error}})

    def idle_pooled(self, fault, breaks):
        """A pooled session dies while it rests in the pool (`breaks` kills it); the next checkout uses it."""
        results = {}
        for pre_ping in (False, True):
            app = create_engine(self.url, pool_pre_ping=pre_ping)
            try:
                with breaks(app) as premise:
                    def use():
                        with app.begin() as c:
                            self.insert(c)
                    _, error = attempt(use)
                    results[pre_ping] = (premise, error, self.next_attempt(app))
            finally:
                app.dispose()
        premise, error, next_error = results[False]
        self.record(fault, premise, error, error is not None and error.get("connectionInvalidated"), next_error,
                    pre_ping_error=results[True][1])

    def run(self):
        with create_engine(self.url).begin() as setup:
            auto = "SERIAL PRIMARY KEY" if self.engine == "postgres" else "INT AUTO_INCREMENT PRIMARY KEY"
            setup.execute(text(f"CREATE TABLE matrix_items (id {auto}, tag VARCHAR(50) NOT NULL)"))

        # kill session: the session dies while the application holds it, inside a transaction.
        app = create_engine(self.url)
        try:
            connection = app.connect()
            transaction = connection.begin()
            self.insert(connection)
            session = scalar(connection, self.sql.session_id)
            self.once("kill")
            gone = self.admin.wait_gone(session) is not None
            _, error = attempt(lambda: self.insert(connection))
            _, again = attempt(lambda: self.insert(connection))  # the same Connection, before rollback()
            invalidated = connection.invalidated
            attempt(transaction.rollback)
            connection.close()
            self.record("kill session", {"sessionGone": gone, "sameConnectionBeforeRollback": again}, error,
                        invalidated, self.next_attempt(app))
        finally:
            app.dispose()

        # kill idle pooled sessions: the production "server has gone away" between two requests.
        matrix = self

        class KillIdle:
            def __init__(self, app):
                self.app = app

            def __enter__(self):
                with self.app.connect() as c:
                    session = scalar(c, matrix.sql.session_id)
                matrix.once("kill-idle")
                return {"sessionGone": matrix.admin.wait_gone(session) is not None}

            def __exit__(self, *exc):
                return False

        self.idle_pooled("kill idle pooled sessions", KillIdle)

        # idle timeout: the server ends a pooled session idle longer than its timeout.
        class IdleTimeout:
            def __init__(self, app):
                self.app = app
                self.fault = matrix.fault("idle", TIMEOUT)

            def __enter__(self):
                self.fault.__enter__()
                self.app.dispose()
                with self.app.connect() as c:
                    timeout = str(scalar(c, matrix.sql.timeouts["idle"]))
                    session = scalar(c, matrix.sql.session_id)
                return {"timeout": timeout, "sessionGone": matrix.admin.wait_gone(session) is not None}

            def __exit__(self, *exc):
                return self.fault.__exit__(*exc)

        self.idle_pooled("idle timeout", IdleTimeout)

        # idle in transaction timeout: the session dies while the application sits inside a transaction.
        app = create_engine(self.url)
        try:
            with self.fault("idle-in-transaction", TIMEOUT):
                app.dispose()  # the transaction's session must be opened under the fault
                connection = app.connect()
                transaction = connection.begin()
                self.insert(connection)
                session = scalar(connection, self.sql.session_id)
                gone = self.admin.wait_gone(session) is not None
                _, error = attempt(lambda: self.insert(connection))
                invalidated = connection.invalidated
                attempt(transaction.rollback)
                connection.close()
                next_error = self.next_attempt(app)
            self.record("idle in transaction timeout", {"sessionGone": gone}, error, invalidated, next_error)
        finally:
            app.dispose()

        # statement timeout and read-only: the session lives on; the statement is refused.
        for fault, kind, value, action, lasting in (
                ("statement timeout", "statement-timeout", STATEMENT_TIMEOUT,
                 lambda c: c.execute(text(sleep_sql(self.engine, 5))), False),
                ("read-only (failover to a replica)", "read-only", None, self.insert, True)):
            app = create_engine(self.url)
            try:
                with self.fault(kind, value):
                    app.dispose()  # sessions opened under the fault get its setting
                    connection = app.connect()
                    transaction = connection.begin()
                    _, error = attempt(lambda: action(connection))
                    invalidated = connection.invalidated
                    attempt(transaction.rollback)
                    connection.close()
                    next_error = self.next_attempt(app)
                self.record(fault, {}, error, invalidated, next_error, lasting=lasting)
            finally:
                app.dispose()

    def close(self):
        self.admin.close()


def main(argv):
    tool = ["testdbkit"]
    if "--" in argv:
        split = argv.index("--")
        argv, tool = argv[:split], argv[split + 1:]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", required=True, choices=["postgres", "mysql"])
    args = parser.parse_args(argv)
    began = time.monotonic()
    try:
        with Serve(tool, args.engine, database="matrix") as serve:
            matrix = Matrix(tool, args.engine, serve.info)
            try:
                matrix.run()
            finally:
                matrix.close()
            info = serve.info
    except Exception:
        traceback.print_exc()
        return 1
    print(json.dumps({"engine": args.engine, "versions": versions(), "seconds": round(time.monotonic() - began, 3),
                      "serve": {k: info.get(k) for k in ("engine", "flavour", "version")}, "rows": matrix.rows},
                     default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

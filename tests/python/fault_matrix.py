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


class DjangoMatrix:
    """The same faults through Django (Debian's python3-django, over psycopg2 or MySQLdb) as a web application runs
    it: persistent connections (CONN_MAX_AGE=60, above the faults' timeouts, as in the production bug) and Django's
    own per-request handlers (request_started / request_finished call close_old_connections()). Rows as Matrix's,
    with "client": "django", "connectionAfter" (did Django close the connection by the request's end) and "hides"
    (with a health check at the start of each request: CONN_HEALTH_CHECKS=True on Django 4.1+; on 3.2, which has no
    such setting, the application's own request_started receiver calling is_usable())."""

    def __init__(self, matrix):
        import django
        from django.conf import settings
        from django.core import signals
        from django.db import connection
        self.m, self.django, self.signals, self.connection = matrix, django, signals, connection
        info = matrix.info
        self.health_checks = django.VERSION >= (4, 1)
        database = {"ENGINE": "django.db.backends.postgresql" if matrix.engine == "postgres" else "django.db.backends.mysql",
                    "NAME": info["database"], "USER": info["user"], "PASSWORD": info["password"],
                    "HOST": info["host"], "PORT": str(info["port"]), "CONN_MAX_AGE": 60}
        settings.configure(DATABASES={"default": database}, INSTALLED_APPS=[], USE_TZ=False)
        django.setup()
        self.rows = []

    def _checked(self, on):
        if self.health_checks:
            self.connection.settings_dict["CONN_HEALTH_CHECKS"] = on
        elif on:
            self.signals.request_started.connect(self._check, dispatch_uid="tdk-health-check")
        else:
            self.signals.request_started.disconnect(dispatch_uid="tdk-health-check")

    def _check(self, **_):
        if self.connection.connection is not None and not self.connection.is_usable():
            self.connection.close()

    def request(self, work):
        """One request: Django's handlers around `work(cursor)`."""
        self.signals.request_started.send(sender=None)
        self.used = None
        try:
            with self.connection.cursor() as cursor:
                self.used = self.connection.connection  # the DB-API connection this request runs on
                return work(cursor)
        finally:
            self.signals.request_finished.send(sender=None)

    def session(self):
        return self.request(lambda c: (c.execute(self.m.sql.session_id), c.fetchone()[0])[1])

    def insert(self, cursor):
        cursor.execute("INSERT INTO matrix_items (tag) VALUES ('write')")

    def record(self, fault, premise, error, after, next_error, lasting=False):
        self.rows.append({
            "fault": fault, "client": "django", "premise": premise, "error": error, "lasting": lasting,
            "invalidated": False, "connectionAfter": after, "nextAttempt": {"error": next_error}, "prePing": None,
            "hides": None})

    def closed(self):
        """What became of the failed request's connection by its end (after Django's request_finished handler)."""
        if self.connection.connection is None:
            return "closed at the request's end"
        if self.connection.connection is not self.used:
            # close_old_connections() reads the autocommit mode, which connects again once atomic() dropped the connection.
            return "replaced: a new connection by the request's end"
        return "kept"

    def idle_pooled(self, fault, breaks):
        """The persistent connection dies between two requests (`breaks` ends it); the next request uses it."""
        results = {}
        for checked in (False, True):
            self._checked(checked)
            premise = breaks()
            _, error = attempt(lambda: self.request(self.insert))
            after = self.closed()
            _, next_error = attempt(lambda: self.request(self.insert))
            results[checked] = (premise, error, next_error, after)
        self._checked(False)
        premise, error, next_error, after = results[False]
        self.rows.append({
            "fault": fault, "client": "django", "premise": premise, "error": error, "lasting": False, "invalidated": False,
            "connectionAfter": after, "nextAttempt": {"error": next_error},
            "prePing": None,
            "hides": "no; yes with a health check at request start" if results[True][1] is None
            else "no, not even with a health check at request start"})

    def run(self):
        m = self

        def kill_idle():
            session = m.session()
            m.m.once("kill-idle")
            return {"sessionGone": m.m.admin.wait_gone(session) is not None}
        self.idle_pooled("kill idle pooled sessions", kill_idle)

        with self.m.fault("idle", TIMEOUT):
            self.connection.close()  # the persistent connection must be opened under the fault

            def idle():
                timeout = str(m.request(lambda c: (c.execute(m.m.sql.timeouts["idle"]), c.fetchone()[0])[1]))
                session = m.session()
                return {"timeout": timeout, "sessionGone": m.m.admin.wait_gone(session) is not None}
            self.idle_pooled("idle timeout", idle)
        self.connection.close()

        # kill session: the session dies inside the request's transaction (transaction.atomic()).
        from django.db import transaction
        errors = {}

        def killed_in_transaction(c):
            with transaction.atomic():
                self.insert(c)
                c.execute(self.m.sql.session_id)
                session = c.fetchone()[0]
                self.m.once("kill")
                errors["gone"] = self.m.admin.wait_gone(session) is not None
                self.insert(c)
        _, error = attempt(lambda: self.request(killed_in_transaction))
        closed = self.closed()
        _, next_error = attempt(lambda: self.request(self.insert))
        self.record("kill session", {"sessionGone": errors.get("gone")}, error, closed, next_error)

        with self.m.fault("idle-in-transaction", TIMEOUT):
            self.connection.close()

            def idle_in_transaction(c):
                with transaction.atomic():
                    self.insert(c)
                    c.execute(self.m.sql.session_id)
                    errors["gone"] = self.m.admin.wait_gone(c.fetchone()[0]) is not None
                    self.insert(c)
            _, error = attempt(lambda: self.request(idle_in_transaction))
            closed = self.closed()
            _, next_error = attempt(lambda: self.request(self.insert))
            self.record("idle in transaction timeout", {"sessionGone": errors.get("gone")}, error, closed, next_error)
        self.connection.close()

        for fault, kind, value, action, lasting in (
                ("statement timeout", "statement-timeout", STATEMENT_TIMEOUT,
                 lambda c: c.execute(sleep_sql(self.m.engine, 5)), False),
                ("read-only (failover to a replica)", "read-only", None, self.insert, True)):
            with self.m.fault(kind, value):
                self.connection.close()  # the request's session must be opened under the fault
                _, error = attempt(lambda: self.request(action))
                closed = self.closed()
                _, next_error = attempt(lambda: self.request(self.insert))
                self.record(fault, {}, error, closed, next_error, lasting=lasting)
            self.connection.close()


def main(argv):
    tool = ["testdbkit"]
    if "--" in argv:
        split = argv.index("--")
        argv, tool = argv[:split], argv[split + 1:]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--engine", required=True, choices=["postgres", "mysql"])
    parser.add_argument("--django", action="store_true", help="also the Django rows (python3-django, python3-mysqldb)")
    args = parser.parse_args(argv)
    if args.django:
        try:
            import django  # noqa: F401
            if args.engine == "mysql":
                import MySQLdb  # noqa: F401
        except ImportError as e:
            print(f"{sys.executable} cannot import {e.name}: the Django rows need Debian's python3-django and python3-mysqldb "
                  "(scripts/install-servers.sh installs them).", file=sys.stderr)
            return 3
    began = time.monotonic()
    try:
        with Serve(tool, args.engine, database="matrix") as serve:
            matrix = Matrix(tool, args.engine, serve.info)
            try:
                matrix.run()
                django_rows = []
                if args.django:
                    dj = DjangoMatrix(matrix)
                    dj.run()
                    django_rows = dj.rows
            finally:
                matrix.close()
            info = serve.info
    except Exception:
        traceback.print_exc()
        return 1
    all_versions = versions()
    if args.django:
        import django
        all_versions["django"] = django.__version__
        if args.engine == "mysql":
            import MySQLdb
            all_versions["mysqldb"] = ".".join(str(p) for p in MySQLdb.version_info[:3])
    print(json.dumps({"engine": args.engine, "versions": all_versions, "seconds": round(time.monotonic() - began, 3),
                      "serve": {k: info.get(k) for k in ("engine", "flavour", "version")}, "rows": matrix.rows + django_rows},
                     default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

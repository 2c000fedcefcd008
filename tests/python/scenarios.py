#!/usr/bin/python3
"""What a Python project sees when `testdbkit fault` and `testdbkit chaos` break its database, with SQLAlchemy
over psycopg2 (PostgreSQL) or PyMySQL (MySQL/MariaDB).

    /usr/bin/python3 tests/python/scenarios.py SCENARIO --engine postgres|mysql [-- TOOL COMMAND...]

TOOL COMMAND is how to run the tool: `testdbkit` (the default) or `dotnet path/to/TestDbKit.Cli.dll`. Each
scenario starts its own `testdbkit serve --json --database py`, connects with the URL it prints, injects a
fault with the tool, and prints ONE JSON object on the last line of stdout: what it observed, the premise
(the fault really happened: the timeout read back, the server-side session gone) apart from the consequence
(what the client saw). It asserts nothing itself: the test that runs it does. It exits 0 when it could observe
(even when the client behaved unexpectedly), 1 with a traceback on stderr when something broke on the way,
and 3 when a Python module is missing.

Scenarios:
  idle-default-pool     the idle fault (1 s) kills a pooled idle connection; the default pool hands it out dead
  idle-pre-ping         the same with pool_pre_ping=True: the pool notices and reconnects
  kill-in-transaction   `fault kill` inside a transaction: "Can't reconnect until invalid transaction is rolled
                        back" until rollback(), then the connection works again
  idle-in-transaction   the same, caused by the idle-in-transaction fault (1 s) instead of a kill
  chaos                 `testdbkit chaos --database D --json` while a pre-ping pool keeps querying
  django                Django (Debian's python3-django, over psycopg2 or MySQLdb) with CONN_MAX_AGE above the idle
                        fault's 1 s: a request-like unit of work on the persistent connection fails with the driver's
                        disconnect error; a health check at the start of each request recovers
"""

import argparse
import contextlib
import importlib
import json
import sys
import threading
import time
import traceback

# The Debian packages the set-up script (scripts/install-servers.sh) installs for /usr/bin/python3.
MODULES = {"sqlalchemy": "python3-sqlalchemy", "pymysql": "python3-pymysql", "psycopg2": "python3-psycopg2"}
MISSING_MODULE_EXIT = 3


def require_modules():
    missing = []
    for module, package in MODULES.items():
        try:
            importlib.import_module(module)
        except ImportError as e:
            missing.append(f"{module} (Debian package {package}): {e}")
    if missing:
        print(f"{sys.executable} cannot import: " + "; ".join(missing) + ". Run scripts/install-servers.sh (it installs "
              + ", ".join(MODULES.values()) + " with apt-get), or apt-get install -y " + " ".join(MODULES.values())
              + ". The tests use Debian's /usr/bin/python3, not a pyenv or virtualenv python3 on PATH.", file=sys.stderr)
        sys.exit(MISSING_MODULE_EXIT)


require_modules()

import sqlalchemy  # noqa: E402  (after the check, so a missing module gets the message above)
from sqlalchemy import create_engine, text  # noqa: E402
import psycopg2  # noqa: E402
import pymysql  # noqa: E402

from testdbkit_tool import Fault, Serve, fault_once, run_chaos  # noqa: E402

FAULT_TIMEOUT = "1s"  # the short server timeout every timeout fault here sets
GONE_WITHIN = 15.0  # seconds to wait for the server to end a session the fault should end


class Sql:
    """What differs between the engines, from the client's side."""

    def __init__(self, engine):
        self.engine = engine
        if engine in ("postgres", "postgresql"):
            self.session_id = "SELECT pg_backend_pid()"
            self.alive = "SELECT count(*) FROM pg_stat_activity WHERE pid = %s"
            self.timeouts = {"idle": "SHOW idle_session_timeout",
                             "idle-in-transaction": "SHOW idle_in_transaction_session_timeout"}
            self.create_table = "CREATE TABLE orders (id integer PRIMARY KEY, note varchar(40))"
        elif engine == "mysql":
            self.session_id = "SELECT CONNECTION_ID()"
            self.alive = "SELECT count(*) FROM information_schema.PROCESSLIST WHERE ID = %s"
            # MariaDB's own idle-in-transaction timeout; MySQL 8 has none (the kit's nearest is wait_timeout).
            self.timeouts = {"idle": "SELECT @@SESSION.wait_timeout",
                             "idle-in-transaction": "SELECT @@SESSION.idle_transaction_timeout"}
            self.create_table = "CREATE TABLE orders (id int PRIMARY KEY, note varchar(40))"
        else:
            raise ValueError(f"unknown engine {engine!r}: postgresql or mysql")


class Admin:
    """The server's administrator, with the raw driver: psycopg2 takes serve's admin URL as it is; PyMySQL
    takes no URL, so it gets serve's host, port, user and password fields. Autocommit, so every look at the
    server's session list is fresh."""

    def __init__(self, sql, info):
        self.sql = sql
        admin = info["admin"]
        if sql.engine != "mysql":
            # To the server's own database, whatever the URL names: a fault on the test database leaves it alone.
            self.connection = psycopg2.connect(admin["url"], dbname="postgres", connect_timeout=10)
            self.connection.autocommit = True
        else:
            self.connection = pymysql.connect(host=info["host"], port=int(info["port"]), user=admin["user"],
                                              password=admin["password"], autocommit=True, connect_timeout=10)

    def scalar(self, query, *args):
        with self.connection.cursor() as cursor:
            cursor.execute(query, args)
            return cursor.fetchone()[0]

    def session_alive(self, session_id):
        return self.scalar(self.sql.alive, session_id) > 0

    def wait_gone(self, session_id, within=GONE_WITHIN):
        """Seconds until the server no longer lists the session (polled), or None when it still does."""
        began = time.monotonic()
        while time.monotonic() - began < within:
            if not self.session_alive(session_id):
                return round(time.monotonic() - began, 3)
            time.sleep(0.05)
        return None

    def close(self):
        self.connection.close()


def describe(error):
    """An exception as data: its type, message, and the DB-API driver's own error under SQLAlchemy's."""
    if error is None:
        return None
    seen = {"type": f"{type(error).__module__}.{type(error).__name__}", "message": str(error)}
    if isinstance(error, sqlalchemy.exc.DBAPIError):
        seen["connectionInvalidated"] = bool(error.connection_invalidated)
    orig = getattr(error, "orig", None)
    if orig is not None:
        driver = {"type": f"{type(orig).__module__}.{type(orig).__name__}", "message": str(orig)}
        if isinstance(orig, pymysql.err.MySQLError) and orig.args and isinstance(orig.args[0], int):
            driver["errno"] = orig.args[0]
        if isinstance(orig, psycopg2.Error):
            driver["pgcode"] = orig.pgcode
        seen["driver"] = driver
    elif error.__cause__ is not None and type(error).__module__.startswith("django."):
        # Django re-raises the driver's error as its own (django.db.utils.*) from the original.
        cause = error.__cause__
        driver = {"type": f"{type(cause).__module__}.{type(cause).__name__}", "message": str(cause)}
        if cause.args and isinstance(cause.args[0], int):
            driver["errno"] = cause.args[0]
        if getattr(cause, "pgcode", None) is not None:
            driver["pgcode"] = cause.pgcode
        seen["driver"] = driver
    return seen


def attempt(action):
    """(result, None) or (None, the exception described)."""
    try:
        return action(), None
    except Exception as e:  # the point is to see what the client raises
        return None, describe(e)


def scalar(connection, query):
    return connection.execute(text(query)).scalar()


def versions():
    return {"python": sys.version.split()[0], "sqlalchemy": sqlalchemy.__version__, "pymysql": pymysql.__version__,
            "psycopg2": psycopg2.__version__.split()[0]}


def idle_scenario(tool, engine, pre_ping):
    """A pooled connection lies idle past the idle fault's 1 s timeout, then the pool hands it out again."""
    sql = Sql(engine)
    with Serve(tool, engine, database="py") as serve:
        info = serve.info
        admin = Admin(sql, info)
        app = create_engine(info["urls"]["sqlalchemy"], pool_pre_ping=pre_ping)  # QueuePool, as in production
        try:
            with Fault(tool, "idle", info["admin"]["url"], engine=engine, database=info["database"],
                       value=FAULT_TIMEOUT, hold="60s") as fault:
                # Premise: a session opened now gets the short timeout, and the server ends it once idle.
                with app.connect() as connection:
                    timeout = scalar(connection, sql.timeouts["idle"])
                    first_session = scalar(connection, sql.session_id)
                idle_began = time.monotonic()
                gone_after = admin.wait_gone(first_session)
                in_pool = app.pool.checkedin()

                # The consequence: the next checkout from the pool.
                def use():
                    with app.connect() as c:
                        return scalar(c, sql.session_id)
                second_session, error = attempt(use)
                # And the checkout after that (SQLAlchemy invalidates the pool after a disconnect error).
                third_session, third_error = attempt(use)
            app.dispose()  # the pool's sessions were opened under the fault; the next one is new
            with app.connect() as connection:  # the fault undone: new sessions have the server's default
                timeout_after = scalar(connection, sql.timeouts["idle"])
        finally:
            app.dispose()
            admin.close()
    return {
        "scenario": "idle-pre-ping" if pre_ping else "idle-default-pool", "engine": engine, "versions": versions(),
        "serve": {k: info.get(k) for k in ("engine", "flavour", "version", "provider", "host", "port", "user", "database")},
        "fault": {"started": fault.started, "ended": fault.ended, "exitCode": fault.exit_code},
        "premise": {"timeout": str(timeout), "session": first_session, "inPoolWhileIdle": in_pool,
                    "goneAfterSeconds": gone_after},
        "secondCheckout": {"session": second_session, "error": error},
        "thirdCheckout": {"session": third_session, "error": third_error},
        "idleSeconds": round(time.monotonic() - idle_began, 3),
        "timeoutAfterUndo": str(timeout_after),
    }


def transaction_scenario(tool, engine, how):
    """A session dies inside a transaction (killed, or ended by the idle-in-transaction timeout); the same
    SQLAlchemy connection is used again before and after rollback()."""
    sql = Sql(engine)
    with Serve(tool, engine, database="py") as serve:
        info = serve.info
        admin = Admin(sql, info)
        app = create_engine(info["urls"]["sqlalchemy"])
        try:
            with app.begin() as setup:
                setup.execute(text(sql.create_table))
            timeout = None
            # The idle-in-transaction fault lasts while the transaction runs; the kill is injected inside it.
            lasting = (Fault(tool, "idle-in-transaction", info["admin"]["url"], engine=engine, database=info["database"],
                             value=FAULT_TIMEOUT, hold="60s") if how == "idle-in-transaction" else None)
            with lasting or contextlib.nullcontext():
                app.dispose()  # the pool's session predates the fault; the transaction's must be new
                connection = app.connect()
                transaction = connection.begin()
                connection.execute(text("INSERT INTO orders (id, note) VALUES (1, 'written before the break')"))
                session = scalar(connection, sql.session_id)
                if how == "kill":
                    started, ended = fault_once(tool, "kill", info["admin"]["url"], engine=engine,
                                                database=info["database"])
                    fault_record = {"started": started, "ended": ended}
                else:
                    timeout = str(scalar(connection, sql.timeouts["idle-in-transaction"]))
                gone_after = admin.wait_gone(session)

                insert = lambda: connection.execute(text("INSERT INTO orders (id, note) VALUES (2, 'after the break')"))
                _, first_error = attempt(insert)
                _, second_error = attempt(lambda: scalar(connection, "SELECT 1"))
                _, rollback_error = attempt(transaction.rollback)
                after_session, after_error = attempt(lambda: scalar(connection, sql.session_id))
                rows, rows_error = attempt(lambda: scalar(connection, "SELECT count(*) FROM orders"))
                connection.close()
            if lasting is not None:
                fault_record = {"started": lasting.started, "ended": lasting.ended, "exitCode": lasting.exit_code}
        finally:
            app.dispose()
            admin.close()
    return {
        "scenario": "kill-in-transaction" if how == "kill" else how, "engine": engine, "versions": versions(),
        "fault": fault_record,
        "premise": {"session": session, "goneAfterSeconds": gone_after, "timeout": timeout},
        "firstUse": {"error": first_error},
        "secondUse": {"error": second_error},
        "rollback": {"error": rollback_error},
        "afterRollback": {"session": after_session, "error": after_error, "rows": rows, "rowsError": rows_error},
    }


def chaos_scenario(tool, engine):
    """`testdbkit chaos --database D --json` while a pre-ping pool queries D in a loop on a thread."""
    sql = Sql(engine)
    with Serve(tool, engine, database="py") as serve:
        info = serve.info
        app = create_engine(info["urls"]["sqlalchemy"], pool_pre_ping=True)
        sessions, errors, queries = set(), [], [0]
        stop = threading.Event()

        def workload():
            while not stop.is_set():
                try:
                    with app.connect() as c:
                        sessions.add(scalar(c, sql.session_id))
                        queries[0] += 1
                except Exception as e:  # a kill can land between the ping and the query: count it, go on
                    errors.append(describe(e))
                stop.wait(0.02)

        worker = threading.Thread(target=workload, daemon=True)
        worker.start()
        try:
            code, lines, stderr, seconds = run_chaos(tool, info["admin"]["url"], engine=engine,
                                                     database=info["database"], duration="3s", interval="300ms",
                                                     max_hold="500ms", faults="kill,idle", seed=14)
        finally:
            stop.set()
            worker.join(timeout=30)
        after, after_error = attempt(lambda: _fresh_query(app, sql))
        app.dispose()
    return {
        "scenario": "chaos", "engine": engine, "versions": versions(), "database": info["database"],
        "chaos": {"exitCode": code, "seconds": round(seconds, 3), "lines": lines, "stderr": stderr[-4000:]},
        "workload": {"queries": queries[0], "sessions": len(sessions), "errors": errors[:5], "errorCount": len(errors)},
        "afterChaos": {"session": after, "error": after_error},
    }


def _fresh_query(app, sql):
    with app.connect() as c:
        return scalar(c, sql.session_id)


# The Debian packages the Django scenario needs besides MODULES (Django's MySQL backend wants mysqlclient).
DJANGO_MODULES = {"django": "python3-django", "MySQLdb": "python3-mysqldb"}
CONN_MAX_AGE = 60  # seconds Django keeps a connection: far above the idle fault's 1 s, as in the production bug


def django_scenario(tool, engine):
    """Django's persistent connections (CONN_MAX_AGE) against the idle fault, one request at a time.

    A request here is what Django's handler does around a view: send request_started (Django's own receiver,
    close_old_connections(), closes a connection that errored or outlived CONN_MAX_AGE), use the database, send
    request_finished (close_old_connections() again). Django 4.1+ adds CONN_HEALTH_CHECKS=True, which checks a
    persistent connection before its first use in a request; Debian 12's Django 3.2 has no such setting, so on it the
    health check is the application's own request_started receiver doing the same (is_usable(), else close())."""
    missing = [f"{m} (Debian package {p})" for m, p in DJANGO_MODULES.items() if not _importable(m)]
    if missing:
        print(f"{sys.executable} cannot import: " + "; ".join(missing) + ". Run scripts/install-servers.sh, or apt-get install -y "
              + " ".join(DJANGO_MODULES.values()) + ".", file=sys.stderr)
        sys.exit(MISSING_MODULE_EXIT)
    import django
    from django.conf import settings
    from django.core import signals
    from django.db import connection

    sql = Sql(engine)
    with Serve(tool, engine, database="py") as serve:
        info = serve.info
        health_checks = django.VERSION >= (4, 1)
        database = {
            "ENGINE": "django.db.backends.postgresql" if engine == "postgres" else "django.db.backends.mysql",
            "NAME": info["database"], "USER": info["user"], "PASSWORD": info["password"],
            "HOST": info["host"], "PORT": str(info["port"]), "CONN_MAX_AGE": CONN_MAX_AGE,
        }
        if health_checks:
            database["CONN_HEALTH_CHECKS"] = False  # the first half shows the default; the second turns it on
        settings.configure(DATABASES={"default": database}, INSTALLED_APPS=[], USE_TZ=False)
        django.setup()

        def request():
            """One request-like unit of work: its server session id, or the error Django raised."""
            signals.request_started.send(sender=None)
            try:
                with connection.cursor() as cursor:
                    cursor.execute(sql.session_id)
                    return cursor.fetchone()[0]
            finally:
                signals.request_finished.send(sender=None)

        def check_on_request_start(**_):
            # What CONN_HEALTH_CHECKS=True does in Django 4.1+, by hand for Django 3.2.
            if connection.connection is not None and not connection.is_usable():
                connection.close()

        admin = Admin(sql, info)
        try:
            with Fault(tool, "idle", info["admin"]["url"], engine=engine, database=info["database"],
                       value=FAULT_TIMEOUT, hold="60s") as fault:
                # Premise: the request's session has the short timeout, and the server ends it once idle.
                def first():
                    signals.request_started.send(sender=None)
                    try:
                        with connection.cursor() as cursor:
                            cursor.execute(sql.timeouts["idle"])
                            timeout = cursor.fetchone()[0]
                            cursor.execute(sql.session_id)
                            return str(timeout), cursor.fetchone()[0]
                    finally:
                        signals.request_finished.send(sender=None)
                timeout, session = first()
                kept = connection.connection is not None  # CONN_MAX_AGE kept it open after the request
                gone_after = admin.wait_gone(session)

                # The consequence with Django's defaults: the next request uses the dead connection.
                second, second_error = attempt(request)
                closed_after_error = connection.connection is None
                third, third_error = attempt(request)

                # The same break with a health check at the start of each request.
                if health_checks:
                    connection.settings_dict["CONN_HEALTH_CHECKS"] = True
                else:
                    signals.request_started.connect(check_on_request_start)
                checked_first, checked_first_error = attempt(request)
                checked_gone_after = admin.wait_gone(checked_first) if checked_first is not None else None
                checked_second, checked_second_error = attempt(request)
            connection.close()
        finally:
            admin.close()
    return {
        "scenario": "django", "engine": engine,
        "versions": dict(versions(), django=django.__version__, mysqldb=_version_of("MySQLdb")),
        "fault": {"started": fault.started, "ended": fault.ended, "exitCode": fault.exit_code},
        "settings": {"CONN_MAX_AGE": CONN_MAX_AGE,
                     "healthCheck": "CONN_HEALTH_CHECKS=True" if health_checks
                     else "request_started receiver: is_usable(), else close() (Django < 4.1 has no CONN_HEALTH_CHECKS)"},
        "premise": {"timeout": timeout, "session": session, "keptAfterRequest": kept, "goneAfterSeconds": gone_after},
        "secondRequest": {"session": second, "error": second_error},
        "closedAfterError": closed_after_error,
        "thirdRequest": {"session": third, "error": third_error},
        "healthCheck": {"first": {"session": checked_first, "error": checked_first_error},
                        "goneAfterSeconds": checked_gone_after,
                        "second": {"session": checked_second, "error": checked_second_error}},
    }


def _importable(module):
    try:
        importlib.import_module(module)
        return True
    except ImportError:
        return False


def _version_of(module):
    try:
        return ".".join(str(part) for part in importlib.import_module(module).version_info[:3])
    except (ImportError, AttributeError):
        return None


SCENARIOS = {
    "idle-default-pool": lambda tool, engine: idle_scenario(tool, engine, pre_ping=False),
    "idle-pre-ping": lambda tool, engine: idle_scenario(tool, engine, pre_ping=True),
    "kill-in-transaction": lambda tool, engine: transaction_scenario(tool, engine, "kill"),
    "idle-in-transaction": lambda tool, engine: transaction_scenario(tool, engine, "idle-in-transaction"),
    "chaos": chaos_scenario,
    "django": django_scenario,
}


def main(argv):
    tool = ["testdbkit"]
    if "--" in argv:
        split = argv.index("--")
        argv, tool = argv[:split], argv[split + 1:]
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--engine", required=True, choices=["postgres", "mysql"])
    args = parser.parse_args(argv)
    try:
        result = SCENARIOS[args.scenario](tool, args.engine)
    except Exception:
        traceback.print_exc()
        return 1
    print(json.dumps(result, default=str), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

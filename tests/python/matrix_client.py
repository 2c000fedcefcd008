#!/usr/bin/python3
"""A SQLAlchemy client the fault matrix drives step by step (tests/TestDbKit.FaultMatrix/PythonDriven.cs).

    /usr/bin/python3 tests/python/matrix_client.py

For the faults that need a server of the matrix's own (crash, restart, freeze, exhausted connections), the kit's
network proxy (reset, refused, stalled, cut connections, an ambiguous commit), or a session the test holds
(kill busy sessions, cancel, held lock), the .NET matrix injects the fault with the kit's API, and this client is
what a Python application does around it: check connections out of SQLAlchemy's default QueuePool (over psycopg2
or PyMySQL), write, and report what it raised. It reads ONE JSON command per stdin line and answers ONE JSON line
on stdout per command (a `retry` also prints a `{"event": "failed"}` line at its first failure, so the driver can
lift a lasting fault while the client retries). It asserts nothing: the .NET side proves each fault's premise and
turns the answers into the matrix's rows. Exit codes as scenarios.py (3: a Python module is missing).

Commands (every answer carries "ok": true, or "ok": false with "crash": the traceback of a command that broke):
  {"op": "engine", "name": N, "url": U, "prePing": false}       create_engine(U) (the default QueuePool)
  {"op": "checkout", "engine": N, "conn": C, "begin": true}     C = engine.connect() (and begin()); its session id
  {"op": "exec", "conn": C, "sql": S, "giveUpAfter": 3}          S on C; "blocked": true when it had not returned
                                                                  by then (it goes on, on a thread: see "join")
  {"op": "join", "conn": C, "within": 20}                       waits for C's blocked statement
  {"op": "commit", "conn": C}                                   commits C's transaction
  {"op": "release", "conn": C}                                  rollback (when in a transaction) and close
  {"op": "write", "engine": N, "giveUpAfter": 3}                the application's next unit of work: a new checkout,
                                                                  an INSERT, commit
  {"op": "retry", "engine": N, "within": 20}                    writes until one succeeds: attempts and seconds
                                                                  from the first failure to the success
  {"op": "dispose", "engine": N}                                engine.dispose()
  {"op": "versions"}                                            the client's versions
"""

import json
import sys
import threading
import time
import traceback

from scenarios import attempt, scalar, versions  # checks the modules first (exit 3)
from sqlalchemy import create_engine, text

INSERT = "INSERT INTO items (tag) VALUES ('write')"


class Blocked:
    """A statement running on a thread: the client's call had not returned when the driver looked."""

    def __init__(self, action):
        self.began = time.monotonic()
        self.result = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, args=(action,), daemon=True)
        self.thread.start()

    def _run(self, action):
        _, error = attempt(action)
        self.result = {"error": error, "seconds": round(time.monotonic() - self.began, 3)}
        self.done.set()


class Client:
    def __init__(self):
        self.engines, self.connections, self.transactions, self.blocked = {}, {}, {}, {}

    def engine(self, name, url, prePing=False):
        self.engines[name] = create_engine(url, pool_pre_ping=prePing)
        return {}

    def checkout(self, engine, conn, begin=True):
        app = self.engines[engine]

        def open_():
            connection = app.connect()
            self.connections[conn] = connection
            if begin:
                self.transactions[conn] = connection.begin()
            return scalar(connection, "SELECT pg_backend_pid()" if app.dialect.name == "postgresql" else "SELECT CONNECTION_ID()")
        session, error = attempt(open_)
        return {"session": session, "error": error}

    def _run(self, action, give_up_after, key):
        run = Blocked(action)
        if run.done.wait(give_up_after):
            return dict(run.result, blocked=False)
        self.blocked[key] = run
        return {"blocked": True, "error": None, "seconds": round(time.monotonic() - run.began, 3)}

    def exec(self, conn, sql, giveUpAfter=30):
        connection = self.connections[conn]
        answer = self._run(lambda: connection.execute(text(sql)), giveUpAfter, conn)
        answer["invalidated"] = bool(connection.invalidated)
        return answer

    def join(self, conn, within=30):
        run = self.blocked.pop(conn)
        if not run.done.wait(within):
            return {"blocked": True, "error": None, "seconds": round(time.monotonic() - run.began, 3)}
        answer = dict(run.result, blocked=False)
        if conn in self.connections:
            answer["invalidated"] = bool(self.connections[conn].invalidated)
        return answer

    def release(self, conn):
        transaction = self.transactions.pop(conn, None)
        connection = self.connections.pop(conn)
        _, rollback_error = attempt(transaction.rollback) if transaction is not None and transaction.is_active else (None, None)
        _, close_error = attempt(connection.close)
        return {"rollbackError": rollback_error, "closeError": close_error}

    def commit(self, conn):
        transaction = self.transactions.pop(conn)
        _, error = attempt(transaction.commit)
        return {"error": error, "invalidated": bool(self.connections[conn].invalidated)}

    def _write(self, app):
        with app.begin() as c:
            c.execute(text(INSERT))

    def write(self, engine, giveUpAfter=30):
        app = self.engines[engine]
        return self._run(lambda: self._write(app), giveUpAfter, "write:" + engine)

    def retry(self, engine, within=20):
        app = self.engines[engine]
        began, first_failure, attempts, last = time.monotonic(), None, 0, None
        while time.monotonic() - began < within:
            attempts += 1
            _, error = attempt(lambda: self._write(app))
            if error is None:
                recovered = 0.0 if first_failure is None else time.monotonic() - first_failure
                return {"attempts": attempts, "error": None, "recoveredSeconds": round(recovered, 3)}
            last = error
            if first_failure is None:
                first_failure = time.monotonic()
                emit({"event": "failed", "error": error})
            time.sleep(0.05)
        return {"attempts": attempts, "error": last, "recoveredSeconds": None}

    def dispose(self, engine):
        self.engines.pop(engine).dispose()
        return {}


def emit(answer):
    print(json.dumps(answer, default=str), flush=True)


def main():
    client = Client()
    for line in sys.stdin:
        if not line.strip():
            continue
        command = json.loads(line)
        op = command.pop("op")
        try:
            if op == "versions":
                answer = {"versions": versions()}
            elif op == "quit":
                emit({"ok": True})
                return 0
            else:
                answer = getattr(client, op)(**command)
            answer["ok"] = True
        except Exception:
            answer = {"ok": False, "crash": traceback.format_exc()}
        emit(answer)
    return 0


if __name__ == "__main__":
    sys.exit(main())

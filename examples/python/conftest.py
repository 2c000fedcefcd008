"""Fixtures for running this suite against a database of `testdbkit serve`.

The pipeline (examples/ci/python-tests.sh) starts `testdbkit serve --database app --json` and exports from its
JSON line: DATABASE_URL (urls.sqlalchemy), TESTDBKIT_ADMIN_URL (admin.url, what `testdbkit fault` takes) and
TESTDBKIT_DATABASE (database, e.g. tdk_app). TESTDBKIT is how to run the tool (default `testdbkit`; a source
build: `dotnet path/to/TestDbKit.Cli.dll`).
"""

import contextlib
import json
import os
import shlex
import signal
import subprocess

import pytest

import orders


def pytest_configure(config):
    config.addinivalue_line("markers", "fault: breaks the database with `testdbkit fault` (leave out under chaos)")


@pytest.fixture(scope="session")
def engine():
    engine = orders.make_engine()
    orders.in_transaction(engine, lambda c: c.exec_driver_sql(orders.SCHEMA))
    yield engine
    orders.in_transaction(engine, lambda c: c.exec_driver_sql("DROP TABLE orders"))
    engine.dispose()


@pytest.fixture(autouse=True)
def empty_orders(engine):
    yield
    orders.in_transaction(engine, lambda c: c.exec_driver_sql("DELETE FROM orders"))


@contextlib.contextmanager
def fault(kind, **options):
    """`testdbkit fault KIND` on this suite's database. Enters once the tool's "started" line says the fault is in
    effect; an instant fault (kill) has then ended already, a lasting one (idle, ...) is undone on exit (SIGTERM).
    Options become flags: value="1s" is --value 1s."""
    command = shlex.split(os.environ.get("TESTDBKIT", "testdbkit")) + [
        "fault", kind, "--connection", os.environ["TESTDBKIT_ADMIN_URL"],
        "--database", os.environ["TESTDBKIT_DATABASE"], "--json"]
    for name, value in options.items():
        command += ["--" + name.replace("_", "-"), str(value)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as tool:
        started = json.loads(tool.stdout.readline() or '{"event": "no output"}')
        if started.get("event") != "started":
            tool.wait()
            raise RuntimeError(f"`{shlex.join(command)}` did not start the fault: {started} (exit code {tool.returncode})")
        try:
            yield started
        finally:
            if tool.poll() is None:
                tool.send_signal(signal.SIGTERM)
            ended = [json.loads(line) for line in tool.stdout]
            if tool.wait(timeout=60) != 0 or not ended or ended[-1].get("event") != "ended":
                raise RuntimeError(f"`{kind}` fault did not end cleanly: {ended} (exit code {tool.returncode})")


@pytest.fixture(name="fault")
def fault_fixture():
    return fault

"""Drives the `testdbkit` tool from Python, as a Python project's test suite or pipeline would.

`Serve` starts `testdbkit serve --json` and hands back the JSON object it prints when the server is ready;
`Fault` runs `testdbkit fault KIND --json`, waits for its "started" line (the fault is in effect), and, for a
lasting fault, stops it with SIGTERM and reads its "ended" line; `run_chaos` runs `testdbkit chaos --json` and
returns its lines parsed. Everything here uses the standard library only; the database clients live in the
scripts that use it.

The tool's command line is a list: ["testdbkit"] when it is installed as a .NET tool, or
["dotnet", "/path/to/TestDbKit.Cli.dll"] for a source build.
"""

import json
import os
import queue
import signal
import subprocess
import tempfile
import threading
import time


class ToolError(Exception):
    """The tool did something other than what its contract says: exited early, printed no JSON, timed out."""


class _Lines:
    """Reads a child's stdout on a thread, so a caller can wait for the next line with a deadline."""

    def __init__(self, stream):
        self._queue = queue.Queue()
        self.seen = []
        thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        thread.start()

    def _pump(self, stream):
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)  # end of output

    def next(self, timeout):
        """The next line, or None when the output ended; ToolError when none came within `timeout` seconds."""
        try:
            line = self._queue.get(timeout=timeout)
        except queue.Empty:
            raise ToolError(f"no line within {timeout:g} s") from None
        if line is not None:
            self.seen.append(line)
        return line


class _Child:
    """One run of the tool: stdout read line by line, stderr kept in a file for error messages."""

    def __init__(self, tool, args):
        self.command = list(tool) + list(args)
        self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8")
        self.process = subprocess.Popen(
            self.command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=self._stderr,
            text=True, encoding="utf-8", bufsize=1)
        self.lines = _Lines(self.process.stdout)

    def stderr(self):
        self._stderr.flush()
        self._stderr.seek(0)
        return self._stderr.read()

    def describe(self):
        """The command (without the tool's path noise), its exit code if it ended, and what it printed."""
        code = self.process.poll()
        state = "still running" if code is None else f"exit code {code}"
        return (f"`{' '.join(self.command)}` ({state})\nstdout:\n" + "\n".join(self.lines.seen)
                + "\nstderr:\n" + self.stderr())

    def next_json(self, timeout, what):
        """The next stdout line, parsed as JSON; ToolError (with the tool's output) if there is none."""
        try:
            line = self.lines.next(timeout)
        except ToolError as e:
            raise ToolError(f"{what}: {e}. {self.describe()}") from None
        if line is None:
            self.process.wait(timeout=30)
            raise ToolError(f"{what}: the tool's output ended. {self.describe()}")
        try:
            return json.loads(line)
        except ValueError:
            raise ToolError(f"{what}: the line {line!r} is not JSON. {self.describe()}") from None

    def stop(self, timeout):
        """SIGTERM, then wait for the exit (the tool cleans up: server deleted, fault undone); kill if it hangs."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
            raise ToolError(f"did not exit within {timeout:g} s of SIGTERM and was killed. {self.describe()}") from None

    def close(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self._stderr.close()


class Serve:
    """`testdbkit serve --engine ENGINE --database NAME --json` for the length of a `with` block.

    `info` is the JSON object serve prints once the server and its database are ready: host, port, user,
    password, database, url, urls["sqlalchemy"], admin{user, password, url, connectionString}, ...
    """

    def __init__(self, tool, engine, database=None, provider="local", ready_within=120):
        args = ["serve", "--engine", engine, "--provider", provider, "--json"]
        if database is not None:
            args += ["--database", database]
        self._args = args
        self._tool = tool
        self._ready_within = ready_within
        self._child = None
        self.info = None

    def __enter__(self):
        self._child = _Child(self._tool, self._args)
        try:
            self.info = self._child.next_json(self._ready_within, "testdbkit serve --json printed no ready line")
        except BaseException:
            self._child.close()
            raise
        return self

    def __exit__(self, *exc):
        try:
            code = self._child.stop(timeout=60)
            if code != 0 and exc[0] is None:
                raise ToolError(f"testdbkit serve exited with {code} when stopped. {self._child.describe()}")
        finally:
            self._child.close()
        return False


class Fault:
    """`testdbkit fault KIND --json ...`: entering waits for the "started" line (the fault is in effect);
    leaving stops a lasting fault with SIGTERM and waits for its "ended" line and exit code 0.

    `started` and `ended` are the parsed event lines; `events` every line in order.
    """

    def __init__(self, tool, kind, connection, engine=None, database=None, value=None, hold=None, extra=(),
                 start_within=60):
        args = ["fault", kind, "--connection", connection, "--json"]
        for option, given in (("--engine", engine), ("--database", database), ("--value", value), ("--hold", hold)):
            if given is not None:
                args += [option, given]
        args += list(extra)
        self.kind = kind
        self._tool = tool
        self._args = args
        self._start_within = start_within
        self._child = None
        self.started = None
        self.ended = None
        self.events = []
        self.exit_code = None

    def __enter__(self):
        self._child = _Child(self._tool, self._args)
        try:
            self.started = self._event("started", self._start_within)
        except BaseException:
            self._child.close()
            raise
        return self

    def _event(self, expected, timeout):
        event = self._child.next_json(timeout, f"testdbkit fault {self.kind}: waiting for its \"{expected}\" line")
        self.events.append(event)
        if event.get("event") != expected:
            raise ToolError(f"testdbkit fault {self.kind}: expected a \"{expected}\" line, got {event}. {self._child.describe()}")
        return event

    def finish(self, stop=True, timeout=60):
        """Ends the fault and returns its "ended" event, after checking the tool exited with 0.

        stop=True (a lasting fault): SIGTERM now, so the tool undoes the fault before its --hold is up.
        stop=False (an instant fault, or a hold left to run out): wait for the tool to end on its own."""
        if self.ended is not None:
            return self.ended
        try:
            if stop and self._child.process.poll() is None:
                self._child.process.send_signal(signal.SIGTERM)
            self.ended = self._event("ended", timeout)
            self.exit_code = self._child.process.wait(timeout=timeout)
            tail = self._child.lines.next(timeout)
            if tail is not None:
                raise ToolError(f"testdbkit fault {self.kind}: unexpected line after \"ended\": {tail!r}. {self._child.describe()}")
            if self.exit_code != 0:
                raise ToolError(f"testdbkit fault {self.kind} exited with {self.exit_code}. {self._child.describe()}")
            return self.ended
        finally:
            self._child.close()

    def __exit__(self, *exc):
        if exc[0] is None:
            self.finish()
            return False
        try:  # already failing: still let the tool undo the fault, but never mask the error
            self._child.stop(timeout=30)
        except ToolError:
            pass
        finally:
            self._child.close()
        return False


def fault_once(tool, kind, connection, **options):
    """An instant fault (kill, kill-idle, ...): runs it to its end; returns its ("started", "ended") events."""
    with Fault(tool, kind, connection, **options) as fault:
        fault.finish(stop=False)
    return fault.started, fault.ended


def run_chaos(tool, connection, engine=None, database=None, duration="3s", interval=None, max_hold=None,
              faults=None, seed=None, timeout=120, env=None):
    """`testdbkit chaos --json ...` to its end. Returns (exit code, parsed lines, stderr, seconds it ran).

    Every stdout line must be JSON: one event line per fault start and end, then the summary object.
    """
    args = ["chaos", "--connection", connection, "--json", "--duration", duration]
    for option, given in (("--engine", engine), ("--database", database), ("--interval", interval),
                          ("--max-hold", max_hold), ("--faults", faults), ("--seed", seed)):
        if given is not None:
            args += [option, str(given)]
    began = time.monotonic()
    completed = subprocess.run(list(tool) + args, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                               encoding="utf-8", timeout=timeout, env=None if env is None else {**os.environ, **env})
    seconds = time.monotonic() - began
    lines = []
    for line in completed.stdout.splitlines():
        try:
            lines.append(json.loads(line))
        except ValueError:
            raise ToolError(f"testdbkit chaos --json printed a line that is not JSON: {line!r}\nstderr:\n{completed.stderr}") from None
    return completed.returncode, lines, completed.stderr, seconds

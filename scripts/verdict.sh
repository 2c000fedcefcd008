#!/usr/bin/env bash
# Sourced by test.sh and example.sh: `verdict NAME LOG STATUS` adds up the test runner's closing lines in LOG
# and fails the script when a test failed, a runner exited non-zero (STATUS), or no test ran at all. It reads
# VSTest's closing line (`Passed!  - Failed: 0, Passed: 112, ...`) and Microsoft.Testing.Platform's summary (an
# xunit v3 test executable run directly: `Test run summary: ...` then indented `failed: 0` and `succeeded: 112`).
verdict() {
  local name=$1 log=$2 status=$3 passed failed
  # (Either kind may be missing: a grep that finds nothing must not end a caller running with set -e and pipefail.)
  # The platform colours its summary even into a file: its escape codes go before the lines are read.
  local plain
  plain=$(sed 's/\x1b\[[0-9;]*m//g' "$log")
  passed=$( (grep -Eo 'Passed: +[0-9]+' <<<"$plain" || true; grep -Eo '^ +succeeded: +[0-9]+$' <<<"$plain" || true) | awk '{s += $2} END {print s + 0}')
  failed=$( (grep -Eo 'Failed: +[0-9]+' <<<"$plain" || true; grep -Eo '^ +failed: +[0-9]+$' <<<"$plain" || true) | awk '{s += $2} END {print s + 0}')
  if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ]; then
    # The failing tests' names again, last: a CI log is often read from its tail only.
    local names
    names=$(grep -E '^ *(Failed|failed) [A-Za-z_][A-Za-z0-9_.]*[^:]*$|\[FAIL\]' <<<"$plain" | grep -Ev '^ *failed: ' | sort -u || true)
    if [ -n "$names" ]; then
      echo "$name: the failing tests:" >&2
      echo "$names" >&2
      # And what each said (VSTest's "Error Message:" block, up to its stack trace; 80 lines at most per test):
      # the message is often far above the tail a CI log shows.
      local messages
      messages=$(awk '
        /^ *Failed [A-Za-z_]/ { name = $0; next }
        /^ *Error Message:/ { if (name != "") { print name; on = 1; n = 0 }; next }
        /^ *Stack Trace:/ { on = 0; next }
        on { if (++n <= 80) print; else if (n == 81) print "    (cut after 80 lines)" }
      ' <<<"$plain" || true)
      if [ -n "$messages" ]; then
        echo "$name: what they said:" >&2
        echo "$messages" >&2
      fi
    fi
    echo "$name: tests failed ($failed failed, exit code $status)." >&2
    exit 1
  fi
  if [ "$passed" -eq 0 ]; then
    echo "$name: no test ran; that is a failure." >&2
    exit 1
  fi
  echo "$passed passed, $failed failed"
}

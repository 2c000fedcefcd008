#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine with the .NET SDK: installs the database server
# packages it needs, builds everything (warnings are errors), and runs every test project against real
# servers that the kit starts itself. Fails when any test fails or when no test ran.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-servers.sh

configuration="${CONFIGURATION:-Release}"
dotnet build TestDbKit.sln -c "$configuration" --nologo -v quiet -clp:ErrorsOnly

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
dotnet test TestDbKit.sln -c "$configuration" --no-build --nologo 2>&1 | tee "$log" || status=$?

# The NUnit adapter is built against NUnit 4.1; prove it on NUnit 5 too (the solution run used 4.x).
dotnet test tests/TestDbKit.NUnit.Tests -c "$configuration" --nologo -p:NUnitVersion=5.0.0 2>&1 | tee -a "$log" || status=$?
dotnet restore tests/TestDbKit.NUnit.Tests --nologo -v quiet >/dev/null

passed=$(grep -Eo 'Passed: +[0-9]+' "$log" | awk '{s += $2} END {print s + 0}')
failed=$(grep -Eo 'Failed: +[0-9]+' "$log" | awk '{s += $2} END {print s + 0}')
if [ "$status" -ne 0 ] || [ "$failed" -ne 0 ]; then
  echo "test.sh: tests failed ($failed failed, exit code $status)." >&2
  exit 1
fi
if [ "$passed" -eq 0 ]; then
  echo "test.sh: no test ran; that is a failure." >&2
  exit 1
fi
echo "$passed passed, $failed failed"

#!/usr/bin/env bash
# The main job: the example applications' test suites (the order store on xunit v2, xunit v3, NUnit and MSTest; the EF Core
# shop on xunit v3; ordinary and chaos tests, both engines) on the
# embedded default, local database servers that the kit starts itself, no Docker. Installs the server
# packages when they are missing. Ends with a short report: the test runner's closing lines, then the
# kit's run report of each test process (tests, faults injected, recoveries and their times, seeds).
# Fails when a test fails or no test ran.
#
#   scripts/example.sh                                   # report folder: artifacts/testdbkit-report
#   TESTDBKIT_REPORT_DIR=/tmp/report scripts/example.sh  # anywhere else
#   TESTDBKIT_CHAOS_SEED=1234 scripts/example.sh         # replay the chaos schedules of an earlier run
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-servers.sh

export TESTDBKIT_PROVIDER=local
export TESTDBKIT_REPORT_DIR="${TESTDBKIT_REPORT_DIR:-$PWD/artifacts/testdbkit-report}"
mkdir -p "$TESTDBKIT_REPORT_DIR"
rm -f "$TESTDBKIT_REPORT_DIR"/*.txt "$TESTDBKIT_REPORT_DIR"/*.html # a report left by an earlier run would mislead

configuration="${CONFIGURATION:-Release}"
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
for project in examples/Orders.Tests.Xunit examples/Orders.Tests.XunitV3 examples/Orders.Tests.NUnit examples/Orders.Tests.MSTest examples/Shop.Tests.XunitV3; do
  echo "== $project"
  dotnet test "$project" -c "$configuration" --nologo 2>&1 | tee -a "$log" || status=$?
done

echo
echo "== Report"
grep -E '^(Passed!|Failed!) +-' "$log" || echo "(the test runner printed no summary line)"
reports=("$TESTDBKIT_REPORT_DIR"/*.txt)
if [ -e "${reports[0]}" ]; then
  for report in "${reports[@]}"; do
    echo "-- $report"
    cat "$report"
  done
  ls "$TESTDBKIT_REPORT_DIR"/*.html 2>/dev/null | sed 's/^/HTML report: /' || true
else
  echo "No run report in $TESTDBKIT_REPORT_DIR: no test process wrote one (TESTDBKIT_REPORT_DIR is set: did any test use the kit?)."
fi

. scripts/verdict.sh
verdict example.sh "$log" "$status"

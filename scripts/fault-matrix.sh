#!/usr/bin/env bash
# Regenerates docs/fault-matrix.md from the fault matrix's own run: builds tests/TestDbKit.FaultMatrix, runs
# every fault on both engines against real servers (the local PostgreSQL and MariaDB binaries), and writes the
# document the run produced. Commit the result: every ordinary run of the suite fails when the committed file
# differs from what the matrix sees. The measured times go next to the test assembly (fault-matrix-times.md).
set -euo pipefail
cd "$(dirname "$0")/.."

configuration="${CONFIGURATION:-Release}"
dotnet build tests/TestDbKit.FaultMatrix -c "$configuration" --nologo -v quiet -clp:ErrorsOnly
TESTDBKIT_FAULT_MATRIX=write dotnet test tests/TestDbKit.FaultMatrix -c "$configuration" --no-build --nologo
git --no-pager diff --stat -- docs/fault-matrix.md

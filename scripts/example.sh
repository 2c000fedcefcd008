#!/usr/bin/env bash
# The main job: the example application's test suite on the embedded default (local database servers
# that the kit starts itself). Installs the server packages when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-servers.sh
dotnet test examples/Orders.Tests.Xunit -c Release --nologo

#!/usr/bin/env bash
# The whole test suite, from a fresh Debian machine with the .NET SDK: installs the database server
# packages and a Docker engine with locally built images, builds everything (warnings are errors), runs
# every test project against real servers, then runs both adapters' integration suites once more on the
# Docker provider (the Docker lane). Fails when any test fails, when no test ran, or when a lane cannot
# be set up.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/install-servers.sh
scripts/docker-setup.sh >/dev/null   # prints the image names it made sure of

# The Docker lane runs offline on the images docker-setup.sh built; the kit removes its own containers.
export TESTDBKIT_POSTGRES_IMAGE=testdbkit/postgres:15 TESTDBKIT_MYSQL_IMAGE=testdbkit/mariadb:10.11
export TESTDBKIT_DOCKER_PULL=never TESTCONTAINERS_RYUK_DISABLED=true TESTCONTAINERS_HOST_OVERRIDE=127.0.0.1

configuration="${CONFIGURATION:-Release}"
dotnet build TestDbKit.sln -c "$configuration" --nologo -v quiet -clp:ErrorsOnly

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
status=0
run() { "$@" 2>&1 | tee -a "$log" || status=$?; }

echo "== Local provider (the embedded default): every test project"
run dotnet test TestDbKit.sln -c "$configuration" --no-build --nologo

echo "== NUnit 5: the NUnit adapter is built against NUnit 4.1; prove it on 5.0 too"
run dotnet test tests/TestDbKit.NUnit.Tests -c "$configuration" --nologo -p:NUnitVersion=5.0.0
dotnet restore tests/TestDbKit.NUnit.Tests --nologo -v quiet >/dev/null

echo "== Microsoft.Testing.Platform: the xunit v3 test executables (dotnet test above ran them on VSTest)"
# Their closing lines (`succeeded: N`, `failed: N`) are counted by verdict.sh. The child-run checks are left out:
# they start `dotnet test` (VSTest) themselves and ran above.
run tests/TestDbKit.XunitV3.Tests/bin/"$configuration"/net10.0/TestDbKit.XunitV3.Tests \
  --filter 'FullyQualifiedName!~FailOnConnectionLeakTests&FullyQualifiedName!~KitOutputTests'
run examples/Orders.Tests.XunitV3/bin/"$configuration"/net10.0/Orders.Tests.XunitV3
run examples/Shop.Tests.XunitV3/bin/"$configuration"/net10.0/Shop.Tests.XunitV3

echo "== Docker lane: the adapters' integration suites and the examples on the Docker provider"
for project in tests/TestDbKit.Xunit.Tests tests/TestDbKit.XunitV3.Tests tests/TestDbKit.NUnit.Tests tests/TestDbKit.MSTest.Tests examples/Orders.Tests.Xunit examples/Orders.Tests.XunitV3 examples/Orders.Tests.NUnit examples/Orders.Tests.MSTest examples/Shop.Tests.XunitV3; do
  TESTDBKIT_PROVIDER=docker run dotnet test "$project" -c "$configuration" --no-build --nologo
done

. scripts/verdict.sh
verdict test.sh "$log" "$status"

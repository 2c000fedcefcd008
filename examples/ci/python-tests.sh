#!/usr/bin/env bash
# A Python project's test suite (examples/python: SQLAlchemy over psycopg2 or PyMySQL, run by pytest) against a
# throwaway server of the testdbkit tool, as a pipeline step runs it: the GitHub Actions and GitLab jobs in this
# folder (python-github-actions.yml, python-gitlab-ci.yml) call it once per engine.
#
#   examples/ci/python-tests.sh postgres|mysql
#
# 1. `testdbkit serve --database app --json` in the background; its one stdout line (JSON) says the server and the
#    database tdk_app are ready, with the URLs to reach them.
# 2. DATABASE_URL (urls.sqlalchemy), TESTDBKIT_ADMIN_URL (admin.url) and TESTDBKIT_DATABASE exported; pytest runs
#    the whole suite, whose fault tests break the database with `testdbkit fault KIND --database ... --json`.
# 3. The suite again, less its fault tests, over and over while `testdbkit chaos --database tdk_app --json` kills
#    sessions and shortens the idle timeout on that database; the chaos lines go to artifacts/chaos-ENGINE.jsonl, and the seed
#    is printed (CHAOS_SEED=N replays the same schedule).
# 4. serve is stopped with SIGTERM: it stops the server and deletes its files.
#
# TESTDBKIT: how to run the tool (default `testdbkit`, the installed .NET tool; a source build:
# TESTDBKIT="dotnet src/TestDbKit.Cli/bin/Release/net10.0/TestDbKit.Cli.dll"). PYTHON: the interpreter that has
# SQLAlchemy, psycopg2, PyMySQL and pytest (default python3).
set -euo pipefail
cd "$(dirname "$0")/../.."

engine="${1:?usage: examples/ci/python-tests.sh postgres|mysql}"
read -r -a testdbkit <<<"${TESTDBKIT:-testdbkit}"
python="${PYTHON:-python3}"
export PYTHONDONTWRITEBYTECODE=1 # no __pycache__ in the source tree
mkdir -p artifacts
work="$(mktemp -d)"
serve_pid=""
stop_serve() {
  if [ -n "$serve_pid" ]; then
    kill -TERM "$serve_pid" 2>/dev/null || true
    wait "$serve_pid" || true
  fi
  rm -rf "$work"
}
trap stop_serve EXIT

# 1. The server, in the background. Progress goes to stderr; the ready line to stdout.
"${testdbkit[@]}" serve --engine "$engine" --database app --json >"$work/serve.json" 2>"$work/serve.log" &
serve_pid=$!
until [ -s "$work/serve.json" ]; do
  if ! kill -0 "$serve_pid" 2>/dev/null; then
    wait "$serve_pid" && code=0 || code=$?
    serve_pid=""
    echo "testdbkit serve exited with $code before it was ready:" >&2
    cat "$work/serve.log" >&2
    exit 1
  fi
  sleep 0.2
done
field() { "$python" -c 'import json, sys
value = json.load(open(sys.argv[1]))
for key in sys.argv[2].split("."):
    value = value[key]
print(value)' "$work/serve.json" "$1"; }

# 2. The suite, fault tests included.
export DATABASE_URL TESTDBKIT_ADMIN_URL TESTDBKIT_DATABASE
DATABASE_URL="$(field urls.sqlalchemy)"
TESTDBKIT_ADMIN_URL="$(field admin.url)"
TESTDBKIT_DATABASE="$(field database)"
export TESTDBKIT="${TESTDBKIT:-testdbkit}"
echo "== $engine: $(field flavour) $(field version) on $(field host):$(field port), database $TESTDBKIT_DATABASE"
"$python" -m pytest -q -p no:cacheprovider examples/python

# 3. The suite again and again, for as long as a chaos run on the same database lasts (--duration is a hard cap;
# chaos undoes what it holds and prints its summary as the last line).
seed="${CHAOS_SEED:-$(( (RANDOM << 15) | RANDOM ))}"
echo "== chaos seed $seed (replay: CHAOS_SEED=$seed examples/ci/python-tests.sh $engine)"
"${testdbkit[@]}" chaos --connection "$TESTDBKIT_ADMIN_URL" --database "$TESTDBKIT_DATABASE" --faults kill,idle \
  --seed "$seed" --duration 15s --interval 500ms --json >"artifacts/chaos-$engine.jsonl" &
chaos_pid=$!
status=0
runs=0
while kill -0 "$chaos_pid" 2>/dev/null && [ $status -eq 0 ]; do
  "$python" -m pytest -q -p no:cacheprovider -m "not fault" examples/python >"$work/pytest.log" 2>&1 || { status=$?; cat "$work/pytest.log"; }
  runs=$((runs + 1))
done
kill -TERM "$chaos_pid" 2>/dev/null || true
wait "$chaos_pid" || { echo "testdbkit chaos failed; its lines are in artifacts/chaos-$engine.jsonl" >&2; status=1; }
echo "the suite ran $runs time(s) under chaos; chaos summary:"
tail -n 1 "artifacts/chaos-$engine.jsonl"
exit $status

#!/usr/bin/env bash
# Mutation check: proves the suite notices when the core stops doing its job. Each mutant is one deliberate
# break of the core (a kill that kills nothing, a reset that resets nothing, ...), applied alone to a private
# copy of the working tree; the tests that guard that part then run against it. A mutant the tests do not
# turn red has "survived": some promise of the kit is not really tested. Prints each mutant as killed or
# survived and fails if any survived, if a mutant no longer applies (the code moved: update it here), or
# if the guarding tests fail before any mutation.
#
#   scripts/mutants.sh            every mutant
#   scripts/mutants.sh NAME...    only these (names as printed)
#
# The working tree is never touched: mutants are applied to a copy under $TMPDIR.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-servers.sh

# The Local provider (the embedded default); no Docker needed.
unset TESTDBKIT_PROVIDER
configuration="${CONFIGURATION:-Release}"
work="$(mktemp -d "${TMPDIR:-/tmp}/tdk-mutants.XXXXXX")"
trap 'rm -rf "$work"' EXIT
# Tracked files and new ones git does not ignore, as they are in the working tree now.
git ls-files -z --cached --others --exclude-standard | tar --null -T - -c | tar -x -C "$work"

core=tests/TestDbKit.Tests
xunit=tests/TestDbKit.Xunit.Tests
nunit=tests/TestDbKit.NUnit.Tests

# name | file | the exact text to replace (must occur exactly once) | its replacement | what guards it: project=filter;...
# Text is matched literally; \n in either field stands for a line break.
mutants=(
  "kill-session-kills-nothing|src/TestDbKit/Faults/FaultInjector.cs|await ExecuteAsAdminAsync(Dialect.KillSessionSql(SessionOf(connection)), ct).ConfigureAwait(false);|_ = SessionOf(connection);|$core=FullyQualifiedName~FaultInjectorTests"
  # The same break, guarded by the adapters' "starts healthy after a break" tests alone: each break proves itself.
  "kill-session-kills-nothing@adapters|src/TestDbKit/Faults/FaultInjector.cs|await ExecuteAsAdminAsync(Dialect.KillSessionSql(SessionOf(connection)), ct).ConfigureAwait(false);|_ = SessionOf(connection);|$xunit=FullyQualifiedName~Recovery;$nunit=FullyQualifiedName~RecoveryTests"
  "end-sessions-ends-nothing|src/TestDbKit/Engines/EngineDialect.cs|await admin.ExecuteAsync(KillSessionSql(id), ct).ConfigureAwait(false);|await Task.CompletedTask.ConfigureAwait(false);|$core=FullyQualifiedName~FaultInjectorTests|FullyQualifiedName~TestSessionTests"
  "reset-resets-nothing|src/TestDbKit/Databases/DatabasePool.cs|        if (database.Respawner is { } respawner)|        if (database is not null) { return; }\n        if (database.Respawner is { } respawner)|$core=FullyQualifiedName~TestDbKit.Tests.Databases;$xunit=FullyQualifiedName~Recovery"
  "broken-connection-kept|src/TestDbKit/Sessions/TestSession.cs|report.ConnectionDiscarded = true;\n                Database.Server.Dialect.ClearPool(Database.ConnectionString);|_ = ct;|$core=FullyQualifiedName~TestSessionTests;$xunit=FullyQualifiedName~Recovery"
  "leak-never-reported|src/TestDbKit/Sessions/TestSession.cs|var opened = Database.ConnectionsInUse - _outBefore;|var opened = 0L * (Database.ConnectionsInUse - _outBefore);|$core=FullyQualifiedName~TestSessionTests"
  "errors-classified-as-none|src/TestDbKit/Diagnostics/DbErrors.cs|ArgumentNullException.ThrowIfNull(e);\n        var kind = ErrorKind.None;|ArgumentNullException.ThrowIfNull(e);\n        if (e is not null) { return ErrorKind.None; }\n        var kind = ErrorKind.None;|$core=FullyQualifiedName~DbErrorsTests"
  "fault-undo-does-nothing|src/TestDbKit/Faults/FaultInjector.cs|Forget?.Invoke();\n                await undo().ConfigureAwait(false);|Forget?.Invoke();\n                await Task.CompletedTask.ConfigureAwait(false);|$core=FullyQualifiedName~FaultInjectorTests"
)

wanted=("$@")
selected=()
for m in "${mutants[@]}"; do
  name="${m%%|*}"
  if [ ${#wanted[@]} -eq 0 ] || printf '%s\n' "${wanted[@]}" | grep -qx "$name"; then selected+=("$m"); fi
done
if [ ${#selected[@]} -eq 0 ]; then
  echo "mutants.sh: no mutant named ${wanted[*]}; known: $(printf '%s\n' "${mutants[@]}" | cut -d'|' -f1 | tr '\n' ' ')" >&2
  exit 2
fi

log="$work/.mutants.log"
build() { # project...
  for project in "$@"; do
    # Mutants may leave unreachable code or unused values: warnings must not stop their build.
    dotnet build "$work/$project" -c "$configuration" --nologo -v quiet -clp:ErrorsOnly -p:TreatWarningsAsErrors=false >"$log" 2>&1 || return 1
  done
}

# Runs the guarding tests of one mutant, stopping at the first red project; prints "passed", "failed" or
# "ran no test". The runners' output goes to $log.
run_guards() { # guards
  local guards=$1 project filter
  : >"$log"
  IFS=';' read -ra pairs <<<"$guards"
  for pair in "${pairs[@]}"; do
    project="${pair%%=*}"; filter="${pair#*=}"
    if ! timeout 900 dotnet test "$work/$project" -c "$configuration" --no-build --nologo --filter "$filter" >>"$log" 2>&1; then
      echo failed; return
    elif ! tail -n 5 "$log" | grep -Eq 'Passed: +[1-9]'; then
      echo "ran no test"; return
    fi
  done
  echo passed
}

# The first failing test of the last run, as the runner named it.
first_failure() {
  grep -m1 -E '^ +Failed [A-Za-z]' "$log" | sed -E 's/^ +Failed //; s/ \[[0-9].*//' | grep . ||
    { grep -m1 -iE 'aborted|crash|error' "$log" || echo "the test run failed"; } | cut -c1-200
}

projects_of() { tr ';' '\n' <<<"$1" | cut -d= -f1 | sort -u; }

mutate() { # file from to: replaces the one occurrence, or fails
  FROM="$2" TO="$3" perl -0777 -i -pe '
    BEGIN { ($f, $t) = map { s/\\n/\n/gr } @ENV{qw(FROM TO)} }
    $n = () = /\Q$f\E/g;
    if ($n != 1) { print STDERR "found $n times\n"; exit 3 }
    s/\Q$f\E/$t/;' "$work/$1"
}

echo "== the guarding tests pass before any mutation"
all_guards=$(printf '%s\n' "${selected[@]}" | cut -d'|' -f5- | tr ';' '\n' | sort -u)
build $(cut -d= -f1 <<<"$all_guards" | sort -u) || { cat "$log"; echo "mutants.sh: the unmutated tree does not build." >&2; exit 1; }
while read -r guard; do
  result=$(run_guards "$guard")
  if [ "$result" != passed ]; then
    tail -n 40 "$log"
    echo "mutants.sh: before any mutation, $guard $result; fix that first." >&2
    exit 1
  fi
done <<<"$all_guards"

survived=0; broken=0
for m in "${selected[@]}"; do
  IFS='|' read -r name file from to guards <<<"$m"
  cp "$work/$file" "$work/.pristine"
  started=$SECONDS
  if ! mutate "$file" "$from" "$to"; then
    echo "BROKEN    $name: its text no longer occurs exactly once in $file; update scripts/mutants.sh"
    broken=$((broken + 1))
    continue
  fi
  # shellcheck disable=SC2046
  if ! build $(projects_of "$guards"); then
    echo "BROKEN    $name: the mutant does not compile"; sed -n '1,20p' "$log"
    broken=$((broken + 1))
  else
    case "$(run_guards "$guards")" in
      failed) echo "killed    $name ($((SECONDS - started)) s): $(first_failure)" ;;
      passed) echo "SURVIVED  $name: $guards stayed green with $file broken ($((SECONDS - started)) s)"; survived=$((survived + 1)) ;;
      *) echo "BROKEN    $name: its guards ran no test"; broken=$((broken + 1)) ;;
    esac
  fi
  cp "$work/.pristine" "$work/$file"
done

echo "mutants: ${#selected[@]}, survived: $survived, could not run: $broken"
[ "$survived" -eq 0 ] && [ "$broken" -eq 0 ]

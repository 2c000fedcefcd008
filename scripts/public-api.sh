#!/usr/bin/env bash
# Records the packed libraries' public API in their PublicAPI.*.txt files (Microsoft.CodeAnalysis.PublicApiAnalyzers).
#
#   scripts/public-api.sh              adds every public member the build reports as undeclared (RS0016) to
#                                      src/<project>/PublicAPI.Unshipped.txt, and drops from that file the
#                                      lines whose member no longer exists (RS0017)
#   scripts/public-api.sh --shipped    the same into PublicAPI.Shipped.txt (a release: move Unshipped's lines
#                                      there by hand, or record the whole surface when the files are new)
#
# The analyzer's code fix is not available on the command line: this builds the libraries with the rules
# as warnings, reads the symbols out of the diagnostics (their text is the line the file wants), writes
# them sorted, and builds again until nothing is left. A member removed from PublicAPI.Shipped.txt's API is
# a breaking change: the script reports it and leaves that file alone. Review the diff before committing.
set -euo pipefail
cd "$(dirname "$0")/.."

PROJECTS=(src/TestDbKit/TestDbKit.csproj src/TestDbKit.Xunit/TestDbKit.Xunit.csproj src/TestDbKit.NUnit/TestDbKit.NUnit.csproj src/TestDbKit.XunitV3/TestDbKit.XunitV3.csproj src/TestDbKit.MSTest/TestDbKit.MSTest.csproj)
target=PublicAPI.Unshipped.txt
case "${1:-}" in
  --shipped) target=PublicAPI.Shipped.txt ;;
  "") ;;
  *) echo "usage: $0 [--shipped]" >&2; exit 2 ;;
esac

log=$(mktemp)
trap 'rm -f "$log"' EXIT

# build [MSBUILD-ARGS]: compiles every project once (TestDbKit first, then its adapters against it), with
# no incremental skip so the analyzer runs; the output goes to $log.
build() {
  : >"$log"
  local p refs=()
  for p in "${PROJECTS[@]}"; do
    dotnet build "$p" -c Release --nologo --no-incremental -v minimal -clp:NoSummary "${refs[@]}" "$@" >>"$log" 2>&1 || true
    refs=(-p:BuildProjectReferences=false)
  done
}

# symbols RULE PROJECT: the symbols RULE reports in PROJECT (the .csproj path ends each diagnostic line).
symbols() {
  { grep -F ": warning $1: " "$log" || true; } | { grep -F "[$PWD/$2]" || true; } |
    sed -n "s/.*: warning $1: Symbol '\\(.*\\)' is \\(not part of the declared\\|part of the declared API, but\\).*/\\1/p" |
    LC_ALL=C sort -u
}

# rewrite FILE: FILE with '#nullable enable' first and its other lines sorted, without duplicates.
rewrite() {
  local body
  body=$(grep -v -x '#nullable enable' "$1" | grep -v -x '' | LC_ALL=C sort -u || true)
  { echo '#nullable enable'; [ -z "$body" ] || printf '%s\n' "$body"; } >"$1"
}

for round in 1 2 3 4 5; do
  build -p:TreatWarningsAsErrors=false # the rules as warnings: a library's adapters compile in the same pass
  changed=""
  for p in "${PROJECTS[@]}"; do
    dir=$(dirname "$p")
    [ -f "$dir/$target" ] || echo '#nullable enable' >"$dir/$target"
    added=$(symbols RS0016 "$p")
    if [ -n "$added" ]; then
      printf '%s\n' "$added" >>"$dir/$target"
      rewrite "$dir/$target"
      echo "$dir/$target: +$(printf '%s\n' "$added" | wc -l) (round $round)"
      changed=1
    fi
    gone=$(symbols RS0017 "$p")
    if [ -n "$gone" ]; then
      while IFS= read -r line; do
        if grep -q -x -F "$line" "$dir/PublicAPI.Unshipped.txt"; then
          grep -v -x -F "$line" "$dir/PublicAPI.Unshipped.txt" >"$log.tmp" || true
          mv "$log.tmp" "$dir/PublicAPI.Unshipped.txt"
          echo "$dir/PublicAPI.Unshipped.txt: -$line"
          changed=1
        else
          echo "$dir: '$line' is in PublicAPI.Shipped.txt but no longer public: a breaking change; restore the member, or remove the line deliberately" >&2
        fi
      done <<<"$gone"
    fi
  done
  [ -n "$changed" ] || break
done

# What is left that the files cannot fix (other RS00xx rules, compile errors), as errors; the first
# project that fails stops the check (its adapters would only fail to find it).
refs=()
for p in "${PROJECTS[@]}"; do
  dotnet build "$p" -c Release --nologo --no-incremental -v quiet -clp:ErrorsOnly "${refs[@]}" >"$log" 2>&1 || {
    grep ": error " "$log" | LC_ALL=C sort -u >&2 || cat "$log" >&2
    exit 1
  }
  refs=(-p:BuildProjectReferences=false)
done
echo "public API files up to date; review: git diff -- 'src/*/PublicAPI.*.txt'"

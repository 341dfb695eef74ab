#!/usr/bin/env bash
# Replays the hostile-input catalogue of the reliability review (appendix A: 499 CLI cases,
# listed in tests/catalogue/cases.sh) against an embcomp binary and checks the error contract:
#   exit 2 (bad input): stderr is exactly one line without raw control bytes, and no file is
#                       left in the case's folder (nothing new since SETUP, no temporary);
#   exit 0 (valid or tolerable input): the case's CHECK holds (the output exists and is sane;
#                       $STDOUT names the file holding the command's stdout); a CHECK given
#                       with another expected exit code runs too (e.g. a device node survived);
#   any exit other than 0: nothing new is left behind; never a temporary `.*.embcomp.tmp.*`;
#   a run longer than CATALOGUE_TIMEOUT seconds (default 30) is a hang, i.e. a failure.
# Each case runs in a fresh empty folder under a 4 GB address-space limit; shared inputs ($B,
# $Q, indexes, CTR and sweep fixtures) are built once.
#
# Usage: tests/catalogue/replay.sh EMBCOMP_BINARY [NAME_REGEX]
# Env:   CATALOGUE_TIMEOUT (30), CATALOGUE_KEEP=1 keeps the work folder, CATALOGUE_VERBOSE=1
#        prints every case. Exit 1 when any case failed (xfail cases do not count).
# Prints one line per failing case and "N passed, M failed, K skipped, X xfail".
set -uo pipefail

[ $# -ge 1 ] || { echo "usage: $0 EMBCOMP_BINARY [NAME_REGEX]" >&2; exit 2; }
EMBCOMP=$(readlink -f "$1")
[ -x "$EMBCOMP" ] || { echo "replay: $1 is not an executable" >&2; exit 2; }
filter=${2:-}
CATALOGUE_DIR=$(cd "$(dirname "$0")" && pwd)
timeout_s=${CATALOGUE_TIMEOUT:-30}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/embcomp-catalogue.XXXXXX")
FIX=$WORK/fixtures
mkdir -p "$FIX" "$WORK/cases" "$WORK/cache"
# The ground-truth cache folder of this replay, not the user's.
export EMBCOMP_CACHE=$WORK/cache
# Single-threaded by default (2 shared cores); cases that test --threads pass it explicitly.
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
export EMBCOMP FIX CATALOGUE_DIR
if [ "${CATALOGUE_KEEP:-0}" != 1 ]; then trap 'rm -rf "$WORK"' EXIT; fi

# shellcheck source=lib.sh
source "$CATALOGUE_DIR/lib.sh"

B=$FIX/B.fvecs
Q=$FIX/Q.fvecs
export B Q
craft "fvecs('$B', rnd(1000, 16, 1))" "fvecs('$Q', rnd(20, 16, 2))" ||
  { echo "replay: cannot write the fixtures (is /usr/bin/python3 with numpy installed?)" >&2; exit 1; }

passed=0 failed=0 skipped=0 xfailed=0 total=0
failures=()
start=$(date +%s)

fail() {  # fail NAME MESSAGE
  failed=$((failed + 1))
  failures+=("$1")
  echo "FAIL $1: $2"
}

# run_case NAME EXPECT SETUP CMD CHECK -> 0 when the contract holds, else prints why (stdout)
run_case() {
  local name=$1 expect=$2 setup=$3 cmd=$4 check=${5:-}
  local dir=$WORK/cases/$name
  mkdir -p "$dir"
  if ! (cd "$dir" && eval "$setup") >"$dir/../$name.setup.log" 2>&1; then
    echo "setup failed: $(tail -n 2 "$dir/../$name.setup.log" | tr '\n' ' ')"
    return 1
  fi
  (cd "$dir" && find . -mindepth 1 | LC_ALL=C sort) >"$dir/../$name.before"
  local code
  # A 4 GB address-space limit: a huge allocation fails fast instead of swapping the machine.
  if [[ $cmd == sh:* ]]; then  # a raw shell command ($EMBCOMP is the binary)
    (cd "$dir" && ulimit -v 4000000 && exec timeout -k 2 "$timeout_s" bash -c "${cmd#sh:}") >"$dir/../$name.out" 2>"$dir/../$name.err" </dev/null
  else
    (cd "$dir" && ulimit -v 4000000 && eval "exec timeout -k 2 $timeout_s \"\$EMBCOMP\" $cmd") >"$dir/../$name.out" 2>"$dir/../$name.err" </dev/null
  fi
  code=$?
  local err=$dir/../$name.err why=""
  if [ "$code" = 124 ] || [ "$code" = 137 ]; then
    why="hang: killed after ${timeout_s} s"
  elif [ "$code" -gt 128 ]; then
    why="killed by signal $((code - 128))"
  elif [ "$code" != "$expect" ]; then
    why="exit $code, expected $expect"
  fi
  local tmps
  tmps=$(cd "$dir" && find . -name '.*.embcomp.tmp.*' | head -n 3 | tr '\n' ' ')
  [ -z "$tmps" ] || why="${why:+$why; }temporary left: $tmps"
  if [ "$code" != 0 ]; then
    local new
    new=$(cd "$dir" && find . -mindepth 1 | LC_ALL=C sort | LC_ALL=C comm -13 "../$name.before" - | head -n 3 | tr '\n' ' ')
    [ -z "$new" ] || why="${why:+$why; }file left: $new"
  fi
  if [ "$code" = 2 ] || [ "$code" = 1 ]; then
    local nl
    nl=$(tr -cd '\n' <"$err" | wc -c)
    if [ "$nl" != 1 ] || [ -n "$(tail -c 1 "$err" | tr -d '\n')" ]; then
      why="${why:+$why; }stderr has $nl lines"
    fi
    if LC_ALL=C grep -q '[[:cntrl:]]' "$err"; then why="${why:+$why; }raw control bytes on stderr"; fi
  fi
  if [ -z "$why" ] && [ -n "$check" ]; then
    if ! (cd "$dir" && export STDOUT="$dir/../$name.out" && eval "$check") >"$dir/../$name.check" 2>&1; then
      why="check failed: $check ($(tail -n 2 "$dir/../$name.check" | tr '\n' ' '))"
    fi
  fi
  if [ -n "$why" ]; then
    echo "$why; stderr: $(head -c 300 "$err" | tr '\n' '|' | LC_ALL=C tr -d '\000-\011\013-\037')"
    return 1
  fi
  rm -rf "$dir"
  return 0
}

progress() {
  total=$((total + 1))
  if [ $((total % 50)) = 0 ]; then
    echo "[catalogue] $total cases, $(($(date +%s) - start)) s: $passed passed, $failed failed, $skipped skipped, $xfailed xfail" >&2
  fi
}

selected() { [ -z "$filter" ] || [[ $1 =~ $filter ]]; }

# c NAME EXPECT 'SETUP' 'ARGS' ['CHECK']: ARGS are the arguments of embcomp (shell words), or
# 'sh:COMMAND' for a whole shell command.
c() {
  selected "$1" || return 0
  progress
  local why
  if why=$(run_case "$@"); then
    passed=$((passed + 1))
    [ "${CATALOGUE_VERBOSE:-0}" != 1 ] || echo "ok   $1"
  else
    fail "$1" "$why"
  fi
}

# skip NAME 'REASON': the case cannot be rebuilt faithfully here.
skip() {
  selected "$1" || return 0
  progress
  skipped=$((skipped + 1))
  echo "skip $1: $2"
}

# xfail NAME 'REASON' EXPECT 'SETUP' 'ARGS' ['CHECK']: a known open bug; runs the case and
# reports it, but its failure does not fail the replay (a pass is reported as XPASS).
xfail() {
  selected "$1" || return 0
  progress
  local name=$1 reason=$2 why
  shift 2
  if why=$(run_case "$name" "$@"); then
    passed=$((passed + 1))
    echo "XPASS $name (marked xfail: $reason)"
  else
    xfailed=$((xfailed + 1))
    echo "xfail $name: $reason ($why)"
  fi
}

# shellcheck source=cases.sh
source "$CATALOGUE_DIR/cases.sh"

echo "$passed passed, $failed failed, $skipped skipped, $xfailed xfail ($total cases, $(($(date +%s) - start)) s)"
[ "$failed" = 0 ]

#!/usr/bin/env bash
# Builds embcomp with AddressSanitizer + UndefinedBehaviorSanitizer (GCC, RelWithDebInfo) in
# build-asan/ and runs the whole GoogleTest suite under them. Only embcomp's own code is
# instrumented (embcomp_core, embcomp, embcomp_tests); FAISS and OpenBLAS are not.
# Any ASan/UBSan report or leak fails the run (exit status of the test binary).
#
# Usage: scripts/run_sanitizers.sh [extra gtest arguments, e.g. --gtest_filter='Io*']
# Env:   EMBCOMP_SANITIZE   sanitizer list (default: address,undefined)
#        EMBCOMP_BUILD_DIR  build folder (default: build-asan)
#        OMP_NUM_THREADS    threads per test (default: 1)
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${EMBCOMP_BUILD_DIR:-build-asan}"
EMBCOMP_BUILD_DIR="$build_dir" EMBCOMP_BUILD_TYPE=RelWithDebInfo bash scripts/build.sh \
  -DEMBCOMP_SANITIZE="${EMBCOMP_SANITIZE:-address,undefined}" -DEMBCOMP_BUILD_BENCHMARKS=OFF

supp="$PWD/tests/lsan_suppressions.txt"
# detect_leaks=1: leaks are findings too; third-party leaks are suppressed, one commented
# entry each, in tests/lsan_suppressions.txt. halt_on_error/abort_on_error: stop at the
# first report so that the failing test is the one printed last.
export ASAN_OPTIONS="detect_leaks=1:halt_on_error=1:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export OMP_NUM_THREADS="${OMP_NUM_THREADS:-1}"
echo "[sanitizers] ASAN_OPTIONS=$ASAN_OPTIONS" >&2
echo "[sanitizers] UBSAN_OPTIONS=$UBSAN_OPTIONS" >&2
"$build_dir/embcomp_tests" --gtest_brief=1 "$@"

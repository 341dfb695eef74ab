#!/usr/bin/env bash
# Runs the built test suite again under every OpenBLAS kernel family and every scan-kernel
# ISA this CPU can execute, so that a result that depends on the BLAS kernel or the SIMD
# level fails here and not on a user's machine (issue 11: the suite was red on AMD Zen).
#
#   OPENBLAS_CORETYPE = Haswell, Zen, SkylakeX  (SkylakeX needs AVX-512F, else skipped)
#   EMBCOMP_SCAN_ISA  = ref, avx2, avx512       (each only where the CPU supports it)
#
# Usage: scripts/run_portability_tests.sh   (after scripts/build.sh; EMBCOMP_BUILD_DIR as there)
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${EMBCOMP_BUILD_DIR:-build}"
[ -x "$build_dir/embcomp_tests" ] || { echo "run_portability_tests: build first (scripts/build.sh)" >&2; exit 1; }

has() { grep -qw "$1" /proc/cpuinfo; }
log=$(mktemp); trap 'rm -f "$log"' EXIT
run() {  # label, then env assignments, then -- and extra ctest arguments
  local label="$1"; shift
  local envs=(); while [ "$#" -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done; [ "$#" -gt 0 ] && shift
  echo "== portability: $label" >&2
  if env "${envs[@]}" ctest --test-dir "$build_dir" --output-on-failure -j"$(nproc)" "$@" >"$log" 2>&1; then
    grep -E "tests passed|tests failed" "$log" || tail -n 2 "$log"
  else
    cat "$log"; echo "run_portability_tests: FAILED under $label" >&2; exit 1
  fi
}

for ct in Haswell Zen SkylakeX; do
  if [ "$ct" = SkylakeX ] && ! has avx512f; then echo "== portability: OPENBLAS_CORETYPE=SkylakeX skipped (no AVX-512F)" >&2; continue; fi
  if [ "$ct" != SkylakeX ] && ! has avx2; then echo "== portability: OPENBLAS_CORETYPE=$ct skipped (no AVX2)" >&2; continue; fi
  # The hostile-input catalogue checks exit codes and files, not numerics: once is enough.
  run "OPENBLAS_CORETYPE=$ct" OPENBLAS_CORETYPE="$ct" -- -LE catalogue
done

# The scan-kernel tests are parameterized over every ISA already; these runs put the
# forced ISA under everything that searches through the kernels (own indexes, bench, sweep).
scan_tests='Scan|OwnIndex|Knn|Rerank|Cli|Sweep|Bench'
for isa in ref avx2 avx512; do
  case "$isa" in
    avx2) has avx2 && has fma && has popcnt || { echo "== portability: EMBCOMP_SCAN_ISA=avx2 skipped" >&2; continue; } ;;
    avx512) has avx512f && has avx512bw && has avx512vl && has avx512_vnni && has avx512_vpopcntdq ||
      { echo "== portability: EMBCOMP_SCAN_ISA=avx512 skipped" >&2; continue; } ;;
  esac
  run "EMBCOMP_SCAN_ISA=$isa (tests matching $scan_tests)" EMBCOMP_SCAN_ISA="$isa" -- -R "$scan_tests"
done

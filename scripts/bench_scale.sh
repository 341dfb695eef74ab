#!/usr/bin/env bash
# Issue 3's scale benchmark: each table compressor on a generated 1M x 768 float32 table
# (low rank 64 plus noise 0.1, seed 1) at budget 0.1, one process per method so that the
# peak memory is per method. Appends one JSON line per method to $OUT.
# Usage: scripts/bench_scale.sh [N] [D] [METHODS...]   (build first: scripts/build.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-1000000}"; d="${2:-768}"; shift 2 || true
methods=("$@")
[ "${#methods[@]}" -gt 0 ] || methods=(SVD@0.1 Prune@0.1 GQ8 GQ16 PQ@0.1 Dedup@0.1 MGPQ2@0.1 MagSVD2@0.1 TT@0.1)
out="${OUT:-scale_${n}x${d}.jsonl}"
for m in "${methods[@]}"; do
  echo "[scale] $m on ${n} x ${d}" >&2
  build/compress_scale_bench --n "$n" --d "$d" --spec "$m" | tee -a "$out" ||
    echo "{\"spec\":\"$m\",\"error\":\"exit $?\"}" | tee -a "$out"
done

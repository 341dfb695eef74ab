#!/usr/bin/env bash
# The main job: install dependencies, build, then on the bundled default dataset
# (glove-100-30k) run `embcomp bench` (every method family: memory, ratio, recall, times)
# and `embcomp sweep` (every family sized to 2x..64x, a recommendation per budget measured
# on held-out queries, report.md and plots in runs/sweep-glove-100-30k-<time>/).
# Extra arguments go to `embcomp sweep` (e.g. --budgets 4x,8x --max-latency-ms 2).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
build/embcomp bench --data glove-100-30k
out="runs/sweep-glove-100-30k-$(date +%Y%m%d-%H%M%S)"
mkdir -p runs
build/embcomp sweep --data glove-100-30k --out "$out" "$@"
echo
sed -n '/^## Recommendation/,/^!\[/p' "$out/report.md" | grep -v '^!\['
echo "Full report: $out/report.md (plots, every candidate per budget); records: $out/results.csv"

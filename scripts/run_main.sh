#!/usr/bin/env bash
# The main job: install dependencies, build, and run `embcomp bench` on the bundled
# default dataset (glove-100-30k), printing a table of memory, ratio, recall and times.
# Extra arguments go to `embcomp bench` (e.g. --format jsonl --out results.jsonl).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
scripts/build.sh
exec build/embcomp bench --data glove-100-30k "$@"

#!/usr/bin/env bash
# Configures and builds embcomp (Release by default) in build/.
# Usage: scripts/build.sh [extra cmake -D options]
# Env:   EMBCOMP_BUILD_DIR (default: build), EMBCOMP_BUILD_TYPE (default: Release)
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${EMBCOMP_BUILD_DIR:-build}"
launcher=()  # a compiler cache when one is installed (developers' checkouts share it)
if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE="${EMBCOMP_BUILD_TYPE:-Release}" "${launcher[@]}" "$@" >"$build_dir.cmake.log" 2>&1 ||
  { cat "$build_dir.cmake.log" >&2; echo "build: cmake configure failed" >&2; exit 1; }
cmake --build "$build_dir" -j"$(nproc)"

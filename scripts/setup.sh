#!/usr/bin/env bash
# Installs every Debian package embcomp's build, tests and scripts need, then builds
# FAISS 1.7.3 from Debian's own source package for this CPU (AVX2 where present,
# generic otherwise) into a cache folder outside the repo that later runs reuse.
#
# Usage: scripts/setup.sh            (as root, or with sudo available)
# Env:   EMBCOMP_CACHE   cache folder (default: $HOME/.cache/embcomp)
#        EMBCOMP_SKIP_APT=1  skip apt-get (packages already installed)
set -euo pipefail

cache="${EMBCOMP_CACHE:-$HOME/.cache/embcomp}"
sudo_cmd=""
if [ "$(id -u)" != 0 ]; then sudo_cmd="sudo"; fi

packages=(
  build-essential cmake pkg-config dpkg-dev
  libopenblas-dev liblapack-dev liblapacke-dev
  libboost-program-options-dev libhdf5-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev
  python3-matplotlib python3-faiss
  # tests/catalogue/craft.py writes the HDF5 inputs of the hostile-input catalogue
  python3-h5py
  # scripts/run_fuzz.sh: clang with libFuzzer and the sanitizer runtimes (both in
  # libclang-rt-14-dev on bookworm) and clang's OpenMP runtime
  clang libclang-rt-14-dev libomp-dev
  # scripts/run_fuzz.sh symbolizes hdf5_reader's sanitizer reports after the run
  # (llvm-symbolizer; clang does not pull it in without recommends)
  llvm
  # IndexHostile.InterruptedBuildLeavesNoMixedGeneration fails build's renames with
  # strace's fault injection (skipped without it)
  strace
)

log() { echo "[setup] $*" >&2; }

if [ "${EMBCOMP_SKIP_APT:-0}" != 1 ]; then
  # deb-src lines for the Debian sources already configured, so `apt-get source faiss` works.
  src_list=/etc/apt/sources.list.d/embcomp-deb-src.sources
  if [ ! -f "$src_list" ] && [ -f /etc/apt/sources.list.d/debian.sources ]; then
    log "enabling deb-src for the configured Debian sources ($src_list)"
    sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources | $sudo_cmd tee "$src_list" >/dev/null
  elif [ ! -f "$src_list" ] && [ -f /etc/apt/sources.list ]; then
    grep -E '^deb ' /etc/apt/sources.list | sed 's/^deb /deb-src /' | $sudo_cmd tee /etc/apt/sources.list.d/embcomp-deb-src.list >/dev/null
  fi
  missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ "${#missing[@]}" -gt 0 ] || [ ! -f "$cache/faiss/.installed" ]; then
    log "apt-get update"
    $sudo_cmd apt-get update -qq
  fi
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing: ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
fi

# ---- FAISS 1.7.3 from Debian's source package, built for this CPU --------------------------
faiss_prefix="$cache/faiss"
if [ -f "$faiss_prefix/.installed" ]; then
  log "FAISS already built in $faiss_prefix ($(cat "$faiss_prefix/.installed"))"
  exit 0
fi
opt=generic
if grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo && grep -qw popcnt /proc/cpuinfo; then opt=avx2; fi
work="$cache/faiss-src"
rm -rf "$work" && mkdir -p "$work"
log "fetching Debian's faiss source package into $work"
(cd "$work" && apt-get source -qq faiss >/dev/null 2>&1) || {
  echo "setup: 'apt-get source faiss' failed (are deb-src entries enabled?)" >&2; exit 1; }
srcdir=$(find "$work" -maxdepth 1 -mindepth 1 -type d -name 'faiss-*' | head -n1)
[ -n "$srcdir" ] || { echo "setup: no faiss-* source folder in $work" >&2; exit 1; }
log "building FAISS ($opt) from $srcdir; takes about two minutes on 2 cores"
cmake -S "$srcdir" -B "$work/build" -DCMAKE_BUILD_TYPE=Release -DFAISS_OPT_LEVEL="$opt" \
  -DFAISS_ENABLE_GPU=OFF -DFAISS_ENABLE_PYTHON=OFF -DBUILD_TESTING=OFF -DBUILD_SHARED_LIBS=ON \
  -DCMAKE_INSTALL_PREFIX="$faiss_prefix" -DBLA_VENDOR=OpenBLAS >"$work/cmake.log" 2>&1 ||
  { tail -n 30 "$work/cmake.log" >&2; echo "setup: FAISS cmake failed, see $work/cmake.log" >&2; exit 1; }
cmake --build "$work/build" -j"$(nproc)" >"$work/build.log" 2>&1 ||
  { tail -n 30 "$work/build.log" >&2; echo "setup: FAISS build failed, see $work/build.log" >&2; exit 1; }
cmake --install "$work/build" >"$work/install.log" 2>&1
echo "$opt $(basename "$srcdir")" >"$faiss_prefix/.installed"
rm -rf "$work"
log "FAISS installed in $faiss_prefix ($opt)"

#!/usr/bin/env bash
# Builds the libFuzzer harnesses of tests/fuzz with clang (ASan + UBSan + libFuzzer) in
# build-fuzz/, writes their seed corpora, and runs each harness on a time or run budget.
# Prints per harness: execs, crashes. Exit status 1 when any harness crashed; crash
# inputs are kept in build-fuzz/findings/<harness>/ (libFuzzer's crash-*/oom-*/timeout-*).
# Sanitizer reports of the forked HDF5 children go to findings/<harness>/child-reports.*/;
# one in embcomp's own code counts as a crash, one inside HDF5 is printed as contained.
#
# Usage: scripts/run_fuzz.sh [SECONDS_PER_HARNESS | --runs N] [HARNESS...]
#          Two invocations with disjoint HARNESS lists may run at once (one core each).
#          default 60 seconds each; --runs N runs N inputs each (the long campaign: 1000000)
#          HARNESS names (vec_readers, own_index, ...) limit the run to those.
# Env:   EMBCOMP_FUZZ_DIR     build folder (default: build-fuzz)
#        EMBCOMP_FUZZ_CORPUS  corpus folder kept between runs (default: build-fuzz/corpus)
#        EMBCOMP_FUZZ_STRICT=1  exceptions other than embcomp::Error count as crashes
#        FUZZ_ARGS            extra libFuzzer flags, last on the command line (they override
#                             the script's own, e.g. -entropic_scale_per_exec_time=0)
set -euo pipefail
cd "$(dirname "$0")/.."
repo_root=$(pwd -P)
budget=(-max_total_time=60)
label="60 s"
if [ "${1:-}" = --runs ]; then
  [ -n "${2:-}" ] || { echo "run_fuzz: --runs needs a count" >&2; exit 2; }
  budget=(-runs="$2"); label="$2 runs"; shift 2
elif [ -n "${1:-}" ] && [[ "$1" =~ ^[0-9]+$ ]]; then
  budget=(-max_total_time="$1"); label="$1 s"; shift
fi
build_dir="${EMBCOMP_FUZZ_DIR:-build-fuzz}"
corpus_root="${EMBCOMP_FUZZ_CORPUS:-$build_dir/corpus}"
command -v clang++ >/dev/null || { echo "run_fuzz: clang++ is missing (scripts/setup.sh installs it)" >&2; exit 1; }

launcher=()
if command -v ccache >/dev/null 2>&1; then launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache); fi
mkdir -p "$build_dir"
CC=clang CXX=clang++ cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DEMBCOMP_FUZZ=ON \
  -DEMBCOMP_BUILD_TESTS=OFF -DEMBCOMP_BUILD_BENCHMARKS=OFF "${launcher[@]}" >"$build_dir/cmake.log" 2>&1 ||
  { cat "$build_dir/cmake.log" >&2; echo "run_fuzz: cmake configure failed" >&2; exit 1; }
cmake --build "$build_dir" --target fuzz_all -j"$(nproc)"

# The suite's suppressions plus the fuzz-only module entries (tests/fuzz/lsan_suppressions.txt).
supp="$(cd "$build_dir" && pwd)/lsan_suppressions.txt"
cat tests/lsan_suppressions.txt tests/fuzz/lsan_suppressions.txt >"$supp"
# Leaks are checked too (libFuzzer's -detect_leaks, default on); allocator_may_return_null
# lets an oversized allocation fail as std::bad_alloc where libFuzzer's malloc limit allows it.
# max_allocation_size_mb=1024: a malloc() above 1 GB returns NULL, as it may in a release
# build. HDF5 1.10.8 mallocs the size a corrupt object header claims (16 GiB) before checking
# it against the file; ASan then writes gigabytes of shadow and libFuzzer stops on the RSS
# limit, while the release build gets "addr overflow" from HDF5 and exits 2 at 20 MB RSS
# (docs/testing.md). A C++ new above 1 GB still stops the run as a finding.
export ASAN_OPTIONS="detect_leaks=1:allocator_may_return_null=1:max_allocation_size_mb=1024${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
export LSAN_OPTIONS="suppressions=$supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
export OMP_NUM_THREADS=1  # one core per harness; FAISS's threads only add noise here

# One seed folder per invocation, so that two runs on disjoint harness lists (one per core)
# do not remove each other's seeds.
seeds="$build_dir/seeds.$$"
rm -rf "$seeds"
trap 'rm -rf "$seeds"' EXIT
"$build_dir/embcomp_fuzz_seeds" "$seeds" 2>"$build_dir/seeds.log" ||
  { cat "$build_dir/seeds.log" >&2; echo "run_fuzz: writing the seed corpora failed" >&2; exit 1; }

# The build folder's physical path: harness binaries (and their frames in reports) live there,
# which may be outside the checkout (EMBCOMP_FUZZ_DIR).
build_root=$(cd "$build_dir" && pwd -P)
# llvm-symbolizer, for symbolize_reports (Debian's llvm package; llvm-14 names it with -14).
symbolizer=""
for s in llvm-symbolizer llvm-symbolizer-14 /usr/lib/llvm-14/bin/llvm-symbolizer; do
  if command -v "$s" >/dev/null 2>&1; then symbolizer=$(command -v "$s"); break; fi
done

# symbolize_reports FILE...: writes the function and source names into the stack frames of
# sanitizer reports printed with symbolize=0, for the frames in binaries under this checkout
# or the build folder (the harness; HDF5's and libc's frames are named by their module
# already). One llvm-symbolizer per binary for all reports. A frame line keeps its
# "(module+offset) (BuildId: ...)" and gains " in <function> <file:line>" for it and each
# function inlined there, innermost first. The printed offset is looked up as it is (the
# sanitizers print the call's address, not the return address). A frame whose BuildId is
# not the binary's now (relinked since) is left as it is: it then counts as embcomp's.
symbolize_reports() {
  local files=() f
  for f in "$@"; do [ -f "$f" ] && files+=("$f"); done
  [ "${#files[@]}" -gt 0 ] || return 0
  [ -n "$symbolizer" ] || return 1
  local work
  work=$(mktemp -d) || return 1
  # "module offset buildid" of each frame in a binary under one of the two roots
  sed -nE 's/^ *#[0-9]+ 0x[0-9a-f]+ .*\((\/[^()+ ]+)\+(0x[0-9a-f]+)\)( \(BuildId: ([0-9a-f]+)\))?.*/\1 \2 \4/p' \
    "${files[@]}" |
    awk -v a="$repo_root/" -v b="$build_root/" 'index($1, a) == 1 || index($1, b) == 1' |
    sort -u >"$work/frames"
  : >"$work/names"
  local module id
  cut -d' ' -f1 "$work/frames" | sort -u | while read -r module; do
    [ -f "$module" ] || continue
    id=$(readelf -n "$module" 2>/dev/null | sed -n 's/^ *Build ID: *//p' | head -n1)
    awk -v m="$module" -v id="$id" '$1 == m && ($3 == "" || $3 == id) { print $2 }' \
      "$work/frames" >"$work/offsets"
    [ -s "$work/offsets" ] || continue
    "$symbolizer" -C -a --inlines --obj="$module" <"$work/offsets" |
      awk -v m="$module" -v id="$id" '
        /^0x[0-9a-f]+$/ { addr = $0; text = ""; next }
        /^$/ { if (addr != "") print m " " addr " " id "\t" text; addr = ""; next }
        { text = text " " $0 }' >>"$work/names"
  done
  for f in "${files[@]}"; do
    awk -v names="$work/names" '
      BEGIN {
        while ((getline l < names) > 0) {
          t = index(l, "\t")
          name[substr(l, 1, t - 1)] = substr(l, t + 1)
        }
      }
      {
        if (match($0, /^ *#[0-9]+ 0x[0-9a-f]+ /) && match($0, /\(\/[^()+ ]+\+0x[0-9a-f]+\)/)) {
          split(substr($0, RSTART + 1, RLENGTH - 2), p, "+")
          id = ""
          if (match($0, /\(BuildId: [0-9a-f]+\)/)) id = substr($0, RSTART + 10, RLENGTH - 11)
          k = p[1] " " p[2] " " id
          if (k in name) { print $0 " in" name[k]; next }
        }
        print
      }' "$f" >"$f.sym" && mv "$f.sym" "$f"
  done
  rm -rf "$work"
}

harnesses=("$@")
if [ "${#harnesses[@]}" -eq 0 ]; then
  for f in tests/fuzz/*_fuzz.cpp; do b=$(basename "$f" _fuzz.cpp); harnesses+=("$b"); done
fi
failed=0
printf '%-16s %12s %8s  %s\n' harness execs crashes "budget: $label" >&2
for h in "${harnesses[@]}"; do
  bin="$build_dir/fuzz_$h"
  [ -x "$bin" ] || { echo "run_fuzz: no harness $bin" >&2; exit 2; }
  corpus="$corpus_root/$h" findings="$build_dir/findings/$h" log="$build_dir/fuzz_$h.log"
  mkdir -p "$corpus" "$findings" "$seeds/$h"
  # -close_fd_mask=3: the loaders' warnings would flood the log; libFuzzer and the
  # sanitizers still report on their own copy of stderr.
  # libFuzzer's crash-, oom-, timeout- and leak- inputs (not slow-unit-: an input over 10 s that
  # finished, such as an HDF5 child stopped by its own time limit)
  count() { find "$findings" -maxdepth 1 -type f \( -name 'crash-*' -o -name 'oom-*' -o -name 'timeout-*' -o -name 'leak-*' \) | wc -l; }
  before=$(count)
  # Sanitizer reports from HDF5 children (toolkit/io.cpp, hdf5_in_child) go to their own
  # folder per run; sorted below.
  child_dir="$(cd "$findings" && pwd)/child-reports.$(date +%Y%m%d-%H%M%S).$$"
  mkdir -p "$child_dir"
  # hdf5_reader forks one child per input and the fork's cost grows with the parent's
  # resident memory: a 16 MB quarantine instead of ASan's 256 MB keeps the parent near
  # 90 MB instead of 370 MB and doubles execs/s (26 -> 50 here). Use-after-free within
  # one input's reads is still caught.
  # It also runs with symbolize=0: symbolizing in-process starts llvm-symbolizer on the 50 MB
  # harness for every child report (a few per 100 inputs), which took a third of the page
  # faults; symbolize_reports below does it once, after the run. And with
  # -entropic_scale_per_exec_time=1: libFuzzer mutates fast inputs more often than a few
  # whose vlen strings make HDF5 zero hundreds of MB (1-2 s each; docs/testing.md).
  # Without llvm-symbolizer the reports are symbolized in-process, as before (addr2line).
  extra_asan="" extra_flags=() symbolize_after=0
  if [ "$h" = hdf5_reader ]; then
    extra_asan=":quarantine_size_mb=16"
    [ -n "$symbolizer" ] && { extra_asan+=":symbolize=0"; symbolize_after=1; }
    extra_flags=(-entropic_scale_per_exec_time=1)
  fi
  set +e
  ASAN_OPTIONS="$ASAN_OPTIONS$extra_asan" EMBCOMP_HDF5_CHILD_REPORT="$child_dir/report" \
  "$bin" "${budget[@]}" -rss_limit_mb=2048 -malloc_limit_mb=1024 -timeout=10 -close_fd_mask=3 \
    -print_final_stats=1 -artifact_prefix="$findings/" "${extra_flags[@]}" ${FUZZ_ARGS:-} \
    "$corpus" "$seeds/$h" >"$log" 2>&1
  rc=$?
  set -e
  if [ "$symbolize_after" = 1 ]; then
    # Unsymbolized, a sanitizer-runtime frame in the harness counts as embcomp's: on the
    # safe side (a false finding, not a missed one).
    symbolize_reports "$log" "$child_dir"/report.* ||
      echo "  run_fuzz: the reports of $h could not be symbolized; sorted as they are" >&2
  fi
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n1)
  crashes=$(( $(count) - before ))
  [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ] && crashes=1  # a crash before writing its input
  # A child's report is a finding when the innermost frame that is embcomp's (a source
  # path or binary under this checkout or the build folder) or HDF5's is embcomp's, or when it is a UBSan report
  # (HDF5 is not instrumented): such a bug is hidden from libFuzzer, which sees only a file
  # refused as corrupt. Frames of the sanitizer runtime (by source path, or by name where it
  # has no debug info: ASan's memcpy interceptor), libc, zlib and the C++ library are passed
  # over. A report inside HDF5 is contained: the process never runs HDF5 on that file.
  # Reports without an error (ASan's "failed to allocate" warning under
  # allocator_may_return_null) are neither.
  # A frame named by a plain C symbol but with no source line ("in strdup ??:0:0") is the
  # sanitizer runtime linked into the harness without debug info (embcomp's frames have a
  # line, and C++ names): ASan's strdup interceptor is named plainly, so a strdup over-read
  # inside HDF5 was taken for embcomp's. A frame symbolized to nothing ("?? ??:0:0") is kept.
  runtime_frame='compiler-rt| in (__interceptor_|___interceptor_|__asan|__sanitizer|__ubsan|__lsan|wrap_)| in [A-Za-z_][A-Za-z0-9_]* [?][?]:0:0$'
  child_found=0 child_contained=0
  for f in "$child_dir"/report.*; do
    [ -f "$f" ] || continue
    grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer)|runtime error:' "$f" || continue
    top=$(grep -E '^ *#[0-9]+ 0x' "$f" | grep -vE "$runtime_frame" |
      grep -F -e "$repo_root/" -e "$build_root/" -e libhdf5 | head -n1 || true)
    if ! grep -q 'runtime error:' "$f" && [[ "$top" == *libhdf5* ]]; then
      child_contained=$((child_contained + 1))
    else
      child_found=$((child_found + 1))
      [ "$child_found" -eq 1 ] && echo "  HDF5 child report in embcomp's code: $f" >&2
    fi
  done
  rmdir "$child_dir" 2>/dev/null || true
  crashes=$((crashes + child_found))
  printf '%-16s %12s %8s\n' "$h" "${execs:-?}" "$crashes" >&2
  [ "$child_contained" -eq 0 ] ||
    echo "  $child_contained HDF5 child report(s) inside HDF5 itself (contained): $child_dir" >&2
  [ "$child_found" -eq 0 ] || failed=1
  if [ "$rc" -ne 0 ]; then
    failed=1
    grep -m1 -E 'ERROR: (AddressSanitizer|libFuzzer|LeakSanitizer)|runtime error:|SUMMARY' "$log" >&2 || true
    echo "  log: $log; inputs: $findings" >&2
  fi
done
exit "$failed"

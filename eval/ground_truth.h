// Exact ground truth: the top-k base ids of every query under the dataset's metric,
// computed by blocked BLAS brute force (FAISS's kernels, all threads) and cached next to
// the base file as "<base>.<hash>.gt-<metric>-top<k>.gtcache" (or in
// $EMBCOMP_CACHE/gt/ when that folder is not writable).
//
// The cache is not trusted. Its layout (toolkit/serialize.h conventions):
//   magic "ECGTCACH", u32 format version (kGroundTruthCacheVersion),
//   u64 dataset_hash, string metric, u64 k, u64 n, u64 nq,
//   vector<int32> ids (nq * k, row-major, best first), u64 FNV-1a of the ids.
// A cache is used only when every field matches the dataset, every id is in [0, n) and
// distinct within its row, the checksum holds, and up to 8 queries re-computed by exact
// search (up to 4 chosen by the data's hash, fewer when two name one query; 4 drawn at random
// among the rest each run) have the same top-k scores. Otherwise it is ignored (a warning
// when verbose), the ground truth is recomputed and the cache rewritten.
#pragma once

#include <string>

#include "toolkit/dataset.h"

namespace embcomp {

constexpr uint32_t kGroundTruthCacheVersion = 1;

/// Makes sure ds.gt has at least k columns: keeps the loaded one when it does, else
/// loads a verified cached one or computes max(k, 100) (at most n) columns and caches
/// them. Returns true when it computed. Progress goes to stderr when verbose.
bool ensure_ground_truth(Dataset& ds, size_t k, bool verbose);

/// 64-bit FNV-1a of the base and query values and the metric (the cache key).
uint64_t dataset_hash(const Dataset& ds);

/// Where ensure_ground_truth looks first for a cache of k columns (next to the base file).
std::string ground_truth_cache_path(const Dataset& ds, size_t k);

/// Writes gt (nq x k ids) as the cache of ds at path, atomically. Does not check the ids:
/// tests use it to plant damaged caches.
void write_ground_truth_cache(const std::string& path, const Dataset& ds, const IdMatrix& gt);

/// Reads and verifies the cache of k columns at path (see the header comment); throws
/// kBadInput saying what is wrong.
IdMatrix read_ground_truth_cache(const std::string& path, const Dataset& ds, size_t k);

}  // namespace embcomp

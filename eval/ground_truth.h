// Exact ground truth: the top-k base ids of every query under the dataset's metric,
// computed by blocked BLAS brute force (FAISS's kernels, all threads) and cached next to
// the base file as "<base>.<hash>.gt-<metric>-top<k>.ivecs" (or in
// $EMBCOMP_CACHE/gt/ when that folder is not writable). The hash covers the base and query
// values, so a changed file never reuses a stale cache.
#pragma once

#include "toolkit/dataset.h"

namespace embcomp {

/// Makes sure ds.gt has at least k columns: keeps the loaded one when it does, else
/// loads a cached one or computes max(k, 100) (at most n) columns and caches them.
/// Returns true when it computed. Progress goes to stderr when verbose.
bool ensure_ground_truth(Dataset& ds, size_t k, bool verbose);

/// 64-bit FNV-1a of the base and query values and the metric (the cache key).
uint64_t dataset_hash(const Dataset& ds);

}  // namespace embcomp

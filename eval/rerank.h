// Two-stage search: candidates from a compressed representation, re-scored exactly
// against a larger one (float32, FP16 or SQ8) that may live on disk.
#pragma once

#include "compressors/table_compressor.h"
#include "eval/knn.h"

namespace embcomp {

/// For each query, decodes its candidate rows from `fine` (decode_rows, so a memory-mapped
/// or on-disk table reads only those rows), scores them against the query with the
/// metric, and keeps the best k (ties by lower id). candidates.k >= k; ids < 0 skipped.
/// First-stage candidates of a two-stage search: min(n, k * factor). Throws kUsage naming
/// --k and --rerank-factor when k * factor does not fit in 64 bits (reliability #22: the
/// product wrapped, and bench then failed with "shapes do not agree").
size_t rerank_candidates(size_t k, size_t factor, size_t n);

KnnResult rerank(const KnnResult& candidates, const TableCompressor& fine,
                 MatrixView<float> queries, size_t k, Metric metric);

}  // namespace embcomp

// Exact k-nearest-neighbour search: over float rows (BLAS-blocked, multi-threaded, via
// FAISS's brute-force kernels), over the decoded rows of a codec (decoded block by block,
// so memory stays O(block * d)), and over binary codes by Hamming distance.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compressors/codec.h"
#include "compressors/table_compressor.h"
#include "toolkit/matrix.h"
#include "toolkit/metric.h"

namespace embcomp {

/// Top-k per query, best first. ids: nq * k, row-major (-1 where fewer than k rows);
/// scores: nq * k (squared L2 distance, inner product, or Hamming distance).
struct KnnResult {
  size_t nq = 0;
  size_t k = 0;
  std::vector<int64_t> ids;
  std::vector<float> scores;
};

/// Exact search of queries in base. For kAngular the rows must already be normalized.
KnnResult exact_knn(MatrixView<float> base, MatrixView<float> queries, size_t k, Metric metric);

/// Search with the codec's own search: for SearchKind::kDecoded, fp32 queries against
/// the decoded rows (decoded in blocks of block_rows); for kHamming, the queries are
/// encoded and compared to the codes by Hamming distance. Binary codes, and SQ8 and INT8
/// codes for fewer than kScanKernelMaxQueries queries, are scanned directly by the SIMD
/// kernels of index/scan_kernels.h (the query quantized to 16 bits, docs/scan_kernels.md);
/// larger batches decode blocks and use BLAS, which is faster per query there.
/// codes: n * codec.code_size() bytes.
constexpr size_t kScanKernelMaxQueries = 64;

KnnResult search_codes(const Codec& codec, const uint8_t* codes, size_t n,
                       MatrixView<float> queries, size_t k, Metric metric,
                       size_t block_rows = 65536);

/// The same for any compressed table: Hamming search when the table holds binary codec
/// codes, otherwise fp32 queries against rows decoded block by block (decode_range).
/// With asymmetric, binary codes are scanned with the float query (the first stage of a
/// two-stage search): against Codec::decode_for_scan rows (+-1) by inner product for IP
/// and angular data, against the decoded rows (least-squares levels) by L2 for L2 data.
KnnResult search_table(const TableCompressor& table, MatrixView<float> queries, size_t k,
                       Metric metric, size_t block_rows = 65536, bool asymmetric = false);

/// Mean over queries of |found[:k] intersect truth[:k]| / k (k-recall@k), computed as
/// total hits / (nq k) so that it is exact.
/// truth must have at least k columns.
double recall_at_k(const KnnResult& found, const IdMatrix& truth, size_t k);

/// k-recall@k that treats ties as ties: a found row counts when its exact score (against
/// the uncompressed base row) is at least as good as the exact k-th neighbour's, within
/// 1e-5 relative. Equal to recall_at_k when there are no ties at rank k; differs when
/// rows are duplicated or queries are zero (every row then ties).
double recall_at_k_tie_aware(const KnnResult& found, const IdMatrix& truth, size_t k,
                             MatrixView<float> base, MatrixView<float> queries, Metric metric);

}  // namespace embcomp

// `embcomp bench`: for each method spec, train on the base rows, encode them, search the
// queries with the method's own search, and measure exact bytes, recall and times.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "compressors/table_compressor.h"
#include "eval/knn.h"
#include "toolkit/dataset.h"

namespace embcomp {

struct BenchOptions {
  size_t k = 10;           ///< recall is k-recall@k
  uint64_t seed = 1234;    ///< seed handed to every method
  int threads = 0;         ///< OpenMP threads, 0 = all cores
  bool verbose = true;     ///< progress on stderr
  /// Two-stage search: take k * rerank_factor candidates from the method, re-score them
  /// with this table (e.g. Flat, FP16, SQ8 over the same rows). nullptr: no re-ranking.
  const TableCompressor* rerank = nullptr;
  size_t rerank_factor = 10;
  /// For datasets with qrels: nDCG@10, MRR@10, recall@100 of exact fp32 search, so that
  /// records report retention = value / baseline. Empty: no retention.
  std::map<std::string, double> retrieval_baseline;
};

/// Depth of the result lists used for the retrieval metrics (recall@100 needs 100).
constexpr size_t kRetrievalDepth = 100;

/// nDCG@10, MRR@10 and recall@100 ("ndcg_at_10", ...) of search results against ds.qrels;
/// found holds at least min(kRetrievalDepth, n) columns.
std::map<std::string, double> retrieval_metrics(const Dataset& ds, const KnnResult& found);

/// The default method list for dimension d: every registered family's defaults.
std::vector<std::string> default_bench_specs(size_t d);

/// Splits "SQ8;PQ25x8;PCA64,SQ8" on ';' (surrounding spaces dropped, empty parts skipped).
std::vector<std::string> split_methods(const std::string& list);

/// Runs one method; ds.gt must hold at least k columns. Returns the record (fields in
/// docs/bench.md). Throws on failure.
nlohmann::ordered_json bench_method(const Dataset& ds, const std::string& spec,
                                    const BenchOptions& opt);

/// The quality gate of `bench --min-recall`: every method (by "method"), with its best
/// "recall_at_k" over its records (the operating points of --index), whose best is below
/// min_recall, in the order the methods first appear. Records without a recall (failed
/// methods) count as 0.
std::vector<std::pair<std::string, double>> methods_below_recall(
    const std::vector<nlohmann::ordered_json>& records, double min_recall);

/// A fixed-width text table of records, one row per method.
std::string format_table(const std::vector<nlohmann::ordered_json>& records, size_t k);

}  // namespace embcomp

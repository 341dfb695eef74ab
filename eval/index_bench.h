// `embcomp bench --index STRUCT`: build a FAISS index per method (embcomp's own index,
// index/own_index.h, for methods FAISS lacks), then sweep the search
// knob (nprobe for IVF, efSearch for HNSW) and report, per operating point, recall@k,
// single-thread per-query latency percentiles, multi-thread batch QPS, build times and
// memory three ways (index/faiss_memory.h), like ann-benchmarks' operating points.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "compressors/table_compressor.h"
#include "toolkit/dataset.h"

namespace embcomp {

struct IndexBenchOptions {
  std::string structure = "Flat";  ///< FAISS grammar: Flat, IVF{nlist}, IVF{n}_HNSW{M}, HNSW{M}
  size_t k = 10;
  size_t warmup = 10;              ///< queries run before timing latency
  double min_batch_s = 0.3;        ///< batch QPS: repeat the batch until this long
  std::string embcomp_binary;      ///< for the RSS measurement in a fresh process ("" = skip)
  uint64_t seed = 1234;            ///< seed of an own index (methods FAISS lacks)
  /// Two-stage search: re-score k * F candidates with this table (not owned); every
  /// operating point is then repeated for each F in rerank_factors.
  const TableCompressor* rerank = nullptr;
  std::vector<size_t> rerank_factors = {1, 2, 5, 10, 20};
  bool verbose = true;
};

/// The knob values swept for a structure: {"nprobe=1", ...}, {"efSearch=16", ...}, {""}.
std::vector<std::string> sweep_params(const std::string& structure);

/// Records, one per operating point. ds.gt must hold at least k columns.
std::vector<nlohmann::ordered_json> bench_index(const Dataset& ds, const std::string& method,
                                                const IndexBenchOptions& opt);

/// A fixed-width table of index records.
std::string format_index_table(const std::vector<nlohmann::ordered_json>& records, size_t k);

}  // namespace embcomp

// FAISS indexes over compressed corpora (issue 4, native part): for methods FAISS has
// (Flat, SQ, FP16, PQ, RQ, with PCA/OPQ transforms) embcomp builds the native FAISS index
// for a structure given in FAISS's own grammar ("Flat", "IVF1024", "IVF1024_HNSW32",
// "HNSW32"), so that the saved file loads in stock FAISS 1.7.3 and gives the same
// results. Beside it, "<index>.json" records what FAISS's file cannot: the dataset's
// metric (angular means: normalize the queries), the method spec, n, d and the build
// times.
#pragma once

#include <faiss/Index.h>

#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "toolkit/matrix.h"
#include "toolkit/metric.h"

namespace embcomp {

/// The FAISS index_factory string for a method spec on a structure, e.g.
/// ("OPQ25,PQ25x8", "IVF1024") -> "OPQ25,IVF1024,PQ25x8". Throws kBadInput when the
/// method has no native FAISS index or the structure cannot hold it.
std::string faiss_factory_string(const std::string& method, const std::string& structure);

struct BuiltIndex {
  std::unique_ptr<faiss::Index> index;
  nlohmann::ordered_json meta;  ///< the sidecar record
};

/// Trains and fills the index on base (already normalized for angular data).
/// Deterministic: FAISS's k-means seeds are fixed. Progress on stderr when verbose.
BuiltIndex build_faiss_index(MatrixView<float> base, Metric metric, const std::string& method,
                             const std::string& structure, bool verbose);

/// Writes path (via a temporary name and rename) and path + ".json".
void save_index(const BuiltIndex& built, const std::string& path);

/// Reads an index written by save_index (or any FAISS index file, with metric from
/// the sidecar when present, else from the file's metric_type). Throws kBadInput with a
/// clear message for a truncated or foreign file.
BuiltIndex load_index(const std::string& path);

/// Applies "nprobe=16,efSearch=64" through faiss::ParameterSpace; throws kBadInput for a
/// parameter the index does not have.
void set_search_params(faiss::Index& index, const std::string& params);

}  // namespace embcomp

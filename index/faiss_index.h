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

/// Structure bounds checked before index_factory: HNSW M, IVF nlist.
constexpr int kMinHnswM = 2, kMaxHnswM = 256;
constexpr long kMaxNlist = long{1} << 24;
constexpr long long kMaxEfSearch = 1 << 20;

struct BuiltIndex {
  std::unique_ptr<faiss::Index> index;
  nlohmann::ordered_json meta;  ///< the sidecar record
  uint64_t build_id = 0;        ///< file_checksum64 of the file it was loaded from (load_index)
};

/// Trains and fills the index on base (already normalized for angular data).
/// Deterministic: FAISS's k-means seeds are fixed. Progress on stderr when verbose.
BuiltIndex build_faiss_index(MatrixView<float> base, Metric metric, const std::string& method,
                             const std::string& structure, bool verbose);

/// faiss::write_index to tmp_path (what names the final file in messages); kRuntime on failure.
void write_faiss_index(const faiss::Index& index, const std::string& tmp_path,
                       const std::string& what);

/// Writes path and path + ".json" (index/sidecar.h: with the build id) via temporary names,
/// committing the index first.
void save_index(const BuiltIndex& built, const std::string& path);

/// Reads an index written by save_index (or a FAISS index file of a type embcomp builds,
/// written by FAISS itself, with metric from the sidecar when present, else from the file's
/// metric_type) with bounded memory, after the walk of index/faiss_format.h, and a
/// structural check (index/faiss_reader.h). The sidecar, when present, must carry the
/// file's build id and agree on n, d and metric. Throws kBadInput with a clear message for a
/// truncated, corrupt or foreign file.
BuiltIndex load_index(const std::string& path);

/// Applies "nprobe=16,efSearch=64" through faiss::ParameterSpace. Values are integers
/// (the whole text), 1 <= nprobe <= nlist, 1 <= efSearch <= 2^20, other FAISS
/// parameters finite numbers; throws kBadInput otherwise and for a parameter the index does
/// not have.
void set_search_params(faiss::Index& index, const std::string& params);

}  // namespace embcomp

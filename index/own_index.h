// embcomp's own index (issue 4) for methods FAISS 1.7.3 has no index for (BF16, INT8,
// Binary, Binary-median, the table compressors SVD, GQ, Prune, TT, Dedup, MGPQ, MagSVD,
// and budget forms NAME@B). Two structures:
//   Flat       the compressed table, scanned whole (eval/knn.h search_table: SIMD scan
//              kernels for binary and INT8 codes, decoded blocks times BLAS otherwise)
//   IVF{nlist} a coarse quantizer of nlist centroids, trained by k-means
//              (faiss::Clustering, seeded) on the fp32 corpus; inverted list l holds the
//              ids of the rows whose nearest centroid is l (ascending). A query probes
//              its nprobe nearest centroids and scores the stored compressed rows of
//              those lists: binary codes by Hamming distance and INT8 codes by the scan
//              kernels of index/scan_kernels.h, every other method through
//              decode_rows (or Codec::decode_for_scan for the asymmetric first stage
//              of a two-stage search).
// The compressed rows stay in row order inside the table; the lists hold row ids.
//
// File format (little endian; toolkit/serialize.h for strings, vectors and sections):
//   magic     8 bytes "EMBCIDX\0"
//   version   u32 kOwnIndexVersion
//   "HEAD"    tag (the method's registry name), method spec, structure, metric,
//             seed, n, d, code_size (0 when the table is not a codec's row codes), nlist
//   "MODL"    the table's own save(): model and per-row data (each method's .cpp)
//   "CENT"    nlist * d floats, row-major (empty for Flat)
//   "LIST"    offsets: nlist + 1 u64 (list l = ids[offsets[l], offsets[l+1]));
//             ids: n int64 in list order (both empty for Flat)
//   "CSUM"    u64 count (4), then per section above its 4-byte name and u64 checksum64
//             (index/checksum.h) over its name, length and payload
// and nothing after. load() verifies every checksum before it interprets any section. A file with
// another magic is "not an embcomp index", a newer version is refused with the version numbers, and
// every size is checked before allocating. Memory (predicted_bytes): table total_bytes + ids +
// offsets + centroids, each heap block with malloc's 16-byte header, as index/faiss_memory.h counts
// FAISS's.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "compressors/table_compressor.h"
#include "eval/knn.h"
#include "toolkit/matrix.h"
#include "toolkit/metric.h"

namespace embcomp {

/// 2: a "CSUM" section after LIST (version 1 files are refused: rebuild them).
constexpr uint32_t kOwnIndexVersion = 2;
/// Most rows an own index holds (a corrupt header's n is refused before make_table).
constexpr size_t kMaxIndexRows = size_t{1} << 40;

enum class IndexKind { kFaiss, kOwn };

/// Which index `embcomp build` makes: FAISS's native one when faiss_factory_string
/// accepts the method on the structure, else embcomp's own for Flat and IVF{nlist}.
/// Throws kBadInput when neither can (e.g. BF16 on HNSW32), with both reasons.
IndexKind choose_index_kind(const std::string& method, const std::string& structure);

/// True when path starts with the own index's magic (false for a missing or short file).
bool is_own_index_file(const std::string& path);

struct OwnIndexParams {
  size_t nlist = 0;        ///< coarse centroids, "nlist" in Jegou et al. 2011; 0 = Flat
  int kmeans_niter = 20;   ///< k-means iterations of the coarse quantizer
  uint64_t seed = 1234;    ///< k-means sampling/initialisation and the method's own seed
  /// Parses "Flat" or "IVF{nlist}"; throws kBadInput otherwise.
  static OwnIndexParams from_structure(const std::string& structure, uint64_t seed);
};

class OwnIndex {
 public:
  /// Compresses base with method (make_table) and, for IVF, trains the coarse quantizer
  /// and fills the lists. base is already normalized for angular data. Deterministic in
  /// the seed. Throws kBadInput (nlist > n, a method that cannot be built).
  static OwnIndex build(MatrixView<float> base, Metric metric, const std::string& method,
                        const std::string& structure, uint64_t seed, bool verbose);
  /// Writes the index file to tmp_path (what names it in messages); the caller commits it.
  /// Throws kBadInput with "method X cannot be saved in an index yet" for a method without
  /// save().
  void write(const std::string& tmp_path, const std::string& what) const;
  /// Writes path and its sidecar (index/sidecar.h) atomically, the index committed first.
  void save(const std::string& path) const;
  /// Reads a file written by save(). Throws kBadInput for a foreign, truncated, corrupt,
  /// older- or newer-version file, or a sidecar of another build or with other n, d, metric.
  static OwnIndex load(const std::string& path);
  /// file_checksum64 of the file load() read (0 for a built index).
  uint64_t build_id() const { return build_id_; }

  /// "nprobe=16" (IVF only, 1 <= nprobe <= nlist); efSearch and unknown names are
  /// rejected with kBadInput.
  void set_params(const std::string& params);
  size_t nprobe() const { return nprobe_; }

  /// Top-k per query, best first; scores: inner product, squared L2, or Hamming distance
  /// for binary codes. With asymmetric, binary codes are ranked by the float query's
  /// inner product with their +-1 rows (the first stage of a two-stage search).
  /// k may exceed what the probed lists hold: missing entries are id -1.
  KnnResult search(MatrixView<float> queries, size_t k, bool asymmetric = false) const;

  size_t n() const { return table_->n(); }
  size_t d() const { return table_->d(); }
  size_t nlist() const { return nlist_; }
  const std::string& method() const { return method_; }
  const std::string& structure() const { return structure_; }
  Metric metric() const { return metric_; }
  const TableCompressor& table() const { return *table_; }
  /// Bytes held in memory, see the top of this file.
  size_t predicted_bytes() const;
  /// Build record: method, structure, metric, n, d, train_s, add_s, ...
  nlohmann::ordered_json meta;

 private:
  OwnIndex() = default;
  Metric search_metric() const { return metric_ == Metric::kL2 ? Metric::kL2 : Metric::kIP; }

  std::string method_, structure_;
  Metric metric_ = Metric::kL2;
  uint64_t seed_ = 1234;
  uint64_t build_id_ = 0;
  size_t nlist_ = 0;
  size_t nprobe_ = 1;
  std::unique_ptr<TableCompressor> table_;
  FloatMatrix centroids_;          ///< nlist x d, row-major
  std::vector<uint64_t> offsets_;  ///< nlist + 1 (empty for Flat)
  std::vector<int64_t> ids_;       ///< n row ids in list order (empty for Flat)
};

}  // namespace embcomp

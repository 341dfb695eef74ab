// PQ{M}x{nbits}: product quantization (Jegou, Douze, Schmid, TPAMI 2011), FAISS's
// ProductQuantizer. The d dimensions are cut into M sub-vectors of dsub = d / M; each is
// replaced by the index of its nearest of ksub = 2^nbits k-means centroids.
//   code_size   = ceil(M * nbits / 8)
//   model_bytes = M * ksub * dsub * 4 = ksub * d * 4 (the centroids)
// No polysemous training (it took >80% of training time and only reorders codes).
#pragma once

#include <faiss/impl/ProductQuantizer.h>

#include <initializer_list>
#include <vector>

#include "compressors/codec.h"

namespace embcomp {

/// FAISS's k-means prints "WARNING clustering N points to K centroids: please provide at
/// least ..." to stderr whenever N < K * cp.min_points_per_centroid (default 39), even under
/// -q: 80 lines for OPQ+PQ@0.25 on 1,000 rows (reliability #25). That field gates only the
/// warning (faiss/Clustering.cpp; N < K stays FAISS's error), and budget solvers and small
/// indexes choose such settings knowingly, so every k-means embcomp has FAISS run (PQ, RQ,
/// OPQ's inner PQ, IVF coarse quantizers, FAISS indexes) goes through this.
inline void quiet_kmeans(faiss::ClusteringParameters& cp) { cp.min_points_per_centroid = 1; }

struct PqParams {
  int M = 8;                       ///< sub-quantizers, "M" in Jegou et al. 2011
  int nbits = 8;                   ///< bits per sub-quantizer index; ksub = 2^nbits
  int niter = 25;                  ///< k-means iterations per sub-quantizer
  /// k-means sees at most min(max_train_rows, 256 * ksub) rows (a seeded sample): 256
  /// points per centroid is FAISS's own default cap.
  size_t max_train_rows = 65536;
  uint64_t seed = 1234;
  void validate(size_t d) const;
};

class PqCodec final : public Codec {
 public:
  PqCodec(size_t d, PqParams params);
  std::string spec() const override;
  size_t d() const override { return pq_.d; }
  size_t min_train_rows() const override { return pq_.ksub; }
  bool is_trained() const override { return trained_; }
  void train(MatrixView<float> x) override;
  size_t code_size() const override { return pq_.code_size; }
  size_t model_bytes() const override { return pq_.M * pq_.ksub * pq_.dsub * sizeof(float); }
  void encode(MatrixView<float> x, uint8_t* codes) const override;
  void decode(const uint8_t* codes, size_t n, float* x) const override;
  void save(BinaryWriter& w) const override;
  void load(BinaryReader& r) override;
  const faiss::ProductQuantizer& faiss_pq() const { return pq_; }

 private:
  PqParams params_;
  faiss::ProductQuantizer pq_;
  bool trained_ = false;
};

/// "PQ{M}x8" specs for dimension d with about d / dsub sub-quantizers for each dsub
/// given (M the largest divisor of d not above d / dsub), duplicates dropped.
std::vector<std::string> pq_family_specs(size_t d, std::initializer_list<size_t> dims_per_code);

}  // namespace embcomp

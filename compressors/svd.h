// SVD@r / SVD{rank}: truncated SVD of the whole table (the study's post-training SVD).
//   x (n x d) ~ (U S) Vt,  U S: n x rank (stored per row),  Vt: rank x d (the model)
//   decode row i = (U S)[i] * Vt
//   total_bytes = 4 * rank * (n + d)
// Budget form: rank = floor(n d b / (n + d)) (the largest rank whose bytes fit).
// The factors come from a randomized SVD (Halko, Martinsson, Tropp 2011, Alg. 4.4:
// Gaussian range finder, power iterations with re-orthonormalization, then an exact SVD
// of the small projected matrix), rows stored as U S = x Vt^T (the least-squares
// coefficients for the learned Vt).
#pragma once

#include <cstdint>
#include <vector>

#include "compressors/table_compressor.h"

namespace embcomp {

struct RsvdParams {
  size_t rank = 16;          ///< k in Halko et al.: singular triplets kept
  size_t oversample = 10;    ///< p: extra random directions, l = k + p
  int power_iters = 2;       ///< q: subspace iterations
  size_t block_rows = 8192;  ///< rows per OpenMP work item
  uint64_t seed = 1234;
  void validate(size_t n, size_t d) const;
};

struct RsvdResult {
  FloatMatrix vt;            ///< rank x d, orthonormal rows: the top right singular vectors
  std::vector<float> sigma;  ///< rank singular values, descending
};

/// Top right singular vectors of x (n x d) by randomized SVD. Deterministic in the seed.
RsvdResult randomized_svd(MatrixView<float> x, const RsvdParams& params);

/// coef (x.n x vt.n) = x * vt^T, parallel over row blocks.
void project_rows(MatrixView<float> x, const FloatMatrix& vt, float* coef);

class SvdTable final : public TableCompressor {
 public:
  /// spec: the canonical spec to report ("SVD16" or "SVD@0.1").
  SvdTable(size_t d, RsvdParams params, std::string spec);
  std::string spec() const override { return spec_; }
  std::string knob() const override { return "rank=" + std::to_string(params_.rank); }
  size_t d() const override { return d_; }
  size_t n() const override { return coef_.n; }
  void compress(MatrixView<float> x) override;
  size_t total_bytes() const override { return 4 * params_.rank * (coef_.n + d_); }
  size_t model_bytes() const override { return 4 * params_.rank * d_; }
  void decode_rows(const int64_t* ids, size_t count, float* out) const override;
  void save(BinaryWriter& w) const override;
  void load(BinaryReader& r) override;
  void decode_range(size_t start, size_t count, float* out) const override;
  /// The stored factors (for reference decoders in tests): U S (n x rank), V^T (rank x d).
  const FloatMatrix& coef() const { return coef_; }
  const FloatMatrix& vt() const { return vt_; }

 private:
  size_t d_;
  RsvdParams params_;
  std::string spec_;
  FloatMatrix coef_;  ///< U S: n x rank
  FloatMatrix vt_;    ///< rank x d
};

}  // namespace embcomp

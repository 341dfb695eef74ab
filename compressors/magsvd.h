// MagSVD: magnitude-grouped truncated SVD (one of the post-training compressors of
// Zhang et al., "Experimental Analysis of Large-scale Learnable Vector Storage
// Compression", VLDB 2024). The rows are split by L2 norm into g groups of equal total
// norm (compressors/magnitude_groups.h) and each group gets its own truncated SVD, with
// ranks following the mixed-dimension power rule (Ginart et al., "Mixed Dimension
// Embeddings with Application to Memory-Efficient Recommendation Systems", ISIT 2021):
// rank_k proportional to n_k^-alpha, alpha = 0.3, so the smaller high-norm groups get
// the higher ranks. A row -> (group, position) remap is kept and counted.
//
//   spec   MagSVD{g}r{r_1}-{r_2}-...-{r_g}   e.g. MagSVD2r20-12
//          regex MagSVD([0-9]+)r([0-9]+(?:-[0-9]+)*)
//          g groups, rank r_k for group k (group 1 = highest norms), r_1 >= ... >= r_g,
//          1 <= r_k <= d; a group of n_k < r_k rows uses rank n_k
//   budget MagSVD{g}@{budget}                e.g. MagSVD2@0.1
//
// Group k of n_k rows, rank r_k: x_k (n_k x d) ~ C_k Vt_k, C_k = x_k Vt_k^T (n_k x r_k,
// the least-squares coefficients, stored per row), Vt_k (r_k x d, orthonormal rows).
//   total_bytes = sum_k 4 * r_k * (n_k + d) + remap_bytes(n, g)
//   model_bytes = sum_k 4 * r_k * d
//   decode row i: k = group(i), p = position(i), out = sum_j C_k[p, j] Vt_k[j]
//
// Budget solver (at compress(), when the group sizes are known): with t_k = n_k^-alpha
// and cap_k = min(n_k, d), r_k(s) = clamp(floor(s * t_k), 1, cap_k) is non-decreasing in
// the scale s; a bisection on s (100 halvings between 0 and the scale at which every
// rank is capped) finds the largest s whose bytes fit; then the groups, in decreasing
// order of the fraction part of s * t_k (ties: higher norm first), each get one more
// rank when it still fits (largest-remainder rounding). The builder already rejects a
// budget that all ranks 1 miss: 4 (n + g d) + remap_bytes, whatever the split.
//
// Each group's Vt comes from randomized_svd (compressors/svd.h) on at most max_svd_rows
// of its rows (all of them below that; a seeded uniform sample above, so that a 1M x 768
// table needs no copy larger than 0.8 GB); every row is then projected on it.
#pragma once

#include <string>
#include <vector>

#include "compressors/magnitude_groups.h"
#include "compressors/svd.h"
#include "compressors/table_compressor.h"

namespace embcomp {

struct MagSvdParams {
  int groups = 2;                ///< g: magnitude groups
  std::vector<size_t> ranks;     ///< r_k per group, highest norms first; empty when budgeted
  double budget = 0;             ///< > 0: the ranks are solved from this fraction of 4 n d
  double alpha = 0.3;            ///< mixed-dimension exponent: r_k ~ n_k^-alpha (Ginart et al.)
  size_t max_svd_rows = 262144;  ///< each group's Vt is learned on at most this many rows
  uint64_t seed = 1234;
  void validate(size_t d) const;
};

/// Exact total bytes for ranks r_k and group sizes n_k (formula above).
size_t magsvd_bytes(size_t d, const std::vector<size_t>& ranks,
                    const std::vector<size_t>& group_sizes);

/// The budget solver above. Throws kBadInput "... cannot be met" naming spec.
std::vector<size_t> solve_magsvd_ranks(const std::string& spec, size_t d,
                                       const std::vector<size_t>& group_sizes, double budget_bytes,
                                       double alpha = 0.3);

class MagSvdTable final : public TableCompressor {
 public:
  MagSvdTable(size_t d, MagSvdParams params, std::string spec);
  std::string spec() const override { return spec_; }
  /// "ranks=20/12"; "" before compress() when budgeted.
  std::string knob() const override;
  size_t d() const override { return d_; }
  size_t n() const override { return remap_.n(); }
  size_t min_rows() const override { return kMinGroupRows * size_t(params_.groups); }
  void compress(MatrixView<float> x) override;
  size_t total_bytes() const override;
  size_t model_bytes() const override;
  void decode_rows(const int64_t* ids, size_t count, float* out) const override;
  void save(BinaryWriter& w) const override;
  void load(BinaryReader& r) override;

  /// Ranks in use, highest norms first (after compress() when budgeted).
  const std::vector<size_t>& ranks() const { return ranks_; }
  const GroupRemap& remap() const { return remap_; }
  /// Group k's factors (for reference decoders in tests): coefficients n_k x r_k in
  /// storage order, V_k^T r_k x d.
  const FloatMatrix& coef(size_t k) const { return coef_[k]; }
  const FloatMatrix& vt(size_t k) const { return vt_[k]; }

 private:
  size_t d_;
  MagSvdParams params_;
  std::string spec_;
  std::vector<size_t> ranks_;
  GroupRemap remap_;
  std::vector<FloatMatrix> coef_;  ///< coef_[k]: n_k x r_k, storage order
  std::vector<FloatMatrix> vt_;    ///< vt_[k]: r_k x d
};

}  // namespace embcomp

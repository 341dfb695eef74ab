// OptEmbed: learned row pruning and per-field dimensions (Lyu, Dong, Huang, Li, Tang, Wang,
// Li, "OptEmbed: Learning Optimal Embedding Table for Click-through Rate Prediction", CIKM
// 2022). A supernet (the full N x D table) is trained with a learnable pruning threshold per
// field on the rows' L1 norms and with random per-field dimension masks; then every field
// gets a dimension, and the final table stores only the kept rows, at their field's width.
//
// Search (steps 1 .. T, searching() is true), f = field of id, W: N x D (init uniform(+-0.05)),
// thresholds t_f (F floats, init 0), d~_f the dimension mask of the step (uniform in 1..D per
// field, redrawn after every step from mt19937_64(seed)):
//   m(id)      = H(|W[id]|_1 - t_f)                           (H: unit step)
//   lookup(id) = m(id) W[id] (.) [j < d~_f]
//   backward with g = dL/dout, s = sum_{j < d~_f} g_j W[id]_j (= dL/dm), h = H'(|W[id]|_1 - t_f):
//     dW[id]_j += m g_j [j < d~_f] + s h sign(W[id]_j),     dt_f += -s h
//   H' (straight-through surrogate): 2 - 4|x| for |x| <= 0.4, 0.4 for 0.4 < |x| <= 1, else 0
//   step: W (row-wise) and t with the table's optimizer; t also gets the paper's threshold
//     regularizer lambda sum_f exp(-t_f) (it raises thresholds, i.e. prunes more). It is off
//     by default (lambda = 0): with Adam its normalized gradient raises a threshold by about
//     lr per step whenever the field's loss gradient is weaker, so rows would be pruned by
//     the length of the search rather than by their use; the budget rule prunes instead.
//   Dimension importance (for the choice below), accumulated over the search on kept rows:
//     I_fj += (sum over the step's ids of field f of g_j W[id]_j)^2   (first-order Taylor
//     estimate of the loss change from removing or adding dimension j of field f)
// End of the search:
//   d_f  = the smallest d with sum_{j < d} I_fj >= rho sum_j I_fj (1 when I_f is all 0)
//   kept = the rows with |W[r]|_1 > t_f; while the final bytes exceed the budget C, the kept
//          row with the smallest |W[r][0 .. d_f)|_1 is dropped (ties: the lower id)
//   V_f  = the kept rows of field f, their first d_f values (k_f x d_f); optimizer restarts
// Final (searching() is false):
//   lookup(id) = kept(id) ? [V_f[rank(id) - rank(offset_f)], zeros(D - d_f)] : zeros(D)
//   backward:   dV_f[row] += g[0 .. d_f) for kept ids
//   kept is a bitmap with a rank directory (RowGroups), so a row's position costs no map.
//
// Memory (bytes()):
//   final:  4 sum_f k_f d_f + 8 ceil(N / 64) + 4 ceil(N / 512) + 4 F  (V, bitmap, rank
//           directory, d_f)
//   search: 4 N D + 4 F                                                (W, t)
//
// Budget ("OptEmbed@B", C = floor(B 4 N D)): the final bytes never exceed C (rows are dropped
// by norm as above); a budget below the fixed arrays (bitmap, directory, d_f) is kBadInput.
// "OptEmbed" without a budget keeps every row the thresholds keep.
//
// Deviations from the paper: (1) the dimensions come from the Taylor-importance rule above
// instead of the paper's evolutionary search over dimension vectors on validation AUC (a
// table sees gradients, not the validation loss); (2) thresholds are trained on the
// training batches together with the weights; (3) the final table continues from the
// supernet's values (the paper retrains the selected architecture from its initialization);
// (4) rows dropped to meet a budget are dropped by norm, which the paper does not need (it
// has no budget); (5) the search is half the run (TableInit::schedule_steps); (6) the
// threshold regularizer is off by default (above).
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "compressors/emb_dpq.h"
#include "compressors/emb_params.h"
#include "compressors/emb_table.h"

namespace embcomp::ctr {

/// Search length when TableInit::schedule_steps is 0 (the trainer sets half the run).
inline constexpr int64_t kOptEmbedSearchSteps = 1000;

struct OptEmbedParams {
  int64_t budget_bytes = 0;                     ///< C, final bytes allowed; 0: no budget
  int64_t search_steps = kOptEmbedSearchSteps;  ///< T, steps of the supernet phase
  float lambda = 0.0f;  ///< threshold regularizer weight, lambda sum_f exp(-t_f) (off: header)
  float rho = 0.95f;    ///< share of a field's dimension importance its d_f keeps
  uint64_t seed = 1;    ///< init and dimension masks
  /// Checks search_steps >= 1, budget_bytes >= 0, lambda >= 0, 0 < rho <= 1.
  void validate() const;
};

/// H'(x), the straight-through surrogate of the unit step's derivative (file comment).
float optembed_step_grad(float x);

/// d_f from the importances of one field (D values): the smallest d whose prefix holds at
/// least rho of the total (1 when the total is 0).
int optembed_choose_dim(const double* importance, int D, float rho);

class OptEmbedTable final : public EmbeddingTable {
 public:
  OptEmbedTable(const TableInit& init, const OptEmbedParams& p, std::string spec);
  std::string spec() const override { return spec_; }
  /// "search" while searching, then "kept=k_1/../k_F,dims=d_1/../d_F".
  std::string knob() const override;
  int64_t rows() const override { return n_; }
  int dim() const override { return D_; }
  void lookup(const int64_t* ids, int64_t n, float* out) override;
  void backward(const int64_t* ids, int64_t n, const float* grad_out) override;
  void step() override;
  int64_t bytes() const override;
  int64_t optimizer_bytes() const override;
  std::vector<std::pair<void*, size_t>> buffers() override;
  std::string budget_note() const override { return note_; }
  bool searching() const override { return searching_; }

  /// Ends the search now (step() calls it after T steps).
  void end_search();
  int num_fields() const { return F_; }
  int field_of(int64_t id) const;
  /// Search arrays: W (N x D), thresholds t (F) with gradients, the step's mask widths d~_f.
  RowParams& weights() { return w_; }
  DenseParams& thresholds() { return t_; }
  std::vector<int>& mask_dims() { return mask_; }
  /// Accumulated dimension importance I (F x D, row-major by field).
  const std::vector<double>& importance() const { return imp_; }
  /// After the search: d_f, kept rows per field, whether a row is kept.
  const std::vector<int32_t>& dims() const { return dims_; }
  int64_t kept_rows(int f) const { return kept_count_[f]; }
  bool kept(int64_t id) const { return kept_.is_hot(id); }
  /// Fixed final bytes: bitmap, rank directory, d_f.
  static int64_t fixed_bytes(int64_t rows, int fields) {
    return RowGroups::bytes_for(rows) + 4 * int64_t(fields);
  }

 private:
  void draw_masks();

  OptEmbedParams p_;
  std::string spec_, note_;
  int64_t n_;
  int D_, F_;
  std::vector<int64_t> offsets_;
  bool searching_ = true;
  int64_t t_step_ = 0;
  // Search.
  RowParams w_;
  DenseParams t_;
  std::vector<int> mask_;  // F widths d~_f of the current step
  std::mt19937_64 rng_;
  std::vector<double> imp_;       // F x D accumulated importance
  std::vector<double> step_imp_;  // F x D sums of g_j W_j of the current step
  // Final.
  RowGroups kept_;
  std::vector<int32_t> dims_;                // F
  std::vector<RowParams> v_;                 // F blocks k_f x d_f (empty when k_f = 0)
  std::vector<int64_t> kept_count_, rank0_;  // k_f and rank(offset_f): derived from kept_
  OptimizerConfig opt_;
};

}  // namespace embcomp::ctr

// PEP: Plug-in Embedding Pruning (Liu, Li, Guo, Luo, Yan, Liu, "Learnable Embedding Sizes
// for Recommender Systems", ICLR 2021). Each embedding weight v is soft-thresholded by a
// learnable threshold: w = sign(v) ReLU(|v| - g(s)), g = sigmoid; the thresholds are learned
// with the weights, so the loss decides how much of each field and dimension is pruned. The
// pruned table is then retrained with its mask fixed and stored sparse.
//
// Threshold granularity: one s per (field, dimension) ("feature-dimension" in the paper),
// s: F x D floats, initialized to s0 = -6 (g(s0) = 0.0025, 5% of the init range 0.05).
//
// Storage and lookup: the sparse store of DeepLight (compressors/emb_deeplight.h), K stored
// entries in CSR or COO:
//   lookup(id) = zeros(D); for each stored entry (id, j, val): out[j] = val
//   bytes() = CSR 4 (N + 1) + (4 + cb) K, or COO 8 K   (the thresholds are not needed at
//             inference: the stored values are already thresholded)
//
// Training (T = TableInit::schedule_steps, default 1000 steps), f = field of row r:
//   while t <= T (pruning phase), entry (r, j) has the value
//       w_rj = sign(v_rj) max(|v_rj| - g(s_fj), 0)
//     the store holds the K entries with the largest |w| (ties: lower position), re-selected
//     every delta = max(1, T / 100) steps; the store's values are w (refreshed for the rows
//     touched in a step, and for all rows at each re-selection);
//     backward, with u = 1[|v_rj| > g(s_fj)] and g_j = dL/dout_j:
//       grad v_rj += g_j u                     (the budget cap is straight-through: entries
//                                               with w != 0 outside the top K learn as if kept)
//       grad s_fj += -g_j sign(v_rj) u g(s_fj) (1 - g(s_fj))
//     step: v and s by the table's optimizer (v row-wise lazy, s dense every step)
//   at t = T (end of the search): the last selection is frozen; v := the stored w at the
//     stored entries; afterwards the stored values are trained directly with the mask fixed
//     (the retraining phase).
// Training-time extra (optimizer_bytes(), not bytes()): v (4 N D) and its optimizer state, s
// (4 F D) and its optimizer state.
//
// When the budget is met: at every moment (the store has the fixed capacity K from
// construction and lookup reads only the store), so every model a trainer evaluates or
// checkpoints through buffers() is within the budget.
// Deviations from PEP: (1) the paper's pruning phase uses every w != 0 in the forward pass
// and reaches a sparsity set by the threshold init; here the forward pass is capped at the K
// largest |w| so that the budget holds throughout, and the pruning phase has a fixed length
// T; (2) the paper retrains the pruned structure from its initial values (lottery-ticket
// rewinding); here the retraining continues from the values at the end of the search.
// Rows not touched in a step keep their stored values until the next re-selection although
// the shared thresholds moved (at most delta steps old).
//
// Budget solver ("PEP@B"): DeepLight's (solve_sparse_budget): the format with the larger K.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compressors/emb_deeplight.h"
#include "compressors/emb_params.h"
#include "compressors/emb_table.h"

namespace embcomp::ctr {

/// Initial threshold parameter s0 (g(s0) = sigmoid(-6) = 0.0025).
inline constexpr float kPepThresholdInit = -6.0f;

class PepTable final : public PrunedSparseTable {
 public:
  PepTable(const TableInit& init, const SparseBudget& b, std::string spec);
  /// Thresholds s (F x D, row-major by field), with their gradient.
  DenseParams& thresholds() { return s_; }
  int field_of(int64_t r) const;
  /// g(s) = 1 / (1 + exp(-s)).
  static float gate(float s) { return 1.0f / (1.0f + std::exp(-s)); }

 protected:
  float value(int64_t r, int j) const override;
  void shadow_grad(int64_t r, const float* g, float* gw) override;
  void after_update(const std::vector<int64_t>& touched) override;
  void finish_schedule() override;
  int64_t extra_bytes() const override;

 private:
  std::vector<int64_t> offsets_;
  DenseParams s_;
};

}  // namespace embcomp::ctr

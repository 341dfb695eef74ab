// ALPT: adaptive low-precision training (Li, Guo, Hou, Zhang, Tang, Tang, Zhang, Li,
// "Adaptive Low-Precision Training for Embeddings in Click-Through Rate Prediction",
// AAAI 2023). Rows are int8 codes q_r with a LEARNED per-row step size Delta_r (the
// quantization resolution); the float weights exist only inside step().
//
//   lookup(id) = Delta_id * q_id                              (de-quantize)
//   backward   grad[id] += dL/dout
//   step, per touched row r with g = grad[r]:
//     w      = Delta_r * q_r
//     w'     = optimizer(w, g)                                (float moments per element)
//     fake quantization of w' with STE for the rounding (Esser et al.'s LSQ gradient):
//       v_j  = w'_j / Delta_r
//       d(Delta * clip(round(v_j), -Q, Q)) / dDelta = round(v_j) - v_j   if |v_j| <= Q
//                                                  = sign(v_j) Q        otherwise
//     gDelta = sum_j g_j * that                              (alpt_scale_grad)
//     Delta_r' = max(optimizer_Delta(Delta_r, gDelta), min_scale)
//     q_r'   = clamp(floor(w' / Delta_r' + u), -Q, Q)       stochastic rounding,
//              u = uniform[0,1) from hash(seed, step, r D + j)  (as INT8)
//   init: as INT8 (w0 = uniform(-0.05, 0.05), Delta_r = max|w0_r| / 127, q = round(w0/Delta))
//   bytes() = N D + 4 N                                       (codes, float Delta per row)
//
// One pass instead of the paper's two: ALPT differentiates the loss of the fake-quantized
// updated weights with respect to Delta, which needs a second forward pass on the batch;
// a table sees one lookup per batch, so the embedding gradient g of this batch stands in
// for the gradient at the updated weights (their difference is O(lr)).
// Delta has its own optimizer state (one value per row, same kind as the table's) and
// learning rate lr * scale_lr_ratio: Delta ~ range / 127, so the default ratio 1/127 moves
// Delta at the same relative pace as the weights.
// Budget: fixed 0.25 + 1/D of fp32, as INT8 ("ALPT" primary, "ALPT@B" for B >= ratio).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "compressors/emb_int.h"
#include "compressors/emb_table.h"

namespace embcomp::ctr {

struct AlptParams {
  float scale_lr_ratio = 1.0f / 127;  ///< step-size learning rate / weight learning rate
  float min_scale = 1e-8f;            ///< Delta is kept >= this (a step size must be > 0)
  uint64_t seed = 1;                  ///< init and rounding noise
  void validate() const;
};

/// sum_j g_j * d(Delta * clip(round(w_j / Delta), -qmax, qmax)) / dDelta with the
/// straight-through estimator for round (the formula in the header comment).
double alpt_scale_grad(const float* w, const float* g, int n, float delta, int32_t qmax);

class AlptTable final : public EmbeddingTable {
 public:
  static constexpr int32_t kQ = 127;
  AlptTable(const TableInit& init, const AlptParams& params, std::string spec);
  std::string spec() const override { return spec_; }
  std::string knob() const override { return "bits=8"; }
  int64_t rows() const override { return n_; }
  int dim() const override { return d_; }
  void lookup(const int64_t* ids, int64_t n, float* out) override;
  void backward(const int64_t* ids, int64_t n, const float* grad_out) override;
  void step() override;
  int64_t bytes() const override { return bytes_for(n_, d_); }
  int64_t optimizer_bytes() const override;
  std::vector<std::pair<void*, size_t>> buffers() override;
  std::string budget_note() const override { return note_; }
  void set_budget_note(std::string note) { note_ = std::move(note); }

  static int64_t bytes_for(int64_t rows, int dim) { return rows * dim + 4 * rows; }
  const int8_t* codes(int64_t r) const { return q_.data() + r * d_; }
  float scale(int64_t r) const { return delta_[r]; }
  float& scale_ref(int64_t r) { return delta_[r]; }
  int8_t* codes_ref(int64_t r) { return q_.data() + r * d_; }

 private:
  AlptParams p_;
  std::string spec_, note_;
  int64_t n_;
  int d_;
  std::vector<int8_t> q_;     // N x D codes, row-major
  std::vector<float> delta_;  // N learned step sizes
  SparseRowGrad grad_;
  RowOptimizer opt_;        // N x D weights
  RowOptimizer scale_opt_;  // N x 1 step sizes
};

}  // namespace embcomp::ctr

// RowParams: a block of trainable rows (rows x width floats) with its optimizer state
// and row-wise sparse updates, shared by the CTR embedding tables (compressors/emb_*).
//
//   accumulate(r, g)   grad[r] += g            (rows touched this batch are remembered)
//   step(opt)          for each touched row r:  SGD      w -= lr g
//                                                Adagrad  a += g^2; w -= lr g / (sqrt(a)+eps)
//                                                Adam     m = b1 m + (1-b1) g
//                                                         v = b2 v + (1-b2) g^2
//                                                         w -= lr mhat / (sqrt(vhat)+eps)
//                      (Adam's bias correction uses the table's global step count, as
//                      PyTorch's SparseAdam does), then clears the gradients.
// Untouched rows and their optimizer state never change (lazy sparse updates).
#pragma once

#include <cstdint>
#include <vector>

#include "compressors/emb_table.h"

namespace embcomp::ctr {

class RowParams {
 public:
  RowParams() = default;
  /// rows x width parameters, initialized uniform(-init_range, init_range) from
  /// (seed, row): the values do not depend on the thread count.
  RowParams(int64_t rows, int width, float init_range, uint64_t seed);

  int64_t rows() const { return rows_; }
  int width() const { return width_; }
  float* row(int64_t r) { return w_.data() + r * width_; }
  const float* row(int64_t r) const { return w_.data() + r * width_; }
  float* data() { return w_.data(); }
  const float* data() const { return w_.data(); }

  /// grad[r] += scale * g (width floats).
  void accumulate(int64_t r, const float* g, float scale = 1.0f);
  /// The accumulated gradient of row r, or nullptr when r was not touched.
  const float* grad(int64_t r) const;
  /// Applies the accumulated gradients with opt and clears them.
  void step(const OptimizerConfig& opt);
  /// Clears accumulated gradients without applying them.
  void zero_grad();

  /// Parameter bytes: rows * width * 4.
  int64_t bytes() const { return rows_ * width_ * 4; }
  /// Optimizer state bytes for opt: Adam 2x, Adagrad 1x, SGD 0 (allocated on first step).
  static int64_t optimizer_bytes(int64_t rows, int width, const OptimizerConfig& opt);

 private:
  int64_t rows_ = 0;
  int width_ = 0;
  int64_t t_ = 0;                  // Adam step count
  std::vector<float> w_;
  std::vector<float> s1_, s2_;     // Adagrad accumulator / Adam moments
  std::vector<int32_t> slot_;      // row -> slot in g_, -1 when untouched
  std::vector<int64_t> touched_;   // rows with a slot, in first-touch order
  std::vector<float> g_;           // touched_.size() x width
};

/// Dense parameters (MLP weights, projections, TT cores) updated with the same
/// optimizer every step; grad is filled by the owner and cleared by step().
class DenseParams {
 public:
  DenseParams() = default;
  DenseParams(int64_t size, float init_range, uint64_t seed);
  int64_t size() const { return static_cast<int64_t>(w_.size()); }
  float* data() { return w_.data(); }
  const float* data() const { return w_.data(); }
  float* grad() { return g_.data(); }
  void step(const OptimizerConfig& opt);
  int64_t bytes() const { return size() * 4; }

 private:
  int64_t t_ = 0;
  std::vector<float> w_, g_, s1_, s2_;
};

/// The one optimizer update of the CTR code: n parameters w with gradient g and state s1
/// (Adagrad accumulator / Adam first moment) and s2 (Adam second moment); bc1, bc2 are
/// Adam's bias corrections 1 - beta^t. Formulas in the file comment.
void optimizer_update(const OptimizerConfig& opt, float* w, const float* g, float* s1, float* s2,
                      int n, float bc1, float bc2);

/// Allocates optimizer state for n parameters on first use (SGD: none).
void ensure_optimizer_state(const OptimizerConfig& opt, size_t n, std::vector<float>& s1,
                            std::vector<float>& s2);

/// Deterministic uniform(-1, 1) from (seed, index): the init of every table parameter.
float hashed_uniform(uint64_t seed, uint64_t index);

}  // namespace embcomp::ctr

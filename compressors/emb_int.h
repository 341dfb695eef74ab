// INT8 / INT16: embedding tables stored quantized during training (low-precision training,
// as analysed by Li et al., "Adaptive Low-Precision Training for Embeddings in
// Click-Through Rate Prediction", AAAI 2023: stochastic rounding keeps the update unbiased
// where round-to-nearest would drop every update smaller than half a step).
// Each row r keeps int codes q_r (D values in [-Q, Q], Q = 127 or 32767) and one float
// scale s_r (symmetric, per row):
//
//   lookup(id)  = s_id * q_id                               (dequantized on the fly)
//   backward    grad[id] += dL/dout                         (float, per touched row)
//   step, per touched row r:
//     w   = s_r * q_r                                       (float)
//     w'  = optimizer(w, grad[r])                           (SGD / Adagrad / Adam, float
//                                                           moments per element)
//     if max|w'| > Q s_r:  s_r' = max|w'| / Q,  v = w' / s_r'   (the scale only grows)
//     else:                s_r' = s_r,          v = q_r + (w' - w) / s_r
//     q_r' = clamp(floor(v + u), -Q, Q),  u = uniform[0,1) from hash(seed, step, r D + j)
//   init: w0 = uniform(-0.05, 0.05) as in Full, s_r = max|w0_r| / Q, q_r = round(w0_r / s_r)
//   bytes() = N D (bits / 8) + 4 N          (codes, and the per-row float scales)
//
// So budget_actual is fixed: INT8 0.25 + 1/D, INT16 0.5 + 1/D (0.3125 and 0.5625 at
// D = 16). "INT8" is the primary spec; "INT8@B" is accepted for B >= the ratio (with a
// budget_note when the ratio is not within 2% below B), a smaller B is kBadInput.
// Why the delta form: re-rounding w' / s_r would add fresh rounding noise to elements whose
// update is zero (Adam still moves them, SGD does not): with the delta form an element
// that did not move keeps its code exactly.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "compressors/emb_params.h"
#include "compressors/emb_table.h"

namespace embcomp::ctr {

/// Sparse row gradients without weights (the quantized tables keep their own storage):
/// the gradient-accumulation half of RowParams.
class SparseRowGrad {
 public:
  SparseRowGrad() = default;
  SparseRowGrad(int64_t rows, int width) : width_(width), slot_(rows, -1) {}
  void accumulate(int64_t r, const float* g);
  int64_t touched() const { return static_cast<int64_t>(touched_.size()); }
  int64_t row(int64_t i) const { return touched_[i]; }                   ///< i-th touched row
  const float* grad(int64_t i) const { return g_.data() + i * width_; }  ///< its gradient
  void clear();

 private:
  int width_ = 0;
  std::vector<int32_t> slot_;     // row -> slot, -1 when untouched
  std::vector<int64_t> touched_;  // rows, in first-touch order
  std::vector<float> g_;          // touched x width
};

/// Element-wise optimizer state (Adagrad accumulator, Adam moments) for rows x width
/// parameters stored elsewhere, with the same formulas and bias correction as RowParams
/// (a test checks they agree).
class RowOptimizer {
 public:
  RowOptimizer() = default;
  RowOptimizer(int64_t rows, int width, const OptimizerConfig& opt);
  /// Starts a step: allocates the state on the first one, counts the step and computes
  /// Adam's bias corrections.
  void begin_step();
  /// One update of row r's n = width parameters w (in place) with gradient g.
  void update(int64_t r, float* w, const float* g);
  const OptimizerConfig& config() const { return opt_; }
  int64_t step_count() const { return t_; }

 private:
  OptimizerConfig opt_;
  int width_ = 0;
  int64_t rows_ = 0;
  int64_t t_ = 0;
  float bc1_ = 1, bc2_ = 1;
  std::vector<float> s1_, s2_;
};

/// Largest D of the quantized tables (their step keeps one row in a stack buffer).
constexpr int kQuantMaxDim = 512;

/// Uniform [0, 1) from (seed, step, index): the stochastic rounding noise, independent of
/// threads and of the order rows are visited.
float rounding_noise(uint64_t seed, uint64_t step, uint64_t index);

/// floor(v + u) clamped to [-qmax, qmax].
inline int32_t stochastic_round(float v, float u, int32_t qmax) {
  const float r = std::floor(v + u);
  return r > float(qmax) ? qmax : r < float(-qmax) ? -qmax : static_cast<int32_t>(r);
}

/// Row r of the init every table starts from (Full's: w_j = 0.05 hashed_uniform(seed,
/// r d + j)), quantized: scale s = max(max_j |w_j| / qmax, min_scale), q_j = round(w_j / s).
/// Writes the d codes and returns s.
template <class Code>
float init_quantized_row(uint64_t seed, int64_t r, int d, int32_t qmax, float min_scale, Code* q) {
  float w[kQuantMaxDim];
  float m = 0;
  for (int j = 0; j < d; ++j) {
    w[j] = 0.05f * hashed_uniform(seed, static_cast<uint64_t>(r * d + j));
    m = std::max(m, std::abs(w[j]));
  }
  const float s = std::max(m / float(qmax), min_scale);
  for (int j = 0; j < d; ++j) q[j] = static_cast<Code>(s > 0 ? std::lround(w[j] / s) : 0);
  return s;
}

/// INT8 (Code = int8_t) and INT16 (Code = int16_t) tables.
template <class Code>
class IntTable final : public EmbeddingTable {
 public:
  static constexpr int32_t kQ = sizeof(Code) == 1 ? 127 : 32767;  ///< Q, largest code
  /// init.seed draws the init and the rounding noise.
  IntTable(const TableInit& init, std::string spec);
  std::string spec() const override { return spec_; }
  std::string knob() const override { return "bits=" + std::to_string(8 * sizeof(Code)); }
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

  /// N D sizeof(Code) + 4 N.
  static int64_t bytes_for(int64_t rows, int dim) {
    return rows * dim * int64_t(sizeof(Code)) + 4 * rows;
  }
  const Code* codes(int64_t r) const { return q_.data() + r * d_; }
  float scale(int64_t r) const { return s_[r]; }
  int64_t step_count() const { return opt_.step_count(); }

 private:
  std::string spec_, note_;
  int64_t n_;
  int d_;
  uint64_t seed_;
  std::vector<Code> q_;   // N x D codes, row-major
  std::vector<float> s_;  // N per-row scales
  SparseRowGrad grad_;
  RowOptimizer opt_;
};

using Int8Table = IntTable<int8_t>;
using Int16Table = IntTable<int16_t>;

}  // namespace embcomp::ctr

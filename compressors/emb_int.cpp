#include "compressors/emb_int.h"

#include <algorithm>
#include <cmath>

#include "compressors/budget.h"
#include "compressors/emb_full.h"
#include "compressors/emb_params.h"
#include "toolkit/error.h"
#include "toolkit/hash.h"

namespace embcomp::ctr {
void SparseRowGrad::accumulate(int64_t r, const float* g) {
  int32_t s = slot_[r];
  if (s < 0) {
    s = static_cast<int32_t>(touched_.size());
    slot_[r] = s;
    touched_.push_back(r);
    g_.resize(touched_.size() * width_, 0.0f);
  }
  float* dst = g_.data() + static_cast<size_t>(s) * width_;
  for (int j = 0; j < width_; ++j) dst[j] += g[j];
}

void SparseRowGrad::clear() {
  for (int64_t r : touched_) slot_[r] = -1;
  touched_.clear();
  g_.clear();
}

RowOptimizer::RowOptimizer(int64_t rows, int width, const OptimizerConfig& opt)
    : opt_(opt), width_(width), rows_(rows) {}

void RowOptimizer::begin_step() {
  // State is allocated on the first step (as RowParams does): a table used only for
  // inference never pays for it.
  ensure_optimizer_state(opt_, static_cast<size_t>(rows_) * width_, s1_, s2_);
  ++t_;
  bc1_ = 1.0f - std::pow(opt_.beta1, static_cast<float>(t_));
  bc2_ = 1.0f - std::pow(opt_.beta2, static_cast<float>(t_));
}

void RowOptimizer::update(int64_t r, float* w, const float* g) {
  const size_t off = static_cast<size_t>(r) * width_;
  optimizer_update(opt_, w, g, s1_.empty() ? nullptr : s1_.data() + off,
                   s2_.empty() ? nullptr : s2_.data() + off, width_, bc1_, bc2_);
}

float rounding_noise(uint64_t seed, uint64_t step, uint64_t index) {
  const uint64_t h = splitmix64(splitmix64(seed ^ 0xA0761D6478BD642Full) ^
                                splitmix64(step * 0xE7037ED1A0B428DBull ^ index));
  return static_cast<float>(h >> 40) * 0x1.0p-24f;  // 24 bits: exactly representable
}

template <class Code>
IntTable<Code>::IntTable(const TableInit& init, std::string spec)
    : spec_(std::move(spec)),
      n_(init.rows),
      d_(init.dim),
      seed_(init.seed),
      q_(static_cast<size_t>(init.rows) * init.dim),
      s_(init.rows),
      grad_(init.rows, init.dim),
      opt_(init.rows, init.dim, init.optimizer) {
  EC_CHECK(d_ >= 1 && d_ <= kQuantMaxDim, kBadInput,
           spec_ << ": D=" << d_ << " must be in [1, " << kQuantMaxDim << "]");
  const int d = d_;
#pragma omp parallel for schedule(static) if (n_ > 4096)
  for (int64_t r = 0; r < n_; ++r)
    s_[r] = init_quantized_row(seed_, r, d, kQ, 0.0f, q_.data() + r * d);
}

template <class Code>
void IntTable<Code>::lookup(const int64_t* ids, int64_t n, float* out) {
  check_table_ids(ids, n, n_);
  const int d = d_;
#pragma omp parallel for schedule(static) if (n > 16384)
  for (int64_t i = 0; i < n; ++i) {
    const Code* q = q_.data() + ids[i] * d;
    const float s = s_[ids[i]];
    float* o = out + i * d;
    for (int j = 0; j < d; ++j) o[j] = s * float(q[j]);
  }
}

template <class Code>
void IntTable<Code>::backward(const int64_t* ids, int64_t n, const float* grad_out) {
  check_table_ids(ids, n, n_);
  for (int64_t i = 0; i < n; ++i) grad_.accumulate(ids[i], grad_out + i * d_);
}

template <class Code>
void IntTable<Code>::step() {
  opt_.begin_step();
  const uint64_t t = static_cast<uint64_t>(opt_.step_count());
  const int64_t m = grad_.touched();
  const int d = d_;
#pragma omp parallel for schedule(static) if (m > 2048)
  for (int64_t i = 0; i < m; ++i) {
    const int64_t r = grad_.row(i);
    Code* q = q_.data() + r * d;
    const float s = s_[r];
    float w[kQuantMaxDim], w0[kQuantMaxDim];
    for (int j = 0; j < d; ++j) w0[j] = w[j] = s * float(q[j]);
    opt_.update(r, w, grad_.grad(i));
    float mx = 0;
    for (int j = 0; j < d; ++j) mx = std::max(mx, std::abs(w[j]));
    const bool grow = mx > kQ * s;
    const float s1 = grow ? mx / kQ : s;
    for (int j = 0; j < d; ++j) {
      // s == 0 (an all-zero row) and nothing moved: the codes stay 0.
      const float v = grow ? w[j] / s1 : s > 0 ? float(q[j]) + (w[j] - w0[j]) / s : float(q[j]);
      q[j] = static_cast<Code>(
          stochastic_round(v, rounding_noise(seed_, t, static_cast<uint64_t>(r * d + j)), kQ));
    }
    s_[r] = s1;
  }
  grad_.clear();
}

template <class Code>
int64_t IntTable<Code>::optimizer_bytes() const {
  return RowParams::optimizer_bytes(n_, d_, opt_.config());
}

template <class Code>
std::vector<std::pair<void*, size_t>> IntTable<Code>::buffers() {
  return {{q_.data(), q_.size() * sizeof(Code)}, {s_.data(), s_.size() * sizeof(float)}};
}

template class IntTable<int8_t>;
template class IntTable<int16_t>;

namespace {

template <class Code>
std::unique_ptr<EmbeddingTable> make_int(const std::string& spec, double budget,
                                         const TableInit& init) {
  const double full = 4.0 * init.rows * init.dim;
  const double ratio = IntTable<Code>::bytes_for(init.rows, init.dim) / full;
  if (budget > 0 && ratio > budget)
    budget_unreachable(spec, budget * full, full,
                       std::to_string(8 * sizeof(Code)) + "-bit codes with per-row scales",
                       size_t(IntTable<Code>::bytes_for(init.rows, init.dim)));
  auto t = std::make_unique<IntTable<Code>>(init, spec);
  if (budget > 0) t->set_budget_note(budget_gap_note(ratio, budget, "the code width is fixed"));
  return t;
}

TableRegistrar reg8{{"INT8", "INT8 | INT8@B",
                     "int8 codes with a float scale per row, updated with seeded stochastic "
                     "rounding (N D + 4 N bytes)",
                     make_int<int8_t>}};
TableRegistrar reg16{{"INT16", "INT16 | INT16@B",
                      "int16 codes with a float scale per row, updated with seeded stochastic "
                      "rounding (2 N D + 4 N bytes)",
                      make_int<int16_t>}};

}  // namespace
}  // namespace embcomp::ctr

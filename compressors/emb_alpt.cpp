#include "compressors/emb_alpt.h"

#include <algorithm>
#include <cmath>

#include "compressors/budget.h"
#include "compressors/emb_full.h"
#include "compressors/emb_params.h"
#include "toolkit/error.h"

namespace embcomp::ctr {
namespace {

OptimizerConfig scaled_lr(OptimizerConfig opt, float ratio) {
  opt.lr *= ratio;
  return opt;
}

}  // namespace

void AlptParams::validate() const {
  EC_CHECK(scale_lr_ratio >= 0 && std::isfinite(scale_lr_ratio), kBadInput,
           "ALPT scale_lr_ratio=" << scale_lr_ratio << " must be finite and >= 0");
  EC_CHECK(min_scale > 0, kBadInput, "ALPT min_scale=" << min_scale << " must be > 0");
}

double alpt_scale_grad(const float* w, const float* g, int n, float delta, int32_t qmax) {
  double s = 0;
  for (int j = 0; j < n; ++j) {
    const float v = w[j] / delta;
    const float d = v > float(qmax)    ? float(qmax)
                    : v < float(-qmax) ? float(-qmax)
                                       : std::nearbyint(v) - v;
    s += double(g[j]) * d;
  }
  return s;
}

AlptTable::AlptTable(const TableInit& init, const AlptParams& params, std::string spec)
    : p_(params),
      spec_(std::move(spec)),
      n_(init.rows),
      d_(init.dim),
      q_(static_cast<size_t>(init.rows) * init.dim),
      delta_(init.rows),
      grad_(init.rows, init.dim),
      opt_(init.rows, init.dim, init.optimizer),
      scale_opt_(init.rows, 1, scaled_lr(init.optimizer, params.scale_lr_ratio)) {
  p_.validate();
  EC_CHECK(d_ >= 1 && d_ <= kQuantMaxDim, kBadInput,
           spec_ << ": D=" << d_ << " must be in [1, " << kQuantMaxDim << "]");
  const int d = d_;
#pragma omp parallel for schedule(static) if (n_ > 4096)
  for (int64_t r = 0; r < n_; ++r)
    delta_[r] = init_quantized_row(p_.seed, r, d, kQ, p_.min_scale, q_.data() + r * d);
}

void AlptTable::lookup(const int64_t* ids, int64_t n, float* out) {
  check_table_ids(ids, n, n_);
  const int d = d_;
#pragma omp parallel for schedule(static) if (n > 16384)
  for (int64_t i = 0; i < n; ++i) {
    const int8_t* q = q_.data() + ids[i] * d;
    const float s = delta_[ids[i]];
    float* o = out + i * d;
    for (int j = 0; j < d; ++j) o[j] = s * float(q[j]);
  }
}

void AlptTable::backward(const int64_t* ids, int64_t n, const float* grad_out) {
  check_table_ids(ids, n, n_);
  for (int64_t i = 0; i < n; ++i) grad_.accumulate(ids[i], grad_out + i * d_);
}

void AlptTable::step() {
  opt_.begin_step();
  scale_opt_.begin_step();
  const uint64_t t = static_cast<uint64_t>(opt_.step_count());
  const int64_t m = grad_.touched();
  const int d = d_;
#pragma omp parallel for schedule(static) if (m > 2048)
  for (int64_t i = 0; i < m; ++i) {
    const int64_t r = grad_.row(i);
    const float* g = grad_.grad(i);
    int8_t* q = q_.data() + r * d;
    const float delta = delta_[r];
    float w[kQuantMaxDim];
    for (int j = 0; j < d; ++j) w[j] = delta * float(q[j]);
    opt_.update(r, w, g);
    const float g_delta = static_cast<float>(alpt_scale_grad(w, g, d, delta, kQ));
    float delta1 = delta;
    scale_opt_.update(r, &delta1, &g_delta);
    delta1 = std::max(delta1, p_.min_scale);
    for (int j = 0; j < d; ++j)
      q[j] = static_cast<int8_t>(stochastic_round(
          w[j] / delta1, rounding_noise(p_.seed, t, static_cast<uint64_t>(r * d + j)), kQ));
    delta_[r] = delta1;
  }
  grad_.clear();
}

int64_t AlptTable::optimizer_bytes() const {
  return RowParams::optimizer_bytes(n_, d_, opt_.config()) +
         RowParams::optimizer_bytes(n_, 1, scale_opt_.config());
}

std::vector<std::pair<void*, size_t>> AlptTable::buffers() {
  return {{q_.data(), q_.size()}, {delta_.data(), delta_.size() * sizeof(float)}};
}

namespace {

std::unique_ptr<EmbeddingTable> make_alpt(const std::string& spec, double budget,
                                          const TableInit& init) {
  const double full = 4.0 * init.rows * init.dim;
  const double ratio = AlptTable::bytes_for(init.rows, init.dim) / full;
  if (budget > 0 && ratio > budget)
    budget_unreachable(spec, budget * full, full, "int8 codes with per-row step sizes",
                       size_t(AlptTable::bytes_for(init.rows, init.dim)));
  AlptParams p;
  p.seed = init.seed;
  auto t = std::make_unique<AlptTable>(init, p, spec);
  if (budget > 0) t->set_budget_note(budget_gap_note(ratio, budget, "the code width is fixed"));
  return t;
}

TableRegistrar reg{{"ALPT", "ALPT | ALPT@B",
                    "adaptive low-precision training: int8 codes with a learned per-row step "
                    "size (LSQ/STE gradient), stochastic rounding (N D + 4 N bytes)",
                    make_alpt}};

}  // namespace
}  // namespace embcomp::ctr

#include "compressors/emb_params.h"

#include <algorithm>
#include <cmath>

#include "toolkit/error.h"
#include "toolkit/hash.h"

namespace embcomp::ctr {
void optimizer_update(const OptimizerConfig& opt, float* w, const float* g, float* s1, float* s2,
                   int n, float bc1, float bc2) {
  switch (opt.kind) {
    case OptimizerConfig::Kind::kSGD:
      for (int j = 0; j < n; ++j) w[j] -= opt.lr * g[j];
      break;
    case OptimizerConfig::Kind::kAdagrad:
      for (int j = 0; j < n; ++j) {
        s1[j] += g[j] * g[j];
        w[j] -= opt.lr * g[j] / (std::sqrt(s1[j]) + opt.eps);
      }
      break;
    case OptimizerConfig::Kind::kAdam:
      for (int j = 0; j < n; ++j) {
        s1[j] = opt.beta1 * s1[j] + (1 - opt.beta1) * g[j];
        s2[j] = opt.beta2 * s2[j] + (1 - opt.beta2) * g[j] * g[j];
        w[j] -= opt.lr * (s1[j] / bc1) / (std::sqrt(s2[j] / bc2) + opt.eps);
      }
      break;
  }
}

void ensure_optimizer_state(const OptimizerConfig& opt, size_t n, std::vector<float>& s1,
                            std::vector<float>& s2) {
  if (opt.kind != OptimizerConfig::Kind::kSGD && s1.size() != n)
    s1.assign(n, opt.kind == OptimizerConfig::Kind::kAdagrad ? opt.initial_accumulator : 0.0f);
  if (opt.kind == OptimizerConfig::Kind::kAdam && s2.size() != n) s2.assign(n, 0.0f);
}

float hashed_uniform(uint64_t seed, uint64_t index) {
  uint64_t h = splitmix64(seed * 0x2545F4914F6CDD1Dull ^ splitmix64(index));
  return static_cast<float>(static_cast<double>(h >> 11) * 0x1.0p-53 * 2.0 - 1.0);
}

RowParams::RowParams(int64_t rows, int width, float init_range, uint64_t seed)
    : rows_(rows), width_(width) {
  EC_CHECK(rows > 0 && width > 0, kBadInput,
           "an embedding block needs rows > 0 and width > 0, got rows=" << rows
                                                                        << " width=" << width);
  w_.resize(static_cast<size_t>(rows) * width);
  const int64_t total = rows * width;
#pragma omp parallel for schedule(static) if (total > 65536)
  for (int64_t i = 0; i < total; ++i) w_[i] = init_range * hashed_uniform(seed, i);
  slot_.assign(rows, -1);
}

void RowParams::accumulate(int64_t r, const float* g, float scale) {
  int32_t s = slot_[r];
  if (s < 0) {
    s = static_cast<int32_t>(touched_.size());
    slot_[r] = s;
    touched_.push_back(r);
    g_.resize(touched_.size() * width_, 0.0f);
  }
  float* dst = g_.data() + static_cast<size_t>(s) * width_;
  for (int j = 0; j < width_; ++j) dst[j] += scale * g[j];
}

const float* RowParams::grad(int64_t r) const {
  int32_t s = slot_[r];
  return s < 0 ? nullptr : g_.data() + static_cast<size_t>(s) * width_;
}

void RowParams::step(const OptimizerConfig& opt) {
  ++t_;
  ensure_optimizer_state(opt, w_.size(), s1_, s2_);
  const float bc1 = 1.0f - std::pow(opt.beta1, static_cast<float>(t_));
  const float bc2 = 1.0f - std::pow(opt.beta2, static_cast<float>(t_));
  const int64_t m = static_cast<int64_t>(touched_.size());
  float* s1 = s1_.empty() ? nullptr : s1_.data();
  float* s2 = s2_.empty() ? nullptr : s2_.data();
#pragma omp parallel for schedule(static) if (m > 2048)
  for (int64_t i = 0; i < m; ++i) {
    const int64_t r = touched_[i];
    const size_t off = static_cast<size_t>(r) * width_;
    optimizer_update(opt, w_.data() + off, g_.data() + static_cast<size_t>(i) * width_,
           s1 ? s1 + off : nullptr, s2 ? s2 + off : nullptr, width_, bc1, bc2);
  }
  zero_grad();
}

void RowParams::zero_grad() {
  for (int64_t r : touched_) slot_[r] = -1;
  touched_.clear();
  g_.clear();
}

int64_t RowParams::optimizer_bytes(int64_t rows, int width, const OptimizerConfig& opt) {
  const int64_t n = rows * width * 4;
  switch (opt.kind) {
    case OptimizerConfig::Kind::kSGD:
      return 0;
    case OptimizerConfig::Kind::kAdagrad:
      return n;
    case OptimizerConfig::Kind::kAdam:
      return 2 * n;
  }
  return 0;
}

DenseParams::DenseParams(int64_t size, float init_range, uint64_t seed)
    : w_(size), g_(size, 0.0f) {
  for (int64_t i = 0; i < size; ++i) w_[i] = init_range * hashed_uniform(seed, i);
}

void DenseParams::step(const OptimizerConfig& opt) {
  ++t_;
  ensure_optimizer_state(opt, w_.size(), s1_, s2_);
  const float bc1 = 1.0f - std::pow(opt.beta1, static_cast<float>(t_));
  const float bc2 = 1.0f - std::pow(opt.beta2, static_cast<float>(t_));
  // Element-wise, so blocks over threads give the same result as one pass (CTR models
  // update ~0.5M dense weights per step: a serial pass was 5% of a DLRM step).
  const int64_t n = size(), block = 16384;
  float* s1 = s1_.empty() ? nullptr : s1_.data();
  float* s2 = s2_.empty() ? nullptr : s2_.data();
#pragma omp parallel for schedule(static) if (n > 4 * block)
  for (int64_t b = 0; b < n; b += block) {
    const int m = static_cast<int>(std::min(block, n - b));
    optimizer_update(opt, w_.data() + b, g_.data() + b, s1 ? s1 + b : nullptr, s2 ? s2 + b : nullptr, m,
           bc1, bc2);
    std::fill(g_.data() + b, g_.data() + b + m, 0.0f);
  }
}

}  // namespace embcomp::ctr

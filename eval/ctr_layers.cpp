#include "eval/ctr_layers.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "compressors/emb_params.h"
#include "toolkit/blas.h"
#include "toolkit/error.h"

namespace embcomp::ctr {

void Linear::init(float* params, InitKind kind, uint64_t seed) const {
  const double a = kind == InitKind::kHe ? std::sqrt(6.0 / in) : std::sqrt(6.0 / (in + out));
  float* w = params + offset;
  const int64_t nw = static_cast<int64_t>(in) * out;
  for (int64_t i = 0; i < nw; ++i) w[i] = static_cast<float>(a * hashed_uniform(seed, i));
  std::fill(w + nw, w + nw + out, 0.0f);
}

void Linear::forward(const float* params, const float* x, int64_t n, float* y, bool relu) const {
  const float* w = params + offset;
  const float* b = w + static_cast<int64_t>(in) * out;
  if (n == 0) return;
  for (int64_t i = 0; i < n; ++i) std::memcpy(y + i * out, b, sizeof(float) * out);
  gemm(false, false, n, out, in, 1.0f, x, in, w, out, 1.0f, y, out);
  if (relu)
    for (int64_t i = 0; i < n * out; ++i) y[i] = std::max(y[i], 0.0f);
}

void Linear::backward(const float* params, const float* x, const float* dy, int64_t n, float* grad,
                      float* dx) const {
  const float* w = params + offset;
  float* gw = grad + offset;
  float* gb = gw + static_cast<int64_t>(in) * out;
  if (n == 0) return;
  gemm(true, false, in, out, n, 1.0f, x, in, dy, out, 1.0f, gw, out);
  for (int64_t i = 0; i < n; ++i) {
    const float* r = dy + i * out;
    for (int j = 0; j < out; ++j) gb[j] += r[j];
  }
  if (dx) gemm(false, true, n, in, out, 1.0f, dy, out, w, out, 0.0f, dx, in);
}

void relu_backward(const float* y, float* dy, int64_t n) {
  // Branch-free so that it vectorizes (a conditional store does not).
  for (int64_t i = 0; i < n; ++i) dy[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

float sigmoid(float z) {
  if (z >= 0) return 1.0f / (1.0f + std::exp(-z));
  const float e = std::exp(z);
  return e / (1.0f + e);
}

double bce_with_logits(const float* z, const float* y, int64_t n, float* dz, float scale) {
  double sum = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double zi = z[i];
    sum += std::max(zi, 0.0) - zi * y[i] + std::log1p(std::exp(-std::abs(zi)));
    if (dz) dz[i] = (sigmoid(z[i]) - y[i]) * scale;
  }
  return sum;
}

Mlp::Mlp(const std::vector<int>& widths, bool relu_last, int64_t offset) : relu_last_(relu_last) {
  EC_CHECK(widths.size() >= 2, kBadInput,
           "an MLP needs at least two widths, got " << widths.size());
  for (size_t l = 0; l + 1 < widths.size(); ++l) {
    EC_CHECK(widths[l] > 0 && widths[l + 1] > 0, kBadInput,
             "MLP layer " << l << " has width " << widths[l] << " -> " << widths[l + 1]);
    Linear layer{widths[l], widths[l + 1], offset};
    offset += layer.size();
    layers_.push_back(layer);
  }
}

int64_t Mlp::size() const {
  int64_t s = 0;
  for (const auto& l : layers_) s += l.size();
  return s;
}

void Mlp::init(float* params, uint64_t seed) const {
  for (size_t l = 0; l < layers_.size(); ++l) {
    const bool relu = l + 1 < layers_.size() || relu_last_;
    layers_[l].init(params, relu ? InitKind::kHe : InitKind::kXavier, seed * 1000003ull + l + 1);
  }
}

const float* Mlp::forward(const float* params, const float* x, int64_t n, Cache& c) const {
  c.act.resize(layers_.size());
  const float* in = x;
  for (size_t l = 0; l < layers_.size(); ++l) {
    const bool relu = l + 1 < layers_.size() || relu_last_;
    float* y = ensure(c.act[l], static_cast<size_t>(n) * layers_[l].out);
    layers_[l].forward(params, in, n, y, relu);
    in = y;
  }
  return in;
}

void Mlp::backward(const float* params, const float* x, const float* dy, int64_t n, Cache& c,
                   float* grad, float* dx) const {
  int maxw = 0;
  for (const auto& l : layers_) maxw = std::max({maxw, l.in, l.out});
  float* cur = ensure(c.d0, static_cast<size_t>(n) * maxw);
  float* next = ensure(c.d1, static_cast<size_t>(n) * maxw);
  std::memcpy(cur, dy, sizeof(float) * n * out());
  for (size_t l = layers_.size(); l-- > 0;) {
    const Linear& layer = layers_[l];
    const bool relu = l + 1 < layers_.size() || relu_last_;
    if (relu) relu_backward(c.act[l].data(), cur, n * layer.out);
    const float* in = l == 0 ? x : c.act[l - 1].data();
    float* d_in = l == 0 ? dx : next;
    layer.backward(params, in, cur, n, grad, d_in);
    std::swap(cur, next);
  }
}

void concat_input(const float* dense, const float* emb, int64_t n, int nd, int ne, float* x0) {
  for (int64_t r = 0; r < n; ++r) {
    float* x = x0 + r * (nd + ne);
    if (nd) std::memcpy(x, dense + r * nd, sizeof(float) * nd);
    std::memcpy(x + nd, emb + r * ne, sizeof(float) * ne);
  }
}

float fm_second_order(const float* e, int F, int D) {
  float total = 0;
  for (int d = 0; d < D; ++d) {
    float s = 0, sq = 0;
    for (int f = 0; f < F; ++f) {
      const float v = e[static_cast<int64_t>(f) * D + d];
      s += v;
      sq += v * v;
    }
    total += 0.5f * (s * s - sq);
  }
  return total;
}

void fm_second_order_backward(const float* e, int F, int D, float g, float* de) {
  for (int d = 0; d < D; ++d) {
    float s = 0;
    for (int f = 0; f < F; ++f) s += e[static_cast<int64_t>(f) * D + d];
    for (int f = 0; f < F; ++f) {
      const int64_t k = static_cast<int64_t>(f) * D + d;
      de[k] += g * (s - e[k]);
    }
  }
}

}  // namespace embcomp::ctr

#include "eval/ctr_deepfm.h"

#include <cstring>
#include <vector>

#include "toolkit/error.h"

namespace embcomp::ctr {
namespace {
enum : size_t { kX0, kDX0 };  // workspace buffers
}  // namespace

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

DeepFmModel::DeepFmModel(const CtrModelParams& p, EmbeddingTable* table, const OptimizerConfig& opt)
    : CtrModel(p, table, opt) {
  EC_CHECK(!p.deep_mlp.empty(), kBadInput, "deepfm needs at least one deep layer");
  d0_ = p.num_dense + p.num_fields * p.dim;
  std::vector<int> widths = {d0_};
  widths.insert(widths.end(), p.deep_mlp.begin(), p.deep_mlp.end());
  widths.push_back(1);
  deep_ = Mlp(widths, /*relu_last=*/false, 0);
  first_off_ = deep_.size();
  allocate(first_off_ + d0_ + 1);  // w_1, b start at 0
  deep_.init(params_.data(), p.seed * 2 + 1);
}

void DeepFmModel::forward_rows(const float* w, const float* dense, const float* emb, int64_t n,
                               CtrWorkspace& ws, float* logits) const {
  const int nd = p_.num_dense, F = p_.num_fields, D = p_.dim, ne = F * D;
  float* x0 = ws.get(kX0, static_cast<size_t>(n) * d0_);
  for (int64_t r = 0; r < n; ++r) {
    if (nd) std::memcpy(x0 + r * d0_, dense + r * nd, sizeof(float) * nd);
    std::memcpy(x0 + r * d0_ + nd, emb + r * ne, sizeof(float) * ne);
  }
  const float* deep = deep_.forward(w, x0, n, ws.mlp[0]);
  const float* w1 = w + first_off_;
  const float b = w1[d0_];
  for (int64_t r = 0; r < n; ++r) {
    const float* x = x0 + r * d0_;
    float z = b + deep[r] + fm_second_order(x + nd, F, D);
    for (int k = 0; k < d0_; ++k) z += x[k] * w1[k];
    logits[r] = z;
  }
}

void DeepFmModel::backward_rows(const float* w, const float*, const float*, int64_t n,
                                const float* dlogits, CtrWorkspace& ws, float* grad,
                                float* demb) const {
  const int nd = p_.num_dense, F = p_.num_fields, D = p_.dim, ne = F * D;
  const float* x0 = ws.get(kX0, 0);
  float* dx0 = ws.get(kDX0, static_cast<size_t>(n) * d0_);
  deep_.backward(w, x0, dlogits, n, ws.mlp[0], grad, dx0);
  const float* w1 = w + first_off_;
  float* gw1 = grad + first_off_;
  std::vector<float> s(static_cast<size_t>(D));
  for (int64_t r = 0; r < n; ++r) {
    const float g = dlogits[r];
    const float* x = x0 + r * d0_;
    float* dx = dx0 + r * d0_;
    for (int k = 0; k < d0_; ++k) {
      gw1[k] += g * x[k];
      dx[k] += g * w1[k];
    }
    gw1[d0_] += g;
    // FM second order: d/de_fd = s_d - e_fd.
    const float* e = x + nd;
    std::fill(s.begin(), s.end(), 0.0f);
    for (int f = 0; f < F; ++f)
      for (int d = 0; d < D; ++d) s[d] += e[f * D + d];
    float* de = demb + r * ne;
    for (int f = 0; f < F; ++f)
      for (int d = 0; d < D; ++d) de[f * D + d] = dx[nd + f * D + d] + g * (s[d] - e[f * D + d]);
  }
}

}  // namespace embcomp::ctr

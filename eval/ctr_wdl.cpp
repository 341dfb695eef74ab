#include "eval/ctr_wdl.h"

#include <cstring>

#include "toolkit/error.h"

namespace embcomp::ctr {
namespace {
enum : size_t { kX0, kDX0 };  // workspace buffers
}  // namespace

WdlModel::WdlModel(const CtrModelParams& p, EmbeddingTable* table, const OptimizerConfig& opt)
    : CtrModel(p, table, opt) {
  d0_ = p.num_dense + p.num_fields * p.dim;
  std::vector<int> widths = {d0_};
  widths.insert(widths.end(), p.deep_mlp.begin(), p.deep_mlp.end());
  widths.push_back(1);
  deep_ = Mlp(widths, /*relu_last=*/false, 0);
  wide_off_ = deep_.size();
  allocate(wide_off_ + d0_ + 1);  // w_x, b_w start at 0
  deep_.init(params_.data(), p.seed * 2 + 1);
}

void WdlModel::forward_rows(const float* w, const float* dense, const float* emb, int64_t n,
                            CtrWorkspace& ws, float* logits) const {
  const int nd = p_.num_dense, ne = p_.num_fields * p_.dim;
  float* x0 = ws.get(kX0, static_cast<size_t>(n) * d0_);
  for (int64_t r = 0; r < n; ++r) {
    if (nd) std::memcpy(x0 + r * d0_, dense + r * nd, sizeof(float) * nd);
    std::memcpy(x0 + r * d0_ + nd, emb + r * ne, sizeof(float) * ne);
  }
  const float* deep = deep_.forward(w, x0, n, ws.mlp[0]);
  const float* wx = w + wide_off_;
  const float bw = wx[d0_];
  for (int64_t r = 0; r < n; ++r) {
    const float* x = x0 + r * d0_;
    float z = bw + deep[r];
    for (int k = 0; k < d0_; ++k) z += x[k] * wx[k];
    logits[r] = z;
  }
}

void WdlModel::backward_rows(const float* w, const float*, const float*, int64_t n,
                             const float* dlogits, CtrWorkspace& ws, float* grad,
                             float* demb) const {
  const int nd = p_.num_dense, ne = p_.num_fields * p_.dim;
  const float* x0 = ws.get(kX0, 0);
  float* dx0 = ws.get(kDX0, static_cast<size_t>(n) * d0_);
  deep_.backward(w, x0, dlogits, n, ws.mlp[0], grad, dx0);
  const float* wx = w + wide_off_;
  float* gwx = grad + wide_off_;
  for (int64_t r = 0; r < n; ++r) {
    const float g = dlogits[r];
    const float* x = x0 + r * d0_;
    float* dx = dx0 + r * d0_;
    for (int k = 0; k < d0_; ++k) {
      gwx[k] += g * x[k];
      dx[k] += g * wx[k];
    }
    gwx[d0_] += g;
    std::memcpy(demb + r * ne, dx + nd, sizeof(float) * ne);
  }
}

}  // namespace embcomp::ctr

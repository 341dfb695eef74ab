#include "eval/ctr_wdl.h"

#include <cstring>

#include "toolkit/error.h"

namespace embcomp::ctr {
namespace {
enum : size_t { kX0, kDX0 };  // workspace buffers
}  // namespace

WdlModel::WdlModel(const CtrModelParams& p, EmbeddingTable* table, const OptimizerConfig& opt,
                   bool fm)
    : CtrModel(p, table, opt), fm_(fm) {
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
  const int nd = p_.num_dense, F = p_.num_fields, D = p_.dim;
  float* x0 = ws.get(kX0, static_cast<size_t>(n) * d0_);
  concat_input(dense, emb, n, nd, F * D, x0);
  const float* deep = deep_.forward(w, x0, n, ws.mlp[0]);
  const float* wx = w + wide_off_;
  const float bw = wx[d0_];
  for (int64_t r = 0; r < n; ++r) {
    const float* x = x0 + r * d0_;
    float z = bw + deep[r];
    for (int k = 0; k < d0_; ++k) z += x[k] * wx[k];
    if (fm_) z += fm_second_order(x + nd, F, D);
    logits[r] = z;
  }
}

void WdlModel::backward_rows(const float* w, const float*, const float*, int64_t n,
                             const float* dlogits, CtrWorkspace& ws, float* grad,
                             float* demb) const {
  const int nd = p_.num_dense, F = p_.num_fields, D = p_.dim, ne = F * D;
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
    if (fm_) fm_second_order_backward(x + nd, F, D, g, dx + nd);
    std::memcpy(demb + r * ne, dx + nd, sizeof(float) * ne);
  }
}

}  // namespace embcomp::ctr

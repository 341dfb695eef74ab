#include "eval/ctr_wdl.h"

#include <cstring>

#include "toolkit/error.h"

namespace embcomp::ctr {
namespace {
enum : size_t { kX0, kDX0 };  // workspace buffers
}  // namespace

WdlModel::WdlModel(const CtrModelParams& p, EmbeddingTable* table, EmbeddingTable* wide,
                   const OptimizerConfig& opt)
    : CtrModel(p, table, wide, opt) {
  EC_CHECK(wide != nullptr, kBadInput, "wdl needs a wide table (1-dim weights per id)");
  EC_CHECK(wide->rows() == table->rows(), kBadInput,
           "the wide table has " << wide->rows() << " rows, the embedding table " << table->rows());
  d0_ = p.num_dense + p.num_fields * p.dim;
  std::vector<int> widths = {d0_};
  widths.insert(widths.end(), p.deep_mlp.begin(), p.deep_mlp.end());
  widths.push_back(1);
  deep_ = Mlp(widths, /*relu_last=*/false, 0);
  wide_off_ = deep_.size();
  allocate(wide_off_ + p.num_dense + 1);  // w_d, b_w start at 0
  deep_.init(params_.data(), p.seed * 2 + 1);
}

void WdlModel::forward_rows(const float* w, const float* dense, const float* emb, const float* wide,
                            int64_t n, CtrWorkspace& ws, float* logits) const {
  const int nd = p_.num_dense, F = p_.num_fields, ne = F * p_.dim;
  float* x0 = ws.get(kX0, static_cast<size_t>(n) * d0_);
  for (int64_t r = 0; r < n; ++r) {
    if (nd) std::memcpy(x0 + r * d0_, dense + r * nd, sizeof(float) * nd);
    std::memcpy(x0 + r * d0_ + nd, emb + r * ne, sizeof(float) * ne);
  }
  const float* deep = deep_.forward(w, x0, n, ws.mlp[0]);
  const float* wd = w + wide_off_;
  const float bw = wd[nd];
  for (int64_t r = 0; r < n; ++r) {
    float z = bw + deep[r];
    for (int f = 0; f < F; ++f) z += wide[r * F + f];
    for (int k = 0; k < nd; ++k) z += dense[r * nd + k] * wd[k];
    logits[r] = z;
  }
}

void WdlModel::backward_rows(const float* w, const float* dense, const float*, const float*,
                             int64_t n, const float* dlogits, CtrWorkspace& ws, float* grad,
                             float* demb, float* dwide) const {
  const int nd = p_.num_dense, F = p_.num_fields, ne = F * p_.dim;
  const float* x0 = ws.get(kX0, 0);
  float* dx0 = ws.get(kDX0, static_cast<size_t>(n) * d0_);
  deep_.backward(w, x0, dlogits, n, ws.mlp[0], grad, dx0);
  float* gwd = grad + wide_off_;
  for (int64_t r = 0; r < n; ++r) {
    const float g = dlogits[r];
    std::memcpy(demb + r * ne, dx0 + r * d0_ + nd, sizeof(float) * ne);
    for (int f = 0; f < F; ++f) dwide[r * F + f] = g;
    for (int k = 0; k < nd; ++k) gwd[k] += g * dense[r * nd + k];
    gwd[nd] += g;
  }
}

}  // namespace embcomp::ctr

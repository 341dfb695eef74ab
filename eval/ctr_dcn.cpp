#include "eval/ctr_dcn.h"

#include <cmath>
#include <cstring>

#include "toolkit/error.h"

namespace embcomp::ctr {
namespace {
// Workspace buffers.
enum : size_t { kXs, kS, kCat, kDCat, kDH, kDX0, kDX, kDXNext };
}  // namespace

DcnModel::DcnModel(const CtrModelParams& p, EmbeddingTable* table, const OptimizerConfig& opt)
    : CtrModel(p, table, opt) {
  EC_CHECK(!p.deep_mlp.empty(), kBadInput, "dcn needs at least one deep layer");
  d0_ = p.num_dense + p.num_fields * p.dim;
  L_ = p.cross_layers;
  H_ = p.deep_mlp.back();
  int64_t off = 2 * static_cast<int64_t>(L_) * d0_;
  std::vector<int> widths = {d0_};
  widths.insert(widths.end(), p.deep_mlp.begin(), p.deep_mlp.end());
  deep_ = Mlp(widths, /*relu_last=*/true, off);
  off += deep_.size();
  out_ = Linear{d0_ + H_, 1, off};
  off += out_.size();
  allocate(off);
  float* w = params_.data();
  const double a = std::sqrt(6.0 / (d0_ + 1));
  for (int l = 0; l < L_; ++l) {
    float* wl = w + 2 * static_cast<int64_t>(l) * d0_;
    for (int k = 0; k < d0_; ++k)
      wl[k] = static_cast<float>(a * hashed_uniform(p.seed * 31 + 7, l * int64_t{d0_} + k));
    std::memset(wl + d0_, 0, sizeof(float) * d0_);
  }
  deep_.init(w, p.seed * 2 + 1);
  out_.init(w, InitKind::kXavier, p.seed * 2 + 2);
}

void DcnModel::forward_rows(const float* w, const float* dense, const float* emb, int64_t n,
                            CtrWorkspace& ws, float* logits) const {
  const int64_t nd0 = n * d0_;
  float* xs = ws.get(kXs, static_cast<size_t>(L_ + 1) * nd0);  // x_0 .. x_L, n x d0 each
  float* s = ws.get(kS, static_cast<size_t>(n) * (L_ + 1));    // s[r * L + l] = w_l . x_l
  concat_input(dense, emb, n, p_.num_dense, p_.num_fields * p_.dim, xs);
  const float* x0 = xs;
  for (int l = 0; l < L_; ++l) {
    const float* wl = w + 2 * static_cast<int64_t>(l) * d0_;
    const float* bl = wl + d0_;
    const float* xl = xs + l * nd0;
    float* xn = xs + (l + 1) * nd0;
    for (int64_t r = 0; r < n; ++r) {
      const float* a = xl + r * d0_;
      const float* z = x0 + r * d0_;
      float dot = 0;
      for (int k = 0; k < d0_; ++k) dot += wl[k] * a[k];
      s[r * L_ + l] = dot;
      float* y = xn + r * d0_;
      for (int k = 0; k < d0_; ++k) y[k] = z[k] * dot + bl[k] + a[k];
    }
  }
  const float* h = deep_.forward(w, x0, n, ws.mlp[0]);
  float* cat = ws.get(kCat, static_cast<size_t>(n) * (d0_ + H_));
  const float* xL = xs + L_ * nd0;
  for (int64_t r = 0; r < n; ++r) {
    std::memcpy(cat + r * (d0_ + H_), xL + r * d0_, sizeof(float) * d0_);
    std::memcpy(cat + r * (d0_ + H_) + d0_, h + r * H_, sizeof(float) * H_);
  }
  out_.forward(w, cat, n, logits, false);
}

void DcnModel::backward_rows(const float* w, const float*, const float*, int64_t n,
                             const float* dlogits, CtrWorkspace& ws, float* grad,
                             float* demb) const {
  const int64_t nd0 = n * d0_;
  const float* xs = ws.get(kXs, 0);
  const float* s = ws.get(kS, 0);
  const float* cat = ws.get(kCat, 0);
  float* dcat = ws.get(kDCat, static_cast<size_t>(n) * (d0_ + H_));
  out_.backward(w, cat, dlogits, n, grad, dcat);
  // Deep branch: dL/dh -> dL/dx0 (the deep net's input gradient).
  float* dh = ws.get(kDH, static_cast<size_t>(n) * H_);
  for (int64_t r = 0; r < n; ++r)
    std::memcpy(dh + r * H_, dcat + r * (d0_ + H_) + d0_, sizeof(float) * H_);
  float* dx0 = ws.get(kDX0, nd0);
  deep_.backward(w, xs, dh, n, ws.mlp[0], grad, dx0);
  // Cross branch, from x_L down to x_0.
  float* dx = ws.get(kDX, nd0);
  float* dxn = ws.get(kDXNext, nd0);
  for (int64_t r = 0; r < n; ++r)
    std::memcpy(dx + r * d0_, dcat + r * (d0_ + H_), sizeof(float) * d0_);
  const float* x0 = xs;
  for (int l = L_ - 1; l >= 0; --l) {
    const float* wl = w + 2 * static_cast<int64_t>(l) * d0_;
    float* gw = grad + 2 * static_cast<int64_t>(l) * d0_;
    float* gb = gw + d0_;
    const float* xl = xs + l * nd0;
    for (int64_t r = 0; r < n; ++r) {
      const float* dy = dx + r * d0_;
      const float* z = x0 + r * d0_;
      const float* a = xl + r * d0_;
      const float sr = s[r * L_ + l];
      float ds = 0;
      for (int k = 0; k < d0_; ++k) ds += dy[k] * z[k];
      float* d0r = dx0 + r * d0_;
      float* dn = dxn + r * d0_;
      for (int k = 0; k < d0_; ++k) {
        d0r[k] += dy[k] * sr;  // through x0 (s w_l x_l)
        gw[k] += ds * a[k];
        gb[k] += dy[k];
        dn[k] = dy[k] + ds * wl[k];  // residual + through s
      }
    }
    std::swap(dx, dxn);
  }
  // x_0 is x0: add the residual path's gradient, then hand the embedding part back.
  const int nd = p_.num_dense, ne = p_.num_fields * p_.dim;
  for (int64_t r = 0; r < n; ++r) {
    const float* a = dx0 + r * d0_ + nd;
    const float* b = dx + r * d0_ + nd;
    float* e = demb + r * ne;
    for (int k = 0; k < ne; ++k) e[k] = a[k] + b[k];
  }
}

}  // namespace embcomp::ctr

#include "eval/ctr_dlrm.h"

#include <cstring>

#include "toolkit/error.h"

namespace embcomp::ctr {
namespace {
// Workspace buffers.
enum : size_t { kT, kTop, kDTop, kDT, kDBottom };
}  // namespace

void dot_interactions(const float* t, int V, int D, float* z) {
  int k = 0;
  for (int i = 1; i < V; ++i) {
    const float* ti = t + static_cast<int64_t>(i) * D;
    for (int j = 0; j < i; ++j) {
      const float* tj = t + static_cast<int64_t>(j) * D;
      float s = 0;
      for (int d = 0; d < D; ++d) s += ti[d] * tj[d];
      z[k++] = s;
    }
  }
}

void dot_interactions_backward(const float* t, const float* dz, int V, int D, float* dt) {
  std::memset(dt, 0, sizeof(float) * V * D);
  int k = 0;
  for (int i = 1; i < V; ++i) {
    const float* ti = t + static_cast<int64_t>(i) * D;
    float* di = dt + static_cast<int64_t>(i) * D;
    for (int j = 0; j < i; ++j) {
      const float g = dz[k++];
      const float* tj = t + static_cast<int64_t>(j) * D;
      float* dj = dt + static_cast<int64_t>(j) * D;
      for (int d = 0; d < D; ++d) {
        di[d] += g * tj[d];
        dj[d] += g * ti[d];
      }
    }
  }
}

DlrmModel::DlrmModel(const CtrModelParams& p, EmbeddingTable* table, const OptimizerConfig& opt)
    : CtrModel(p, table, opt) {
  const bool has_dense = p.num_dense > 0;
  V_ = p.num_fields + (has_dense ? 1 : 0);
  P_ = V_ * (V_ - 1) / 2;
  top_in_ = (has_dense ? p.dim : 0) + P_;
  EC_CHECK(top_in_ > 0, kBadInput,
           "dlrm with no dense features needs at least 2 fields to interact, got " << p.num_fields);
  int64_t off = 0;
  if (has_dense) {
    std::vector<int> widths = {p.num_dense};
    widths.insert(widths.end(), p.bottom_mlp.begin(), p.bottom_mlp.end());
    widths.push_back(p.dim);
    bottom_ = Mlp(widths, /*relu_last=*/true, off);
    off += bottom_.size();
  }
  std::vector<int> widths = {top_in_};
  widths.insert(widths.end(), p.top_mlp.begin(), p.top_mlp.end());
  widths.push_back(1);
  top_ = Mlp(widths, /*relu_last=*/false, off);
  off += top_.size();
  allocate(off);
  if (has_dense) bottom_.init(params_.data(), p.seed * 2 + 1);
  top_.init(params_.data(), p.seed * 2 + 2);
}

void DlrmModel::forward_rows(const float* w, const float* dense, const float* emb, int64_t n,
                             CtrWorkspace& ws, float* logits) const {
  const int D = p_.dim, F = p_.num_fields;
  const bool has_dense = p_.num_dense > 0;
  const float* b = has_dense ? bottom_.forward(w, dense, n, ws.mlp[0]) : nullptr;
  float* T = ws.get(kT, static_cast<size_t>(n) * V_ * D);
  float* top = ws.get(kTop, static_cast<size_t>(n) * top_in_);
  for (int64_t r = 0; r < n; ++r) {
    float* tr = T + r * V_ * D;
    float* out = top + r * top_in_;
    if (has_dense) {
      std::memcpy(tr, b + r * D, sizeof(float) * D);
      std::memcpy(out, b + r * D, sizeof(float) * D);
      out += D;
    }
    std::memcpy(tr + (has_dense ? D : 0), emb + r * F * D, sizeof(float) * F * D);
    dot_interactions(tr, V_, D, out);
  }
  const float* y = top_.forward(w, top, n, ws.mlp[1]);
  std::memcpy(logits, y, sizeof(float) * n);
}

void DlrmModel::backward_rows(const float* w, const float* dense, const float*, int64_t n,
                              const float* dlogits, CtrWorkspace& ws, float* grad,
                              float* demb) const {
  const int D = p_.dim, F = p_.num_fields;
  const bool has_dense = p_.num_dense > 0;
  const float* T = ws.get(kT, 0);
  const float* top = ws.get(kTop, 0);
  float* dtop = ws.get(kDTop, static_cast<size_t>(n) * top_in_);
  top_.backward(w, top, dlogits, n, ws.mlp[1], grad, dtop);
  float* dT = ws.get(kDT, static_cast<size_t>(V_) * D);
  float* db = has_dense ? ws.get(kDBottom, static_cast<size_t>(n) * D) : nullptr;
  for (int64_t r = 0; r < n; ++r) {
    const float* dz = dtop + r * top_in_ + (has_dense ? D : 0);
    dot_interactions_backward(T + r * V_ * D, dz, V_, D, dT);
    if (has_dense) {
      const float* dtop_b = dtop + r * top_in_;
      for (int d = 0; d < D; ++d) db[r * D + d] = dtop_b[d] + dT[d];
    }
    std::memcpy(demb + r * F * D, dT + (has_dense ? D : 0), sizeof(float) * F * D);
  }
  if (has_dense) bottom_.backward(w, dense, db, n, ws.mlp[0], grad, nullptr);
}

}  // namespace embcomp::ctr

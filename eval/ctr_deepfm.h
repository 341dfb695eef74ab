// DeepFM (Guo et al. 2017, "DeepFM: A Factorization-Machine based Neural Network for CTR
// Prediction"), for one batch chunk of n rows; the FM and the deep part share the field
// embeddings e_1..e_F (D each):
//
//   x0     = [dense, e_1, ..., e_F]                   d0 = num_dense + F D
//   first  = x0 . w_1 + b                             FM first order (a Linear over x0)
//   second = 1/2 sum_d ((sum_f e_fd)^2 - sum_f e_fd^2) FM second order = sum_{f<g} <e_f, e_g>
//   deep   = deep_mlp(x0)                             d0 -> 256 -> 256 -> 256 -> 1
//   logit  = first + second + deep
//
// Backward (g = dL/dlogit of the row; s_d = sum_f e_fd):
//   dw_1 += g x0;  db += g;  dx0 = g w_1 + deep_mlp'(x0)^T g
//   de_fd = dx0[num_dense + f D + d] + g (s_d - e_fd)
//
// Deviation from the paper: its first-order term is a separate scalar weight per id (an N x 1
// table, as in Hetu's dfm_criteo); here it is a Linear over x0, i.e. id v of field f gets the
// first-order weight <w_1[f], e_v>. A second per-id table would sit outside the memory budget
// (audit M8); this way the embedding table is the only per-id storage. The dense features
// enter the first-order and the deep part, not the FM interactions (as in Hetu).
// Dense parameters (flat): the deep MLP, then w_1 (d0) and b. Init: He/Xavier for the MLP,
// w_1 = b = 0.
#pragma once

#include "eval/ctr_model.h"

namespace embcomp::ctr {

class DeepFmModel final : public CtrModel {
 public:
  DeepFmModel(const CtrModelParams& p, EmbeddingTable* table, const OptimizerConfig& opt);
  std::string name() const override { return "deepfm"; }

 protected:
  void forward_rows(const float* w, const float* dense, const float* emb, int64_t n,
                    CtrWorkspace& ws, float* logits) const override;
  void backward_rows(const float* w, const float* dense, const float* emb, int64_t n,
                     const float* dlogits, CtrWorkspace& ws, float* grad,
                     float* demb) const override;

 private:
  int d0_ = 0;
  int64_t first_off_ = 0;  // w_1 at first_off_ (d0), b at first_off_ + d0
  Mlp deep_;
};

/// FM second order of one row: 1/2 sum_d ((sum_f e_fd)^2 - sum_f e_fd^2), e F x D.
float fm_second_order(const float* e, int F, int D);

}  // namespace embcomp::ctr

// DLRM (Naumov et al. 2019, "Deep Learning Recommendation Model for Personalization and
// Recommendation Systems"), dot interactions, for one batch chunk of n rows:
//
//   b   = bottom_mlp(dense)                 13 -> 512 -> 256 -> 64 -> D, ReLU after each
//   T   = [b, e_1, ..., e_F]                V = F + 1 vectors of D (V = F when num_dense = 0:
//                                           no bottom MLP, no b)
//   z   = (T_i . T_j for i = 1..V-1, j = 0..i-1)      P = V (V - 1) / 2 pairwise dots
//   top = [b, z]                            D + P wide (just z when num_dense = 0)
//   logit = top_mlp(top)                    -> 512 -> 256 -> 1, ReLU but after the last
//
// Parameters (flat): bottom MLP then top MLP. Init: He for ReLU layers, Xavier for the
// last top layer (eval/ctr_layers.h).
#pragma once

#include "eval/ctr_model.h"

namespace embcomp::ctr {

/// z (P) = strictly-lower-triangle dots of the V x D matrix t, row by row (i > j).
void dot_interactions(const float* t, int V, int D, float* z);
/// dt (V x D) = dL/dt given dz (P): dt_i += dz_ij t_j, dt_j += dz_ij t_i (dt overwritten).
void dot_interactions_backward(const float* t, const float* dz, int V, int D, float* dt);

class DlrmModel final : public CtrModel {
 public:
  DlrmModel(const CtrModelParams& p, EmbeddingTable* table, const OptimizerConfig& opt);
  std::string name() const override { return "dlrm"; }
  const Mlp& bottom() const { return bottom_; }
  const Mlp& top() const { return top_; }

 protected:
  void forward_rows(const float* w, const float* dense, const float* emb, int64_t n,
                    CtrWorkspace& ws, float* logits) const override;
  void backward_rows(const float* w, const float* dense, const float* emb, int64_t n,
                     const float* dlogits, CtrWorkspace& ws, float* grad,
                     float* demb) const override;

 private:
  int V_ = 0;       // vectors interacting
  int P_ = 0;       // pairwise dots
  int top_in_ = 0;  // top MLP input width
  Mlp bottom_, top_;
};

}  // namespace embcomp::ctr

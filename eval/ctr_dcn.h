// DCN (Wang et al. 2017, "Deep & Cross Network for Ad Click Predictions"), for one batch
// chunk of n rows:
//
//   x0      = [dense, e_1, ..., e_F]                 d0 = num_dense + F D
//   x_{l+1} = x0 (w_l . x_l) + b_l + x_l             l = 0..L-1 cross layers (L = 3)
//   h       = deep_mlp(x0)                            d0 -> 256 -> 256 -> 256, ReLU
//   logit   = [x_L, h] . w_out + b_out                the combination layer
//
// Parameters (flat): (w_l, b_l) for each cross layer (d0 each), the deep MLP, then the
// combination Linear (d0 + 256 -> 1). Init: w_l uniform(+-sqrt(6 / (d0 + 1))) (Xavier
// for a d0 -> 1 map), b_l = 0; He for the deep ReLU layers, Xavier for the last one.
#pragma once

#include "eval/ctr_model.h"

namespace embcomp::ctr {

class DcnModel final : public CtrModel {
 public:
  DcnModel(const CtrModelParams& p, EmbeddingTable* table, const OptimizerConfig& opt);
  std::string name() const override { return "dcn"; }

 protected:
  void forward_rows(const float* w, const float* dense, const float* emb, int64_t n,
                    CtrWorkspace& ws, float* logits) const override;
  void backward_rows(const float* w, const float* dense, const float* emb, int64_t n,
                     const float* dlogits, CtrWorkspace& ws, float* grad,
                     float* demb) const override;

 private:
  int d0_ = 0;  // cross/deep input width
  int L_ = 0;   // cross layers
  int H_ = 0;   // deep output width
  Mlp deep_;
  Linear out_;
};

}  // namespace embcomp::ctr

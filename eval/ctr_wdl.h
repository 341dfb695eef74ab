// Wide & Deep (Cheng et al. 2016, "Wide & Deep Learning for Recommender Systems"), for one
// batch chunk of n rows:
//
//   x0    = [dense, e_1, ..., e_F]                  d0 = num_dense + F D
//   wide  = x0 . w_x + b_w                          a Linear over the input (d0 -> 1)
//   deep  = deep_mlp(x0)                            d0 -> 256 -> 256 -> 256 -> 1
//   logit = wide + deep (+ the FM second order of e_1..e_F for DeepFM, eval/ctr_deepfm.h)
//
// The wide part follows the study's WDL (Hetu's wdl_criteo: a Linear over the concatenated
// embeddings), not the paper's one-hot cross-product features: a per-id weight table would
// be a second N-row table outside the budget (audit M8). So the embedding table is the only
// per-id storage and budget_actual covers it all. Dense parameters (flat): the deep MLP,
// then w_x (d0) and b_w. Init: He/Xavier for the MLP, w_x = b_w = 0.
// Backward (g = dL/dlogit of the row): dw_x += g x0; db_w += g; dx0 = g w_x + deep'^T g
// (+ g d fm / de for DeepFM); demb = the embedding part of dx0.
#pragma once

#include "eval/ctr_model.h"

namespace embcomp::ctr {

class WdlModel : public CtrModel {
 public:
  WdlModel(const CtrModelParams& p, EmbeddingTable* table, const OptimizerConfig& opt)
      : WdlModel(p, table, opt, false) {}
  std::string name() const override { return "wdl"; }

 protected:
  /// fm: add the FM second-order term of the embeddings to the logit (DeepFM).
  WdlModel(const CtrModelParams& p, EmbeddingTable* table, const OptimizerConfig& opt, bool fm);
  void forward_rows(const float* w, const float* dense, const float* emb, int64_t n,
                    CtrWorkspace& ws, float* logits) const override;
  void backward_rows(const float* w, const float* dense, const float* emb, int64_t n,
                     const float* dlogits, CtrWorkspace& ws, float* grad,
                     float* demb) const override;

 private:
  bool fm_ = false;
  int d0_ = 0;
  int64_t wide_off_ = 0;  // w_x at wide_off_ (d0), b_w at wide_off_ + d0
  Mlp deep_;
};

}  // namespace embcomp::ctr

// Wide & Deep (Cheng et al. 2016, "Wide & Deep Learning for Recommender Systems"), for one
// batch chunk of n rows:
//
//   wide  = sum_f u[id_f] + dense . w_d + b_w      u: the WIDE table, one weight per id
//   x0    = [dense, e_1, ..., e_F]                  d0 = num_dense + F D
//   deep  = deep_mlp(x0)                            d0 -> 256 -> 256 -> 256 -> 1
//   logit = wide + deep
//
// The wide weights u are an EmbeddingTable of dim 1 over the same N global rows (a linear
// model over the one-hot categorical ids), trained with the same sparse optimizer. It is
// built from its own spec (the trainer's --wide-method, "Full" by default = 4 N bytes,
// i.e. 1/D of the Full embedding table) and counted apart: wide_bytes in the records, not
// in table_bytes/budget_actual. Dense parameters (flat): the deep MLP, then w_d (num_dense)
// and b_w. Init: He/Xavier for the MLP, w_d = b_w = 0.
#pragma once

#include "eval/ctr_model.h"

namespace embcomp::ctr {

class WdlModel final : public CtrModel {
 public:
  WdlModel(const CtrModelParams& p, EmbeddingTable* table, EmbeddingTable* wide,
           const OptimizerConfig& opt);
  std::string name() const override { return "wdl"; }

 protected:
  void forward_rows(const float* w, const float* dense, const float* emb, const float* wide,
                    int64_t n, CtrWorkspace& ws, float* logits) const override;
  void backward_rows(const float* w, const float* dense, const float* emb, const float* wide,
                     int64_t n, const float* dlogits, CtrWorkspace& ws, float* grad, float* demb,
                     float* dwide) const override;

 private:
  int d0_ = 0;
  int64_t wide_off_ = 0;  // w_d at wide_off_, b_w at wide_off_ + num_dense
  Mlp deep_;
};

}  // namespace embcomp::ctr

// DeepFM (Guo et al. 2017, "DeepFM: A Factorization-Machine based Neural Network for CTR
// Prediction"), for one batch chunk of n rows; the FM and the deep part share the field
// embeddings e_1..e_F (D each):
//
//   x0     = [dense, e_1, ..., e_F]                   d0 = num_dense + F D
//   first  = x0 . w_1 + b                             FM first order (a Linear over x0)
//   second = sum_{f<g} <e_f, e_g>                     FM second order (fm_second_order,
//                                                     eval/ctr_layers.h)
//   deep   = deep_mlp(x0)                             d0 -> 256 -> 256 -> 256 -> 1
//   logit  = first + second + deep
//
// This is WDL (eval/ctr_wdl.h, whose wide Linear is the first-order part) plus the FM
// second-order term, so it is written as WdlModel with the FM term switched on; backward:
// de_fd += g (s_d - e_fd), s_d = sum_f e_fd, beside WDL's gradients.
// Deviation from the paper: its first-order term is a separate scalar weight per id (an N x 1
// table, as in Hetu's dfm_criteo); here it is a Linear over x0, i.e. id v of field f gets the
// first-order weight <w_1[f], e_v>. A second per-id table would sit outside the memory budget
// (audit M8); this way the embedding table is the only per-id storage. The dense features
// enter the first-order and the deep part, not the FM interactions (as in Hetu).
// Dense parameters (flat): the deep MLP, then w_1 (d0) and b. Init: He/Xavier for the MLP,
// w_1 = b = 0.
#pragma once

#include "eval/ctr_wdl.h"

namespace embcomp::ctr {

class DeepFmModel final : public WdlModel {
 public:
  DeepFmModel(const CtrModelParams& p, EmbeddingTable* table, const OptimizerConfig& opt)
      : WdlModel(p, table, opt, /*fm=*/true) {}
  std::string name() const override { return "deepfm"; }
};

}  // namespace embcomp::ctr

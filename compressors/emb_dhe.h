// DHE: Deep Hash Embedding (Kang, Cheng, Yao, Yi, Chen, Hong, Chi, "Learning to Embed
// Categorical Features without Embedding Tables for Recommendation", KDD 2021). No table:
// an id is encoded by k fixed hash functions into a dense vector, and an MLP (the
// "embedding network", trained end to end) computes its embedding.
//
// Lookup pseudocode for a batch of n ids; G networks: one per field (per_field, the study's
// use_multi = 1) or one shared by all fields (ids of different fields are different values).
// The k hash functions are shared by the G networks:
//   h_i(x) = ((a_i x + b_i) mod p) mod m          p = 2^61 - 1, i < k, seeded a_i, b_i
//   X0[t][i] = 2 h_i(ids[t]) / (m - 1) - 1         uniform encoding in [-1, 1]   (n x k)
//   g = field of ids[t] (per_field) or 0; with network g's parameters:
//   Z1 = X0 W0 + b0,   A1 = bn1(Z1),  H1 = act(A1)  W0: k x w                     (n x w)
//   Zl = H(l-1) Wl + bl, Al = bnl(Zl), Hl = act(Al) Wl: w x w, l = 2 .. L
//   out = HL Wout + bout                            Wout: w x D                   (n x D)
//   bnl(z) = gamma_l (z - mu_l) / sqrt(var_l + 1e-5) + beta_l   (identity when bn is off)
// act is Mish (x tanh(softplus(x)), the paper's and the study's choice) or ReLU.
// BatchNorm: mu_l and var_l are used by every lookup (training and evaluation alike: a table
// cannot tell a training lookup from an evaluation one). They start at 0 and 1; step() sets
// them once, per network, to the moments of Z over the distinct ids of the first trained
// batch that has at least 16 of that network's ids (var floored at 1e-4), and they stay fixed
// after (a data-dependent init, as in Salimans & Kingma 2016); gamma and beta train. The
// gradient treats mu and var as constants. Deviation from training-mode BN, which uses each
// batch's moments and backpropagates through them: a running average without that gradient
// did not train (the optimizer chases a mean that follows it: the contract test's loss rose),
// nor did moments from 2 ids (tiny variances amplified 5 layers deep). A network that never
// sees 16 distinct ids in one batch (a field with few ids) keeps mu = 0, var = 1.
// The GEMMs run on the batch's distinct ids through toolkit/blas.h (single-threaded BLAS,
// called outside OpenMP; repeated ids are computed once and their gradients summed); lookup
// keeps X0, Z, A and H for backward, which recomputes them when called with other ids.
// Backward (G = dL/dout):  dWout += HL^T G, dbout += colsum G, dHL = G Wout^T,
//   dAl = dHl * act'(Al), dgamma_l += colsum dAl * Zhat_l, dbeta_l += colsum dAl,
//   dZl = dAl gamma_l / sqrt(var_l + eps), dWl += H(l-1)^T dZl, dbl += colsum dZl,
//   dH(l-1) = dZl Wl^T.
//
// Memory: bytes() = 4 G (k w + w + (L - 1)(w^2 + w) + w D + D + [bn] 4 L w) + 16 k
//   (per network: weights and biases, and with BN gamma, beta, mu, var of each hidden layer;
//   the k hash seeds a_i, b_i as uint64 once). All parameters are dense (DenseParams).
// Compute: one lookup costs about (bytes() / G) / 4 multiply-adds per id, whatever N is.
//
// Presets ("DHE" is the study's configuration, Zhang et al. VLDB 2024 digest, card 4):
//   DHE      k = 1024, L = 5 hidden layers, BN, Mish, one network per field
//   DHElite  k = 64,   L = 2 hidden layers, no BN, Mish, one network for all fields
// Budget solver ("DHE@B", "DHElite@B"): every setting but the width is fixed by the preset;
// w is the largest integer with bytes() <= B 4 N D exactly (no slack); kBadInput when even
// w = 1 does not fit (k = 1024 costs 16 KB of hash seeds plus 4 k bytes per network).
// Without a budget, w = 128.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compressors/emb_params.h"
#include "compressors/emb_table.h"

namespace embcomp::ctr {

struct DheTableParams {
  enum class Activation { kMish, kReLU };
  int k = 1024;           ///< hash functions / encoding length, "k" in Kang et al.
  int64_t m = 1000000;    ///< hash buckets per function, "m" in Kang et al.
  int L = 5;              ///< hidden layers of the embedding network
  int w = 128;            ///< hidden width (solved from the budget)
  bool bn = true;         ///< BatchNorm after each hidden Linear (before the activation)
  bool per_field = true;  ///< one network per field (the study's use_multi) or one shared
  Activation act = Activation::kMish;
  /// The study's configuration (the defaults above).
  static DheTableParams study() { return {}; }
  /// The reduced variant: k = 64, L = 2, no BN, one shared network (fast to train).
  static DheTableParams lite();
  void validate() const;
  /// Number of networks for a table of `fields` fields.
  int networks(int fields) const { return per_field ? fields : 1; }
  /// bytes() for dimension D and `fields` fields (see the header comment).
  int64_t bytes(int D, int fields) const;
};

/// Largest width with bytes(D, fields) <= budget_bytes (everything else from base);
/// kBadInput naming spec when even w = 1 is over the budget.
DheTableParams dhe_solve_budget(const std::string& spec, DheTableParams base, int D, int fields,
                                double budget_bytes);

class DheTable final : public EmbeddingTable {
 public:
  DheTable(const TableInit& init, const DheTableParams& p, std::string spec,
           std::string budget_note = "");
  std::string spec() const override { return spec_; }
  std::string knob() const override;
  int64_t rows() const override { return rows_; }
  int dim() const override { return D_; }
  void lookup(const int64_t* ids, int64_t n, float* out) override;
  void backward(const int64_t* ids, int64_t n, const float* grad_out) override;
  void step() override;
  int64_t bytes() const override;
  int64_t optimizer_bytes() const override;
  std::vector<std::pair<void*, size_t>> buffers() override;
  std::string budget_note() const override { return note_; }

  const DheTableParams& params() const { return p_; }
  /// X0 (n x k) of ids: the hash encoding.
  void encode(const int64_t* ids, int64_t n, float* x) const;
  /// h_i(x) = ((a_i x + b_i) mod p) mod m.
  int64_t hash(int i, int64_t x) const;
  /// Network g's layers in order W0, b0, W1, b1, ..., Wout, bout; W row-major fan_in x fan_out.
  std::vector<DenseParams>& layers(int g = 0) { return nets_[size_t(g)].layers; }
  /// Network g's BN parameters gamma_1, beta_1, ..., gamma_L, beta_L (empty without BN).
  std::vector<DenseParams>& bn_params(int g = 0) { return nets_[size_t(g)].bn; }
  /// Network g's running mean and variance of hidden layer l (w each).
  std::vector<float>& running_mean(int g, int l) { return nets_[size_t(g)].mu[size_t(l)]; }
  std::vector<float>& running_var(int g, int l) { return nets_[size_t(g)].var[size_t(l)]; }
  int networks() const { return static_cast<int>(nets_.size()); }

 private:
  struct Net {
    std::vector<DenseParams> layers;              // W0, b0, ..., Wout, bout
    std::vector<DenseParams> bn;                  // gamma_l, beta_l (bn only)
    std::vector<std::vector<float>> mu, var;      // running statistics (bn only), L x w
    std::vector<std::vector<float>> bmean, bvar;  // last forward's batch moments of Z
    bool has_batch = false;                       // bmean/bvar hold a trained batch for step()
    bool frozen = false;                          // mu/var were set from a trained batch
  };
  // Fills the activation cache for the distinct ids of ids (X0, Z, A, H, out).
  void forward(const int64_t* ids, int64_t n);
  // Network g over cached distinct rows [r0, r1).
  void forward_net(int g, int64_t r0, int64_t r1);
  void backward_net(int g, int64_t r0, int64_t r1, const float* grad_out);
  int net_of(int64_t id) const;

  std::string spec_, note_;
  DheTableParams p_;
  int64_t rows_ = 0;
  int D_ = 0;
  std::vector<int64_t> field_offsets_;
  std::vector<uint64_t> hash_ab_;  // k pairs (a_i, b_i): 2 k uint64, counted in bytes()
  std::vector<Net> nets_;
  OptimizerConfig opt_;
  // Activation cache of the last forward: ids, X0 (n x k), Z[l], A[l], H[l] (n x w), out,
  // over the distinct ids (sorted, so each network's ids are one contiguous range).
  std::vector<int64_t> cached_ids_, uniq_, inv_;  // batch ids, distinct ids, position map
  std::vector<int64_t> seg_;                      // network g's rows: [seg_[g], seg_[g+1])
  std::vector<float> x0_, out_;
  std::vector<std::vector<float>> z_, a_, h_;
  std::vector<float> dh_, da_, dz_, gu_;  // backward scratch
};

}  // namespace embcomp::ctr

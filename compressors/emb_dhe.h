// DHE: Deep Hash Embedding (Kang, Cheng, Yao, Yi, Chen, Hong, Chi, "Learning to Embed
// Categorical Features without Embedding Tables for Recommendation", KDD 2021). No table:
// an id is encoded by k fixed hash functions into a dense vector, and an MLP (the
// "embedding network", trained end to end) computes its embedding.
//
// Lookup pseudocode for a batch of n ids (global ids: every field shares one network,
// the ids of different fields are different values):
//   h_i(x) = ((a_i x + b_i) mod p) mod m          p = 2^61 - 1, i < k, seeded a_i, b_i
//   X0[t][i] = 2 h_i(ids[t]) / (m - 1) - 1         uniform encoding in [-1, 1]   (n x k)
//   Z1 = X0 W0 + b0,   H1 = act(Z1)                W0: k x w                     (n x w)
//   Zl = H(l-1) Wl + bl, Hl = act(Zl)              Wl: w x w, l = 1 .. L-1
//   out = HL Wout + bout                           Wout: w x D                   (n x D)
// act is Mish (x tanh(softplus(x)), the paper's choice) or ReLU. The GEMMs run on the
// batch's distinct ids through toolkit/blas.h (single-threaded BLAS, called outside
// OpenMP; repeated ids are computed once and their gradients summed); lookup keeps X0, Z
// and H for backward, which recomputes them when called with other ids.
// Backward (G = dL/dout):  dWout += HL^T G, dbout += colsum G, dHL = G Wout^T,
//   dZl = dHl * act'(Zl), dWl += H(l-1)^T dZl, dbl += colsum dZl, dH(l-1) = dZl Wl^T.
//
// Memory: bytes() = 4 (k w + w + (L - 1)(w^2 + w) + w D + D) + 16 k   (the k hash seeds
// a_i, b_i as uint64). All parameters are dense (DenseParams: every step updates all).
// Compute: one lookup costs about bytes() / 4 multiply-adds per id, whatever N is.
//
// Budget solver ("DHE@B"): k = 64 and L = 2 hidden layers are fixed; the width w is the
// largest integer with bytes() <= B 4 N D (choose_knob); w steps are 2w/(w^2) apart in
// relative bytes, so tiny budgets (w below ~100) may land more than 2% below (noted).
// "DHE" alone is w = 128.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compressors/emb_params.h"
#include "compressors/emb_table.h"

namespace embcomp::ctr {

struct DheTableParams {
  enum class Activation { kMish, kReLU };
  int k = 64;           ///< hash functions / encoding length, "k" in Kang et al.
  int64_t m = 1000000;  ///< hash buckets per function, "m" in Kang et al.
  int L = 2;            ///< hidden layers of the embedding network
  int w = 128;          ///< hidden width (solved from the budget)
  Activation act = Activation::kMish;
  void validate() const;
  /// bytes() for dimension D (see the header comment).
  int64_t bytes(int D) const;
};

/// Largest width with bytes <= budget_bytes (k, m, L, act from base); kBadInput
/// "unreachable" naming spec when even w = 1 is over (full_bytes = 4 N D, for the ratio in
/// the message; 0 leaves it out).
DheTableParams dhe_solve_budget(const std::string& spec, DheTableParams base, int D,
                                double budget_bytes, double full_bytes = 0);

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
  /// Layers in order W0, b0, W1, b1, ..., Wout, bout; W row-major fan_in x fan_out.
  std::vector<DenseParams>& layers() { return layers_; }

 private:
  // Fills the activation cache for the distinct ids of ids (X0, Z, H, out).
  void forward(const int64_t* ids, int64_t n);

  std::string spec_, note_;
  DheTableParams p_;
  int64_t rows_ = 0;
  int D_ = 0;
  std::vector<uint64_t> hash_ab_;  // k pairs (a_i, b_i): 2 k uint64, counted in bytes()
  std::vector<DenseParams> layers_;
  OptimizerConfig opt_;
  // Activation cache of the last forward: ids, X0 (n x k), Z[l] and H[l] (n x w), out.
  std::vector<int64_t> cached_ids_, uniq_, inv_;  // batch ids, distinct ids, position map
  std::vector<float> x0_, out_;
  std::vector<std::vector<float>> z_, h_;
  std::vector<float> dh_, dz_, gu_;  // backward scratch: n x w, n x w, distinct x D
};

}  // namespace embcomp::ctr

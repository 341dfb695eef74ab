// AutoSrh: embedding-dimension search by learned soft selection, then pruning and
// retraining (Kong et al., "AutoSrh: An Embedding Dimensionality Search Framework for
// Tabular Data Prediction", IEEE TKDE). Ids are split by training frequency
// (TableInit::counts) into a hot group (the ceil(0.1 N) most frequent, as MGQE) and a tail
// group; each group g has continuous selection weights alpha_g (D floats) that scale the
// embedding dimensions during the search. Pruning keeps, per group, the dimensions with the
// largest |alpha| that fit the budget, and the table is then retrained at those dimensions.
//
// One float array W of C floats (C fixed by the budget) holds the table in both phases, so
// every checkpoint has the same buffers:
//   search (steps 1 .. search_steps):  W = m = floor(C / D) shared rows of D floats,
//     lookup(id) = W[h(id) mod m] (.) alpha_g(id)          (h universal, (.) element-wise)
//     backward:  dW[h(id)] += g (.) alpha_g,  dalpha_g += g (.) W[h(id)] + lambda sign(alpha_g)
//     (the search supernet shares rows by hashing so that it fits the same C floats: the
//     paper searches on a full table)
//   prune (after search_steps steps): candidates (g, j) by |alpha_g,j| descending (ties:
//     smaller g, then j); keep (g, j) while sum over kept of n_g <= C. Group g keeps d_g
//     dimensions (mask_g); row of id (position p in its group) is
//     W[off_g + p d_g .. + d_g), off_0 = 0, off_1 = K d_0, initialized to the kept
//     dimensions of its shared row times alpha (so lookups are unchanged on the kept
//     dimensions); optimizer state restarts.
//   retrain (after):  lookup(id)[j] = row(id)[rank of j in mask_g] if j in mask_g, else 0;
//     backward: drow += g on the kept dimensions. alpha is no longer used.
// The phase is a buffer (int32), so restoring a search-phase checkpoint restores the search
// lookups.
//
//   bytes() = 4 C + 4 2 D + 2 D + 4 + 16 + 8 ceil(N / 64) + 4 ceil(N / 512)
//             (W, alpha, masks, phase, hash, hot-group bitmap with rank directory)
//
// Budget solver ("AutoSrh@B"): C = floor((B 4 N D - the rest) / 4), all of the budget left
// after the fixed arrays; kBadInput when C < D (not one shared row for the search).
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "compressors/emb_dpq.h"
#include "compressors/emb_hash.h"
#include "compressors/emb_params.h"
#include "compressors/emb_table.h"

namespace embcomp::ctr {

struct AutoSrhParams {
  int64_t C = 0;                ///< floats of W (the budget)
  int64_t search_steps = 500;  ///< steps of the search phase before pruning
  float lambda = 1e-4f;         ///< L1 weight on alpha during the search
  uint64_t seed = 1;            ///< hash and init
  /// Checks C >= D, search_steps >= 1, lambda >= 0.
  void validate(int dim) const;
};

class AutoSrhTable final : public EmbeddingTable {
 public:
  AutoSrhTable(const TableInit& init, const AutoSrhParams& p, std::string spec,
               std::string note = "");
  std::string spec() const override { return spec_; }
  std::string knob() const override;
  int64_t rows() const override { return n_; }
  int dim() const override { return D_; }
  void lookup(const int64_t* ids, int64_t n, float* out) override;
  void backward(const int64_t* ids, int64_t n, const float* grad_out) override;
  void step() override;
  int64_t bytes() const override;
  int64_t optimizer_bytes() const override;
  std::vector<std::pair<void*, size_t>> buffers() override;
  std::string budget_note() const override { return note_; }

  /// Ends the search now (step() calls it after search_steps steps).
  void prune();
  bool pruned() const { return phase_ != 0; }
  /// Kept dimensions of group g (0 hot, 1 tail) after pruning.
  int kept(int g) const;
  bool keeps(int g, int j) const { return mask_[size_t(g) * D_ + j] != 0; }
  bool is_hot(int64_t id) const { return groups_.is_hot(id); }
  float* alpha(int g) { return alpha_.data() + size_t(g) * D_; }
  const float* alpha_grad(int g) { return alpha_.grad() + size_t(g) * D_; }
  float* weights() { return w_.data(); }
  /// Search-phase shared row of id.
  int64_t shared_row(int64_t id) const { return int64_t(hash_(uint64_t(id), uint64_t(C_ / D_))); }
  static int64_t fixed_bytes(int64_t rows, int dim) {
    return 8 * dim + 2 * dim + 4 + 16 + RowGroups::bytes_for(rows);
  }

 private:
  // Offset in W of id's row (pruned phase) and its group.
  int64_t row_offset(int64_t id, int* g) const;
  void accumulate(int64_t off, const float* g, int width);

  AutoSrhParams p_;
  std::string spec_, note_;
  int64_t n_, C_;
  int D_;
  RowGroups groups_;
  UniversalHash hash_;
  std::vector<float> w_;       // C floats
  DenseParams alpha_;          // 2 x D selection weights
  std::vector<uint8_t> mask_;  // 2 x D kept dimensions (pruned phase)
  int32_t phase_ = 0;          // 0 search, 1 retrain
  // Sparse optimizer over rows of W that start at an offset (width D while searching,
  // d_g after pruning).
  std::vector<float> s1_, s2_;
  struct Touched {
    int64_t off;    // row start in W
    int width;      // floats
    size_t gstart;  // start in g_
  };
  std::vector<int32_t> gslot_;  // row start in W -> index in touched_, -1 when untouched
  std::vector<Touched> touched_;
  std::vector<float> g_;  // gradients of the touched rows, concatenated
  OptimizerConfig opt_;
  int64_t t_ = 0;
};

}  // namespace embcomp::ctr

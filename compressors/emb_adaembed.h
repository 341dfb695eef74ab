// AdaEmbed (Lai et al., "AdaEmbed: Adaptive Embedding for Large-Scale Recommendation
// Models", OSDI 2023): within a fixed memory, the ids that matter most get exclusive rows,
// and which ids those are is re-decided during training from an in-training importance
// score. Every other id reads one of H shared rows through a universal hash, so an id
// that loses its exclusive row keeps an embedding.
//
// State: W ((K + H) x D): rows 0..K-1 exclusive, in the order of hot (K ids, ascending,
// uint32); rows K..K+H-1 shared; the hash h(x) = ((a x + b) mod p) mod H (a, b: 16 bytes).
//   lookup(id):  p = position of id in hot (binary search)
//                id in hot  -> out = W[p]
//                otherwise  -> out = W[K + h(id)]
//   backward(id, g):  grad W[row(id)] += g;  score[id] += ||g||_2
//                     (score: importance, the paper's access frequency x gradient
//                     magnitude accumulated per access)
//   step():  optimizer step on the touched rows; every realloc_every steps, reallocation:
//     hot' = the K ids with the highest score (ties: ids already hot, then smaller id)
//     ids staying hot keep their row and its optimizer state (moved to their new position)
//     an id entering hot gets a copy of the shared row it was reading, W[K + h(id)], so its
//       lookup is unchanged at the moment of promotion, and fresh optimizer state
//     an id leaving hot drops its row and reads its shared row from then on
//     score *= decay (an exponential moving average over reallocation periods)
// The first hot set is the K most frequent ids of TableInit::counts (the K smallest ids
// without counts), as the paper starts from the access statistics.
//
//   bytes() = 4 D (K + H) + 4 K + 16     (W, the sorted hot ids as uint32, a and b)
// The importance scores (4 N bytes) exist only during training and are reported by
// optimizer_bytes() with the optimizer moments of W.
//
// Budget solver ("AdaEmbed@B", rule documented in docs/ctr_tables.md): hot_share of the
// budget bytes (default half) buys exclusive rows at 4 D + 4 bytes each, the rest buys
// hashed rows at 4 D bytes: H = floor((1 - hot_share) B 4 N D / (4 D)), then
// K = min(N, floor((B 4 N D - 4 D H - 16) / (4 D + 4))). Reallocation never changes K or H,
// so the budget holds throughout training.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "compressors/emb_hash.h"
#include "compressors/emb_params.h"
#include "compressors/emb_table.h"

namespace embcomp::ctr {

struct AdaEmbedParams {
  int64_t K = 0;                ///< ids with an exclusive row
  int64_t H = 0;                ///< shared hashed rows for all other ids
  int64_t realloc_every = 250;  ///< steps between reallocations (0: never, a static split)
  float decay = 0.5f;           ///< importance kept after each reallocation, in [0, 1]
  uint64_t seed = 1;            ///< hash and init
  /// Checks 0 <= K <= N, H >= 1 (unless K = N), N < 2^32 (hot ids are uint32),
  /// realloc_every >= 0 and 0 <= decay <= 1.
  void validate(int64_t rows) const;
};

/// The K hottest rows by counts (ties: smaller id), sorted ascending; the K smallest ids
/// when counts is empty.
std::vector<uint32_t> hottest_rows(const std::vector<uint32_t>& counts, int64_t rows, int64_t K);

class AdaEmbedTable final : public EmbeddingTable {
 public:
  AdaEmbedTable(const TableInit& init, const AdaEmbedParams& params, std::string spec);
  std::string spec() const override { return spec_; }
  std::string knob() const override {
    return "hot=" + std::to_string(p_.K) + ",hashed=" + std::to_string(p_.H);
  }
  int64_t rows() const override { return n_; }
  int dim() const override { return D_; }
  void lookup(const int64_t* ids, int64_t n, float* out) override;
  void backward(const int64_t* ids, int64_t n, const float* grad_out) override;
  void step() override;
  int64_t bytes() const override;
  int64_t optimizer_bytes() const override;
  std::vector<std::pair<void*, size_t>> buffers() override;
  std::string budget_note() const override { return note_; }
  void set_budget_note(std::string note) { note_ = std::move(note); }

  /// Row of W that logical id reads: its exclusive row or K + its hashed row.
  int64_t slot(int64_t id) const;
  const std::vector<uint32_t>& hot() const { return hot_; }
  /// W, (K + H) x D row-major.
  const float* weights() const { return w_.data(); }
  /// Importance of each id since the last reallocation (decayed), N floats.
  const std::vector<float>& importance() const { return score_; }
  /// Reallocations done so far.
  int64_t reallocations() const { return reallocs_; }
  static int64_t bytes_for(int64_t K, int64_t H, int dim) { return 4 * dim * (K + H) + 4 * K + 16; }

 private:
  void reallocate();

  AdaEmbedParams p_;
  std::string spec_, note_;
  int64_t n_;
  int D_;
  std::vector<uint32_t> hot_;  // K hot ids, ascending
  UniversalHash hash_;
  // Own row storage rather than RowParams: a reallocation moves rows together with their
  // optimizer state.
  std::vector<float> w_, s1_, s2_;  // (K + H) x D; s1/s2: Adagrad / Adam state (lazy)
  std::vector<int32_t> gslot_;      // W row -> slot in g_, -1 when untouched
  std::vector<int64_t> touched_;    // W rows with a slot
  std::vector<float> g_;            // touched_.size() x D
  std::vector<float> score_;        // N importance scores (training only)
  OptimizerConfig opt_;
  int64_t t_ = 0, reallocs_ = 0;
};

}  // namespace embcomp::ctr

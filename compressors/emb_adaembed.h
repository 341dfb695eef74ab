// AdaEmbed: a frequency split in the spirit of AdaEmbed (Lai et al., "AdaEmbed: Adaptive
// Embedding for Large-Scale Recommendation Models", OSDI 2023), which gives exclusive
// embedding rows to the ids that matter most. Here the choice is static, made once from
// the training-split frequencies (TableInit::counts): the K most frequent logical rows get
// exclusive rows, every other id shares H rows through one universal hash. (AdaEmbed
// itself re-ranks ids by in-training importance and migrates rows online; this table
// keeps the hot set fixed.)
//
//   hot    : the K ids with the highest count (ties: smaller id first), sorted ascending
//   lookup(id):  p = position of id in hot (binary search)
//                id in hot  -> out = W[p]                 W: (K + H) x D
//                otherwise  -> out = W[K + h(id)],  h(x) = ((a x + b) mod p) mod H
//   backward: grad W[row(id)] += dL/dout (hashed ids colliding on a row add up)
//   bytes()  = 4 D (K + H) + 4 K + 16     (W, the sorted hot ids as uint32, a and b)
//
// Without counts every row is alike and the hot set is the K smallest ids.
// Budget solver ("AdaEmbed@B", rule documented in docs/ctr_tables.md): hot_share of the
// budget bytes (default half) buys exclusive rows at 4 D + 4 bytes each, the rest buys
// hashed rows at 4 D bytes: H = floor((1 - hot_share) B 4 N D / (4 D)), then
// K = min(N, floor((B 4 N D - 4 D H - 16) / (4 D + 4))).
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
  int64_t K = 0;      ///< hot ids with an exclusive row
  int64_t H = 0;      ///< shared hashed rows for all other ids
  uint64_t seed = 1;  ///< hash and init
  /// Checks 0 <= K <= N, H >= 1 (unless K = N) and N < 2^32 (hot ids are uint32).
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
  int dim() const override { return w_.width(); }
  void lookup(const int64_t* ids, int64_t n, float* out) override;
  void backward(const int64_t* ids, int64_t n, const float* grad_out) override;
  void step() override { w_.step(opt_); }
  int64_t bytes() const override;
  int64_t optimizer_bytes() const override {
    return RowParams::optimizer_bytes(w_.rows(), w_.width(), opt_);
  }
  std::vector<std::pair<void*, size_t>> buffers() override;
  std::string budget_note() const override { return note_; }
  void set_budget_note(std::string note) { note_ = std::move(note); }

  /// Row of W that logical id reads: its exclusive row or K + its hashed row.
  int64_t slot(int64_t id) const;
  const std::vector<uint32_t>& hot() const { return hot_; }
  const RowParams& params() const { return w_; }
  static int64_t bytes_for(int64_t K, int64_t H, int dim) { return 4 * dim * (K + H) + 4 * K + 16; }

 private:
  AdaEmbedParams p_;
  std::string spec_, note_;
  int64_t n_;
  std::vector<uint32_t> hot_;  // K hot ids, ascending
  UniversalHash hash_;
  RowParams w_;
  OptimizerConfig opt_;
};

}  // namespace embcomp::ctr

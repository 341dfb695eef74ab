// Training-time Dedup, registered as "Dedup" in the CTR table registry (separate from the
// retrieval codec registry's "Dedup", compressors/dedup.h). The study's Dedup as a CTR
// method (Zhang et al., VLDB 2024, after "Dedup" of embedding tables): train, deduplicate
// similar blocks of the table by LSH so that duplicates share one stored block (keep one
// representative), then fine-tune the shared blocks.
//
// Blocks: block b holds the r consecutive logical rows b r .. b r + r - 1 (all D columns);
// T = ceil(N / r) blocks, the last one possibly partial. Inference state: U unique blocks
// (U x r x D floats) and the map (T uint32: block -> unique slot).
//   lookup(id):  b = id / r, i = id % r;  out = Ublk[map[b]][i]
//   backward:    dUblk[map[b]][i] += g            (blocks sharing a slot add up)
//
// Schedule inside step(), which counts steps:
//   warm-up (steps 1 .. dedup_at): the served table is hash-shared at block level,
//     map[b] = h(b) mod U (the identity when T <= U), so the budget holds from step 0 and
//     every checkpoint is a valid table. A training-only shadow F (N x D, every row its
//     own, initialized to the value it serves) estimates where each row would go on its
//     own: on every access of id (served value s = Ublk[map[b]][i], gradient g)
//       dF[id] += g + lambda (F[id] - s)
//     so F[id] settles at s - mean(g) / lambda, one Newton step from the shared value when
//     lambda is the curvature of the loss in the row (the study's Dedup compares rows of a
//     fully trained table; a full table cannot be served within the budget here).
//     A per-block access count is kept.
//   dedup (at step dedup_at): LSH candidates, then merging of the closest: for each of
//     lsh_tables SimHash tables (lsh_bits signs of random projections of the flattened
//     block of F), the blocks sorted by signature give the pairs of neighbours as
//     candidates; candidates are merged closest first (squared L2 between the blocks of F;
//     ties: smaller ids), single linkage, until U groups remain (the first table's order
//     chains all blocks, so U is always reached). Each group keeps ONE block, its most
//     accessed member (ties: smallest b): Ublk[slot] = F[that block] (slots numbered by the
//     groups' smallest block); every member maps to the slot. F and the counts are freed;
//     the optimizer state restarts.
//   fine-tune (after): only Ublk is trained, through the new map.
//
//   bytes() = 4 U r D + 4 T + 4             (unique blocks, the map, the phase)
// optimizer_bytes() adds the training-only F (4 N D while warming up) and the access counts
// (4 T) to the optimizer state.
//
// Budget solver ("Dedup@B"): r = the smallest power of two whose map takes at most a tenth
// of the budget (4 T <= 0.1 B 4 N D); the rest buys unique blocks:
// U = min(T, floor((B 4 N D - 4 T) / (4 r D))). kBadInput when U < 1.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "compressors/emb_params.h"
#include "compressors/emb_table.h"

namespace embcomp::ctr {

struct CtrDedupParams {
  int64_t r = 1;             ///< rows per block
  int64_t U = 1;             ///< unique blocks stored (the budget)
  int64_t dedup_at = 500;    ///< training steps before the deduplication (then fine-tuning)
  int lsh_bits = 16;         ///< SimHash bits per table, 1..62
  int lsh_tables = 4;        ///< SimHash tables (sorted orders giving candidate pairs)
  float lambda = 1.0f / 32;  ///< pull of the shadow toward the served value (a curvature)
  uint64_t seed = 1;         ///< warm-up hash, projections, init
  /// Checks r >= 1, 1 <= U, dedup_at >= 1, 1 <= lsh_bits <= 62, lsh_tables >= 1, lambda > 0 and
  /// T = ceil(N / r) < 2^32.
  void validate(int64_t rows) const;
};

class CtrDedupTable final : public EmbeddingTable {
 public:
  CtrDedupTable(const TableInit& init, const CtrDedupParams& p, std::string spec,
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

  int64_t blocks() const { return T_; }
  /// Unique slot of block b.
  uint32_t slot_of_block(int64_t b) const { return map_[b]; }
  /// Stored unique blocks, (U r) x D: row s r + i is row i of slot s.
  RowParams& unique_rows() { return ublk_; }
  /// Training-only shadow (N x D) while warming up; empty after the dedup.
  RowParams& shadow() { return shadow_; }
  bool deduplicated() const { return phase_ != 0; }
  /// Runs the dedup now (step() calls it after dedup_at steps).
  void deduplicate();
  static int64_t bytes_for(int64_t rows, int dim, int64_t r, int64_t U) {
    return 4 * U * r * dim + 4 * ((rows + r - 1) / r) + 4;
  }

 private:
  CtrDedupParams p_;
  std::string spec_, note_;
  int64_t n_, T_;
  int D_;
  std::vector<uint32_t> map_;     // T slots
  RowParams ublk_;                // U r x D
  RowParams shadow_;              // N x D while warming up (empty when T <= U: no sharing)
  std::vector<uint32_t> access_;  // T access counts while warming up
  OptimizerConfig opt_;
  int64_t t_ = 0;
  bool done_ = false;  // the shadow is gone (training state)
  int32_t phase_ = 0;  // 0 warm-up, 1 deduplicated: a buffer, so the knob of a restored
                       // checkpoint names its phase
};

}  // namespace embcomp::ctr

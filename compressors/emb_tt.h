// TT: TT-Rec embedding table (Yin, Acun, Wu, Liu, "TT-Rec: Tensor Train Compression for
// Deep Learning Recommendation Model Embeddings", MLSys 2021), trained end to end.
//
// Per field f with n_f rows, the n_f x D block is a tensor train of three cores:
//   n_f <= n1 n2 n3   (tt_factor of compressors/tt.h, smallest factor in the middle)
//   D    = d1 d2 d3   (exact factorization, most balanced, smallest factor in the middle)
//   local id v = (i1 n2 + i2) n3 + i3,  column j = (j1 d2 + j2) d3 + j3
//   E[v][j] = sum_{r<R} sum_{s<R} G1[i1][j1][r] G2[r][i2][j2][s] G3[s][i3][j3]
// Cores, float32, stored so that one index's slice is one contiguous row:
//   G1: n1 rows of d1 x R        (A = G1[i1], row-major d1 x R)
//   G2: n2 rows of R x d2 x R    (B = G2[:, i2], row-major R x (d2 R))
//   G3: n3 rows of R x d3        (C = G3[:, i3], row-major R x d3)
// Lookup pseudocode for one id (global id -> field f, local id v -> i1, i2, i3):
//   Z   (d1 x d2 R) = A (d1 x R) * B (R x d2 R)
//   out (d1 d2 x d3) = Z viewed as (d1 d2 x R) * C (R x d3)
// Backward for one id with g = dL/dout (d1 d2 x d3):
//   dC += Z^T g,   dZ = g C^T,   dA += dZ B^T,   dB += A^T dZ     (Z viewed as above)
// The core slices are the rows of RowParams blocks, so updates are lazy and row-wise,
// like a Full table's (only the slices an id touched change).
//
// Fields kept Full: a field is stored as a plain n_f x D block when its TT cores would
// not be smaller (tiny fields), and the solver may also keep the k smallest fields Full
// (TT-Rec compresses only the large tables) to spend a large budget.
//
// Hot-row cache (TT-Rec keeps the most accessed rows uncompressed): the smallest TT
// field may keep its c most frequent rows (TableInit::counts; the first c ids without
// counts) as plain rows, found by binary search in their sorted int32 local ids; the
// solver uses c to fill the gap a whole field switching to Full would leave.
//
// Memory: bytes() = 4 * ( sum_{Full f} n_f D
//                        + sum_{TT f} (n1 d1 R_f + n2 d2 R_f^2 + n3 d3 R_f) )
//                   + c (4 D + 4),
// R_f = min(R or R+1, n1 d1, n3 d3) (ranks above the unfoldings' sizes add nothing).
// Field layouts (the factors, ranks) are dimensions, not counted, like every method's.
//
// Budget solver ("TT@B"): candidates (R, u, k): rank R in [1, R_max] on the TT fields,
// the u largest TT fields at rank R+1 (fine steps), the k smallest fields Full, and the
// cache c taking what is left. Among the candidates that reach within 2% below B the
// highest R wins, then the fewest Full fields, then the most upgraded fields (budget.h's
// rule); when none does, the same rule among all that fit, with a note; none fits:
// kBadInput "unreachable".
// "TT" alone is rank R_default on every field where TT is smaller than Full.
// Why R_max = 64 (audit M2): the cap is a compute limit, not a budget one. A lookup costs
// d1 d2 R^2 + d1 d2 d3 R multiply-adds (4R^2 + 16R at D = 16: 17k at R = 64 against 16
// loads for a Full row), and backward about three times that; the study searches R in
// [0, 1000]. Within the cap a large budget (Criteo/10 at 0.5 or 0.1) is filled by Full
// fields and cached rows, so the knob reports cores=P, the share of bytes() held in TT
// cores, and a TT@B result with a small P mostly measures a Full table.
//
// Init (TT-Rec's sampled Gaussian): every core element ~ N(0, sigma^2) with
// R_f^2 sigma^6 = 0.05^2 / 3, so a looked-up element has the variance of a Full table's
// uniform(-0.05, 0.05) init. Full fields use Full's init.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "compressors/emb_params.h"
#include "compressors/emb_table.h"

namespace embcomp::ctr {

/// Knobs of the TT table. The budget solver sets R, upgraded and full_fields.
struct TtTableParams {
  int R = 16;           ///< TT rank on the TT fields, "R" in Yin et al. 2021
  int upgraded = 0;     ///< the largest `upgraded` TT fields get rank R + 1
  int full_fields = 0;  ///< the `full_fields` smallest fields are stored Full
  int64_t cached = 0;   ///< hot rows of the smallest TT field kept as plain rows
  int R_max = 64;       ///< largest rank the solver tries (lookup cost grows as R^2)
  void validate() const;
};

/// How one field is stored.
struct TtFieldLayout {
  bool full = true;             ///< plain n_f x D rows instead of cores
  int64_t n = 0;                ///< n_f
  std::array<int64_t, 3> nk{};  ///< n1, n2, n3 (product >= n_f)
  std::array<int, 3> dk{};      ///< d1, d2, d3 (product == D)
  int R = 0;                    ///< rank R_f (0 when full)
  int64_t cached = 0;           ///< rows kept plain beside the cores (TT-Rec's cache)
  int64_t bytes() const;        ///< the field's share of bytes()
};

/// The field layouts a TtTableParams gives for init's fields (no allocation).
std::vector<TtFieldLayout> tt_plan(const TableInit& init, const TtTableParams& p);
/// Sum of bytes() over the layouts.
int64_t tt_plan_bytes(const std::vector<TtFieldLayout>& plan);
/// Bytes of the plan held in TT cores: 4 (n1 d1 R_f + n2 d2 R_f^2 + n3 d3 R_f) summed over
/// the TT fields (no Full field, no cached row or its id).
int64_t tt_plan_core_bytes(const std::vector<TtFieldLayout>& plan);
/// Solves R, upgraded, full_fields for budget_bytes (see the header comment); kBadInput
/// naming spec when even rank 1 does not fit.
TtTableParams tt_solve_budget(const std::string& spec, const TableInit& init, double budget_bytes);
/// d1, d2, d3 with product D, most balanced, the smallest in the middle (16 -> 2, 2, 4).
std::array<int, 3> tt_factor_dim(int D);

class TtTable final : public EmbeddingTable {
 public:
  TtTable(const TableInit& init, const TtTableParams& p, std::string spec,
          std::string budget_note = "");
  std::string spec() const override { return spec_; }
  /// "R=..,up=..,full=..,cached=..,cores=P", P = tt_plan_core_bytes / bytes() (4 decimals).
  std::string knob() const override;
  int64_t rows() const override { return rows_; }
  int dim() const override { return dim_; }
  void lookup(const int64_t* ids, int64_t n, float* out) override;
  void backward(const int64_t* ids, int64_t n, const float* grad_out) override;
  void step() override;
  int64_t bytes() const override;
  int64_t optimizer_bytes() const override;
  std::vector<std::pair<void*, size_t>> buffers() override;
  std::string budget_note() const override { return note_; }

  const std::vector<TtFieldLayout>& layout() const { return plan_; }
  /// Field f's parameter blocks: {W} for a Full field, {G1, G2, G3} for a TT field,
  /// {G1, G2, G3, cache rows} for the TT field with a cache.
  std::vector<RowParams>& blocks(int f) { return blocks_[f]; }

 private:
  int field_of(int64_t id) const;
  // Row of local id v in field f's cache, or -1.
  int64_t cache_slot(int f, int64_t v) const;
  // One id's embedding (out, D floats); z: scratch of d1 d2 R_f floats.
  void row_forward(int f, int64_t v, float* out, float* z) const;

  std::string spec_, note_;
  TtTableParams p_;
  int64_t rows_ = 0;
  int dim_ = 0;
  std::vector<int64_t> offsets_;
  std::vector<TtFieldLayout> plan_;
  std::vector<std::vector<RowParams>> blocks_;
  std::vector<std::vector<int32_t>> cache_ids_;  // per field: sorted cached local ids
  OptimizerConfig opt_;
  std::vector<float> scratch_;  // backward: Z, dZ, dA, dB, dC for the largest field
};

}  // namespace embcomp::ctr

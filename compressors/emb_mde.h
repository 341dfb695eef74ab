// MDE: mixed-dimension embeddings (Ginart, Naumov, Mudigere, Yang, Zou, "Mixed Dimension
// Embeddings with Application to Memory-Efficient Recommendation Systems", ISIT 2021).
// Each field gets a dimension that grows with its rows' popularity (the power-law rule),
// and a d_f x D projection brings its rows to the model's width D.
//
// Dimension rule per field f with n_f rows:
//   p_f  = total_f / distinct_f        training count of the field over its rows seen at
//                                      least once (TableInit::counts); without counts
//                                      p_f = 1 / n_f (every sample has one id per field)
//   d*_f = clamp(D (p_f / max_g p_g)^alpha, 1, D)
// The fractional d*_f is realized exactly in bytes by two blocks of consecutive local ids:
//   the first m_f = round((d*_f - floor d*_f) n_f) ids get dimension ceil, the rest floor
// (one block when d*_f is an integer or m_f is 0 or n_f). Block b: rows E_b (n_b x d_b,
// trainable, lazy row-wise updates) and, when d_b < D, a projection P_b (d_b x D, dense).
//
// Lookup pseudocode:  f = field of id, v = id - offset_f, b = (v < m_f) ? hi_f : lo_f
//   out = E_b[v - first_b] (1 x d_b) * P_b (d_b x D)      (a plain copy when d_b == D)
// Backward with g = dL/dout:  dE_b[row] += P_b g,  dP_b += E_b[row]^T g.
//
// Memory: bytes() = 4 sum_b (n_b d_b + [d_b < D] d_b D), i.e. sum_f n_f d_f + sum d_f D.
//
// Budget solver ("MDE@B"): alpha is found by bisection on [0, 64] (alpha = 0 is Full;
// bytes fall as alpha grows) so that bytes <= B 4 N D as closely as the row granularity
// allows. Every row keeps at least one dimension, so budgets below about
// (N + projections) / (N D) (1/D plus the most popular field's rows) cannot be met:
// kBadInput. "MDE" alone is alpha = 0.3.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compressors/emb_params.h"
#include "compressors/emb_table.h"

namespace embcomp::ctr {

struct MdeTableParams {
  double alpha = 0.3;  ///< power-law exponent, "alpha" in Ginart et al.
  void validate() const;
};

/// One block of consecutive local ids of a field sharing dimension d.
struct MdeBlock {
  int field = 0;
  int64_t first = 0;  ///< first local id
  int64_t n = 0;      ///< rows
  int d = 0;          ///< dimension (projection when d < D)
};

/// The blocks alpha gives for init's fields (no allocation).
std::vector<MdeBlock> mde_plan(const TableInit& init, double alpha);
/// 4 sum_b (n_b d_b + [d_b < D] d_b D).
int64_t mde_plan_bytes(const std::vector<MdeBlock>& plan, int D);
/// Solves alpha for budget_bytes (see the header comment); kBadInput naming spec when the
/// budget is below what one dimension per row takes.
MdeTableParams mde_solve_budget(const std::string& spec, const TableInit& init,
                                double budget_bytes);

class MdeTable final : public EmbeddingTable {
 public:
  MdeTable(const TableInit& init, const MdeTableParams& p, std::string spec,
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

  const std::vector<MdeBlock>& plan() const { return plan_; }
  RowParams& block_rows(size_t b) { return rows_of_[b]; }
  /// Block b's projection (d_b x D, row-major); empty when d_b == D.
  DenseParams& projection(size_t b) { return proj_[b]; }

 private:
  // Block of global id (and the row inside it).
  size_t block_of(int64_t id, int64_t* row) const;

  std::string spec_, note_;
  MdeTableParams p_;
  int64_t rows_ = 0;
  int D_ = 0;
  std::vector<int64_t> offsets_;
  std::vector<MdeBlock> plan_;
  std::vector<size_t> field_block_;  // first block of each field (1 or 2 blocks per field)
  std::vector<RowParams> rows_of_;
  std::vector<DenseParams> proj_;
  OptimizerConfig opt_;
  std::vector<float> de_;  // backward scratch, D floats
};

}  // namespace embcomp::ctr

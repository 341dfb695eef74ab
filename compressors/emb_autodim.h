// AutoDim: field-aware embedding dimension search (Zhao, Liu, Guo, Tang, Zhao, Liu, He,
// "AutoDim: Field-aware Embedding Dimension Search in Recommender Systems", WWW 2021).
// A supernet gives every field K candidate dimensions, each with its own table; a softmax
// over learned architecture weights mixes them during a search phase; then each field keeps
// its arg-max dimension and a fresh table of that width is trained.
//
// Candidates: c_1 < ... < c_K = the powers of two below D, and D ({1, 2, 4, 8, 16} at D = 16).
// Field f has n_f rows (TableInit::field_offsets), v = id - offset_f.
//
// Search (steps 1 .. T, searching() is true):
//   E_fk  n_f x c_k trainable rows (lazy row-wise updates), init uniform(+-0.05)
//   P_fk  c_k x D projection (dense), init uniform(+-sqrt(3 / c_k)); none when c_k = D
//   alpha_f  K architecture weights (dense), init 0;  p_f = softmax(alpha_f)
//   lookup(id) = sum_k p_fk  e_k,   e_k = E_fk[v] P_fk   (e_k = E_fk[v] when c_k = D)
//   backward with g = dL/dout:   dE_fk[v] += p_fk P_fk g,   dP_fk += p_fk E_fk[v]^T g,
//     dalpha_fj += p_fj (<g, e_j> - sum_k p_fk <g, e_k>)
//   step: E, P and alpha with the table's optimizer; after step T the search ends.
// End of the search: d_f = c_k with k = argmax_k alpha_fk (ties: the smaller dimension),
//   lowered by the budget rule below; every supernet array is freed and the final table is
//   initialized afresh (the paper retrains the selected architecture from scratch).
// Final (searching() is false):
//   E_f  n_f x d_f,  P_f  d_f x D (none when d_f = D), same inits as above (new seeds)
//   lookup(id) = E_f[v] P_f;  backward: dE_f[v] += P_f g, dP_f += E_f[v]^T g
//
// Memory (bytes()):
//   final:    4 sum_f (n_f d_f + [d_f < D] d_f D) + 4 F        (tables, projections, d_f)
//   search:   4 sum_f sum_k (n_f c_k + [c_k < D] c_k D) + 4 F K (the supernet and alpha;
//             the trainer records its peak as search_bytes)
//
// Budget rule ("AutoDim@B", C = floor(B 4 N D) bytes): after the arg-max choice, while the
// final bytes exceed C, one field moves to its next cheaper candidate: the largest c_k whose
// field bytes 4 (n_f c_k + [c_k < D] c_k D) are below the current ones. The field moved is
// the one with the smallest margin alpha_f[current] - alpha_f[next cheaper] (the choice the
// search was least sure of; ties: the larger saving, then the lower field). The final bytes
// never exceed C: the solver refuses (kBadInput) a budget below the cheapest choice,
// 4 sum_f min_k (n_f c_k + [c_k < D] c_k D) + 4 F (at D = 16 a little over 1/16 of fp32).
// Under budget the arg-max choice is kept (budget_note says how much was left unused).
//
// Deviations from the paper: (1) a plain softmax (no Gumbel noise, temperature 1) mixes the
// candidates, and alpha is trained on the training batches together with the weights (the
// paper alternates weight steps on training data with alpha steps on validation data);
// (2) no batch normalization after the projections (the projection inits give each
// candidate the same output variance instead); (3) only the table is re-initialized after
// the search, the model's dense layers keep training; (4) d_f = D uses no projection.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "compressors/emb_params.h"
#include "compressors/emb_table.h"

namespace embcomp::ctr {

/// Search length when TableInit::schedule_steps is 0 (the trainer sets half the run).
inline constexpr int64_t kAutoDimSearchSteps = 1000;

struct AutoDimParams {
  int64_t budget_bytes = 0;                    ///< C, final bytes allowed; 0: no budget
  int64_t search_steps = kAutoDimSearchSteps;  ///< T, steps of the search phase
  uint64_t seed = 1;                           ///< every init
  /// Checks search_steps >= 1, budget_bytes >= 0.
  void validate() const;
};

/// The candidate dimensions for width D: powers of two below D, then D.
std::vector<int> autodim_candidates(int D);

/// Bytes of field f's final arrays at dimension d: 4 (n d + [d < D] d D).
int64_t autodim_field_bytes(int64_t n, int d, int D);

/// The end-of-search choice: per field the arg-max of alpha (F x K, row-major by field) over
/// the candidates, lowered by the budget rule (file comment) until the final bytes are at
/// most budget_bytes (0: no budget). Returns d_f per field. Throws kBadInput when even the
/// cheapest choice does not fit.
std::vector<int> autodim_choose_dims(const std::vector<float>& alpha,
                                     const std::vector<int64_t>& field_rows,
                                     const std::vector<int>& candidates, int D,
                                     int64_t budget_bytes);

/// Final bytes for per-field dims: sum_f autodim_field_bytes + 4 F.
int64_t autodim_final_bytes(const std::vector<int64_t>& field_rows, const std::vector<int>& dims,
                            int D);

class AutoDimTable final : public EmbeddingTable {
 public:
  AutoDimTable(const TableInit& init, const AutoDimParams& p, std::string spec);
  std::string spec() const override { return spec_; }
  /// "search" while searching, then "dims=d_1/d_2/../d_F".
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
  bool searching() const override { return searching_; }

  /// Ends the search now (step() calls it after T steps): chooses d_f, builds the final table.
  void end_search();
  int num_fields() const { return F_; }
  int field_of(int64_t id) const;
  const std::vector<int>& candidates() const { return cand_; }
  /// Architecture weights alpha (F x K, row-major by field) and their gradient (search).
  float* alpha() { return alpha_.data(); }
  const float* alpha_grad() { return alpha_.grad(); }
  /// softmax(alpha_f), K values.
  std::vector<float> probabilities(int f) const;
  /// Search arrays of field f, candidate k (P is empty when c_k = D).
  RowParams& search_rows(int f, int k) { return emb_[size_t(f) * K_ + k]; }
  DenseParams& search_proj(int f, int k) { return proj_[size_t(f) * K_ + k]; }
  /// Final arrays of field f (after the search; P is empty when d_f = D).
  RowParams& final_rows(int f) { return emb_[f]; }
  DenseParams& final_proj(int f) { return proj_[f]; }
  /// d_f per field (after the search).
  const std::vector<int32_t>& dims() const { return dims_; }

 private:
  // Output of one (table, projection) pair for a row: out (+)= scale * row P (row when no P).
  void project_add(const float* row, int d, const DenseParams& P, float scale, float* out) const;
  void softmax_all();

  AutoDimParams p_;
  std::string spec_, note_;
  int64_t n_;
  int D_, F_, K_;
  std::vector<int64_t> offsets_;  // F + 1 field offsets
  std::vector<int> cand_;         // K candidate dims
  bool searching_ = true;
  int64_t t_ = 0;
  // Search: F x K tables/projections (field-major); final: F tables/projections.
  std::vector<RowParams> emb_;
  std::vector<DenseParams> proj_;
  DenseParams alpha_;          // F x K (search only)
  std::vector<float> probs_;   // F x K softmax(alpha), refreshed by lookup/backward
  std::vector<int32_t> dims_;  // F final dims (a buffer: lookup reads them)
  OptimizerConfig opt_;
};

}  // namespace embcomp::ctr

// QR: quotient-remainder compositional embeddings (Shi et al., "Compositional Embeddings
// Using Complementary Partitions for Memory-Efficient Recommendation Systems", KDD 2020).
// A field f with n_f ids and collision factor c_f keeps two tables, the quotient table
// Q_f (ceil(n_f / c_f) rows) and the remainder table R_f (c_f rows); the pair
// (v / c_f, v % c_f) is unique for every local id v, so no two ids of a field share both
// rows. A field where QR would not save rows (ceil(n_f/c)+c >= n_f, small fields) stays
// a full table (c_f = 0).
//
//   lookup(global id) with f = field of id, v = id - offset_f:
//     c_f == 0:  out = F_f[v]
//     "QR"    :  out = Q_f[v / c_f] * R_f[v % c_f]        (element-wise product)
//     "QRsum" :  out = Q_f[v / c_f] + R_f[v % c_f]
//   backward (mult): grad Q_f[q] += g * R_f[r],  grad R_f[r] += g * Q_f[q]
//            (sum) : grad Q_f[q] += g,           grad R_f[r] += g
//   bytes() = 4 D (sum_f rows_f) + 4 F,   rows_f = n_f if c_f == 0,
//                                                  ceil(n_f / c_f) + c_f otherwise
//             (the 4 F bytes are the per-field c_f, int32, needed to decode an id)
//
// Init: Q and full rows uniform(-0.05, 0.05) like Full; R = 1 + uniform(-0.05, 0.05) for
// the product (so a row starts near Q[q] instead of near 0, a product of two small
// numbers) and uniform(-0.05, 0.05) for the sum.
//
// Budget solver ("QR@B", "QRsum@B"): one collision factor for every field cannot land
// within 2% of most budgets (c = 2 is just over 0.5, c = 3 is 0.33), so each field gets
// its own c_f: a common target ratio t is bisected so that each field takes its largest
// setting with rows_f <= t n_f (or its smallest setting, c_f ~ sqrt(n_f), when none is
// that small), then fields are greedily moved to the next larger setting (c_f - 1, or
// full after c_f = 2), largest fields first, while the total stays within the budget.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "compressors/emb_params.h"
#include "compressors/emb_table.h"

namespace embcomp::ctr {

struct QrParams {
  /// Per-field collision factor "c" (Shi et al.'s number of collisions); 0 = full field.
  std::vector<int32_t> c;
  bool sum = false;   ///< combine by sum instead of the element-wise product
  uint64_t seed = 1;  ///< init
  /// Checks one c per field and that each c_f is 0 or in [2, n_f).
  void validate(const std::vector<int64_t>& field_offsets) const;
};

/// Rows of one field with n ids at collision factor c (0 = full): n or ceil(n/c) + c.
int64_t qr_field_rows(int64_t n, int32_t c);

/// The budget solver above: per-field c_f with sum of rows <= max_rows, as many rows as
/// possible. Throws kBadInput (naming spec) when even the smallest settings do not fit.
std::vector<int32_t> solve_qr_collisions(const std::string& spec,
                                         const std::vector<int64_t>& field_offsets,
                                         int64_t max_rows);

class QrTable final : public EmbeddingTable {
 public:
  QrTable(const TableInit& init, QrParams params, std::string spec);
  std::string spec() const override { return spec_; }
  /// "c=0/0/37/..." per field (0 = full).
  std::string knob() const override;
  int64_t rows() const override { return n_; }
  int dim() const override { return d_; }
  void lookup(const int64_t* ids, int64_t n, float* out) override;
  void backward(const int64_t* ids, int64_t n, const float* grad_out) override;
  void step() override;
  int64_t bytes() const override;
  int64_t optimizer_bytes() const override;
  std::vector<std::pair<void*, size_t>> buffers() override;
  std::string budget_note() const override { return note_; }
  void set_budget_note(std::string note) { note_ = std::move(note); }

  /// Quotient (and full-field) rows and remainder rows, for tests.
  RowParams& quotient() { return q_; }
  RowParams& remainder() { return r_; }
  /// Where global id lands: its quotient row and remainder row (-1 for a full field).
  std::pair<int64_t, int64_t> locate(int64_t id) const;

 private:
  QrParams p_;
  std::string spec_, note_;
  int64_t n_;
  int d_;
  std::vector<int64_t> offsets_;  // field layout (F + 1), the model's input structure
  std::vector<int64_t> q_start_;  // first row of field f in q_ (F)
  std::vector<int64_t> r_start_;  // first row of field f in r_ (F)
  RowParams q_, r_;
  OptimizerConfig opt_;
};

}  // namespace embcomp::ctr

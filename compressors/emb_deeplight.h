// DeepLight: gradual magnitude pruning of the embedding table to a target sparsity during
// training, stored sparse (Deng, Pan, Li, Li, Zhu, Yu, Lin, "DeepLight: Deep Lightweight
// Feature Interactions for Accelerating CTR Predictions in Ad Serving", WSDM 2021; the
// schedule is Zhu & Gupta's, "To prune, or not to prune", 2017).
//
// This file also holds the pieces DeepLight shares with PEP (compressors/emb_pep.h): the
// fixed-capacity sparse store (SparseRows) and the trained-pruning table skeleton
// (PrunedSparseTable).
//
// Storage (the inference form; the only arrays bytes() and buffers() count). K stored
// entries of the N x D table, in one of two formats:
//   CSR:  row_ptr (N + 1 uint32), col (K x cb bytes, cb = 1 when D <= 256 else 2),
//         val (K float)                              bytes = 4 (N + 1) + (4 + cb) K
//   COO:  pos (K uint32, r D + j ascending), val (K float)      bytes = 8 K
//   lookup(id) = zeros(D); for each stored entry (id, j, v): out[j] = v
//
// Training state (NOT counted in bytes(); reported by optimizer_bytes(), the training-time
// extra): the dense shadow table W (N x D floats) with its optimizer state, and DeepLight's
// alive mask (N x D bytes). The stored entries are the K alive entries of W with the largest
// |W|, and their values are W's:
//   backward(id, g):  grad W[id][j] += g[j] for every alive j (straight-through for alive
//                     entries that are not stored, so they can grow back into the top K)
//   step t = 1, 2, ...: W -= optimizer(grad) on the touched rows; dead entries stay 0;
//                     touched rows' stored values re-read from W;
//                     every delta = max(1, T / 100) steps while t <= T (Zhu & Gupta):
//                       alive target a(t) = K + ceil((N D - K) (1 - t / T)^3)
//                       kill (set to 0, freeze) the smallest-|W| alive entries down to a(t)
//                       re-select the stored K = top-K alive entries by |W| (ties: lower
//                       position), rebuild the store
//                     at t = T: a(T) = K, the store is exactly the alive set and the mask is
//                     frozen: afterwards only stored entries get gradients (fine-tuning).
// T = TableInit::schedule_steps, default 1000 (kDefaultScheduleSteps).
//
// When the budget is met: at every moment, not only at the end of the schedule. The store
// has the fixed capacity K from construction, and lookup always reads it, so every model
// a trainer evaluates or checkpoints (through buffers()) is the within-budget one.
// Deviation from DeepLight: the paper's forward pass reads the masked dense table, which
// holds more than K nonzeros until the schedule ends; here the forward pass reads the K
// largest alive weights (the budget cap, straight-through in backward) and the cubic
// schedule acts on the alive set. At t >= T both coincide.
// Rows not touched in a step keep their stored values (their W did not change).
// A checkpoint restored through buffers() restores lookup; the shadow is not restored (the
// trainer restores only after training).
//
// Budget solver ("DeepLight@B"): for each format the largest K with bytes <= B 4 N D
// (CSR: K = floor((B 4 N D - 4 (N + 1)) / (4 + cb)); COO: K = floor(B 4 N D / 8)), then the
// format with the larger K (the most stored weights; ties: CSR). COO needs N D < 2^32.
// bytes() is then within one entry (<= 6 bytes) below the budget. K < 1 is kBadInput.
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "compressors/emb_params.h"
#include "compressors/emb_table.h"

namespace embcomp::ctr {

enum class SparseFormat : uint8_t { kCsr, kCoo };

/// K stored entries (row, column, value) of a rows x dim table, in CSR or COO form (see the
/// file comment). Positions p = r * dim + j; entries are kept in ascending position.
class SparseRows {
 public:
  SparseRows() = default;
  /// Empty store of capacity K (call assign before reading).
  SparseRows(int64_t rows, int dim, int64_t K, SparseFormat format);

  /// CSR: 4 (rows + 1) + (4 + cb) K;  COO: 8 K.
  static int64_t bytes_for(int64_t rows, int dim, int64_t K, SparseFormat format);
  /// The largest K <= rows * dim with bytes_for <= budget_bytes; 0 when none fits or the
  /// format cannot hold the table (COO with rows * dim >= 2^32).
  static int64_t max_entries(int64_t rows, int dim, double budget_bytes, SparseFormat format);

  /// Sets the stored positions (exactly K, strictly ascending, < rows * dim); values are set
  /// to 0 (fill them with values()).
  void assign(const std::vector<uint64_t>& positions);
  /// Stored entries of row r are [begin(r), end(r)).
  int64_t begin(int64_t r) const;
  int64_t end(int64_t r) const;
  /// Column of stored entry k.
  int col(int64_t k) const;
  float* values() { return val_.data(); }
  const float* values() const { return val_.data(); }
  /// out[0..dim) = row r (zeros where nothing is stored).
  void read_row(int64_t r, float* out) const;

  int64_t rows() const { return rows_; }
  int dim() const { return dim_; }
  int64_t capacity() const { return K_; }
  SparseFormat format() const { return format_; }
  int64_t bytes() const;
  std::vector<std::pair<void*, size_t>> buffers();

 private:
  int64_t rows_ = 0, K_ = 0;
  int dim_ = 0, cb_ = 1;
  SparseFormat format_ = SparseFormat::kCsr;
  std::vector<uint32_t> row_ptr_;  // CSR: rows + 1
  std::vector<uint8_t> col_;       // CSR: K x cb bytes, little-endian
  std::vector<uint32_t> pos_;      // COO: K positions, ascending
  std::vector<float> val_;         // K values
};

/// The K largest scores' positions (ties: lower position first), ascending. Scores < 0 are
/// never chosen; throws std::logic_error when fewer than K scores are >= 0.
std::vector<uint64_t> top_k_positions(const std::vector<float>& score, int64_t K);

/// The budget-solved sparse layout shared by DeepLight and PEP.
struct SparseBudget {
  int64_t K = 0;
  SparseFormat format = SparseFormat::kCsr;
};
/// Solves K and the format for budget_bytes (see the file comment); kBadInput naming spec
/// when not even one entry fits.
SparseBudget solve_sparse_budget(const std::string& spec, const TableInit& init,
                                 double budget_bytes);

/// Skeleton of a table trained dense (shadow W) and stored sparse (SparseRows) with a
/// pruning schedule of T steps run inside step(). Subclasses define the training-time
/// value and gradient of an entry and the schedule's pruning.
class PrunedSparseTable : public EmbeddingTable {
 public:
  PrunedSparseTable(const TableInit& init, const SparseBudget& b, std::string spec,
                    std::string name);
  std::string spec() const override { return spec_; }
  std::string knob() const override;
  int64_t rows() const override { return n_; }
  int dim() const override { return D_; }
  void lookup(const int64_t* ids, int64_t n, float* out) override;
  void backward(const int64_t* ids, int64_t n, const float* grad_out) override;
  void step() override;
  int64_t bytes() const override { return store_.bytes(); }
  /// Training-time extra: the shadow table and its optimizer state, plus extra_bytes().
  int64_t optimizer_bytes() const override;
  std::vector<std::pair<void*, size_t>> buffers() override { return store_.buffers(); }
  std::string budget_note() const override { return note_; }
  void set_budget_note(std::string note) { note_ = std::move(note); }

  const SparseRows& store() const { return store_; }
  /// The dense shadow W (N x D).
  RowParams& shadow() { return w_; }
  int64_t schedule_steps() const { return T_; }
  int64_t steps_done() const { return t_; }
  /// True once the schedule has ended (t >= T): the stored set is frozen.
  bool schedule_done() const { return done_; }
  /// Re-reads every stored value from the training parameters (no re-selection).
  void refresh();

 protected:
  /// Training-time value of entry (r, j) (what the store holds for it).
  virtual float value(int64_t r, int j) const = 0;
  /// Selection score of entry (r, j) while the schedule runs (< 0: never stored).
  virtual float score(int64_t r, int j) const { return std::abs(value(r, j)); }
  /// Gradient of the shadow row r from g = dL/dout (D floats) while the schedule runs;
  /// may accumulate the gradient of other parameters.
  virtual void shadow_grad(int64_t r, const float* g, float* gw) = 0;
  /// Called every delta steps while t <= T, before the store is re-selected.
  virtual void prune(int64_t /*t*/) {}
  /// Called after the shadow's optimizer step (extra parameters, dead entries).
  virtual void after_update(const std::vector<int64_t>& /*touched*/) {}
  /// Called once when the schedule ends, after the final selection: afterwards value() is
  /// read from W directly (W must then hold the stored values at the stored positions).
  virtual void finish_schedule() {}
  virtual int64_t extra_bytes() const { return 0; }
  /// Rebuilds the store from the top-K scores and refreshes its values.
  void reselect();

  std::string spec_, note_, name_;
  int64_t n_;
  int D_;
  int64_t T_, delta_;
  int64_t t_ = 0;
  bool done_ = false;
  OptimizerConfig opt_;
  RowParams w_;
  SparseRows store_;
  std::vector<int64_t> touched_;  // rows with a gradient this step
  std::vector<float> gw_;         // backward scratch, D floats
};

/// The registered builder of a PrunedSparseTable method NAME: kBadInput without a budget,
/// solve_sparse_budget, build(K, format), and the budget note.
std::unique_ptr<EmbeddingTable> make_pruned_sparse(
    const std::string& spec, double budget, const TableInit& init, const std::string& name,
    const std::function<std::unique_ptr<PrunedSparseTable>(const SparseBudget&)>& build);

/// Default schedule length in steps when TableInit::schedule_steps is 0.
inline constexpr int64_t kDefaultScheduleSteps = 1000;

class DeepLightTable final : public PrunedSparseTable {
 public:
  DeepLightTable(const TableInit& init, const SparseBudget& b, std::string spec);
  /// Alive entries of the shadow (not killed by the schedule).
  int64_t alive_count() const { return alive_count_; }
  bool alive(int64_t pos) const { return alive_[pos] != 0; }
  /// Zhu & Gupta's alive target after step t: K + ceil((N D - K) (1 - t / T)^3).
  int64_t alive_target(int64_t t) const;

 protected:
  float value(int64_t r, int j) const override { return w_.row(r)[j]; }
  float score(int64_t r, int j) const override;
  void shadow_grad(int64_t r, const float* g, float* gw) override;
  void prune(int64_t t) override;
  void after_update(const std::vector<int64_t>& touched) override;
  int64_t extra_bytes() const override { return static_cast<int64_t>(alive_.size()); }

 private:
  std::vector<uint8_t> alive_;  // N x D, 1 = alive
  int64_t alive_count_ = 0;
};

}  // namespace embcomp::ctr

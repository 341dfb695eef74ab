// EmbeddingTable: a trainable, possibly compressed, embedding table for CTR models
// (issue 7). One table holds every categorical field: a field's local id v is the global
// row id field_offsets[f] + v, so N = field_offsets.back() logical rows of width D.
//
// Protocol per mini-batch (the trainer calls these in this order):
//   lookup(ids, n, out)            out[i*D .. i*D+D) = embedding of logical row ids[i]
//   backward(ids, n, grad_out)     dL/d out for the same ids -> accumulates into the
//                                  method's parameters (rows shared by several ids, e.g.
//                                  after hashing, sum their gradients)
//   step()                         applies the accumulated sparse gradients with the
//                                  table's optimizer (row-wise: only touched parameters
//                                  and their optimizer state change) and clears them
//
// Memory contract: bytes() counts every array the method keeps for inference
// (parameters, hash seeds/maps, frequency maps, projections, scales), NOT optimizer
// state (reported by optimizer_bytes()). budget_actual = bytes() / (4 N D).
//
// Methods register once in the CTR table registry (emb_table.cpp) with a budget solver:
// "Hash@0.1" solves the method's knob so bytes() <= 0.1 * 4 N D, within 2% below or
// with a budget_note() saying why not.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace embcomp::ctr {

/// Sparse optimizer for table parameters (and, in eval/ctr_optim.h, for dense layers).
struct OptimizerConfig {
  enum class Kind { kSGD, kAdagrad, kAdam };
  Kind kind = Kind::kAdam;
  float lr = 1e-3f;        ///< learning rate
  float beta1 = 0.9f;      ///< Adam first-moment decay
  float beta2 = 0.999f;    ///< Adam second-moment decay
  float eps = 1e-8f;       ///< Adagrad/Adam denominator guard
  float initial_accumulator = 0.0f;  ///< Adagrad initial accumulator
};

/// What a table is built from: sizes, field layout and training-split frequencies.
struct TableInit {
  int64_t rows = 0;                    ///< N, logical rows (= field_offsets.back())
  int dim = 16;                        ///< D, embedding width
  std::vector<int64_t> field_offsets;  ///< num_fields + 1 offsets, first 0, last N
  /// Frequency of each logical row in the training split (size N); empty when unknown
  /// (frequency-aware methods then treat every row alike).
  std::vector<uint32_t> counts;
  uint64_t seed = 1;                   ///< every random choice (init, hash seeds)
  OptimizerConfig optimizer;
  /// Length in step() calls of a table's search/pruning schedule (DeepLight, PEP); 0: the
  /// method's default. train_ctr (eval/ctr_train.cpp) sets it to half the run's steps.
  int64_t schedule_steps = 0;

  /// 4 N D: the bytes of the full fp32 table, of which a "Method@b" budget is the fraction b.
  double full_bytes() const { return 4.0 * double(rows) * dim; }
  /// schedule_steps, checked: kBadInput naming spec when negative; 0 keeps the default.
  int64_t checked_schedule_steps(const std::string& spec) const;
};

class EmbeddingTable {
 public:
  virtual ~EmbeddingTable() = default;
  /// Canonical spec as requested ("Hash@0.1", "QR@10x", "Full").
  virtual std::string spec() const = 0;
  /// The knob the budget solver chose ("rows=123456", "rank=8"); "" for Full.
  virtual std::string knob() const = 0;
  virtual int64_t rows() const = 0;
  virtual int dim() const = 0;
  /// out (n x D, row-major) = embeddings of ids[0..n). Throws kBadInput for an id
  /// outside [0, rows()).
  virtual void lookup(const int64_t* ids, int64_t n, float* out) = 0;
  /// Accumulates dL/dout (n x D) for the ids of the matching lookup.
  virtual void backward(const int64_t* ids, int64_t n, const float* grad_out) = 0;
  /// Applies and clears the accumulated gradients.
  virtual void step() = 0;
  /// Inference bytes (see the memory contract above).
  virtual int64_t bytes() const = 0;
  /// Optimizer state bytes (Adam moments, Adagrad accumulators).
  virtual int64_t optimizer_bytes() const = 0;
  /// Every array bytes() counts, as raw byte ranges (weights, int8 codes, scales, hash
  /// seeds, maps, projections). Their sizes sum to bytes() exactly (the table tests
  /// check it). The trainer copies them to keep the best checkpoint and writes them back
  /// to restore it, so nothing outside these buffers may change what lookup returns.
  virtual std::vector<std::pair<void*, size_t>> buffers() = 0;
  /// Why the budget was missed (not within 2% below it); "" when met or no budget.
  virtual std::string budget_note() const { return ""; }
  /// The search phase is still running (AutoDim, OptEmbed: a supernet larger than the
  /// final table is trained first): the trainer neither validates nor checkpoints, and
  /// bytes()/buffers() describe the final table only once it returns false (while it is
  /// true, bytes() counts the supernet: the trainer records the peak as search_bytes).
  /// A search ends inside step() after a number of steps fixed at construction.
  virtual bool searching() const { return false; }
};

/// One registered CTR table method.
struct TableMethod {
  std::string name;     ///< "Hash"
  std::string grammar;  ///< "Hash | Hash@B"
  std::string doc;      ///< one line for `embcomp list`
  /// Builds from a full spec ("Hash@0.1"); budget is the parsed fraction or 0 when the
  /// spec has none. Throws kBadInput when the budget cannot be met.
  std::function<std::unique_ptr<EmbeddingTable>(const std::string& spec, double budget,
                                                 const TableInit& init)>
      make;
};

/// Every registered method, in registration order.
const std::vector<TableMethod>& table_methods();
/// Registers a method at static-initialization time, in the method's own .cpp:
/// `static TableRegistrar reg{{"Hash", "Hash@B", "...", make_hash}};`. Throws
/// std::logic_error on a duplicate name.
struct TableRegistrar {
  explicit TableRegistrar(TableMethod m);
};
/// Parses "NAME", "NAME@0.1" or "NAME@10x" and builds the table; kBadInput for an
/// unknown name, a budget <= 0 or >= 1, or one the method cannot meet.
std::unique_ptr<EmbeddingTable> make_embedding_table(const std::string& spec,
                                                     const TableInit& init);

}  // namespace embcomp::ctr

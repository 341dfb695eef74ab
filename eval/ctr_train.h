// CTR trainer (issue 7): trains a model (eval/ctr_model.h) with one embedding table
// method (compressors/emb_table.h) on a CtrDataset and returns one JSON record.
//
// Protocol:
//   - mini-batches of `batch` rows over the train split; each epoch visits every row once
//     in a fresh permutation drawn from mt19937_64(seed + epoch) (shuffle = true), or in
//     file order (shuffle = false); the last batch of an epoch may be smaller;
//   - validation AUC/logloss every eval_every steps (0: never mid-epoch) and at the end
//     of every epoch; the parameters with the best validation AUC so far are kept by
//     copying the table's buffers() and the dense weights;
//   - while the table is searching() (AutoDim, OptEmbed: a supernet is trained before the
//     final table exists) there is no validation and no checkpoint, so every checkpoint is
//     the final table; the record has the peak table bytes during the search (search_bytes)
//     and the step after which it ended (search_end_step), both null for a table that never
//     searches; a search still running when training ends is a kRuntime error;
//   - early stopping: after `patience` evaluations in a row without a better validation
//     AUC (patience 0: never stop early);
//   - at the end the best checkpoint is restored and the test split is evaluated ONCE:
//     test AUC/logloss, and the inference latency of each test batch of `batch` rows
//     (lookup + forward, wall clock; p50/p99 over the batches).
// Test labels never influence training or the checkpoint choice.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "compressors/emb_table.h"
#include "eval/ctr_data.h"
#include "eval/ctr_model.h"

namespace embcomp::ctr {

/// Largest embedding width D that ctr-train accepts.
constexpr int kMaxCtrDim = 4096;

struct CtrTrainConfig {
  std::string model = "dlrm";   ///< dlrm | dcn | wdl | deepfm
  std::string method = "Full";  ///< table spec: "Full", "Hash@0.1", ...
  int dim = 16;                 ///< D
  int64_t batch = 128;          ///< rows per training step (clamped to the train rows)
  int epochs = 1;               ///< passes over the train split
  OptimizerConfig optimizer;    ///< for the table(s) and the dense layers alike
  int64_t eval_every = 0;       ///< validation every N steps (0: end of epoch only)
  int patience = 0;             ///< early stopping patience in evaluations (0: off)
  bool shuffle = true;          ///< per-epoch permutation from the seed
  uint64_t seed = 1;            ///< table init, dense init, shuffling
  int64_t eval_batch = 8192;    ///< rows per forward pass when evaluating validation
  bool verbose = true;          ///< progress lines on stderr
  /// Layer widths; num_dense, num_fields, dim and seed are taken from the data and above.
  CtrModelParams arch;
  /// Builds the table from the run's layout; empty (the default): make_embedding_table(method,
  /// init). Tests put probe tables here (the registry is the CLI's single source of tables).
  std::function<std::unique_ptr<EmbeddingTable>(const TableInit&)> table_factory;
  /// Checks the values (kUsage naming the bad one).
  void validate() const;
};

/// Trains and evaluates; returns the record (docs/ctr_training.md lists the fields).
/// Throws kBadInput for an empty split, a split with one class, or ids out of range.
nlohmann::ordered_json train_ctr(const CtrDataset& ds, const CtrTrainConfig& cfg);

/// The fraction in a spec "NAME@B" (0.1 for "Hash@0.1" or "Hash@10x"), 1 for "Full",
/// -1 when the spec carries no budget.
double requested_budget(const std::string& spec);

/// "sgd" | "adagrad" | "adam" -> the kind (kUsage otherwise).
OptimizerConfig::Kind optimizer_kind(const std::string& name);
const char* optimizer_name(OptimizerConfig::Kind kind);

}  // namespace embcomp::ctr

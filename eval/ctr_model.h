// CtrModel: the common interface of the CTR models (DLRM, DCN, WDL, DeepFM; issue 7) and
// the data-parallel training step they share.
//
// A model = an EmbeddingTable (one table for every categorical field, D-dim rows; see
// compressors/emb_table.h) + dense layers whose parameters live in ONE flat DenseParams
// (eval/ctr_layers.h). The table is the model's only per-id storage, so the table's bytes()
// are all the per-id memory a budget has to cover (WDL's wide part and DeepFM's first-order
// part are dense Linear layers over the input, not second per-id tables; audit M8).
//
// train_step(batch of n rows), with T = omp_get_max_threads() (at most n / 16 chunks):
//   ids   = cat (n x F global row ids, as int64)
//   emb   = table.lookup(ids)                          n x F x D      (serial)
//   parallel over T consecutive row chunks c (OpenMP; single-threaded BLAS inside):
//     logits_c = forward_rows(chunk)                  model-specific
//     dz_c     = (sigmoid(logits_c) - y_c) / n        mean binary cross-entropy
//     grad_c   = backward_rows(chunk)                 dense gradients, thread-private
//     demb_c                                          gradients of the looked-up rows
//   grad  = sum_c grad_c (in chunk order: same seed and thread count -> same result)
//   table.backward(ids, demb); table.step(); dense.step(optimizer)
//
// Exceptions inside the parallel region are captured (OmpExceptionGuard) and rethrown.
//
// Denormals: the threads that run a step (the caller's and OpenMP's pool) are switched to
// flush-to-zero / denormals-are-zero (flush_denormals_to_zero) and stay so. Without it,
// Adam's moments of weights whose gradient is 0 (dead ReLUs) decay into denormal floats
// within ~1000 steps, and the dense update became 63% of a DLRM step (perf, step 5000 of
// a Criteo-like run: samples/s fell from 22k to 14k). Values below 1.2e-38 become 0.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "compressors/emb_params.h"
#include "compressors/emb_table.h"
#include "eval/ctr_layers.h"

namespace embcomp::ctr {

/// Sizes of a CTR model (the defaults are the Criteo architectures).
struct CtrModelParams {
  int num_dense = 13;                            ///< dense features per row (0 for Avazu)
  int num_fields = 26;                           ///< categorical fields F
  int dim = 16;                                  ///< embedding width D
  std::vector<int> bottom_mlp = {512, 256, 64};  ///< DLRM bottom hidden widths (then D)
  std::vector<int> top_mlp = {512, 256};         ///< DLRM top hidden widths (then 1)
  int cross_layers = 3;                          ///< DCN cross layers L
  std::vector<int> deep_mlp = {256, 256, 256};   ///< DCN / WDL / DeepFM deep hidden widths
  uint64_t seed = 1;                             ///< init of every dense weight
  /// Throws kBadInput naming the value (num_dense < 0, F < 1, D < 1, empty widths...).
  void validate() const;
};

/// Per-chunk scratch of a model (activations kept for backward). Buffers only grow, so a
/// training loop allocates nothing after its first step.
struct CtrWorkspace {
  std::vector<std::vector<float>> buf;  ///< model-specific buffers, see each model
  Mlp::Cache mlp[2];                    ///< activations of up to two MLPs
  float* get(size_t i, size_t n) {
    if (buf.size() <= i) buf.resize(i + 1);
    return ensure(buf[i], n);
  }
};

class CtrModel {
 public:
  /// table (D = p.dim) is not owned and must outlive the model; opt updates the dense
  /// parameters.
  CtrModel(const CtrModelParams& p, EmbeddingTable* table, const OptimizerConfig& opt);
  virtual ~CtrModel() = default;
  virtual std::string name() const = 0;

  /// One optimizer step on n rows (dense n x num_dense, cat n x F, label n). Returns the
  /// mean binary cross-entropy before the update.
  double train_step(const float* dense, const int32_t* cat, const float* label, int64_t n);
  /// Like train_step but without any update: dense gradients end in params().grad()
  /// (added to what is there), table gradients are accumulated in the tables (apply or
  /// drop them with step()). For gradient checks.
  double compute_gradients(const float* dense, const int32_t* cat, const float* label, int64_t n);
  /// logits (n) of n rows; no gradient, no update.
  void predict(const float* dense, const int32_t* cat, int64_t n, float* logits);

  DenseParams& params() { return params_; }
  EmbeddingTable& table() { return *table_; }
  const CtrModelParams& model_params() const { return p_; }
  /// Dense parameter bytes (4 per float).
  int64_t dense_bytes() const { return params_.bytes(); }
  /// Dense optimizer state: Adam 2x, Adagrad 1x, SGD 0 of dense_bytes().
  int64_t dense_optimizer_bytes() const;

 protected:
  /// Model part, over a chunk of n rows: dense (n x num_dense), emb (n x F x D). Writes
  /// logits (n). May keep activations in ws for backward_rows.
  virtual void forward_rows(const float* w, const float* dense, const float* emb, int64_t n,
                            CtrWorkspace& ws, float* logits) const = 0;
  /// dlogits (n) = dL/dlogit. grad += dense gradients (layout of params()); demb (n x F x
  /// D) is overwritten with the gradients of emb.
  virtual void backward_rows(const float* w, const float* dense, const float* emb, int64_t n,
                             const float* dlogits, CtrWorkspace& ws, float* grad,
                             float* demb) const = 0;
  /// Called by the derived constructor once the layout is known: allocates the flat
  /// parameters (size floats) and lets init() fill them.
  void allocate(int64_t size);

  CtrModelParams p_;
  EmbeddingTable* table_;
  OptimizerConfig opt_;
  DenseParams params_;

 private:
  /// Lookup + forward + loss + backward of the batch; dense gradients into params_.grad().
  double run_batch(const float* dense, const int32_t* cat, const float* label, int64_t n,
                   bool backward);
  std::vector<int64_t> ids_;
  std::vector<float> emb_, demb_, logits_, dlogits_;
  bool ftz_set_ = false;      // flush_denormals_to_zero done on every pool thread
  std::vector<double> loss_;  // per-chunk loss sums
  std::vector<CtrWorkspace> ws_;
  std::vector<std::vector<float>> grads_;  // per-chunk dense gradients (chunk 0 uses params_)
};

/// Sets FTZ and DAZ in this thread's MXCSR (x86; no-op elsewhere).
void flush_denormals_to_zero();

/// Names accepted by make_ctr_model, in order: dlrm, dcn, wdl, deepfm.
const std::vector<std::string>& ctr_model_names();
/// Builds one of ctr_model_names() (kBadInput for another name).
std::unique_ptr<CtrModel> make_ctr_model(const std::string& name, const CtrModelParams& p,
                                         EmbeddingTable* table, const OptimizerConfig& opt);

}  // namespace embcomp::ctr

#include "eval/ctr_model.h"

#include <omp.h>
#if defined(__x86_64__) || defined(__SSE2__)
#include <pmmintrin.h>
#include <xmmintrin.h>
#endif

#include <algorithm>
#include <cstring>

#include "eval/ctr_dcn.h"
#include "eval/ctr_deepfm.h"
#include "eval/ctr_dlrm.h"
#include "eval/ctr_wdl.h"
#include "toolkit/error.h"

namespace embcomp::ctr {

void flush_denormals_to_zero() {
#if defined(__x86_64__) || defined(__SSE2__)
  _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
  _MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON);
#endif
}

void CtrModelParams::validate() const {
  EC_CHECK(num_dense >= 0, kBadInput, "num_dense=" << num_dense << " must be >= 0");
  EC_CHECK(num_fields >= 1, kBadInput, "num_fields=" << num_fields << " must be >= 1");
  EC_CHECK(dim >= 1, kBadInput, "dim=" << dim << " must be >= 1");
  EC_CHECK(cross_layers >= 0, kBadInput, "cross_layers=" << cross_layers << " must be >= 0");
  for (int w : bottom_mlp) EC_CHECK(w > 0, kBadInput, "bottom MLP width " << w << " must be > 0");
  for (int w : top_mlp) EC_CHECK(w > 0, kBadInput, "top MLP width " << w << " must be > 0");
  for (int w : deep_mlp) EC_CHECK(w > 0, kBadInput, "deep MLP width " << w << " must be > 0");
}

CtrModel::CtrModel(const CtrModelParams& p, EmbeddingTable* table, const OptimizerConfig& opt)
    : p_(p), table_(table), opt_(opt) {
  p_.validate();
  EC_CHECK(table != nullptr, kBadInput, "a CTR model needs an embedding table");
  EC_CHECK(table->dim() == p.dim, kBadInput,
           "the embedding table has dim " << table->dim() << ", the model expects " << p.dim);
}

void CtrModel::allocate(int64_t size) { params_ = DenseParams(size, 0.0f, p_.seed); }

int64_t CtrModel::dense_optimizer_bytes() const {
  return RowParams::optimizer_bytes(1, static_cast<int>(params_.size()), opt_);
}

double CtrModel::run_batch(const float* dense, const int32_t* cat, const float* label, int64_t n,
                           bool backward) {
  EC_CHECK(n > 0, kBadInput, "a batch needs at least one row");
  const int F = p_.num_fields, D = p_.dim, nd = p_.num_dense;
  const int64_t nf = n * F;
  if (static_cast<int64_t>(ids_.size()) < nf) ids_.resize(nf);
  for (int64_t i = 0; i < nf; ++i) ids_[i] = cat[i];
  float* emb = ensure(emb_, static_cast<size_t>(nf) * D);
  table_->lookup(ids_.data(), nf, emb);
  float* logits = ensure(logits_, n);
  float* dlogits = ensure(dlogits_, n);
  EC_CHECK(!backward || label != nullptr, kBadInput, "training needs labels");
  float* demb = backward ? ensure(demb_, static_cast<size_t>(nf) * D) : nullptr;

  // Chunks of at least 16 rows: smaller ones cost more in BLAS overhead than they save.
  const int chunks =
      static_cast<int>(std::max<int64_t>(1, std::min<int64_t>(omp_get_max_threads(), n / 16)));
  if (static_cast<int>(ws_.size()) < chunks) ws_.resize(chunks);
  if (backward && static_cast<int>(grads_.size()) < chunks) grads_.resize(chunks);
  const int64_t np = params_.size();
  const float* w = params_.data();
  loss_.assign(chunks, 0.0);  // summed over the chunk's rows (training only)
  double* loss = loss_.data();
  OmpExceptionGuard guard;
#pragma omp parallel for schedule(static, 1) num_threads(chunks)
  for (int c = 0; c < chunks; ++c) {
    guard.run([&] {
      flush_denormals_to_zero();
      const int64_t r0 = n * c / chunks, r1 = n * (c + 1) / chunks, m = r1 - r0;
      const float* dn = dense + r0 * nd;
      const float* em = emb + r0 * F * D;
      forward_rows(w, dn, em, m, ws_[c], logits + r0);
      if (!backward) return;
      loss[c] = bce_with_logits(logits + r0, label + r0, m, dlogits + r0, 1.0f / n);
      // Chunk 0 accumulates straight into params_.grad(); the others into private buffers.
      float* g = params_.grad();
      if (c > 0) {
        g = ensure(grads_[c], np);
        std::fill(g, g + np, 0.0f);
      }
      backward_rows(w, dn, em, m, dlogits + r0, ws_[c], g, demb + r0 * F * D);
    });
  }
  guard.rethrow();
  if (backward && chunks > 1) {
    float* g = params_.grad();
#pragma omp parallel for schedule(static) num_threads(chunks)
    for (int64_t k = 0; k < np; ++k)
      for (int c = 1; c < chunks; ++c) g[k] += grads_[c][k];
  }
  if (backward) table_->backward(ids_.data(), nf, demb);
  double sum = 0;
  for (int c = 0; c < chunks; ++c) sum += loss[c];
  return sum / n;
}

double CtrModel::train_step(const float* dense, const int32_t* cat, const float* label, int64_t n) {
  if (!ftz_set_) {  // every pool thread (the dense update uses them all), once
    flush_denormals_to_zero();
#pragma omp parallel
    flush_denormals_to_zero();
    ftz_set_ = true;
  }
  const double loss = run_batch(dense, cat, label, n, true);
  table_->step();
  params_.step(opt_);
  return loss;
}

double CtrModel::compute_gradients(const float* dense, const int32_t* cat, const float* label,
                                   int64_t n) {
  return run_batch(dense, cat, label, n, true);
}

void CtrModel::predict(const float* dense, const int32_t* cat, int64_t n, float* logits) {
  run_batch(dense, cat, nullptr, n, false);
  std::memcpy(logits, logits_.data(), sizeof(float) * n);
}

const std::vector<std::string>& ctr_model_names() {
  static const std::vector<std::string> names = {"dlrm", "dcn", "wdl", "deepfm"};
  return names;
}

std::unique_ptr<CtrModel> make_ctr_model(const std::string& name, const CtrModelParams& p,
                                         EmbeddingTable* table, const OptimizerConfig& opt) {
  if (name == "dlrm") return std::make_unique<DlrmModel>(p, table, opt);
  if (name == "dcn") return std::make_unique<DcnModel>(p, table, opt);
  if (name == "wdl") return std::make_unique<WdlModel>(p, table, opt);
  if (name == "deepfm") return std::make_unique<DeepFmModel>(p, table, opt);
  EC_THROW(kBadInput, "unknown CTR model '" << name << "'; known: dlrm, dcn, wdl, deepfm");
}

}  // namespace embcomp::ctr

#include "compressors/emb_pep.h"

#include <algorithm>
#include <cmath>

#include "toolkit/error.h"

namespace embcomp::ctr {

PepTable::PepTable(const TableInit& init, const SparseBudget& b, std::string spec)
    : PrunedSparseTable(init, b, std::move(spec), "PEP"),
      offsets_(init.field_offsets),
      s_(int64_t(init.field_offsets.size() - 1) * init.dim, 0.0f, init.seed) {
  std::fill(s_.data(), s_.data() + s_.size(), kPepThresholdInit);
  reselect();
}

int PepTable::field_of(int64_t r) const {
  return static_cast<int>(std::upper_bound(offsets_.begin(), offsets_.end(), r) -
                          offsets_.begin()) -
         1;
}

float PepTable::value(int64_t r, int j) const {
  const float v = w_.row(r)[j];
  if (done_) return v;
  const float th = gate(s_.data()[field_of(r) * D_ + j]);
  const float m = std::abs(v) - th;
  return m > 0 ? std::copysign(m, v) : 0.0f;
}

void PepTable::shadow_grad(int64_t r, const float* g, float* gw) {
  const float* v = w_.row(r);
  const int64_t f = field_of(r);
  const float* s = s_.data() + f * D_;
  float* gs = s_.grad() + f * D_;
  for (int j = 0; j < D_; ++j) {
    const float th = gate(s[j]);
    if (std::abs(v[j]) > th) {
      gw[j] = g[j];
      gs[j] -= g[j] * std::copysign(1.0f, v[j]) * th * (1.0f - th);
    } else {
      gw[j] = 0.0f;
    }
  }
}

void PepTable::after_update(const std::vector<int64_t>& /*touched*/) {
  if (!done_) s_.step(opt_);
}

void PepTable::finish_schedule() {
  // v := the stored (thresholded) values; nothing else is read any more.
  std::fill(w_.data(), w_.data() + n_ * D_, 0.0f);
  const float* val = store_.values();
  for (int64_t r = 0; r < n_; ++r)
    for (int64_t k = store_.begin(r); k < store_.end(r); ++k) w_.row(r)[store_.col(k)] = val[k];
}

int64_t PepTable::extra_bytes() const {
  return s_.bytes() + RowParams::optimizer_bytes(1, static_cast<int>(s_.size()), opt_);
}

namespace {

std::unique_ptr<EmbeddingTable> make_pep(const std::string& spec, double budget,
                                         const TableInit& init) {
  return make_pruned_sparse(spec, budget, init, "PEP", [&](const SparseBudget& b) {
    return std::make_unique<PepTable>(init, b, spec);
  });
}

TableRegistrar reg{{"PEP", "PEP@B",
                    "plug-in embedding pruning: learned soft thresholds sign(v) ReLU(|v| - "
                    "sigmoid(s)) per field and dimension for T steps, K stored entries "
                    "(DeepLight's CSR/COO bytes)",
                    make_pep}};

}  // namespace
}  // namespace embcomp::ctr

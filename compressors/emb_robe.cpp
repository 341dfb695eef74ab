#include "compressors/emb_robe.h"

#include <algorithm>
#include <cmath>

#include "compressors/budget.h"
#include "compressors/emb_full.h"
#include "toolkit/error.h"

namespace embcomp::ctr {

void RobeParams::validate(int dim) const {
  EC_CHECK(Z >= 1 && Z <= std::min(32, dim), kBadInput,
           "ROBE block size Z=" << Z << " must be in [1, min(32, D=" << dim << ")]");
  EC_CHECK(M >= Z, kBadInput,
           "ROBE needs a shared array of at least Z=" << Z << " floats, got M=" << M);
}

RobeTable::RobeTable(const TableInit& init, RobeParams params, std::string spec)
    : p_(params), spec_(std::move(spec)), n_(init.rows), d_(init.dim), opt_(init.optimizer) {
  if (p_.Z == 0) p_.Z = std::min(32, d_);
  p_.validate(d_);
  chunks_ = (d_ + p_.Z - 1) / p_.Z;
  EC_CHECK(n_ <= int64_t(UniversalHash::kP / uint64_t(chunks_)), kBadInput,
           "ROBE: rows=" << n_ << " times chunks=" << chunks_ << " overflows the hash key");
  loc_ = UniversalHash::from_seed(p_.seed);
  sign_ = UniversalHash::from_seed(p_.seed ^ 0xD1B54A32D192ED03ull);
  a_ = RowParams(p_.M, 1, 0.05f, p_.seed);
}

template <class F>
void RobeTable::for_each_element(int64_t id, F&& f) const {
  const int64_t M = p_.M;
  const int Z = p_.Z;
  for (int k = 0; k < chunks_; ++k) {
    const uint64_t x = uint64_t(id) * uint64_t(chunks_) + uint64_t(k);
    const int64_t base = static_cast<int64_t>(loc_(x, uint64_t(M)));
    const uint64_t signs = sign_.raw(x);
    const int end = std::min(Z, d_ - k * Z);
    for (int t = 0; t < end; ++t) {
      int64_t idx = base + t;
      if (idx >= M) idx -= M;  // M >= Z: one wrap at most
      // Branch-free: the sign bits are random, a branch would mispredict half the time.
      f(k * Z + t, idx, 1.0f - 2.0f * static_cast<float>((signs >> t) & 1));
    }
  }
}

std::pair<int64_t, float> RobeTable::element(int64_t id, int j) const {
  std::pair<int64_t, float> r{-1, 0.0f};
  for_each_element(id, [&](int jj, int64_t idx, float s) {
    if (jj == j) r = {idx, s};
  });
  return r;
}

void RobeTable::lookup(const int64_t* ids, int64_t n, float* out) {
  check_table_ids(ids, n, n_);
  const float* a = a_.data();
  const int d = d_;
#pragma omp parallel for schedule(static) if (n > 16384)
  for (int64_t i = 0; i < n; ++i) {
    float* o = out + i * d;
    for_each_element(ids[i], [&](int j, int64_t idx, float s) { o[j] = s * a[idx]; });
  }
}

void RobeTable::backward(const int64_t* ids, int64_t n, const float* grad_out) {
  check_table_ids(ids, n, n_);
  for (int64_t i = 0; i < n; ++i) {
    const float* g = grad_out + i * d_;
    for_each_element(ids[i], [&](int j, int64_t idx, float s) { a_.accumulate(idx, g + j, s); });
  }
}

std::vector<std::pair<void*, size_t>> RobeTable::buffers() {
  return {
      {a_.data(), static_cast<size_t>(a_.bytes())}, {&loc_, sizeof(loc_)}, {&sign_, sizeof(sign_)}};
}

namespace {

std::unique_ptr<EmbeddingTable> make_robe(const std::string& spec, double budget,
                                          const TableInit& init) {
  require_budget(spec, budget, "ROBE");
  const double full = 4.0 * init.rows * init.dim;
  RobeParams p;
  p.seed = init.seed;
  p.Z = std::min(32, init.dim);
  p.M = static_cast<int64_t>(std::floor((budget * full - 32) / 4.0));
  if (p.M < p.Z)
    budget_unreachable(spec, budget * full, full, "M=Z=" + std::to_string(p.Z),
                       size_t(RobeTable::bytes_for(p.Z)));
  auto t = std::make_unique<RobeTable>(init, p, spec);
  t->set_budget_note(budget_gap_note(t->bytes() / full, budget, "the array holds whole floats"));
  return t;
}

TableRegistrar reg{{"ROBE", "ROBE@B",
                    "ROBE-Z: one shared circular array of M = B N D floats, row blocks of "
                    "Z = min(32, D) at hashed offsets with hashed signs (4 M + 32 bytes)",
                    make_robe}};

}  // namespace
}  // namespace embcomp::ctr

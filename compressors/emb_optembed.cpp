#include "compressors/emb_optembed.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include "compressors/budget.h"
#include "compressors/emb_full.h"
#include "toolkit/error.h"
#include "toolkit/hash.h"

namespace embcomp::ctr {
namespace {

float l1(const float* x, int d) {
  float s = 0;
  for (int j = 0; j < d; ++j) s += std::fabs(x[j]);
  return s;
}

}  // namespace

void OptEmbedParams::validate() const {
  EC_CHECK(search_steps >= 1, kBadInput,
           "OptEmbed: search_steps=" << search_steps << " must be >= 1");
  EC_CHECK(budget_bytes >= 0, kBadInput,
           "OptEmbed: budget_bytes=" << budget_bytes << " must be >= 0");
  EC_CHECK(std::isfinite(lambda) && lambda >= 0, kBadInput,
           "OptEmbed: lambda=" << lambda << " must be >= 0");
  EC_CHECK(rho > 0 && rho <= 1, kBadInput, "OptEmbed: rho=" << rho << " must be in (0, 1]");
}

float optembed_step_grad(float x) {
  const float a = std::fabs(x);
  if (a <= 0.4f) return 2.0f - 4.0f * a;
  return a <= 1.0f ? 0.4f : 0.0f;
}

int optembed_choose_dim(const double* importance, int D, float rho) {
  double total = 0;
  for (int j = 0; j < D; ++j) total += importance[j];
  if (!(total > 0)) return 1;
  double prefix = 0;
  for (int d = 1; d <= D; ++d) {
    prefix += importance[d - 1];
    if (prefix >= double(rho) * total) return d;
  }
  return D;
}

OptEmbedTable::OptEmbedTable(const TableInit& init, const OptEmbedParams& p, std::string spec)
    : p_(p),
      spec_(std::move(spec)),
      n_(init.rows),
      D_(init.dim),
      F_(int(init.field_offsets.size()) - 1),
      offsets_(init.field_offsets),
      opt_(init.optimizer) {
  p_.validate();
  EC_CHECK(n_ <= int64_t{0xFFFFFFFF}, kBadInput,
           "OptEmbed keeps row ids as uint32, rows=" << n_ << " is too many");
  const uint64_t s = p_.seed * 0x9E3779B97F4A7C15ull;
  w_ = RowParams(n_, D_, 0.05f, s + 1);
  t_ = DenseParams(F_, 0.0f, 0);
  rng_.seed(s + 2);
  mask_.assign(F_, D_);
  draw_masks();
  imp_.assign(size_t(F_) * D_, 0.0);
  step_imp_.assign(size_t(F_) * D_, 0.0);
}

void OptEmbedTable::draw_masks() {
  for (int f = 0; f < F_; ++f) mask_[f] = 1 + int(rng_() % uint64_t(D_));
}

std::string OptEmbedTable::knob() const {
  if (searching_) return "search";
  std::ostringstream k;
  k << "kept=";
  for (int f = 0; f < F_; ++f) k << (f ? "/" : "") << kept_count_[f];
  k << ",dims=";
  for (int f = 0; f < F_; ++f) k << (f ? "/" : "") << dims_[f];
  return k.str();
}

int OptEmbedTable::field_of(int64_t id) const {
  return int(std::upper_bound(offsets_.begin(), offsets_.end(), id) - offsets_.begin()) - 1;
}

void OptEmbedTable::lookup(const int64_t* ids, int64_t n, float* out) {
  check_table_ids(ids, n, n_);
#pragma omp parallel for schedule(static) if (n > 16384)
  for (int64_t i = 0; i < n; ++i) {
    const int64_t id = ids[i];
    const int f = field_of(id);
    float* o = out + i * D_;
    std::fill(o, o + D_, 0.0f);
    if (searching_) {
      const float* w = w_.row(id);
      if (l1(w, D_) - t_.data()[f] <= 0) continue;  // m = H(x) = 0 at x <= 0
      std::copy(w, w + mask_[f], o);
      continue;
    }
    if (!kept_.is_hot(id)) continue;
    const int d = dims_[f];
    const float* v = v_[f].row(kept_.rank(id) - rank0_[f]);
    std::copy(v, v + d, o);
  }
}

void OptEmbedTable::backward(const int64_t* ids, int64_t n, const float* grad_out) {
  check_table_ids(ids, n, n_);
  std::vector<float> dw(D_);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t id = ids[i];
    const int f = field_of(id);
    const float* g = grad_out + i * D_;
    if (!searching_) {
      if (kept_.is_hot(id)) v_[f].accumulate(kept_.rank(id) - rank0_[f], g);
      continue;
    }
    const float* w = w_.row(id);
    const float x = l1(w, D_) - t_.data()[f];
    const float m = x > 0 ? 1.0f : 0.0f;
    const int d = mask_[f];
    float s = 0;
    for (int j = 0; j < d; ++j) s += g[j] * w[j];
    const float h = optembed_step_grad(x);
    for (int j = 0; j < D_; ++j)
      dw[j] = (j < d ? m * g[j] : 0.0f) + s * h * float((w[j] > 0) - (w[j] < 0));
    w_.accumulate(id, dw.data());
    t_.grad()[f] -= s * h;
    if (m > 0) {
      double* si = step_imp_.data() + size_t(f) * D_;
      for (int j = 0; j < D_; ++j) si[j] += double(g[j]) * w[j];
    }
  }
}

void OptEmbedTable::step() {
  if (!searching_) {
    for (auto& v : v_)
      if (v.rows() > 0) v.step(opt_);
    return;
  }
  w_.step(opt_);
  for (int f = 0; f < F_; ++f) t_.grad()[f] -= p_.lambda * std::exp(-t_.data()[f]);
  t_.step(opt_);
  for (size_t e = 0; e < imp_.size(); ++e) {
    imp_[e] += step_imp_[e] * step_imp_[e];
    step_imp_[e] = 0;
  }
  draw_masks();
  if (++t_step_ >= p_.search_steps) end_search();
}

void OptEmbedTable::end_search() {
  if (!searching_) return;
  dims_.resize(F_);
  for (int f = 0; f < F_; ++f)
    dims_[f] = optembed_choose_dim(imp_.data() + size_t(f) * D_, D_, p_.rho);
  // Rows the thresholds keep, then the weakest (by the norm of the part kept) dropped to
  // fit the budget.
  struct Cand {
    float norm;
    uint32_t id;
  };
  std::vector<Cand> cand;
  int64_t floats = 0;
  for (int f = 0; f < F_; ++f)
    for (int64_t r = offsets_[f]; r < offsets_[f + 1]; ++r)
      if (l1(w_.row(r), D_) - t_.data()[f] > 0) {
        cand.push_back({l1(w_.row(r), dims_[f]), uint32_t(r)});
        floats += dims_[f];
      }
  const int64_t fixed = fixed_bytes(n_, F_);
  size_t drop = 0;
  if (p_.budget_bytes > 0 && fixed + 4 * floats > p_.budget_bytes) {
    std::sort(cand.begin(), cand.end(), [](const Cand& a, const Cand& b) {
      return a.norm < b.norm || (a.norm == b.norm && a.id < b.id);
    });
    while (drop < cand.size() && fixed + 4 * floats > p_.budget_bytes)
      floats -= dims_[field_of(cand[drop++].id)];
  }
  std::vector<uint32_t> keep;
  keep.reserve(cand.size() - drop);
  for (size_t i = drop; i < cand.size(); ++i) keep.push_back(cand[i].id);
  kept_ = RowGroups(n_, keep);
  kept_count_.assign(F_, 0);
  rank0_.assign(F_, 0);
  for (int f = 0; f < F_; ++f) {
    rank0_[f] = kept_.rank(offsets_[f]);
    kept_count_[f] = (f + 1 < F_ ? kept_.rank(offsets_[f + 1]) : kept_.hot_count()) - rank0_[f];
  }
  v_.clear();
  for (int f = 0; f < F_; ++f) {
    if (kept_count_[f] == 0) {
      v_.emplace_back();
      continue;
    }
    v_.emplace_back(kept_count_[f], dims_[f], 0.0f, 0);
    for (int64_t r = offsets_[f]; r < offsets_[f + 1]; ++r)
      if (kept_.is_hot(r))
        std::copy(w_.row(r), w_.row(r) + dims_[f], v_[f].row(kept_.rank(r) - rank0_[f]));
  }
  w_ = RowParams();
  t_ = DenseParams();
  searching_ = false;
  if (p_.budget_bytes > 0) {
    const double full = 4.0 * double(n_) * D_;
    note_ = budget_gap_note(double(bytes()) / full, double(p_.budget_bytes) / full,
                            "the learned thresholds and dimensions left part of the budget "
                            "unused (OptEmbed drops rows by norm only to meet the budget)");
  }
}

int64_t OptEmbedTable::bytes() const {
  if (searching_) return w_.bytes() + t_.bytes();
  int64_t b = kept_.bytes() + 4 * int64_t(dims_.size());
  for (const auto& v : v_) b += v.bytes();
  return b;
}

int64_t OptEmbedTable::optimizer_bytes() const {
  if (searching_)
    return RowParams::optimizer_bytes(n_, D_, opt_) + RowParams::optimizer_bytes(1, F_, opt_);
  int64_t b = 0;
  for (const auto& v : v_) b += RowParams::optimizer_bytes(v.rows(), v.width(), opt_);
  return b;
}

std::vector<std::pair<void*, size_t>> OptEmbedTable::buffers() {
  std::vector<std::pair<void*, size_t>> out;
  if (searching_) {
    out.emplace_back(w_.data(), size_t(w_.bytes()));
    out.emplace_back(t_.data(), size_t(t_.bytes()));
    return out;
  }
  for (auto& v : v_)
    if (v.rows() > 0) out.emplace_back(v.data(), size_t(v.bytes()));
  kept_.append_buffers(out);
  out.emplace_back(dims_.data(), dims_.size() * sizeof(int32_t));
  return out;
}

namespace {

std::unique_ptr<EmbeddingTable> make_optembed(const std::string& spec, double budget,
                                              const TableInit& init) {
  OptEmbedParams p;
  p.seed = init.seed;
  if (const int64_t steps = init.checked_schedule_steps(spec); steps > 0) p.search_steps = steps;
  if (budget > 0) {
    const double full = init.full_bytes();
    p.budget_bytes = int64_t(std::floor(budget * full));
    const int F = int(init.field_offsets.size()) - 1;
    const int64_t fixed = OptEmbedTable::fixed_bytes(init.rows, F);
    if (fixed > p.budget_bytes)
      budget_unreachable(spec, double(p.budget_bytes), full, "kept=0 (every row pruned)",
                         size_t(fixed));
  }
  return std::make_unique<OptEmbedTable>(init, p, spec);
}

TableRegistrar reg{{"OptEmbed", "OptEmbed | OptEmbed@B",
                    "learned per-field row-pruning thresholds on L1 norms and random per-field "
                    "dimension masks for T steps, then a dimension per field (gradient "
                    "importance) and the kept rows (dropped by norm to fit B) in a bitmap-ranked "
                    "table",
                    make_optembed}};

}  // namespace
}  // namespace embcomp::ctr

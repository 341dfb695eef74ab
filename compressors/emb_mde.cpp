#include "compressors/emb_mde.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "compressors/budget.h"
#include "compressors/emb_full.h"
#include "toolkit/error.h"

namespace embcomp::ctr {
namespace {

constexpr double kAlphaMax = 64.0;

// p_f / max_g p_g for every field (see the header comment).
std::vector<double> relative_popularity(const TableInit& init) {
  const int F = static_cast<int>(init.field_offsets.size()) - 1;
  std::vector<double> p(F, 0.0);
  bool have_counts = false;
  if (!init.counts.empty()) {
    for (int f = 0; f < F; ++f) {
      double total = 0;
      int64_t distinct = 0;
      for (int64_t r = init.field_offsets[f]; r < init.field_offsets[f + 1]; ++r) {
        total += init.counts[r];
        distinct += init.counts[r] > 0;
      }
      p[f] = distinct > 0 ? total / double(distinct) : 0.0;
      have_counts = have_counts || total > 0;
    }
  }
  if (!have_counts)
    for (int f = 0; f < F; ++f)
      p[f] = 1.0 / double(init.field_offsets[f + 1] - init.field_offsets[f]);
  const double pmax = *std::max_element(p.begin(), p.end());
  for (double& x : p) x /= pmax;
  return p;
}

std::vector<MdeBlock> plan_from(const TableInit& init, const std::vector<double>& pop,
                                double alpha) {
  const int D = init.dim;
  std::vector<MdeBlock> plan;
  for (size_t f = 0; f < pop.size(); ++f) {
    const int64_t n = init.field_offsets[f + 1] - init.field_offsets[f];
    EC_CHECK(n >= 1, kBadInput, "MDE: field " << f << " has " << n << " rows");
    // pop = 0 (a field never seen in training) gets the minimum, one dimension.
    const double dstar = std::clamp(pop[f] > 0 ? D * std::pow(pop[f], alpha) : 1.0, 1.0, double(D));
    const int lo = static_cast<int>(std::floor(dstar));
    const int64_t m = lo >= D ? 0 : std::llround((dstar - lo) * double(n));
    if (m > 0) plan.push_back({int(f), 0, m, lo + 1});
    if (m < n) plan.push_back({int(f), m, n - m, lo});
  }
  return plan;
}

}  // namespace

void MdeTableParams::validate() const {
  EC_CHECK(std::isfinite(alpha) && alpha >= 0, kBadInput,
           "MDE: alpha must be finite and >= 0, got " << alpha);
}

std::vector<MdeBlock> mde_plan(const TableInit& init, double alpha) {
  MdeTableParams{alpha}.validate();
  return plan_from(init, relative_popularity(init), alpha);
}

int64_t mde_plan_bytes(const std::vector<MdeBlock>& plan, int D) {
  int64_t floats = 0;
  for (const MdeBlock& b : plan) floats += b.n * b.d + (b.d < D ? int64_t(b.d) * D : 0);
  return 4 * floats;
}

MdeTableParams mde_solve_budget(const std::string& spec, const TableInit& init,
                                double budget_bytes) {
  const std::vector<double> pop = relative_popularity(init);
  const int D = init.dim;
  auto bytes_at = [&](double a) { return mde_plan_bytes(plan_from(init, pop, a), D); };
  // bytes(0) = 4 N D > budget. Bisection keeps lo not fitting and hi fitting (when
  // alpha = 64 does not fit, choose_knob below throws): hi ends at the smallest alpha
  // that fits, up to the rounding of m_f.
  double lo = 0, hi = kAlphaMax;
  for (int it = 0; it < 80; ++it) {
    const double mid = 0.5 * (lo + hi);
    if (bytes_at(mid) <= budget_bytes)
      hi = mid;
    else
      lo = mid;
  }
  auto knob = [](double a) {
    char buf[48];
    std::snprintf(buf, sizeof(buf), "alpha=%.6g", a);
    return std::string(buf);
  };
  // choose_knob keeps the shared rules: the closest setting under the budget, or kBadInput
  // when even alpha = 64 (about one dimension per row) does not fit.
  // (A smaller alpha keeps more dimensions: more information per row.)
  const std::vector<KnobChoice> choices = {
      {knob(hi), size_t(bytes_at(hi)), 1.0, 0}, {knob(kAlphaMax), size_t(bytes_at(kAlphaMax)), 0.0, 0}};
  const size_t pick = choose_knob(spec, choices, budget_bytes, init.full_bytes());
  return MdeTableParams{pick == 0 ? hi : kAlphaMax};
}

MdeTable::MdeTable(const TableInit& init, const MdeTableParams& p, std::string spec,
                   std::string budget_note)
    : spec_(std::move(spec)),
      note_(std::move(budget_note)),
      p_(p),
      rows_(init.rows),
      D_(init.dim),
      offsets_(init.field_offsets),
      plan_(mde_plan(init, p.alpha)),
      opt_(init.optimizer),
      de_(init.dim) {
  const int F = static_cast<int>(offsets_.size()) - 1;
  field_block_.assign(F, 0);
  for (size_t b = plan_.size(); b-- > 0;) field_block_[plan_[b].field] = b;
  rows_of_.reserve(plan_.size());
  proj_.reserve(plan_.size());
  for (size_t b = 0; b < plan_.size(); ++b) {
    const MdeBlock& blk = plan_[b];
    const uint64_t seed = init.seed * 0x9E3779B97F4A7C15ull + 2 * uint64_t(b) + 1;
    rows_of_.emplace_back(blk.n, blk.d, 0.05f, seed);
    // uniform(-sqrt(3/d), sqrt(3/d)) has variance 1/d: a projected element keeps the
    // variance of its row's elements (Full's init).
    if (blk.d < D_)
      proj_.emplace_back(int64_t(blk.d) * D_, std::sqrt(3.0f / float(blk.d)), seed + 1);
    else
      proj_.emplace_back();
  }
}

std::string MdeTable::knob() const {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "alpha=%.6g", p_.alpha);
  return buf;
}

size_t MdeTable::block_of(int64_t id, int64_t* row) const {
  const int f =
      static_cast<int>(std::upper_bound(offsets_.begin(), offsets_.end(), id) - offsets_.begin()) -
      1;
  const int64_t v = id - offsets_[f];
  size_t b = field_block_[f];
  if (v >= plan_[b].first + plan_[b].n) ++b;  // the field's second block
  *row = v - plan_[b].first;
  return b;
}

void MdeTable::lookup(const int64_t* ids, int64_t n, float* out) {
  check_table_ids(ids, n, rows_);
  const int D = D_;
#pragma omp parallel for schedule(static) if (n >= 4096)
  for (int64_t i = 0; i < n; ++i) {
    int64_t r = 0;
    const size_t b = block_of(ids[i], &r);
    const int d = plan_[b].d;
    const float* e = rows_of_[b].row(r);
    float* o = out + i * D;
    if (d == D) {
      std::memcpy(o, e, sizeof(float) * D);
      continue;
    }
    const float* P = proj_[b].data();
    std::fill(o, o + D, 0.0f);
    for (int a = 0; a < d; ++a)
      for (int j = 0; j < D; ++j) o[j] += e[a] * P[a * D + j];
  }
}

void MdeTable::backward(const int64_t* ids, int64_t n, const float* grad_out) {
  check_table_ids(ids, n, rows_);
  const int D = D_;
  float* dE = de_.data();  // dE of one row, d <= D floats
  for (int64_t i = 0; i < n; ++i) {
    int64_t r = 0;
    const size_t b = block_of(ids[i], &r);
    const int d = plan_[b].d;
    const float* g = grad_out + i * D;
    if (d == D) {
      rows_of_[b].accumulate(r, g);
      continue;
    }
    const float* e = rows_of_[b].row(r);
    const float* P = proj_[b].data();
    float* dP = proj_[b].grad();
    for (int a = 0; a < d; ++a) {
      float acc = 0;
      for (int j = 0; j < D; ++j) {
        acc += P[a * D + j] * g[j];
        dP[a * D + j] += e[a] * g[j];
      }
      dE[a] = acc;
    }
    rows_of_[b].accumulate(r, dE);
  }
}

void MdeTable::step() {
  for (auto& r : rows_of_) r.step(opt_);
  for (auto& p : proj_)
    if (p.size() > 0) p.step(opt_);
}

int64_t MdeTable::bytes() const {
  int64_t total = 0;
  for (const auto& r : rows_of_) total += r.bytes();
  for (const auto& p : proj_) total += p.bytes();
  return total;
}

int64_t MdeTable::optimizer_bytes() const {
  int64_t total = 0;
  for (const auto& r : rows_of_) total += RowParams::optimizer_bytes(r.rows(), r.width(), opt_);
  for (const auto& p : proj_)
    total += RowParams::optimizer_bytes(1, static_cast<int>(p.size()), opt_);
  return total;
}

std::vector<std::pair<void*, size_t>> MdeTable::buffers() {
  std::vector<std::pair<void*, size_t>> out;
  for (auto& r : rows_of_) out.push_back({r.data(), size_t(r.bytes())});
  for (auto& p : proj_)
    if (p.size() > 0) out.push_back({p.data(), size_t(p.bytes())});
  return out;
}

namespace {

std::unique_ptr<EmbeddingTable> make_mde(const std::string& spec, double budget,
                                         const TableInit& init) {
  if (budget == 0) return std::make_unique<MdeTable>(init, MdeTableParams{}, spec);
  const double full = init.full_bytes();
  const MdeTableParams p = mde_solve_budget(spec, init, budget * full);
  const double actual = double(mde_plan_bytes(mde_plan(init, p.alpha), init.dim)) / full;
  return std::make_unique<MdeTable>(
      init, p, spec,
      budget_gap_note(actual, budget,
                      "dimensions are whole numbers per block of rows and each block has a "
                      "projection"));
}

TableRegistrar reg{{"MDE", "MDE | MDE@B",
                    "mixed-dimension embeddings: field dimension D (popularity/max)^alpha with "
                    "a d x D projection; alpha solved from the budget",
                    make_mde}};

}  // namespace
}  // namespace embcomp::ctr

#include "compressors/emb_autosrh.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "compressors/budget.h"
#include "compressors/emb_adaembed.h"
#include "compressors/emb_full.h"
#include "compressors/emb_mgqe.h"
#include "toolkit/error.h"

namespace embcomp::ctr {

void AutoSrhParams::validate(int dim) const {
  EC_CHECK(
      C >= dim, kBadInput,
      "AutoSrh needs C >= D floats (one shared row for the search), got C=" << C << " D=" << dim);
  EC_CHECK(search_steps >= 1, kBadInput,
           "AutoSrh: search_steps=" << search_steps << " must be >= 1");
  EC_CHECK(std::isfinite(lambda) && lambda >= 0, kBadInput,
           "AutoSrh: lambda=" << lambda << " must be >= 0");
}

AutoSrhTable::AutoSrhTable(const TableInit& init, const AutoSrhParams& p, std::string spec,
                           std::string note)
    : p_(p),
      spec_(std::move(spec)),
      note_(std::move(note)),
      n_(init.rows),
      C_(p.C),
      D_(init.dim),
      opt_(init.optimizer) {
  p_.validate(D_);
  EC_CHECK(n_ <= int64_t{0xFFFFFFFF}, kBadInput,
           "AutoSrh keeps row ids as uint32, rows=" << n_ << " is too many");
  const int64_t K = std::min<int64_t>(n_, int64_t(std::ceil(kMgqeHotShare * double(n_))));
  groups_ = RowGroups(n_, hottest_rows(init.counts, n_, K));
  const uint64_t s = p_.seed * 0x9E3779B97F4A7C15ull;
  hash_ = UniversalHash::from_seed(s + 1);
  w_.resize(C_);
  for (int64_t i = 0; i < C_; ++i) w_[i] = 0.05f * hashed_uniform(s + 2, i);
  alpha_ = DenseParams(2 * int64_t(D_), 0.0f, 0);
  std::fill(alpha_.data(), alpha_.data() + 2 * D_, 1.0f);
  mask_.assign(2 * size_t(D_), 1);
  gslot_.assign(C_, -1);
}

std::string AutoSrhTable::knob() const {
  std::string k = "floats=" + std::to_string(C_);
  k += phase_ ? ",d_hot=" + std::to_string(kept(0)) + ",d_tail=" + std::to_string(kept(1))
              : ",search";
  return k;
}

int AutoSrhTable::kept(int g) const {
  int d = 0;
  for (int j = 0; j < D_; ++j) d += mask_[size_t(g) * D_ + j] != 0;
  return d;
}

int64_t AutoSrhTable::row_offset(int64_t id, int* g) const {
  const int64_t k = groups_.rank(id);
  const int d0 = kept(0);
  if (groups_.is_hot(id)) {
    *g = 0;
    return k * d0;
  }
  *g = 1;
  return groups_.hot_count() * d0 + (id - k) * kept(1);
}

void AutoSrhTable::lookup(const int64_t* ids, int64_t n, float* out) {
  check_table_ids(ids, n, n_);
  const float* a = alpha_.data();
#pragma omp parallel for schedule(static) if (n > 16384)
  for (int64_t i = 0; i < n; ++i) {
    const int64_t id = ids[i];
    float* o = out + i * D_;
    if (phase_ == 0) {
      const float* row = w_.data() + shared_row(id) * D_;
      const float* ag = a + (groups_.is_hot(id) ? 0 : D_);
      for (int j = 0; j < D_; ++j) o[j] = row[j] * ag[j];
      continue;
    }
    int g = 0;
    const float* row = w_.data() + row_offset(id, &g);
    const uint8_t* m = mask_.data() + size_t(g) * D_;
    int k = 0;
    for (int j = 0; j < D_; ++j) o[j] = m[j] ? row[k++] : 0.0f;
  }
}

void AutoSrhTable::accumulate(int64_t off, const float* g, int width) {
  int32_t s = gslot_[off];
  if (s < 0) {
    s = gslot_[off] = static_cast<int32_t>(touched_.size());
    touched_.push_back({off, width, g_.size()});
    g_.resize(g_.size() + width, 0.0f);
  }
  float* dst = g_.data() + touched_[s].gstart;
  for (int j = 0; j < width; ++j) dst[j] += g[j];
}

void AutoSrhTable::backward(const int64_t* ids, int64_t n, const float* grad_out) {
  check_table_ids(ids, n, n_);
  std::vector<float> tmp(D_);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t id = ids[i];
    const float* g = grad_out + i * D_;
    if (phase_ == 0) {
      const int64_t off = shared_row(id) * D_;
      const int gi = groups_.is_hot(id) ? 0 : 1;
      const float* ag = alpha_.data() + size_t(gi) * D_;
      float* da = alpha_.grad() + size_t(gi) * D_;
      for (int j = 0; j < D_; ++j) {
        tmp[j] = g[j] * ag[j];
        da[j] += g[j] * w_[off + j];
      }
      accumulate(off, tmp.data(), D_);
      continue;
    }
    int gi = 0;
    const int64_t off = row_offset(id, &gi);
    const uint8_t* m = mask_.data() + size_t(gi) * D_;
    int k = 0;
    for (int j = 0; j < D_; ++j)
      if (m[j]) tmp[k++] = g[j];
    if (k > 0) accumulate(off, tmp.data(), k);
  }
}

void AutoSrhTable::step() {
  ++t_;
  ensure_optimizer_state(opt_, w_.size(), s1_, s2_);
  const float bc1 = 1.0f - std::pow(opt_.beta1, static_cast<float>(t_));
  const float bc2 = 1.0f - std::pow(opt_.beta2, static_cast<float>(t_));
  for (const Touched& r : touched_) {
    optimizer_update(opt_, w_.data() + r.off, g_.data() + r.gstart,
                     s1_.empty() ? nullptr : s1_.data() + r.off,
                     s2_.empty() ? nullptr : s2_.data() + r.off, r.width, bc1, bc2);
    gslot_[r.off] = -1;
  }
  touched_.clear();
  g_.clear();
  if (phase_ == 0) {
    float* da = alpha_.grad();
    const float* a = alpha_.data();
    for (int e = 0; e < 2 * D_; ++e) da[e] += p_.lambda * float((a[e] > 0) - (a[e] < 0));
    alpha_.step(opt_);
    if (t_ >= p_.search_steps) prune();
  }
}

void AutoSrhTable::prune() {
  if (phase_ != 0) return;
  const int64_t n_g[2] = {groups_.hot_count(), n_ - groups_.hot_count()};
  std::vector<int> cand(2 * D_);
  for (int e = 0; e < 2 * D_; ++e) cand[e] = e;
  const float* a = alpha_.data();
  std::stable_sort(cand.begin(), cand.end(),
                   [&](int x, int y) { return std::fabs(a[x]) > std::fabs(a[y]); });
  std::fill(mask_.begin(), mask_.end(), 0);
  int64_t used = 0;
  for (int e : cand) {
    const int64_t cost = n_g[e / D_];
    if (used + cost > C_) continue;
    mask_[e] = 1;
    used += cost;
  }
  // Each id's row: the kept dimensions of its shared row, times alpha.
  std::vector<float> w(C_, 0.0f);
  phase_ = 1;
  for (int64_t id = 0; id < n_; ++id) {
    int g = 0;
    const int64_t off = row_offset(id, &g);
    const float* src = w_.data() + shared_row(id) * D_;
    const float* ag = a + size_t(g) * D_;
    const uint8_t* m = mask_.data() + size_t(g) * D_;
    int k = 0;
    for (int j = 0; j < D_; ++j)
      if (m[j]) w[off + k++] = src[j] * ag[j];
  }
  w_ = std::move(w);
  std::fill(s1_.begin(), s1_.end(),
            opt_.kind == OptimizerConfig::Kind::kAdagrad ? opt_.initial_accumulator : 0.0f);
  std::fill(s2_.begin(), s2_.end(), 0.0f);
}

int64_t AutoSrhTable::bytes() const {
  return 4 * C_ + alpha_.bytes() + int64_t(mask_.size()) + 4 + int64_t(sizeof(hash_)) +
         groups_.bytes();
}

int64_t AutoSrhTable::optimizer_bytes() const {
  // Optimizer state of W (2 x, 1 x or 0 x C floats) and of alpha, and the gradient slots.
  return RowParams::optimizer_bytes(C_, 1, opt_) + RowParams::optimizer_bytes(1, 2 * D_, opt_) +
         4 * C_;
}

std::vector<std::pair<void*, size_t>> AutoSrhTable::buffers() {
  std::vector<std::pair<void*, size_t>> out = {{w_.data(), w_.size() * 4},
                                               {alpha_.data(), size_t(alpha_.bytes())},
                                               {mask_.data(), mask_.size()},
                                               {&phase_, sizeof(phase_)},
                                               {&hash_, sizeof(hash_)}};
  groups_.append_buffers(out);
  return out;
}

namespace {

std::unique_ptr<EmbeddingTable> make_autosrh(const std::string& spec, double budget,
                                             const TableInit& init) {
  require_budget(spec, budget, "AutoSrh");
  const double full = init.full_bytes();
  const double target = budget * full;
  AutoSrhParams p;
  p.seed = init.seed;
  p.C = static_cast<int64_t>(
      std::floor((target - double(AutoSrhTable::fixed_bytes(init.rows, init.dim))) / 4.0));
  EC_CHECK(p.C >= init.dim, kBadInput,
           spec << ": budget of " << int64_t(target) << " bytes cannot hold one shared row and the "
                << "group bitmap (" << AutoSrhTable::fixed_bytes(init.rows, init.dim) + 4 * init.dim
                << " bytes)");
  const double actual = (4.0 * double(p.C) + AutoSrhTable::fixed_bytes(init.rows, init.dim)) / full;
  return std::make_unique<AutoSrhTable>(init, p, spec, budget_gap_note(actual, budget, ""));
}

TableRegistrar reg{{"AutoSrh", "AutoSrh@B",
                    "dimension search: soft selection weights per frequency group on a "
                    "hash-shared supernet, then the dimensions with the largest weights are "
                    "kept per group and retrained",
                    make_autosrh}};

}  // namespace
}  // namespace embcomp::ctr

#include "compressors/emb_autodim.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <sstream>

#include "compressors/budget.h"
#include "compressors/emb_full.h"
#include "toolkit/error.h"
#include "toolkit/hash.h"

namespace embcomp::ctr {
namespace {

constexpr float kRowInit = 0.05f;  // uniform(+-0.05) rows, as Full

// Seed of array (tag, f, k): distinct streams for the search (tag 1, 2) and final (3, 4).
uint64_t sub_seed(uint64_t seed, uint64_t tag, uint64_t f, uint64_t k) {
  return splitmix64(seed * 0x9E3779B97F4A7C15ull ^ splitmix64((tag << 48) ^ (f << 16) ^ k));
}

// uniform(-sqrt(3/d), sqrt(3/d)) has variance 1/d: a projected element keeps the row's
// variance (as MDE), so every candidate starts with the same output scale.
DenseParams make_projection(int d, int D, uint64_t seed) {
  if (d >= D) return DenseParams();
  return DenseParams(int64_t(d) * D, std::sqrt(3.0f / float(d)), seed);
}

}  // namespace

void AutoDimParams::validate() const {
  EC_CHECK(search_steps >= 1, kBadInput,
           "AutoDim: search_steps=" << search_steps << " must be >= 1");
  EC_CHECK(budget_bytes >= 0, kBadInput,
           "AutoDim: budget_bytes=" << budget_bytes << " must be >= 0");
}

std::vector<int> autodim_candidates(int D) {
  std::vector<int> c;
  for (int d = 1; d < D; d *= 2) c.push_back(d);
  c.push_back(D);
  return c;
}

int64_t autodim_field_bytes(int64_t n, int d, int D) {
  return 4 * (n * d + (d < D ? int64_t(d) * D : 0));
}

int64_t autodim_final_bytes(const std::vector<int64_t>& field_rows, const std::vector<int>& dims,
                            int D) {
  int64_t b = 4 * int64_t(field_rows.size());
  for (size_t f = 0; f < field_rows.size(); ++f)
    b += autodim_field_bytes(field_rows[f], dims[f], D);
  return b;
}

std::vector<int> autodim_choose_dims(const std::vector<float>& alpha,
                                     const std::vector<int64_t>& field_rows,
                                     const std::vector<int>& cand, int D, int64_t budget_bytes) {
  const int F = int(field_rows.size()), K = int(cand.size());
  EC_CHECK(alpha.size() == size_t(F) * K, kBadInput,
           "AutoDim: " << alpha.size() << " architecture weights for F=" << F << " K=" << K);
  std::vector<int> k_of(F);
  for (int f = 0; f < F; ++f) {
    const float* a = alpha.data() + size_t(f) * K;
    k_of[f] = int(std::max_element(a, a + K) - a);  // first maximum: the smaller dim
  }
  auto bytes_of = [&](int f, int k) { return autodim_field_bytes(field_rows[f], cand[k], D); };
  // Next cheaper candidate of field f at k: the largest dim with smaller field bytes, or -1.
  auto cheaper = [&](int f, int k) {
    for (int j = K - 1; j >= 0; --j)
      if (bytes_of(f, j) < bytes_of(f, k)) return j;
    return -1;
  };
  auto dims = [&] {
    std::vector<int> d(F);
    for (int f = 0; f < F; ++f) d[f] = cand[k_of[f]];
    return d;
  };
  if (budget_bytes <= 0) return dims();
  int64_t total = 4 * int64_t(F);
  for (int f = 0; f < F; ++f) total += bytes_of(f, k_of[f]);
  while (total > budget_bytes) {
    int best = -1, best_k = -1;
    float best_margin = 0;
    int64_t best_saving = 0;
    for (int f = 0; f < F; ++f) {
      const int j = cheaper(f, k_of[f]);
      if (j < 0) continue;
      const float* a = alpha.data() + size_t(f) * K;
      const float margin = a[k_of[f]] - a[j];
      const int64_t saving = bytes_of(f, k_of[f]) - bytes_of(f, j);
      if (best < 0 || margin < best_margin || (margin == best_margin && saving > best_saving)) {
        best = f;
        best_k = j;
        best_margin = margin;
        best_saving = saving;
      }
    }
    EC_CHECK(best >= 0, kBadInput,
             "AutoDim: the cheapest dimensions take " << total << " bytes, over the budget of "
                                                      << budget_bytes << " bytes");
    total -= best_saving;
    k_of[best] = best_k;
  }
  return dims();
}

AutoDimTable::AutoDimTable(const TableInit& init, const AutoDimParams& p, std::string spec)
    : p_(p),
      spec_(std::move(spec)),
      n_(init.rows),
      D_(init.dim),
      F_(int(init.field_offsets.size()) - 1),
      offsets_(init.field_offsets),
      cand_(autodim_candidates(init.dim)),
      opt_(init.optimizer) {
  p_.validate();
  K_ = int(cand_.size());
  for (int f = 0; f < F_; ++f)
    EC_CHECK(offsets_[f + 1] > offsets_[f], kBadInput,
             "AutoDim: field " << f << " has no rows (offsets " << offsets_[f] << ", "
                               << offsets_[f + 1] << ")");
  for (int f = 0; f < F_; ++f)
    for (int k = 0; k < K_; ++k) {
      emb_.emplace_back(offsets_[f + 1] - offsets_[f], cand_[k], kRowInit,
                        sub_seed(p_.seed, 1, f, k));
      proj_.push_back(make_projection(cand_[k], D_, sub_seed(p_.seed, 2, f, k)));
    }
  alpha_ = DenseParams(int64_t(F_) * K_, 0.0f, 0);
  probs_.assign(size_t(F_) * K_, 1.0f / float(K_));
}

std::string AutoDimTable::knob() const {
  if (searching_) return "search";
  std::ostringstream s;
  s << "dims=";
  for (int f = 0; f < F_; ++f) s << (f ? "/" : "") << dims_[f];
  return s.str();
}

int AutoDimTable::field_of(int64_t id) const {
  return int(std::upper_bound(offsets_.begin(), offsets_.end(), id) - offsets_.begin()) - 1;
}

std::vector<float> AutoDimTable::probabilities(int f) const {
  const float* a = alpha_.data() + size_t(f) * K_;
  const float m = *std::max_element(a, a + K_);
  std::vector<float> p(K_);
  float s = 0;
  for (int k = 0; k < K_; ++k) s += (p[k] = std::exp(a[k] - m));
  for (float& x : p) x /= s;
  return p;
}

void AutoDimTable::softmax_all() {
  for (int f = 0; f < F_; ++f) {
    const auto p = probabilities(f);
    std::copy(p.begin(), p.end(), probs_.begin() + size_t(f) * K_);
  }
}

void AutoDimTable::project_add(const float* row, int d, const DenseParams& P, float scale,
                               float* out) const {
  if (d == D_) {
    for (int j = 0; j < D_; ++j) out[j] += scale * row[j];
    return;
  }
  const float* w = P.data();
  for (int i = 0; i < d; ++i) {
    const float r = scale * row[i];
    const float* wi = w + size_t(i) * D_;
    for (int j = 0; j < D_; ++j) out[j] += r * wi[j];
  }
}

void AutoDimTable::lookup(const int64_t* ids, int64_t n, float* out) {
  check_table_ids(ids, n, n_);
  if (searching_) softmax_all();
#pragma omp parallel for schedule(static) if (n > 16384)
  for (int64_t i = 0; i < n; ++i) {
    const int f = field_of(ids[i]);
    const int64_t v = ids[i] - offsets_[f];
    float* o = out + i * D_;
    std::fill(o, o + D_, 0.0f);
    if (!searching_) {
      project_add(emb_[f].row(v), dims_[f], proj_[f], 1.0f, o);
      continue;
    }
    for (int k = 0; k < K_; ++k)
      project_add(emb_[size_t(f) * K_ + k].row(v), cand_[k], proj_[size_t(f) * K_ + k],
                  probs_[size_t(f) * K_ + k], o);
  }
}

void AutoDimTable::backward(const int64_t* ids, int64_t n, const float* grad_out) {
  check_table_ids(ids, n, n_);
  if (searching_) softmax_all();
  std::vector<float> de(D_), e(D_), dp(K_);
  for (int64_t i = 0; i < n; ++i) {
    const int f = field_of(ids[i]);
    const int64_t v = ids[i] - offsets_[f];
    const float* g = grad_out + i * D_;
    const int K = searching_ ? K_ : 1;
    for (int k = 0; k < K; ++k) {
      const size_t a = searching_ ? size_t(f) * K_ + k : size_t(f);
      const int d = searching_ ? cand_[k] : dims_[f];
      const float p = searching_ ? probs_[a] : 1.0f;
      RowParams& E = emb_[a];
      DenseParams& P = proj_[a];
      const float* row = E.row(v);
      if (searching_) {  // dL/dp_k = <g, e_k>
        std::fill(e.begin(), e.end(), 0.0f);
        project_add(row, d, P, 1.0f, e.data());
        float s = 0;
        for (int j = 0; j < D_; ++j) s += g[j] * e[j];
        dp[k] = s;
      }
      if (d == D_) {
        E.accumulate(v, g, p);
        continue;
      }
      const float* w = P.data();
      float* dw = P.grad();
      for (int r = 0; r < d; ++r) {
        const float* wr = w + size_t(r) * D_;
        float* dwr = dw + size_t(r) * D_;
        float s = 0;
        const float pr = p * row[r];
        for (int j = 0; j < D_; ++j) {
          s += wr[j] * g[j];
          dwr[j] += pr * g[j];
        }
        de[r] = s;
      }
      E.accumulate(v, de.data(), p);
    }
    if (!searching_) continue;
    const float* pf = probs_.data() + size_t(f) * K_;
    float mean = 0;
    for (int k = 0; k < K_; ++k) mean += pf[k] * dp[k];
    float* da = alpha_.grad() + size_t(f) * K_;
    for (int k = 0; k < K_; ++k) da[k] += pf[k] * (dp[k] - mean);
  }
}

void AutoDimTable::step() {
  for (auto& E : emb_) E.step(opt_);
  for (auto& P : proj_)
    if (P.size() > 0) P.step(opt_);
  if (!searching_) return;
  alpha_.step(opt_);
  if (++t_ >= p_.search_steps) end_search();
}

void AutoDimTable::end_search() {
  if (!searching_) return;
  std::vector<int64_t> field_rows(F_);
  for (int f = 0; f < F_; ++f) field_rows[f] = offsets_[f + 1] - offsets_[f];
  std::vector<float> a(alpha_.data(), alpha_.data() + alpha_.size());
  const std::vector<int> d = autodim_choose_dims(a, field_rows, cand_, D_, p_.budget_bytes);
  dims_.assign(d.begin(), d.end());
  // The supernet is freed before the final table is allocated (peak = the supernet).
  emb_.clear();
  emb_.shrink_to_fit();
  proj_.clear();
  proj_.shrink_to_fit();
  alpha_ = DenseParams();
  probs_.clear();
  for (int f = 0; f < F_; ++f) {
    emb_.emplace_back(field_rows[f], dims_[f], kRowInit, sub_seed(p_.seed, 3, f, 0));
    proj_.push_back(make_projection(dims_[f], D_, sub_seed(p_.seed, 4, f, 0)));
  }
  searching_ = false;
  if (p_.budget_bytes > 0) {
    const double full = 4.0 * double(n_) * D_;
    note_ = budget_gap_note(double(bytes()) / full, double(p_.budget_bytes) / full,
                            "the search's arg-max dimensions fit with room to spare (AutoDim "
                            "keeps them; it lowers dimensions only to meet the budget)");
  }
}

int64_t AutoDimTable::bytes() const {
  int64_t b = searching_ ? alpha_.bytes() : 4 * int64_t(dims_.size());
  for (const auto& E : emb_) b += E.bytes();
  for (const auto& P : proj_) b += P.bytes();
  return b;
}

int64_t AutoDimTable::optimizer_bytes() const {
  int64_t b = searching_ ? RowParams::optimizer_bytes(1, int(alpha_.size()), opt_) : 0;
  for (const auto& E : emb_) b += RowParams::optimizer_bytes(E.rows(), E.width(), opt_);
  for (const auto& P : proj_) b += RowParams::optimizer_bytes(1, int(P.size()), opt_);
  return b;
}

std::vector<std::pair<void*, size_t>> AutoDimTable::buffers() {
  std::vector<std::pair<void*, size_t>> out;
  for (auto& E : emb_) out.emplace_back(E.data(), size_t(E.bytes()));
  for (auto& P : proj_)
    if (P.size() > 0) out.emplace_back(P.data(), size_t(P.bytes()));
  if (searching_)
    out.emplace_back(alpha_.data(), size_t(alpha_.bytes()));
  else
    out.emplace_back(dims_.data(), dims_.size() * sizeof(int32_t));
  return out;
}

namespace {

std::unique_ptr<EmbeddingTable> make_autodim(const std::string& spec, double budget,
                                             const TableInit& init) {
  AutoDimParams p;
  p.seed = init.seed;
  if (const int64_t steps = init.checked_schedule_steps(spec); steps > 0) p.search_steps = steps;
  if (budget > 0) {
    const double full = init.full_bytes();
    p.budget_bytes = int64_t(std::floor(budget * full));
    const int F = int(init.field_offsets.size()) - 1;
    const std::vector<int> cand = autodim_candidates(init.dim);
    int64_t cheapest = 4 * int64_t(F);
    std::vector<int> dmin(F);
    for (int f = 0; f < F; ++f) {
      const int64_t n = init.field_offsets[f + 1] - init.field_offsets[f];
      int64_t best = std::numeric_limits<int64_t>::max();
      for (int c : cand)
        if (autodim_field_bytes(n, c, init.dim) < best) {
          best = autodim_field_bytes(n, c, init.dim);
          dmin[f] = c;
        }
      cheapest += best;
    }
    if (cheapest > p.budget_bytes) {
      std::ostringstream knob;
      knob << "dims=";
      for (int f = 0; f < F; ++f) knob << (f ? "/" : "") << dmin[f];
      budget_unreachable(spec, double(p.budget_bytes), full, knob.str(), size_t(cheapest));
    }
  }
  return std::make_unique<AutoDimTable>(init, p, spec);
}

TableRegistrar reg{{"AutoDim", "AutoDim | AutoDim@B",
                    "field-aware dimension search: a softmax over candidate dimensions "
                    "{1,2,4,..,D} per field (own tables, projected to D) for T steps, then the "
                    "arg-max dimension per field (lowered to fit B) is retrained from scratch",
                    make_autodim}};

}  // namespace
}  // namespace embcomp::ctr

#include "compressors/emb_adaembed.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "compressors/budget.h"
#include "compressors/emb_full.h"
#include "toolkit/error.h"

namespace embcomp::ctr {

void AdaEmbedParams::validate(int64_t rows) const {
  EC_CHECK(rows <= int64_t{0xFFFFFFFF}, kBadInput,
           "AdaEmbed stores hot ids as uint32: rows=" << rows << " is too many");
  EC_CHECK(K >= 0 && K <= rows, kBadInput,
           "AdaEmbed needs 0 <= K <= N hot ids, got K=" << K << " N=" << rows);
  EC_CHECK(H >= 1 || K == rows, kBadInput,
           "AdaEmbed needs H >= 1 hashed rows for the " << rows - K << " other ids, got H=" << H);
  EC_CHECK(realloc_every >= 0, kBadInput,
           "AdaEmbed: realloc_every=" << realloc_every << " must be >= 0");
  EC_CHECK(decay >= 0 && decay <= 1, kBadInput,
           "AdaEmbed: decay=" << decay << " must be in [0, 1]");
}

std::vector<uint32_t> hottest_rows(const std::vector<uint32_t>& counts, int64_t rows, int64_t K) {
  std::vector<uint32_t> ids(static_cast<size_t>(rows));
  std::iota(ids.begin(), ids.end(), 0u);
  if (!counts.empty() && K < rows) {
    auto hotter = [&](uint32_t a, uint32_t b) {
      return counts[a] != counts[b] ? counts[a] > counts[b] : a < b;
    };
    std::nth_element(ids.begin(), ids.begin() + K, ids.end(), hotter);
  }
  ids.resize(static_cast<size_t>(K));
  std::sort(ids.begin(), ids.end());
  return ids;
}

AdaEmbedTable::AdaEmbedTable(const TableInit& init, const AdaEmbedParams& params, std::string spec)
    : p_(params), spec_(std::move(spec)), n_(init.rows), D_(init.dim), opt_(init.optimizer) {
  p_.validate(n_);
  EC_CHECK(D_ > 0, kBadInput, "AdaEmbed needs dim > 0, got " << D_);
  hot_ = hottest_rows(init.counts, n_, p_.K);
  hash_ = UniversalHash::from_seed(p_.seed);
  // The init of RowParams(K + H, D, 0.05, seed).
  w_.resize(size_t(p_.K + p_.H) * D_);
  for (size_t i = 0; i < w_.size(); ++i) w_[i] = 0.05f * hashed_uniform(p_.seed, i);
  gslot_.assign(p_.K + p_.H, -1);
  score_.assign(n_, 0.0f);
}

int64_t AdaEmbedTable::slot(int64_t id) const {
  const auto it = std::lower_bound(hot_.begin(), hot_.end(), static_cast<uint32_t>(id));
  if (it != hot_.end() && *it == static_cast<uint32_t>(id)) return it - hot_.begin();
  return p_.K + static_cast<int64_t>(hash_(uint64_t(id), uint64_t(p_.H)));
}

void AdaEmbedTable::lookup(const int64_t* ids, int64_t n, float* out) {
  check_table_ids(ids, n, n_);
  const int d = D_;
#pragma omp parallel for schedule(static) if (n > 16384)
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(out + i * d, w_.data() + slot(ids[i]) * d, sizeof(float) * d);
}

void AdaEmbedTable::backward(const int64_t* ids, int64_t n, const float* grad_out) {
  check_table_ids(ids, n, n_);
  const int d = D_;
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = slot(ids[i]);
    const float* g = grad_out + i * d;
    int32_t s = gslot_[r];
    if (s < 0) {
      s = gslot_[r] = static_cast<int32_t>(touched_.size());
      touched_.push_back(r);
      g_.resize(touched_.size() * d, 0.0f);
    }
    float* dst = g_.data() + size_t(s) * d;
    double norm2 = 0;
    for (int j = 0; j < d; ++j) {
      dst[j] += g[j];
      norm2 += double(g[j]) * g[j];
    }
    score_[ids[i]] += static_cast<float>(std::sqrt(norm2));
  }
}

void AdaEmbedTable::step() {
  ++t_;
  ensure_optimizer_state(opt_, w_.size(), s1_, s2_);
  const float bc1 = 1.0f - std::pow(opt_.beta1, static_cast<float>(t_));
  const float bc2 = 1.0f - std::pow(opt_.beta2, static_cast<float>(t_));
  for (size_t i = 0; i < touched_.size(); ++i) {
    const size_t off = size_t(touched_[i]) * D_;
    optimizer_update(opt_, w_.data() + off, g_.data() + i * D_,
                     s1_.empty() ? nullptr : s1_.data() + off,
                     s2_.empty() ? nullptr : s2_.data() + off, D_, bc1, bc2);
    gslot_[touched_[i]] = -1;
  }
  touched_.clear();
  g_.clear();
  if (p_.realloc_every > 0 && t_ % p_.realloc_every == 0) reallocate();
}

void AdaEmbedTable::reallocate() {
  const int64_t K = p_.K;
  if (K > 0 && K < n_) {
    std::vector<char> was_hot(n_, 0);
    for (uint32_t id : hot_) was_hot[id] = 1;
    std::vector<uint32_t> ids(static_cast<size_t>(n_));
    std::iota(ids.begin(), ids.end(), 0u);
    auto before = [&](uint32_t a, uint32_t b) {
      if (score_[a] != score_[b]) return score_[a] > score_[b];
      if (was_hot[a] != was_hot[b]) return was_hot[a] > was_hot[b];
      return a < b;
    };
    std::nth_element(ids.begin(), ids.begin() + K, ids.end(), before);
    ids.resize(static_cast<size_t>(K));
    std::sort(ids.begin(), ids.end());
    // Exclusive rows of the new hot set; the shared rows stay where they are.
    std::vector<float> w(w_.size()), s1(s1_.size(), 0.0f), s2(s2_.size(), 0.0f);
    const size_t shared = size_t(K) * D_;
    std::copy(w_.begin() + shared, w_.end(), w.begin() + shared);
    if (!s1_.empty()) std::copy(s1_.begin() + shared, s1_.end(), s1.begin() + shared);
    if (!s2_.empty()) std::copy(s2_.begin() + shared, s2_.end(), s2.begin() + shared);
    if (opt_.kind == OptimizerConfig::Kind::kAdagrad)
      std::fill(s1.begin(), s1.begin() + shared, opt_.initial_accumulator);
    for (int64_t p = 0; p < K; ++p) {
      const size_t to = size_t(p) * D_;
      const int64_t from = slot(ids[p]);  // old exclusive row, or the shared row read so far
      std::copy_n(w_.begin() + from * D_, D_, w.begin() + to);
      if (from < K) {  // staying hot: its optimizer state moves with it
        if (!s1_.empty()) std::copy_n(s1_.begin() + from * D_, D_, s1.begin() + to);
        if (!s2_.empty()) std::copy_n(s2_.begin() + from * D_, D_, s2.begin() + to);
      }
    }
    hot_ = std::move(ids);
    w_ = std::move(w);
    s1_ = std::move(s1);
    s2_ = std::move(s2);
  }
  for (float& x : score_) x *= p_.decay;
  ++reallocs_;
}

int64_t AdaEmbedTable::bytes() const {
  return static_cast<int64_t>(w_.size() * 4 + hot_.size() * sizeof(uint32_t) + sizeof(hash_));
}

int64_t AdaEmbedTable::optimizer_bytes() const {
  return RowParams::optimizer_bytes(p_.K + p_.H, D_, opt_) + 4 * n_;
}

std::vector<std::pair<void*, size_t>> AdaEmbedTable::buffers() {
  return {{w_.data(), w_.size() * 4},
          {hot_.data(), hot_.size() * sizeof(uint32_t)},
          {&hash_, sizeof(hash_)}};
}

namespace {

constexpr double kHotShare = 0.5;  // share of the budget bytes for exclusive rows

std::unique_ptr<EmbeddingTable> make_adaembed(const std::string& spec, double budget,
                                              const TableInit& init) {
  require_budget(spec, budget, "AdaEmbed");
  const double full = 4.0 * init.rows * init.dim;
  const double target = budget * full;
  const double row = 4.0 * init.dim;
  AdaEmbedParams p;
  p.seed = init.seed;
  p.H = static_cast<int64_t>(std::floor((1 - kHotShare) * target / row));
  p.K = std::min<int64_t>(init.rows,
                          static_cast<int64_t>(std::floor((target - row * p.H - 16) / (row + 4))));
  if (p.H < 1 || p.K < 0)
    budget_unreachable(spec, target, full, "K=0,H=1",
                       size_t(AdaEmbedTable::bytes_for(0, 1, init.dim)));
  auto t = std::make_unique<AdaEmbedTable>(init, p, spec);
  t->set_budget_note(
      budget_gap_note(t->bytes() / full, budget, "rows are whole (4 D and 4 D + 4 bytes)"));
  return t;
}

TableRegistrar reg{{"AdaEmbed", "AdaEmbed@B",
                    "K exclusive rows for the most important ids (gradient norm per access, "
                    "re-ranked every 250 steps), H hashed rows for the rest; half the budget each",
                    make_adaembed}};

}  // namespace
}  // namespace embcomp::ctr

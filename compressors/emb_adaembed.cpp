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
    : p_(params), spec_(std::move(spec)), n_(init.rows), opt_(init.optimizer) {
  p_.validate(n_);
  hot_ = hottest_rows(init.counts, n_, p_.K);
  hash_ = UniversalHash::from_seed(p_.seed);
  w_ = RowParams(p_.K + p_.H, init.dim, 0.05f, p_.seed);
}

int64_t AdaEmbedTable::slot(int64_t id) const {
  const auto it = std::lower_bound(hot_.begin(), hot_.end(), static_cast<uint32_t>(id));
  if (it != hot_.end() && *it == static_cast<uint32_t>(id)) return it - hot_.begin();
  return p_.K + static_cast<int64_t>(hash_(uint64_t(id), uint64_t(p_.H)));
}

void AdaEmbedTable::lookup(const int64_t* ids, int64_t n, float* out) {
  check_table_ids(ids, n, n_);
  const int d = dim();
#pragma omp parallel for schedule(static) if (n > 16384)
  for (int64_t i = 0; i < n; ++i) std::memcpy(out + i * d, w_.row(slot(ids[i])), sizeof(float) * d);
}

void AdaEmbedTable::backward(const int64_t* ids, int64_t n, const float* grad_out) {
  check_table_ids(ids, n, n_);
  const int d = dim();
  for (int64_t i = 0; i < n; ++i) w_.accumulate(slot(ids[i]), grad_out + i * d);
}

int64_t AdaEmbedTable::bytes() const {
  return w_.bytes() + static_cast<int64_t>(hot_.size() * sizeof(uint32_t) + sizeof(hash_));
}

std::vector<std::pair<void*, size_t>> AdaEmbedTable::buffers() {
  return {{w_.data(), static_cast<size_t>(w_.bytes())},
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
                    "frequency split: the K most frequent ids get exclusive rows, the rest "
                    "share H hashed rows; half the budget each (4 D (K + H) + 4 K + 16 bytes)",
                    make_adaembed}};

}  // namespace
}  // namespace embcomp::ctr

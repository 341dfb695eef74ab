#include "compressors/magsvd.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>

#include "compressors/budget.h"
#include "toolkit/registry.h"
#include "toolkit/serialize.h"

namespace embcomp {

namespace {

/// Rows gathered per projection work item.
constexpr size_t kProjectBlockRows = 4096;

/// The seed of group k's randomized SVD and training sample.
uint64_t group_seed(uint64_t seed, size_t k) { return seed ^ (0x9E3779B97F4A7C15ull * (k + 1)); }

}  // namespace

void MagSvdParams::validate(size_t d) const {
  EC_CHECK(groups >= 1 && size_t(groups) <= kMaxMagnitudeGroups, kBadInput,
           "MagSVD: g=" << groups << " is not in [1, " << kMaxMagnitudeGroups << "]");
  EC_CHECK(d > 0, kBadInput, "MagSVD: d must be positive");
  EC_CHECK(alpha >= 0 && std::isfinite(alpha), kBadInput,
           "MagSVD: alpha=" << alpha << " must be finite and >= 0");
  EC_CHECK(max_svd_rows >= d, kBadInput,
           "MagSVD: max_svd_rows=" << max_svd_rows << " must be at least d=" << d);
  if (budget > 0) {
    EC_CHECK(budget < 1, kBadInput, "MagSVD: budget " << budget << " is not in (0, 1)");
    EC_CHECK(ranks.empty(), kBadInput, "MagSVD: a budgeted table takes no explicit ranks");
    return;
  }
  EC_CHECK(ranks.size() == size_t(groups), kBadInput,
           "MagSVD: " << ranks.size() << " ranks given for g=" << groups << " groups");
  for (size_t k = 0; k < ranks.size(); ++k) {
    EC_CHECK(
        ranks[k] >= 1 && ranks[k] <= d, kBadInput,
        "MagSVD: rank=" << ranks[k] << " of group " << k + 1 << " is not in [1, d=" << d << "]");
    EC_CHECK(k == 0 || ranks[k] <= ranks[k - 1], kBadInput,
             "MagSVD: ranks must not increase from the high-norm group to the low-norm ones, got "
                 << ranks[k - 1] << " then " << ranks[k]);
  }
}

size_t magsvd_bytes(size_t d, const std::vector<size_t>& ranks,
                    const std::vector<size_t>& group_sizes) {
  EC_CHECK(ranks.size() == group_sizes.size(), kRuntime,
           "MagSVD: " << ranks.size() << " ranks for " << group_sizes.size() << " groups");
  size_t bytes = 0, n = 0;
  for (size_t k = 0; k < ranks.size(); ++k) {
    bytes += checked_mul(4 * ranks[k], group_sizes[k] + d);
    n += group_sizes[k];
  }
  return bytes + remap_bytes(n, ranks.size());
}

std::vector<size_t> solve_magsvd_ranks(const std::string& spec, size_t d,
                                       const std::vector<size_t>& group_sizes, double budget_bytes,
                                       double alpha) {
  const size_t g = group_sizes.size();
  std::vector<double> target(g);  // t_k = n_k^-alpha
  std::vector<size_t> cap(g);
  for (size_t k = 0; k < g; ++k) {
    EC_CHECK(group_sizes[k] >= 1, kBadInput, spec << ": group " << k + 1 << " is empty");
    target[k] = std::pow(double(group_sizes[k]), -alpha);
    cap[k] = std::min(group_sizes[k], d);
  }
  auto ranks_at = [&](double s) {
    std::vector<size_t> r(g);
    for (size_t k = 0; k < g; ++k)
      r[k] = std::clamp(size_t(std::min(std::floor(s * target[k]), 1e15)), size_t{1}, cap[k]);
    return r;
  };
  auto bytes = [&](const std::vector<size_t>& r) { return magsvd_bytes(d, r, group_sizes); };
  const std::vector<size_t> ones(g, 1);
  if (double(bytes(ones)) > budget_bytes) {
    size_t n = 0;
    for (size_t s : group_sizes) n += s;
    budget_unreachable(spec, budget_bytes, 4.0 * double(n) * double(d), "ranks all 1", bytes(ones));
  }
  if (double(bytes(cap)) <= budget_bytes) return cap;
  double lo = 0, hi = 0;
  for (size_t k = 0; k < g; ++k) hi = std::max(hi, double(cap[k] + 1) / target[k]);
  for (int it = 0; it < 100; ++it) {
    const double mid = 0.5 * (lo + hi);
    if (double(bytes(ranks_at(mid))) <= budget_bytes)
      lo = mid;
    else
      hi = mid;
  }
  std::vector<size_t> r = ranks_at(lo);
  size_t used = bytes(r);
  // Largest remainder: the groups closest to their next rank first.
  std::vector<size_t> order(g);
  std::iota(order.begin(), order.end(), size_t{0});
  auto frac = [&](size_t k) { return lo * target[k] - std::floor(lo * target[k]); };
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return frac(a) > frac(b); });
  for (size_t k : order) {
    const size_t step = 4 * (group_sizes[k] + d);
    if (r[k] < cap[k] && double(r[k]) <= lo * target[k] && double(used + step) <= budget_bytes) {
      ++r[k];
      used += step;
    }
  }
  return r;
}

MagSvdTable::MagSvdTable(size_t d, MagSvdParams params, std::string spec)
    : d_(d), params_(std::move(params)), spec_(std::move(spec)) {
  params_.validate(d_);
  if (params_.budget <= 0) ranks_ = params_.ranks;
}

std::string MagSvdTable::knob() const {
  if (ranks_.empty()) return "";
  std::string s = "ranks=";
  for (size_t k = 0; k < ranks_.size(); ++k) s += (k ? "/" : "") + std::to_string(ranks_[k]);
  return s;
}

size_t MagSvdTable::total_bytes() const {
  size_t bytes = remap_.bytes();
  for (size_t k = 0; k < coef_.size(); ++k)
    bytes += 4 * (coef_[k].values.size() + vt_[k].values.size());
  return bytes;
}

size_t MagSvdTable::model_bytes() const {
  size_t bytes = 0;
  for (const auto& v : vt_) bytes += 4 * v.values.size();
  return bytes;
}

void MagSvdTable::compress(MatrixView<float> x) {
  check_train_input(spec_, x, d_, min_rows());
  check_distance_range(spec_, x);
  using clock = std::chrono::steady_clock;
  auto t0 = clock::now();
  MagnitudeGrouping grouping = group_by_magnitude(x, size_t(params_.groups));
  const size_t g = grouping.members.size();
  std::vector<size_t> sizes(g);
  for (size_t k = 0; k < g; ++k) sizes[k] = grouping.members[k].size();
  std::vector<size_t> ranks;
  if (params_.budget > 0) {
    ranks = solve_magsvd_ranks(spec_, d_, sizes, params_.budget * 4.0 * double(x.n) * double(d_),
                               params_.alpha);
  } else {
    for (size_t k = 0; k < g; ++k) ranks.push_back(std::min(params_.ranks[k], sizes[k]));
  }
  double train_s = std::chrono::duration<double>(clock::now() - t0).count(), encode_s = 0;
  std::vector<FloatMatrix> coef(g), vt(g);
  for (size_t k = 0; k < g; ++k) {
    const auto ta = clock::now();
    const std::vector<uint32_t>& members = grouping.members[k];
    const size_t nk = members.size(), r = ranks[k];
    RsvdParams p;
    p.rank = r;
    p.seed = group_seed(params_.seed, k);
    FloatMatrix xs;
    {
      const std::vector<uint32_t> rows = sample_members(members, params_.max_svd_rows, p.seed);
      xs = FloatMatrix(rows.size(), d_);
      gather_rows(x, rows.data(), rows.size(), xs.data());
    }
    vt[k] = std::move(randomized_svd(xs.view(), p).vt);
    const auto tb = clock::now();
    coef[k] = FloatMatrix(nk, r);
    if (xs.n == nk) {  // xs is the whole group, in storage order
      project_rows(xs.view(), vt[k], coef[k].data());
    } else {
      xs = FloatMatrix();
      const size_t nblocks = (nk + kProjectBlockRows - 1) / kProjectBlockRows;
      OmpExceptionGuard guard;
#pragma omp parallel
      {
        std::vector<float> buf(kProjectBlockRows * d_);
#pragma omp for schedule(dynamic)
        for (size_t b = 0; b < nblocks; ++b) {
          guard.run([&] {
            const size_t i0 = b * kProjectBlockRows, cnt = std::min(kProjectBlockRows, nk - i0);
            gather_rows(x, members.data() + i0, cnt, buf.data());
            project_rows({buf.data(), cnt, d_}, vt[k], coef[k].row(i0));
          });
        }
      }
      guard.rethrow();
    }
    train_s += std::chrono::duration<double>(tb - ta).count();
    encode_s += std::chrono::duration<double>(clock::now() - tb).count();
  }
  ranks_ = std::move(ranks);
  coef_ = std::move(coef);
  vt_ = std::move(vt);
  remap_ = std::move(grouping.remap);
  train_s_ = train_s;
  encode_s_ = encode_s;
}

void MagSvdTable::decode_rows(const int64_t* ids, size_t count, float* out) const {
  check_ids(ids, count);
  // out = sum_j C_k[p, j] Vt_k[j] in a fixed order per row (as SvdTable), so decode_range
  // (the default, built on this) is bit-for-bit the same however rows are batched.
#pragma omp parallel for if (count > 1024) schedule(static)
  for (size_t i = 0; i < count; ++i) {
    const size_t id = size_t(ids[i]);
    const size_t k = remap_.group(id), p = remap_.position(id);
    const float* c = coef_[k].row(p);
    const FloatMatrix& vt = vt_[k];
    float* o = out + i * d_;
    std::fill(o, o + d_, 0.0f);
    for (size_t j = 0; j < vt.n; ++j) {
      const float cj = c[j];
      const float* v = vt.row(j);
      for (size_t q = 0; q < d_; ++q) o[q] += cj * v[q];
    }
  }
}

namespace {


std::unique_ptr<TableCompressor> make_magsvd_for_budget(const BuildArgs& a) {
  MagSvdParams p;
  p.groups = parse_int_arg(a.full_spec, a.groups[1], "g", 1, int(kMaxMagnitudeGroups));
  p.budget = a.budget;
  p.seed = a.seed;
  const size_t g = size_t(p.groups);
  EC_CHECK(a.n >= kMinGroupRows * g, kBadInput,
           a.full_spec << ": g=" << g << " groups need at least " << kMinGroupRows * g
                       << " rows, got n=" << a.n);
  // Rejects an unreachable budget now: all ranks 1 take 4 (n + g d) + remap bytes
  // whatever the split; the ranks themselves are solved at compress().
  std::vector<size_t> sizes(g, a.n / g);
  sizes[0] += a.n % g;
  solve_magsvd_ranks(a.full_spec, a.d, sizes, a.budget * 4.0 * double(a.n) * double(a.d), p.alpha);
  auto t = std::make_unique<MagSvdTable>(a.d, p, a.full_spec);
  t->set_budget(a.budget, "ranks are integers: one more rank in group k costs 4 (n_k + d) bytes");
  return t;
}

Registrar reg{{
    .name = "MagSVD",
    .grammar = "MagSVD{g}r{r_1}-...-{r_g}",
    .doc = "magnitude-grouped SVD: g groups of equal total L2 norm, one truncated SVD each, "
           "rank ~ n_g^-0.3, remap counted",
    .kind = MethodKind::kTable,
    .pattern = "MagSVD([0-9]+)r([0-9]+(?:-[0-9]+)*)",
    .ladder =
        [](size_t) {
          return std::vector<std::string>{"MagSVD2r4-2", "MagSVD2r8-6"};
        },
    .defaults = [](size_t) { return std::vector<std::string>{"MagSVD2@0.1"}; },
    .make_transform = nullptr,
    .make_codec = nullptr,
    .make_table = [](const BuildArgs& a) -> std::unique_ptr<TableCompressor> {
      MagSvdParams p;
      p.groups = parse_int_arg(a.spec(), a.groups[1], "g", 1, int(kMaxMagnitudeGroups));
      for (int r : parse_int_list(a.spec(), a.groups[2], "rank", 1, 1 << 20))
        p.ranks.push_back(size_t(r));
      p.seed = a.seed;
      return std::make_unique<MagSvdTable>(a.d, p, a.spec());
    },
    .budget_pattern = "MagSVD([0-9]+)",
    .budget_grammar = "MagSVD{g}@{budget}",
    .budget_head = "MagSVD2",
    .make_budgeted = make_magsvd_for_budget,
}};

}  // namespace

/// The ranks, the remap, then per group U S (n_k x r_k) and V^T (r_k x d).
void MagSvdTable::save(BinaryWriter& w) const {
  EC_CHECK(!coef_.empty(), kRuntime, spec_ << ": save before compress");
  std::vector<uint64_t> ranks(ranks_.begin(), ranks_.end());
  w.put_vector(ranks);
  remap_.save(w);
  for (size_t k = 0; k < coef_.size(); ++k) {
    w.put_vector(coef_[k].values);
    w.put_vector(vt_[k].values);
  }
}

void MagSvdTable::load(BinaryReader& r) {
  const auto ranks64 = r.get_vector<uint64_t>(size_t(params_.groups));
  GroupRemap remap;
  remap.load(r);
  EC_CHECK(remap.groups() == ranks64.size(), kBadInput,
           r.what() << ": " << spec_ << " stores " << remap.groups() << " groups");
  std::vector<FloatMatrix> coef(ranks64.size()), vt(ranks64.size());
  for (size_t k = 0; k < ranks64.size(); ++k) {
    const size_t rk = ranks64[k], nk = remap.group_size(k);
    EC_CHECK(rk <= d_, kBadInput, r.what() << ": corrupt " << spec_ << " rank " << rk);
    coef[k].values = r.get_vector<float>(checked_mul(nk, rk));
    coef[k].n = nk;
    coef[k].d = rk;
    vt[k].values = r.get_vector<float>(checked_mul(rk, d_));
    vt[k].n = rk;
    vt[k].d = d_;
  }
  ranks_.assign(ranks64.begin(), ranks64.end());
  remap_ = std::move(remap);
  coef_ = std::move(coef);
  vt_ = std::move(vt);
}

}  // namespace embcomp

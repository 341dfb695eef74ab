#include "compressors/mgpq.h"

#include <algorithm>
#include <bit>
#include <chrono>
#include <set>

#include "compressors/budget.h"
#include "toolkit/registry.h"
#include "toolkit/serialize.h"

namespace embcomp {

namespace {

/// Rows gathered per encoding work item: small enough that FAISS's distance tables for
/// dsub >= 16 (rows * M * ksub floats) stay a few MB per thread.
constexpr size_t kEncodeBlockRows = 256;

/// The seed of group k's PQ (training sample and k-means).
uint64_t group_seed(uint64_t seed, size_t k) { return seed ^ (0x9E3779B97F4A7C15ull * (k + 1)); }

/// Group sizes for an equal split of n rows (the builder's estimate; compress() uses the
/// real ones).
std::vector<size_t> equal_split(size_t n, size_t g) {
  std::vector<size_t> sizes(g, n / g);
  for (size_t k = 0; k < n % g; ++k) ++sizes[k];
  return sizes;
}


}  // namespace

void MgpqParams::validate(size_t d) const {
  EC_CHECK(groups >= 1 && size_t(groups) <= kMaxMagnitudeGroups, kBadInput,
           "MGPQ: g=" << groups << " is not in [1, " << kMaxMagnitudeGroups << "]");
  EC_CHECK(d > 0, kBadInput, "MGPQ: d must be positive");
  EC_CHECK(niter >= 1, kBadInput, "MGPQ: niter=" << niter << " must be positive");
  EC_CHECK(max_train_rows >= 2, kBadInput, "MGPQ: max_train_rows=" << max_train_rows << " < 2");
  EC_CHECK(max_points_per_centroid >= 1, kBadInput, "MGPQ: max_points_per_centroid must be >= 1");
  if (budget > 0) {
    EC_CHECK(budget < 1, kBadInput, "MGPQ: budget " << budget << " is not in (0, 1)");
    EC_CHECK(nbits.empty(), kBadInput, "MGPQ: a budgeted table takes no explicit nbits");
    return;
  }
  EC_CHECK(nbits.size() == size_t(groups), kBadInput,
           "MGPQ: " << nbits.size() << " nbits values given for g=" << groups << " groups");
  for (size_t k = 0; k < nbits.size(); ++k) {
    EC_CHECK(nbits[k] >= 1 && nbits[k] <= 16, kBadInput,
             "MGPQ: nbits=" << nbits[k] << " of group " << k + 1 << " is not in [1, 16]");
    EC_CHECK(k == 0 || nbits[k] <= nbits[k - 1], kBadInput,
             "MGPQ: nbits must not increase from the high-norm group to the low-norm ones, got "
                 << nbits[k - 1] << " then " << nbits[k]);
  }
  EC_CHECK(M >= 1, kBadInput, "MGPQ: M=" << M << " must be positive");
  EC_CHECK(d % size_t(M) == 0, kBadInput, "MGPQ: d=" << d << " is not divisible by M=" << M);
}

std::string MgpqSetting::knob() const {
  std::string s = "M=" + std::to_string(M) + ",nbits=";
  for (size_t k = 0; k < nbits.size(); ++k) s += (k ? "/" : "") + std::to_string(nbits[k]);
  s += ",groups=" + std::to_string(nbits.size());
  return s;
}

int mgpq_capped_bits(int b, size_t rows) {
  const int fit = rows == 0 ? 0 : int(std::bit_width(rows)) - 1;  // floor(log2 rows)
  return std::min(b, fit);
}

size_t mgpq_bytes(size_t d, const MgpqSetting& s, const std::vector<size_t>& group_sizes) {
  EC_CHECK(s.nbits.size() == group_sizes.size(), kRuntime,
           "MGPQ: " << s.nbits.size() << " nbits for " << group_sizes.size() << " groups");
  size_t bytes = 0, n = 0;
  for (size_t k = 0; k < group_sizes.size(); ++k) {
    const size_t code_size = (size_t(s.M) * size_t(s.nbits[k]) + 7) / 8;
    bytes += checked_mul(group_sizes[k], code_size);
    bytes += checked_mul(size_t{1} << s.nbits[k], checked_mul(d, sizeof(float)));
    n += group_sizes[k];
  }
  return bytes + remap_bytes(n, group_sizes.size());
}

MgpqSetting solve_mgpq_budget(const std::string& spec, size_t d,
                              const std::vector<size_t>& group_sizes, double budget_bytes) {
  const size_t g = group_sizes.size();
  for (size_t k = 0; k < g; ++k)
    EC_CHECK(group_sizes[k] >= kMinGroupRows, kBadInput,
             spec << ": group " << k + 1 << " has " << group_sizes[k] << " rows, fewer than "
                  << kMinGroupRows);
  std::vector<KnobChoice> cands;
  std::vector<MgpqSetting> settings;
  size_t n = 0;
  for (size_t k = 0; k < g; ++k) n += group_sizes[k];
  std::set<std::string> seen;
  for (size_t M = 1; M <= d; ++M) {
    if (d % M) continue;
    for (int b = 4; b <= 8; ++b) {
      for (size_t t = 0; t < g; ++t) {
        MgpqSetting s;
        s.M = int(M);
        int total_bits = 0;
        double bits = 0;
        for (size_t k = 0; k < g; ++k) {
          s.nbits.push_back(mgpq_capped_bits(b + (k < t ? 1 : 0), group_sizes[k]));
          total_bits += s.nbits.back();
          bits += double(group_sizes[k]) * double(M) * double(s.nbits.back());
        }
        std::string knob = s.knob();
        if (!seen.insert(knob).second) continue;
        // budget.h's rule: the most code bits per row (averaged over the groups), then
        // more bits per sub-quantizer (fewer, larger codebooks), then the fewest bytes.
        cands.push_back({knob, mgpq_bytes(d, s, group_sizes), 0, double(total_bits)});
        cands.back().info = bits / double(n);
        settings.push_back(std::move(s));
      }
    }
  }
  // Not "most bytes": with g codebooks, most bytes buys 2^9-centroid codebooks instead of
  // codes on small tables, and more budget then gave a worse table (2000 x 64 at 0.5:
  // M=16, 9/8 bits, MSE 0.020 against 0.009 at 0.25).
  const size_t best = choose_knob(spec, cands, budget_bytes, 4.0 * double(n) * double(d));
  return settings[best];
}

MgpqTable::MgpqTable(size_t d, MgpqParams params, std::string spec)
    : d_(d), params_(std::move(params)), spec_(std::move(spec)) {
  params_.validate(d_);
  if (params_.budget <= 0) {
    setting_.M = params_.M;
    setting_.nbits = params_.nbits;
  }
}

std::string MgpqTable::knob() const { return setting_.nbits.empty() ? "" : setting_.knob(); }

size_t MgpqTable::total_bytes() const {
  size_t bytes = model_bytes() + remap_.bytes();
  for (const auto& c : codes_) bytes += c.size();
  return bytes;
}

size_t MgpqTable::model_bytes() const {
  size_t bytes = 0;
  for (const auto& pq : pq_) bytes += pq->model_bytes();
  return bytes;
}

void MgpqTable::compress(MatrixView<float> x) {
  check_train_input(spec_, x, d_, min_rows());
  check_distance_range(spec_, x);
  const auto t0 = std::chrono::steady_clock::now();
  MagnitudeGrouping grouping = group_by_magnitude(x, size_t(params_.groups));
  const size_t g = grouping.members.size();
  std::vector<size_t> sizes(g);
  for (size_t k = 0; k < g; ++k) sizes[k] = grouping.members[k].size();
  MgpqSetting s;
  if (params_.budget > 0) {
    s = solve_mgpq_budget(spec_, d_, sizes, params_.budget * 4.0 * double(x.n) * double(d_));
  } else {
    s.M = params_.M;
    for (size_t k = 0; k < g; ++k) s.nbits.push_back(mgpq_capped_bits(params_.nbits[k], sizes[k]));
  }
  std::vector<std::unique_ptr<PqCodec>> pq;
  for (size_t k = 0; k < g; ++k) {
    PqParams p;
    p.M = s.M;
    p.nbits = s.nbits[k];
    p.niter = params_.niter;
    p.max_train_rows = std::min(params_.max_train_rows,
                                checked_mul(params_.max_points_per_centroid, size_t{1} << p.nbits));
    p.seed = group_seed(params_.seed, k);
    pq.push_back(std::make_unique<PqCodec>(d_, p));
    const std::vector<uint32_t> rows =
        sample_members(grouping.members[k], p.max_train_rows, p.seed);
    FloatMatrix sample(rows.size(), d_);
    gather_rows(x, rows.data(), rows.size(), sample.data());
    pq.back()->train(sample.view());
  }
  const auto t1 = std::chrono::steady_clock::now();
  std::vector<std::vector<uint8_t>> codes(g);
  for (size_t k = 0; k < g; ++k) {
    const std::vector<uint32_t>& members = grouping.members[k];
    const PqCodec& codec = *pq[k];
    const size_t nk = members.size(), cs = codec.code_size();
    codes[k].resize(checked_mul(nk, cs));
    uint8_t* out = codes[k].data();
    const size_t nblocks = (nk + kEncodeBlockRows - 1) / kEncodeBlockRows;
    OmpExceptionGuard guard;
#pragma omp parallel
    {
      std::vector<float> buf(kEncodeBlockRows * d_);
#pragma omp for schedule(dynamic)
      for (size_t b = 0; b < nblocks; ++b) {
        guard.run([&] {
          const size_t i0 = b * kEncodeBlockRows, cnt = std::min(kEncodeBlockRows, nk - i0);
          gather_rows(x, members.data() + i0, cnt, buf.data());
          codec.encode({buf.data(), cnt, d_}, out + i0 * cs);
        });
      }
    }
    guard.rethrow();
  }
  setting_ = std::move(s);
  pq_ = std::move(pq);
  codes_ = std::move(codes);
  remap_ = std::move(grouping.remap);
  train_s_ = std::chrono::duration<double>(t1 - t0).count();
  encode_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
}

void MgpqTable::decode_rows(const int64_t* ids, size_t count, float* out) const {
  check_ids(ids, count);
  // One row at a time through the same path for every caller, so decode_range (the
  // default, built on this) is bit-for-bit the same; PQ decoding is a table lookup.
#pragma omp parallel for if (count > 1024) schedule(static)
  for (size_t i = 0; i < count; ++i) {
    const size_t id = size_t(ids[i]);
    const size_t k = remap_.group(id), p = remap_.position(id);
    const faiss::ProductQuantizer& pq = pq_[k]->faiss_pq();
    pq.decode(codes_[k].data() + p * pq.code_size, out + i * d_);
  }
}

namespace {

std::string mgpq_ladder_spec(size_t d, size_t dims_per_code, const char* bits) {
  size_t M = std::max<size_t>(1, d / dims_per_code);
  while (M > 1 && d % M != 0) --M;  // the largest divisor of d not above d / dims_per_code
  return std::string("MGPQ2x") + bits + "_M" + std::to_string(M);
}

std::unique_ptr<TableCompressor> make_mgpq_for_budget(const BuildArgs& a) {
  MgpqParams p;
  p.groups = parse_int_arg(a.full_spec, a.groups[1], "g", 1, int(kMaxMagnitudeGroups));
  p.budget = a.budget;
  p.seed = a.seed;
  const size_t g = size_t(p.groups);
  EC_CHECK(a.n >= kMinGroupRows * g, kBadInput,
           a.full_spec << ": g=" << g << " groups need at least " << kMinGroupRows * g
                       << " rows, got n=" << a.n);
  // Rejects an unreachable budget now: the smallest setting's bytes do not depend on
  // how the rows split; the setting itself is solved at compress().
  solve_mgpq_budget(a.full_spec, a.d, equal_split(a.n, g),
                    a.budget * 4.0 * double(a.n) * double(a.d));
  auto t = std::make_unique<MgpqTable>(a.d, p, a.full_spec);
  t->set_budget(a.budget, "M must divide d=" + std::to_string(a.d) +
                              ", nbits is an integer in [4, 9] per group and the codebooks of " +
                              std::to_string(g) + " groups cost 2^nbits * d * 4 bytes each");
  return t;
}

Registrar reg{{
    .name = "MGPQ",
    .grammar = "MGPQ{g}x{b_1}-...-{b_g}_M{M}",
    .doc = "magnitude-grouped PQ: g groups of equal total L2 norm, one PQ each, more bits for "
           "high norms, remap counted",
    .kind = MethodKind::kTable,
    .pattern = "MGPQ([0-9]+)x([0-9]+(?:-[0-9]+)*)_M([0-9]+)",
    .ladder =
        [](size_t d) {
          return std::vector<std::string>{mgpq_ladder_spec(d, 8, "5-4"),
                                          mgpq_ladder_spec(d, 4, "7-6")};
        },
    .defaults = [](size_t) { return std::vector<std::string>{"MGPQ2@0.1"}; },
    .make_transform = nullptr,
    .make_codec = nullptr,
    .make_table = [](const BuildArgs& a) -> std::unique_ptr<TableCompressor> {
      MgpqParams p;
      p.groups = parse_int_arg(a.spec(), a.groups[1], "g", 1, int(kMaxMagnitudeGroups));
      p.nbits = parse_int_list(a.spec(), a.groups[2], "nbits", 1, 16);
      p.M = parse_int_arg(a.spec(), a.groups[3], "M", 1, 1 << 16);
      p.seed = a.seed;
      return std::make_unique<MgpqTable>(a.d, p, a.spec());
    },
    .budget_pattern = "MGPQ([0-9]+)",
    .budget_grammar = "MGPQ{g}@{budget}",
    .budget_head = "MGPQ2",
    .make_budgeted = make_mgpq_for_budget,
}};

}  // namespace

/// The setting (M, bits per group), the remap, then per group its PQ codebooks and codes.
void MgpqTable::save(BinaryWriter& w) const {
  EC_CHECK(!pq_.empty(), kRuntime, spec_ << ": save before compress");
  w.put_u64(size_t(setting_.M));
  w.put_vector(setting_.nbits);
  remap_.save(w);
  for (size_t k = 0; k < pq_.size(); ++k) {
    pq_[k]->save(w);
    w.put_vector(codes_[k]);
  }
}

void MgpqTable::load(BinaryReader& r) {
  MgpqSetting s;
  s.M = int(r.get_u64());
  s.nbits = r.get_vector<int>(size_t(params_.groups));
  GroupRemap remap;
  remap.load(r);
  EC_CHECK(remap.groups() == size_t(params_.groups), kBadInput,
           r.what() << ": " << spec_ << " stores " << remap.groups() << " groups");
  std::vector<std::unique_ptr<PqCodec>> pq;
  std::vector<std::vector<uint8_t>> codes;
  for (size_t k = 0; k < remap.groups(); ++k) {
    EC_CHECK(s.M >= 1 && s.nbits[k] >= 1 && s.nbits[k] <= 16, kBadInput,
             r.what() << ": corrupt " << spec_ << " setting " << s.knob());
    PqParams p;
    p.M = s.M;
    p.nbits = s.nbits[k];
    p.seed = group_seed(params_.seed, k);
    p.validate(d_);
    pq.push_back(std::make_unique<PqCodec>(d_, p));
    pq.back()->load(r);
    codes.push_back(r.get_vector<uint8_t>(checked_mul(remap.group_size(k), pq.back()->code_size())));
  }
  setting_ = std::move(s);
  remap_ = std::move(remap);
  pq_ = std::move(pq);
  codes_ = std::move(codes);
}

}  // namespace embcomp

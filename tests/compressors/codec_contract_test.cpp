// The checks every registered method must pass (STYLE.md "Tests: the same checks for
// every method"), parameterized over the registry so that a new method is tested the
// moment it registers:
//   1 size        code_size()/model_bytes() equal the formula documented in docs/methods.md
//   2 round trip  re-encoding a reconstruction is stable; relative error under a bound
//   3 monotonic   along the family's ladder (more bits / rank), error falls, recall rises
//   4 oracle      recall@10 against exact brute-force search above a floor
//   5 known answer  in each method's own test file (sq_test.cpp, pq_test.cpp, ...)
//   6 error paths wrong d, too few rows, NaN, empty input, encode before train
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <regex>

#include "compressors/codec.h"
#include "eval/knn.h"
#include "test_data.h"
#include "toolkit/error.h"
#include "toolkit/registry.h"

namespace embcomp {
namespace {

constexpr size_t kD = 64;
constexpr size_t kN = 3000;
constexpr size_t kNq = 100;
constexpr size_t kK = 10;

struct Data {
  FloatMatrix base, queries;
  IdMatrix truth;  ///< exact top-kK by L2, from a plain loop (independent of FAISS)
};

const Data& data() {
  static const Data d = [] {
    Data r;
    FloatMatrix all = testing::low_rank(kN + kNq, kD, 12, 0.05f, 7);
    r.base = FloatMatrix(kN, kD);
    r.queries = FloatMatrix(kNq, kD);
    std::copy(all.values.begin(), all.values.begin() + kN * kD, r.base.values.begin());
    std::copy(all.values.begin() + kN * kD, all.values.end(), r.queries.values.begin());
    r.truth = IdMatrix(kNq, kK);
    std::vector<std::pair<double, int64_t>> dist(kN);
    for (size_t q = 0; q < kNq; ++q) {
      for (size_t i = 0; i < kN; ++i) {
        double s = 0;
        for (size_t j = 0; j < kD; ++j) {
          double e = double(r.queries.row(q)[j]) - r.base.row(i)[j];
          s += e * e;
        }
        dist[i] = {s, int64_t(i)};
      }
      std::partial_sort(dist.begin(), dist.begin() + kK, dist.end());
      for (size_t j = 0; j < kK; ++j) r.truth.row(q)[j] = dist[j].second;
    }
    return r;
  }();
  return d;
}

/// Relative reconstruction error: sum (x - x')^2 / sum x^2.
double rel_error(const FloatMatrix& x, const std::vector<float>& rec) {
  double num = 0, den = 0;
  for (size_t i = 0; i < x.values.size(); ++i) {
    double e = double(x.values[i]) - rec[i];
    num += e * e;
    den += double(x.values[i]) * x.values[i];
  }
  return num / den;
}

struct Trained {
  std::unique_ptr<Codec> codec;
  std::vector<uint8_t> codes;
  std::vector<float> rec;
  double err = 0;
  double recall = 0;
};

Trained train_and_measure(const std::string& spec) {
  const Data& dt = data();
  Trained t;
  t.codec = make_codec(spec, kD, 1234);
  t.codec->train(dt.base.view());
  t.codes.resize(kN * t.codec->code_size());
  t.codec->encode(dt.base.view(), t.codes.data());
  t.rec.resize(kN * kD);
  t.codec->decode(t.codes.data(), kN, t.rec.data());
  t.err = rel_error(dt.base, t.rec);
  KnnResult r = search_codes(*t.codec, t.codes.data(), kN, dt.queries.view(), kK, Metric::kL2);
  t.recall = recall_at_k(r, dt.truth, kK);
  return t;
}

// ---- the documented memory formulas (docs/methods.md), written independently ----------
struct Sizes {
  size_t code = 0;
  size_t model = 0;
};

Sizes documented_sizes(const std::string& spec, size_t d) {
  Sizes s;
  std::stringstream ss(spec);
  std::string c;
  std::smatch m;
  bool have_codec = false;
  while (std::getline(ss, c, ',')) {
    auto ceil8 = [](size_t bits) { return (bits + 7) / 8; };
    if (std::regex_match(c, m, std::regex("PCA([0-9]+)"))) {
      size_t k = std::stoul(m[1]);
      s.model += (k * d + d + k) * 4;  // A, the mean and the bias b
      d = k;
    } else if (std::regex_match(c, m, std::regex("OPQ([0-9]+)"))) {
      s.model += d * d * 4;
    } else if (c == "Flat") {
      s.code = 4 * d;
      have_codec = true;
    } else if (c == "FP16" || c == "BF16") {
      s.code = 2 * d;
      have_codec = true;
    } else if (std::regex_match(c, m, std::regex("SQ([0-9]+)"))) {
      s.code = ceil8(d * std::stoul(m[1]));
      s.model += 2 * d * 4;
      have_codec = true;
    } else if (c == "INT8") {
      s.code = d;
      s.model += d * 4;
      have_codec = true;
    } else if (c == "Binary" || c == "Binary-median") {
      s.code = ceil8(d);
      s.model += (c == "Binary" ? 2 : 3) * d * 4;
      have_codec = true;
    } else if (std::regex_match(c, m, std::regex("PQ([0-9]+)x([0-9]+)"))) {
      size_t M = std::stoul(m[1]), nbits = std::stoul(m[2]);
      s.code = ceil8(M * nbits);
      s.model += (size_t{1} << nbits) * d * 4;
      have_codec = true;
    } else if (std::regex_match(c, m, std::regex("RQ([0-9]+)x([0-9]+)"))) {
      size_t M = std::stoul(m[1]), nbits = std::stoul(m[2]);
      s.code = ceil8(M * nbits);
      s.model += M * (size_t{1} << nbits) * d * 4;
      have_codec = true;
    } else {
      ADD_FAILURE() << "no documented size formula for '" << c
                    << "': add it here and to docs/methods.md";
    }
  }
  if (!have_codec) s.code = 4 * d;  // a trailing transform stores float32
  return s;
}

// ---- per-family quality bounds on the test data (d=64, rank-12 + noise) --------------
// Set from the values measured on this data (audit L1: the old bounds, e.g. PCA error 0.8
// where it is 0.002, tested almost nothing): errors at about 2x the largest measured over
// the ladder (1.25x for Binary's 0.36), recall floors about 0.05 below the measured recall
// of the largest member, for k-means and BLAS rounding on other CPUs. Measured (relative
// error max over the ladder / recall of the largest): FP16 4.3e-8 / 1, BF16 2.7e-6 / 0.999,
// SQ 0.0192 (SQ4) / 0.993, INT8 7.4e-5 / 0.992, Binary 0.364 / 0.351, Binary-median
// 0.364 / 0.357, PQ 0.261 (PQ4x8) / 0.944, RQ 0.155 (RQ2x8) / 0.952, PCA 0.0018 (PCA16) /
// 0.999, OPQ 0.059 (OPQ4) / 0.89.
struct Bounds {
  double max_rel_error;  ///< for every ladder member
  double min_recall;     ///< 10-recall@10 of the largest ladder member
};
const std::map<std::string, Bounds>& family_bounds() {
  static const std::map<std::string, Bounds> b = {
      {"Flat", {0.0, 1.0}},          {"FP16", {1e-7, 0.99}},    {"BF16", {6e-6, 0.98}},
      {"SQ", {0.04, 0.96}},          {"INT8", {1.5e-4, 0.96}},  {"Binary", {0.45, 0.29}},
      {"Binary-median", {0.45, 0.29}}, {"PQ", {0.5, 0.89}},     {"RQ", {0.3, 0.9}},
      {"PCA", {0.004, 0.97}},        {"OPQ", {0.12, 0.83}},
  };
  return b;
}

// Codecs whose decode(encode()) is exactly re-encodable (reconstructions are bin centers
// or centroids); the others (rotations, beam search) are checked within a tolerance.
bool exact_roundtrip(const std::string& family) {
  return family != "RQ" && family != "PCA" && family != "OPQ";
}

// Transforms and codecs; table methods have their own contract (table_contract_test.cpp).
std::vector<std::string> all_ladder_specs() {
  std::vector<std::string> out;
  for (const auto* e : registered_methods())
    if (e->kind != MethodKind::kTable)
      for (const auto& s : e->ladder(kD)) out.push_back(s);
  return out;
}
std::vector<std::string> all_families() {
  std::vector<std::string> out;
  for (const auto* e : registered_methods())
    if (e->kind != MethodKind::kTable) out.push_back(e->name);
  return out;
}
std::string param_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string s = info.param;
  for (auto& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return s;
}

const MethodEntry& entry_by_name(const std::string& name) {
  for (const auto* e : registered_methods())
    if (e->name == name) return *e;
  throw std::logic_error("no registered method " + name);
}

class SpecTest : public ::testing::TestWithParam<std::string> {};
class FamilyTest : public ::testing::TestWithParam<std::string> {};

TEST_P(SpecTest, CanonicalSpecRoundTrips) {
  auto codec = make_codec(GetParam(), kD);
  EXPECT_EQ(codec->spec(), GetParam());
  EXPECT_EQ(codec->d(), kD);
}

TEST_P(SpecTest, SizeMatchesDocumentedFormula) {
  auto codec = make_codec(GetParam(), kD);
  codec->train(data().base.view());
  Sizes want = documented_sizes(GetParam(), kD);
  EXPECT_EQ(codec->code_size(), want.code);
  EXPECT_EQ(codec->model_bytes(), want.model);
}

TEST_P(SpecTest, RoundTripIsStableAndErrorBounded) {
  Trained t = train_and_measure(GetParam());
  const std::string family = find_method(GetParam().substr(0, GetParam().find(','))).name;
  EXPECT_LE(t.err, family_bounds().at(family).max_rel_error) << GetParam();
  // encode(decode(encode(x))) against encode(x)
  std::vector<uint8_t> codes2(t.codes.size());
  t.codec->encode({t.rec.data(), kN, kD}, codes2.data());
  if (exact_roundtrip(family)) {
    EXPECT_EQ(codes2, t.codes) << GetParam();
  } else {
    std::vector<float> rec2(kN * kD);
    t.codec->decode(codes2.data(), kN, rec2.data());
    double num = 0, den = 0;
    for (size_t i = 0; i < rec2.size(); ++i) {
      num += (double(rec2[i]) - t.rec[i]) * (double(rec2[i]) - t.rec[i]);
      den += double(t.rec[i]) * t.rec[i];
    }
    // Re-encoding a reconstruction moves it by far less than the first encoding did.
    EXPECT_LE(num / den, 0.1 * t.err + 1e-9) << GetParam();
  }
}

TEST_P(SpecTest, ErrorPaths) {
  const Data& dt = data();
  auto codec = make_codec(GetParam(), kD);
  // encode before train (codecs with nothing to learn are trained from the start)
  if (!codec->is_trained()) {
    std::vector<uint8_t> c(codec->code_size());
    EXPECT_THROW(codec->encode({dt.base.data(), 1, kD}, c.data()), Error);
  }
  // wrong dimension
  FloatMatrix wrong(300, kD - 1);
  EXPECT_THROW(codec->train(wrong.view()), Error);
  // empty input
  EXPECT_THROW(codec->train({dt.base.data(), 0, kD}), Error);
  // too few training rows
  if (codec->min_train_rows() > 1) {
    EXPECT_THROW(codec->train({dt.base.data(), codec->min_train_rows() - 1, kD}), Error);
  }
  // NaN in training and in encoding input; the message names the row
  FloatMatrix bad = dt.base;
  bad.row(17)[3] = std::nanf("");
  try {
    codec->train(bad.view());
    ADD_FAILURE() << "NaN accepted by train";
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("row 17"), std::string::npos) << e.message();
    EXPECT_EQ(e.kind(), ErrorKind::kBadInput);
  }
  codec->train(dt.base.view());
  std::vector<uint8_t> codes(kN * codec->code_size());
  EXPECT_THROW(codec->encode(bad.view(), codes.data()), Error);
}

TEST_P(FamilyTest, MonotonicAlongLadder) {
  const MethodEntry& e = entry_by_name(GetParam());
  auto ladder = e.ladder(kD);
  if (ladder.size() < 2) GTEST_SKIP() << e.name << " has one size only";
  double prev_err = 1e30, prev_recall = -1;
  size_t prev_bytes = 0;
  for (const auto& spec : ladder) {
    Trained t = train_and_measure(spec);
    size_t bytes = t.codec->code_size();
    EXPECT_GT(bytes, prev_bytes) << spec << ": the ladder must grow";
    EXPECT_LT(t.err, prev_err) << spec;
    // Slack from the measured steps (audit L1; AMD EPYC with AVX-512, OpenBLAS Cooperlake):
    // every step raised recall, the least PCA32 -> PCA48 (0.997 -> 0.999, recall saturated);
    // the others by 0.031 (SQ6 -> SQ8) to 0.34. Recall is over 100 queries x 10, so 0.005 is
    // five neighbours: room for rounding on other CPUs, not for a member that is worse.
    EXPECT_GE(t.recall, prev_recall - 0.005) << spec;
    prev_err = t.err;
    prev_recall = t.recall;
    prev_bytes = bytes;
  }
}

TEST_P(FamilyTest, OracleRecallFloor) {
  const std::string largest = entry_by_name(GetParam()).ladder(kD).back();
  Trained t = train_and_measure(largest);
  ASSERT_TRUE(family_bounds().count(GetParam())) << "add quality bounds for " << GetParam();
  EXPECT_GE(t.recall, family_bounds().at(GetParam()).min_recall) << largest;
}

INSTANTIATE_TEST_SUITE_P(Registry, SpecTest, ::testing::ValuesIn(all_ladder_specs()), param_name);
INSTANTIATE_TEST_SUITE_P(Registry, FamilyTest, ::testing::ValuesIn(all_families()), param_name);

TEST(Registry, EveryFamilyHasBoundsAndALadder) {
  for (const auto* e : registered_methods()) {
    if (e->kind == MethodKind::kTable) continue;
    EXPECT_TRUE(family_bounds().count(e->name)) << e->name;
    EXPECT_FALSE(e->ladder(kD).empty()) << e->name;
    EXPECT_FALSE(e->defaults(100).empty()) << e->name;
    EXPECT_FALSE(e->doc.empty()) << e->name;
  }
}

}  // namespace
}  // namespace embcomp

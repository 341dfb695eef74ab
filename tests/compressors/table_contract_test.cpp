// The contract of every table compressor and every budget form (issue 3), parameterized
// over the registry:
//   budget honesty  total_bytes <= budget * 4 n d exactly (never over), and at least 90%
//                   of it except the gaps by design listed in by_design_gaps() with the
//                   fraction they use, at budgets 0.5, 0.25, 0.1, 0.05 where the method
//                   can reach them and on a second shape; an unreachable budget names the
//                   smallest ratio
//   monotonic       reconstruction MSE falls as the budget grows
//   random access   decode_rows(ids) equals the same rows of full decoding, bit for bit
//   error paths     budgets <= 0, >= 1 or unreachable; ids out of range; empty input
#include <gtest/gtest.h>

#include <cfloat>
#include <cmath>
#include <cstring>
#include <map>
#include <random>
#include <regex>

#include "compressors/gq.h"
#include "compressors/magsvd.h"
#include "compressors/mgpq.h"
#include "compressors/prune.h"
#include "compressors/svd.h"
#include "compressors/table_compressor.h"
#include "test_data.h"
#include "toolkit/error.h"
#include "toolkit/registry.h"

namespace embcomp {
namespace {

constexpr size_t kN = 2000;
constexpr size_t kD = 64;
const double kBudgets[] = {0.05, 0.1, 0.25, 0.5};

const FloatMatrix& table_data() {
  static const FloatMatrix x = testing::low_rank(kN, kD, 8, 0.05f, 11);
  return x;
}

double mse(const TableCompressor& t, const FloatMatrix& x) { return testing::table_mse(t, x); }

bool unreachable(const std::string& spec, size_t n = kN, size_t d = kD) {
  try {
    make_table(spec, n, d, 1234);
    return false;
  } catch (const Error& e) {
    if (e.message().find("unreachable") != std::string::npos) return true;
    throw;
  }
}

/// Budgets (n x d, spec) where the solver by design uses less than 90% of the budget, with
/// the fraction of the budget it uses (total_bytes / (B 4 n d), measured; the test allows
/// 0.01 below it, so a solver that starts wasting more fails) and why. Everything else
/// must use at least 90%.
struct Gap {
  double used;
  const char* why;
};
const std::map<std::string, Gap>& by_design_gaps() {
  // Measured at commit time (knob: reason). 0 = unreachable by design.
  static const std::map<std::string, Gap> g = {
      {"2000x64 GQ@0.05",
       {0, "unreachable: two sizes: 8 bits (0.25 of fp32) or 16 (0.5), each plus 8 bytes"}},
      {"2000x64 GQ@0.1",
       {0, "unreachable: two sizes: 8 bits (0.25 of fp32) or 16 (0.5), each plus 8 bytes"}},
      {"2000x64 GQ@0.25",
       {0, "unreachable: two sizes: 8 bits (0.25 of fp32) or 16 (0.5), each plus 8 bytes"}},
      {"2000x64 SQ@0.05",
       {0, "unreachable: nbits is one of 4, 6, 8, 16 (0.125 .. 0.5 of fp32 plus ranges)"}},
      {"2000x64 SQ@0.1",
       {0, "unreachable: nbits is one of 4, 6, 8, 16 (0.125 .. 0.5 of fp32 plus ranges)"}},
      {"700x30 GQ@0.08",
       {0, "unreachable: two sizes: 8 bits (0.25 of fp32) or 16 (0.5), each plus 8 bytes"}},
      {"700x30 GQ@0.2",
       {0, "unreachable: two sizes: 8 bits (0.25 of fp32) or 16 (0.5), each plus 8 bytes"}},
      {"700x30 SQ@0.08",
       {0, "unreachable: nbits is one of 4, 6, 8, 16 (0.125 .. 0.5 of fp32 plus ranges)"}},
      {"2000x64 GQ@0.5",
       {0.5000, "bits=8: two sizes: 8 bits (0.25 of fp32) or 16 (0.5), each plus 8 bytes"}},
      {"2000x64 MGPQ2@0.25",
       {0.8684,
        "M=64,nbits=6/5,groups=2: most code bits (M | d, integer bits per group); the next setting "
        "is over"}},
      {"2000x64 MGPQ2@0.5",
       {0.8472,
        "M=64,nbits=8/7,groups=2: most code bits (M | d, integer bits per group); the next setting "
        "is over"}},
      {"2000x64 OPQ+PQ@0.1",
       {0.8706,
        "M=16,nbits=5: most code bits M nbits (M | d, d / M >= 2, nbits in [4, 8]); the next is "
        "over"}},
      {"2000x64 PCA+SQ8@0.5",
       {0.5680, "d_out=64: d_out in [1, d]; at d_out = d nothing more can be stored"}},
      {"2000x64 PCA+SQ6@0.25",
       {0.8860, "d_out=64: d_out in [1, d]; at d_out = d nothing more can be stored"}},
      {"2000x64 PCA+SQ6@0.5",
       {0.4430, "d_out=64: d_out in [1, d]; at d_out = d nothing more can be stored"}},
      {"2000x64 PCA+SQ4@0.25",
       {0.6360, "d_out=64: d_out in [1, d]; at d_out = d nothing more can be stored"}},
      {"2000x64 PCA+SQ4@0.5",
       {0.3180, "d_out=64: d_out in [1, d]; at d_out = d nothing more can be stored"}},
      {"2000x64 PQ@0.05",
       {0.7850,
        "M=16,nbits=4: most code bits M nbits with M | d and nbits in [4, 8]; the next setting is "
        "over"}},
      {"2000x64 PQ@0.25",
       {0.8780,
        "M=64,nbits=6: most code bits M nbits with M | d and nbits in [4, 8]; the next setting is "
        "over"}},
      {"2000x64 PQ@0.5",
       {0.7560,
        "M=64,nbits=8: most code bits M nbits with M | d and nbits in [4, 8]; the next setting is "
        "over"}},
      {"2000x64 RQ@0.05",
       {0.7963,
        "M=4,nbits=4: most code bits with M <= 8 stages of 4..8 bits; the next setting is over"}},
      {"2000x64 RQ@0.1",
       {0.7963,
        "M=8,nbits=4: most code bits with M <= 8 stages of 4..8 bits; the next setting is over"}},
      {"2000x64 SQ@0.25",
       {0.7540, "nbits=6: nbits is one of 4, 6, 8, 16 (0.125 .. 0.5 of fp32 plus ranges)"}},
      {"700x30 GQ@0.4",
       {0.6252, "bits=8: two sizes: 8 bits (0.25 of fp32) or 16 (0.5), each plus 8 bytes"}},
      {"700x30 MGPQ2@0.08",
       {0.8982,
        "M=6,nbits=4/4,groups=2: most code bits (M | d, integer bits per group); the next setting "
        "is over"}},
      {"700x30 MGPQ2@0.2",
       {0.8593,
        "M=30,nbits=4/4,groups=2: most code bits (M | d, integer bits per group); the next setting "
        "is over"}},
      {"700x30 PCA@0.08",
       {0.8881,
        "d_out=2: one more component costs 4 n + 4 (d + 1) bytes, a large step on a small table"}},
      {"700x30 PCA@0.2",
       {0.8774,
        "d_out=5: one more component costs 4 n + 4 (d + 1) bytes, a large step on a small table"}},
      {"700x30 PCA+SQ8@0.08",
       {0.8845,
        "d_out=7: one more component costs 4 n + 4 (d + 1) bytes, a large step on a small table"}},
      {"700x30 PCA+SQ8@0.4",
       {0.7464, "d_out=30: d_out in [1, d]; at d_out = d nothing more can be stored"}},
      {"700x30 PCA+SQ6@0.4",
       {0.6006, "d_out=30: d_out in [1, d]; at d_out = d nothing more can be stored"}},
      {"700x30 PCA+SQ4@0.08",
       {0.8786,
        "d_out=12: one more component costs 4 n + 4 (d + 1) bytes, a large step on a small table"}},
      {"700x30 PCA+SQ4@0.2",
       {0.8679, "d_out=30: d_out in [1, d]; at d_out = d nothing more can be stored"}},
      {"700x30 PCA+SQ4@0.4",
       {0.4339, "d_out=30: d_out in [1, d]; at d_out = d nothing more can be stored"}},
      {"700x30 PQ@0.08",
       {0.8065,
        "M=10,nbits=4: most code bits M nbits with M | d and nbits in [4, 8]; the next setting is "
        "over"}},
      {"700x30 PQ@0.2",
       {0.7393,
        "M=30,nbits=4: most code bits M nbits with M | d and nbits in [4, 8]; the next setting is "
        "over"}},
      {"700x30 PQ@0.4",
       {0.7077,
        "M=30,nbits=6: most code bits M nbits with M | d and nbits in [4, 8]; the next setting is "
        "over"}},
      {"700x30 RQ@0.08",
       {0.6756,
        "M=2,nbits=4: most code bits with M <= 8 stages of 4..8 bits; the next setting is over"}},
      {"700x30 SQ@0.4",
       {0.6321, "nbits=8: nbits is one of 4, 6, 8, 16 (0.125 .. 0.5 of fp32 plus ranges)"}},
      {"700x30 SVD@0.08",
       {0.8690, "rank=2: one more rank costs 4 (n + d) bytes, a large step on a small table"}},
      {"700x30 SVD@0.2",
       {0.8690, "rank=5: one more rank costs 4 (n + d) bytes, a large step on a small table"}},
  };
  return g;
}

/// The fraction of budget b that spec (at n x d) must use at least.
double min_used(const std::string& spec, size_t n, size_t d) {
  const auto it = by_design_gaps().find(std::to_string(n) + "x" + std::to_string(d) + " " + spec);
  return it == by_design_gaps().end() ? 0.9 : it->second.used - 0.01;
}

/// Compresses spec on x; checks bytes <= budget exactly and the lower bound; returns the MSE.
double check_budget(const std::string& spec, double b, const FloatMatrix& x) {
  auto t = make_table(spec, x.n, x.d, 1234);
  t->compress(x.view());
  t->finish_budget();
  const double full = 4.0 * double(x.n) * double(x.d);
  const double used = double(t->total_bytes()) / (b * full);
  EXPECT_LE(double(t->total_bytes()), b * full) << spec << " knob " << t->knob();
  EXPECT_GE(used, min_used(spec, x.n, x.d))
      << x.n << "x" << x.d << " " << spec << " knob " << t->knob() << " uses " << used
      << " of the budget; note: " << t->budget_note();
  // The note explains every gap of more than 2% (its text is checked in budget_test.cpp).
  EXPECT_EQ(t->budget_note().empty(), used >= 0.98) << spec << ": " << t->budget_note();
  std::printf("[budget] %zux%zu %-14s knob %-28s used %.4f\n", x.n, x.d, spec.c_str(),
              t->knob().c_str(), used);
  return mse(*t, x);
}

std::vector<std::string> all_budget_heads() {
  std::vector<std::string> out;
  for (const auto* e : registered_methods())
    for (const auto& h : budget_heads(*e)) out.push_back(h);
  return out;
}

/// Every table method's ladder specs plus every budget head at 0.25.
std::vector<std::string> table_specs() {
  std::vector<std::string> out;
  for (const auto* e : registered_methods()) {
    if (e->kind == MethodKind::kTable)
      for (const auto& s : e->ladder(kD)) out.push_back(s);
    for (const auto& h : budget_heads(*e))
      out.push_back(h + (h == "RQ" || h == "OPQ+PQ" ? "@0.1"
                         : h == "GQ"                ? "@0.5"
                                                    : "@0.25"));  // GQ@0.25 is unreachable
  }
  return out;
}

std::string param_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string s = info.param;
  for (auto& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return s;
}

class BudgetTest : public ::testing::TestWithParam<std::string> {};
class TableTest : public ::testing::TestWithParam<std::string> {};

/// The budgets a head is checked at. RQ and OPQ+PQ train a quantizer per stage or per
/// iteration: at 0.25 and 0.5 of this table they take minutes, so they are checked at the
/// two small budgets here (their knob solvers are the same at every budget).
std::vector<double> budgets_for(const std::string& head) {
  if (head == "RQ" || head == "OPQ+PQ") return {0.05, 0.1};
  return {std::begin(kBudgets), std::end(kBudgets)};
}

std::string budget_spec(const std::string& head, double b) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", b);
  return head + "@" + buf;
}

TEST_P(BudgetTest, HonestAndMonotonic) {
  const FloatMatrix& x = table_data();
  double prev_mse = 1e30;
  int reached = 0;
  for (double b : budgets_for(GetParam())) {
    const std::string spec = budget_spec(GetParam(), b);
    if (unreachable(spec)) {
      EXPECT_TRUE(by_design_gaps().count("2000x64 " + spec)) << spec << " is unreachable";
      continue;
    }
    ++reached;
    const double m = check_budget(spec, b, x);
    EXPECT_LE(m, prev_mse * (1 + 1e-6)) << spec << ": a larger budget must not lose quality";
    prev_mse = m;
  }
  EXPECT_GT(reached, 0) << GetParam() << " reaches none of the budgets";
}

// A second shape (few rows, d with few divisors) at budgets between the first ones.
TEST_P(BudgetTest, HonestOnAnotherShape) {
  const FloatMatrix x = testing::low_rank(700, 30, 6, 0.05f, 12);
  // RQ and OPQ+PQ train a quantizer per stage or iteration: one budget keeps them fast.
  const bool slow = GetParam() == "RQ" || GetParam() == "OPQ+PQ";
  for (double b : slow ? std::vector<double>{0.08} : std::vector<double>{0.08, 0.2, 0.4}) {
    const std::string spec = budget_spec(GetParam(), b);
    if (unreachable(spec, x.n, x.d)) {
      EXPECT_TRUE(by_design_gaps().count("700x30 " + spec)) << spec << " is unreachable";
      continue;
    }
    check_budget(spec, b, x);
  }
}

TEST_P(BudgetTest, RejectsBadBudgets) {
  for (const char* b : {"0", "-0.1", "1", "1.5", "0.5x", "abc", ""}) {
    EXPECT_THROW(make_table(GetParam() + "@" + b, kN, kD), Error) << b;
  }
  const std::string msg =
      testing::bad_input_message([&] { make_table(GetParam() + "@0.00001", kN, kD); });
  EXPECT_NE(msg.find("unreachable"), std::string::npos) << msg;
  EXPECT_NE(msg.find("of fp32"), std::string::npos) << "the smallest ratio is named: " << msg;
}

TEST_P(TableTest, DecodeRowsEqualsFullDecode) {
  const FloatMatrix& x = table_data();
  auto t = make_table(GetParam(), kN, kD, 1234);
  t->compress(x.view());
  EXPECT_EQ(t->n(), kN);
  std::vector<float> full(kN * kD);
  t->decode_range(0, kN, full.data());
  std::mt19937_64 rng(5);
  std::vector<int64_t> ids(300);
  for (auto& id : ids) id = int64_t(rng() % kN);
  ids[0] = 0;
  ids[1] = kN - 1;
  ids[2] = ids[3];  // repeats are fine
  std::vector<float> some(ids.size() * kD);
  t->decode_rows(ids.data(), ids.size(), some.data());
  for (size_t i = 0; i < ids.size(); ++i) {
    ASSERT_EQ(std::memcmp(&some[i * kD], &full[size_t(ids[i]) * kD], kD * sizeof(float)), 0)
        << GetParam() << ": row " << ids[i];
  }
  std::vector<float> part(10 * kD);
  t->decode_range(1234, 10, part.data());
  EXPECT_EQ(std::memcmp(part.data(), &full[1234 * kD], part.size() * sizeof(float)), 0);
}

// ---- reference decoders, written from the stored arrays, not through decode_rows ------

/// sum_k coef[k] vt[k][j] in double, and the bound on float accumulation error of r
/// products: |fl(sum) - sum| <= r eps sum_k |coef[k] vt[k][j]| (eps = FLT_EPSILON; one
/// rounding of each product and each partial sum, Higham 2002 eq. 3.5, taken with a
/// factor 2 for products and sums).
void factor_row(const float* coef, const FloatMatrix& vt, float* got, const std::string& what) {
  for (size_t j = 0; j < vt.d; ++j) {
    double ref = 0, mag = 0;
    for (size_t k = 0; k < vt.n; ++k) {
      ref += double(coef[k]) * vt.row(k)[j];
      mag += std::fabs(double(coef[k]) * vt.row(k)[j]);
    }
    ASSERT_NEAR(got[j], ref, 2.0 * double(vt.n) * FLT_EPSILON * mag + 1e-30)
        << what << " col " << j;
  }
}

/// nbits bits at bit offset `bit` of code, least significant bit first (FAISS's
/// PQEncoderGeneric packing).
uint64_t read_bits(const uint8_t* code, size_t bit, int nbits) {
  uint64_t v = 0;
  for (int b = 0; b < nbits; ++b, ++bit) v |= uint64_t((code[bit / 8] >> (bit % 8)) & 1) << b;
  return v;
}

/// The methods whose decode_range is decode_rows (SVD, GQ, Prune, MGPQ, MagSVD) against a
/// decoder written here; the others decode ranges by their own path (DecodeRowsEqualsFullDecode).
class ReferenceDecodeTest : public ::testing::TestWithParam<std::string> {};

/// The table specs of SVD, GQ, Prune, MGPQ and MagSVD.
std::vector<std::string> reference_decoded_specs() {
  std::vector<std::string> out;
  for (const auto& s : table_specs())
    if (std::regex_search(s, std::regex("^(SVD|GQ|Prune|MGPQ|MagSVD)"))) out.push_back(s);
  return out;
}

TEST_P(ReferenceDecodeTest, DecodeRowsEqualsReferenceDecoder) {
  const FloatMatrix& x = table_data();
  auto t = make_table(GetParam(), kN, kD, 1234);
  t->compress(x.view());
  std::vector<float> got(kN * kD);
  std::vector<int64_t> ids(kN);
  for (size_t i = 0; i < kN; ++i) ids[i] = int64_t(i);
  t->decode_rows(ids.data(), kN, got.data());
  if (auto* svd = dynamic_cast<const SvdTable*>(t.get())) {
    // U S V^T by a plain loop.
    for (size_t i = 0; i < kN; ++i)
      ASSERT_NO_FATAL_FAILURE(factor_row(svd->coef().row(i), svd->vt(), &got[i * kD], GetParam()));
  } else if (auto* ms = dynamic_cast<const MagSvdTable*>(t.get())) {
    for (size_t i = 0; i < kN; ++i) {
      const size_t k = ms->remap().group(i), p = ms->remap().position(i);
      ASSERT_NO_FATAL_FAILURE(factor_row(ms->coef(k).row(p), ms->vt(k), &got[i * kD], GetParam()));
    }
  } else if (auto* gq = dynamic_cast<const GqTable*>(t.get())) {
    // scale * code + zero: two float roundings (product, sum) of at most eps/2 each.
    for (size_t i = 0; i < kN * kD; ++i) {
      const double code = gq->codes8().empty() ? gq->codes16()[i] : gq->codes8()[i];
      const double ref = double(gq->scale()) * code + gq->zero_point();
      ASSERT_NEAR(got[i], ref, FLT_EPSILON * (std::fabs(ref) + std::fabs(double(gq->zero_point()))))
          << GetParam() << " value " << i;
    }
  } else if (dynamic_cast<const PruneTable*>(t.get())) {
    // Global magnitude pruning from the input itself: the nnz largest |x| kept, the rest 0.
    const std::string knob = t->knob();
    const size_t nnz = std::stoul(knob.substr(4, knob.find(',') - 4));
    std::vector<float> mag(kN * kD);
    for (size_t i = 0; i < mag.size(); ++i) mag[i] = std::fabs(x.values[i]);
    std::nth_element(mag.begin(), mag.begin() + (nnz - 1), mag.end(), std::greater<float>());
    const float thr = mag[nnz - 1];
    for (size_t i = 0; i < kN * kD; ++i)
      ASSERT_EQ(got[i], std::fabs(x.values[i]) >= thr ? x.values[i] : 0.0f)
          << GetParam() << " " << i;
  } else if (auto* mg = dynamic_cast<const MgpqTable*>(t.get())) {
    // Per group: unpack the M codes of nbits_k bits and copy the centroids.
    for (size_t i = 0; i < kN; ++i) {
      const size_t k = mg->remap().group(i), p = mg->remap().position(i);
      const faiss::ProductQuantizer& pq = mg->pq(k).faiss_pq();
      const uint8_t* code = mg->codes(k).data() + p * pq.code_size;
      for (size_t m = 0; m < pq.M; ++m) {
        const uint64_t c = read_bits(code, m * pq.nbits, int(pq.nbits));
        const float* cent = pq.centroids.data() + (m * pq.ksub + c) * pq.dsub;
        ASSERT_EQ(std::memcmp(&got[i * kD + m * pq.dsub], cent, pq.dsub * sizeof(float)), 0)
            << GetParam() << " row " << i << " sub-vector " << m;
      }
    }
  } else {
    ADD_FAILURE() << GetParam() << ": no reference decoder for this table type";
  }
}

TEST_P(TableTest, ErrorPaths) {
  const FloatMatrix& x = table_data();
  auto t = make_table(GetParam(), kN, kD, 1234);
  EXPECT_THROW(t->compress({x.data(), 0, kD}), Error);
  FloatMatrix wrong(100, kD + 1);
  EXPECT_THROW(t->compress(wrong.view()), Error);
  t = make_table(GetParam(), kN, kD, 1234);
  t->compress(x.view());
  std::vector<float> out(kD);
  const int64_t bad[] = {int64_t(kN)}, neg[] = {-1};
  EXPECT_THROW(t->decode_rows(bad, 1, out.data()), Error);
  EXPECT_THROW(t->decode_rows(neg, 1, out.data()), Error);
  EXPECT_GT(t->total_bytes(), t->model_bytes());
}

INSTANTIATE_TEST_SUITE_P(Registry, BudgetTest, ::testing::ValuesIn(all_budget_heads()), param_name);
INSTANTIATE_TEST_SUITE_P(Registry, TableTest, ::testing::ValuesIn(table_specs()), param_name);
INSTANTIATE_TEST_SUITE_P(Registry, ReferenceDecodeTest,
                         ::testing::ValuesIn(reference_decoded_specs()), param_name);

}  // namespace
}  // namespace embcomp

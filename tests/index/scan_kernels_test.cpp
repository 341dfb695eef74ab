// Scan kernels (index/scan_kernels.h): every SIMD kernel against its scalar _ref twin,
// under every ISA this CPU supports, plus the documented error bound of the query
// quantization and recall against float search on real data.
//
// Tolerances: the block kernels are integer arithmetic (exact, wrapping identically), and
// the top-k epilogue is the same IEEE float operations in every version, so SIMD results
// must equal the reference bit for bit: the comparisons below are exact on purpose.
#include "index/scan_kernels.h"
#include "build_paths.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "compressors/int8.h"
#include "compressors/sq.h"
#include "eval/knn.h"
#include "test_data.h"
#include "toolkit/error.h"
#include "toolkit/io.h"
#include "toolkit/registry.h"

namespace embcomp {
namespace {

using DotU8 = void (*)(const int16_t*, const uint8_t*, size_t, size_t, int32_t*);
using DotS8 = void (*)(const int16_t*, const int8_t*, size_t, size_t, int32_t*);
using Hamming = void (*)(const uint8_t*, const uint8_t*, size_t, size_t, int32_t*);

struct IsaKernels {
  ScanIsa isa;
  DotU8 dot_u8;
  DotS8 dot_s8;
  Hamming hamming;
};

IsaKernels kernels(ScanIsa isa) {
  switch (isa) {
    case ScanIsa::kAvx512:
      return {isa, dot_u8_i16_avx512, dot_s8_i16_avx512, hamming_avx512};
    case ScanIsa::kAvx2:
      return {isa, dot_u8_i16_avx2, dot_s8_i16_avx2, hamming_avx2};
    default:
      return {isa, dot_u8_i16_ref, dot_s8_i16_ref, hamming_ref};
  }
}

class ScanIsaTest : public ::testing::TestWithParam<ScanIsa> {
 protected:
  void SetUp() override {
    if (!scan_isa_supported(GetParam())) {
      GTEST_SKIP() << "this CPU lacks the " << scan_isa_name(GetParam())
                   << " instructions the kernels need";
    }
  }
};

std::string isa_param_name(const ::testing::TestParamInfo<ScanIsa>& info) {
  return scan_isa_name(info.param);
}

INSTANTIATE_TEST_SUITE_P(Isa, ScanIsaTest,
                         ::testing::Values(ScanIsa::kRef, ScanIsa::kAvx2, ScanIsa::kAvx512),
                         isa_param_name);

// Dimensions around every vector width (16, 32, 64 bytes) and the 8/16-row blocking.
const std::vector<size_t> kDims = {1, 2, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 128, 129, 300};
const std::vector<size_t> kRows = {0, 1, 7, 8, 15, 16, 17, 33, 100};

std::vector<uint8_t> random_bytes(size_t count, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<uint8_t> v(count);
  for (auto& b : v) b = uint8_t(rng());
  return v;
}

std::vector<int16_t> random_weights(size_t d, int16_t amax, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<int> u(-amax, amax);
  std::vector<int16_t> w(d);
  for (auto& x : w) x = int16_t(u(rng));
  return w;
}

TEST_P(ScanIsaTest, DotU8MatchesRef) {
  const IsaKernels kern = kernels(GetParam());
  for (size_t d : kDims) {
    for (size_t n : kRows) {
      auto codes = random_bytes(n * d + 1, 11 * d + n);  // +1: never a zero-size buffer
      // amax keeps sum |w| * 255 < 2^31 (the contract quantize_*_query guarantees)
      auto w = random_weights(d, int16_t(std::min<size_t>(32767, 8000000 / d)), d + 3 * n);
      std::vector<int32_t> want(n + 1, -7), got(n + 1, -7);
      dot_u8_i16_ref(w.data(), codes.data(), n, d, want.data());
      kern.dot_u8(w.data(), codes.data(), n, d, got.data());
      ASSERT_EQ(got, want) << "d=" << d << " n=" << n;  // got[n] checks no write past n
    }
  }
}

TEST_P(ScanIsaTest, DotS8MatchesRef) {
  const IsaKernels kern = kernels(GetParam());
  for (size_t d : kDims) {
    for (size_t n : kRows) {
      auto bytes = random_bytes(n * d + 1, 17 * d + n);
      std::vector<int8_t> codes(bytes.size());
      std::memcpy(codes.data(), bytes.data(), bytes.size());  // includes -128 and 127
      auto w = random_weights(d, int16_t(std::min<size_t>(32767, 16000000 / d)), d + 5 * n);
      std::vector<int32_t> want(n + 1, -7), got(n + 1, -7);
      dot_s8_i16_ref(w.data(), codes.data(), n, d, want.data());
      kern.dot_s8(w.data(), codes.data(), n, d, got.data());
      ASSERT_EQ(got, want) << "d=" << d << " n=" << n;
    }
  }
}

TEST_P(ScanIsaTest, DotExtremeValuesWrapLikeRef) {
  // Largest weights and codes: d = 300 overflows int32 (300 * 32767 * 255 > 2^31); every
  // version must wrap modulo 2^32 the same way, and for d = 128 the value is exact.
  const IsaKernels kern = kernels(GetParam());
  for (size_t d : {size_t(128), size_t(300)}) {
    const size_t n = 37;
    std::vector<uint8_t> codes(n * d, 255);
    std::vector<int8_t> scodes(n * d, -128);
    std::vector<int16_t> w(d, 32767), wneg(d, -32767);
    std::vector<int32_t> want(n), got(n);
    for (auto* ww : {&w, &wneg}) {
      dot_u8_i16_ref(ww->data(), codes.data(), n, d, want.data());
      kern.dot_u8(ww->data(), codes.data(), n, d, got.data());
      EXPECT_EQ(got, want) << "d=" << d;
      dot_s8_i16_ref(ww->data(), scodes.data(), n, d, want.data());
      kern.dot_s8(ww->data(), scodes.data(), n, d, got.data());
      EXPECT_EQ(got, want) << "d=" << d;
    }
    if (d == 128) {
      dot_u8_i16_ref(w.data(), codes.data(), 1, d, want.data());
      EXPECT_EQ(want[0], int32_t(128 * 32767 * 255));
    }
  }
}

TEST_P(ScanIsaTest, HammingMatchesRef) {
  const IsaKernels kern = kernels(GetParam());
  for (size_t cs : {1, 2, 3, 7, 8, 9, 15, 16, 17, 24, 31, 32, 33, 63, 64, 65, 100, 128, 200}) {
    for (size_t n : kRows) {
      auto codes = random_bytes(n * cs + 1, 23 * cs + n);
      auto q = random_bytes(cs, cs);
      std::vector<int32_t> want(n + 1, -7), got(n + 1, -7);
      hamming_ref(q.data(), codes.data(), n, cs, want.data());
      kern.hamming(q.data(), codes.data(), n, cs, got.data());
      ASSERT_EQ(got, want) << "cs=" << cs << " n=" << n;
    }
  }
}

TEST_P(ScanIsaTest, HammingExtremes) {
  // All bits different: distance 8 * cs; identical codes: 0.
  const IsaKernels kern = kernels(GetParam());
  for (size_t cs : {1, 8, 16, 17, 64, 100}) {
    const size_t n = 40;
    std::vector<uint8_t> q(cs, 0x00), codes(n * cs, 0xFF);
    for (size_t j = 0; j < cs; ++j) codes[5 * cs + j] = 0x00;
    std::vector<int32_t> got(n);
    kern.hamming(q.data(), codes.data(), n, cs, got.data());
    for (size_t i = 0; i < n; ++i) {
      EXPECT_EQ(got[i], i == 5 ? 0 : int32_t(8 * cs)) << "cs=" << cs << " i=" << i;
    }
  }
}

TEST(ScanKernels, HammingRefKnownAnswer) {
  // Hand-checked: 0b1011 vs 0b0110 differ in 3 bits; second byte 0xF0 vs 0x0F in 8.
  const uint8_t q[2] = {0x0B, 0xF0};
  const uint8_t codes[4] = {0x06, 0x0F, 0x0B, 0xF0};
  int32_t out[2];
  hamming_ref(q, codes, 2, 2, out);
  EXPECT_EQ(out[0], 11);
  EXPECT_EQ(out[1], 0);
}

TEST(ScanKernels, DotRefKnownAnswer) {
  const int16_t w[3] = {2, -3, 1000};
  const uint8_t u[3] = {255, 1, 7};
  const int8_t s[3] = {-128, 5, -1};
  int32_t out;
  dot_u8_i16_ref(w, u, 1, 3, &out);
  EXPECT_EQ(out, 2 * 255 - 3 + 7000);
  dot_s8_i16_ref(w, s, 1, 3, &out);
  EXPECT_EQ(out, -256 - 15 - 1000);
}

// ---- top-k ------------------------------------------------------------------------------

struct Sq8Model {
  size_t d;
  std::vector<float> vmin, vdiff;
};

Sq8Model random_sq8_model(size_t d, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-2.0f, 2.0f), p(0.1f, 3.0f);
  Sq8Model m{d, std::vector<float>(d), std::vector<float>(d)};
  for (size_t j = 0; j < d; ++j) {
    m.vmin[j] = u(rng);
    m.vdiff[j] = p(rng);
  }
  return m;
}

/// Exact <q, decoded row> in double, decoding as FAISS QT_8bit in real arithmetic.
double exact_sq8_ip(const float* q, const uint8_t* c, const Sq8Model& m) {
  double s = 0;
  for (size_t j = 0; j < m.d; ++j) {
    s += double(q[j]) * (double(m.vmin[j]) + (c[j] + 0.5) / 255.0 * double(m.vdiff[j]));
  }
  return s;
}

/// Brute-force top-k from the reference block kernel and a full sort (no heap): the
/// oracle for the heap-based scans. Larger is better when kMax; ties by smaller id.
template <class T>
void sort_topk(const std::vector<T>& s, size_t k, bool larger_better, int64_t* ids, T* vals,
               T pad) {
  std::vector<int64_t> order(s.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return larger_better ? s[a] > s[b] : s[a] < s[b]; });
  for (size_t j = 0; j < k; ++j) {
    ids[j] = j < s.size() ? order[j] : -1;
    vals[j] = j < s.size() ? s[order[j]] : pad;
  }
}

TEST_P(ScanIsaTest, Sq8TopkMatchesRefAndOracle) {
  for (size_t d : {size_t(1), size_t(17), size_t(100), size_t(128)}) {
    for (size_t n : {size_t(0), size_t(1), size_t(5), size_t(1000), size_t(3000)}) {
      const size_t nq = 7, k = 10;
      Sq8Model m = random_sq8_model(d, d);
      auto codes = random_bytes(n * d + 1, n + d);
      FloatMatrix x = testing::low_rank(nq, d, std::min<size_t>(d, 4), 0.3f, 5 + d);
      for (ScanMetric metric : {ScanMetric::kInnerProduct, ScanMetric::kL2}) {
        std::vector<int64_t> ids(nq * k), ids_ref(nq * k);
        std::vector<float> sc(nq * k), sc_ref(nq * k);
        scan_sq8_topk(x.data(), nq, codes.data(), n, d, m.vmin.data(), m.vdiff.data(), metric, k,
                      ids_ref.data(), sc_ref.data(), nullptr, ScanIsa::kRef);
        scan_sq8_topk(x.data(), nq, codes.data(), n, d, m.vmin.data(), m.vdiff.data(), metric, k,
                      ids.data(), sc.data(), nullptr, GetParam());
        EXPECT_EQ(ids, ids_ref) << "d=" << d << " n=" << n;
        EXPECT_EQ(sc, sc_ref) << "d=" << d << " n=" << n;  // bit-identical, see top
        // Oracle: the same scores by the formula, sorted without a heap.
        std::vector<float> norms(n);
        sq8_decoded_norms(codes.data(), n, d, m.vmin.data(), m.vdiff.data(), norms.data());
        for (size_t qi = 0; qi < nq; ++qi) {
          QuantizedQuery qq = quantize_sq8_query(x.row(qi), d, m.vmin.data(), m.vdiff.data());
          std::vector<int32_t> S(n);
          dot_u8_i16_ref(qq.wq.data(), codes.data(), n, d, S.data());
          std::vector<float> s(n);
          for (size_t i = 0; i < n; ++i) {
            float ip = std::fma(qq.alpha, float(S[i]), qq.c0);
            s[i] = metric == ScanMetric::kL2 ? (qq.qnorm + norms[i]) - 2.0f * ip : ip;
          }
          const bool ip_metric = metric == ScanMetric::kInnerProduct;
          std::vector<int64_t> oid(k);
          std::vector<float> osc(k);
          sort_topk<float>(s, k, ip_metric, oid.data(), osc.data(),
                           ip_metric ? -std::numeric_limits<float>::infinity()
                                     : std::numeric_limits<float>::infinity());
          for (size_t j = 0; j < k; ++j) {
            EXPECT_EQ(ids[qi * k + j], oid[j]) << "d=" << d << " n=" << n << " q=" << qi;
            EXPECT_EQ(sc[qi * k + j], osc[j]) << "d=" << d << " n=" << n << " q=" << qi;
          }
        }
      }
    }
  }
}

TEST_P(ScanIsaTest, Int8TopkMatchesRef) {
  for (size_t d : {size_t(1), size_t(33), size_t(128), size_t(200)}) {
    const size_t n = 2500, nq = 5, k = 7;
    auto bytes = random_bytes(n * d, 3 * d);
    std::vector<int8_t> codes(n * d);
    std::memcpy(codes.data(), bytes.data(), bytes.size());
    std::vector<float> scale(d);
    for (size_t j = 0; j < d; ++j) scale[j] = 0.01f * float(1 + j % 13);
    FloatMatrix x = testing::low_rank(nq, d, std::min<size_t>(d, 4), 0.3f, 9 + d);
    for (ScanMetric metric : {ScanMetric::kInnerProduct, ScanMetric::kL2}) {
      std::vector<int64_t> ids(nq * k), ids_ref(nq * k);
      std::vector<float> sc(nq * k), sc_ref(nq * k);
      scan_int8_topk(x.data(), nq, codes.data(), n, d, scale.data(), metric, k, ids_ref.data(),
                     sc_ref.data(), nullptr, ScanIsa::kRef);
      scan_int8_topk(x.data(), nq, codes.data(), n, d, scale.data(), metric, k, ids.data(),
                     sc.data(), nullptr, GetParam());
      EXPECT_EQ(ids, ids_ref) << "d=" << d;
      EXPECT_EQ(sc, sc_ref) << "d=" << d;
      // Scores against the exact decoded inner product / distance within the bound.
      for (size_t qi = 0; qi < nq; ++qi) {
        QuantizedQuery qq = quantize_int8_query(x.row(qi), d, scale.data());
        for (size_t j = 0; j < k; ++j) {
          const int8_t* c = codes.data() + ids[qi * k + j] * d;
          double ip = 0, l2 = 0, csum = 0, mag = 0;
          for (size_t t = 0; t < d; ++t) {
            const double xv = double(c[t]) * scale[t], qv = x.row(qi)[t];
            ip += qv * xv;
            l2 += (qv - xv) * (qv - xv);
            csum += std::abs(c[t]);
            mag += std::fabs(qv * xv) + qv * qv + xv * xv;
          }
          const double tol = (metric == ScanMetric::kL2 ? 2 : 1) * qq.alpha / 2 * csum + 1e-6 * mag;
          EXPECT_NEAR(sc[qi * k + j], metric == ScanMetric::kL2 ? l2 : ip, tol);
        }
      }
    }
  }
}

TEST_P(ScanIsaTest, BinaryTopkMatchesRefAndOracleWithTies) {
  // Short codes over few distinct values: many tied distances, which must come out by
  // increasing id exactly like a stable sort.
  for (size_t cs : {size_t(1), size_t(3), size_t(8), size_t(16), size_t(20), size_t(64)}) {
    for (size_t n : {size_t(0), size_t(1), size_t(9), size_t(5000)}) {
      const size_t nq = 6, k = 12;
      auto codes = random_bytes(n * cs + 1, 7 * cs + n);
      for (size_t i = 0; i < n * cs; ++i) codes[i] &= 0x13;  // few bits vary: many ties
      auto q = random_bytes(nq * cs, cs + 1);
      std::vector<int64_t> ids(nq * k), ids_ref(nq * k);
      std::vector<int32_t> dist(nq * k), dist_ref(nq * k);
      scan_binary_topk(q.data(), nq, codes.data(), n, cs, k, ids_ref.data(), dist_ref.data(),
                       ScanIsa::kRef);
      scan_binary_topk(q.data(), nq, codes.data(), n, cs, k, ids.data(), dist.data(), GetParam());
      EXPECT_EQ(ids, ids_ref) << "cs=" << cs << " n=" << n;
      EXPECT_EQ(dist, dist_ref) << "cs=" << cs << " n=" << n;
      for (size_t qi = 0; qi < nq; ++qi) {
        std::vector<int32_t> s(n);
        hamming_ref(q.data() + qi * cs, codes.data(), n, cs, s.data());
        std::vector<int64_t> oid(k);
        std::vector<int32_t> od(k);
        sort_topk<int32_t>(s, k, false, oid.data(), od.data(), std::numeric_limits<int32_t>::max());
        for (size_t j = 0; j < k; ++j) {
          EXPECT_EQ(ids[qi * k + j], oid[j]) << "cs=" << cs << " n=" << n << " q=" << qi;
          EXPECT_EQ(dist[qi * k + j], od[j]) << "cs=" << cs << " n=" << n << " q=" << qi;
        }
      }
    }
  }
}

TEST_P(ScanIsaTest, LargeQueryValues) {
  // Queries of magnitude 1e30: the weights and scores stay finite and the results agree.
  const size_t d = 40, n = 300, nq = 2, k = 5;
  Sq8Model m = random_sq8_model(d, 77);
  auto codes = random_bytes(n * d, 78);
  std::vector<float> x(nq * d);
  for (size_t i = 0; i < x.size(); ++i) x[i] = (i % 3 == 0 ? -1e30f : 1e30f) / float(1 + i % 7);
  std::vector<int64_t> ids(nq * k), ids_ref(nq * k);
  std::vector<float> sc(nq * k), sc_ref(nq * k);
  scan_sq8_topk(x.data(), nq, codes.data(), n, d, m.vmin.data(), m.vdiff.data(),
                ScanMetric::kInnerProduct, k, ids_ref.data(), sc_ref.data(), nullptr,
                ScanIsa::kRef);
  scan_sq8_topk(x.data(), nq, codes.data(), n, d, m.vmin.data(), m.vdiff.data(),
                ScanMetric::kInnerProduct, k, ids.data(), sc.data(), nullptr, GetParam());
  EXPECT_EQ(ids, ids_ref);
  EXPECT_EQ(sc, sc_ref);
  for (float v : sc) EXPECT_TRUE(std::isfinite(v));
  QuantizedQuery qq = quantize_sq8_query(x.data(), d, m.vmin.data(), m.vdiff.data());
  const double exact = exact_sq8_ip(x.data(), codes.data() + ids[0] * d, m);
  EXPECT_NEAR(sc[0], exact, 1e-4 * std::fabs(exact) + qq.alpha * 255.0 * d);
}

// ---- the query quantization error bound ---------------------------------------------------

TEST(ScanKernels, Sq8ScoresWithinDocumentedBound) {
  // |ip - <q, x>| <= alpha/2 * sum_j c_j + 2^-23 (|c0| + |alpha S|): checked row by row
  // against the exact decoded inner product, and the bound must be small (not vacuous).
  for (size_t d : {size_t(3), size_t(64), size_t(100), size_t(768)}) {
    const size_t n = 400;
    Sq8Model m = random_sq8_model(d, d + 100);
    auto codes = random_bytes(n * d, d + 101);
    FloatMatrix x = testing::low_rank(3, d, std::min<size_t>(d, 8), 0.2f, d + 102);
    for (size_t qi = 0; qi < x.n; ++qi) {
      QuantizedQuery qq = quantize_sq8_query(x.row(qi), d, m.vmin.data(), m.vdiff.data());
      std::vector<int32_t> S(n);
      dot_u8_i16_ref(qq.wq.data(), codes.data(), n, d, S.data());
      double max_rel_bound = 0;
      for (size_t i = 0; i < n; ++i) {
        const uint8_t* c = codes.data() + i * d;
        const double exact = exact_sq8_ip(x.row(qi), c, m);
        const double got = std::fma(qq.alpha, float(S[i]), qq.c0);
        double csum = 0, mag = 0;
        for (size_t j = 0; j < d; ++j) {
          csum += c[j];
          mag += std::fabs(double(x.row(qi)[j]) * m.vdiff[j] / 255.0 * c[j]);
        }
        const double bound = qq.alpha / 2 * csum +
                             std::ldexp(1.0, -23) * (std::fabs(qq.c0) + qq.alpha * std::fabs(S[i]));
        EXPECT_LE(std::fabs(got - exact), bound) << "d=" << d << " i=" << i;
        max_rel_bound = std::max(max_rel_bound, bound / mag);
      }
      // int16 query: the bound is ~1e-4 of the magnitude of the code-dependent sum
      EXPECT_LT(max_rel_bound, 2e-3) << "d=" << d;
    }
  }
}

TEST(ScanKernels, QuantizedWeightsNeverOverflow) {
  // Worst case: every weight at the maximum and every code 255 (SQ8) / 128 (INT8): the
  // int32 sum must still fit, for small and large d.
  for (size_t d : {size_t(1), size_t(128), size_t(5000), size_t(100000)}) {
    std::vector<float> q(d, 3.0f), vmin(d, -1.0f), vdiff(d, 2.0f), scale(d, 0.5f);
    QuantizedQuery a = quantize_sq8_query(q.data(), d, vmin.data(), vdiff.data());
    QuantizedQuery b = quantize_int8_query(q.data(), d, scale.data());
    int64_t sa = 0, sb = 0;
    for (size_t j = 0; j < d; ++j) {
      sa += int64_t(std::abs(a.wq[j])) * 255;
      sb += int64_t(std::abs(b.wq[j])) * 128;
    }
    EXPECT_LE(sa, int64_t(std::numeric_limits<int32_t>::max())) << "d=" << d;
    EXPECT_LE(sb, int64_t(std::numeric_limits<int32_t>::max())) << "d=" << d;
    // and the query keeps its precision: the largest weight uses most of the int16 range
    // unless the overflow bound forces fewer bits (d > 257 here)
    if (d <= 128) {
      EXPECT_GE(*std::max_element(a.wq.begin(), a.wq.end()), 32000) << "d=" << d;
    }
  }
}

// ---- recall on real data --------------------------------------------------------------

double overlap_at_k(const std::vector<int64_t>& a, const std::vector<int64_t>& b, size_t nq,
                    size_t k) {
  size_t hits = 0;
  for (size_t i = 0; i < nq; ++i) {
    std::set<int64_t> s(a.begin() + i * k, a.begin() + (i + 1) * k);
    for (size_t j = 0; j < k; ++j) hits += s.count(b[i * k + j]);
  }
  return double(hits) / double(nq * k);
}

class ScanGloveTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string dir = std::string(EMBCOMP_DATA_DIR) + "/glove-100-30k/";
    base_ = read_floats(dir + "base.fvecs");
    queries_ = read_floats(dir + "query.fvecs");
    testing::normalize_rows(base_);
    testing::normalize_rows(queries_);
  }
  /// Top-10 overlap of the scan with exact float search over the decoded rows (FAISS
  /// brute force through eval/knn.h): the quantized query must not change the results.
  void check(const Codec& codec, const std::vector<uint8_t>& codes, bool sq8) {
    const size_t n = base_.n, d = base_.d, nq = queries_.n, k = 10;
    FloatMatrix decoded(n, d);
    codec.decode(codes.data(), n, decoded.data());
    for (auto [metric, m] : {std::pair{ScanMetric::kInnerProduct, Metric::kIP},
                             std::pair{ScanMetric::kL2, Metric::kL2}}) {
      KnnResult want = exact_knn(decoded.view(), queries_.view(), k, m);
      std::vector<int64_t> ids(nq * k);
      std::vector<float> sc(nq * k);
      if (sq8) {
        const auto& sq = dynamic_cast<const SqCodec&>(codec).faiss_sq();
        scan_sq8_topk(queries_.data(), nq, codes.data(), n, d, sq.trained.data(),
                      sq.trained.data() + d, metric, k, ids.data(), sc.data());
      } else {
        const auto& scale = dynamic_cast<const Int8Codec&>(codec).scales();
        scan_int8_topk(queries_.data(), nq, reinterpret_cast<const int8_t*>(codes.data()), n, d,
                       scale.data(), metric, k, ids.data(), sc.data());
      }
      const double overlap = overlap_at_k(want.ids, ids, nq, k);
      RecordProperty(std::string(sq8 ? "sq8_" : "int8_") +
                         (metric == ScanMetric::kL2 ? "l2" : "ip") + "_overlap",
                     std::to_string(overlap));
      EXPECT_GE(overlap, 0.999) << (sq8 ? "SQ8" : "INT8") << " metric " << int(metric);
    }
  }
  FloatMatrix base_, queries_;
};

TEST_F(ScanGloveTest, Sq8RecallMatchesFloatSearch) {
  auto codec = make_codec("SQ8", base_.d);
  codec->train(base_.view());
  std::vector<uint8_t> codes(base_.n * codec->code_size());
  codec->encode(base_.view(), codes.data());
  check(*codec, codes, true);
}

TEST_F(ScanGloveTest, Int8RecallMatchesFloatSearch) {
  auto codec = make_codec("INT8", base_.d);
  codec->train(base_.view());
  std::vector<uint8_t> codes(base_.n * codec->code_size());
  codec->encode(base_.view(), codes.data());
  check(*codec, codes, false);
}

// ---- edges and errors -------------------------------------------------------------------

TEST(ScanKernels, EmptyAndShortInputsPad) {
  const size_t d = 4, k = 3;
  std::vector<float> x = {1, 2, 3, 4}, vmin(d, 0.0f), vdiff(d, 1.0f);
  std::vector<uint8_t> codes = {10, 20, 30, 40};
  std::vector<int64_t> ids(k, 99);
  std::vector<float> sc(k, 99);
  // n = 0: all padding
  scan_sq8_topk(x.data(), 1, codes.data(), 0, d, vmin.data(), vdiff.data(),
                ScanMetric::kInnerProduct, k, ids.data(), sc.data());
  EXPECT_EQ(ids, (std::vector<int64_t>{-1, -1, -1}));
  EXPECT_EQ(sc[0], -std::numeric_limits<float>::infinity());
  // n = 1 < k: one result then padding
  scan_sq8_topk(x.data(), 1, codes.data(), 1, d, vmin.data(), vdiff.data(), ScanMetric::kL2, k,
                ids.data(), sc.data());
  EXPECT_EQ(ids, (std::vector<int64_t>{0, -1, -1}));
  EXPECT_EQ(sc[2], std::numeric_limits<float>::infinity());
  // k = 0 and nq = 0 write nothing
  std::fill(ids.begin(), ids.end(), 99);
  scan_sq8_topk(x.data(), 1, codes.data(), 1, d, vmin.data(), vdiff.data(),
                ScanMetric::kInnerProduct, 0, ids.data(), sc.data());
  scan_sq8_topk(x.data(), 0, codes.data(), 1, d, vmin.data(), vdiff.data(),
                ScanMetric::kInnerProduct, k, ids.data(), sc.data());
  EXPECT_EQ(ids[0], 99);
  std::vector<int32_t> dist(k);
  scan_binary_topk(codes.data(), 1, codes.data(), 0, 2, k, ids.data(), dist.data());
  EXPECT_EQ(ids[0], -1);
  EXPECT_EQ(dist[0], std::numeric_limits<int32_t>::max());
}

TEST(ScanKernels, ZeroQueryScoresConstant) {
  // q = 0: every inner product is 0 and ties resolve to the smallest ids.
  const size_t d = 5, n = 50, k = 4;
  std::vector<float> x(d, 0.0f), vmin(d, -1.0f), vdiff(d, 2.0f);
  auto codes = random_bytes(n * d, 1);
  std::vector<int64_t> ids(k);
  std::vector<float> sc(k);
  scan_sq8_topk(x.data(), 1, codes.data(), n, d, vmin.data(), vdiff.data(),
                ScanMetric::kInnerProduct, k, ids.data(), sc.data());
  EXPECT_EQ(ids, (std::vector<int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(sc, (std::vector<float>(k, 0.0f)));
}

TEST(ScanKernels, BadInputsThrow) {
  const size_t d = 4, k = 2;
  std::vector<float> x = {1, 2, 3, 4}, vmin(d, 0.0f), vdiff(d, 1.0f);
  std::vector<uint8_t> codes(8, 1);
  std::vector<int64_t> ids(k);
  std::vector<float> sc(k);
  auto kind_of = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return int(e.kind());
    }
    return -1;
  };
  const int bad = int(ErrorKind::kBadInput);
  x[2] = std::nanf("");
  EXPECT_EQ(kind_of([&] {
              scan_sq8_topk(x.data(), 1, codes.data(), 2, d, vmin.data(), vdiff.data(),
                            ScanMetric::kInnerProduct, k, ids.data(), sc.data());
            }),
            bad);
  x[2] = 3;
  vdiff[1] = std::numeric_limits<float>::infinity();
  EXPECT_EQ(kind_of([&] {
              scan_sq8_topk(x.data(), 1, codes.data(), 2, d, vmin.data(), vdiff.data(),
                            ScanMetric::kInnerProduct, k, ids.data(), sc.data());
            }),
            bad);
  vdiff[1] = 1;
  EXPECT_EQ(kind_of([&] {
              scan_sq8_topk(x.data(), 1, codes.data(), 2, 0, vmin.data(), vdiff.data(),
                            ScanMetric::kInnerProduct, k, ids.data(), sc.data());
            }),
            bad);
  EXPECT_EQ(kind_of([&] {
              scan_sq8_topk(x.data(), 1, nullptr, 2, d, vmin.data(), vdiff.data(),
                            ScanMetric::kInnerProduct, k, ids.data(), sc.data());
            }),
            bad);
  std::vector<int32_t> dist(k);
  EXPECT_EQ(kind_of([&] {
              scan_binary_topk(codes.data(), 1, codes.data(), 2, 0, k, ids.data(), dist.data());
            }),
            bad);
  // Sanity: the valid call does not throw.
  EXPECT_EQ(kind_of([&] {
              scan_sq8_topk(x.data(), 1, codes.data(), 2, d, vmin.data(), vdiff.data(),
                            ScanMetric::kInnerProduct, k, ids.data(), sc.data());
            }),
            -1);
}

TEST(ScanKernels, DispatchPicksASupportedIsa) {
  EXPECT_TRUE(scan_isa_supported(ScanIsa::kRef));
  const ScanIsa isa = scan_isa();
  EXPECT_NE(isa, ScanIsa::kAuto);
  EXPECT_TRUE(scan_isa_supported(isa));
  EXPECT_EQ(scan_kernel_name().rfind(scan_isa_name(isa), 0), 0u) << scan_kernel_name();
  const char* env = std::getenv("EMBCOMP_SCAN_ISA");
  if (env == nullptr || std::string(env).empty() || std::string(env) == "auto") {
    // the best supported ISA when not overridden
    const ScanIsa best = scan_isa_supported(ScanIsa::kAvx512) ? ScanIsa::kAvx512
                         : scan_isa_supported(ScanIsa::kAvx2) ? ScanIsa::kAvx2
                                                              : ScanIsa::kRef;
    EXPECT_EQ(isa, best);
  } else {
    EXPECT_STREQ(scan_isa_name(isa), env);
  }
}

}  // namespace
}  // namespace embcomp

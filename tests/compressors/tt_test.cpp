// TT{R} / TT@b (compressors/tt.h): the shape rule, the exact memory formula, exact recovery
// of a table that is a rank-R tensor train, the fast decoder against the scalar reference,
// a hand-checked answer, and the error paths. The generic table contract (budget honesty,
// monotonic MSE, decode_rows == decode_range, ...) runs from table_contract_test.cpp.
#include "compressors/tt.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "test_data.h"
#include "toolkit/error.h"
#include "toolkit/registry.h"

namespace embcomp {
namespace {

using F3 = std::array<size_t, 3>;

std::vector<float> decode_all(const TableCompressor& t) {
  std::vector<float> out(t.n() * t.d());
  t.decode_range(0, t.n(), out.data());
  return out;
}

/// ||a - b||^2 / ||b||^2
double rel_error(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return num / den;
}

/// The n x d table whose TT-matrix of shape for_table(n, d) has random Gaussian cores of
/// rank R (n and d must factor exactly, so there is no padding to spoil the structure).
FloatMatrix exact_tt_table(size_t n, size_t d, size_t R, uint64_t seed) {
  const TtShape s = TtShape::for_table(n, d);
  EXPECT_EQ(s.padded_n(), n);
  EXPECT_EQ(s.padded_d(), d);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  std::vector<float> g1(s.m(0) * R), g2(s.m(1) * R * R), g3(s.m(2) * R);
  for (auto* g : {&g1, &g2, &g3})
    for (auto& v : *g) v = gauss(rng);
  FloatMatrix x(n, d);
  for (size_t i = 0; i < n; ++i)
    tt_decode_row_ref(s, R, g1.data(), g2.data(), g3.data(), i, x.row(i));
  return x;
}

TEST(TT, FactorRule) {
  EXPECT_EQ(tt_factor(30000), (F3{25, 30, 40}));
  EXPECT_EQ(tt_factor(1000000), (F3{100, 100, 100}));
  EXPECT_EQ(tt_factor(768), (F3{8, 8, 12}));
  EXPECT_EQ(tt_factor(100), (F3{4, 5, 5}));
  EXPECT_EQ(tt_factor(7), (F3{2, 2, 2}));  // 8 = 1x2x4 = 2x2x2: the balanced one
  EXPECT_EQ(tt_factor(3), (F3{1, 1, 3}));
  EXPECT_EQ(tt_factor(1), (F3{1, 1, 1}));
  EXPECT_EQ(tt_factor(30011), (F3{23, 29, 45}));  // a prime: 30015, 4 rows of padding
  EXPECT_THROW(tt_factor(0), Error);
  for (size_t x = 1; x <= 5000; ++x) {
    const F3 f = tt_factor(x);
    size_t t = 1;  // ceil(cbrt(x))
    while (t * t * t < x) ++t;
    ASSERT_GE(f[0] * f[1] * f[2], x) << x;
    ASSERT_TRUE(f[0] <= f[1] && f[1] <= f[2]) << x;
    ASSERT_GE(f[0], (t + 1) / 2) << x;
    ASSERT_LE(f[2], 2 * t) << x;
    if (x >= 1000) {
      ASSERT_LE(f[0] * f[1] * f[2], x + x / 20) << x << ": over 5% padding";
    }
  }
}

TEST(TT, ShapePutsTheSmallestFactorInTheMiddle) {
  TtShape s = TtShape::for_table(30000, 100);
  EXPECT_EQ(s.nk, (F3{30, 25, 40}));
  EXPECT_EQ(s.dk, (F3{5, 4, 5}));
  EXPECT_EQ(s.str(), "30x25x40,5x4x5");
  s = TtShape::for_table(1000000, 768);
  EXPECT_EQ(s.nk, (F3{100, 100, 100}));
  EXPECT_EQ(s.dk, (F3{8, 8, 12}));
  EXPECT_EQ(s.m(0), 800u);
  EXPECT_EQ(s.m(1), 800u);
  EXPECT_EQ(s.m(2), 1200u);
  s = TtShape::for_table(7, 3);
  EXPECT_EQ(s.nk, (F3{2, 2, 2}));
  EXPECT_EQ(s.dk, (F3{1, 1, 3}));
  EXPECT_EQ(s.padded_n(), 8u);
}

TEST(TT, MemoryIsExactlyTheThreeCores) {
  const FloatMatrix x = testing::low_rank(2000, 64, 8, 0.05f, 3);
  auto t = make_table("TT5", x.n, x.d);
  t->compress(x.view());
  // 2000 -> 10x10x20, 64 -> 4x4x4: m = (40, 40, 80); 4 (40*5 + 40*5*5 + 80*5) = 6400
  EXPECT_EQ(t->total_bytes(), 6400u);
  EXPECT_EQ(t->model_bytes(), 0u);
  EXPECT_EQ(t->knob(), "R=5,shape=10x10x20,4x4x4");
  const auto& tt = dynamic_cast<const TtTable&>(*t);
  EXPECT_EQ(4 * (tt.g1().size() + tt.g2().size() + tt.g3().size()), t->total_bytes());
  EXPECT_EQ(tt_bytes(TtShape::for_table(1000000, 768), 308),
            4u * (800 * 308 + 800 * 308 * 308 + 1200 * 308));
}

TEST(TT, BudgetSolvesTheLargestRankThatFits) {
  // 30000 x 100 at 0.1: 1.2e6 bytes = 300000 floats >= 100 R^2 + 350 R holds up to R = 53
  // (299450 floats); R = 54 takes 310500.
  auto t = make_table("TT@0.1", 30000, 100);
  EXPECT_EQ(t->knob(), "R=53,shape=30x25x40,5x4x5");
  EXPECT_EQ(t->spec(), "TT@0.1");
  EXPECT_EQ(make_table("TT@10x", 30000, 100)->knob(), "R=53,shape=30x25x40,5x4x5");
  // Not within 2% below the budget (0.9982 is): the note names the discrete rank.
  const FloatMatrix x = testing::low_rank(2000, 64, 8, 0.05f, 3);
  auto s = make_table("TT@0.05", x.n, x.d);  // 25600 bytes: R = 11 takes 24640
  EXPECT_EQ(s->knob(), "R=11,shape=10x10x20,4x4x4");
  s->compress(x.view());
  s->finish_budget();
  EXPECT_EQ(s->total_bytes(), 24640u);
  EXPECT_NE(s->budget_note().find("the TT rank R is an integer"), std::string::npos)
      << s->budget_note();
}

TEST(TT, RecoversAnExactTensorTrain) {
  const size_t R = 5;
  const FloatMatrix x = exact_tt_table(1000, 64, R, 7);  // 10x10x10, 4x4x4
  auto t = make_table("TT5", x.n, x.d);
  t->compress(x.view());
  EXPECT_LE(rel_error(decode_all(*t), x.values), 1e-8);  // 1e-4 relative in norm
  auto lower = make_table("TT4", x.n, x.d);
  lower->compress(x.view());
  EXPECT_GT(rel_error(decode_all(*lower), x.values), 1e-4) << "rank 4 cannot hold a rank-5 TT";
}

TEST(TT, FullRankIsLosslessWithPadding) {
  // 1234 -> 12x8x13 = 1248 rows, 47 -> 4x3x4 = 48 columns: padded on both sides. At the
  // useful rank (52 here) and above it (zero-padded cores) TT-SVD is exact.
  const FloatMatrix x = testing::low_rank(1234, 47, 6, 0.3f, 5);
  const TtShape s = TtShape::for_table(1234, 47);
  EXPECT_EQ(s.str(), "12x8x13,4x3x4");
  EXPECT_EQ(s.useful_rank(), 52u);
  for (size_t R : {s.useful_rank(), s.useful_rank() + 3}) {
    auto t = make_table("TT" + std::to_string(R), x.n, x.d);
    t->compress(x.view());
    EXPECT_LE(rel_error(decode_all(*t), x.values), 1e-9) << "R=" << R;
  }
}

TEST(TT, UselessHugeRankIsBadInput) {
  // catalogue spec_TT65536: the middle core of TT65536 on 1,000 x 16 rows (useful rank 40) was
  // allocated (std::bad_alloc, exit 1); ranks a little above the useful rank stay allowed.
  try {
    make_table("TT65536", 1000, 16);
    ADD_FAILURE() << "TT65536 on 1000 x 16 was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kBadInput);
    EXPECT_NE(e.message().find("store only zeros"), std::string::npos) << e.message();
  }
  EXPECT_NO_THROW(make_table("TT43", 1000, 16));
}

TEST(TT, DecodeMatchesScalarReference) {
  const FloatMatrix x = testing::low_rank(1234, 47, 6, 0.05f, 9);
  auto t = make_table("TT6", x.n, x.d);
  t->compress(x.view());
  const auto& tt = dynamic_cast<const TtTable&>(*t);
  const std::vector<float> fast = decode_all(*t);
  std::vector<float> ref(x.d);
  double worst = 0, scale = 0;
  for (size_t i = 0; i < x.n; ++i) {
    tt_decode_row_ref(tt.shape(), tt.rank(), tt.g1().data(), tt.g2().data(), tt.g3().data(), i,
                      ref.data());
    for (size_t j = 0; j < x.d; ++j) {
      worst = std::max(worst, std::abs(double(fast[i * x.d + j]) - ref[j]));
      scale = std::max(scale, std::abs(double(ref[j])));
    }
  }
  // float32 GEMM sums of 2 R = 12 terms against double: a few ulps of the largest value.
  EXPECT_LE(worst, 1e-5 * scale);
  EXPECT_GT(scale, 0.1);
}

TEST(TT, KnownAnswerTinyTables) {
  // n = 4, d = 1: shape 2x1x2,1x1x1, so the table [x0 x1 x2 x3] is the 2 x 2 matrix
  // [[x0, x1], [x2, x3]] (rows i1, columns i3) and TT1 is its best rank-1 approximation.
  // [[2, 1], [1, 2]]: top singular pair 3, (1, 1)/sqrt(2) -> every entry 1.5.
  FloatMatrix x(4, 1);
  x.values = {2, 1, 1, 2};
  auto t = make_table("TT1", 4, 1);
  t->compress(x.view());
  EXPECT_EQ(t->knob(), "R=1,shape=2x1x2,1x1x1");
  EXPECT_EQ(t->total_bytes(), 20u);  // 4 (2*1 + 1*1*1 + 2*1)
  for (float v : decode_all(*t)) EXPECT_NEAR(v, 1.5f, 1e-6f);
  // [[3, 0], [0, 1]] -> [[3, 0], [0, 0]]
  x.values = {3, 0, 0, 1};
  t->compress(x.view());
  const std::vector<float> want = {3, 0, 0, 0}, got = decode_all(*t);
  for (size_t i = 0; i < 4; ++i) EXPECT_NEAR(got[i], want[i], 1e-6f) << i;
}

TEST(TT, BeatsZerosOnALowRankTableAndImprovesWithRank) {
  // Rows of a low-rank table are not of low TT rank (the TT-matrix unfoldings of 2000 x 64
  // with rank 8 are nearly full), so TT's error falls about linearly with its bytes: the
  // study's finding that TT is weak on embedding tables. Measured relative errors: TT2
  // 0.99, TT8 0.94, TT24 0.69, TT40 0.37 (0.54 of fp32's bytes), TT80 0 (exact, 2.1x).
  const FloatMatrix x = testing::low_rank(2000, 64, 8, 0.05f, 11);
  double prev = 1.0;  // decoding zeros has relative error 1
  for (const char* spec : {"TT2", "TT8", "TT24", "TT40"}) {
    auto t = make_table(spec, x.n, x.d);
    t->compress(x.view());
    const double e = rel_error(decode_all(*t), x.values);
    EXPECT_LT(e, prev) << spec;
    prev = e;
  }
  EXPECT_LT(prev, 0.45) << "TT40 should keep well over half of the energy";
}

TEST(TT, Deterministic) {
  const FloatMatrix x = testing::low_rank(1500, 40, 5, 0.1f, 13);
  auto a = make_table("TT7", x.n, x.d, 1), b = make_table("TT7", x.n, x.d, 2);
  a->compress(x.view());
  b->compress(x.view());
  const auto &ta = dynamic_cast<const TtTable&>(*a), &tb = dynamic_cast<const TtTable&>(*b);
  EXPECT_EQ(ta.g1(), tb.g1());
  EXPECT_EQ(ta.g2(), tb.g2());
  EXPECT_EQ(ta.g3(), tb.g3());
}

std::string message_of(const std::function<void()>& f) { return testing::bad_input_message(f); }

TEST(TT, ErrorPaths) {
  EXPECT_NE(message_of([] { make_table("TT0", 100, 8); }).find("R=0"), std::string::npos);
  EXPECT_NE(message_of([] { make_table("TT@0.00001", 2000, 64); }).find("cannot be met"),
            std::string::npos);
  // 4 x 1 at 0.5 = 8 bytes, but R = 1 takes 20.
  EXPECT_NE(message_of([] { make_table("TT@0.5", 4, 1); }).find("cannot be met"),
            std::string::npos);

  const FloatMatrix x = testing::low_rank(300, 16, 4, 0.05f, 17);
  auto t = make_table("TT3", x.n, x.d);
  std::vector<float> out(2 * x.d);
  const int64_t none[] = {0};
  EXPECT_THROW(t->decode_rows(none, 1, out.data()), Error);  // before compress
  t->compress(x.view());
  const int64_t bad[] = {0, 300}, neg[] = {-1};
  EXPECT_NE(message_of([&] { t->decode_rows(bad, 2, out.data()); }).find("row id 300"),
            std::string::npos);
  EXPECT_THROW(t->decode_rows(neg, 1, out.data()), Error);
  EXPECT_THROW(t->decode_range(299, 2, out.data()), Error);

  FloatMatrix nan = x;
  nan.row(17)[3] = std::nanf("");
  EXPECT_NE(message_of([&] { t->compress(nan.view()); }).find("row 17"), std::string::npos);
  FloatMatrix wrong(300, 15);
  EXPECT_THROW(t->compress(wrong.view()), Error);
  EXPECT_THROW(t->compress({x.data(), 0, x.d}), Error);
  // A budget was solved for n rows: other row counts are refused.
  auto b = make_table("TT@0.5", x.n, x.d);
  EXPECT_NE(message_of([&] {
              b->compress({x.data(), 200, x.d});
            }).find("n=300"),
            std::string::npos);
}

}  // namespace
}  // namespace embcomp

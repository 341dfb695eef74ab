// MagSVD (compressors/magsvd.h): the exact memory formula, the mixed-dimension rank
// solver on hand-checked sizes, ranks ordered by norm, monotone quality in the budget,
// the sampled-SVD path, determinism and error paths. The grouping itself is tested in
// mgpq_test.cpp; the generic table contract runs from table_contract_test.cpp.
#include "compressors/magsvd.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>

#include "compressors/magnitude_groups.h"
#include "test_data.h"
#include "toolkit/error.h"
#include "toolkit/registry.h"

namespace embcomp {
namespace {

FloatMatrix spread_norms(size_t n, size_t d, uint64_t seed) {
  return testing::spread_norms(n, d, 12, seed);
}

double mse(const TableCompressor& t, const FloatMatrix& x) { return testing::table_mse(t, x); }

std::string error_of(const std::function<void()>& f) { return testing::bad_input_message(f); }

TEST(MagSvd, ExactMemoryFormula) {
  const FloatMatrix x = spread_norms(1000, 24, 3);
  auto t = make_table("MagSVD2r6-3", x.n, x.d, 1);
  t->compress(x.view());
  const auto& m = dynamic_cast<const MagSvdTable&>(*t);
  const size_t n0 = m.remap().group_size(0), n1 = m.remap().group_size(1);
  ASSERT_EQ(n0 + n1, 1000u);
  // 4 r_k (n_k + d) per group; remap: 1000 bits = 16 words + 2 directory entries.
  EXPECT_EQ(t->total_bytes(), 4 * 6 * (n0 + 24) + 4 * 3 * (n1 + 24) + 136);
  EXPECT_EQ(t->model_bytes(), 4u * (6 + 3) * 24);
  EXPECT_EQ(magsvd_bytes(24, {6, 3}, {n0, n1}), t->total_bytes());
  EXPECT_EQ(t->knob(), "ranks=6/3");
  EXPECT_EQ(t->spec(), "MagSVD2r6-3");
}

TEST(MagSvd, RankSolverKnownAnswers) {
  // Sizes 100 and 300, d = 50: bytes = 600 r_0 + 1400 r_1 + 60 (remap: 7 words + 1
  // entry). Targets s * 100^-0.3 and s * 300^-0.3 (ratio 3^0.3 = 1.39).
  // Budget 20000: the largest scale gives 12.99.. and 9.35 -> 12, 9 = 19860 bytes; one
  // more rank in either group (+600 or +1400) no longer fits.
  EXPECT_EQ(solve_magsvd_ranks("t", 50, {100, 300}, 20000), (std::vector<size_t>{12, 9}));
  // Budget 30000: 19.47 and 13.99.. -> 19, 13 = 29660 bytes.
  EXPECT_EQ(solve_magsvd_ranks("t", 50, {100, 300}, 30000), (std::vector<size_t>{19, 13}));
  // Largest remainder: sizes 1000 and 3000, d = 32, budget 51200: the scale gives 4.17
  // and 2.99.. -> 4, 2 (41304 bytes); group 2 is closest to its next rank but +12128
  // does not fit, group 1's +4128 does -> 5, 2 (45432 bytes).
  EXPECT_EQ(solve_magsvd_ranks("t", 32, {1000, 3000}, 51200), (std::vector<size_t>{5, 2}));
  // Everything fits: ranks capped at min(n_k, d).
  EXPECT_EQ(solve_magsvd_ranks("t", 50, {30, 300}, 1e9), (std::vector<size_t>{30, 50}));
  // All ranks 1 take 4 (400 + 100) + 60 = 2060 bytes: exactly that fits, one byte less is
  // unreachable (no slack over the budget), and the message names the ratio 2060 / 80000.
  EXPECT_EQ(solve_magsvd_ranks("t", 50, {100, 300}, 2060), (std::vector<size_t>{1, 1}));
  const std::string msg = error_of([] { solve_magsvd_ranks("t", 50, {100, 300}, 2059); });
  EXPECT_NE(msg.find("unreachable"), std::string::npos) << msg;
  EXPECT_NE(msg.find("0.02575 of fp32"), std::string::npos) << msg;
}

TEST(MagSvd, HighNormGroupsGetAtLeastTheRank) {
  const FloatMatrix x = spread_norms(4000, 48, 4);
  for (const char* spec : {"MagSVD2@0.1", "MagSVD2@0.25", "MagSVD3@0.2"}) {
    auto t = make_table(spec, x.n, x.d, 1);
    t->compress(x.view());
    const auto& m = dynamic_cast<const MagSvdTable&>(*t);
    const auto& r = m.ranks();
    for (size_t k = 1; k < r.size(); ++k) {
      EXPECT_LT(m.remap().group_size(k - 1), m.remap().group_size(k)) << spec;
      EXPECT_GE(r[k - 1], r[k]) << spec << ": " << t->knob();
    }
    EXPECT_GT(r.front(), r.back()) << spec << ": n^-0.3 must separate the ranks";
    EXPECT_LE(double(t->total_bytes()), t->budget().value() * 4.0 * x.n * x.d) << spec;
    std::vector<size_t> sizes;
    for (size_t k = 0; k < r.size(); ++k) sizes.push_back(m.remap().group_size(k));
    EXPECT_EQ(t->total_bytes(), magsvd_bytes(48, r, sizes)) << spec;
  }
}

TEST(MagSvd, MoreBudgetLowersError) {
  const FloatMatrix x = spread_norms(3000, 48, 5);
  double prev = 1e30;
  for (const char* spec : {"MagSVD2@0.05", "MagSVD2@0.1", "MagSVD2@0.25"}) {
    auto t = make_table(spec, x.n, x.d, 1);
    t->compress(x.view());
    const double e = mse(*t, x);
    EXPECT_LT(e, prev) << spec << " (" << t->knob() << ")";
    prev = e;
  }
}

TEST(MagSvd, OneGroupMatchesPlainSvd) {
  const FloatMatrix x = spread_norms(2000, 32, 6);
  auto mag = make_table("MagSVD1r8", x.n, x.d, 1);
  auto svd = make_table("SVD8", x.n, x.d, 1);
  mag->compress(x.view());
  svd->compress(x.view());
  EXPECT_EQ(mag->total_bytes(), svd->total_bytes());  // g = 1: no remap
  EXPECT_NEAR(mse(*mag, x), mse(*svd, x), 1e-3 * mse(*svd, x));
}

TEST(MagSvd, SampledSvdStillProjectsEveryRow) {
  const FloatMatrix x = spread_norms(3000, 32, 7);
  MagSvdParams p;
  p.groups = 2;
  p.ranks = {10, 8};
  p.max_svd_rows = 200;  // below both group sizes: Vt from a sample, blockwise projection
  MagSvdTable sampled(32, p, "MagSVD2r10-8");
  sampled.compress(x.view());
  p.max_svd_rows = 262144;
  MagSvdTable full(32, p, "MagSVD2r10-8");
  full.compress(x.view());
  EXPECT_EQ(sampled.total_bytes(), full.total_bytes());
  const double es = mse(sampled, x), ef = mse(full, x);
  EXPECT_GE(es, ef * (1 - 1e-6));
  EXPECT_LT(es, 1.5 * ef);
  std::vector<float> a(10 * 32), b(10 * 32);
  const int64_t ids[] = {0, 2999, 5, 5, 1500, 17, 2048, 511, 512, 1023};
  sampled.decode_rows(ids, 10, a.data());
  for (size_t i = 0; i < 10; ++i) sampled.decode_range(size_t(ids[i]), 1, &b[i * 32]);
  EXPECT_EQ(a, b);
}

TEST(MagSvd, DeterministicInSeed) {
  const FloatMatrix x = spread_norms(2000, 32, 8);
  const auto a = testing::compress_and_decode("MagSVD2@0.2", x, 5);
  EXPECT_EQ(a, testing::compress_and_decode("MagSVD2@0.2", x, 5));
  EXPECT_NE(a, testing::compress_and_decode("MagSVD2@0.2", x, 6));
}

TEST(MagSvd, ErrorPaths) {
  EXPECT_NE(error_of([] { make_table("MagSVD2r3", 1000, 32); }).find("1 ranks given"),
            std::string::npos);
  EXPECT_NE(error_of([] { make_table("MagSVD2r3-5", 1000, 32); }).find("must not increase"),
            std::string::npos);
  EXPECT_NE(error_of([] { make_table("MagSVD2r40-3", 1000, 32); }).find("rank=40"),
            std::string::npos);
  error_of([] { make_table("MagSVD0r3", 1000, 32); });
  error_of([] { make_table("MagSVD17@0.1", 1000, 32); });
  EXPECT_NE(error_of([] { make_table("MagSVD2@0.001", 1000, 32); }).find("cannot be met"),
            std::string::npos);
  EXPECT_NE(error_of([] { make_table("MagSVD4@0.5", 7, 32); }).find("at least 8 rows"),
            std::string::npos);
  FloatMatrix x = spread_norms(100, 16, 9);
  auto t = make_table("MagSVD2r2-1", x.n, x.d);
  error_of([&] { t->compress({x.data(), 3, 16}); });  // fewer than 2 g rows
  x.row(50)[0] = std::numeric_limits<float>::infinity();
  error_of([&] { t->compress(x.view()); });
  auto fresh = make_table("MagSVD2r2-1", x.n, x.d);
  std::vector<float> out(16);
  const int64_t bad[] = {0};
  error_of([&] { fresh->decode_rows(bad, 1, out.data()); });  // nothing compressed yet
}

}  // namespace
}  // namespace embcomp

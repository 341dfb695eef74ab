// MGPQ (compressors/mgpq.h) and the magnitude grouping it shares with MagSVD
// (compressors/magnitude_groups.h): the grouping rule and remap on hand-made inputs, the
// exact memory formula, bits ordered by norm, monotone quality in the budget,
// determinism and error paths. The generic contract (budget honesty, decode_rows ==
// decode_range) runs from tests/compressors/table_contract_test.cpp.
#include "compressors/mgpq.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <random>
#include <regex>

#include "compressors/magnitude_groups.h"
#include "compressors/pq.h"
#include "test_data.h"
#include "toolkit/error.h"
#include "toolkit/registry.h"

namespace embcomp {
namespace {

FloatMatrix spread_norms(size_t n, size_t d, uint64_t seed) {
  return testing::spread_norms(n, d, 6, seed);
}

double mse(const TableCompressor& t, const FloatMatrix& x) { return testing::table_mse(t, x); }

std::string error_of(const std::function<void()>& f) { return testing::bad_input_message(f); }

// ---- grouping rule ---------------------------------------------------------------------

TEST(MagnitudeGroups, EqualNormCutsKnownAnswers) {
  // S = 55; half is 27.5: 10 + 9 + 8 = 27 <= 27.5 < 34, so the 4th row opens group 2.
  const std::vector<double> desc = {10, 9, 8, 7, 6, 5, 4, 3, 2, 1};
  EXPECT_EQ(equal_norm_cuts(desc, 2), (std::vector<size_t>{0, 3, 10}));
  // Thirds 18.3 and 36.7: by norm alone the cuts are 1 and 4; group 1 is widened to the
  // two-row minimum.
  EXPECT_EQ(equal_norm_cuts(desc, 3), (std::vector<size_t>{0, 2, 4, 10}));
  EXPECT_EQ(equal_norm_cuts(desc, 1), (std::vector<size_t>{0, 10}));
  // Exactly half after three rows (6 of 12): the row that reaches k/g of the total
  // closes the group; the next one opens group 2.
  EXPECT_EQ(equal_norm_cuts({2, 2, 2, 1, 1, 1, 1, 1, 1}, 2), (std::vector<size_t>{0, 3, 9}));
  // Equal norms: the high-norm groups are never the larger ones.
  EXPECT_EQ(equal_norm_cuts(std::vector<double>(10, 1.0), 3), (std::vector<size_t>{0, 3, 6, 10}));
  // All zero: every group but the first gets the minimum.
  EXPECT_EQ(equal_norm_cuts(std::vector<double>(10, 0.0), 3), (std::vector<size_t>{0, 6, 8, 10}));
  // One dominant row still leaves two rows in group 1.
  EXPECT_EQ(equal_norm_cuts({100, 1, 1, 1, 1}, 2), (std::vector<size_t>{0, 2, 5}));
  error_of([&] { equal_norm_cuts({3, 2, 1}, 2); });
  error_of([&] { equal_norm_cuts(desc, 0); });
}

TEST(MagnitudeGroups, GroupByMagnitudeKnownAnswer) {
  // Row norms 5, 1, 10, 2, 3, 5, 0, 4 (exact in float): S = 30. Sorted: r2 (10), r0 (5),
  // r5 (5; the tie goes to the smaller id first), r7, r4, r3, r1, r6. 2 * (10 + 5) = 30
  // <= 30 < 2 * 20, so rows 2 and 0 make group 1.
  const float v[] = {3, 4, 0, 1, 6, 8, 0, 2, 0, 3, 4, 3, 0, 0, 0, 4};
  MatrixView<float> x{v, 8, 2};
  EXPECT_EQ(row_norms(x), (std::vector<double>{5, 1, 10, 2, 3, 5, 0, 4}));
  MagnitudeGrouping gr = group_by_magnitude(x, 2);
  ASSERT_EQ(gr.members.size(), 2u);
  EXPECT_EQ(gr.members[0], (std::vector<uint32_t>{0, 2}));
  EXPECT_EQ(gr.members[1], (std::vector<uint32_t>{1, 3, 4, 5, 6, 7}));
  const size_t group[] = {0, 1, 0, 1, 1, 1, 1, 1}, position[] = {0, 0, 1, 1, 2, 3, 4, 5};
  for (size_t i = 0; i < 8; ++i) {
    EXPECT_EQ(gr.remap.group(i), group[i]) << i;
    EXPECT_EQ(gr.remap.position(i), position[i]) << i;
  }
  EXPECT_EQ(gr.remap.group_size(0), 2u);
  EXPECT_EQ(gr.remap.group_size(1), 6u);
  EXPECT_EQ(gr.remap.bytes(), 8u + 4u);          // one 64-bit word of ids + one directory entry
  error_of([&] { group_by_magnitude(x, 5); });   // 5 groups of 2 rows need 10 rows
  error_of([&] { group_by_magnitude(x, 17); });  // at most 16 groups
}

TEST(MagnitudeGroups, RemapBytesKnownAnswers) {
  EXPECT_EQ(group_id_bits(1), 0u);
  EXPECT_EQ(group_id_bits(2), 1u);
  EXPECT_EQ(group_id_bits(3), 2u);
  EXPECT_EQ(group_id_bits(4), 2u);
  EXPECT_EQ(group_id_bits(5), 4u);
  EXPECT_EQ(group_id_bits(16), 4u);
  EXPECT_EQ(remap_bytes(100, 1), 0u);
  EXPECT_EQ(remap_bytes(600, 2), 8u * 10 + 4u * 1 * 2);   // 600 bits -> 10 words; 2 blocks
  EXPECT_EQ(remap_bytes(1024, 2), 8u * 16 + 4u * 1 * 2);  // blocks end exactly at n
  EXPECT_EQ(remap_bytes(1000, 3), 8u * 32 + 4u * 2 * 2);
  EXPECT_EQ(remap_bytes(513, 5), 8u * 33 + 4u * 4 * 2);
  EXPECT_EQ(remap_bytes(1000000, 2), 8u * 15625 + 4u * 1954);  // ~1.06 bits per row
}

TEST(MagnitudeGroups, RemapMatchesBruteForce) {
  std::mt19937_64 rng(3);
  for (size_t g : {1, 2, 3, 4, 5, 16}) {
    for (size_t n : {1, 63, 64, 512, 1024, 1500}) {
      std::vector<uint8_t> ids(n);
      for (auto& k : ids) k = uint8_t(rng() % g);
      GroupRemap r(ids, g);
      ASSERT_EQ(r.n(), n);
      EXPECT_EQ(r.bytes(), remap_bytes(n, g));
      std::vector<size_t> seen(g, 0);
      for (size_t i = 0; i < n; ++i) {
        ASSERT_EQ(r.group(i), ids[i]) << "g=" << g << " n=" << n << " i=" << i;
        ASSERT_EQ(r.position(i), seen[ids[i]]) << "g=" << g << " n=" << n << " i=" << i;
        ++seen[ids[i]];
      }
      for (size_t k = 0; k < g; ++k) EXPECT_EQ(r.group_size(k), seen[k]) << "g=" << g;
    }
  }
  error_of([] { GroupRemap({0, 2}, 2); });  // id out of range
}

// ---- MGPQ -------------------------------------------------------------------------------

TEST(Mgpq, CappedBitsKnownAnswers) {
  EXPECT_EQ(mgpq_capped_bits(9, 512), 9);
  EXPECT_EQ(mgpq_capped_bits(9, 511), 8);
  EXPECT_EQ(mgpq_capped_bits(8, 20), 4);
  EXPECT_EQ(mgpq_capped_bits(1, 2), 1);
}

TEST(Mgpq, ExactMemoryFormula) {
  const FloatMatrix x = spread_norms(600, 16, 7);
  auto t = make_table("MGPQ2x5-4_M8", x.n, x.d, 1);
  t->compress(x.view());
  const auto& m = dynamic_cast<const MgpqTable&>(*t);
  const size_t n0 = m.remap().group_size(0), n1 = m.remap().group_size(1);
  ASSERT_EQ(n0 + n1, 600u);
  // codes: 8 * 5 bits = 5 bytes, 8 * 4 bits = 4 bytes; codebooks 2^b * d floats; remap
  // 600 bits = 10 words + 2 directory entries.
  const size_t codebooks = (32 + 16) * 16 * 4;
  EXPECT_EQ(t->model_bytes(), codebooks);
  EXPECT_EQ(t->total_bytes(), n0 * 5 + n1 * 4 + codebooks + 88);
  MgpqSetting s;
  s.M = 8;
  s.nbits = {5, 4};
  EXPECT_EQ(mgpq_bytes(16, s, {n0, n1}), t->total_bytes());
  EXPECT_EQ(t->knob(), "M=8,nbits=5/4,groups=2");
  EXPECT_EQ(t->spec(), "MGPQ2x5-4_M8");
}

TEST(Mgpq, HighNormGroupsGetAtLeastTheBits) {
  const FloatMatrix x = spread_norms(4000, 32, 8);
  for (const char* spec : {"MGPQ2@0.1", "MGPQ2@0.2", "MGPQ3@0.15"}) {
    auto t = make_table(spec, x.n, x.d, 1);
    t->compress(x.view());
    const auto& m = dynamic_cast<const MgpqTable&>(*t);
    const auto& nb = m.setting().nbits;
    for (size_t k = 1; k < nb.size(); ++k) {
      EXPECT_GE(nb[k - 1], nb[k]) << spec << ": " << t->knob();
      // Spread norms: the high-norm groups hold fewer rows for the same total norm.
      EXPECT_LT(m.remap().group_size(k - 1), m.remap().group_size(k)) << spec;
    }
    EXPECT_TRUE(
        std::regex_match(t->knob(), std::regex("M=[0-9]+,nbits=[0-9]+(/[0-9]+)+,groups=[23]")))
        << t->knob();
    EXPECT_LE(double(t->total_bytes()), t->budget().value() * 4.0 * x.n * x.d) << spec;
  }
  // The solver on given sizes: a group of 20 rows cannot train more than 2^4 centroids.
  const MgpqSetting s = solve_mgpq_budget("t", 32, {20, 3000}, 0.2 * 4 * 3020 * 32);
  EXPECT_LE(s.nbits[0], 4);
  EXPECT_LE(double(mgpq_bytes(32, s, {20, 3000})), 0.2 * 4 * 3020 * 32);
  const MgpqSetting u = solve_mgpq_budget("t", 32, {1000, 3000}, 0.1 * 4 * 4000 * 32);
  EXPECT_GE(u.nbits[0], u.nbits[1]);
  EXPECT_LE(u.nbits[0], u.nbits[1] + 1);
}

TEST(Mgpq, MoreBudgetLowersError) {
  const FloatMatrix x = spread_norms(3000, 32, 9);
  double prev = 1e30;
  for (const char* spec : {"MGPQ2@0.05", "MGPQ2@0.1", "MGPQ2@0.25"}) {
    auto t = make_table(spec, x.n, x.d, 1);
    t->compress(x.view());
    const double e = mse(*t, x);
    EXPECT_LT(e, prev) << spec << " (" << t->knob() << ")";
    prev = e;
  }
  double lo_bits = 0, hi_bits = 0;
  {
    auto t = make_table("MGPQ2x5-4_M8", x.n, x.d, 1);
    t->compress(x.view());
    lo_bits = mse(*t, x);
  }
  {
    auto t = make_table("MGPQ2x7-6_M8", x.n, x.d, 1);
    t->compress(x.view());
    hi_bits = mse(*t, x);
  }
  EXPECT_LT(hi_bits, lo_bits);
}

TEST(Mgpq, TrainsOnASampleAndEncodesEveryRow) {
  const FloatMatrix x = spread_norms(3000, 32, 10);
  MgpqParams p;
  p.groups = 2;
  p.M = 8;
  p.nbits = {6, 5};
  p.max_train_rows = 400;  // below both group sizes: the sampled path
  MgpqTable sampled(32, p, "MGPQ2x6-5_M8");
  sampled.compress(x.view());
  p.max_train_rows = 65536;
  MgpqTable full(32, p, "MGPQ2x6-5_M8");
  full.compress(x.view());
  EXPECT_EQ(sampled.total_bytes(), full.total_bytes());
  EXPECT_LT(mse(sampled, x), 1.5 * mse(full, x));
}

TEST(Mgpq, DeterministicInSeed) {
  const FloatMatrix x = spread_norms(2000, 16, 11);
  const auto a = testing::compress_and_decode("MGPQ2@0.2", x, 5);
  EXPECT_EQ(a, testing::compress_and_decode("MGPQ2@0.2", x, 5));
  EXPECT_NE(a, testing::compress_and_decode("MGPQ2@0.2", x, 6));
}

TEST(Mgpq, ErrorPaths) {
  // Grammar and parameters.
  EXPECT_NE(error_of([] { make_table("MGPQ2x9_M8", 1000, 32); }).find("1 nbits values"),
            std::string::npos);
  EXPECT_NE(error_of([] { make_table("MGPQ2x8-9_M8", 1000, 32); }).find("must not increase"),
            std::string::npos);
  EXPECT_NE(error_of([] { make_table("MGPQ2x9-8_M7", 1000, 32); }).find("not divisible by M=7"),
            std::string::npos);
  EXPECT_NE(error_of([] { make_table("MGPQ2x17-8_M8", 1000, 32); }).find("nbits=17"),
            std::string::npos);
  error_of([] { make_table("MGPQ0x8_M8", 1000, 32); });
  error_of([] { make_table("MGPQ17@0.1", 1000, 32); });
  EXPECT_THROW(check_spec("MGPQ2x9-8,M32"), Error);  // the ',' form of the issue
  // Budgets.
  EXPECT_NE(error_of([] { make_table("MGPQ2@0.001", 1000, 32); }).find("cannot be met"),
            std::string::npos);
  EXPECT_NE(error_of([] { make_table("MGPQ2@0.1", 3, 32); }).find("at least 4 rows"),
            std::string::npos);
  // Inputs.
  FloatMatrix x = spread_norms(100, 16, 12);
  auto t = make_table("MGPQ2x2-1_M4", x.n, x.d);
  error_of([&] { t->compress({x.data(), 3, 16}); });  // fewer than 2 g rows
  x.row(7)[3] = std::nanf("");
  error_of([&] { t->compress(x.view()); });
}

}  // namespace
}  // namespace embcomp

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "compressors/codec.h"
#include "eval/knn.h"
#include "test_data.h"
#include "toolkit/registry.h"

namespace embcomp {
namespace {

TEST(Knn, ExactMatchesPlainLoop) {
  FloatMatrix base = testing::low_rank(500, 16, 4, 0.1f, 3);
  FloatMatrix q = testing::low_rank(30, 16, 4, 0.1f, 4);
  for (Metric m : {Metric::kL2, Metric::kIP}) {
    KnnResult r = exact_knn(base.view(), q.view(), 5, m);
    for (size_t i = 0; i < q.n; ++i) {
      std::vector<std::pair<double, int64_t>> s;
      for (size_t j = 0; j < base.n; ++j) {
        double v = 0;
        for (size_t t = 0; t < 16; ++t) {
          v += m == Metric::kL2 ? (q.row(i)[t] - base.row(j)[t]) * (q.row(i)[t] - base.row(j)[t])
                                : -double(q.row(i)[t]) * base.row(j)[t];
        }
        s.push_back({v, int64_t(j)});
      }
      std::sort(s.begin(), s.end());
      for (size_t t = 0; t < 5; ++t) EXPECT_EQ(r.ids[i * 5 + t], s[t].second) << i << " " << t;
    }
  }
}

TEST(Knn, BlockedDecodedSearchEqualsOneBlock) {
  FloatMatrix base = testing::low_rank(1000, 32, 6, 0.1f, 5);
  FloatMatrix q = testing::low_rank(20, 32, 6, 0.1f, 6);
  auto codec = make_codec("SQ8", 32);
  codec->train(base.view());
  std::vector<uint8_t> codes(base.n * codec->code_size());
  codec->encode(base.view(), codes.data());
  for (Metric m : {Metric::kL2, Metric::kIP}) {
    KnnResult one = search_codes(*codec, codes.data(), base.n, q.view(), 10, m, 1 << 20);
    KnnResult many = search_codes(*codec, codes.data(), base.n, q.view(), 10, m, 37);
    ASSERT_EQ(one.scores.size(), many.scores.size());
    for (size_t i = 0; i < one.scores.size(); ++i) {
      // Scores agree to float rounding (BLAS blocks sum in another order); ids agree
      // wherever the score is not tied with a neighbour's.
      EXPECT_NEAR(one.scores[i], many.scores[i], 1e-4 * (1 + std::fabs(one.scores[i])));
      size_t j = i % 10;
      bool tied = (j > 0 && std::fabs(one.scores[i] - one.scores[i - 1]) < 1e-3) ||
                  (j < 9 && std::fabs(one.scores[i] - one.scores[i + 1]) < 1e-3);
      if (!tied) {
        EXPECT_EQ(one.ids[i], many.ids[i]) << i;
      }
    }
  }
}

TEST(Knn, HammingSearchFindsIdenticalCodesFirst) {
  FloatMatrix base = testing::low_rank(300, 24, 6, 0.1f, 8);
  auto codec = make_codec("Binary", 24);
  codec->train(base.view());
  std::vector<uint8_t> codes(base.n * codec->code_size());
  codec->encode(base.view(), codes.data());
  FloatMatrix q(1, 24);
  std::copy(base.row(123), base.row(123) + 24, q.row(0));
  KnnResult r = search_codes(*codec, codes.data(), base.n, q.view(), 3, Metric::kL2);
  EXPECT_EQ(r.scores[0], 0.0f);
  EXPECT_EQ(std::memcmp(codes.data() + r.ids[0] * 3, codes.data() + 123 * 3, 3), 0);
}

TEST(Knn, RecallAtK) {
  KnnResult found;
  found.nq = 2;
  found.k = 3;
  found.ids = {1, 2, 3, 7, 8, -1};
  IdMatrix truth(2, 3);
  truth.values = {3, 2, 9, 8, 7, 6};
  // query 0: {1,2,3} vs {3,2,9} -> 2/3; query 1: {7,8} vs {8,7,6} -> 2/3
  EXPECT_DOUBLE_EQ(recall_at_k(found, truth, 3), 2.0 / 3);
  EXPECT_DOUBLE_EQ(recall_at_k(found, truth, 1), 0.0);  // {1} vs {3}, {7} vs {8}
  truth.values = {1, 2, 9, 8, 7, 6};
  EXPECT_DOUBLE_EQ(recall_at_k(found, truth, 1), 0.5);  // {1} vs {1}: 1, {7} vs {8}: 0
}

TEST(Knn, RejectsBadK) {
  FloatMatrix base = testing::low_rank(10, 4, 2, 0.1f, 1);
  EXPECT_THROW(exact_knn(base.view(), base.view(), 11, Metric::kL2), Error);
  EXPECT_THROW(exact_knn(base.view(), base.view(), 0, Metric::kL2), Error);
}

}  // namespace
}  // namespace embcomp

namespace embcomp {
namespace {

// Few queries go through the SIMD scan kernels, many through decoded blocks and BLAS:
// both must find the same neighbours.
TEST(Knn, ScanKernelPathAgreesWithDecodedPath) {
  FloatMatrix base = testing::low_rank(3000, 48, 8, 0.1f, 12);
  FloatMatrix q = testing::low_rank(kScanKernelMaxQueries + 10, 48, 8, 0.1f, 13);
  for (const char* spec : {"SQ8", "INT8"}) {
    auto codec = make_codec(spec, 48);
    codec->train(base.view());
    std::vector<uint8_t> codes(base.n * codec->code_size());
    codec->encode(base.view(), codes.data());
    for (Metric m : {Metric::kL2, Metric::kIP}) {
      KnnResult batch = search_codes(*codec, codes.data(), base.n, q.view(), 10, m);
      KnnResult few = search_codes(*codec, codes.data(), base.n, {q.data(), 5, 48}, 10, m);
      size_t same = 0;
      for (size_t i = 0; i < 50; ++i) same += few.ids[i] == batch.ids[i];
      EXPECT_GE(same, 48u) << spec;  // the 16-bit query may swap near-ties
    }
  }
}

}  // namespace
}  // namespace embcomp

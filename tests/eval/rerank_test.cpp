#include <gtest/gtest.h>

#include "eval/rerank.h"
#include "test_data.h"
#include "toolkit/registry.h"

namespace embcomp {
namespace {

TEST(Rerank, ReordersCandidatesExactly) {
  FloatMatrix base = testing::low_rank(200, 8, 3, 0.1f, 2);
  FloatMatrix q = testing::low_rank(5, 8, 3, 0.1f, 3);
  auto flat = make_table("Flat", base.n, base.d);
  flat->compress(base.view());
  KnnResult exact = exact_knn(base.view(), q.view(), 4, Metric::kL2);
  // Candidates: the exact top-4 in reverse order plus two others and a hole (-1).
  KnnResult cand;
  cand.nq = q.n;
  cand.k = 7;
  for (size_t i = 0; i < q.n; ++i) {
    for (size_t j = 0; j < 4; ++j) cand.ids.push_back(exact.ids[i * 4 + 3 - j]);
    cand.ids.push_back(-1);
    cand.ids.push_back(exact.ids[i * 4] == 0 ? 1 : 0);
    cand.ids.push_back(exact.ids[i * 4] == 199 ? 198 : 199);
  }
  cand.scores.assign(cand.ids.size(), 0.0f);
  KnnResult r = rerank(cand, *flat, q.view(), 4, Metric::kL2);
  for (size_t i = 0; i < q.n * 4; ++i) {
    EXPECT_EQ(r.ids[i], exact.ids[i]) << i;
    EXPECT_NEAR(r.scores[i], exact.scores[i], 1e-4f);
  }
  EXPECT_THROW(rerank(cand, *flat, q.view(), 8, Metric::kL2), Error);
}

TEST(Rerank, BinaryFirstStageIsAsymmetricWhenReranking) {
  FloatMatrix base = testing::low_rank(2000, 32, 6, 0.05f, 4);
  FloatMatrix q = testing::low_rank(50, 32, 6, 0.05f, 5);
  testing::normalize_rows(base);
  testing::normalize_rows(q);
  auto bin = make_table("Binary", base.n, base.d);
  bin->compress(base.view());
  KnnResult exact = exact_knn(base.view(), q.view(), 10, Metric::kIP);
  IdMatrix truth(q.n, 10);
  truth.values = exact.ids;
  KnnResult hamming = search_table(*bin, q.view(), 100, Metric::kIP);
  KnnResult asym = search_table(*bin, q.view(), 100, Metric::kIP, 65536, true);
  // The asymmetric scan's candidates contain more of the true top-10.
  auto contained = [&](const KnnResult& c) {
    size_t hits = 0;
    for (size_t i = 0; i < q.n; ++i)
      for (size_t j = 0; j < 10; ++j)
        hits += std::count(c.ids.begin() + i * 100, c.ids.begin() + (i + 1) * 100, truth.row(i)[j]);
    return hits;
  };
  EXPECT_GT(contained(asym), contained(hamming));
}

}  // namespace
}  // namespace embcomp

// MDE (mixed-dimension embeddings) CTR table: the power-law plan, lookup/backward/SGD step
// against the hand-computed projection products, finite-difference gradients of rows and
// projections, the alpha solver on a Criteo-like layout, determinism, error paths.
#include "compressors/emb_mde.h"

#include <gtest/gtest.h>

#include <cmath>

#include "compressors/emb_table.h"
#include "compressors/emb_table_testing.h"
#include "toolkit/error.h"

namespace embcomp::ctr {
namespace {

// Fields of 5, 50 and 500 rows, no counts: popularity 1, 0.1, 0.01 relative.
TableInit small_init(uint64_t seed = 5) {
  TableInit init;
  init.rows = 555;
  init.dim = 8;
  init.field_offsets = {0, 5, 55, 555};
  init.seed = seed;
  init.optimizer.kind = OptimizerConfig::Kind::kSGD;
  init.optimizer.lr = 0.25f;
  return init;
}

TEST(EmbMDE, PowerLawPlanAndBytes) {
  // alpha = 0.5: d* = 8, 8 sqrt(0.1) = 2.5298, 8 * 0.1 = 0.8 -> 1.
  const auto plan = mde_plan(small_init(), 0.5);
  ASSERT_EQ(plan.size(), 4u);
  const int64_t m = std::llround((8 * std::sqrt(0.1) - 2) * 50);  // 26 rows at d = 3
  EXPECT_EQ(plan[0].field, 0);
  EXPECT_EQ(plan[0].d, 8);
  EXPECT_EQ(plan[0].n, 5);
  EXPECT_EQ(plan[1].field, 1);
  EXPECT_EQ(plan[1].d, 3);
  EXPECT_EQ(plan[1].n, m);
  EXPECT_EQ(plan[2].d, 2);
  EXPECT_EQ(plan[2].first, m);
  EXPECT_EQ(plan[2].n, 50 - m);
  EXPECT_EQ(plan[3].d, 1);
  EXPECT_EQ(plan[3].n, 500);
  const int64_t floats = 5 * 8 + (m * 3 + 3 * 8) + ((50 - m) * 2 + 2 * 8) + (500 + 8);
  EXPECT_EQ(mde_plan_bytes(plan, 8), 4 * floats);
  MdeTable t(small_init(), MdeTableParams{0.5}, "MDE");
  EXPECT_EQ(t.bytes(), 4 * floats);
  testing::expect_buffers_sum_to_bytes(t);
  EXPECT_EQ(t.knob(), "alpha=0.5");
  // alpha = 0 is Full: every field at D, no projections.
  EXPECT_EQ(mde_plan_bytes(mde_plan(small_init(), 0.0), 8), 4 * 555 * 8);
}

TEST(EmbMDE, PopularityComesFromCounts) {
  TableInit init;
  init.rows = 110;
  init.dim = 4;
  init.field_offsets = {0, 10, 110};
  init.counts.assign(110, 100);                     // field 1: 100 per row
  for (int r = 0; r < 10; ++r) init.counts[r] = 1;  // field 0: 1 per row
  init.counts[109] = 0;                             // a row never seen does not count as distinct
  const auto plan = mde_plan(init, 0.5);
  ASSERT_EQ(plan.size(), 2u);
  EXPECT_EQ(plan[0].d, 1);  // 4 * sqrt(1 / 100) = 0.4 -> 1
  EXPECT_EQ(plan[1].d, 4);  // the most popular field keeps D
}

TEST(EmbMDE, LookupBackwardSgdStepMatchHandProducts) {
  MdeTable t(small_init(), MdeTableParams{0.5}, "MDE");
  const int D = 8;
  const std::vector<int64_t> ids = {2, 5, 30, 30, 54, 100, 554};
  const int64_t n = ids.size();
  // Snapshot rows and projections.
  std::vector<std::vector<float>> E0, P0;
  for (size_t b = 0; b < t.plan().size(); ++b) {
    auto& r = t.block_rows(b);
    E0.emplace_back(r.data(), r.data() + r.rows() * r.width());
    P0.emplace_back(t.projection(b).data(), t.projection(b).data() + t.projection(b).size());
  }
  auto locate = [&](int64_t id, size_t* blk, int64_t* row) {
    const int f = id < 5 ? 0 : id < 55 ? 1 : 2;
    const int64_t v = id - (f == 0 ? 0 : f == 1 ? 5 : 55);
    for (size_t b = 0; b < t.plan().size(); ++b) {
      const MdeBlock& B = t.plan()[b];
      if (B.field == f && v >= B.first && v < B.first + B.n) {
        *blk = b;
        *row = v - B.first;
        return;
      }
    }
    FAIL() << "id " << id << " in no block";
  };
  std::vector<float> out(n * D);
  t.lookup(ids.data(), n, out.data());
  const std::vector<float> g = testing::random_weights(n * D, 6);
  std::vector<std::vector<double>> dE(E0.size()), dP(P0.size());
  for (size_t b = 0; b < E0.size(); ++b) {
    dE[b].assign(E0[b].size(), 0.0);
    dP[b].assign(P0[b].size(), 0.0);
  }
  for (int64_t i = 0; i < n; ++i) {
    size_t b = 0;
    int64_t r = 0;
    locate(ids[i], &b, &r);
    const int d = t.plan()[b].d;
    for (int j = 0; j < D; ++j) {
      double ref = 0;
      if (d == D) {
        ref = E0[b][r * D + j];
        dE[b][r * D + j] += g[i * D + j];
      } else {
        for (int a = 0; a < d; ++a) {
          ref += double(E0[b][r * d + a]) * P0[b][a * D + j];
          dE[b][r * d + a] += double(P0[b][a * D + j]) * g[i * D + j];
          dP[b][a * D + j] += double(E0[b][r * d + a]) * g[i * D + j];
        }
      }
      EXPECT_NEAR(out[i * D + j], ref, 1e-6) << "id " << ids[i];
    }
  }
  t.backward(ids.data(), n, g.data());
  t.step();
  for (size_t b = 0; b < E0.size(); ++b) {
    for (size_t e = 0; e < E0[b].size(); ++e)
      ASSERT_NEAR(t.block_rows(b).data()[e], E0[b][e] - 0.25 * dE[b][e], 1e-6) << b;
    for (size_t e = 0; e < P0[b].size(); ++e)
      ASSERT_NEAR(t.projection(b).data()[e], P0[b][e] - 0.25 * dP[b][e], 1e-6) << b;
  }
}

TEST(EmbMDE, AnalyticGradientMatchesFiniteDifferences) {
  MdeTable t(small_init(), MdeTableParams{0.5}, "MDE");
  const std::vector<int64_t> ids = {1, 10, 40, 40, 300, 554};
  const std::vector<float> w = testing::random_weights(ids.size() * 8, 8);
  t.backward(ids.data(), ids.size(), w.data());
  int checked = 0;
  for (size_t b = 0; b < t.plan().size(); ++b) {
    auto& P = t.projection(b);
    for (int64_t e = 0; e < P.size(); ++e, ++checked)
      EXPECT_NEAR(P.grad()[e], testing::numeric_grad(t, P.data() + e, ids, w, 1e-2f), 1e-3);
    auto& R = t.block_rows(b);
    for (int64_t r = 0; r < R.rows(); ++r) {
      if (!R.grad(r)) continue;
      for (int a = 0; a < R.width(); ++a, ++checked)
        EXPECT_NEAR(R.grad(r)[a], testing::numeric_grad(t, R.row(r) + a, ids, w, 1e-2f), 1e-3);
    }
  }
  EXPECT_GT(checked, 60);
}

TEST(EmbMDE, AlphaSolverMeetsCriteoLikeBudgets) {
  const TableInit init = testing::criteo_like_init(10, 16, /*with_counts=*/true);
  const double full = 4.0 * init.rows * init.dim;
  double prev_alpha = -1;
  for (double B : {0.5, 0.1}) {
    const MdeTableParams p = mde_solve_budget("MDE@x", init, B * full);
    const double actual = mde_plan_bytes(mde_plan(init, p.alpha), 16) / full;
    EXPECT_LE(actual, B);
    EXPECT_GE(actual, 0.98 * B) << B << " alpha=" << p.alpha;
    EXPECT_GT(p.alpha, prev_alpha);  // a smaller budget needs a steeper power law
    prev_alpha = p.alpha;
  }
  auto t = make_embedding_table("MDE@0.1", init);
  EXPECT_EQ(t->spec(), "MDE@0.1");
  EXPECT_EQ(t->budget_note(), "");
  EXPECT_LE(t->bytes(), 0.1 * full);
  testing::expect_buffers_sum_to_bytes(*t);
  // 0.01 of fp32 is below one dimension per row (1/16): cannot be met.
  try {
    make_embedding_table("MDE@0.01", init);
    FAIL() << "MDE@0.01 must throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kBadInput);
  }
}

TEST(EmbMDE, DeterministicInTheSeed) {
  const std::vector<int64_t> ids = {0, 20, 554};
  auto emb = [&](uint64_t seed) {
    auto t = make_embedding_table("MDE", small_init(seed));
    std::vector<float> out(ids.size() * 8);
    t->lookup(ids.data(), ids.size(), out.data());
    return out;
  };
  EXPECT_EQ(emb(5), emb(5));
  EXPECT_NE(emb(5), emb(6));
}

TEST(EmbMDE, ErrorPaths) {
  MdeTable t(small_init(), MdeTableParams{0.5}, "MDE");
  std::vector<float> out(8);
  for (int64_t bad : {int64_t(-1), int64_t(555)}) {
    EXPECT_THROW(t.lookup(&bad, 1, out.data()), Error);
    EXPECT_THROW(t.backward(&bad, 1, out.data()), Error);
  }
  EXPECT_THROW(MdeTable(small_init(), MdeTableParams{-0.1}, "MDE"), Error);
  EXPECT_THROW(make_embedding_table("MDE@0.05", small_init()), Error);
}

}  // namespace
}  // namespace embcomp::ctr

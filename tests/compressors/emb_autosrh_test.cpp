// AutoSrh CTR table: the search phase (hash-shared rows scaled by per-group selection
// weights) against a dense reference and finite differences, the pruning rule, the retrain
// phase, the phase as part of the checkpoint, a planted problem whose useful dimensions the
// search finds, budgets, errors.
#include "compressors/emb_autosrh.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>

#include "compressors/emb_table_testing.h"
#include "test_data.h"
#include "toolkit/error.h"

namespace embcomp::ctr {
namespace {

using testing::small_layout;

TableInit counted(int64_t rows, int dim, float lr = 0.5f) {
  TableInit init = small_layout(rows, dim, 2, lr);
  init.counts.resize(rows);
  for (int64_t i = 0; i < rows; ++i) init.counts[i] = uint32_t((i * 37) % 101);
  init.seed = 8;
  return init;
}

AutoSrhParams params(int64_t C, int64_t steps = 1000, float lambda = 0.0f) {
  AutoSrhParams p;
  p.C = C;
  p.search_steps = steps;
  p.lambda = lambda;
  p.seed = 8;
  return p;
}

TEST(EmbAutoSrh, SearchPhaseLookupBackwardStep) {
  const TableInit init = counted(50, 4);  // hot: ceil(5) ids
  AutoSrhTable t(init, params(40, 1000, 0.01f), "AutoSrh@0.5");
  EXPECT_EQ(t.bytes(), 4 * 40 + 4 * 8 + 8 + 4 + 16 + 8 + 4);
  EXPECT_EQ(t.bytes(), 4 * 40 + AutoSrhTable::fixed_bytes(50, 4));
  testing::expect_buffers_sum_to_bytes(t);
  int hot = 0;
  for (int64_t id = 0; id < 50; ++id) hot += t.is_hot(id);
  EXPECT_EQ(hot, 5);
  for (int j = 0; j < 4; ++j) {
    t.alpha(0)[j] = 1.0f + 0.5f * j;
    t.alpha(1)[j] = -0.5f + 0.3f * j;
  }
  std::vector<int64_t> ids(50);
  for (int64_t i = 0; i < 50; ++i) ids[i] = i;
  std::vector<float> out(200);
  t.lookup(ids.data(), 50, out.data());
  const std::vector<float> W0(t.weights(), t.weights() + 40);
  std::vector<double> dW(40, 0.0), dA(8, 0.0);
  const std::vector<float> g = testing::random_weights(200, 3);
  for (int64_t id = 0; id < 50; ++id) {
    const int grp = t.is_hot(id) ? 0 : 1;
    const int64_t r = t.shared_row(id);
    ASSERT_LT(r, 10);
    for (int j = 0; j < 4; ++j) {
      const float a = grp == 0 ? 1.0f + 0.5f * j : -0.5f + 0.3f * j;
      EXPECT_FLOAT_EQ(out[id * 4 + j], W0[r * 4 + j] * a);
      dW[r * 4 + j] += g[id * 4 + j] * a;
      dA[grp * 4 + j] += g[id * 4 + j] * W0[r * 4 + j];
    }
  }
  t.backward(ids.data(), 50, g.data());
  for (int e = 0; e < 8; ++e) EXPECT_NEAR(t.alpha_grad(e / 4)[e % 4], dA[e], 1e-5);
  std::vector<float> A0(8);
  for (int e = 0; e < 8; ++e) A0[e] = t.alpha(e / 4)[e % 4];
  t.step();  // SGD lr 0.5; alpha also gets lambda sign(alpha)
  for (int e = 0; e < 40; ++e) EXPECT_NEAR(t.weights()[e], W0[e] - 0.5 * dW[e], 1e-5);
  for (int e = 0; e < 8; ++e)
    EXPECT_NEAR(t.alpha(e / 4)[e % 4], A0[e] - 0.5 * (dA[e] + 0.01 * (A0[e] > 0 ? 1 : -1)), 1e-5);
  EXPECT_FALSE(t.pruned());
}

TEST(EmbAutoSrh, SearchGradientsMatchFiniteDifferences) {
  const TableInit init = counted(50, 4);
  AutoSrhTable t(init, params(40), "AutoSrh@0.5");
  for (int e = 0; e < 8; ++e) t.alpha(e / 4)[e % 4] = 0.3f + 0.2f * e;
  const std::vector<int64_t> ids = {0, 3, 9, 9, 27, 49};
  const std::vector<float> w = testing::random_weights(ids.size() * 4, 5);
  t.backward(ids.data(), int64_t(ids.size()), w.data());
  for (int e = 0; e < 8; ++e)
    EXPECT_NEAR(t.alpha_grad(e / 4)[e % 4],
                testing::numeric_grad(t, t.alpha(e / 4) + e % 4, ids, w, 1e-2f), 1e-3);
}

TEST(EmbAutoSrh, PruneKeepsTheLargestWeightsThatFitAndServesKeptDimensions) {
  const TableInit init = counted(50, 4);  // 5 hot ids, 45 tail ids
  // C = 140, candidates by |alpha| (cost = rows of the group): hot 3 (5 -> 5), tail 0
  // (45 -> 50), hot 1 (5 -> 55), tail 2 (45 -> 100), tail 1 (145 > 140: skipped), hot 0
  // (105), hot 2 (110), tail 3 (155: skipped).
  AutoSrhTable t(init, params(140), "AutoSrh@0.5");
  const float a_hot[4] = {0.5f, 2.0f, 0.1f, -3.0f};
  const float a_tail[4] = {-2.5f, 1.5f, 1.8f, 0.05f};
  for (int j = 0; j < 4; ++j) {
    t.alpha(0)[j] = a_hot[j];
    t.alpha(1)[j] = a_tail[j];
  }
  std::vector<int64_t> ids(50);
  for (int64_t i = 0; i < 50; ++i) ids[i] = i;
  std::vector<float> before(200), after(200);
  t.lookup(ids.data(), 50, before.data());
  std::vector<std::vector<char>> saved;
  for (auto& [p, n] : t.buffers())
    saved.emplace_back(static_cast<char*>(p), static_cast<char*>(p) + n);
  t.prune();
  ASSERT_TRUE(t.pruned());
  const bool want_hot[4] = {true, true, true, true};
  const bool want_tail[4] = {true, false, true, false};
  for (int j = 0; j < 4; ++j) {
    EXPECT_EQ(t.keeps(0, j), want_hot[j]) << j;
    EXPECT_EQ(t.keeps(1, j), want_tail[j]) << j;
  }
  EXPECT_EQ(t.kept(0), 4);
  EXPECT_EQ(t.kept(1), 2);
  EXPECT_EQ(t.knob(), "floats=140,d_hot=4,d_tail=2");
  t.lookup(ids.data(), 50, after.data());
  for (int64_t id = 0; id < 50; ++id)
    for (int j = 0; j < 4; ++j) {
      const bool kept = t.keeps(t.is_hot(id) ? 0 : 1, j);
      EXPECT_FLOAT_EQ(after[id * 4 + j], kept ? before[id * 4 + j] : 0.0f) << id << " " << j;
    }
  // Retrain: each id has its own row now (no sharing); pruned dimensions stay 0.
  const int64_t a = 7;
  std::vector<float> g(4, 1.0f);
  t.backward(&a, 1, g.data());
  t.step();
  t.lookup(ids.data(), 50, before.data());
  for (int64_t id = 0; id < 50; ++id)
    for (int j = 0; j < 4; ++j) {
      const bool kept = t.keeps(t.is_hot(id) ? 0 : 1, j);
      const float want = after[id * 4 + j] - (id == a && kept ? 0.5f : 0.0f);
      EXPECT_FLOAT_EQ(before[id * 4 + j], want) << id << " " << j;
    }
  // The phase is a buffer: writing back the search checkpoint restores the search lookups.
  auto bufs = t.buffers();
  ASSERT_EQ(bufs.size(), saved.size());
  for (size_t i = 0; i < bufs.size(); ++i) {
    ASSERT_EQ(bufs[i].second, saved[i].size());
    if (!saved[i].empty()) std::memcpy(bufs[i].first, saved[i].data(), saved[i].size());
  }
  EXPECT_FALSE(t.pruned());
  t.lookup(ids.data(), 50, after.data());
  for (int64_t id = 0; id < 50; ++id)
    for (int j = 0; j < 4; ++j)
      EXPECT_FLOAT_EQ(after[id * 4 + j], t.weights()[t.shared_row(id) * 4 + j] *
                                             (t.is_hot(id) ? a_hot[j] : a_tail[j]));
}

// Targets live on dimensions 0 and 1; the budget pays for 2 dimensions per id. The search
// (L1 on alpha) finds them, and retraining at those dimensions fits the targets.
TEST(EmbAutoSrh, SearchFindsTheUsefulDimensions) {
  TableInit init = counted(100, 4);
  init.optimizer.kind = OptimizerConfig::Kind::kAdam;
  init.optimizer.lr = 0.02f;
  AutoSrhTable t(init, params(200, 300, 1e-3f), "AutoSrh@0.5");
  std::vector<int64_t> ids(100);
  for (int64_t i = 0; i < 100; ++i) ids[i] = i;
  std::vector<float> target(400, 0.0f), out(400), grad(400);
  for (int64_t i = 0; i < 100; ++i)
    for (int j = 0; j < 2; ++j) target[i * 4 + j] = 0.3f * hashed_uniform(12, i * 4 + j);
  auto mse = [&] {
    t.lookup(ids.data(), 100, out.data());
    double s = 0;
    for (size_t e = 0; e < out.size(); ++e) s += (out[e] - target[e]) * (out[e] - target[e]);
    return s / double(out.size());
  };
  const double start = mse();
  for (int s = 0; s < 600; ++s) {
    t.lookup(ids.data(), 100, out.data());
    for (size_t e = 0; e < out.size(); ++e) grad[e] = 2.0f * (out[e] - target[e]) / 100.0f;
    t.backward(ids.data(), 100, grad.data());
    t.step();
  }
  ASSERT_TRUE(t.pruned());
  for (int g = 0; g < 2; ++g) {
    EXPECT_TRUE(t.keeps(g, 0) && t.keeps(g, 1)) << "group " << g;
    EXPECT_FALSE(t.keeps(g, 2) || t.keeps(g, 3)) << "group " << g;
  }
  EXPECT_LT(mse(), 0.1 * start);
}

TEST(EmbAutoSrh, BudgetsOnCriteoLikeLayouts) {
  for (int D : {8, 16}) {
    const TableInit init = testing::criteo_like_layout(300, D, true);
    const double full = 4.0 * double(init.rows) * D;
    const auto actual = testing::expect_budgets_met("AutoSrh", init);
    const double budgets[3] = {0.5, 0.1, 0.01};
    for (int k = 0; k < 3; ++k) EXPECT_GE(actual[k], budgets[k] - 4.0 / full);
  }
}

TEST(EmbAutoSrh, ErrorPaths) {
  const TableInit init = counted(100, 4);
  EXPECT_THROW(make_embedding_table("AutoSrh", init), Error);
  const std::string msg =
      embcomp::testing::bad_input_message([&] { make_embedding_table("AutoSrh@0.01", init); });
  EXPECT_NE(msg.find("cannot hold"), std::string::npos) << msg;
  EXPECT_THROW(AutoSrhTable(init, params(3), "AutoSrh"), Error);  // C < D
  EXPECT_THROW(AutoSrhTable(init, params(40, 0), "AutoSrh"), Error);
  EXPECT_THROW(AutoSrhTable(init, params(40, 5, -1.0f), "AutoSrh"), Error);
  auto t = make_embedding_table("AutoSrh@0.5", init);
  std::vector<float> out(4);
  for (int64_t bad : {int64_t(-1), int64_t(100)}) {
    EXPECT_THROW(t->lookup(&bad, 1, out.data()), Error);
    EXPECT_THROW(t->backward(&bad, 1, out.data()), Error);
  }
}

}  // namespace
}  // namespace embcomp::ctr

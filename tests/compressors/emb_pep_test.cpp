// PEP CTR table: lookup = top-K of the soft-thresholded shadow (reference computed here),
// gradients of the weights and thresholds by finite differences, a backward + SGD step by
// hand, the end of the pruning phase (mask frozen, values trained directly). Budgets, a
// planted problem, determinism and error paths: the PrunedSparse suite in
// emb_deeplight_test.cpp.
#include "compressors/emb_pep.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "compressors/emb_table.h"
#include "compressors/emb_table_testing.h"
#include "toolkit/error.h"

namespace embcomp::ctr {
namespace {

TableInit small(int64_t rows, int dim, int64_t schedule = 1000, uint64_t seed = 3) {
  TableInit init = testing::small_layout(rows, dim, 2, 0.5f);
  init.seed = seed;
  init.schedule_steps = schedule;
  return init;
}

PepTable& as_pep(EmbeddingTable& t) { return dynamic_cast<PepTable&>(t); }

double sigmoid(double s) { return 1.0 / (1.0 + std::exp(-s)); }

// Soft-thresholded shadow, computed in double from v and s (fields of rows/2 rows).
std::vector<double> thresholded(PepTable& t) {
  const int64_t N = t.rows();
  const int D = t.dim();
  std::vector<double> w(N * D);
  for (int64_t r = 0; r < N; ++r) {
    const int f = r < N / 2 ? 0 : 1;
    for (int j = 0; j < D; ++j) {
      const double v = t.shadow().row(r)[j];
      const double m = std::abs(v) - sigmoid(t.thresholds().data()[f * D + j]);
      w[r * D + j] = m > 0 ? (v > 0 ? m : -m) : 0.0;
    }
  }
  return w;
}

std::vector<float> lookup_all(EmbeddingTable& t) {
  std::vector<int64_t> ids(t.rows());
  std::iota(ids.begin(), ids.end(), 0);
  std::vector<float> out(ids.size() * t.dim());
  t.lookup(ids.data(), int64_t(ids.size()), out.data());
  return out;
}

TEST(EmbPEP, LookupIsTheTopKOfTheThresholdedShadow) {
  auto t = make_embedding_table("PEP@0.3", small(60, 4));
  auto& p = as_pep(*t);
  EXPECT_EQ(p.thresholds().size(), 2 * 4);
  EXPECT_FLOAT_EQ(p.thresholds().data()[5], kPepThresholdInit);
  const std::vector<double> w = thresholded(p);
  std::vector<int64_t> order(w.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](int64_t a, int64_t b) { return std::abs(w[a]) > std::abs(w[b]); });
  std::vector<double> ref(w.size(), 0.0);
  for (int64_t k = 0; k < p.store().capacity(); ++k) ref[order[k]] = w[order[k]];
  const std::vector<float> out = lookup_all(*t);
  for (size_t i = 0; i < out.size(); ++i) EXPECT_NEAR(out[i], ref[i], 1e-7) << i;
}

TEST(EmbPEP, GradientsOfWeightsAndThresholdsMatchFiniteDifferences) {
  // Thresholds at g = sigmoid(-3.2) = 0.039 leave ~22% of uniform(-0.05, 0.05) weights
  // nonzero; PEP@0.5 at D = 8 stores 30% (CSR), chosen by |v| first: every nonzero w is
  // stored, so the lookup is the whole soft-thresholded table.
  auto t = make_embedding_table("PEP@0.5", small(100, 8));
  auto& p = as_pep(*t);
  std::fill(p.thresholds().data(), p.thresholds().data() + p.thresholds().size(), -3.2f);
  p.refresh();
  const std::vector<double> w = thresholded(p);
  int64_t nonzero = 0;
  for (double x : w) nonzero += x != 0;
  ASSERT_LE(nonzero, p.store().capacity());
  const std::vector<float> out = lookup_all(*t);
  for (size_t i = 0; i < out.size(); ++i) ASSERT_NEAR(out[i], w[i], 1e-7);

  const std::vector<int64_t> ids = {2, 10, 10, 55, 99, 70};
  const std::vector<float> r = testing::random_weights(ids.size() * 8, 21);
  t->backward(ids.data(), ids.size(), r.data());
  auto loss_at = [&](float* param, float x) {
    const float saved = *param;
    *param = x;
    p.refresh();
    const double l = testing::weighted_sum(*t, ids, r);
    *param = saved;
    p.refresh();
    return l;
  };
  const float h = 1e-3f;
  int checked = 0;
  for (int64_t row : {int64_t(2), int64_t(10), int64_t(99)}) {
    for (int j = 0; j < 8; ++j) {
      float* v = p.shadow().row(row) + j;
      if (std::abs(w[row * 8 + j]) < 2 * h) continue;  // at or near the kink |v| = g
      const double num = (loss_at(v, *v + h) - loss_at(v, *v - h)) / (2.0 * h);
      EXPECT_NEAR(p.shadow().grad(row)[j], num, 2e-3) << row << "," << j;
      ++checked;
    }
  }
  EXPECT_GT(checked, 3);
  for (int e = 0; e < 16; ++e) {
    float* s = p.thresholds().data() + e;
    const double num = (loss_at(s, *s + h) - loss_at(s, *s - h)) / (2.0 * h);
    EXPECT_NEAR(p.thresholds().grad()[e], num, 2e-3) << e;
  }
}

TEST(EmbPEP, BackwardAndSgdStepMatchAHandUpdate) {
  auto t = make_embedding_table("PEP@0.3", small(40, 4));  // T = 1000: no re-selection at step 1
  auto& p = as_pep(*t);
  const std::vector<float> v0(p.shadow().data(), p.shadow().data() + 160);
  const std::vector<float> out0 = lookup_all(*t);
  const std::vector<int64_t> ids = {3, 30, 3};
  const std::vector<float> g = testing::random_weights(ids.size() * 4, 13);
  t->backward(ids.data(), ids.size(), g.data());
  t->step();
  const double th = sigmoid(kPepThresholdInit), dth = th * (1 - th);
  std::vector<double> gv(160, 0.0), gs(8, 0.0);
  for (size_t i = 0; i < ids.size(); ++i)
    for (int j = 0; j < 4; ++j) {
      const int64_t pos = ids[i] * 4 + j;
      if (std::abs(v0[pos]) <= th) continue;
      gv[pos] += g[i * 4 + j];
      gs[(ids[i] < 20 ? 0 : 4) + j] -= g[i * 4 + j] * (v0[pos] > 0 ? 1 : -1) * dth;
    }
  for (int pos = 0; pos < 160; ++pos)
    ASSERT_NEAR(p.shadow().data()[pos], v0[pos] - 0.5 * gv[pos], 1e-6) << pos;
  for (int e = 0; e < 8; ++e)
    EXPECT_NEAR(p.thresholds().data()[e], kPepThresholdInit - 0.5 * gs[e], 1e-6) << e;
  // Touched rows' stored entries re-read; the stored positions did not change.
  const std::vector<double> w = thresholded(p);
  const std::vector<float> out = lookup_all(*t);
  for (int64_t row : {int64_t(3), int64_t(30)})
    for (int j = 0; j < 4; ++j) {
      const int64_t pos = row * 4 + j;
      EXPECT_NEAR(out[pos], out0[pos] == 0 ? 0.0 : w[pos], 1e-6) << pos;
    }
}

TEST(EmbPEP, PruningPhaseEndsWithAFrozenMaskWithinBudget) {
  const int64_t N = 200, D = 8, T = 20;
  TableInit init = small(N, D, T);
  init.optimizer.kind = OptimizerConfig::Kind::kAdam;
  init.optimizer.lr = 0.01f;
  auto t = make_embedding_table("PEP@0.1", init);
  auto& p = as_pep(*t);
  const double budget = 0.1 * 4 * N * D;
  std::vector<int64_t> ids(50);
  std::vector<float> g(50 * D);
  auto train_step = [&](int64_t s) {
    for (int64_t i = 0; i < 50; ++i) ids[i] = (s * 31 + i * 7) % N;
    for (size_t i = 0; i < g.size(); ++i) g[i] = hashed_uniform(s + 500, i);
    t->backward(ids.data(), 50, g.data());
    t->step();
  };
  const std::vector<float> s0(p.thresholds().data(), p.thresholds().data() + 2 * D);
  for (int64_t s = 1; s <= T; ++s) {
    train_step(s);
    EXPECT_LE(t->bytes(), budget);
    EXPECT_EQ(p.schedule_done(), s == T);
  }
  EXPECT_NE(std::vector<float>(p.thresholds().data(), p.thresholds().data() + 2 * D), s0);
  // After the search the shadow is exactly the stored table, and stays so.
  std::vector<int64_t> ends;
  for (int64_t r = 0; r < N; ++r) ends.push_back(p.store().end(r));
  const std::vector<float> frozen_s(p.thresholds().data(), p.thresholds().data() + 2 * D);
  for (int64_t s = T + 1; s <= T + 15; ++s) train_step(s);
  const std::vector<float> out = lookup_all(*t);
  for (int64_t i = 0; i < N * D; ++i) ASSERT_EQ(out[i], p.shadow().data()[i]) << i;
  for (int64_t r = 0; r < N; ++r) EXPECT_EQ(p.store().end(r), ends[r]);
  EXPECT_EQ(std::vector<float>(p.thresholds().data(), p.thresholds().data() + 2 * D), frozen_s);
  EXPECT_LE(t->bytes(), budget);
  EXPECT_GE(t->bytes(), budget - 8);
}

}  // namespace
}  // namespace embcomp::ctr

// TT (TT-Rec) CTR table: lookup/backward/step against the explicit tensor-train sums,
// a numerical-gradient check of every core, the budget solver on a Criteo-like layout,
// determinism in the seed and the error paths.
#include "compressors/emb_tt.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "compressors/emb_table.h"
#include "compressors/emb_table_testing.h"
#include "toolkit/error.h"

namespace embcomp::ctr {
namespace {

using testing::criteo_like_init;

// Three fields: 3 rows (TT would be larger: Full), 60 and 200 rows (TT). D = 8 = 2 x 2 x 2.
TableInit small_init(uint64_t seed = 7) {
  TableInit init;
  init.dim = 8;
  init.field_offsets = {0, 3, 63, 263};
  init.rows = 263;
  init.seed = seed;
  init.optimizer.kind = OptimizerConfig::Kind::kSGD;
  init.optimizer.lr = 0.5f;
  return init;
}

TtTableParams rank(int R) {
  TtTableParams p;
  p.R = R;
  return p;
}

// E[v][j] of a TT field by the defining triple sum over (r, s), in double.
double tt_element(TtTable& t, int f, int64_t v, int j) {
  const TtFieldLayout& L = t.layout()[f];
  auto& b = t.blocks(f);
  const int R = L.R, d2 = L.dk[1], d3 = L.dk[2];
  const int64_t i3 = v % L.nk[2], i2 = (v / L.nk[2]) % L.nk[1], i1 = v / (L.nk[2] * L.nk[1]);
  const int j3 = j % d3, j2 = (j / d3) % d2, j1 = j / (d3 * d2);
  double e = 0;
  for (int r = 0; r < R; ++r)
    for (int s = 0; s < R; ++s)
      e += double(b[0].row(i1)[j1 * R + r]) * b[1].row(i2)[(r * d2 + j2) * R + s] *
           b[2].row(i3)[s * d3 + j3];
  return e;
}

TEST(EmbTT, FactorsD) {
  EXPECT_EQ(tt_factor_dim(16), (std::array<int, 3>{2, 2, 4}));
  EXPECT_EQ(tt_factor_dim(12), (std::array<int, 3>{2, 2, 3}));
  EXPECT_EQ(tt_factor_dim(64), (std::array<int, 3>{4, 4, 4}));
  EXPECT_EQ(tt_factor_dim(13), (std::array<int, 3>{1, 1, 13}));
  EXPECT_EQ(tt_factor_dim(8), (std::array<int, 3>{2, 2, 2}));
}

TEST(EmbTT, LayoutAndBytesFollowTheFormula) {
  TtTable t(small_init(), rank(3), "TT");
  const auto& L = t.layout();
  ASSERT_EQ(L.size(), 3u);
  EXPECT_TRUE(L[0].full);  // 3 x 8 = 24 floats beat any cores
  EXPECT_FALSE(L[1].full);
  EXPECT_FALSE(L[2].full);
  int64_t expect = 3 * 8;
  for (int f = 1; f < 3; ++f) {
    EXPECT_GE(L[f].nk[0] * L[f].nk[1] * L[f].nk[2], L[f].n);
    EXPECT_EQ(L[f].R, 3);
    expect += L[f].nk[0] * 2 * 3 + L[f].nk[1] * 2 * 9 + L[f].nk[2] * 2 * 3;
  }
  EXPECT_EQ(t.bytes(), 4 * expect);
  testing::expect_buffers_sum_to_bytes(t);
  // Field 0 (24 floats) is Full, so the cores hold (expect - 24) / expect of the bytes.
  EXPECT_EQ(tt_plan_core_bytes(L), 4 * (expect - 24));
  char share[32];
  std::snprintf(share, sizeof share, "%.4f", double(expect - 24) / double(expect));
  EXPECT_EQ(t.knob(), std::string("R=3,up=0,full=0,cached=0,cores=") + share);
}

// Audit M2: with R <= R_max = 64, a large budget is spent on Full fields and cached rows;
// the knob's cores=P shows how little of TT@0.5 is tensor train on Criteo/10, and the
// share grows as the budget shrinks (at 0.01 and below every field is TT).
TEST(EmbTT, CoreShareOfTheSolvedBudgetsIsReported) {
  const TableInit init = criteo_like_init(10, 16);
  double previous = -1;
  for (double B : {0.5, 0.1, 0.01}) {
    const auto plan = tt_plan(init, tt_solve_budget("TT@x", init, B * 4.0 * init.rows * init.dim));
    const int64_t total = tt_plan_bytes(plan), cores = tt_plan_core_bytes(plan);
    int64_t full = 0, cache = 0;
    for (const auto& L : plan) {
      if (L.full) full += L.bytes();
      cache += L.cached * (4 * 16 + 4);
    }
    EXPECT_EQ(cores + full + cache, total) << B;
    const double share = double(cores) / double(total);
    EXPECT_GT(share, previous) << B;
    previous = share;
    if (B == 0.5) EXPECT_LT(share, 0.5);
    if (B == 0.01) EXPECT_GT(share, 0.99);
  }
}

TEST(EmbTT, LookupBackwardSgdStepMatchesTheExplicitSums) {
  TtTable t(small_init(), rank(3), "TT");
  // Ids 70 and 71 share their G1 slice (field 2, i1 = 0); 70 is repeated;
  // 1 is a Full row.
  const std::vector<int64_t> ids = {70, 71, 70, 1, 262, 3};
  const int64_t n = ids.size();
  const int D = 8;
  std::vector<float> out(n * D);
  t.lookup(ids.data(), n, out.data());
  for (int64_t i = 0; i < n; ++i) {
    const int f = ids[i] < 3 ? 0 : ids[i] < 63 ? 1 : 2;
    const int64_t v = ids[i] - (f == 0 ? 0 : f == 1 ? 3 : 63);
    for (int j = 0; j < D; ++j) {
      const double ref = f == 0 ? t.blocks(0)[0].row(v)[j] : tt_element(t, f, v, j);
      EXPECT_NEAR(out[i * D + j], ref, 1e-6 + 1e-5 * std::abs(ref)) << "id " << ids[i];
    }
  }
  // Hand gradient of every core element: d out[i][j] / d G = the product of the other two
  // cores' entries on the path; summed over every id that uses the slice.
  const std::vector<float> g = testing::random_weights(n * D, 3);
  std::vector<std::vector<std::vector<double>>> expect(3);
  std::vector<std::vector<std::vector<float>>> before(3);
  for (int f = 0; f < 3; ++f)
    for (auto& b : t.blocks(f)) {
      before[f].emplace_back(b.data(), b.data() + b.rows() * b.width());
      expect[f].emplace_back(b.rows() * b.width(), 0.0);
    }
  for (int64_t i = 0; i < n; ++i) {
    const int f = ids[i] < 3 ? 0 : ids[i] < 63 ? 1 : 2;
    const int64_t v = ids[i] - (f == 0 ? 0 : f == 1 ? 3 : 63);
    if (f == 0) {
      for (int j = 0; j < D; ++j) expect[0][0][v * D + j] += g[i * D + j];
      continue;
    }
    const TtFieldLayout& L = t.layout()[f];
    const int R = L.R;
    const int64_t i3 = v % L.nk[2], i2 = (v / L.nk[2]) % L.nk[1], i1 = v / (L.nk[2] * L.nk[1]);
    const auto& b = before[f];
    for (int j = 0; j < D; ++j) {
      const int j3 = j % 2, j2 = (j / 2) % 2, j1 = j / 4;
      for (int r = 0; r < R; ++r)
        for (int s = 0; s < R; ++s) {
          const size_t a = i1 * 2 * R + j1 * R + r;
          const size_t bb = i2 * R * 2 * R + (r * 2 + j2) * R + s;
          const size_t c = i3 * R * 2 + s * 2 + j3;
          const double gij = g[i * D + j];
          expect[f][0][a] += gij * b[1][bb] * b[2][c];
          expect[f][1][bb] += gij * b[0][a] * b[2][c];
          expect[f][2][c] += gij * b[0][a] * b[1][bb];
        }
    }
  }
  t.backward(ids.data(), n, g.data());
  t.step();
  for (int f = 0; f < 3; ++f)
    for (size_t c = 0; c < t.blocks(f).size(); ++c) {
      const RowParams& b = t.blocks(f)[c];
      for (int64_t e = 0; e < b.rows() * b.width(); ++e)
        ASSERT_NEAR(b.data()[e], before[f][c][e] - 0.5 * expect[f][c][e], 1e-5)
            << "field " << f << " core " << c << " element " << e;
    }
}

TEST(EmbTT, AnalyticGradientMatchesFiniteDifferences) {
  TableInit init = small_init();
  TtTable t(init, rank(4), "TT");
  const std::vector<int64_t> ids = {10, 11, 40, 70, 70, 262, 150};
  const std::vector<float> w = testing::random_weights(ids.size() * 8, 5);
  t.backward(ids.data(), ids.size(), w.data());  // gradients stay accumulated (no step)
  int checked = 0;
  for (int f = 1; f < 3; ++f)
    for (auto& b : t.blocks(f))
      for (int64_t r = 0; r < b.rows(); ++r) {
        const float* grad = b.grad(r);
        if (!grad) continue;
        for (int e = 0; e < b.width(); e += 3) {
          const double num = testing::numeric_grad(t, b.row(r) + e, ids, w, 1e-2f);
          EXPECT_NEAR(grad[e], num, 2e-3 * (1 + std::abs(num))) << "field " << f << " row " << r;
          ++checked;
        }
      }
  EXPECT_GT(checked, 50);
}

TEST(EmbTT, BudgetSolverMeetsCriteoLikeBudgets) {
  const TableInit init = criteo_like_init(10, 16);  // 3.37M rows, 26 fields
  const double full = 4.0 * init.rows * init.dim;
  for (double B : {0.5, 0.1, 0.01, 0.001}) {
    const TtTableParams p = tt_solve_budget("TT@x", init, B * full);
    const double actual = tt_plan_bytes(tt_plan(init, p)) / full;
    EXPECT_LE(actual, B) << B;
    EXPECT_GE(actual, 0.98 * B) << B << " R=" << p.R << " up=" << p.upgraded;
    if (B >= 0.01 && B <= 0.1) {
      EXPECT_GE(p.R, 8) << B;
    }
  }
  auto t = make_embedding_table("TT@0.01", init);
  EXPECT_EQ(t->spec(), "TT@0.01");
  EXPECT_EQ(t->budget_note(), "");
  EXPECT_LE(t->bytes(), 0.01 * full);
  EXPECT_GE(t->bytes(), 0.98 * 0.01 * full);
  testing::expect_buffers_sum_to_bytes(*t);
  const int64_t probe[3] = {0, init.rows / 2, init.rows - 1};
  std::vector<float> out(48);
  t->lookup(probe, 3, out.data());
  for (float x : out) EXPECT_TRUE(std::isfinite(x));
}

TEST(EmbTT, HotRowCacheHoldsTheMostFrequentRowsOfTheSmallestTtField) {
  TableInit init = small_init();
  init.counts.assign(263, 1);
  init.counts[3 + 7] = 50;   // field 1 (the smallest TT field), local id 7
  init.counts[3 + 42] = 40;  // local id 42
  TtTableParams p = rank(3);
  p.cached = 2;
  TtTable t(init, p, "TT");
  const auto& L = t.layout();
  EXPECT_EQ(L[1].cached, 2);
  EXPECT_EQ(L[2].cached, 0);
  ASSERT_EQ(t.blocks(1).size(), 4u);
  TtTable plain(init, rank(3), "TT");
  EXPECT_EQ(t.bytes(), plain.bytes() + 2 * (4 * 8 + 4));
  EXPECT_EQ(t.bytes(), tt_plan_bytes(L));
  testing::expect_buffers_sum_to_bytes(t);
  // Ids 10 and 45 read the cache rows (sorted: 7 -> slot 0, 42 -> slot 1); 11 the cores.
  const std::vector<int64_t> ids = {10, 45, 11};
  std::vector<float> out(24);
  t.lookup(ids.data(), 3, out.data());
  for (int j = 0; j < 8; ++j) {
    EXPECT_EQ(out[j], t.blocks(1)[3].row(0)[j]);
    EXPECT_EQ(out[8 + j], t.blocks(1)[3].row(1)[j]);
    EXPECT_NEAR(out[16 + j], tt_element(t, 1, 8, j), 1e-6);
  }
  const std::vector<float> g = testing::random_weights(24, 1);
  const std::vector<float> c0(t.blocks(1)[3].data(), t.blocks(1)[3].data() + 16);
  t.backward(ids.data(), 3, g.data());
  t.step();
  for (int j = 0; j < 8; ++j) {
    EXPECT_FLOAT_EQ(t.blocks(1)[3].row(0)[j], c0[j] - 0.5f * g[j]);
    EXPECT_FLOAT_EQ(t.blocks(1)[3].row(1)[j], c0[8 + j] - 0.5f * g[8 + j]);
  }
}

TEST(EmbTT, DeterministicInTheSeed) {
  const std::vector<int64_t> ids = {0, 5, 70, 200, 262};
  auto emb = [&](uint64_t seed) {
    auto t = make_embedding_table("TT", small_init(seed));
    std::vector<float> out(ids.size() * 8);
    t->lookup(ids.data(), ids.size(), out.data());
    return out;
  };
  EXPECT_EQ(emb(7), emb(7));
  EXPECT_NE(emb(7), emb(8));
}

TEST(EmbTT, ErrorPaths) {
  TtTable t(small_init(), rank(2), "TT");
  std::vector<float> out(8);
  for (int64_t bad : {int64_t(-1), int64_t(263)}) {
    EXPECT_THROW(t.lookup(&bad, 1, out.data()), Error);
    EXPECT_THROW(t.backward(&bad, 1, out.data()), Error);
  }
  try {
    make_embedding_table("TT@0.0001", small_init());
    FAIL() << "an impossible budget must throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kBadInput);
  }
  EXPECT_THROW(TtTable(small_init(), rank(0), "TT"), Error);
}

}  // namespace
}  // namespace embcomp::ctr

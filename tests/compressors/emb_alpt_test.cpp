// ALPT: the step-size gradient checked numerically against the straight-through surrogate,
// a hand-computed SGD step, the learned scale growing when updates leave the range, the
// fixed budget, determinism, errors.
#include "compressors/emb_alpt.h"

#include <gtest/gtest.h>

#include <cmath>

#include "compressors/emb_table_testing.h"
#include "test_data.h"
#include "toolkit/error.h"

namespace embcomp::ctr {
namespace {

using testing::small_layout;

// The straight-through surrogate of Delta * clip(round(w / Delta), -Q, Q) around Delta0:
// the rounding residual is frozen at Delta0 (that is what the STE means), the rest is
// differentiated exactly: h(Delta) = Delta * clip(w/Delta) + Delta * r0, with
// r0 = clip(round(v0)) - clip(v0), v0 = w / Delta0. h(Delta0) is the fake-quantized value.
double surrogate(const std::vector<float>& w, const std::vector<float>& g, double delta,
                 double delta0, double q) {
  double s = 0;
  for (size_t j = 0; j < w.size(); ++j) {
    auto clip = [&](double v) { return std::max(-q, std::min(q, v)); };
    const double v0 = w[j] / delta0;
    const double r0 = clip(std::nearbyint(v0)) - clip(v0);
    s += g[j] * (delta * clip(w[j] / delta) + delta * r0);
  }
  return s;
}

TEST(EmbAlpt, ScaleGradientMatchesFiniteDifferenceOfSteSurrogate) {
  // Elements inside the range (residual term) and beyond it on both sides (clip term).
  const std::vector<float> w = {0.013f, -0.0071f, 0.0302f, -0.0044f, 0.9f, -1.3f, 0.0005f};
  const std::vector<float> g = {0.7f, -1.1f, 0.4f, 2.0f, -0.3f, 0.6f, 1.5f};
  const float delta = 0.003f;
  const double analytic = alpt_scale_grad(w.data(), g.data(), 7, delta, 127);
  const double eps = 1e-7;
  const double numeric =
      (surrogate(w, g, delta + eps, delta, 127) - surrogate(w, g, delta - eps, delta, 127)) /
      (2 * eps);
  EXPECT_NEAR(analytic, numeric, 1e-6 + 1e-4 * std::abs(numeric));
  EXPECT_GT(std::abs(analytic), 1.0);  // the clipped elements contribute +-127 g
  // In range, the fake quantization of a grid point has zero step-size gradient.
  const std::vector<float> grid = {3 * delta, -5 * delta};
  EXPECT_NEAR(alpt_scale_grad(grid.data(), g.data(), 2, delta, 127), 0.0, 1e-5);
}

TEST(EmbAlpt, SgdStepMatchesHandReference) {
  TableInit init = small_layout(6, 4);
  init.seed = 13;
  AlptParams p;
  p.seed = 13;
  p.scale_lr_ratio = 0.01f;
  AlptTable t(init, p, "ALPT");
  std::vector<int8_t> q0(t.codes(0), t.codes(0) + 24);
  std::vector<float> d0(6);
  for (int r = 0; r < 6; ++r) d0[r] = t.scale(r);
  const int64_t ids[2] = {2, 2};
  std::vector<float> out(8);
  t.lookup(ids, 2, out.data());
  for (int j = 0; j < 4; ++j) EXPECT_EQ(out[j], d0[2] * float(q0[8 + j]));
  const std::vector<float> g = {0.01f, -0.03f, 0.02f, 0.0f, 0.01f, 0.01f, -0.005f, 0.004f};
  t.backward(ids, 2, g.data());
  t.step();
  float gs[4], w[4];
  for (int j = 0; j < 4; ++j) {
    gs[j] = g[j] + g[4 + j];
    w[j] = d0[2] * float(q0[8 + j]) - 0.5f * gs[j];
  }
  const float g_delta = static_cast<float>(alpt_scale_grad(w, gs, 4, d0[2], 127));
  const float delta1 = d0[2] - 0.5f * 0.01f * g_delta;
  EXPECT_FLOAT_EQ(t.scale(2), delta1);
  EXPECT_NE(t.scale(2), d0[2]);  // the step size is learned
  for (int j = 0; j < 4; ++j) {
    const int32_t want = stochastic_round(w[j] / delta1, rounding_noise(13, 1, 8 + j), 127);
    EXPECT_EQ(t.codes(2)[j], want) << j;
  }
  for (int r : {0, 1, 3, 4, 5}) {
    EXPECT_EQ(t.scale(r), d0[r]);
    for (int j = 0; j < 4; ++j) EXPECT_EQ(t.codes(r)[j], q0[r * 4 + j]);
  }
}

TEST(EmbAlpt, StepSizeGrowsWhenUpdatesLeaveTheRange) {
  // A gradient that keeps pushing the row outward: clipped values cost loss, so the
  // learned Delta grows and the row's values follow past the initial range.
  TableInit init = small_layout(1, 8, 1, 0.001f);
  AlptTable t(init, AlptParams{}, "ALPT");
  const float d0 = t.scale(0);
  std::vector<float> g(8);
  for (int j = 0; j < 8; ++j) g[j] = t.codes(0)[j] >= 0 ? -1.0f : 1.0f;
  const int64_t id = 0;
  for (int s = 0; s < 50; ++s) {
    t.backward(&id, 1, g.data());
    t.step();
  }
  EXPECT_GT(t.scale(0), 2 * d0);
  std::vector<float> out(8);
  t.lookup(&id, 1, out.data());
  float m = 0;
  for (float v : out) m = std::max(m, std::abs(v));
  EXPECT_GT(m, 127 * d0 * 1.5f);
}

TEST(EmbAlpt, FixedBudgetAndBytes) {
  const TableInit init =
      testing::criteo_like_layout(100, 16, false);  // the ratio does not depend on N
  auto t = make_embedding_table("ALPT", init);
  EXPECT_EQ(t->bytes(), init.rows * 16 + 4 * init.rows);
  EXPECT_EQ(testing::buffers_total(*t), t->bytes());
  EXPECT_TRUE(make_embedding_table("ALPT@0.32", init)->budget_note().size() > 0);
  EXPECT_TRUE(make_embedding_table("ALPT@0.315", init)->budget_note().empty());
  for (const char* spec : {"ALPT@0.1", "ALPT@0.01"})
    EXPECT_NE(embcomp::testing::bad_input_message([&] {
                make_embedding_table(spec, init);
              }).find("cannot be met"),
              std::string::npos);
  EXPECT_EQ(t->optimizer_bytes(), 2 * 4 * init.rows * 16 + 2 * 4 * init.rows);  // Adam
}

TEST(EmbAlpt, DeterministicInTheSeed) {
  TableInit init = small_layout(200, 8);
  init.optimizer.kind = OptimizerConfig::Kind::kAdam;
  init.optimizer.lr = 0.01f;
  std::vector<int64_t> ids(200);
  for (int64_t i = 0; i < 200; ++i) ids[i] = (i * 3) % 200;
  auto run = [&](uint64_t seed) {
    init.seed = seed;
    auto t = make_embedding_table("ALPT", init);
    std::vector<float> out(200 * 8);
    for (int s = 0; s < 3; ++s) {
      t->lookup(ids.data(), 200, out.data());
      t->backward(ids.data(), 200, out.data());
      t->step();
    }
    t->lookup(ids.data(), 200, out.data());
    return out;
  };
  EXPECT_EQ(run(1), run(1));
  EXPECT_NE(run(1), run(2));
}

TEST(EmbAlpt, ErrorPaths) {
  const TableInit init = small_layout(10, 4);
  AlptTable t(init, AlptParams{}, "ALPT");
  std::vector<float> out(4);
  const int64_t bad = -1;
  EXPECT_NE(embcomp::testing::bad_input_message([&] { t.lookup(&bad, 1, out.data()); }).find("-1"),
            std::string::npos);
  EXPECT_THROW(t.backward(&bad, 1, out.data()), Error);
  AlptParams p;
  p.min_scale = 0;
  EXPECT_THROW(AlptTable(init, p, "ALPT"), Error);
  p = AlptParams{};
  p.scale_lr_ratio = -1;
  EXPECT_THROW(AlptTable(init, p, "ALPT"), Error);
}

}  // namespace
}  // namespace embcomp::ctr

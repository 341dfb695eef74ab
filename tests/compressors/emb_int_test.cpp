// INT8 / INT16 tables: the optimizer twin against RowParams, init equal to Full's
// quantized values, a hand-computed SGD step with stochastic rounding, unbiased drift under
// updates smaller than one step, the fixed budgets, determinism, errors.
#include "compressors/emb_int.h"

#include <gtest/gtest.h>

#include <cmath>

#include "compressors/emb_full.h"
#include "compressors/emb_params.h"
#include "compressors/emb_table_testing.h"
#include "test_data.h"
#include "toolkit/error.h"

namespace embcomp::ctr {
namespace {

using testing::small_layout;

TEST(EmbInt, RowOptimizerMatchesRowParams) {
  for (auto kind : {OptimizerConfig::Kind::kSGD, OptimizerConfig::Kind::kAdagrad,
                    OptimizerConfig::Kind::kAdam}) {
    OptimizerConfig opt;
    opt.kind = kind;
    opt.lr = 0.1f;
    RowParams ref(4, 3, 0.5f, 3);
    RowOptimizer mine(4, 3, opt);
    std::vector<float> w(ref.data(), ref.data() + 12);
    for (int t = 0; t < 3; ++t) {
      mine.begin_step();
      for (int64_t r : {1, 3}) {
        const float g[3] = {0.3f * (t + 1), -0.2f * r, 0.05f};
        ref.accumulate(r, g);
        mine.update(r, w.data() + r * 3, g);
      }
      ref.step(opt);
    }
    for (int i = 0; i < 12; ++i) EXPECT_FLOAT_EQ(w[i], ref.data()[i]) << i;
  }
}

TEST(EmbInt, InitIsFullsInitQuantizedPerRow) {
  const TableInit init = small_layout(20, 6);
  FullTable full(init);
  Int8Table t8(init, "INT8");
  Int16Table t16(init, "INT16");
  for (int64_t r = 0; r < 20; ++r) {
    float m = 0;
    for (int j = 0; j < 6; ++j) m = std::max(m, std::abs(full.params().row(r)[j]));
    EXPECT_FLOAT_EQ(t8.scale(r), m / 127);
    EXPECT_FLOAT_EQ(t16.scale(r), m / 32767);
    for (int j = 0; j < 6; ++j) {
      const float w = full.params().row(r)[j];
      EXPECT_LE(std::abs(t8.scale(r) * t8.codes(r)[j] - w), 0.5f * t8.scale(r) * 1.0001f);
      EXPECT_LE(std::abs(t16.scale(r) * t16.codes(r)[j] - w), 0.5f * t16.scale(r) * 1.0001f);
    }
  }
  EXPECT_EQ(t8.bytes(), 20 * 6 + 4 * 20);
  EXPECT_EQ(t16.bytes(), 2 * 20 * 6 + 4 * 20);
  EXPECT_EQ(testing::buffers_total(t8), t8.bytes());
  EXPECT_EQ(testing::buffers_total(t16), t16.bytes());
}

TEST(EmbInt, SgdStepWithStochasticRoundingMatchesHandReference) {
  TableInit init = small_layout(10, 4);
  init.seed = 21;
  Int8Table t(init, "INT8");
  std::vector<int8_t> q0(t.codes(0), t.codes(0) + 40);
  std::vector<float> s0(10);
  for (int r = 0; r < 10; ++r) s0[r] = t.scale(r);
  // Row 3 twice (gradients add), row 5 with a gradient large enough to grow its scale,
  // element 2 of row 3 with zero gradient.
  const int64_t ids[3] = {3, 5, 3};
  std::vector<float> out(12);
  t.lookup(ids, 3, out.data());
  for (int j = 0; j < 4; ++j) EXPECT_EQ(out[j], s0[3] * float(q0[12 + j]));
  // Row 3's gradients point away from zero, so its values shrink and its scale is kept.
  std::vector<float> g = {0.01f, 0.02f, 0.0f, 0.004f,  //
                          0.3f,  0.0f,  0.0f, 0.0f,    //
                          0.02f, 0.01f, 0.0f, 0.01f};
  for (int j : {0, 1, 3}) {
    const float sign = q0[12 + j] >= 0 ? 1.0f : -1.0f;
    g[j] *= sign * std::min(1.0f, std::abs(float(q0[12 + j])) / 127);
    g[8 + j] *= sign * std::min(1.0f, std::abs(float(q0[12 + j])) / 127);
  }
  t.backward(ids, 3, g.data());
  t.step();
  // Row 3: scale kept (the update is smaller than the range), delta form.
  for (int j = 0; j < 4; ++j) {
    const float w0 = s0[3] * float(q0[12 + j]);
    const float w1 = w0 - 0.5f * (g[j] + g[8 + j]);
    const float v = float(q0[12 + j]) + (w1 - w0) / s0[3];
    const int32_t want = stochastic_round(v, rounding_noise(21, 1, 12 + j), 127);
    EXPECT_EQ(t.codes(3)[j], want) << j;
  }
  EXPECT_EQ(t.codes(3)[2], q0[14]);  // no update: the code is kept exactly
  EXPECT_EQ(t.scale(3), s0[3]);
  // Row 5: |w'| = |w0 - 0.15| exceeds the range, the scale grows to max|w'| / 127.
  float w5[4], m = 0;
  for (int j = 0; j < 4; ++j) {
    w5[j] = s0[5] * float(q0[20 + j]) - 0.5f * g[4 + j];
    m = std::max(m, std::abs(w5[j]));
  }
  ASSERT_GT(m, 127 * s0[5]);
  EXPECT_FLOAT_EQ(t.scale(5), m / 127);
  for (int j = 0; j < 4; ++j) {
    const int32_t want = stochastic_round(w5[j] / t.scale(5), rounding_noise(21, 1, 20 + j), 127);
    EXPECT_EQ(t.codes(5)[j], want) << j;
    EXPECT_LE(std::abs(t.scale(5) * t.codes(5)[j] - w5[j]), t.scale(5) * 1.0001f);
  }
  for (int r : {0, 1, 2, 4, 6, 7, 8, 9}) {  // untouched rows
    EXPECT_EQ(t.scale(r), s0[r]);
    for (int j = 0; j < 4; ++j) EXPECT_EQ(t.codes(r)[j], q0[r * 4 + j]);
  }
}

TEST(EmbInt, StochasticRoundingFollowsUpdatesSmallerThanAStep) {
  // Each SGD step moves every element a tenth of a quantization step toward zero: round to
  // nearest would never move; stochastic rounding moves 20 steps in 200 updates on average.
  TableInit init = small_layout(1, 16, 1, 1.0f);
  Int8Table t(init, "INT8");
  const float s = t.scale(0);
  std::vector<int8_t> q0(t.codes(0), t.codes(0) + 16);
  std::vector<float> g(16);
  for (int j = 0; j < 16; ++j) g[j] = q0[j] >= 0 ? 0.1f * s : -0.1f * s;
  const int64_t id = 0;
  for (int step = 0; step < 200; ++step) {
    t.backward(&id, 1, g.data());
    t.step();
  }
  ASSERT_EQ(t.scale(0), s);  // moving toward zero never grows the scale
  double mean_err = 0;
  for (int j = 0; j < 16; ++j) {
    const double moved = (q0[j] - t.codes(0)[j]) * (q0[j] >= 0 ? 1 : -1);
    EXPECT_GT(moved, 4) << j;  // Binomial(200, 0.1): mean 20, std 4.2
    mean_err += (moved - 20.0) / 16;
  }
  EXPECT_LT(std::abs(mean_err), 3.5) << mean_err;  // std of the mean is ~1.1 steps
}

TEST(EmbInt, FixedBudgets) {
  const TableInit init =
      testing::criteo_like_layout(100, 16, false);  // the ratio does not depend on N
  auto t8 = make_embedding_table("INT8", init), t16 = make_embedding_table("INT16", init);
  const double full = 4.0 * init.rows * 16;
  EXPECT_DOUBLE_EQ(t8->bytes() / full, 0.25 + 1.0 / 16);
  EXPECT_DOUBLE_EQ(t16->bytes() / full, 0.5 + 1.0 / 16);
  EXPECT_EQ(t8->knob(), "bits=8");
  EXPECT_TRUE(t8->budget_note().empty());
  auto half = make_embedding_table("INT8@0.5", init);
  EXPECT_LE(half->bytes() / full, 0.5);
  EXPECT_NE(half->budget_note().find("fixed"), std::string::npos) << half->budget_note();
  EXPECT_TRUE(make_embedding_table("INT8@0.315", init)->budget_note().empty());
  EXPECT_TRUE(make_embedding_table("INT16@0.57", init)->budget_note().empty());
  for (const char* spec : {"INT8@0.1", "INT8@0.01", "INT8@0.3", "INT16@0.5"}) {
    const std::string msg =
        embcomp::testing::bad_input_message([&] { make_embedding_table(spec, init); });
    EXPECT_NE(msg.find("cannot be met"), std::string::npos) << spec << ": " << msg;
  }
}

TEST(EmbInt, DeterministicInTheSeed) {
  TableInit init = small_layout(300, 8);
  init.optimizer.kind = OptimizerConfig::Kind::kAdam;
  init.optimizer.lr = 0.01f;
  std::vector<int64_t> ids(300);
  for (int64_t i = 0; i < 300; ++i) ids[i] = (i * 7) % 300;
  auto run = [&](const char* spec, uint64_t seed) {
    init.seed = seed;
    auto t = make_embedding_table(spec, init);
    std::vector<float> out(300 * 8);
    for (int s = 0; s < 3; ++s) {
      t->lookup(ids.data(), 300, out.data());
      t->backward(ids.data(), 300, out.data());
      t->step();
    }
    t->lookup(ids.data(), 300, out.data());
    return out;
  };
  for (const char* spec : {"INT8", "INT16"}) {
    EXPECT_EQ(run(spec, 1), run(spec, 1));
    EXPECT_NE(run(spec, 1), run(spec, 2));
  }
}

TEST(EmbInt, ErrorPaths) {
  const TableInit init = small_layout(10, 4);
  Int8Table t(init, "INT8");
  std::vector<float> out(4);
  const int64_t bad = 10;
  EXPECT_NE(embcomp::testing::bad_input_message([&] { t.lookup(&bad, 1, out.data()); }).find("10"),
            std::string::npos);
  EXPECT_THROW(t.backward(&bad, 1, out.data()), Error);
  EXPECT_THROW(Int16Table(small_layout(4, kQuantMaxDim + 1), "INT16"), Error);
}

}  // namespace
}  // namespace embcomp::ctr

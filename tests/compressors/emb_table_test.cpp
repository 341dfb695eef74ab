// CTR embedding tables: registry, Full's lookup/backward/step against a dense reference,
// and the optimizers of RowParams against hand-computed updates.
#include <gtest/gtest.h>

#include <cmath>

#include "compressors/emb_full.h"
#include "compressors/emb_params.h"
#include "compressors/emb_table.h"
#include "toolkit/error.h"

namespace embcomp::ctr {
namespace {

TableInit small_init(int64_t rows = 10, int dim = 4) {
  TableInit init;
  init.rows = rows;
  init.dim = dim;
  init.field_offsets = {0, rows / 2, rows};
  init.optimizer.kind = OptimizerConfig::Kind::kSGD;
  init.optimizer.lr = 0.5f;
  return init;
}

TEST(EmbTable, RegistryBuildsFullAndRejectsUnknownAndBudget) {
  auto t = make_embedding_table("Full", small_init());
  EXPECT_EQ(t->spec(), "Full");
  EXPECT_EQ(t->bytes(), 10 * 4 * 4);
  size_t sum = 0;
  for (auto& b : t->buffers()) sum += b.second;
  EXPECT_EQ(static_cast<int64_t>(sum), t->bytes());
  EXPECT_THROW(make_embedding_table("Nope@0.1", small_init()), Error);
  EXPECT_THROW(make_embedding_table("Full@0.5", small_init()), Error);
  EXPECT_THROW(make_embedding_table("Full@1.5", small_init()), Error);
  TableInit bad = small_init();
  bad.field_offsets = {0, 3};
  EXPECT_THROW(make_embedding_table("Full", bad), Error);
}

TEST(EmbTable, FullLookupBackwardStepMatchesDenseSgd) {
  TableInit init = small_init();
  FullTable t(init);
  std::vector<float> before(t.params().data(), t.params().data() + 40);
  const int64_t ids[3] = {7, 2, 7};  // row 7 twice: its gradients add up
  std::vector<float> out(12);
  t.lookup(ids, 3, out.data());
  for (int j = 0; j < 4; ++j) EXPECT_EQ(out[j], before[7 * 4 + j]);
  std::vector<float> g(12);
  for (int i = 0; i < 12; ++i) g[i] = 0.1f * (i + 1);
  t.backward(ids, 3, g.data());
  t.step();
  for (int j = 0; j < 4; ++j) {
    EXPECT_FLOAT_EQ(t.params().row(7)[j], before[28 + j] - 0.5f * (g[j] + g[8 + j]));
    EXPECT_FLOAT_EQ(t.params().row(2)[j], before[8 + j] - 0.5f * g[4 + j]);
    EXPECT_EQ(t.params().row(0)[j], before[j]);  // untouched
  }
  const int64_t bad[1] = {10};
  EXPECT_THROW(t.lookup(bad, 1, out.data()), Error);
}

TEST(EmbTable, InitIsDeterministicInTheSeed) {
  TableInit a = small_init(), b = small_init();
  FullTable ta(a), tb(b);
  b.seed = 2;
  FullTable tc(b);
  EXPECT_EQ(std::vector<float>(ta.params().data(), ta.params().data() + 40),
            std::vector<float>(tb.params().data(), tb.params().data() + 40));
  EXPECT_NE(std::vector<float>(ta.params().data(), ta.params().data() + 40),
            std::vector<float>(tc.params().data(), tc.params().data() + 40));
}

TEST(EmbTable, AdagradAndAdamRowUpdatesMatchFormulas) {
  for (auto kind : {OptimizerConfig::Kind::kAdagrad, OptimizerConfig::Kind::kAdam}) {
    OptimizerConfig opt;
    opt.kind = kind;
    opt.lr = 0.1f;
    RowParams p(3, 2, 0.0f, 1);  // zero init
    const float g1[2] = {1.0f, -2.0f}, g2[2] = {0.5f, 0.5f};
    p.accumulate(1, g1);
    p.step(opt);
    p.accumulate(1, g2);
    p.step(opt);
    for (int j = 0; j < 2; ++j) {
      double w = 0, s1 = 0, s2 = 0;
      const float gs[2] = {g1[j], g2[j]};
      for (int t = 1; t <= 2; ++t) {
        const double g = gs[t - 1];
        if (kind == OptimizerConfig::Kind::kAdagrad) {
          s1 += g * g;
          w -= opt.lr * g / (std::sqrt(s1) + opt.eps);
        } else {
          s1 = opt.beta1 * s1 + (1 - opt.beta1) * g;
          s2 = opt.beta2 * s2 + (1 - opt.beta2) * g * g;
          const double mh = s1 / (1 - std::pow(opt.beta1, t));
          const double vh = s2 / (1 - std::pow(opt.beta2, t));
          w -= opt.lr * mh / (std::sqrt(vh) + opt.eps);
        }
      }
      EXPECT_NEAR(p.row(1)[j], w, 1e-5);
      EXPECT_EQ(p.row(0)[j], 0.0f);
    }
    EXPECT_EQ(RowParams::optimizer_bytes(3, 2, opt),
              kind == OptimizerConfig::Kind::kAdam ? 48 : 24);
  }
}

}  // namespace
}  // namespace embcomp::ctr

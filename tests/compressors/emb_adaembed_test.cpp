// AdaEmbed: the first hot set, lookup/backward/step against the dense reference (exclusive
// rows for hot ids, the universal hash for the rest), the importance score and the
// in-training reallocation of exclusive rows, budgets, errors.
#include "compressors/emb_adaembed.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>

#include "compressors/emb_table_testing.h"
#include "test_data.h"
#include "toolkit/error.h"

namespace embcomp::ctr {
namespace {

using testing::small_layout;

TEST(EmbAdaEmbed, HottestRowsByCountThenId) {
  const std::vector<uint32_t> counts = {5, 9, 0, 9, 7, 1, 9};
  EXPECT_EQ(hottest_rows(counts, 7, 3), (std::vector<uint32_t>{1, 3, 6}));
  EXPECT_EQ(hottest_rows(counts, 7, 2), (std::vector<uint32_t>{1, 3}));  // tie: smaller ids
  EXPECT_EQ(hottest_rows(counts, 7, 4), (std::vector<uint32_t>{1, 3, 4, 6}));
  EXPECT_EQ(hottest_rows({}, 7, 2), (std::vector<uint32_t>{0, 1}));
  EXPECT_TRUE(hottest_rows(counts, 7, 0).empty());
}

TEST(EmbAdaEmbed, LookupBackwardStepMatchSplitDenseSgd) {
  TableInit init = small_layout(30, 3);
  init.counts.resize(30);
  for (int i = 0; i < 30; ++i) init.counts[i] = static_cast<uint32_t>((i * 17) % 31);
  AdaEmbedParams p;
  p.K = 5;
  p.H = 3;
  p.seed = 4;
  AdaEmbedTable t(init, p, "AdaEmbed@0.5");
  EXPECT_EQ(t.bytes(), 4 * 3 * 8 + 4 * 5 + 16);
  EXPECT_EQ(testing::buffers_total(t), t.bytes());
  // counts (i*17) % 31: the five largest are 30, 29, 28, 27, 26 at ids 20, 9, 29, 18, 7.
  EXPECT_EQ(t.hot(), (std::vector<uint32_t>{7, 9, 18, 20, 29}));
  UniversalHash h;
  std::memcpy(&h, t.buffers()[2].first, sizeof(h));
  std::vector<int64_t> ids(30);
  for (int64_t i = 0; i < 30; ++i) ids[i] = i;
  std::vector<int64_t> want_row(30);
  for (int64_t id = 0; id < 30; ++id) {
    const auto& hot = t.hot();
    const auto pos = std::find(hot.begin(), hot.end(), uint32_t(id)) - hot.begin();
    want_row[id] = pos < 5 ? pos : 5 + int64_t(h(uint64_t(id), 3));
    EXPECT_EQ(t.slot(id), want_row[id]) << id;
  }
  std::vector<float> w0(t.weights(), t.weights() + 24);
  std::vector<float> out(90), g(90);
  t.lookup(ids.data(), 30, out.data());
  std::map<int64_t, std::vector<double>> grad;
  for (int i = 0; i < 30; ++i)
    for (int j = 0; j < 3; ++j) {
      EXPECT_EQ(out[i * 3 + j], w0[want_row[i] * 3 + j]);
      g[i * 3 + j] = 0.01f * float(i) - 0.1f * float(j);
      grad[want_row[i]].resize(3);
      grad[want_row[i]][j] += g[i * 3 + j];
    }
  t.backward(ids.data(), 30, g.data());
  t.step();
  for (int64_t r = 0; r < 8; ++r)
    for (int j = 0; j < 3; ++j)
      EXPECT_NEAR(t.weights()[r * 3 + j], w0[r * 3 + j] - 0.5 * grad[r][j], 1e-6) << r;
}

TEST(EmbAdaEmbed, BudgetsOnCriteoLikeLayout) {
  const TableInit init = testing::criteo_like_layout(30, 16, true);
  testing::expect_budgets_met("AdaEmbed", init);
  auto t = make_embedding_table("AdaEmbed@0.1", init);
  auto* a = dynamic_cast<AdaEmbedTable*>(t.get());
  ASSERT_NE(a, nullptr);
  // Half the budget buys hashed rows (64 bytes each at D = 16), the rest hot rows at 68.
  const double budget = 0.1 * 4.0 * double(init.rows) * 16;
  const int64_t K = static_cast<int64_t>(a->hot().size());
  const int64_t H = (a->bytes() - 4 * K - 16) / 64 - K;
  EXPECT_EQ(H, static_cast<int64_t>(budget / 2 / 64));
  EXPECT_EQ(K, static_cast<int64_t>((budget - 64.0 * H - 16) / 68));
  EXPECT_EQ(t->knob(), "hot=" + std::to_string(K) + ",hashed=" + std::to_string(H));
  // The hot ids are the most frequent ones.
  uint32_t min_hot = ~0u, max_cold = 0;
  std::vector<char> is_hot(init.rows, 0);
  for (uint32_t id : a->hot()) {
    is_hot[id] = 1;
    min_hot = std::min(min_hot, init.counts[id]);
  }
  for (int64_t id = 0; id < init.rows; ++id)
    if (!is_hot[id]) max_cold = std::max(max_cold, init.counts[id]);
  EXPECT_GE(min_hot, max_cold);
  EXPECT_GT(min_hot, 0u);
}

// Importance is the L2 norm of each access's gradient, summed per id.
TEST(EmbAdaEmbed, ImportanceIsGradientNormPerAccess) {
  TableInit init = small_layout(20, 2);
  AdaEmbedParams p;
  p.K = 3;
  p.H = 2;
  p.realloc_every = 0;
  AdaEmbedTable t(init, p, "AdaEmbed");
  const std::vector<int64_t> ids = {4, 9, 4};
  const std::vector<float> g = {3, 4, 0, 1, 6, 8};
  t.backward(ids.data(), 3, g.data());
  EXPECT_FLOAT_EQ(t.importance()[4], 5.0f + 10.0f);
  EXPECT_FLOAT_EQ(t.importance()[9], 1.0f);
  EXPECT_FLOAT_EQ(t.importance()[0], 0.0f);
  t.step();
  EXPECT_EQ(t.reallocations(), 0);  // realloc_every = 0: a static split
  EXPECT_FLOAT_EQ(t.importance()[4], 15.0f);
}

// Counts make ids 0..2 hot; training touches only ids 11..13, so the reallocation after
// realloc_every steps gives them the exclusive rows. A promoted id keeps the embedding it
// was reading (its shared row), a demoted one reads its shared row, an id staying hot
// keeps its row and its Adam state.
TEST(EmbAdaEmbed, ReallocationMovesRowsToImportantIds) {
  TableInit init = small_layout(40, 3);
  init.optimizer.kind = OptimizerConfig::Kind::kAdam;
  init.optimizer.lr = 0.01f;
  init.counts.assign(40, 1);
  for (int i = 0; i < 3; ++i) init.counts[i] = 100;
  init.counts[12] = 50;  // hot at the start and touched in training: stays hot
  AdaEmbedParams p;
  p.K = 4;
  p.H = 5;
  p.realloc_every = 3;
  p.decay = 0.25f;
  p.seed = 2;
  AdaEmbedTable t(init, p, "AdaEmbed@0.5");
  ASSERT_EQ(t.hot(), (std::vector<uint32_t>{0, 1, 2, 12}));
  const std::vector<int64_t> batch = {11, 12, 13, 30, 12};
  std::vector<float> g(batch.size() * 3);
  for (size_t i = 0; i < g.size(); ++i) g[i] = (i / 3 == 3 ? 0.01f : 1.0f) * hashed_uniform(8, i);
  std::vector<int64_t> all(40);
  for (int64_t i = 0; i < 40; ++i) all[i] = i;
  std::vector<float> before(40 * 3), after(40 * 3);
  // Twin without reallocation: identical until the third step's reallocation.
  AdaEmbedParams q = p;
  q.realloc_every = 0;
  AdaEmbedTable twin(init, q, "AdaEmbed@0.5");
  for (int s = 0; s < 3; ++s) {
    t.backward(batch.data(), 5, g.data());
    twin.backward(batch.data(), 5, g.data());
    if (s == 2) t.lookup(all.data(), 40, before.data());  // gradients pending, rows not moved
    t.step();
    twin.step();
  }
  EXPECT_EQ(t.reallocations(), 1);
  // 11, 12, 13 and 30 (small gradients) beat the ids never touched since the start.
  EXPECT_EQ(t.hot(), (std::vector<uint32_t>{11, 12, 13, 30}));
  std::vector<float> twin_out(40 * 3);
  t.lookup(all.data(), 40, after.data());
  twin.lookup(all.data(), 40, twin_out.data());
  for (int64_t id = 0; id < 40; ++id)
    for (int j = 0; j < 3; ++j) {
      if (id < 3) {
        // Demoted: reads its shared row, which trained exactly as the twin's.
        EXPECT_GE(t.slot(id), 4);
        EXPECT_EQ(after[id * 3 + j], twin.weights()[t.slot(id) * 3 + j]) << id;
      } else {
        // Everyone else (promoted, staying hot, never hot) has the twin's embedding: the
        // promoted ids inherited the shared row they were reading.
        EXPECT_EQ(after[id * 3 + j], twin_out[id * 3 + j]) << id;
      }
    }
  // The next steps keep matching the twin on a staying-hot id (row and Adam state moved),
  // and promoted ids now train apart from the ids sharing their old row.
  for (int s = 0; s < 2; ++s) {
    const int64_t only12 = 12;
    t.backward(&only12, 1, g.data());
    twin.backward(&only12, 1, g.data());
    t.step();
    twin.step();
  }
  t.lookup(all.data(), 40, after.data());
  twin.lookup(all.data(), 40, twin_out.data());
  for (int j = 0; j < 3; ++j) EXPECT_EQ(after[12 * 3 + j], twin_out[12 * 3 + j]);
  // Importance decays once, at the reallocation: twin = e + 2 |g_0|, t = 0.25 e + 2 |g_0|.
  const double g0 = std::sqrt(double(g[0]) * g[0] + double(g[1]) * g[1] + double(g[2]) * g[2]);
  const double e = twin.importance()[12] - 2 * g0;
  EXPECT_NEAR(t.importance()[12], 0.25 * e + 2 * g0, 1e-5);
  EXPECT_GT(e, 1.0);
  EXPECT_EQ(testing::buffers_total(t), t.bytes());
  EXPECT_EQ(t.bytes(), AdaEmbedTable::bytes_for(4, 5, 3));
}

TEST(EmbAdaEmbed, DeterministicInTheSeed) {
  TableInit init = small_layout(400, 4);
  init.counts.resize(400);
  for (int i = 0; i < 400; ++i) init.counts[i] = static_cast<uint32_t>(400 / (1 + (i * 37) % 400));
  std::vector<int64_t> ids(400);
  for (int64_t i = 0; i < 400; ++i) ids[i] = i;
  auto run = [&](uint64_t seed) {
    init.seed = seed;
    auto t = make_embedding_table("AdaEmbed@0.2", init);
    std::vector<float> out(400 * 4);
    t->lookup(ids.data(), 400, out.data());
    t->backward(ids.data(), 400, out.data());
    t->step();
    t->lookup(ids.data(), 400, out.data());
    return out;
  };
  EXPECT_EQ(run(5), run(5));
  EXPECT_NE(run(5), run(6));
}

TEST(EmbAdaEmbed, ErrorPaths) {
  const TableInit init = small_layout(100, 4);
  auto t = make_embedding_table("AdaEmbed@0.5", init);
  std::vector<float> out(4);
  const int64_t bad = 100;
  EXPECT_NE(
      embcomp::testing::bad_input_message([&] { t->lookup(&bad, 1, out.data()); }).find("100"),
      std::string::npos);
  EXPECT_THROW(t->backward(&bad, 1, out.data()), Error);
  const std::string msg = embcomp::testing::bad_input_message(
      [&] { make_embedding_table("AdaEmbed@0.01", init); });  // 16 bytes
  EXPECT_NE(msg.find("unreachable"), std::string::npos) << msg;
  AdaEmbedParams p;
  p.K = 101;
  p.H = 1;
  EXPECT_THROW(AdaEmbedTable(init, p, "AdaEmbed"), Error);
  p.K = 10;
  p.H = 0;
  EXPECT_THROW(AdaEmbedTable(init, p, "AdaEmbed"), Error);
  EXPECT_THROW(make_embedding_table("AdaEmbed", init), Error);
}

}  // namespace
}  // namespace embcomp::ctr

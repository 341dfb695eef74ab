// Training-time Dedup CTR table ("Dedup" in the CTR registry): the hash-shared warm-up and
// its full-resolution shadow against a dense reference, the LSH dedup (groups of similar
// blocks keep their most accessed block), the schedule in step(), a planted problem that
// dedup + fine-tuning solves, budgets, errors.
#include "compressors/emb_ctrdedup.h"

#include <gtest/gtest.h>

#include <cstring>
#include <map>
#include <set>

#include "compressors/emb_table_testing.h"
#include "test_data.h"
#include "toolkit/error.h"

namespace embcomp::ctr {
namespace {

using testing::small_layout;

CtrDedupParams params(int64_t r, int64_t U, int64_t dedup_at = 1000, float lambda = 0.25f) {
  CtrDedupParams p;
  p.lambda = lambda;
  p.r = r;
  p.U = U;
  p.dedup_at = dedup_at;
  p.seed = 6;
  return p;
}

TEST(EmbCtrDedup, WarmUpServesHashSharedBlocksAndTrainsTheShadow) {
  const TableInit init = small_layout(30, 3);  // SGD, lr 0.5
  CtrDedupTable t(init, params(4, 3), "Dedup@0.5");
  ASSERT_EQ(t.blocks(), 8);
  EXPECT_EQ(t.bytes(), 4 * 3 * 4 * 3 + 4 * 8 + 4);
  EXPECT_EQ(t.bytes(), CtrDedupTable::bytes_for(30, 3, 4, 3));
  testing::expect_buffers_sum_to_bytes(t);
  EXPECT_EQ(t.knob(), "block_rows=4,unique=3,blocks=8,warm-up");
  EXPECT_FALSE(t.deduplicated());
  std::set<uint32_t> slots;
  for (int64_t b = 0; b < 8; ++b) slots.insert(t.slot_of_block(b));
  EXPECT_GE(slots.size(), 2u);
  EXPECT_LE(*slots.rbegin(), 2u);
  std::vector<int64_t> ids(30);
  for (int64_t i = 0; i < 30; ++i) ids[i] = i;
  std::vector<float> out(90);
  t.lookup(ids.data(), 30, out.data());
  const std::vector<float> U0(t.unique_rows().data(), t.unique_rows().data() + 36);
  for (int64_t id = 0; id < 30; ++id)
    for (int j = 0; j < 3; ++j) {
      const float want = U0[(t.slot_of_block(id / 4) * 4 + id % 4) * 3 + j];
      ASSERT_EQ(out[id * 3 + j], want) << id;
      ASSERT_EQ(t.shadow().row(id)[j], want) << "the shadow starts at the served value";
    }
  // SGD step: shared rows sum the gradients of every id reading them; a shadow row gets its
  // own gradient plus lambda (F - s), which is 0 at the start (F = s).
  const std::vector<float> g = testing::random_weights(90, 2);
  std::map<int64_t, std::vector<double>> dU;
  for (int64_t id = 0; id < 30; ++id) {
    auto& acc = dU[t.slot_of_block(id / 4) * 4 + id % 4];
    acc.resize(3);
    for (int j = 0; j < 3; ++j) acc[j] += g[id * 3 + j];
  }
  t.backward(ids.data(), 30, g.data());
  t.step();
  for (const auto& [row, acc] : dU)
    for (int j = 0; j < 3; ++j)
      EXPECT_NEAR(t.unique_rows().row(row)[j], U0[row * 3 + j] - 0.5 * acc[j], 1e-6);
  for (int64_t id = 0; id < 30; ++id)
    for (int j = 0; j < 3; ++j)
      EXPECT_NEAR(t.shadow().row(id)[j], out[id * 3 + j] - 0.5f * g[id * 3 + j], 1e-6);
  // Second step: now F - s is not 0; id 5 alone, twice in the batch.
  std::vector<float> s5(t.unique_rows().row(t.slot_of_block(1) * 4 + 1),
                        t.unique_rows().row(t.slot_of_block(1) * 4 + 1) + 3);
  std::vector<float> f5(t.shadow().row(5), t.shadow().row(5) + 3);
  const int64_t twice[2] = {5, 5};
  t.backward(twice, 2, g.data());
  t.step();
  for (int j = 0; j < 3; ++j)
    EXPECT_NEAR(t.shadow().row(5)[j],
                f5[j] - 0.5f * (g[j] + g[3 + j] + 2 * 0.25f * (f5[j] - s5[j])), 1e-6);
}

// With SGD and a constant gradient the shadow settles at s - g / lambda.
TEST(EmbCtrDedup, ShadowSettlesOneNewtonStepFromTheServedValue) {
  const TableInit init = small_layout(8, 2, 1, /*lr=*/0.5f);
  CtrDedupTable t(init, params(1, 2, 1000, 0.5f), "Dedup@0.5");
  const std::vector<float> g = {0.2f, -0.1f};
  const int64_t id = 3;
  const std::vector<float> s(t.unique_rows().row(t.slot_of_block(3)),
                             t.unique_rows().row(t.slot_of_block(3)) + 2);
  for (int it = 0; it < 200; ++it) {
    t.backward(&id, 1, g.data());
    t.unique_rows().zero_grad();  // keep the served value fixed
    t.step();
  }
  EXPECT_NEAR(t.shadow().row(3)[0], s[0] - 0.2f / 0.5f, 1e-5);
  EXPECT_NEAR(t.shadow().row(3)[1], s[1] + 0.1f / 0.5f, 1e-5);
}

// Blocks drawn around 3 prototypes: the dedup puts each prototype's blocks in one group, and
// a group stores exactly the shadow of its most accessed block.
TEST(EmbCtrDedup, DedupGroupsSimilarBlocksAndKeepsTheMostAccessedOne) {
  const int64_t r = 2, T = 24;
  const TableInit init = small_layout(r * T, 4);
  CtrDedupTable t(init, params(r, 3), "Dedup@0.5");
  auto proto = [](int64_t b) { return int((b * 5) % 3); };
  for (int64_t id = 0; id < init.rows; ++id)
    for (int j = 0; j < 4; ++j)
      t.shadow().row(id)[j] = hashed_uniform(100 + proto(id / r), (id % r) * 4 + j) +
                              0.01f * hashed_uniform(7, id * 4 + j);
  // Access counts through backward with zero gradients: block b is read b % 5 + 1 times.
  std::vector<int64_t> ids;
  for (int64_t b = 0; b < T; ++b)
    for (int64_t k = 0; k <= b % 5; ++k) ids.push_back(b * r);
  std::vector<float> zeros(ids.size() * 4, 0.0f);
  t.backward(ids.data(), int64_t(ids.size()), zeros.data());
  std::vector<std::vector<float>> shadow(init.rows);
  for (int64_t id = 0; id < init.rows; ++id)
    shadow[id].assign(t.shadow().row(id), t.shadow().row(id) + 4);
  t.deduplicate();
  EXPECT_TRUE(t.deduplicated());
  EXPECT_EQ(t.shadow().rows(), 0);
  EXPECT_EQ(t.bytes(), CtrDedupTable::bytes_for(init.rows, 4, r, 3));
  std::map<int, uint32_t> slot_of_proto;
  for (int64_t b = 0; b < T; ++b) {
    auto [it, fresh] = slot_of_proto.emplace(proto(b), t.slot_of_block(b));
    EXPECT_EQ(it->second, t.slot_of_block(b)) << "block " << b;
  }
  EXPECT_EQ(slot_of_proto.size(), 3u);
  std::set<uint32_t> distinct;
  for (auto [p, s] : slot_of_proto) distinct.insert(s);
  EXPECT_EQ(distinct.size(), 3u);
  // Representative: most accessed (b % 5 + 1 reads; ties: smallest b) among the prototype.
  for (int p = 0; p < 3; ++p) {
    int64_t rep = -1;
    for (int64_t b = 0; b < T; ++b)
      if (proto(b) == p && (rep < 0 || b % 5 > rep % 5)) rep = b;
    std::vector<int64_t> all(init.rows);
    for (int64_t id = 0; id < init.rows; ++id) all[id] = id;
    std::vector<float> out(init.rows * 4);
    t.lookup(all.data(), init.rows, out.data());
    for (int64_t id = 0; id < init.rows; ++id) {
      if (proto(id / r) != p) continue;
      for (int j = 0; j < 4; ++j)
        ASSERT_EQ(out[id * 4 + j], shadow[rep * r + id % r][j]) << "id " << id << " rep " << rep;
    }
  }
}

TEST(EmbCtrDedup, PartialLastBlock) {
  const TableInit init = small_layout(10, 2);
  CtrDedupTable t(init, params(4, 2, 1), "Dedup@0.5");  // blocks of 4, 4, 2 rows
  EXPECT_EQ(t.blocks(), 3);
  EXPECT_EQ(t.bytes(), 4 * 2 * 4 * 2 + 4 * 3 + 4);
  EXPECT_EQ(t.knob(), "block_rows=4,unique=2,blocks=3,warm-up");
  std::vector<int64_t> ids = {9, 8, 0};
  std::vector<float> g(6, 0.5f), out(6);
  t.backward(ids.data(), 3, g.data());
  t.step();  // dedup_at = 1
  ASSERT_TRUE(t.deduplicated());
  EXPECT_EQ(t.knob(), "block_rows=4,unique=2,blocks=3,deduplicated");
  t.lookup(ids.data(), 3, out.data());
  for (int k = 0; k < 3; ++k)
    for (int j = 0; j < 2; ++j)
      EXPECT_EQ(out[k * 2 + j],
                t.unique_rows().row(t.slot_of_block(ids[k] / 4) * 4 + ids[k] % 4)[j]);
}

TEST(EmbCtrDedup, EverySlotIsUsedWhenThereAreFewerGroupsThanSlots) {
  const TableInit init = small_layout(40, 2);
  CtrDedupTable t(init, params(1, 25, 2), "Dedup@0.5");
  std::vector<int64_t> ids = {0, 1};
  std::vector<float> g(4, 0.1f);
  t.backward(ids.data(), 2, g.data());
  t.step();
  EXPECT_FALSE(t.deduplicated());
  const int64_t before = t.optimizer_bytes();
  t.step();  // dedup_at = 2
  EXPECT_TRUE(t.deduplicated());
  EXPECT_LT(t.optimizer_bytes(), before) << "the shadow is freed";
  std::set<uint32_t> slots;
  for (int64_t b = 0; b < 40; ++b) slots.insert(t.slot_of_block(b));
  EXPECT_EQ(slots.size(), 25u);
  EXPECT_EQ(*slots.rbegin(), 24u);
}

// Ids 0..63 with 4 target embeddings (id % 4): a shared table of 4 slots can fit them only
// if the slots are assigned by similarity, which the dedup finds from the shadow. The loss
// sum (out - target)^2 / 64 has curvature 2 / 64 per row: with lambda equal to it the
// shadow of every id settles at its own target.
TEST(EmbCtrDedup, DedupThenFineTuneSolvesAPlantedProblem) {
  TableInit init = small_layout(64, 4);
  init.optimizer.kind = OptimizerConfig::Kind::kAdam;
  init.optimizer.lr = 0.05f;
  CtrDedupTable t(init, params(1, 4, 150, 2.0f / 64), "Dedup@0.5");
  std::vector<int64_t> ids(64);
  for (int64_t i = 0; i < 64; ++i) ids[i] = i;
  std::vector<float> target(64 * 4), out(64 * 4), grad(64 * 4);
  for (int64_t i = 0; i < 64; ++i)
    for (int j = 0; j < 4; ++j) target[i * 4 + j] = 0.5f * hashed_uniform(30 + i % 4, j);
  auto mse = [&] {
    t.lookup(ids.data(), 64, out.data());
    double s = 0;
    for (size_t e = 0; e < out.size(); ++e) s += (out[e] - target[e]) * (out[e] - target[e]);
    return s / double(out.size());
  };
  const double start = mse();
  double at_dedup = 0;
  for (int s = 0; s < 300; ++s) {
    t.lookup(ids.data(), 64, out.data());
    for (size_t e = 0; e < out.size(); ++e) grad[e] = 2.0f * (out[e] - target[e]) / 64.0f;
    t.backward(ids.data(), 64, grad.data());
    if (s == 149) at_dedup = mse();  // the hash-shared warm-up, just before the dedup
    t.step();
  }
  EXPECT_TRUE(t.deduplicated());
  const double end = mse();
  EXPECT_LT(end, 0.05 * start) << start << " -> " << at_dedup << " -> " << end;
  EXPECT_LT(end, 0.2 * at_dedup) << "the dedup regrouped the ids by similarity";
}

TEST(EmbCtrDedup, BudgetsOnCriteoLikeLayouts) {
  for (int D : {8, 16}) {
    const TableInit init = testing::criteo_like_layout(300, D, true);
    const double full = 4.0 * double(init.rows) * D;
    for (double B : {0.5, 0.1, 0.01}) {
      const std::string spec = "Dedup@" + std::to_string(B);
      auto t = make_embedding_table(spec, init);
      auto* d = dynamic_cast<CtrDedupTable*>(t.get());
      ASSERT_NE(d, nullptr);
      const double actual = double(t->bytes()) / full;
      const int64_t r = (init.rows + d->blocks() - 1) / d->blocks();
      EXPECT_LE(actual, B) << spec << " " << t->knob();
      EXPECT_LE(4.0 * d->blocks(), 0.1 * B * full) << "the map takes at most a tenth";
      EXPECT_GE(actual, B - double(r) / double(init.rows)) << spec << " " << t->knob();
      EXPECT_EQ(testing::buffers_total(*t), t->bytes());
    }
  }
}

TEST(EmbCtrDedup, ErrorPaths) {
  const TableInit init = small_layout(100, 4);
  EXPECT_THROW(make_embedding_table("Dedup", init), Error);
  const std::string msg =
      embcomp::testing::bad_input_message([&] { make_embedding_table("Dedup@0.001", init); });
  EXPECT_NE(msg.find("cannot hold"), std::string::npos) << msg;
  EXPECT_THROW(CtrDedupTable(init, params(0, 1), "Dedup"), Error);
  EXPECT_THROW(CtrDedupTable(init, params(1, 0), "Dedup"), Error);
  EXPECT_THROW(CtrDedupTable(init, params(1, 5, 0), "Dedup"), Error);
  EXPECT_THROW(CtrDedupTable(init, params(1, 5, 10, 0.0f), "Dedup"), Error);
  auto t = make_embedding_table("Dedup@0.5", init);
  std::vector<float> out(4);
  for (int64_t bad : {int64_t(-1), int64_t(100)}) {
    EXPECT_THROW(t->lookup(&bad, 1, out.data()), Error);
    EXPECT_THROW(t->backward(&bad, 1, out.data()), Error);
  }
}

}  // namespace
}  // namespace embcomp::ctr

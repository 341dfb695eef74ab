// ROBE-Z table: lookup/backward/step against the pseudocode re-implemented here from the
// hash states in buffers(), a numerical gradient check, budgets, determinism, errors.
#include "compressors/emb_robe.h"

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

struct Ref {
  int64_t idx;
  float sign;
};

// The header's pseudocode, from the two hash states the table exposes.
Ref reference_element(RobeTable& t, int64_t M, int Z, int64_t id, int j) {
  auto bufs = t.buffers();
  UniversalHash loc, sign;
  std::memcpy(&loc, bufs[1].first, sizeof(loc));
  std::memcpy(&sign, bufs[2].first, sizeof(sign));
  const int C = (t.dim() + Z - 1) / Z;
  const uint64_t x = uint64_t(id) * C + j / Z;
  const int64_t base = int64_t(loc(x, M));
  return {(base + j % Z) % M, ((sign.raw(x) >> (j % Z)) & 1) ? -1.0f : 1.0f};
}

TEST(EmbRobe, LookupBackwardStepMatchReferenceSgd) {
  const TableInit init = small_layout(40, 8);
  RobeParams p;
  p.M = 21;
  p.Z = 3;  // 3 chunks per row, the last one of 2 elements
  p.seed = 9;
  RobeTable t(init, p, "ROBE@0.02");
  EXPECT_EQ(t.bytes(), 4 * 21 + 32);
  EXPECT_EQ(testing::buffers_total(t), t.bytes());
  std::vector<float> a0(t.array().data(), t.array().data() + 21);
  std::vector<int64_t> ids(40);
  for (int64_t i = 0; i < 40; ++i) ids[i] = (i * 7) % 40;
  std::vector<float> out(40 * 8), g(40 * 8);
  t.lookup(ids.data(), 40, out.data());
  std::map<int64_t, double> grad;  // A index -> sum of sign * g
  std::set<float> signs;
  bool wrapped = false;
  for (int i = 0; i < 40; ++i)
    for (int j = 0; j < 8; ++j) {
      const Ref r = reference_element(t, 21, 3, ids[i], j);
      EXPECT_EQ(t.element(ids[i], j), std::make_pair(r.idx, r.sign));
      EXPECT_EQ(out[i * 8 + j], r.sign * a0[r.idx]);
      g[i * 8 + j] = 0.01f * float((i * 8 + j) % 13) - 0.05f;
      grad[r.idx] += double(r.sign) * g[i * 8 + j];
      signs.insert(r.sign);
      const int64_t base = reference_element(t, 21, 3, ids[i], j - j % 3).idx;
      wrapped |= r.idx < base;
    }
  EXPECT_EQ(signs.size(), 2u);
  EXPECT_TRUE(wrapped);  // some block runs past the end of A and wraps to its start
  t.backward(ids.data(), 40, g.data());
  t.step();
  for (int64_t k = 0; k < 21; ++k) {
    const auto it = grad.find(k);
    const double want = a0[k] - 0.5 * (it == grad.end() ? 0.0 : it->second);
    EXPECT_NEAR(t.array().data()[k], want, 1e-6) << k;
  }
}

TEST(EmbRobe, GradientMatchesFiniteDifference) {
  TableInit init = small_layout(30, 6, 3, 1.0f);
  RobeParams p;
  p.M = 11;
  p.Z = 4;
  RobeTable t(init, p, "ROBE@0.02");
  const std::vector<int64_t> ids = {0, 5, 17, 29, 5};
  std::vector<float> r(ids.size() * 6);
  for (size_t i = 0; i < r.size(); ++i) r[i] = 0.2f * float(i % 7) - 0.5f;
  std::vector<float> a0(t.array().data(), t.array().data() + 11), numeric(11);
  const float eps = 1e-2f;
  for (int k = 0; k < 11; ++k) {
    float* x = t.array().data() + k;
    *x = a0[k] + eps;
    const double fp = testing::dot_lookup(t, ids, r);
    *x = a0[k] - eps;
    const double fm = testing::dot_lookup(t, ids, r);
    *x = a0[k];
    numeric[k] = float((fp - fm) / (2 * eps));
  }
  t.backward(ids.data(), 5, r.data());
  t.step();
  int nonzero = 0;
  for (int k = 0; k < 11; ++k) {
    EXPECT_NEAR(a0[k] - t.array().data()[k], numeric[k], 1e-4) << k;
    nonzero += std::abs(numeric[k]) > 1e-3;
  }
  EXPECT_GT(nonzero, 3);
}

TEST(EmbRobe, BudgetsOnCriteoLikeLayout) {
  const TableInit init = testing::criteo_like_layout(30, 16, false);
  const auto a = testing::expect_budgets_met("ROBE", init);
  EXPECT_NEAR(a[2], 0.01, 1e-6);
  auto t = make_embedding_table("ROBE@0.1", init);
  EXPECT_EQ(t->knob().substr(t->knob().size() - 5), ",Z=16");
}

TEST(EmbRobe, DeterministicInTheSeed) {
  TableInit init = small_layout(500, 8);
  std::vector<int64_t> ids(500);
  for (int64_t i = 0; i < 500; ++i) ids[i] = i;
  auto run = [&](uint64_t seed) {
    init.seed = seed;
    auto t = make_embedding_table("ROBE@0.1", init);
    std::vector<float> out(500 * 8);
    t->lookup(ids.data(), 500, out.data());
    t->backward(ids.data(), 500, out.data());
    t->step();
    t->lookup(ids.data(), 500, out.data());
    return out;
  };
  EXPECT_EQ(run(3), run(3));
  EXPECT_NE(run(3), run(4));
}

TEST(EmbRobe, ErrorPaths) {
  const TableInit init = small_layout(100, 8);
  auto t = make_embedding_table("ROBE@0.5", init);
  std::vector<float> out(8);
  const int64_t bad = -3;
  EXPECT_NE(embcomp::testing::bad_input_message([&] { t->lookup(&bad, 1, out.data()); }).find("-3"),
            std::string::npos);
  EXPECT_THROW(t->backward(&bad, 1, out.data()), Error);
  // 0.001 * 3200 bytes = 3 bytes: not one block of Z = 8 floats.
  const std::string msg =
      embcomp::testing::bad_input_message([&] { make_embedding_table("ROBE@0.001", init); });
  EXPECT_NE(msg.find("unreachable"), std::string::npos) << msg;
  RobeParams p;
  p.M = 100;
  p.Z = 9;  // > D
  EXPECT_THROW(RobeTable(init, p, "ROBE"), Error);
  p.Z = 4;
  p.M = 3;  // < Z
  EXPECT_THROW(RobeTable(init, p, "ROBE"), Error);
  EXPECT_THROW(make_embedding_table("ROBE", init), Error);
}

}  // namespace
}  // namespace embcomp::ctr

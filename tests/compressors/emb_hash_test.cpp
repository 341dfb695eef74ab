// Hash table: the universal hash, lookup/backward/step against the hashed dense reference,
// budget honesty on a Criteo-like layout, determinism, error paths.
#include "compressors/emb_hash.h"

#include <gtest/gtest.h>

#include <map>
#include <set>

#include "compressors/emb_table_testing.h"
#include "test_data.h"
#include "toolkit/error.h"

namespace embcomp::ctr {
namespace {

using testing::small_layout;

TEST(EmbHash, UniversalHashMatchesModularFormula) {
  const UniversalHash h = UniversalHash::from_seed(3);
  ASSERT_GE(h.a, 1u);
  ASSERT_LT(h.a, UniversalHash::kP);
  ASSERT_LT(h.b, UniversalHash::kP);
  __extension__ typedef unsigned __int128 u128;
  const u128 p = UniversalHash::kP;
  for (uint64_t x : {uint64_t{0}, uint64_t{1}, uint64_t{12345}, UniversalHash::kP - 1,
                     UniversalHash::kP, UniversalHash::kP + 5, ~uint64_t{0} >> 1}) {
    const u128 want = (u128(h.a) * (u128(x) % p) + h.b) % p;
    EXPECT_EQ(h.raw(x), static_cast<uint64_t>(want)) << x;
    EXPECT_EQ(h(x, 97), static_cast<uint64_t>(want % 97)) << x;
  }
  // Not id % m: consecutive ids spread over the rows, and the seed changes the map.
  const UniversalHash g = UniversalHash::from_seed(4);
  std::set<uint64_t> seen;
  int same = 0;
  for (uint64_t x = 0; x < 1000; ++x) {
    seen.insert(h(x, 1000));
    same += h(x, 1000) == g(x, 1000);
  }
  EXPECT_GT(seen.size(), 550u);  // ~632 expected for a random map of 1000 into 1000
  EXPECT_LT(same, 20);
}

TEST(EmbHash, LookupBackwardStepMatchHashedDenseSgd) {
  TableInit init = small_layout(50, 3);
  HashParams p;
  p.m = 7;
  p.seed = 11;
  HashTable t(init, p, "Hash@0.14");
  EXPECT_EQ(t.bytes(), 4 * 7 * 3 + 16);
  EXPECT_EQ(testing::buffers_total(t), t.bytes());
  std::vector<float> w0(t.params().data(), t.params().data() + 21);
  // Find two ids that collide, and one that does not share their row.
  std::map<int64_t, std::vector<int64_t>> by_row;
  for (int64_t id = 0; id < 50; ++id) by_row[t.slot(id)].push_back(id);
  int64_t a = -1, b = -1;
  for (auto& [r, v] : by_row)
    if (v.size() >= 2) {
      a = v[0];
      b = v[1];
      break;
    }
  ASSERT_GE(a, 0);
  int64_t c = 0;
  while (t.slot(c) == t.slot(a)) ++c;
  const int64_t ids[3] = {a, c, b};
  std::vector<float> out(9);
  t.lookup(ids, 3, out.data());
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) EXPECT_EQ(out[i * 3 + j], w0[t.slot(ids[i]) * 3 + j]);
  std::vector<float> g(9);
  for (int i = 0; i < 9; ++i) g[i] = 0.1f * (i + 1) - 0.3f;
  t.backward(ids, 3, g.data());
  t.step();
  const int64_t ra = t.slot(a), rc = t.slot(c);
  for (int j = 0; j < 3; ++j) {
    // a and b collide: their gradients add up on one row.
    EXPECT_FLOAT_EQ(t.params().row(ra)[j], w0[ra * 3 + j] - 0.5f * (g[j] + g[6 + j]));
    EXPECT_FLOAT_EQ(t.params().row(rc)[j], w0[rc * 3 + j] - 0.5f * g[3 + j]);
  }
  for (int64_t r = 0; r < 7; ++r) {
    if (r == ra || r == rc) continue;
    for (int j = 0; j < 3; ++j) EXPECT_EQ(t.params().row(r)[j], w0[r * 3 + j]);
  }
}

TEST(EmbHash, BudgetsOnCriteoLikeLayout) {
  const TableInit init = testing::criteo_like_layout(30, 16, false);
  ASSERT_GT(init.rows, 1000000);
  const auto actual = testing::expect_budgets_met("Hash", init);
  auto t = make_embedding_table("Hash@10x", init);
  EXPECT_EQ(t->spec(), "Hash@10x");
  EXPECT_EQ(t->knob(), "rows=" + std::to_string((t->bytes() - 16) / 64));
  EXPECT_NEAR(actual[1], 0.1, 0.0001);
}

TEST(EmbHash, DeterministicInTheSeed) {
  TableInit init = small_layout(1000, 4);
  auto a = make_embedding_table("Hash@0.1", init), b = make_embedding_table("Hash@0.1", init);
  init.seed = 2;
  auto c = make_embedding_table("Hash@0.1", init);
  std::vector<int64_t> ids(1000);
  for (int64_t i = 0; i < 1000; ++i) ids[i] = i;
  std::vector<float> oa(4000), ob(4000), oc(4000);
  a->lookup(ids.data(), 1000, oa.data());
  b->lookup(ids.data(), 1000, ob.data());
  c->lookup(ids.data(), 1000, oc.data());
  EXPECT_EQ(oa, ob);
  EXPECT_NE(oa, oc);
}

TEST(EmbHash, ErrorPaths) {
  TableInit init = small_layout(100, 4);
  auto t = make_embedding_table("Hash@0.5", init);
  std::vector<float> out(4);
  for (int64_t bad : {int64_t{-1}, int64_t{100}}) {
    const std::string msg =
        embcomp::testing::bad_input_message([&] { t->lookup(&bad, 1, out.data()); });
    EXPECT_NE(msg.find(std::to_string(bad)), std::string::npos) << msg;
    EXPECT_THROW(t->backward(&bad, 1, out.data()), Error);
  }
  // 0.01 * 4 * 100 * 4 = 16 bytes cannot hold a row plus the hash seeds.
  const std::string msg =
      embcomp::testing::bad_input_message([&] { make_embedding_table("Hash@0.01", init); });
  EXPECT_NE(msg.find("unreachable"), std::string::npos) << msg;
  const std::string plain =
      embcomp::testing::bad_input_message([&] { make_embedding_table("Hash", init); });
  EXPECT_NE(plain.find("needs a memory budget"), std::string::npos) << plain;
  EXPECT_THROW(make_embedding_table("Hash@abc", init), Error);
}

}  // namespace
}  // namespace embcomp::ctr

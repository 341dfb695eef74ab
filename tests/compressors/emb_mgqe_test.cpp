// MGQE (multi-granular quantized embeddings) CTR table: the hot-group bitmap and its rank
// directory, the hot group by counts, tail codes restricted to the first 2^tail_nbits
// centroids (lookup, backward against finite differences, refresh), exact bytes, budgets
// and error paths.
#include "compressors/emb_mgqe.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "compressors/emb_adaembed.h"
#include "compressors/emb_dpq_testing.h"
#include "compressors/emb_table_testing.h"
#include "test_data.h"
#include "toolkit/error.h"

namespace embcomp::ctr {
namespace {

using testing::fd;
using testing::ref_code;
using testing::small_layout;

TEST(EmbMGQE, RowGroupsRankMatchesCounting) {
  const int64_t N = 2000;  // several 512-row blocks and a partial last word
  std::vector<uint32_t> hot;
  std::vector<char> is_hot(N, 0);
  for (int64_t r = 0; r < N; ++r)
    if ((r * 2654435761u >> 5) % 7 < 2 || r == N - 1) hot.push_back(uint32_t(r)), is_hot[r] = 1;
  RowGroups g(N, hot);
  EXPECT_EQ(g.hot_count(), int64_t(hot.size()));
  EXPECT_EQ(g.bytes(), 8 * 32 + 4 * 4);
  EXPECT_EQ(RowGroups::bytes_for(N), g.bytes());
  int64_t before = 0;
  for (int64_t r = 0; r < N; ++r) {
    ASSERT_EQ(g.is_hot(r), bool(is_hot[r])) << r;
    ASSERT_EQ(g.rank(r), before) << r;
    before += is_hot[r];
  }
  EXPECT_THROW(RowGroups(10, {10}), Error);
}

TableInit counted_layout() {
  TableInit init = small_layout(50, 6, 2, /*lr=*/2.0f);
  init.counts.resize(50);
  for (int i = 0; i < 50; ++i) init.counts[i] = uint32_t((i * 23) % 53);
  init.seed = 4;
  return init;
}

TEST(EmbMGQE, TailRowsUseTheFirstCentroidsAndFewerBits) {
  const TableInit init = counted_layout();
  DpqParams p;
  p.M = 2;
  p.nbits = 3;
  p.seed = 4;
  // The 5 most frequent ids: counts (i * 23) % 53 are 52, 51, 50, 49, 48 at
  // ids 23, 46, 16, 39, 9.
  const std::vector<uint32_t> hot = hottest_rows(init.counts, 50, 5);
  ASSERT_EQ(hot, (std::vector<uint32_t>{9, 16, 23, 39, 46}));
  DpqTable t(init, p, RowGroups(50, hot), 1, "MGQE@0.5");
  auto kc_of = [&](int64_t r) {
    return std::find(hot.begin(), hot.end(), uint32_t(r)) != hot.end() ? 8 : 2;
  };
  EXPECT_EQ(t.bytes(), 4 * 8 * 6 + (5 * 2 * 3 + 7) / 8 + (45 * 2 * 1 + 7) / 8 + 8 + 4);
  testing::expect_buffers_sum_to_bytes(t);
  EXPECT_EQ(t.knob(), "M=2,nbits=3,tail_nbits=1,hot=5");
  std::vector<int64_t> ids(50);
  for (int64_t i = 0; i < 50; ++i) ids[i] = i;
  std::vector<float> out(50 * 6);
  t.lookup(ids.data(), 50, out.data());
  uint32_t max_hot_code = 0;
  for (int64_t r = 0; r < 50; ++r) {
    EXPECT_EQ(t.centroids_of(r), kc_of(r));
    for (int j = 0; j < 2; ++j) {
      const uint32_t c = ref_code(t, r, j, kc_of(r));
      ASSERT_EQ(t.code(r, j), c) << r;
      if (kc_of(r) == 8) max_hot_code = std::max(max_hot_code, c);
      for (int x = 0; x < 3; ++x)
        ASSERT_EQ(out[r * 6 + j * 3 + x], t.values().data()[c * 6 + j * 3 + x]);
    }
  }
  EXPECT_GE(max_hot_code, 2u) << "hot rows reach beyond the tail's centroids";
  // Backward: the tail's softmax runs over its 2 centroids only.
  const std::vector<int64_t> batch = {0, 1, 9, 16};
  const std::vector<float> w = testing::random_weights(batch.size() * 6, 3);
  t.backward(batch.data(), int64_t(batch.size()), w.data());
  for (int64_t r : batch)
    for (int x = 0; x < 6; ++x)
      EXPECT_NEAR(t.query().grad(r)[x], fd(t, t.query().row(r) + x, batch, w, kc_of), 2e-3) << r;
  for (int e = 0; e < 48; ++e)
    EXPECT_NEAR(t.keys().grad()[e], fd(t, t.keys().data() + e, batch, w, kc_of), 2e-3) << e;
  t.step();
  for (int64_t r : batch)
    for (int j = 0; j < 2; ++j) EXPECT_EQ(t.code(r, j), ref_code(t, r, j, kc_of(r))) << r;
}

TEST(EmbMGQE, BudgetsAndHotGroupOnCriteoLikeLayout) {
  const TableInit init = testing::criteo_like_layout(300, 16, true);
  const double full = 4.0 * double(init.rows) * 16;
  const int64_t K = (init.rows + 9) / 10;
  for (double B : {0.5, 0.1, 0.05, 0.01}) {
    const std::string spec = "MGQE@" + std::to_string(B);
    auto t = make_embedding_table(spec, init);
    auto* q = dynamic_cast<DpqTable*>(t.get());
    ASSERT_NE(q, nullptr);
    EXPECT_LE(double(t->bytes()) / full, B) << spec << " " << t->knob();
    EXPECT_EQ(testing::buffers_total(*t), t->bytes());
    const int M = q->params().M, nb = q->params().nbits;
    EXPECT_EQ(t->bytes(), mgqe_bytes(init.rows, 16, K, M, nb));
    // Average code bits per row: at least half of what the budget pays for (cap 8 D).
    const double avg =
        M * (double(K) * nb + double(init.rows - K) * mgqe_tail_bits(nb)) / init.rows;
    const double affordable = std::min(
        0.1 * 128 + 0.9 * 96,
        (B * full - 4.0 * 256 * 16 - RowGroups::bytes_for(init.rows)) * 8 / double(init.rows));
    EXPECT_GE(avg, 0.5 * affordable) << spec << " " << t->knob();
  }
  auto t = make_embedding_table("MGQE@0.1", init);
  auto* q = dynamic_cast<DpqTable*>(t.get());
  uint32_t min_hot = ~0u, max_tail = 0;
  for (int64_t r = 0; r < init.rows; ++r) {
    if (q->centroids_of(r) == (1 << q->params().nbits))
      min_hot = std::min(min_hot, init.counts[r]);
    else
      max_tail = std::max(max_tail, init.counts[r]);
  }
  EXPECT_GE(min_hot, max_tail);
}

TEST(EmbMGQE, ErrorPaths) {
  const TableInit init = small_layout(100, 4);
  EXPECT_THROW(make_embedding_table("MGQE", init), Error);
  const std::string msg =
      embcomp::testing::bad_input_message([&] { make_embedding_table("MGQE@0.01", init); });
  EXPECT_NE(msg.find("cannot hold"), std::string::npos) << msg;
  DpqParams p;
  p.M = 2;
  p.nbits = 2;
  EXPECT_THROW(DpqTable(init, p, RowGroups(100, {1}), 3, "MGQE"), Error);  // tail > nbits
  EXPECT_THROW(DpqTable(init, p, RowGroups(100, {1}), 0, "MGQE"), Error);
  auto t = make_embedding_table("MGQE@0.5", init);
  std::vector<float> out(4);
  const int64_t bad = 100;
  EXPECT_THROW(t->lookup(&bad, 1, out.data()), Error);
}

}  // namespace
}  // namespace embcomp::ctr

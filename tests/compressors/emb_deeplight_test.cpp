// DeepLight CTR table and the shared sparse store: CSR/COO layouts and bytes by hand, the
// budget solver's format choice, lookup = top-K of the shadow (reference computed here),
// backward + SGD step against a hand update, the gradient of the stored values by finite
// differences, the cubic schedule ending at exactly K alive entries within the budget,
// and (for DeepLight and PEP alike) budgets on Criteo-like layouts, training on a planted
// problem, determinism, error paths.
#include "compressors/emb_deeplight.h"

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

DeepLightTable& as_deeplight(EmbeddingTable& t) { return dynamic_cast<DeepLightTable&>(t); }

// Positions of the K largest |W| (ties: lower position), computed with a full sort.
std::vector<uint64_t> reference_top_k(const RowParams& w, int64_t K) {
  const int64_t n = w.rows() * w.width();
  std::vector<uint64_t> p(n);
  std::iota(p.begin(), p.end(), 0);
  std::stable_sort(p.begin(), p.end(), [&](uint64_t a, uint64_t b) {
    return std::abs(w.data()[a]) > std::abs(w.data()[b]);
  });
  p.resize(K);
  std::sort(p.begin(), p.end());
  return p;
}

TEST(EmbDeepLight, SparseRowsKnownLayoutsAndBytes) {
  // 3 x 4 table, entries at positions 1, 4, 7, 11: (0,1) (1,0) (1,3) (2,3).
  const std::vector<uint64_t> pos = {1, 4, 7, 11};
  for (SparseFormat f : {SparseFormat::kCsr, SparseFormat::kCoo}) {
    SparseRows s(3, 4, 4, f);
    s.assign(pos);
    for (int k = 0; k < 4; ++k) s.values()[k] = float(k + 1);
    EXPECT_EQ(s.bytes(), f == SparseFormat::kCsr ? 4 * 4 + 5 * 4 : 8 * 4);
    EXPECT_EQ(s.bytes(), SparseRows::bytes_for(3, 4, 4, f));
    size_t sum = 0;
    for (auto& b : s.buffers()) sum += b.second;
    EXPECT_EQ(int64_t(sum), s.bytes());
    EXPECT_EQ(s.begin(1), 1);
    EXPECT_EQ(s.end(1), 3);
    EXPECT_EQ(s.col(2), 3);
    std::vector<float> row(4);
    s.read_row(0, row.data());
    EXPECT_EQ(row, (std::vector<float>{0, 1, 0, 0}));
    s.read_row(1, row.data());
    EXPECT_EQ(row, (std::vector<float>{2, 0, 0, 3}));
    s.read_row(2, row.data());
    EXPECT_EQ(row, (std::vector<float>{0, 0, 0, 4}));
  }
  // D > 256 stores 2-byte columns.
  EXPECT_EQ(SparseRows::bytes_for(2, 300, 5, SparseFormat::kCsr), 4 * 3 + 6 * 5);
  SparseRows wide(2, 300, 2, SparseFormat::kCsr);
  wide.assign({299, 300 + 257});
  EXPECT_EQ(wide.col(0), 299);
  EXPECT_EQ(wide.col(1), 257);
}

TEST(EmbDeepLight, TopKPositionsBreaksTiesByPosition) {
  const std::vector<float> s = {0.5f, 2.0f, 0.5f, -1.0f, 0.5f, 3.0f};
  EXPECT_EQ(top_k_positions(s, 3), (std::vector<uint64_t>{0, 1, 5}));
  EXPECT_EQ(top_k_positions(s, 4), (std::vector<uint64_t>{0, 1, 2, 5}));
  EXPECT_THROW(top_k_positions(s, 6), std::logic_error);  // a negative score is never taken
}

TEST(EmbDeepLight, SolverPicksTheFormatWithMoreEntries) {
  const TableInit init = small(1000, 16);
  const double full = 4.0 * 1000 * 16;
  // 0.5: CSR (32000 - 4004) / 5 = 5599 entries beats COO 32000 / 8 = 4000.
  SparseBudget b = solve_sparse_budget("x", init, 0.5 * full);
  EXPECT_EQ(b.format, SparseFormat::kCsr);
  EXPECT_EQ(b.K, 5599);
  // 0.01: 640 bytes do not hold the row pointers; COO holds 80 entries.
  b = solve_sparse_budget("x", init, 0.01 * full);
  EXPECT_EQ(b.format, SparseFormat::kCoo);
  EXPECT_EQ(b.K, 80);
  EXPECT_THROW(solve_sparse_budget("x", init, 7.0), Error);
}

TEST(EmbDeepLight, LookupIsTheTopKOfTheShadow) {
  auto t = make_embedding_table("DeepLight@0.3", small(50, 4));
  auto& d = as_deeplight(*t);
  const int64_t K = d.store().capacity();
  const auto keep = reference_top_k(d.shadow(), K);
  std::vector<float> ref(50 * 4, 0.0f);
  for (uint64_t p : keep) ref[p] = d.shadow().data()[p];
  std::vector<int64_t> ids(50);
  std::iota(ids.begin(), ids.end(), 0);
  std::vector<float> out(50 * 4);
  t->lookup(ids.data(), 50, out.data());
  EXPECT_EQ(out, ref);
  EXPECT_EQ(std::count_if(out.begin(), out.end(), [](float x) { return x != 0; }), K);
}

TEST(EmbDeepLight, BackwardAndSgdStepMatchAHandUpdate) {
  // T = 1000: pruning every 10 steps, so step 1 keeps the stored positions.
  auto t = make_embedding_table("DeepLight@0.3", small(40, 4));
  auto& d = as_deeplight(*t);
  const std::vector<float> w0(d.shadow().data(), d.shadow().data() + 160);
  const auto keep = reference_top_k(d.shadow(), d.store().capacity());
  const std::vector<int64_t> ids = {3, 7, 3, 39, 0};
  const std::vector<float> g = testing::random_weights(ids.size() * 4, 11);
  t->backward(ids.data(), ids.size(), g.data());
  t->step();
  std::vector<float> w1(w0);
  for (size_t i = 0; i < ids.size(); ++i) {
    std::vector<float> acc(4, 0.0f);
    for (size_t k = 0; k < ids.size(); ++k)
      if (ids[k] == ids[i])
        for (int j = 0; j < 4; ++j) acc[j] += g[k * 4 + j];
    for (int j = 0; j < 4; ++j) w1[ids[i] * 4 + j] = w0[ids[i] * 4 + j] - 0.5f * acc[j];
  }
  for (int p = 0; p < 160; ++p) ASSERT_NEAR(d.shadow().data()[p], w1[p], 1e-6) << p;
  std::vector<float> ref(160, 0.0f);
  for (uint64_t p : keep) ref[p] = w1[p];
  std::vector<int64_t> all(40);
  std::iota(all.begin(), all.end(), 0);
  std::vector<float> out(160);
  t->lookup(all.data(), 40, out.data());
  for (int p = 0; p < 160; ++p) EXPECT_NEAR(out[p], ref[p], 1e-6) << p;
}

TEST(EmbDeepLight, GradientOfStoredValuesMatchesFiniteDifferences) {
  auto t = make_embedding_table("DeepLight@0.3", small(30, 4));
  auto& d = as_deeplight(*t);
  const std::vector<int64_t> ids = {1, 4, 4, 29, 17, 8, 12, 20, 25};
  const std::vector<float> w = testing::random_weights(ids.size() * 4, 5);
  t->backward(ids.data(), ids.size(), w.data());
  float* val = static_cast<float*>(t->buffers().back().first);
  int checked = 0;
  for (int64_t r : {1, 4, 29, 17, 8, 12, 20, 25}) {
    for (int64_t k = d.store().begin(r); k < d.store().end(r); ++k, ++checked) {
      const double num = testing::numeric_grad(*t, val + k, ids, w, 1e-2f);
      EXPECT_NEAR(d.shadow().grad(r)[d.store().col(k)], num, 1e-4) << r;
    }
  }
  EXPECT_GT(checked, 3);
}

TEST(EmbDeepLight, CubicScheduleEndsWithKAliveEntriesWithinBudget) {
  const int64_t N = 200, D = 8, T = 50;  // delta = 1: a pruning event every step
  auto t = make_embedding_table("DeepLight@0.1", small(N, D, T));
  auto& d = as_deeplight(*t);
  const int64_t K = d.store().capacity();
  const double budget = 0.1 * 4 * N * D;
  EXPECT_EQ(d.alive_target(0), N * D);
  EXPECT_EQ(d.alive_target(T), K);
  EXPECT_EQ(d.alive_target(T / 2), K + int64_t(std::ceil((N * D - K) * 0.125)));
  std::vector<int64_t> ids(64);
  std::vector<float> g(64 * D);
  for (int64_t s = 1; s <= T + 5; ++s) {
    for (int64_t i = 0; i < 64; ++i) ids[i] = (s * 37 + i * 13) % N;
    for (size_t i = 0; i < g.size(); ++i) g[i] = 0.1f * hashed_uniform(s, i);
    t->backward(ids.data(), 64, g.data());
    t->step();
    EXPECT_LE(t->bytes(), budget);  // at every step, not only at the end
    if (s <= T) {
      ASSERT_EQ(d.alive_count(), d.alive_target(s)) << s;
    }
    if (s == T) {
      EXPECT_TRUE(d.schedule_done());
      // The stored set is the alive set.
      for (int64_t r = 0; r < N; ++r) {
        int alive_in_row = 0;
        for (int j = 0; j < D; ++j) alive_in_row += d.alive(r * D + j);
        EXPECT_EQ(d.store().end(r) - d.store().begin(r), alive_in_row);
        for (int64_t k = d.store().begin(r); k < d.store().end(r); ++k)
          EXPECT_TRUE(d.alive(r * D + d.store().col(k)));
      }
    }
  }
  EXPECT_EQ(d.alive_count(), K);
  EXPECT_LE(t->bytes(), budget);
  EXPECT_GE(t->bytes(), budget - 8);  // within one stored entry
  // After the schedule the stored positions are frozen.
  std::vector<int64_t> spans;
  for (int64_t r = 0; r < N; ++r) spans.push_back(d.store().end(r));
  for (int s = 0; s < 30; ++s) {
    t->backward(ids.data(), 64, g.data());
    t->step();
  }
  for (int64_t r = 0; r < N; ++r) EXPECT_EQ(d.store().end(r), spans[r]);
}

// The checks DeepLight and PEP share (the registry names them; PEP's own tests are in
// emb_pep_test.cpp).
class PrunedSparse : public ::testing::TestWithParam<std::string> {};

TEST_P(PrunedSparse, BudgetsOnCriteoLikeLayouts) {
  const std::string name = GetParam();
  for (int dim : {4, 16}) {
    const TableInit init = testing::criteo_like_layout(300, dim, false);
    const double full = 4.0 * init.rows * dim;
    const auto actual = testing::expect_budgets_met(name, init);
    const double budgets[3] = {0.5, 0.1, 0.01};
    for (int i = 0; i < 3; ++i) EXPECT_GE(actual[i], budgets[i] - 8.0 / full) << dim;
  }
  // D = 300: 2-byte columns.
  auto t = make_embedding_table(name + "@0.5", small(400, 300));
  EXPECT_LE(t->bytes(), 0.5 * 4 * 400 * 300);
  EXPECT_GE(t->bytes(), 0.5 * 4 * 400 * 300 - 6);
}

TEST_P(PrunedSparse, TrainingLowersTheLossOnAPlantedProblem) {
  // Targets with ~10% nonzero entries: a 0.3 budget stores 15% of the entries (COO).
  TableInit init = small(300, 8, 100);
  init.optimizer.kind = OptimizerConfig::Kind::kAdam;
  init.optimizer.lr = 0.02f;
  auto t = make_embedding_table(GetParam() + "@0.3", init);
  std::vector<float> target(300 * 8, 0.0f);
  for (size_t p = 0; p < target.size(); ++p)
    if (hashed_uniform(99, p) > 0.8f) target[p] = 0.5f * hashed_uniform(98, p);
  std::vector<int64_t> ids(300);
  std::iota(ids.begin(), ids.end(), 0);
  std::vector<float> out(target.size()), g(target.size());
  auto loss = [&] {
    t->lookup(ids.data(), 300, out.data());
    double s = 0;
    for (size_t i = 0; i < out.size(); ++i) s += (out[i] - target[i]) * (out[i] - target[i]);
    return s / double(out.size());
  };
  const double before = loss();
  for (int s = 0; s < 300; ++s) {
    loss();
    for (size_t i = 0; i < out.size(); ++i) g[i] = 2.0f * (out[i] - target[i]);
    t->backward(ids.data(), 300, g.data());
    t->step();
  }
  EXPECT_TRUE(dynamic_cast<PrunedSparseTable&>(*t).schedule_done());
  EXPECT_LT(loss(), 0.1 * before);
}

TEST_P(PrunedSparse, DeterministicInTheSeed) {
  auto emb = [&](uint64_t seed) {
    auto t = make_embedding_table(GetParam() + "@0.2", small(64, 4, 1000, seed));
    std::vector<int64_t> ids(64);
    std::iota(ids.begin(), ids.end(), 0);
    std::vector<float> out(64 * 4);
    t->lookup(ids.data(), 64, out.data());
    return out;
  };
  EXPECT_EQ(emb(4), emb(4));
  EXPECT_NE(emb(4), emb(5));
}

TEST_P(PrunedSparse, ErrorPaths) {
  const std::string name = GetParam();
  EXPECT_THROW(make_embedding_table(name, small(64, 4)), Error);  // needs a budget
  try {
    make_embedding_table(name + "@0.001", small(64, 4));  // 1 byte: not one entry
    FAIL() << "must throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kBadInput);
  }
  TableInit bad = small(64, 4);
  bad.schedule_steps = -1;
  EXPECT_THROW(make_embedding_table(name + "@0.2", bad), Error);
  auto t = make_embedding_table(name + "@0.2", small(64, 4));
  std::vector<float> out(4);
  for (int64_t id : {int64_t(-1), int64_t(64)}) {
    EXPECT_THROW(t->lookup(&id, 1, out.data()), Error);
    EXPECT_THROW(t->backward(&id, 1, out.data()), Error);
  }
}

INSTANTIATE_TEST_SUITE_P(Methods, PrunedSparse, ::testing::Values("DeepLight", "PEP"));

}  // namespace
}  // namespace embcomp::ctr

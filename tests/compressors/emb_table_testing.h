// Shared helpers of the CTR table tests: Criteo-like field layouts, the budget-honesty
// check, the exact-memory check (bytes == sum of buffers) and the numerical-gradient loss.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <numeric>
#include <string>
#include <vector>

#include "compressors/emb_params.h"
#include "compressors/emb_table.h"

namespace embcomp::ctr::testing {

/// A small layout: `fields` fields of rows/fields ids each, SGD with lr.
inline TableInit small_layout(int64_t rows, int dim, int fields = 2, float lr = 0.5f) {
  TableInit init;
  init.rows = rows;
  init.dim = dim;
  for (int f = 0; f <= fields; ++f) init.field_offsets.push_back(rows * f / fields);
  init.optimizer.kind = OptimizerConfig::Kind::kSGD;
  init.optimizer.lr = lr;
  return init;
}

/// Criteo Kaggle's 26 field cardinalities divided by scale (at least 1 each): scale 30
/// gives ~1.1M rows. counts: Zipf(1.05) per field over a seeded permutation of its ids,
/// like the skew of real logs (hot ids scattered over the id range); with hot_ids_first,
/// row v of a field is seen about 1e6 / (v + 1) times instead (ids in frequency order, as
/// eval/ctr_data.cpp numbers vocabularies).
inline TableInit criteo_like_layout(int64_t scale, int dim, bool with_counts,
                                    bool hot_ids_first = false) {
  static const int64_t kCriteo[26] = {1460,  583,     10131227, 2202608, 305,     24,   12517,
                                      633,   3,       93145,    5683,    8351593, 3194, 27,
                                      14992, 5461306, 10,       5652,    2173,    4,    7046547,
                                      18,    15,      286181,   105,     142572};
  TableInit init;
  init.dim = dim;
  init.field_offsets.push_back(0);
  for (int64_t c : kCriteo)
    init.field_offsets.push_back(init.field_offsets.back() + std::max<int64_t>(1, c / scale));
  init.rows = init.field_offsets.back();
  if (with_counts) {
    init.counts.resize(init.rows);
    for (size_t f = 0; f + 1 < init.field_offsets.size(); ++f) {
      const int64_t n = init.field_offsets[f + 1] - init.field_offsets[f];
      // rank of v: v * stride mod n, a permutation of [0, n) for a stride coprime with n.
      int64_t stride = 7919 % n;
      while (n > 1 && std::gcd(stride, n) != 1) ++stride;
      for (int64_t v = 0; v < n; ++v) {
        init.counts[init.field_offsets[f] + v] =
            hot_ids_first
                ? static_cast<uint32_t>(1000000 / (v + 1))
                : static_cast<uint32_t>(1e6 / std::pow(1.0 + (n > 1 ? (v * stride) % n : 0), 1.05));
      }
    }
  }
  init.seed = 7;
  return init;
}

/// The layout of the TT, DHE and MDE tests: hot ids first, seed 1.
inline TableInit criteo_like_init(int64_t scale, int dim, bool with_counts = false) {
  TableInit init = criteo_like_layout(scale, dim, with_counts, /*hot_ids_first=*/true);
  init.seed = 1;
  return init;
}

/// Sum of buffers() sizes; the memory contract says it equals bytes().
inline int64_t buffers_total(EmbeddingTable& t) {
  int64_t sum = 0;
  for (auto& b : t.buffers()) sum += static_cast<int64_t>(b.second);
  return sum;
}

/// "spec@B" for B in {0.5, 0.1, 0.01}: bytes <= B 4 N D exactly, and bytes >= 0.9 B 4 N D
/// unless gaps lists B with the fraction of the budget used by design (measured; 0.01 below
/// it is allowed, so a solver that starts wasting more fails); a gap of more than 2% has a
/// budget_note(); buffers() sum to bytes(). Returns the actuals (bytes / (4 N D)).
inline std::vector<double> expect_budgets_met(const std::string& name, const TableInit& init,
                                              const std::map<double, double>& gaps = {}) {
  std::vector<double> actual;
  for (double b : {0.5, 0.1, 0.01}) {
    const std::string spec = name + "@" + (b == 0.5 ? "0.5" : b == 0.1 ? "0.1" : "0.01");
    auto t = make_embedding_table(spec, init);
    const double full = 4.0 * double(init.rows) * init.dim;
    const double a = double(t->bytes()) / full;
    EXPECT_EQ(t->spec(), spec);
    EXPECT_LE(double(t->bytes()), b * full) << spec << " knob " << t->knob();
    const auto gap = gaps.find(b);
    EXPECT_GE(a / b, gap == gaps.end() ? 0.9 : gap->second - 0.01)
        << spec << " knob " << t->knob() << " note " << t->budget_note();
    EXPECT_EQ(t->budget_note().empty(), a >= 0.98 * b) << spec << ": " << t->budget_note();
    EXPECT_EQ(buffers_total(*t), t->bytes()) << spec;
    actual.push_back(a);
  }
  return actual;
}

/// sum_i out_i * r_i of a lookup: the scalar whose gradient wrt out is r.
inline double dot_lookup(EmbeddingTable& t, const std::vector<int64_t>& ids,
                         const std::vector<float>& r) {
  std::vector<float> out(ids.size() * t.dim());
  t.lookup(ids.data(), static_cast<int64_t>(ids.size()), out.data());
  double s = 0;
  for (size_t i = 0; i < out.size(); ++i) s += double(out[i]) * r[i];
  return s;
}

/// The same scalar under the name the numerical-gradient checks use.
inline double weighted_sum(EmbeddingTable& t, const std::vector<int64_t>& ids,
                           const std::vector<float>& weight) {
  return dot_lookup(t, ids, weight);
}

/// Central finite difference of weighted_sum with respect to *param.
inline double numeric_grad(EmbeddingTable& t, float* param, const std::vector<int64_t>& ids,
                           const std::vector<float>& weight, float h) {
  const float saved = *param;
  *param = saved + h;
  const double up = weighted_sum(t, ids, weight);
  *param = saved - h;
  const double down = weighted_sum(t, ids, weight);
  *param = saved;
  return (up - down) / (2.0 * double(h));
}

/// uniform(-1, 1) weights for the numerical-gradient loss.
inline std::vector<float> random_weights(size_t n, uint64_t seed) {
  std::vector<float> w(n);
  for (size_t i = 0; i < n; ++i) w[i] = hashed_uniform(seed, i);
  return w;
}

/// Drives a table's search phase (EmbeddingTable::searching) to its end: MSE steps toward
/// fixed per-row targets, 64 ids a step rotating over every row (so every row carries signal
/// during the search, as in a real run where every sample has an id per field), at most
/// max_steps. A table that never searches is returned untouched. Checkpoints and byte
/// counts describe the final table only after this.
inline void finish_search(EmbeddingTable& t, int64_t max_steps = 20000) {
  if (!t.searching()) return;
  const int d = t.dim();
  std::vector<int64_t> ids(64);
  std::vector<float> out(ids.size() * d), grad(out.size());
  for (int64_t s = 0; s < max_steps && t.searching(); ++s) {
    for (size_t i = 0; i < ids.size(); ++i)
      ids[i] = int64_t((uint64_t(s) * ids.size() + i) * 7919 % uint64_t(t.rows()));
    t.lookup(ids.data(), int64_t(ids.size()), out.data());
    for (size_t i = 0; i < out.size(); ++i)
      grad[i] = 2.0f * (out[i] - 0.1f * hashed_uniform(23, uint64_t(ids[i / d]) * d + i % d)) /
                float(out.size());
    t.backward(ids.data(), int64_t(ids.size()), grad.data());
    t.step();
  }
  ASSERT_FALSE(t.searching()) << t.spec() << ": the search did not end in " << max_steps
                              << " steps";
}

/// make_embedding_table(spec, init) with its search phase finished (finish_search).
inline std::unique_ptr<EmbeddingTable> make_final(const std::string& spec, const TableInit& init) {
  auto t = make_embedding_table(spec, init);
  finish_search(*t);
  return t;
}

/// bytes() equals the sum of buffers() sizes (the memory contract).
inline void expect_buffers_sum_to_bytes(EmbeddingTable& t) {
  EXPECT_EQ(buffers_total(t), t.bytes());
}

}  // namespace embcomp::ctr::testing

// Shared helpers of the CTR table tests (TT, DHE, MDE): a Criteo-like field layout, the
// loss used by the numerical-gradient checks, and the bytes == sum(buffers) contract.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "compressors/emb_params.h"
#include "compressors/emb_table.h"

namespace embcomp::ctr::testing {

/// Criteo Kaggle's 26 per-field cardinalities divided by scale (each at least 1), with
/// Zipf-like counts (row v of a field seen about total / (v + 1) times) when with_counts.
inline TableInit criteo_like_init(int64_t scale, int dim, bool with_counts = false) {
  static const int64_t kCard[26] = {1460,  583,     10131227, 2202608, 305,     24,   12517,
                                    633,   3,       93145,    5683,    8351593, 3194, 27,
                                    14992, 5461306, 10,       5652,    2173,    4,    7046547,
                                    18,    15,      286181,   105,     142572};
  TableInit init;
  init.dim = dim;
  init.field_offsets = {0};
  for (int64_t c : kCard)
    init.field_offsets.push_back(init.field_offsets.back() + std::max<int64_t>(1, c / scale));
  init.rows = init.field_offsets.back();
  if (with_counts) {
    init.counts.resize(init.rows);
    for (size_t f = 0; f + 1 < init.field_offsets.size(); ++f)
      for (int64_t v = 0; v < init.field_offsets[f + 1] - init.field_offsets[f]; ++v)
        init.counts[init.field_offsets[f] + v] = static_cast<uint32_t>(1000000 / (v + 1));
  }
  return init;
}

/// sum_i,j out[i][j] * weight[i][j] for the table's current parameters, in double.
inline double weighted_sum(EmbeddingTable& t, const std::vector<int64_t>& ids,
                           const std::vector<float>& weight) {
  std::vector<float> out(ids.size() * t.dim());
  t.lookup(ids.data(), static_cast<int64_t>(ids.size()), out.data());
  double s = 0;
  for (size_t i = 0; i < out.size(); ++i) s += double(out[i]) * weight[i];
  return s;
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

/// bytes() equals the sum of buffers() sizes (the memory contract).
inline void expect_buffers_sum_to_bytes(EmbeddingTable& t) {
  size_t sum = 0;
  for (auto& b : t.buffers()) sum += b.second;
  EXPECT_EQ(static_cast<int64_t>(sum), t.bytes());
}

}  // namespace embcomp::ctr::testing

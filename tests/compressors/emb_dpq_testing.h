// Shared references of the DPQ and MGQE tests: the code a row should get (argmax of the
// query/key scores) and the softmax surrogate whose gradient in Q and Kb is the
// straight-through estimator's. kc(r): the centroids row r may use, known to the test.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <vector>

#include "compressors/emb_dpq.h"

namespace embcomp::ctr::testing {

using CentroidsOf = std::function<int(int64_t)>;

// Independent argmax_k <q_j, Kb_k,j> over the first kc centroids.
inline uint32_t ref_code(DpqTable& t, int64_t r, int j, int kc) {
  const int D = t.dim(), d = D / t.params().M;
  double best = -1e300;
  uint32_t arg = 0;
  for (int k = 0; k < kc; ++k) {
    double s = 0;
    for (int x = 0; x < d; ++x)
      s += double(t.query().row(r)[j * d + x]) * t.keys().data()[k * D + j * d + x];
    if (s > best) best = s, arg = uint32_t(k);
  }
  return arg;
}

// Surrogate of the straight-through backward: sum_i <w_i, soft_i> with
// soft_i,j = sum_k softmax(<q, Kb_k> / tau)_k V_k (its gradient in Q and Kb is the STE's).
inline double soft_loss(DpqTable& t, const std::vector<int64_t>& ids, const std::vector<float>& w,
                        const CentroidsOf& kc_of) {
  const int D = t.dim(), M = t.params().M, d = D / M;
  double L = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    const int kc = kc_of(ids[i]);
    for (int j = 0; j < M; ++j) {
      std::vector<double> s(kc);
      double mx = -1e300, z = 0;
      for (int k = 0; k < kc; ++k) {
        s[k] = 0;
        for (int x = 0; x < d; ++x)
          s[k] += double(t.query().row(ids[i])[j * d + x]) * t.keys().data()[k * D + j * d + x];
        s[k] /= t.params().tau;
        mx = std::max(mx, s[k]);
      }
      for (int k = 0; k < kc; ++k) z += std::exp(s[k] - mx);
      for (int k = 0; k < kc; ++k)
        for (int x = 0; x < d; ++x)
          L +=
              std::exp(s[k] - mx) / z * t.values().data()[k * D + j * d + x] * w[i * D + j * d + x];
    }
  }
  return L;
}

inline double fd(DpqTable& t, float* param, const std::vector<int64_t>& ids,
                 const std::vector<float>& w, const CentroidsOf& kc_of) {
  const float saved = *param, h = 1e-2f;
  *param = saved + h;
  const double up = soft_loss(t, ids, w, kc_of);
  *param = saved - h;
  const double down = soft_loss(t, ids, w, kc_of);
  *param = saved;
  return (up - down) / (2.0 * h);
}

}  // namespace embcomp::ctr::testing

#include "eval/ctr_metrics.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "eval/ctr_layers.h"
#include "toolkit/error.h"

namespace embcomp::ctr {

double auc(const float* score, const float* label, int64_t n) {
  EC_CHECK(n > 0, kBadInput, "AUC of an empty set");
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  for (int64_t i = 0; i < n; ++i)
    EC_CHECK(!std::isnan(score[i]), kBadInput, "AUC: score " << i << " is NaN");
  std::sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return score[a] < score[b]; });
  double pos_rank_sum = 0;
  int64_t pos = 0;
  for (int64_t i = 0; i < n;) {
    int64_t j = i;
    while (j < n && score[order[j]] == score[order[i]]) ++j;
    const double avg_rank = 0.5 * static_cast<double>(i + 1 + j);  // mean of i+1 .. j
    for (int64_t k = i; k < j; ++k)
      if (label[order[k]] > 0.5f) {
        pos_rank_sum += avg_rank;
        ++pos;
      }
    i = j;
  }
  const int64_t neg = n - pos;
  EC_CHECK(pos > 0 && neg > 0, kBadInput,
           "AUC needs both classes, got " << pos << " positives and " << neg << " negatives");
  return (pos_rank_sum - 0.5 * static_cast<double>(pos) * (pos + 1)) /
         (static_cast<double>(pos) * neg);
}

double logloss(const float* p, const float* label, int64_t n, double eps) {
  EC_CHECK(n > 0, kBadInput, "logloss of an empty set");
  double s = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double q = std::clamp(static_cast<double>(p[i]), eps, 1.0 - eps);
    s -= label[i] > 0.5f ? std::log(q) : std::log(1.0 - q);
  }
  return s / n;
}

double logloss_from_logits(const float* z, const float* label, int64_t n) {
  EC_CHECK(n > 0, kBadInput, "logloss of an empty set");
  return bce_with_logits(z, label, n, nullptr, 0.0f) / n;
}

}  // namespace embcomp::ctr

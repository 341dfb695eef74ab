// CTR metrics (issue 7): exact ROC AUC and logloss.
//
//   auc      = (sum of the ranks of the positives - P (P + 1) / 2) / (P N)
//              ranks 1..n by ascending score; tied scores share the average of their
//              ranks (the Mann-Whitney U statistic: a tied positive/negative pair counts
//              1/2). O(n log n): one sort. P positives, N negatives.
//   logloss  = -(1/n) sum y log p + (1 - y) log(1 - p),  p clipped to [eps, 1 - eps]
//   logloss_from_logits = (1/n) sum max(z, 0) - z y + log(1 + exp(-|z|))  (no clipping)
#pragma once

#include <cstdint>

namespace embcomp::ctr {

/// Exact AUC of scores against 0/1 labels (a label > 0.5 is positive). Throws kBadInput
/// when n = 0, when either class is missing, or a score is NaN.
double auc(const float* score, const float* label, int64_t n);
/// Mean log loss of probabilities p (clipped to [eps, 1 - eps]). kBadInput when n = 0.
double logloss(const float* p, const float* label, int64_t n, double eps = 1e-7);
/// Mean log loss of logits z, computed stably. kBadInput when n = 0.
double logloss_from_logits(const float* z, const float* label, int64_t n);

}  // namespace embcomp::ctr

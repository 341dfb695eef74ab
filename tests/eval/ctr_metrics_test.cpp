// CTR metrics (eval/ctr_metrics.h): exact AUC with ties and logloss, hand-checked answers.
#include "eval/ctr_metrics.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "toolkit/error.h"

namespace embcomp::ctr {
namespace {

// Pairwise definition: P(score+ > score-) + 0.5 P(tie); O(P N), for checking.
double auc_pairs(const std::vector<float>& s, const std::vector<float>& y) {
  double win = 0, pairs = 0;
  for (size_t i = 0; i < s.size(); ++i)
    for (size_t j = 0; j < s.size(); ++j)
      if (y[i] > 0.5f && y[j] < 0.5f) {
        pairs += 1;
        win += s[i] > s[j] ? 1.0 : s[i] == s[j] ? 0.5 : 0.0;
      }
  return win / pairs;
}

TEST(CtrMetrics, AucKnownAnswers) {
  // Perfect, reversed, and the textbook example.
  std::vector<float> y = {0, 0, 1, 1};
  std::vector<float> s = {0.1f, 0.2f, 0.3f, 0.4f};
  EXPECT_DOUBLE_EQ(auc(s.data(), y.data(), 4), 1.0);
  std::vector<float> r = {0.4f, 0.3f, 0.2f, 0.1f};
  EXPECT_DOUBLE_EQ(auc(r.data(), y.data(), 4), 0.0);
  // scores 0.1(-) 0.4(-) 0.35(+) 0.8(+): 0.35 loses to 0.4, the other 3 pairs are won.
  std::vector<float> y2 = {0, 0, 1, 1};
  std::vector<float> s2 = {0.1f, 0.4f, 0.35f, 0.8f};
  EXPECT_DOUBLE_EQ(auc(s2.data(), y2.data(), 4), 0.75);
}

TEST(CtrMetrics, AucTiesCountHalf) {
  // All scores equal: every pair is a tie -> 0.5.
  std::vector<float> y = {1, 0, 1, 0, 0};
  std::vector<float> s(5, 0.3f);
  EXPECT_DOUBLE_EQ(auc(s.data(), y.data(), 5), 0.5);
  // Positives {0.5, 0.9}, negatives {0.5, 0.1, 0.5}: pairs (0.5 vs 0.5) tie twice,
  // 0.5 > 0.1 once, 0.9 beats all three: (2*0.5 + 1 + 3) / 6 = 5/6.
  std::vector<float> y2 = {1, 0, 0, 1, 0};
  std::vector<float> s2 = {0.5f, 0.5f, 0.1f, 0.9f, 0.5f};
  EXPECT_DOUBLE_EQ(auc(s2.data(), y2.data(), 5), 5.0 / 6.0);
  // Random scores with many ties agree with the pairwise definition.
  std::mt19937_64 rng(5);
  std::vector<float> s3(300), y3(300);
  for (int i = 0; i < 300; ++i) {
    s3[i] = static_cast<float>(rng() % 17);
    y3[i] = (rng() % 3 == 0) ? 1.0f : 0.0f;
  }
  EXPECT_NEAR(auc(s3.data(), y3.data(), 300), auc_pairs(s3, y3), 1e-12);
}

TEST(CtrMetrics, AucErrors) {
  std::vector<float> y = {1, 1}, s = {0.1f, 0.2f};
  EXPECT_THROW(auc(s.data(), y.data(), 2), Error);
  EXPECT_THROW(auc(s.data(), y.data(), 0), Error);
  std::vector<float> y2 = {1, 0}, s2 = {NAN, 0.2f};
  EXPECT_THROW(auc(s2.data(), y2.data(), 2), Error);
}

TEST(CtrMetrics, LoglossKnownAnswers) {
  std::vector<float> y = {1, 0};
  std::vector<float> p = {0.8f, 0.25f};
  EXPECT_NEAR(logloss(p.data(), y.data(), 2), -(std::log(0.8) + std::log(0.75)) / 2, 1e-7);
  // Clipping: p = 0 for a positive costs -log(1e-7), not infinity.
  std::vector<float> p0 = {0.0f, 0.0f};
  EXPECT_NEAR(logloss(p0.data(), y.data(), 2), -std::log(1e-7) / 2, 1e-6);
  // From logits: z = log(0.8/0.2) is p = 0.8.
  std::vector<float> z = {static_cast<float>(std::log(4.0)), static_cast<float>(std::log(1.0 / 3))};
  EXPECT_NEAR(logloss_from_logits(z.data(), y.data(), 2), -(std::log(0.8) + std::log(0.75)) / 2,
              1e-6);
  EXPECT_THROW(logloss(p.data(), y.data(), 0), Error);
}

}  // namespace
}  // namespace embcomp::ctr

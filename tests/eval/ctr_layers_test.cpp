// CTR layers (eval/ctr_layers.h): Linear, ReLU, MLP and binary cross-entropy against
// central finite differences in double-checked tiny sizes, plus known answers.
#include "eval/ctr_layers.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

namespace embcomp::ctr {
namespace {

std::vector<float> randn(size_t n, uint64_t seed, float scale = 1.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = g(rng);
  return v;
}

// Loss sum(y * R) of an MLP's output, in double.
double mlp_loss(const Mlp& m, const std::vector<float>& w, const std::vector<float>& x, int64_t n,
                const std::vector<float>& R) {
  Mlp::Cache c;
  const float* y = m.forward(w.data(), x.data(), n, c);
  double s = 0;
  for (int64_t i = 0; i < n * m.out(); ++i) s += double(y[i]) * R[i];
  return s;
}

void expect_close(double analytic, double numeric, const std::string& what) {
  EXPECT_NEAR(analytic, numeric, 2e-3 + 2e-2 * std::abs(numeric)) << what;
}

TEST(CtrLayers, LinearKnownAnswer) {
  // W (2 x 3) = [[1 2 3] [4 5 6]], b = [0.5 -100 1]; x = [1 -1]: xW + b = [-2.5 -103 -2].
  Linear l{2, 3, 1};
  std::vector<float> p = {99, 1, 2, 3, 4, 5, 6, 0.5f, -100, 1};
  const float x[2] = {1, -1};
  float y[3];
  l.forward(p.data(), x, 1, y, false);
  EXPECT_FLOAT_EQ(y[0], -2.5f);
  EXPECT_FLOAT_EQ(y[1], -103.0f);
  EXPECT_FLOAT_EQ(y[2], -2.0f);
  l.forward(p.data(), x, 1, y, true);
  EXPECT_EQ(y[0], 0.0f);
  const float x2[2] = {1, 1};
  l.forward(p.data(), x2, 1, y, true);
  EXPECT_FLOAT_EQ(y[0], 5.5f);
  EXPECT_FLOAT_EQ(y[2], 10.0f);
}

TEST(CtrLayers, InitIsSeededXavierHeAndZeroBias) {
  Linear l{50, 20, 0};
  std::vector<float> a(l.size()), b(l.size()), c(l.size());
  l.init(a.data(), InitKind::kHe, 7);
  l.init(b.data(), InitKind::kHe, 7);
  l.init(c.data(), InitKind::kXavier, 8);
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  const double he = std::sqrt(6.0 / 50), xa = std::sqrt(6.0 / 70);
  double maxa = 0, maxc = 0;
  for (int i = 0; i < 1000; ++i) {
    maxa = std::max(maxa, double(std::abs(a[i])));
    maxc = std::max(maxc, double(std::abs(c[i])));
  }
  EXPECT_LE(maxa, he);
  EXPECT_GT(maxa, 0.9 * he);  // the whole range is used
  EXPECT_LE(maxc, xa);
  EXPECT_GT(maxc, 0.9 * xa);
  for (int j = 0; j < 20; ++j) EXPECT_EQ(a[1000 + j], 0.0f);
}

TEST(CtrLayers, MlpGradientsMatchFiniteDifferences) {
  for (bool relu_last : {false, true}) {
    const int64_t n = 5;
    Mlp m({4, 6, 5, 3}, relu_last, 2);  // offset 2: layers live inside a bigger vector
    std::vector<float> w(2 + m.size() + 3, 0.0f);
    m.init(w.data(), 3);
    // Non-zero biases so that the bias gradients and ReLU masks are exercised.
    for (auto& l : m.layers())
      for (int j = 0; j < l.out; ++j) w[l.offset + l.in * l.out + j] = 0.1f * (j % 3) - 0.05f;
    auto x = randn(n * 4, 11);
    auto R = randn(n * 3, 12);
    Mlp::Cache c;
    m.forward(w.data(), x.data(), n, c);
    std::vector<float> grad(w.size(), 0.0f), dx(n * 4);
    m.backward(w.data(), x.data(), R.data(), n, c, grad.data(), dx.data());
    EXPECT_EQ(grad[0], 0.0f);  // outside the MLP's range: untouched
    const double h = 1e-3;
    double max_grad = 0;
    for (int64_t k = 2; k < 2 + m.size(); ++k) {
      auto wp = w, wm = w;
      wp[k] += h;
      wm[k] -= h;
      const double num = (mlp_loss(m, wp, x, n, R) - mlp_loss(m, wm, x, n, R)) / (2 * h);
      expect_close(grad[k], num, "param " + std::to_string(k));
      max_grad = std::max(max_grad, std::abs(num));
    }
    EXPECT_GT(max_grad, 0.1);
    for (size_t k = 0; k < x.size(); ++k) {
      auto xp = x, xm = x;
      xp[k] += h;
      xm[k] -= h;
      const double num = (mlp_loss(m, w, xp, n, R) - mlp_loss(m, w, xm, n, R)) / (2 * h);
      expect_close(dx[k], num, "input " + std::to_string(k));
    }
  }
}

TEST(CtrLayers, BceWithLogitsKnownAnswersStableAndGradient) {
  const float z[4] = {0.0f, 2.0f, -3.0f, 100.0f};
  const float y[4] = {1, 0, 0, 1};
  float dz[4];
  const double sum = bce_with_logits(z, y, 4, dz, 0.5f);
  const double want = std::log(2.0) + (2 + std::log1p(std::exp(-2.0))) +
                      std::log1p(std::exp(-3.0)) + std::log1p(std::exp(-100.0));
  EXPECT_NEAR(sum, want, 1e-6);
  EXPECT_FLOAT_EQ(dz[0], 0.5f * (0.5f - 1.0f));
  EXPECT_NEAR(dz[1], 0.5 / (1 + std::exp(-2.0)), 1e-7);
  EXPECT_NEAR(dz[3], 0.0, 1e-7);
  // A huge wrong logit gives a huge finite loss, not inf/NaN.
  const float big = -1000.0f, one = 1.0f;
  EXPECT_NEAR(bce_with_logits(&big, &one, 1, nullptr, 0), 1000.0, 1e-3);
  EXPECT_EQ(sigmoid(-1000.0f), 0.0f);
  EXPECT_EQ(sigmoid(1000.0f), 1.0f);
  for (float zi : {-2.0f, -0.3f, 0.7f, 4.0f})
    for (float yi : {0.0f, 1.0f}) {
      float g;
      bce_with_logits(&zi, &yi, 1, &g, 1.0f);
      const float zp = zi + 1e-3f, zm = zi - 1e-3f;
      const double num =
          (bce_with_logits(&zp, &yi, 1, nullptr, 0) - bce_with_logits(&zm, &yi, 1, nullptr, 0)) /
          2e-3;
      EXPECT_NEAR(g, num, 1e-3);
    }
}

}  // namespace
}  // namespace embcomp::ctr

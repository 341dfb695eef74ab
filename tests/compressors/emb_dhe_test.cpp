// DHE (Deep Hash Embedding) CTR table: the universal hash encoding and the MLP against a
// hand-written double-precision reference (forward, backprop, SGD step), finite-difference
// gradients for Mish and ReLU, the width solver on a Criteo-like layout, determinism in
// the seed, the activation cache, and the error paths; BatchNorm (running statistics) and
// one network per field against a reference and finite differences; the study preset.
#include "compressors/emb_dhe.h"

#include <gtest/gtest.h>

#include <cmath>

#include "compressors/emb_table.h"
#include "compressors/emb_table_testing.h"
#include "toolkit/error.h"

namespace embcomp::ctr {
namespace {

__extension__ typedef unsigned __int128 u128;
constexpr uint64_t kP = (uint64_t{1} << 61) - 1;

TableInit small_init(uint64_t seed = 3) {
  TableInit init;
  init.rows = 1000;
  init.dim = 4;
  init.field_offsets = {0, 400, 1000};
  init.seed = seed;
  init.optimizer.kind = OptimizerConfig::Kind::kSGD;
  init.optimizer.lr = 0.1f;
  return init;
}

DheTableParams small_params(DheTableParams::Activation act) {
  DheTableParams p;
  p.k = 8;
  p.m = 1000;
  p.L = 2;
  p.w = 5;
  p.bn = false;
  p.per_field = false;
  p.act = act;
  return p;
}

double act_ref(DheTableParams::Activation a, double x) {
  if (a == DheTableParams::Activation::kReLU) return x > 0 ? x : 0;
  return x * std::tanh(std::log1p(std::exp(x)));
}
double act_grad_ref(DheTableParams::Activation a, double x) {
  if (a == DheTableParams::Activation::kReLU) return x > 0 ? 1 : 0;
  const double sp = std::log1p(std::exp(x)), t = std::tanh(sp);
  return t + x * (1 - t * t) / (1 + std::exp(-x));
}

TEST(EmbDHE, BytesFollowTheFormulaAndBuffers) {
  DheTable t(small_init(), small_params(DheTableParams::Activation::kMish), "DHE");
  // 4 (k w + w + (w^2 + w) + w D + D) + 16 k
  EXPECT_EQ(t.bytes(), 4 * (8 * 5 + 5 + 30 + 5 * 4 + 4) + 16 * 8);
  EXPECT_EQ(t.bytes(), t.params().bytes(4, 2));
  testing::expect_buffers_sum_to_bytes(t);
  EXPECT_EQ(t.knob(), "k=8,L=2,w=5");
  // With BN and one network per field (2 fields): per network the weights plus gamma, beta,
  // mean and variance of each hidden layer; the hash seeds once.
  DheTableParams p = small_params(DheTableParams::Activation::kMish);
  p.bn = true;
  p.per_field = true;
  DheTable s(small_init(), p, "DHE");
  EXPECT_EQ(s.networks(), 2);
  EXPECT_EQ(s.bytes(), 2 * 4 * (8 * 5 + 5 + 30 + 5 * 4 + 4 + 4 * 2 * 5) + 16 * 8);
  EXPECT_EQ(s.bytes(), s.params().bytes(4, 2));
  testing::expect_buffers_sum_to_bytes(s);
  EXPECT_EQ(s.knob(), "k=8,L=2,w=5,BN,per-field");
  // The study preset is the default.
  const DheTableParams study = DheTableParams::study();
  EXPECT_EQ(study.k, 1024);
  EXPECT_EQ(study.L, 5);
  EXPECT_TRUE(study.bn);
  EXPECT_TRUE(study.per_field);
  EXPECT_EQ(study.act, DheTableParams::Activation::kMish);
  EXPECT_EQ(make_embedding_table("DHE", small_init())->knob(), "k=1024,L=5,w=128,BN,per-field");
  EXPECT_EQ(make_embedding_table("DHElite", small_init())->knob(), "k=64,L=2,w=128");
}

DheTableParams bn_params() {
  DheTableParams p = small_params(DheTableParams::Activation::kMish);
  p.bn = true;
  p.per_field = true;
  return p;
}

/// Moves BN's gamma, beta and running statistics off their identity init so the checks see
/// them.
void perturb_bn(DheTable& t) {
  for (int g = 0; g < t.networks(); ++g) {
    for (int l = 0; l < t.params().L; ++l) {
      auto& gamma = t.bn_params(g)[2 * l];
      auto& beta = t.bn_params(g)[2 * l + 1];
      for (int j = 0; j < t.params().w; ++j) {
        gamma.data()[j] = 1.0f + 0.5f * hashed_uniform(11 + g, l * 100 + j);
        beta.data()[j] = 0.3f * hashed_uniform(12 + g, l * 100 + j);
        t.running_mean(g, l)[j] = 0.2f * hashed_uniform(13 + g, l * 100 + j);
        t.running_var(g, l)[j] = 1.0f + 0.8f * hashed_uniform(14 + g, l * 100 + j);
      }
    }
  }
}

TEST(EmbDHE, BatchNormPerFieldForwardMatchesReference) {
  DheTable t(small_init(), bn_params(), "DHE");
  perturb_bn(t);
  const int k = 8, w = 5, D = 4;
  const std::vector<int64_t> ids = {3, 999, 400, 3};
  std::vector<float> out(ids.size() * D);
  t.lookup(ids.data(), int64_t(ids.size()), out.data());
  for (size_t s = 0; s < ids.size(); ++s) {
    const int g = ids[s] < 400 ? 0 : 1;  // field 0 = [0, 400), field 1 = [400, 1000)
    std::vector<float> x(k);
    t.encode(&ids[s], 1, x.data());
    std::vector<double> h(x.begin(), x.end());
    auto& P = t.layers(g);
    for (int l = 0; l < 3; ++l) {
      const int fin = l == 0 ? k : w, fout = l == 2 ? D : w;
      std::vector<double> z(fout);
      for (int o = 0; o < fout; ++o) {
        z[o] = P[2 * l + 1].data()[o];
        for (int i = 0; i < fin; ++i) z[o] += h[i] * P[2 * l].data()[i * fout + o];
        if (l < 2) {
          const double a = t.bn_params(g)[2 * l].data()[o] * (z[o] - t.running_mean(g, l)[o]) /
                               std::sqrt(t.running_var(g, l)[o] + 1e-5) +
                           t.bn_params(g)[2 * l + 1].data()[o];
          z[o] = act_ref(DheTableParams::Activation::kMish, a);
        }
      }
      h = z;
    }
    for (int j = 0; j < D; ++j) EXPECT_NEAR(out[s * D + j], h[j], 1e-5) << "id " << ids[s];
  }
}

TEST(EmbDHE, BatchNormPerFieldGradientsMatchFiniteDifferences) {
  DheTable t(small_init(), bn_params(), "DHE");
  perturb_bn(t);
  const std::vector<int64_t> ids = {1, 2, 3, 500, 500, 998};
  const std::vector<float> wts = testing::random_weights(ids.size() * 4, 4);
  t.lookup(ids.data(), ids.size(), std::vector<float>(ids.size() * 4).data());
  t.backward(ids.data(), ids.size(), wts.data());
  double max_g = 0;
  for (int g = 0; g < 2; ++g)
    for (auto* group : {&t.layers(g), &t.bn_params(g)})
      for (auto& layer : *group)
        for (int64_t e = 0; e < layer.size(); ++e) {
          const double num = testing::numeric_grad(t, layer.data() + e, ids, wts, 1e-3f);
          EXPECT_NEAR(layer.grad()[e], num, 3e-3 * (1 + std::abs(num))) << "network " << g;
          max_g = std::max(max_g, std::abs(num));
        }
  EXPECT_GT(max_g, 0.01);
}

TEST(EmbDHE, PerFieldNetworksAreSeparate) {
  DheTable t(small_init(), bn_params(), "DHE");
  const std::vector<int64_t> f0 = {1, 2, 399};
  std::vector<float> a(12), b(12);
  t.lookup(f0.data(), 3, a.data());
  // Field 0's ids never touch network 1: no gradient there, and its weights do not matter.
  t.backward(f0.data(), 3, testing::random_weights(12, 5).data());
  for (auto& layer : t.layers(1))
    for (int64_t e = 0; e < layer.size(); ++e) EXPECT_EQ(layer.grad()[e], 0.0f);
  DheTable u(small_init(), bn_params(), "DHE");
  u.lookup(f0.data(), 3, a.data());
  for (auto& layer : u.layers(1))
    for (int64_t e = 0; e < layer.size(); ++e) layer.data()[e] += 1.0f;
  u.lookup(f0.data(), 3, b.data());
  EXPECT_EQ(a, b);
}

TEST(EmbDHE, BatchNormStatisticsComeFromTheFirstTrainedBatch) {
  DheTable t(small_init(), bn_params(), "DHE");
  // 16 distinct ids of network 0 (field 0 = [0, 400)), repeated, and one of network 1.
  std::vector<int64_t> ids;
  for (int64_t i = 0; i < 16; ++i) ids.push_back(10 + 7 * i);
  ids.push_back(17);
  ids.push_back(700);
  const int64_t n = int64_t(ids.size());
  std::vector<float> out(n * 4);
  // An evaluation lookup followed by step() (nothing trained) leaves the statistics alone.
  t.lookup(ids.data(), n, out.data());
  t.step();
  EXPECT_EQ(t.running_mean(0, 0), std::vector<float>(5, 0.0f));
  EXPECT_EQ(t.running_var(0, 0), std::vector<float>(5, 1.0f));
  // The first trained batch: mu = mean(Z1), var = var(Z1) over network 0's 16 distinct ids
  // (Z1 = X0 W0 + b0, computed before the step moves W0).
  const std::vector<float> W0(t.layers(0)[0].data(), t.layers(0)[0].data() + 8 * 5);
  const std::vector<float> b0(t.layers(0)[1].data(), t.layers(0)[1].data() + 5);
  t.lookup(ids.data(), n, out.data());
  t.backward(ids.data(), n, testing::random_weights(n * 4, 6).data());
  t.step();
  std::vector<float> x(16 * 8);
  t.encode(ids.data(), 16, x.data());
  for (int j = 0; j < 5; ++j) {
    double z[16], mean = 0, var = 0;
    for (int s = 0; s < 16; ++s) {
      z[s] = b0[j];
      for (int i = 0; i < 8; ++i) z[s] += x[s * 8 + i] * W0[i * 5 + j];
      mean += z[s] / 16;
    }
    for (int s = 0; s < 16; ++s) var += (z[s] - mean) * (z[s] - mean) / 16;
    EXPECT_NEAR(t.running_mean(0, 0)[j], mean, 1e-5);
    EXPECT_NEAR(t.running_var(0, 0)[j], std::max(var, 1e-4), 1e-5);
  }
  // Network 1 saw one id (700): its statistics wait for a batch with 16.
  EXPECT_EQ(t.running_var(1, 0), std::vector<float>(5, 1.0f));
  // Then they stay fixed.
  const std::vector<float> mu = t.running_mean(0, 0);
  t.lookup(ids.data(), n, out.data());
  t.backward(ids.data(), n, testing::random_weights(n * 4, 7).data());
  t.step();
  EXPECT_EQ(t.running_mean(0, 0), mu);
}

TEST(EmbDHE, StudyPresetSolverIsExactOrRefuses) {
  const TableInit init = testing::criteo_like_init(100, 16);
  const int F = int(init.field_offsets.size()) - 1;
  const double full = 4.0 * init.rows * init.dim;
  for (double B : {0.5, 0.1}) {
    const DheTableParams p = dhe_solve_budget("DHE@x", DheTableParams::study(), 16, F, B * full);
    EXPECT_LE(p.bytes(16, F), B * full);
    DheTableParams wider = p;
    ++wider.w;
    EXPECT_GT(wider.bytes(16, F), B * full) << B;  // the largest width that fits
  }
  // 26 networks of k = 1024 inputs do not fit in 0.001 of this table: refused, not exceeded.
  try {
    make_embedding_table("DHE@0.001", init);
    FAIL() << "an impossible budget must throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kBadInput);
    EXPECT_NE(e.message().find("cannot be met"), std::string::npos) << e.message();
  }
}

TEST(EmbDHE, ForwardBackwardSgdMatchHandReference) {
  for (auto act : {DheTableParams::Activation::kMish, DheTableParams::Activation::kReLU}) {
    DheTable t(small_init(), small_params(act), "DHE");
    const int k = 8, w = 5, D = 4;
    const std::vector<int64_t> ids = {0, 999, 17, 17, 400};
    const int64_t n = ids.size();
    // The hash seeds are the first buffer: k pairs (a_i, b_i).
    const uint64_t* ab = static_cast<const uint64_t*>(t.buffers()[0].first);
    std::vector<std::vector<double>> x0(n, std::vector<double>(k));
    for (int64_t s = 0; s < n; ++s)
      for (int i = 0; i < k; ++i) {
        ASSERT_GE(ab[2 * i], 1u);
        ASSERT_LT(ab[2 * i], kP);
        ASSERT_LT(ab[2 * i + 1], kP);
        const uint64_t h =
            uint64_t((u128(ab[2 * i]) * uint64_t(ids[s]) + ab[2 * i + 1]) % kP) % 1000;
        EXPECT_EQ(t.hash(i, ids[s]), int64_t(h));
        x0[s][i] = 2.0 * double(h) / 999.0 - 1.0;
      }
    // Forward in double.
    auto& P = t.layers();
    std::vector<std::vector<float>> before;
    for (auto& l : P) before.emplace_back(l.data(), l.data() + l.size());
    const int fan_in[3] = {k, w, w}, fan_out[3] = {w, w, D};
    std::vector<std::vector<std::vector<double>>> zs(3), hs(4);
    hs[0] = x0;
    for (int l = 0; l < 3; ++l) {
      zs[l].assign(n, std::vector<double>(fan_out[l]));
      hs[l + 1].assign(n, std::vector<double>(fan_out[l]));
      for (int64_t s = 0; s < n; ++s)
        for (int o = 0; o < fan_out[l]; ++o) {
          double z = before[2 * l + 1][o];
          for (int i = 0; i < fan_in[l]; ++i) z += hs[l][s][i] * before[2 * l][i * fan_out[l] + o];
          zs[l][s][o] = z;
          hs[l + 1][s][o] = l == 2 ? z : act_ref(act, z);
        }
    }
    std::vector<float> out(n * D);
    t.lookup(ids.data(), n, out.data());
    for (int64_t s = 0; s < n; ++s)
      for (int j = 0; j < D; ++j) EXPECT_NEAR(out[s * D + j], hs[3][s][j], 1e-5);
    // Backprop in double.
    const std::vector<float> g = testing::random_weights(n * D, 9);
    std::vector<std::vector<double>> grads(6);
    for (int l = 0; l < 3; ++l) {
      grads[2 * l].assign(size_t(fan_in[l]) * fan_out[l], 0.0);
      grads[2 * l + 1].assign(fan_out[l], 0.0);
    }
    std::vector<std::vector<double>> dz(n, std::vector<double>(D));
    for (int64_t s = 0; s < n; ++s)
      for (int j = 0; j < D; ++j) dz[s][j] = g[s * D + j];
    for (int l = 2; l >= 0; --l) {
      if (l < 2)
        for (int64_t s = 0; s < n; ++s)
          for (int o = 0; o < fan_out[l]; ++o) dz[s][o] *= act_grad_ref(act, zs[l][s][o]);
      std::vector<std::vector<double>> dprev(n, std::vector<double>(fan_in[l], 0.0));
      for (int64_t s = 0; s < n; ++s)
        for (int o = 0; o < fan_out[l]; ++o) {
          grads[2 * l + 1][o] += dz[s][o];
          for (int i = 0; i < fan_in[l]; ++i) {
            grads[2 * l][i * fan_out[l] + o] += hs[l][s][i] * dz[s][o];
            dprev[s][i] += dz[s][o] * before[2 * l][i * fan_out[l] + o];
          }
        }
      dz = dprev;
    }
    t.backward(ids.data(), n, g.data());
    t.step();
    for (size_t l = 0; l < P.size(); ++l)
      for (int64_t e = 0; e < P[l].size(); ++e)
        ASSERT_NEAR(P[l].data()[e], before[l][e] - 0.1 * grads[l][e], 1e-5)
            << "layer " << l << " element " << e;
  }
}

TEST(EmbDHE, AnalyticGradientMatchesFiniteDifferences) {
  for (auto act : {DheTableParams::Activation::kMish, DheTableParams::Activation::kReLU}) {
    DheTable t(small_init(), small_params(act), "DHE");
    const std::vector<int64_t> ids = {1, 2, 3, 500, 500, 998};
    const std::vector<float> wts = testing::random_weights(ids.size() * 4, 4);
    t.lookup(ids.data(), ids.size(), std::vector<float>(ids.size() * 4).data());
    t.backward(ids.data(), ids.size(), wts.data());
    for (auto& layer : t.layers())
      for (int64_t e = 0; e < layer.size(); ++e) {
        const double num = testing::numeric_grad(t, layer.data() + e, ids, wts, 1e-3f);
        EXPECT_NEAR(layer.grad()[e], num, 3e-3 * (1 + std::abs(num)));
      }
  }
}

TEST(EmbDHE, BackwardRecomputesWhenAnotherLookupCameBetween) {
  const std::vector<int64_t> a = {5, 6, 7}, b = {100, 200};
  const std::vector<float> g = testing::random_weights(12, 2);
  std::vector<float> out(12);
  DheTable t1(small_init(), small_params(DheTableParams::Activation::kMish), "DHE");
  DheTable t2(small_init(), small_params(DheTableParams::Activation::kMish), "DHE");
  t1.lookup(a.data(), 3, out.data());
  t1.backward(a.data(), 3, g.data());
  t2.lookup(a.data(), 3, out.data());
  t2.lookup(b.data(), 2, out.data());  // an evaluation lookup in between
  t2.backward(a.data(), 3, g.data());
  for (size_t l = 0; l < t1.layers().size(); ++l)
    for (int64_t e = 0; e < t1.layers()[l].size(); ++e)
      EXPECT_FLOAT_EQ(t1.layers()[l].grad()[e], t2.layers()[l].grad()[e]);
}

TEST(EmbDHE, WidthSolverMeetsCriteoLikeBudgets) {
  const TableInit init = testing::criteo_like_init(10, 16);
  const double full = 4.0 * init.rows * init.dim;
  int prev_w = 1 << 30;
  for (double B : {0.5, 0.1, 0.01, 0.001}) {
    const int F = int(init.field_offsets.size()) - 1;
    const DheTableParams p = dhe_solve_budget("DHElite@x", DheTableParams::lite(), 16, F, B * full);
    const double actual = p.bytes(16, F) / full;
    EXPECT_LE(actual, B);
    EXPECT_GE(actual, 0.98 * B) << B << " w=" << p.w;
    DheTableParams wider = p;
    ++wider.w;
    EXPECT_GT(wider.bytes(16, F), B * full);  // the largest width that fits
    EXPECT_LT(p.w, prev_w);
    prev_w = p.w;
  }
  auto t = make_embedding_table("DHElite@0.001", init);
  EXPECT_EQ(t->spec(), "DHElite@0.001");
  EXPECT_EQ(t->budget_note(), "");
  EXPECT_LE(t->bytes(), 0.001 * full);
  testing::expect_buffers_sum_to_bytes(*t);
  const int64_t probe[2] = {0, init.rows - 1};
  std::vector<float> out(32);
  t->lookup(probe, 2, out.data());
  for (float x : out) EXPECT_TRUE(std::isfinite(x));
}

TEST(EmbDHE, DeterministicInTheSeed) {
  const std::vector<int64_t> ids = {0, 10, 999};
  auto emb = [&](uint64_t seed) {
    auto t = make_embedding_table("DHE", small_init(seed));
    std::vector<float> out(ids.size() * 4);
    t->lookup(ids.data(), ids.size(), out.data());
    return out;
  };
  EXPECT_EQ(emb(3), emb(3));
  EXPECT_NE(emb(3), emb(4));
}

TEST(EmbDHE, ErrorPaths) {
  DheTable t(small_init(), small_params(DheTableParams::Activation::kMish), "DHE");
  std::vector<float> out(4);
  for (int64_t bad : {int64_t(-3), int64_t(1000)}) {
    EXPECT_THROW(t.lookup(&bad, 1, out.data()), Error);
    EXPECT_THROW(t.backward(&bad, 1, out.data()), Error);
  }
  try {
    make_embedding_table("DHE@0.01", small_init());  // 160 bytes: not even w = 1 fits
    FAIL() << "an impossible budget must throw";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kBadInput);
  }
  DheTableParams bad = small_params(DheTableParams::Activation::kReLU);
  bad.w = 0;
  EXPECT_THROW(DheTable(small_init(), bad, "DHE"), Error);
}

}  // namespace
}  // namespace embcomp::ctr

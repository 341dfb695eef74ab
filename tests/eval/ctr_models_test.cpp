// CTR models (DLRM, DCN, WDL, DeepFM): every dense weight, the dot-interaction layer, the FM
// second-order term and every looked-up embedding (through a Full table) against central
// finite differences on tiny sizes, with and without dense features.
#include <gtest/gtest.h>
#include <omp.h>
#include <pmmintrin.h>
#include <xmmintrin.h>

#include <cmath>
#include <random>
#include <thread>
#include <vector>

#include "compressors/emb_full.h"
#include "eval/ctr_deepfm.h"
#include "eval/ctr_dlrm.h"
#include "eval/ctr_metrics.h"
#include "eval/ctr_model.h"
#include "toolkit/error.h"

namespace embcomp::ctr {
namespace {

struct TinyBatch {
  int64_t n = 6;
  std::vector<float> dense, label;
  std::vector<int32_t> cat;
};

TableInit tiny_table(const std::vector<int64_t>& card, int dim, uint64_t seed) {
  TableInit init;
  init.field_offsets = {0};
  for (int64_t c : card) init.field_offsets.push_back(init.field_offsets.back() + c);
  init.rows = init.field_offsets.back();
  init.dim = dim;
  init.seed = seed;
  init.optimizer.kind = OptimizerConfig::Kind::kSGD;
  return init;
}

TinyBatch tiny_batch(const TableInit& t, int num_dense, uint64_t seed) {
  TinyBatch b;
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  const int F = static_cast<int>(t.field_offsets.size()) - 1;
  b.dense.resize(b.n * num_dense);
  for (auto& x : b.dense) x = g(rng);
  for (int64_t i = 0; i < b.n; ++i) {
    for (int f = 0; f < F; ++f) {
      const int64_t card = t.field_offsets[f + 1] - t.field_offsets[f];
      b.cat.push_back(static_cast<int32_t>(t.field_offsets[f] + rng() % card));
    }
    b.label.push_back(static_cast<float>(i % 2));
  }
  return b;
}

double loss_of(CtrModel& m, const TinyBatch& b) {
  std::vector<float> z(b.n);
  m.predict(b.dense.data(), b.cat.data(), b.n, z.data());
  return logloss_from_logits(z.data(), b.label.data(), b.n);
}

void expect_close(double analytic, double numeric, const std::string& what) {
  EXPECT_NEAR(analytic, numeric, 1e-3 + 2e-2 * std::abs(numeric)) << what;
}

// Checks d loss / d (every dense weight, every used table entry) for one model.
void check_model_gradients(const std::string& model, int num_dense) {
  SCOPED_TRACE(model + " num_dense=" + std::to_string(num_dense));
  CtrModelParams p;
  p.num_dense = num_dense;
  p.num_fields = 3;
  p.dim = 4;
  p.bottom_mlp = {6, 5};
  p.top_mlp = {7, 5};
  p.deep_mlp = {6, 5};
  p.cross_layers = 2;
  p.seed = 3;
  TableInit ti = tiny_table({4, 3, 5}, p.dim, 9);
  FullTable table(ti);
  // Larger embeddings than the 0.05 init so their gradients (interactions) are not tiny.
  float* tw = static_cast<float*>(table.buffers()[0].first);
  for (int64_t k = 0; k < ti.rows * p.dim; ++k) tw[k] *= 20.0f;
  auto m = make_ctr_model(model, p, &table, ti.optimizer);
  DenseParams& dp = m->params();
  TinyBatch b = tiny_batch(ti, num_dense, 17);
  const double loss = m->compute_gradients(b.dense.data(), b.cat.data(), b.label.data(), b.n);
  EXPECT_NEAR(loss, loss_of(*m, b), 1e-6);
  const std::vector<float> g(dp.grad(), dp.grad() + dp.size());
  const double h = 1e-3;
  double max_grad = 0;
  for (int64_t k = 0; k < dp.size(); ++k) {
    const float w0 = dp.data()[k];
    dp.data()[k] = w0 + static_cast<float>(h);
    const double lp = loss_of(*m, b);
    dp.data()[k] = w0 - static_cast<float>(h);
    const double lm = loss_of(*m, b);
    dp.data()[k] = w0;
    const double num = (lp - lm) / (2 * h);
    expect_close(g[k], num, "dense weight " + std::to_string(k));
    max_grad = std::max(max_grad, std::abs(num));
  }
  EXPECT_GT(max_grad, 0.05);
  // Table entries: every row of the batch, every coordinate (rows repeat: sums checked).
  auto check_table = [&](FullTable& t, const char* what) {
    float* w = static_cast<float*>(t.buffers()[0].first);
    double max_t = 0;
    int checked = 0;
    for (int64_t r = 0; r < t.rows(); ++r) {
      const float* gr = t.params().grad(r);
      for (int d = 0; d < t.dim(); ++d) {
        float& x = w[r * t.dim() + d];
        const float x0 = x;
        x = x0 + static_cast<float>(h);
        const double lp = loss_of(*m, b);
        x = x0 - static_cast<float>(h);
        const double lm = loss_of(*m, b);
        x = x0;
        const double num = (lp - lm) / (2 * h);
        if (!gr) {
          EXPECT_EQ(num, 0.0) << what << " row " << r << " is unused";
          continue;
        }
        ++checked;
        expect_close(gr[d], num, std::string(what) + " row " + std::to_string(r));
        max_t = std::max(max_t, std::abs(num));
      }
    }
    EXPECT_GT(checked, 0);
    EXPECT_GT(max_t, 1e-3) << what;
  };
  check_table(table, "embedding");
}

TEST(CtrModels, DlrmGradients) {
  check_model_gradients("dlrm", 3);
  check_model_gradients("dlrm", 0);
}
TEST(CtrModels, DcnGradients) {
  check_model_gradients("dcn", 3);
  check_model_gradients("dcn", 0);
}
TEST(CtrModels, WdlGradients) {
  check_model_gradients("wdl", 3);
  check_model_gradients("wdl", 0);
}

TEST(CtrModels, DeepFmGradients) {
  check_model_gradients("deepfm", 3);
  check_model_gradients("deepfm", 0);
}

TEST(CtrModels, DeepFmKnownAnswer) {
  // FM second order = sum_{f<g} <e_f, e_g>: e0 = (1, 2), e1 = (3, -1), e2 = (0.5, 4):
  // 1 + 8.5 - 2.5 = 7.
  const float e[6] = {1, 2, 3, -1, 0.5f, 4};
  EXPECT_FLOAT_EQ(fm_second_order(e, 3, 2), 7.0f);
  // With the deep output's last layer and w_1, b at 0, the logit is exactly the FM term of
  // the looked-up rows.
  CtrModelParams p;
  p.num_dense = 2;
  p.num_fields = 3;
  p.dim = 2;
  p.deep_mlp = {4};
  TableInit ti = tiny_table({1, 1, 1}, p.dim, 1);
  FullTable table(ti);
  std::copy(e, e + 6, static_cast<float*>(table.buffers()[0].first));
  auto m = make_ctr_model("deepfm", p, &table, ti.optimizer);
  const int64_t last = m->params().size() - (2 + 6 + 1) - 1 - 4;  // last deep layer's W
  std::fill(m->params().data() + last, m->params().data() + m->params().size(), 0.0f);
  const float dense[2] = {0.3f, -2.0f};
  const int32_t cat[3] = {0, 1, 2};
  float z = 0;
  m->predict(dense, cat, 1, &z);
  EXPECT_FLOAT_EQ(z, 7.0f);
}

TEST(CtrModels, DotInteractionsKnownAnswerAndGradient) {
  // V = 3 vectors of D = 2: t0 = (1, 2), t1 = (3, -1), t2 = (0.5, 4).
  const float t[6] = {1, 2, 3, -1, 0.5f, 4};
  float z[3];
  dot_interactions(t, 3, 2, z);
  EXPECT_FLOAT_EQ(z[0], 1.0f);   // t1.t0 = 3 - 2
  EXPECT_FLOAT_EQ(z[1], 8.5f);   // t2.t0 = 0.5 + 8
  EXPECT_FLOAT_EQ(z[2], -2.5f);  // t2.t1 = 1.5 - 4
  const float dz[3] = {1, 10, 100};
  float dt[6];
  dot_interactions_backward(t, dz, 3, 2, dt);
  // dt0 = 1 t1 + 10 t2; dt1 = 1 t0 + 100 t2; dt2 = 10 t0 + 100 t1.
  EXPECT_FLOAT_EQ(dt[0], 8.0f);
  EXPECT_FLOAT_EQ(dt[1], 39.0f);
  EXPECT_FLOAT_EQ(dt[2], 51.0f);
  EXPECT_FLOAT_EQ(dt[3], 402.0f);
  EXPECT_FLOAT_EQ(dt[4], 310.0f);
  EXPECT_FLOAT_EQ(dt[5], -80.0f);
}

TEST(CtrModels, DefaultDlrmSizeAndErrors) {
  CtrModelParams p;  // Criteo DLRM: 13-512-256-64-16, top 367-512-256-1
  TableInit ti = tiny_table(std::vector<int64_t>(26, 3), 16, 1);
  FullTable table(ti);
  auto m = make_ctr_model("dlrm", p, &table, ti.optimizer);
  const int64_t bottom = 13 * 512 + 512 + 512 * 256 + 256 + 256 * 64 + 64 + 64 * 16 + 16;
  const int64_t top_in = 16 + 27 * 26 / 2;
  const int64_t top = top_in * 512 + 512 + 512 * 256 + 256 + 256 + 1;
  EXPECT_EQ(m->params().size(), bottom + top);
  EXPECT_EQ(m->dense_bytes(), 4 * (bottom + top));
  EXPECT_THROW(make_ctr_model("fm", p, &table, ti.optimizer), Error);
  p.dim = 8;  // table has 16
  EXPECT_THROW(make_ctr_model("dlrm", p, &table, ti.optimizer), Error);
  p.dim = 16;
  p.num_dense = -1;
  EXPECT_THROW(make_ctr_model("dcn", p, &table, ti.optimizer), Error);
}

TEST(CtrModels, SameSeedSameModelAndThreadCountOnlyRoundsDifferently) {
  CtrModelParams p;
  p.num_dense = 2;
  p.num_fields = 3;
  p.dim = 4;
  p.bottom_mlp = {8};
  p.top_mlp = {8};
  TableInit ti = tiny_table({40, 30, 50}, p.dim, 2);
  ti.optimizer.kind = OptimizerConfig::Kind::kAdam;
  ti.optimizer.lr = 0.01f;
  std::mt19937_64 rng(4);
  const int64_t n = 256;
  std::vector<float> dense(n * 2), label(n);
  std::vector<int32_t> cat(n * 3);
  for (auto& x : dense) x = static_cast<float>(rng() % 100) / 50.0f;
  for (int64_t i = 0; i < n; ++i) {
    for (int f = 0; f < 3; ++f)
      cat[i * 3 + f] = static_cast<int32_t>(ti.field_offsets[f] + rng() % 30);
    label[i] = static_cast<float>(rng() % 2);
  }
  auto run = [&](int threads) {
    FullTable table(ti);
    auto m = make_ctr_model("dlrm", p, &table, ti.optimizer);
    const int saved = omp_get_max_threads();
    omp_set_num_threads(threads);
    for (int s = 0; s < 3; ++s) m->train_step(dense.data(), cat.data(), label.data(), n);
    omp_set_num_threads(saved);
    std::vector<float> z(n);
    m->predict(dense.data(), cat.data(), n, z.data());
    return z;
  };
  const auto a = run(1), b = run(1), c = run(2);
  EXPECT_EQ(a, b);
  for (int64_t i = 0; i < n; ++i) EXPECT_NEAR(a[i], c[i], 1e-4);
}

}  // namespace
}  // namespace embcomp::ctr

namespace embcomp::ctr {
namespace {

TEST(CtrModels, TrainingStepSwitchesItsThreadToFlushDenormals) {
  // Adam moments of weights with zero gradient decay into denormals, which made the dense
  // update 30x slower; a training step switches its threads to FTZ/DAZ. Checked on a
  // fresh thread whose MXCSR is first set to the default (denormals kept).
  bool before = false, after = false;
  std::thread t([&] {
    _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_OFF);
    _MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_OFF);
    volatile float tiny = 1e-30f;   // volatile: multiplied at run time
    before = tiny * 1e-10f > 0.0f;  // 1e-40 is a denormal float
    CtrModelParams p;
    p.num_dense = 1;
    p.num_fields = 2;
    p.dim = 2;
    p.bottom_mlp = {2};
    p.top_mlp = {2};
    TableInit ti = tiny_table({3, 3}, p.dim, 1);
    FullTable table(ti);
    auto m = make_ctr_model("dlrm", p, &table, ti.optimizer);
    const float dense[1] = {0.5f}, label[1] = {1.0f};
    const int32_t cat[2] = {0, 4};
    m->train_step(dense, cat, label, 1);
    after = tiny * 1e-10f > 0.0f;
  });
  t.join();
  EXPECT_TRUE(before);
  EXPECT_FALSE(after);
}

}  // namespace
}  // namespace embcomp::ctr

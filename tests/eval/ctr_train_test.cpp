// CTR trainer (eval/ctr_train.h) on an in-memory planted problem: training learns (test
// AUC close to the planted model's AUC), the record's fields, determinism, early
// stopping, and that test labels never influence training or the checkpoint choice.
#include "eval/ctr_train.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include "compressors/emb_full.h"
#include "compressors/emb_params.h"
#include "eval/ctr_metrics.h"
#include "toolkit/error.h"

namespace embcomp::ctr {
namespace {

// A planted factorization machine: logit = b + sum_f u[id_f] + dense . a
//   + sum_{f < g} <v[id_f], v[id_g]>, labels ~ Bernoulli(sigmoid(logit)); oracle_p holds
// the true probabilities. Ids are drawn from a Zipf-like law (rank^-1.1).
CtrDataset planted(int64_t n_train, int64_t n_eval, int num_dense, uint64_t seed) {
  const std::vector<int64_t> card = {30, 80, 12, 50};
  const int F = static_cast<int>(card.size()), k = 4;
  CtrDataset ds;
  ds.source = "planted-test";
  ds.num_dense = num_dense;
  ds.num_fields = F;
  ds.field_offsets = {0};
  for (int64_t c : card) ds.field_offsets.push_back(ds.field_offsets.back() + c);
  const int64_t N = ds.rows();
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, 1.0);
  std::vector<double> u(N), v(N * k), a(num_dense);
  for (auto& x : u) x = 0.8 * g(rng);
  for (auto& x : v) x = 0.5 * g(rng);
  for (auto& x : a) x = 0.5 * g(rng);
  std::vector<std::discrete_distribution<int64_t>> pick;
  for (int64_t c : card) {
    std::vector<double> w(c);
    for (int64_t i = 0; i < c; ++i) w[i] = std::pow(i + 1.0, -1.1);
    pick.emplace_back(w.begin(), w.end());
  }
  std::uniform_real_distribution<double> unif(0.0, 1.0);
  auto fill = [&](CtrSplit& s, int64_t n) {
    s.n = n;
    for (int64_t r = 0; r < n; ++r) {
      double z = -0.5;
      std::vector<int64_t> ids(F);
      for (int f = 0; f < F; ++f) {
        ids[f] = ds.field_offsets[f] + pick[f](rng);
        s.cat.push_back(static_cast<int32_t>(ids[f]));
        z += u[ids[f]];
      }
      for (int j = 0; j < num_dense; ++j) {
        const double x = std::abs(g(rng));
        s.dense.push_back(static_cast<float>(x));
        z += a[j] * x;
      }
      for (int f = 0; f < F; ++f)
        for (int h = f + 1; h < F; ++h)
          for (int d = 0; d < k; ++d) z += v[ids[f] * k + d] * v[ids[h] * k + d];
      const double p = 1.0 / (1.0 + std::exp(-z));
      s.oracle_p.push_back(static_cast<float>(p));
      s.label.push_back(unif(rng) < p ? 1.0f : 0.0f);
    }
  };
  fill(ds.train, n_train);
  fill(ds.val, n_eval);
  fill(ds.test, n_eval);
  ds.counts.assign(N, 0);
  for (int32_t id : ds.train.cat) ++ds.counts[id];
  return ds;
}

CtrTrainConfig small_config(const std::string& model) {
  CtrTrainConfig c;
  c.model = model;
  c.dim = 8;
  c.batch = 128;
  c.epochs = 2;
  c.optimizer.lr = 0.01f;
  c.seed = 5;
  c.verbose = false;
  c.arch.bottom_mlp = {16};
  c.arch.top_mlp = {32, 16};
  c.arch.deep_mlp = {32, 16};
  c.arch.cross_layers = 2;
  return c;
}

TEST(CtrTrain, EveryModelLearnsThePlantedProblem) {
  // One training run's gap to the oracle varies with the seed by up to 0.02 (and by ~1e-4
  // with the BLAS kernel: a single-seed bar of 0.02 failed on OpenBLAS's Haswell/Zen
  // kernels by 4e-5). So the bar is on the mean gap over three seeds. Measured (seeds 5-8,
  // OPENBLAS_CORETYPE Haswell, Zen and SkylakeX alike): DLRM 0.014-0.025, DCN 0.025-0.046,
  // WDL 0.024-0.036; means over seeds 5-7 DLRM 0.019, DCN 0.027-0.034, WDL 0.025-0.033. A
  // model that learns nothing is ~0.3 below. DLRM's dot interactions and DeepFM's FM part are
  // the planted model's form; DCN and WDL learn the pairwise products through their deep nets
  // and are still catching up after 3 epochs, hence their wider bars. WDL's wide part is a
  // Linear over the embeddings (audit M8), not a weight per id, so the planted per-id weights
  // reach it only through the embeddings: 0.054 below the oracle with 3 dense features, seed 5.
  for (int nd : {3, 0}) {
    const CtrDataset ds = planted(40000, 4000, nd, 7);
    for (const std::string model : {"dlrm", "dcn", "wdl", "deepfm"}) {
      SCOPED_TRACE(model + " num_dense=" + std::to_string(nd));
      double sum_gap = 0;
      std::string records;
      for (uint64_t seed : {5, 6, 7}) {
        CtrTrainConfig c = small_config(model);
        c.epochs = 3;
        c.seed = seed;
        auto rec = train_ctr(ds, c);
        const double oracle = rec["oracle_test_auc"];
        EXPECT_GT(oracle, 0.75);  // the problem is learnable
        EXPECT_LT(rec["test_logloss"].get<double>(), 0.69);
        sum_gap += oracle - rec["test_auc"].get<double>();
        records += rec.dump() + "\n";
      }
      const double bar = model == "dlrm" || model == "deepfm" ? 0.03 : model == "wdl" ? 0.07 : 0.05;
      EXPECT_LT(sum_gap / 3, bar) << records;
    }
  }
}

TEST(CtrTrain, RecordFieldsAndBudgetAccounting) {
  const CtrDataset ds = planted(2000, 500, 3, 8);
  CtrTrainConfig c = small_config("wdl");
  c.epochs = 1;
  c.eval_every = 5;
  auto rec = train_ctr(ds, c);
  for (const char* f : {"method",
                        "knob",
                        "budget_requested",
                        "budget_actual",
                        "budget_note",
                        "search_bytes",
                        "search_end_step",
                        "table_bytes",
                        "optimizer_bytes",
                        "dense_bytes",
                        "model",
                        "dim",
                        "batch",
                        "epochs",
                        "steps",
                        "val_auc",
                        "val_logloss",
                        "test_auc",
                        "test_logloss",
                        "train_samples_per_s",
                        "latency_p50_ms",
                        "latency_p99_ms",
                        "seed",
                        "threads",
                        "build_type",
                        "git_commit",
                        "oracle_test_auc"})
    EXPECT_TRUE(rec.contains(f)) << f;
  EXPECT_EQ(rec["method"], "Full");
  EXPECT_EQ(rec["budget_requested"].get<double>(), 1.0);
  EXPECT_EQ(rec["budget_actual"].get<double>(), 1.0);
  EXPECT_EQ(rec["table_bytes"].get<int64_t>(), 4 * ds.rows() * 8);
  // WDL's wide part is a Linear over [dense, e_1..e_F] (audit M8): no second per-id table,
  // so the embedding table is all the per-id memory and budget_actual covers it.
  EXPECT_FALSE(rec.contains("wide_bytes"));
  const int64_t d0 = 3 + 4 * 8;
  const int64_t deep = d0 * 32 + 32 + 32 * 16 + 16 + 16 + 1;
  EXPECT_EQ(rec["dense_bytes"].get<int64_t>(), 4 * (deep + d0 + 1));
  // Adam: two moments for the table and the dense weights.
  EXPECT_EQ(rec["optimizer_bytes"].get<int64_t>(),
            2 * (4 * ds.rows() * 8 + rec["dense_bytes"].get<int64_t>()));
  EXPECT_EQ(rec["steps"].get<int64_t>(), (2000 + 127) / 128);
  // 16 steps, every 5 -> evaluations after 5, 10, 15 and at the epoch's end.
  EXPECT_EQ(rec["evaluations"].get<int>(), 4);
  EXPECT_GE(rec["latency_p99_ms"].get<double>(), rec["latency_p50_ms"].get<double>());
}

TEST(CtrTrain, SameSeedSameRecordAndTestLabelsNeverMatterForTraining) {
  CtrDataset ds = planted(3000, 600, 2, 9);
  CtrTrainConfig c = small_config("dlrm");
  c.eval_every = 4;
  auto a = train_ctr(ds, c);
  auto b = train_ctr(ds, c);
  for (const char* f : {"val_auc", "val_logloss", "test_auc", "test_logloss", "best_step"})
    EXPECT_EQ(a[f], b[f]) << f;
  // Flip every test label: the checkpoint (val) is the same, the test AUC becomes 1 - AUC.
  for (auto& y : ds.test.label) y = 1.0f - y;
  auto f = train_ctr(ds, c);
  EXPECT_EQ(f["val_auc"], a["val_auc"]);
  EXPECT_EQ(f["best_step"], a["best_step"]);
  EXPECT_NEAR(f["test_auc"].get<double>(), 1.0 - a["test_auc"].get<double>(), 1e-9);
  c.seed = 6;
  auto d = train_ctr(ds, c);
  EXPECT_NE(d["val_auc"], a["val_auc"]);
}

TEST(CtrTrain, EarlyStoppingKeepsTheBestValidationCheckpoint) {
  const CtrDataset ds = planted(6000, 800, 2, 10);
  CtrTrainConfig c = small_config("dlrm");
  c.epochs = 20;
  c.eval_every = 10;
  c.patience = 2;
  auto rec = train_ctr(ds, c);
  EXPECT_TRUE(rec["stopped_early"].get<bool>());
  EXPECT_LT(rec["epochs_run"].get<int>(), 20);
  // It stopped `patience` evaluations after the best one.
  EXPECT_EQ(rec["steps"].get<int64_t>(), rec["best_step"].get<int64_t>() + 2 * 10);
}

TEST(CtrTrain, BatchIsClampedToTheTrainingRows) {
  // reliability #23: --batch 100000000 on 4,000 training rows allocated 5.4 GB of batch
  // buffers; now the batch is the training split (one step per epoch) and says so.
  const CtrDataset ds = planted(400, 100, 2, 12);
  CtrTrainConfig c = small_config("dlrm");
  c.epochs = 1;
  c.batch = int64_t{1} << 40;  // would be terabytes of buffers
  auto rec = train_ctr(ds, c);
  EXPECT_EQ(rec["batch"].get<int64_t>(), 400);
  EXPECT_EQ(rec["steps"].get<int64_t>(), 1);
}

// A table with a search phase for the trainer's hook: while searching (the first `search`
// steps) lookup = W1[id] + W2[id] (8 N D bytes, a "supernet"); then W = W1 + W2 (4 N D
// bytes, one buffer). Counts buffers() calls made while searching in *calls (the trainer
// must make none: no checkpoint of a supernet); the counter outlives the table.
class SearchProbeTable final : public EmbeddingTable {
 public:
  SearchProbeTable(const TableInit& init, int64_t search, int* calls)
      : calls_(calls),
        search_(search),
        w1_(init.rows, init.dim, 0.05f, init.seed),
        w2_(init.rows, init.dim, 0.05f, init.seed + 1),
        opt_(init.optimizer) {}
  std::string spec() const override { return "SearchProbe"; }
  std::string knob() const override { return searching() ? "search" : "final"; }
  int64_t rows() const override { return w1_.rows(); }
  int dim() const override { return w1_.width(); }
  void lookup(const int64_t* ids, int64_t n, float* out) override {
    check_table_ids(ids, n, rows());
    const int d = dim();
    for (int64_t i = 0; i < n; ++i)
      for (int j = 0; j < d; ++j)
        out[i * d + j] = w1_.row(ids[i])[j] + (searching() ? w2_.row(ids[i])[j] : 0.0f);
  }
  void backward(const int64_t* ids, int64_t n, const float* g) override {
    for (int64_t i = 0; i < n; ++i) {
      w1_.accumulate(ids[i], g + i * dim());
      if (searching()) w2_.accumulate(ids[i], g + i * dim());
    }
  }
  void step() override {
    w1_.step(opt_);
    if (!searching()) return;
    w2_.step(opt_);
    if (++t_ < search_) return;
    for (int64_t e = 0; e < w1_.rows() * dim(); ++e) w1_.data()[e] += w2_.data()[e];
    w2_ = RowParams();
  }
  bool searching() const override { return t_ < search_; }
  int64_t bytes() const override { return w1_.bytes() + w2_.bytes(); }
  int64_t optimizer_bytes() const override { return 0; }
  std::vector<std::pair<void*, size_t>> buffers() override {
    if (searching()) ++*calls_;
    std::vector<std::pair<void*, size_t>> b = {{w1_.data(), size_t(w1_.bytes())}};
    if (searching()) b.emplace_back(w2_.data(), size_t(w2_.bytes()));
    return b;
  }

 private:
  int* calls_;
  int64_t search_, t_ = 0;
  RowParams w1_, w2_;
  OptimizerConfig opt_;
};

TEST(CtrTrain, NoValidationOrCheckpointWhileTheTableSearches) {
  const CtrDataset ds = planted(2000, 500, 3, 8);
  CtrTrainConfig c = small_config("dlrm");
  c.epochs = 1;
  c.eval_every = 5;
  int calls = 0;
  c.table_factory = [&](const TableInit& init) {
    return std::make_unique<SearchProbeTable>(init, 7, &calls);
  };
  auto rec = train_ctr(ds, c);
  EXPECT_EQ(calls, 0) << "buffers() read while the table searched";
  EXPECT_EQ(rec["search_end_step"].get<int64_t>(), 7);
  EXPECT_EQ(rec["search_bytes"].get<int64_t>(), 8 * ds.rows() * 8);
  EXPECT_EQ(rec["table_bytes"].get<int64_t>(), 4 * ds.rows() * 8);
  EXPECT_EQ(rec["knob"], "final");
  // 16 steps, every 5, the search ends after step 7 -> evaluations after 10, 15 and at the
  // epoch's end (not after 5).
  EXPECT_EQ(rec["steps"].get<int64_t>(), 16);
  EXPECT_EQ(rec["evaluations"].get<int>(), 3);
  EXPECT_GE(rec["best_step"].get<int64_t>(), 10);
  EXPECT_GT(rec["test_auc"].get<double>(), 0.6);

  // A table that never searches has null search fields.
  c.table_factory = nullptr;
  auto full = train_ctr(ds, c);
  EXPECT_TRUE(full["search_bytes"].is_null());
  EXPECT_TRUE(full["search_end_step"].is_null());
  EXPECT_EQ(full["evaluations"].get<int>(), 4);

  // A search longer than the run leaves no final table: an error, not a supernet record.
  c.table_factory = [&](const TableInit& init) {
    return std::make_unique<SearchProbeTable>(init, 100, &calls);
  };
  try {
    train_ctr(ds, c);
    ADD_FAILURE() << "a search that never ended was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("did not end"), std::string::npos) << e.what();
  }
}

TEST(CtrTrain, SearchedTablesEndHalfwayAndMeetTheirBudget) {
  // AutoDim and OptEmbed through the registry: 16 steps, so the search (schedule_steps =
  // half the run) ends after step 8; the record's bytes are the final table's, within the
  // budget, and the supernet's peak is larger.
  const CtrDataset ds = planted(2000, 500, 3, 8);
  for (const std::string spec : {"AutoDim@0.5", "OptEmbed@0.3"}) {
    CtrTrainConfig c = small_config("dlrm");
    c.epochs = 1;
    c.eval_every = 5;
    c.method = spec;
    auto rec = train_ctr(ds, c);
    EXPECT_EQ(rec["search_end_step"].get<int64_t>(), 8) << spec;
    EXPECT_GT(rec["search_bytes"].get<int64_t>(), rec["table_bytes"].get<int64_t>()) << spec;
    EXPECT_LE(rec["budget_actual"].get<double>(), rec["budget_requested"].get<double>()) << spec;
    EXPECT_EQ(rec["evaluations"].get<int>(), 3) << spec;  // after steps 10, 15, the epoch end
    EXPECT_GE(rec["best_step"].get<int64_t>(), 10) << spec;
    EXPECT_EQ(rec["knob"].get<std::string>().find("search"), std::string::npos) << spec;
  }
}

TEST(CtrTrain, BadInputsAreRejected) {
  CtrDataset ds = planted(500, 100, 2, 11);
  CtrTrainConfig c = small_config("dlrm");
  c.epochs = 1;
  c.model = "fm";
  EXPECT_THROW(train_ctr(ds, c), Error);
  c = small_config("dlrm");
  c.batch = 0;
  EXPECT_THROW(train_ctr(ds, c), Error);
  c = small_config("dlrm");
  c.method = "Full@0.5";
  EXPECT_THROW(train_ctr(ds, c), Error);
  c = small_config("dlrm");
  CtrDataset one_class = ds;
  for (auto& y : one_class.val.label) y = 0;
  EXPECT_THROW(train_ctr(one_class, c), Error);
  CtrDataset bad_id = ds;
  bad_id.train.cat[3] = static_cast<int32_t>(ds.rows());
  EXPECT_THROW(train_ctr(bad_id, c), Error);
  CtrDataset empty = ds;
  empty.test = CtrSplit{};
  EXPECT_THROW(train_ctr(empty, c), Error);
  c = small_config("dlrm");
  c.optimizer.lr = std::numeric_limits<float>::infinity();  // reliability #23
  EXPECT_THROW(train_ctr(ds, c), Error);
  c.optimizer.lr = std::numeric_limits<float>::quiet_NaN();
  EXPECT_THROW(train_ctr(ds, c), Error);
  EXPECT_EQ(requested_budget("Hash@10x"), 0.1);
  EXPECT_EQ(requested_budget("QR"), -1.0);
}

}  // namespace
}  // namespace embcomp::ctr

#include "eval/ctr_train.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <iostream>
#include <numeric>
#include <random>

#include "build_info.h"
#include "compressors/budget.h"
#include "eval/ctr_metrics.h"
#include "toolkit/error.h"
#include "toolkit/stats.h"

namespace embcomp::ctr {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

/// Copies of every buffer of the tables and of the dense weights.
struct Checkpoint {
  std::vector<std::vector<char>> blobs;
  void save(CtrModel& m) {
    auto all = buffers(m);
    blobs.resize(all.size());
    for (size_t i = 0; i < all.size(); ++i) {
      const char* p = static_cast<const char*>(all[i].first);
      blobs[i].assign(p, p + all[i].second);
    }
  }
  void restore(CtrModel& m) const {
    auto all = buffers(m);
    EC_CHECK(all.size() == blobs.size(), kRuntime,
             "checkpoint has " << blobs.size() << " buffers, the model " << all.size());
    for (size_t i = 0; i < all.size(); ++i) {
      EC_CHECK(all[i].second == blobs[i].size(), kRuntime,
               "checkpoint buffer " << i << " changed size");
      // A table may hold an empty buffer (data() null): memcpy with a null pointer is UB.
      if (!blobs[i].empty()) std::memcpy(all[i].first, blobs[i].data(), blobs[i].size());
    }
  }
  static std::vector<std::pair<void*, size_t>> buffers(CtrModel& m) {
    auto all = m.table().buffers();
    all.emplace_back(m.params().data(), static_cast<size_t>(m.params().bytes()));
    return all;
  }
};

struct Eval {
  double auc = 0, logloss = 0;
};

/// Logits of a whole split, `batch` rows per forward pass; when lat_ms is not null the
/// wall time of each pass is appended to it (milliseconds).
std::vector<float> predict_split(CtrModel& m, const CtrSplit& s, int num_dense, int num_fields,
                                 int64_t batch, std::vector<double>* lat_ms) {
  std::vector<float> z(s.n);
  for (int64_t r = 0; r < s.n; r += batch) {
    const int64_t b = std::min(batch, s.n - r);
    const auto t = Clock::now();
    m.predict(s.dense.data() + r * num_dense, s.cat.data() + r * num_fields, b, z.data() + r);
    if (lat_ms) lat_ms->push_back(1e3 * seconds_since(t));
  }
  return z;
}

Eval evaluate(const std::vector<float>& z, const CtrSplit& s) {
  return {auc(z.data(), s.label.data(), s.n), logloss_from_logits(z.data(), s.label.data(), s.n)};
}

void check_split(const CtrDataset& ds, const CtrSplit& s, const char* name) {
  EC_CHECK(s.n > 0, kBadInput, ds.source << ": the " << name << " split is empty");
  EC_CHECK(static_cast<int64_t>(s.dense.size()) == s.n * ds.num_dense &&
               static_cast<int64_t>(s.cat.size()) == s.n * ds.num_fields &&
               static_cast<int64_t>(s.label.size()) == s.n,
           kBadInput, ds.source << ": the " << name << " split's arrays do not match n=" << s.n);
}

}  // namespace

void CtrTrainConfig::validate() const {
  // An upper bound too: --dim 1000000000 reached the allocator ("out of memory", exit 1;
  // catalogue ctrtrain_dim_huge). CTR embedding widths are tens to hundreds.
  EC_CHECK(dim >= 1 && dim <= kMaxCtrDim, kUsage,
           "--dim " << dim << " must be in [1, " << kMaxCtrDim << "]");
  EC_CHECK(batch >= 1, kUsage, "--batch " << batch << " must be >= 1");
  EC_CHECK(epochs >= 1, kUsage, "--epochs " << epochs << " must be >= 1");
  EC_CHECK(std::isfinite(optimizer.lr) && optimizer.lr > 0, kUsage,
           "--lr " << optimizer.lr << " must be finite and > 0");
  EC_CHECK(eval_every >= 0, kUsage, "--eval-every " << eval_every << " must be >= 0");
  EC_CHECK(patience >= 0, kUsage, "--patience " << patience << " must be >= 0");
  EC_CHECK(eval_batch >= 1, kUsage, "eval batch " << eval_batch << " must be >= 1");
  const auto& names = ctr_model_names();
  EC_CHECK(std::find(names.begin(), names.end(), model) != names.end(), kUsage,
           "--model must be dlrm, dcn, wdl or deepfm, not '" << model << "'");
}

double requested_budget(const std::string& spec) {
  const size_t at = spec.find('@');
  if (at == std::string::npos) return spec == "Full" ? 1.0 : -1.0;
  return parse_budget(spec, spec.substr(at + 1));
}

OptimizerConfig::Kind optimizer_kind(const std::string& name) {
  if (name == "sgd") return OptimizerConfig::Kind::kSGD;
  if (name == "adagrad") return OptimizerConfig::Kind::kAdagrad;
  if (name == "adam") return OptimizerConfig::Kind::kAdam;
  EC_THROW(kUsage, "--optimizer must be sgd, adagrad or adam, not '" << name << "'");
}

const char* optimizer_name(OptimizerConfig::Kind kind) {
  switch (kind) {
    case OptimizerConfig::Kind::kSGD:
      return "sgd";
    case OptimizerConfig::Kind::kAdagrad:
      return "adagrad";
    case OptimizerConfig::Kind::kAdam:
      return "adam";
  }
  return "?";
}

nlohmann::ordered_json train_ctr(const CtrDataset& ds, const CtrTrainConfig& cfg) {
  cfg.validate();
  check_split(ds, ds.train, "train");
  check_split(ds, ds.val, "validation");
  check_split(ds, ds.test, "test");
  EC_CHECK(static_cast<int>(ds.field_offsets.size()) == ds.num_fields + 1, kBadInput,
           ds.source << ": " << ds.field_offsets.size() << " field offsets for " << ds.num_fields
                     << " fields");
  const int nd = ds.num_dense, F = ds.num_fields;

  TableInit init;
  init.rows = ds.rows();
  init.dim = cfg.dim;
  init.field_offsets = ds.field_offsets;
  init.counts = ds.counts;
  init.seed = cfg.seed;
  init.optimizer = cfg.optimizer;
  // Search/pruning schedules (DeepLight, PEP, AutoDim, OptEmbed) end halfway through the run, so
  // that the second half trains the final sparse table and validation picks among its checkpoints.
  {
    const int64_t batch = std::max<int64_t>(1, std::min<int64_t>(int64_t(cfg.batch), ds.train.n));
    const int64_t steps = int64_t(cfg.epochs) * ((ds.train.n + batch - 1) / batch);
    init.schedule_steps = std::max<int64_t>(1, steps / 2);
  }
  std::unique_ptr<EmbeddingTable> table =
      cfg.table_factory ? cfg.table_factory(init) : make_embedding_table(cfg.method, init);
  EC_CHECK(table && table->dim() == cfg.dim && table->rows() == init.rows, kRuntime,
           "the table factory built a table that does not match rows=" << init.rows
                                                                       << " dim=" << cfg.dim);
  CtrModelParams arch = cfg.arch;
  arch.num_dense = nd;
  arch.num_fields = F;
  arch.dim = cfg.dim;
  arch.seed = cfg.seed;
  auto model = make_ctr_model(cfg.model, arch, table.get(), cfg.optimizer);

  const std::string tag = "[ctr-train " + cfg.model + " " + cfg.method + "]";
  if (cfg.verbose)
    std::cerr << tag << " " << ds.source << ": " << ds.train.n << " train / " << ds.val.n
              << " val / " << ds.test.n << " test rows, N=" << init.rows << " ids, table "
              << table->bytes() << " bytes (" << table->knob() << "), dense "
              << model->dense_bytes() << " bytes, " << omp_get_max_threads() << " threads\n";
  if (cfg.verbose && std::string(EMBCOMP_BUILD_TYPE) != "Release")
    std::cerr << tag << " WARNING: " << EMBCOMP_BUILD_TYPE
              << " build; samples/s and latency are not representative\n";

  // Batch buffers (reused every step). The batch is clamped to the training rows: a larger
  // one would only allocate buffers that are never filled.
  const int64_t batch = std::min(cfg.batch, ds.train.n);
  std::vector<float> bd(batch * nd), bl(batch);
  std::vector<int32_t> bc(batch * F);
  std::vector<int64_t> order(ds.train.n);

  Checkpoint best;
  double best_auc = -1, last_auc = NAN;
  Eval best_eval;
  int64_t step = 0, best_step = 0, samples = 0;
  int bad_evals = 0, epochs_run = 0, evals = 0;
  bool stop = false;
  // Search phase (EmbeddingTable::searching): peak bytes while it runs, the step it ended.
  const bool searched = table->searching();
  int64_t search_bytes = searched ? table->bytes() : 0, search_end_step = searched ? -1 : 0;
  double train_seconds = 0;
  auto last_report = Clock::now();
  auto validate_now = [&](const char* when) {
    auto z = predict_split(*model, ds.val, nd, F, cfg.eval_batch, nullptr);
    Eval e = evaluate(z, ds.val);
    ++evals;
    last_auc = e.auc;
    const bool better = e.auc > best_auc;
    if (better) {
      best_auc = e.auc;
      best_eval = e;
      best_step = step;
      best.save(*model);
      bad_evals = 0;
    } else {
      ++bad_evals;
    }
    if (cfg.verbose)
      std::cerr << tag << " step " << step << " (" << when << "): val AUC " << e.auc << " logloss "
                << e.logloss << (better ? " (best)" : "") << ", "
                << static_cast<int64_t>(samples / std::max(train_seconds, 1e-9)) << " samples/s\n";
    if (cfg.patience > 0 && bad_evals >= cfg.patience) stop = true;
  };

  for (int epoch = 0; epoch < cfg.epochs && !stop; ++epoch) {
    std::iota(order.begin(), order.end(), 0);
    if (cfg.shuffle) {
      std::mt19937_64 rng(cfg.seed * 0x9E3779B97F4A7C15ull + epoch);
      std::shuffle(order.begin(), order.end(), rng);
    }
    ++epochs_run;
    for (int64_t r = 0; r < ds.train.n && !stop; r += batch) {
      const auto t = Clock::now();
      const int64_t b = std::min(batch, ds.train.n - r);
      for (int64_t i = 0; i < b; ++i) {
        const int64_t src = order[r + i];
        if (nd) std::memcpy(&bd[i * nd], &ds.train.dense[src * nd], sizeof(float) * nd);
        std::memcpy(&bc[i * F], &ds.train.cat[src * F], sizeof(int32_t) * F);
        bl[i] = ds.train.label[src];
      }
      const double loss = model->train_step(bd.data(), bc.data(), bl.data(), b);
      EC_CHECK(
          std::isfinite(loss), kRuntime,
          "training diverged at step " << step << " (loss " << loss << "); try a smaller --lr");
      train_seconds += seconds_since(t);
      ++step;
      samples += b;
      if (search_end_step < 0) {
        if (table->searching()) {
          search_bytes = std::max(search_bytes, table->bytes());
        } else {
          search_end_step = step;
          if (cfg.verbose)
            std::cerr << tag << " search ended at step " << step << ": table " << table->bytes()
                      << " bytes (" << table->knob() << "), supernet peak " << search_bytes
                      << " bytes\n";
        }
      }
      if (cfg.verbose && seconds_since(last_report) > 10) {
        std::cerr << tag << " epoch " << epoch + 1 << " step " << step << ", loss " << loss << ", "
                  << static_cast<int64_t>(samples / train_seconds) << " samples/s, last val AUC "
                  << last_auc << "\n";
        last_report = Clock::now();
      }
      const bool epoch_end = r + batch >= ds.train.n;
      if (cfg.eval_every > 0 && step % cfg.eval_every == 0 && !epoch_end && search_end_step >= 0)
        validate_now("every");
    }
    if (!stop && search_end_step >= 0) validate_now("epoch end");
  }
  EC_CHECK(search_end_step >= 0, kRuntime,
           cfg.method << ": the table's search phase did not end within the run's " << step
                      << " steps (no final table to validate); train for more steps");
  const bool stopped_early = stop;
  best.restore(*model);

  // Test: once, for the chosen checkpoint.
  std::vector<double> lat;
  auto zt = predict_split(*model, ds.test, nd, F, batch, &lat);
  const Eval test = evaluate(zt, ds.test);
  if (cfg.verbose)
    std::cerr << tag << " best step " << best_step << ": val AUC " << best_eval.auc << ", test AUC "
              << test.auc << " logloss " << test.logloss << "\n";

  const double budget = requested_budget(cfg.method);
  const double full_bytes = 4.0 * static_cast<double>(init.rows) * cfg.dim;
  const size_t at = cfg.method.find('@');
  nlohmann::ordered_json rec;
  rec["method"] = cfg.method.substr(0, at);
  rec["spec"] = cfg.method;
  rec["knob"] = table->knob();
  rec["budget_requested"] = budget > 0 ? nlohmann::ordered_json(budget) : nullptr;
  rec["budget_actual"] = table->bytes() / full_bytes;
  rec["budget_note"] = table->budget_note();
  rec["search_bytes"] = searched ? nlohmann::ordered_json(search_bytes) : nullptr;
  rec["search_end_step"] = searched ? nlohmann::ordered_json(search_end_step) : nullptr;
  rec["table_bytes"] = table->bytes();
  rec["optimizer_bytes"] = table->optimizer_bytes() + model->dense_optimizer_bytes();
  rec["dense_bytes"] = model->dense_bytes();
  rec["model"] = cfg.model;
  rec["dim"] = cfg.dim;
  rec["batch"] = batch;  // after clamping to the training rows
  rec["epochs"] = cfg.epochs;
  rec["epochs_run"] = epochs_run;
  rec["steps"] = step;
  rec["best_step"] = best_step;
  rec["evaluations"] = evals;
  rec["stopped_early"] = stopped_early;
  rec["optimizer"] = optimizer_name(cfg.optimizer.kind);
  rec["lr"] = cfg.optimizer.lr;
  rec["val_auc"] = best_eval.auc;
  rec["val_logloss"] = best_eval.logloss;
  rec["test_auc"] = test.auc;
  rec["test_logloss"] = test.logloss;
  if (!ds.test.oracle_p.empty()) {
    EC_CHECK(static_cast<int64_t>(ds.test.oracle_p.size()) == ds.test.n, kBadInput,
             ds.source << ": " << ds.test.oracle_p.size() << " oracle probabilities for "
                       << ds.test.n << " test rows");
    rec["oracle_test_auc"] = auc(ds.test.oracle_p.data(), ds.test.label.data(), ds.test.n);
  }
  rec["train_samples_per_s"] = samples / std::max(train_seconds, 1e-9);
  rec["latency_p50_ms"] = percentile(lat, 0.50);
  rec["latency_p99_ms"] = percentile(lat, 0.99);
  rec["data"] = ds.source;
  rec["rows"] = init.rows;
  rec["train_rows"] = ds.train.n;
  rec["val_rows"] = ds.val.n;
  rec["test_rows"] = ds.test.n;
  rec["split_note"] = ds.split_note;
  rec["seed"] = cfg.seed;
  rec["threads"] = omp_get_max_threads();
  rec["build_type"] = EMBCOMP_BUILD_TYPE;
  rec["git_commit"] = EMBCOMP_GIT_COMMIT;
  return rec;
}

}  // namespace embcomp::ctr

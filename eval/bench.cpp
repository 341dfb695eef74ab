#include "eval/bench.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <sstream>

#include "build_info.h"
#include "eval/knn.h"
#include "eval/metrics.h"
#include "eval/qrels.h"
#include "eval/rerank.h"
#include "toolkit/cli.h"
#include "toolkit/registry.h"
#include "toolkit/stats.h"

namespace embcomp {

std::vector<std::string> default_bench_specs(size_t d) {
  std::vector<std::string> out;
  // Baselines first, then the rest by family name.
  for (const char* first : {"Flat", "FP16", "BF16"}) {
    for (const auto* e : registered_methods())
      if (e->name == first)
        for (const auto& s : e->defaults(d)) out.push_back(s);
  }
  for (const auto* e : registered_methods()) {
    if (e->name == "Flat" || e->name == "FP16" || e->name == "BF16") continue;
    for (const auto& s : e->defaults(d)) out.push_back(s);
  }
  return out;
}

std::vector<std::string> split_methods(const std::string& list) { return split_list(list, ';'); }

std::vector<std::pair<std::string, double>> methods_below_recall(
    const std::vector<nlohmann::ordered_json>& records, double min_recall) {
  std::vector<std::pair<std::string, double>> best;  // method -> best recall, first-seen order
  for (const auto& r : records) {
    const std::string m = r.value("method", std::string("?"));
    const double v = r.contains("recall_at_k") && r["recall_at_k"].is_number()
                         ? r["recall_at_k"].get<double>()
                         : 0.0;
    auto it = std::find_if(best.begin(), best.end(), [&](const auto& p) { return p.first == m; });
    if (it == best.end()) {
      best.emplace_back(m, v);
    } else {
      it->second = std::max(it->second, v);
    }
  }
  std::vector<std::pair<std::string, double>> out;
  for (const auto& p : best)
    if (p.second < min_recall) out.push_back(p);
  return out;
}

std::map<std::string, double> retrieval_metrics(const Dataset& ds, const KnnResult& found) {
  EC_CHECK(ds.qrels.has_value(), kRuntime, "retrieval metrics need qrels");
  std::vector<float> scores = found.scores;
  if (ds.search_metric() == Metric::kL2)
    for (auto& v : scores) v = -v;  // higher is better in a run
  Run run = make_run(found.ids, scores, found.nq, found.k, ds.query_ids, ds.corpus_ids);
  static const auto metrics = parse_retrieval_metrics("ndcg@10,mrr@10,recall@100");
  RunEvaluation ev = evaluate_run(run, *ds.qrels, metrics);
  std::map<std::string, double> out;
  for (size_t i = 0; i < metrics.size(); ++i) out[metrics[i].key()] = ev.means[i];
  out["retrieval_queries"] = double(ev.queries);
  return out;
}

nlohmann::ordered_json bench_method(const Dataset& ds, const std::string& spec,
                                    const BenchOptions& opt) {
  EC_CHECK(ds.gt && ds.gt->d >= opt.k, kRuntime, "bench needs ground truth with k columns");
  const size_t n = ds.base.n, d = ds.base.d;
  auto table = make_table(spec, n, d, opt.seed);
  auto progress = [&](const std::string& what) {
    if (opt.verbose) std::cerr << "  " << table->spec() << ": " << what << "\n";
  };

  progress("training and encoding " + std::to_string(n) + " rows");
  auto t0 = Clock::now();
  table->compress(ds.base.view());
  const double build_s = since(t0);
  table->finish_budget();

  progress("searching " + std::to_string(ds.queries.n) + " queries");
  t0 = Clock::now();
  // One search to the depth every metric needs: k for recall@k, 100 for the retrieval
  // metrics; with re-ranking, F times that many candidates.
  const size_t depth = std::min(n, ds.qrels ? std::max(opt.k, kRetrievalDepth) : opt.k);
  const size_t kc = opt.rerank ? rerank_candidates(depth, opt.rerank_factor, n) : depth;
  KnnResult found = search_table(*table, ds.queries.view(), kc, ds.search_metric(), 65536,
                                 /*asymmetric=*/opt.rerank != nullptr);
  double first_stage_recall = -1;
  if (opt.rerank) {
    first_stage_recall = recall_at_k_tie_aware(found, *ds.gt, opt.k, ds.base.view(),
                                               ds.queries.view(), ds.search_metric());
    found = rerank(found, *opt.rerank, ds.queries.view(), depth, ds.search_metric());
  }
  const double search_s = since(t0);
  const double recall = recall_at_k_tie_aware(found, *ds.gt, opt.k, ds.base.view(),
                                              ds.queries.view(), ds.search_metric());

  // Reconstruction error: mean squared error per value, in blocks.
  double sq_err = 0;
  {
    const size_t block = 65536;
    FloatMatrix dec(std::min(block, n), d);
    for (size_t s = 0; s < n; s += block) {
      const size_t nb = std::min(block, n - s);
      table->decode_range(s, nb, dec.data());
      const float* x = ds.base.row(s);
      for (size_t i = 0; i < nb * d; ++i) {
        const double e = double(dec.values[i]) - x[i];
        sq_err += e * e;
      }
    }
  }

  const size_t total = table->total_bytes();
  const Codec* codec = table->codec();
  nlohmann::ordered_json r;
  r["method"] = table->spec();
  r["knob"] = table->knob();
  r["dataset"] = ds.name;
  r["n"] = n;
  r["d"] = d;
  r["nq"] = ds.queries.n;
  r["metric"] = metric_name(ds.metric);
  r["k"] = opt.k;
  r["code_bytes_per_vector"] = double(total - table->model_bytes()) / double(n);
  r["model_bytes"] = table->model_bytes();
  r["total_bytes"] = total;
  r["compression_ratio"] = 4.0 * double(n) * double(d) / double(total);
  if (table->budget()) {
    r["budget"] = *table->budget();
    r["budget_actual"] = double(total) / (4.0 * double(n) * double(d));
    if (!table->budget_note().empty()) r["budget_note"] = table->budget_note();
  }
  r["recall_at_k"] = recall;
  if (ds.qrels) {
    for (const auto& [key, v] : retrieval_metrics(ds, found)) {
      if (key == "retrieval_queries") {
        r[key] = size_t(v);
        continue;
      }
      r[key] = v;
      auto b = opt.retrieval_baseline.find(key);
      if (b != opt.retrieval_baseline.end() && b->second > 0) r[key + "_retention"] = v / b->second;
    }
  }
  r["ram_bytes"] = total;
  r["disk_bytes"] = opt.rerank ? opt.rerank->total_bytes() : 0;
  if (opt.rerank) {
    r["rerank"] = opt.rerank->spec();
    r["rerank_factor"] = opt.rerank_factor;
    r["first_stage_recall_at_k"] = first_stage_recall;
  }
  r["recon_mse"] = sq_err / double(n * d);
  r["search"] = codec && codec->search_kind() == SearchKind::kHamming ? "hamming" : "decoded";
  r["train_s"] = table->train_seconds();
  r["encode_s"] = table->encode_seconds();
  r["build_s"] = build_s;
  r["search_s"] = search_s;
  r["seed"] = opt.seed;
  r["threads"] = omp_get_max_threads();
  r["build_type"] = EMBCOMP_BUILD_TYPE;
  r["faiss"] = EMBCOMP_FAISS_FLAVOR;
  r["git_commit"] = EMBCOMP_GIT_COMMIT;
  r["version"] = EMBCOMP_VERSION;
  return r;
}

std::string format_table(const std::vector<nlohmann::ordered_json>& records, size_t k) {
  std::ostringstream os;
  char line[256];
  std::snprintf(line, sizeof(line), "%-22s %9s %11s %12s %8s %10s %10s %9s %9s %9s\n", "method",
                "B/vector", "model B", "total MB", "ratio", ("recall@" + std::to_string(k)).c_str(),
                "mse", "train s", "encode s", "search s");
  os << line;
  for (const auto& r : records) {
    if (r.contains("error")) {
      std::snprintf(line, sizeof(line), "%-22s failed: %s\n",
                    r["method"].get<std::string>().c_str(), r["error"].get<std::string>().c_str());
      os << line;
      continue;
    }
    std::snprintf(line, sizeof(line),
                  "%-22s %9.1f %11zu %12.3f %8.2f %10.4f %10.3g %9.2f %9.2f %9.2f\n",
                  r["method"].get<std::string>().c_str(), r["code_bytes_per_vector"].get<double>(),
                  r["model_bytes"].get<size_t>(), r["total_bytes"].get<double>() / 1e6,
                  r["compression_ratio"].get<double>(), r["recall_at_k"].get<double>(),
                  r["recon_mse"].get<double>(), r["train_s"].get<double>(),
                  r["encode_s"].get<double>(), r["search_s"].get<double>());
    os << line;
  }
  bool retrieval = false;
  for (const auto& r : records) retrieval = retrieval || r.contains("ndcg_at_10");
  if (retrieval) {
    std::snprintf(line, sizeof(line), "\n%-22s %9s %9s %9s %9s %9s %9s\n", "method", "nDCG@10",
                  "retained", "MRR@10", "retained", "R@100", "retained");
    os << line;
    for (const auto& r : records) {
      if (!r.contains("ndcg_at_10")) continue;
      auto g = [&](const char* key) { return r.contains(key) ? r[key].get<double>() : 0.0; };
      std::snprintf(line, sizeof(line), "%-22s %9.4f %9.3f %9.4f %9.3f %9.4f %9.3f\n",
                    r["method"].get<std::string>().c_str(), g("ndcg_at_10"), g("ndcg_at_10_retention"),
                    g("mrr_at_10"), g("mrr_at_10_retention"), g("recall_at_100"),
                    g("recall_at_100_retention"));
      os << line;
    }
  }
  return os.str();
}

}  // namespace embcomp

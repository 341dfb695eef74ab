#include "eval/index_bench.h"

#include <omp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <regex>

#include "build_info.h"
#include "eval/knn.h"
#include "index/faiss_index.h"
#include "eval/rerank.h"
#include "index/faiss_memory.h"
#include "index/own_index.h"
#include "toolkit/registry.h"
#include "toolkit/error.h"
#include "toolkit/stats.h"

namespace embcomp {

namespace {

/// RSS growth of a fresh `embcomp _index-rss FILE` process, or -1 when unavailable.
long long child_rss_growth(const std::string& binary, const std::string& file) {
  if (binary.empty()) return -1;
  const std::string cmd = "'" + binary + "' _index-rss '" + file + "' 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return -1;
  long long v = -1;
  if (std::fscanf(p, "%lld", &v) != 1) v = -1;
  return ::pclose(p) == 0 ? v : -1;
}
}  // namespace

std::vector<std::string> sweep_params(const std::string& structure) {
  std::smatch m;
  std::vector<std::string> out;
  check_structure_text(structure);
  if (std::regex_match(structure, m, std::regex("IVF([0-9]+)(_HNSW[0-9]+)?"))) {
    const size_t nlist = std::stoul(m[1]);
    for (size_t p = 1; p <= nlist && p <= 256; p *= 2) out.push_back("nprobe=" + std::to_string(p));
  } else if (std::regex_match(structure, std::regex("HNSW[0-9]+"))) {
    for (int ef : {16, 32, 64, 128, 256}) out.push_back("efSearch=" + std::to_string(ef));
  } else {
    out.push_back("");
  }
  return out;
}

std::vector<nlohmann::ordered_json> bench_index(const Dataset& ds, const std::string& method,
                                                const IndexBenchOptions& opt) {
  EC_CHECK(ds.gt && ds.gt->d >= opt.k, kRuntime, "bench needs ground truth with k columns");
  const IndexKind kind = choose_index_kind(method, opt.structure);
  BuiltIndex built;
  std::unique_ptr<OwnIndex> own;
  if (kind == IndexKind::kFaiss) {
    built = build_faiss_index(ds.base.view(), ds.metric, method, opt.structure, opt.verbose);
  } else {
    own = std::make_unique<OwnIndex>(
        OwnIndex::build(ds.base.view(), ds.metric, method, opt.structure, opt.seed, opt.verbose));
    built.meta = own->meta;
  }
  // Serialized size and RSS growth of a fresh process loading it.
  // A fresh private folder (mkdtemp, mode 0700): a fixed name in /tmp could be a folder or
  // symlink someone else prepared.
  const std::string pattern =
      (std::filesystem::temp_directory_path() / "embcomp_index_bench_XXXXXX").string();
  std::string dir_template = pattern;
  EC_CHECK(::mkdtemp(dir_template.data()) != nullptr, kRuntime,
           "cannot create a temporary folder for the index file (" << pattern
                                                                     << "): " << std::strerror(errno));
  const std::string dir = dir_template;
  struct RemoveDir {
    std::string dir;
    ~RemoveDir() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } remove_dir{dir};
  const std::string file = dir + "/index.faiss";
  if (own) own->save(file); else save_index(built, file);
  const size_t file_bytes = std::filesystem::file_size(file);
  const long long rss = child_rss_growth(opt.embcomp_binary, file);
  const size_t predicted = own ? own->predicted_bytes() : predicted_index_bytes(*built.index);

  const size_t nq = ds.queries.n, k = opt.k, n = ds.base.n;
  const Metric metric = ds.search_metric();
  // One search of the whole pipeline: k * F first-stage candidates, then re-scoring.
  auto search = [&](MatrixView<float> q, size_t factor) {
    const size_t kc = factor ? rerank_candidates(k, factor, n) : k;
    KnnResult r;
    if (own) {
      r = own->search(q, kc, /*asymmetric=*/factor > 0);
    } else {
      r.nq = q.n;
      r.k = kc;
      r.scores.resize(q.n * kc);
      std::vector<faiss::Index::idx_t> l(q.n * kc);
      built.index->search(faiss::Index::idx_t(q.n), q.data, faiss::Index::idx_t(kc), r.scores.data(),
                          l.data());
      r.ids.assign(l.begin(), l.end());
    }
    return factor ? rerank(r, *opt.rerank, q, k, metric) : r;
  };
  std::vector<size_t> factors = {0};
  if (opt.rerank) factors = opt.rerank_factors;
  const int threads = omp_get_max_threads();
  std::vector<nlohmann::ordered_json> out;
  for (const auto& params : sweep_params(opt.structure)) {
   if (own) own->set_params(params); else set_search_params(*built.index, params);
   for (size_t factor : factors) {
    if (opt.verbose)
      std::cerr << "  " << method << " " << opt.structure << " " << params
                << (factor ? " rerank x" + std::to_string(factor) : "") << "\n";
    // Batch throughput, all threads.
    size_t reps = 0;
    KnnResult found;
    auto t0 = Clock::now();
    do {
      found = search(ds.queries.view(), factor);
      ++reps;
    } while (since(t0) < opt.min_batch_s);
    const double qps = double(reps * nq) / since(t0);
    const double recall = recall_at_k_tie_aware(found, *ds.gt, k, ds.base.view(), ds.queries.view(),
                                                metric);
    // Single-thread per-query latency after a warm-up.
    omp_set_num_threads(1);
    for (size_t q = 0; q < std::min(opt.warmup, nq); ++q) search({ds.queries.row(q), 1, ds.queries.d}, factor);
    std::vector<double> lat(nq);
    for (size_t q = 0; q < nq; ++q) {
      auto t = Clock::now();
      search({ds.queries.row(q), 1, ds.queries.d}, factor);
      lat[q] = since(t) * 1e3;
    }
    omp_set_num_threads(threads);

    nlohmann::ordered_json r;
    r["method"] = method;
    r["index"] = opt.structure;
    r["index_kind"] = own ? "embcomp" : "faiss";
    if (own) r["faiss_factory"] = nullptr; else r["faiss_factory"] = built.meta["faiss_factory"];
    r["params"] = params;
    r["dataset"] = ds.name;
    r["n"] = ds.base.n;
    r["d"] = ds.base.d;
    r["nq"] = nq;
    r["metric"] = metric_name(ds.metric);
    r["k"] = k;
    r["recall_at_k"] = recall;
    r["qps"] = qps;
    r["latency_p50_ms"] = percentile(lat, 0.50);
    r["latency_p95_ms"] = percentile(lat, 0.95);
    r["latency_p99_ms"] = percentile(lat, 0.99);
    r["train_s"] = built.meta["train_s"];
    r["add_s"] = built.meta["add_s"];
    r["predicted_bytes"] = predicted;
    r["file_bytes"] = file_bytes;
    if (rss >= 0) r["rss_bytes"] = rss; else r["rss_bytes"] = nullptr;
    r["ram_bytes"] = predicted;
    r["disk_bytes"] = factor ? opt.rerank->total_bytes() : 0;
    if (factor) {
      r["rerank"] = opt.rerank->spec();
      r["rerank_factor"] = factor;
    }
    r["compression_ratio"] = 4.0 * double(ds.base.n) * double(ds.base.d) / double(predicted);
    r["threads"] = threads;
    r["build_type"] = EMBCOMP_BUILD_TYPE;
    r["faiss"] = EMBCOMP_FAISS_FLAVOR;
    r["git_commit"] = EMBCOMP_GIT_COMMIT;
    out.push_back(r);
   }
  }
  return out;
}

std::string format_index_table(const std::vector<nlohmann::ordered_json>& records, size_t k) {
  std::string s;
  char line[320];
  std::snprintf(line, sizeof(line), "%-16s %-14s %-22s %9s %10s %8s %8s %8s %11s %11s %11s\n",
                "method", "index", "params", ("recall@" + std::to_string(k)).c_str(), "QPS",
                "p50 ms", "p95 ms", "p99 ms", "predicted B", "file B", "RSS B");
  s += line;
  for (const auto& r : records) {
    if (r.contains("error")) {
      s += r["method"].get<std::string>() + " failed: " + r["error"].get<std::string>() + "\n";
      continue;
    }
    std::string params = r["params"].get<std::string>();
    if (r.contains("rerank_factor"))
      params += (params.empty() ? "" : ",") + std::string("rerank=") + std::to_string(r["rerank_factor"].get<size_t>());
    std::snprintf(line, sizeof(line), "%-16s %-14s %-22s %9.4f %10.0f %8.3f %8.3f %8.3f %11zu %11zu %11s\n",
                  r["method"].get<std::string>().c_str(), r["index"].get<std::string>().c_str(),
                  params.c_str(), r["recall_at_k"].get<double>(),
                  r["qps"].get<double>(), r["latency_p50_ms"].get<double>(),
                  r["latency_p95_ms"].get<double>(), r["latency_p99_ms"].get<double>(),
                  r["predicted_bytes"].get<size_t>(), r["file_bytes"].get<size_t>(),
                  r["rss_bytes"].is_null() ? "-" : std::to_string(r["rss_bytes"].get<long long>()).c_str());
    s += line;
  }
  return s;
}

}  // namespace embcomp

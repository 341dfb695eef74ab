#include "eval/sweep.h"

#include <faiss/utils/distances.h>
#include <omp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <numeric>
#include <optional>
#include <random>
#include <set>
#include <sstream>

#include "build_info.h"
#include "compressors/budget.h"
#include "eval/bench.h"
#include "eval/knn.h"
#include "eval/rerank.h"
#include "toolkit/cli.h"
#include "toolkit/error.h"
#include "toolkit/io.h"
#include "toolkit/registry.h"
#include "toolkit/stats.h"

namespace embcomp {

namespace {

using json = nlohmann::ordered_json;

const std::set<std::string>& faiss_heads() {
  static const std::set<std::string> heads{"SQ", "PQ", "OPQ+PQ", "RQ", "PCA+SQ4", "PCA+SQ6",
                                           "PCA+SQ8"};
  return heads;
}

// Fixed-size codecs offered at every budget their bytes fit in.
const std::vector<std::string>& fixed_specs() {
  static const std::vector<std::string> specs{"FP16", "BF16", "INT8", "Binary", "Binary-median"};
  return specs;
}

// Re-scoring representations for Binary, largest first.
const std::vector<std::string>& rerank_specs() {
  static const std::vector<std::string> specs{"FP16", "SQ8", "SQ6", "SQ4"};
  return specs;
}

// Table methods without a budget form (DedupStudy: the study's stop rule, not a budget,
// sets the size), each by its plain name: for DedupStudy the study's 10,000 x 100 blocks.
// Read from the registry, so that a new such method is not silently left out.
std::vector<std::string> data_sized_specs() {
  std::vector<std::string> out;
  for (const auto* e : registered_methods())
    if (e->kind == MethodKind::kTable && budget_heads(*e).empty()) out.push_back(e->name);
  return out;
}

size_t codec_bytes(const std::string& spec, size_t n, size_t d) {
  auto c = make_codec(spec, d);
  return n * c->code_size() + c->model_bytes();
}

}  // namespace

SweepQuality parse_sweep_quality(const std::string& q) {
  SweepQuality out;
  out.name = q;
  const auto at = q.find('@');
  EC_CHECK(at != std::string::npos, kUsage,
           "--quality must be recall@K, ndcg@10 or mrr@10, not '" << q << "'");
  const std::string head = q.substr(0, at), tail = q.substr(at + 1);
  if (head == "recall") {
    out.k = size_t(parse_int_arg("--quality " + q, tail, "K", 1, 1000));
    out.key = "recall_at_" + std::to_string(out.k);
    return out;
  }
  EC_CHECK((head == "ndcg" || head == "mrr") && tail == "10", kUsage,
           "--quality must be recall@K, ndcg@10 or mrr@10, not '" << q << "'");
  out.recall = false;
  out.key = head + "_at_10";
  return out;
}

void SweepOptions::validate() const {
  EC_CHECK(!out_dir.empty(), kUsage, "--out DIR is required");
  const SweepQuality q = parse_sweep_quality(quality);
  EC_CHECK(!budgets.empty(), kUsage, "--budgets is empty");
  for (size_t i = 0; i < budgets.size(); ++i) {
    parse_budget("--budgets " + budgets[i], budgets[i]);
    for (size_t j = 0; j < i; ++j)
      EC_CHECK(budgets[j] != budgets[i], kUsage, "--budgets lists " << budgets[i] << " twice");
  }
  const auto known = sweep_families();
  for (const auto& f : families)
    EC_CHECK(std::find(known.begin(), known.end(), f) != known.end(), kUsage,
             "--families: unknown family '" << f << "'");
  EC_CHECK(val_fraction > 0 && val_fraction < 1, kUsage,
           "--val-fraction must be in (0, 1), got " << val_fraction);
  EC_CHECK(latency_queries >= 1, kUsage, "--latency-queries must be >= 1");
  EC_CHECK(rerank_factor >= 1, kUsage, "--rerank-factor must be >= 1");
  // The first stage takes F times the search depth (at most max(k, 100) results per query):
  // a product beyond 64 bits failed every re-ranked point late, after --out was written.
  const size_t depth = std::max(q.k, kRetrievalDepth);
  EC_CHECK(rerank_factor <= SIZE_MAX / depth, kUsage,
           "--rerank-factor " << rerank_factor << " times " << depth
                              << " results per query does not fit in 64 bits; use at most "
                              << SIZE_MAX / depth);
  EC_CHECK(max_latency_ms >= 0 && std::isfinite(max_latency_ms), kUsage,
           "--max-latency-ms must be a number >= 0, got " << max_latency_ms);
  EC_CHECK(min_quality < 0 || min_quality <= 1, kUsage,
           "--min-quality must be in [0, 1], got " << min_quality);
}

namespace {

std::string fmt_seconds(double s) {
  std::ostringstream os;
  const long t = std::lround(s);
  if (t >= 3600) os << t / 3600 << "h";
  if (t >= 60) os << (t % 3600) / 60 << "m";
  os << t % 60 << "s";
  return os.str();
}

/// Sets "quality" and "retention" of a measured record from the metric q; false when the
/// record lacks it. Records keep every metric, so a resumed sweep may change --quality.
bool set_quality(json& r, const SweepQuality& q) {
  if (!r.contains(q.key) || !r[q.key].is_number()) return false;
  r["quality"] = r[q.key];
  r.erase("retention");
  if (q.recall) {
    r["retention"] = r[q.key];  // exact search has recall 1
  } else if (r.contains(q.key + "_retention") && r[q.key + "_retention"].is_number()) {
    r["retention"] = r[q.key + "_retention"];
  }
  r["quality_metric"] = q.name;
  return true;
}

/// Restores the OpenMP thread count when it leaves scope (also when an exception does).
struct OmpThreadsGuard {
  int saved = omp_get_max_threads();
  ~OmpThreadsGuard() { omp_set_num_threads(saved); }
};

/// The rows and exact-search baselines of one query split.
struct Split {
  std::string name;  // "val" | "test"
  Dataset ds;
  std::map<std::string, double> baseline;  // exact fp32 retrieval metrics
};

/// The fields every record of a point starts with.
json point_record(const SweepCandidate& c, const std::string& budget, double fraction,
                  const std::string& split) {
  json r;
  r["budget"] = budget;
  r["budget_fraction"] = fraction;
  r["family"] = c.family;
  r["key"] = c.key();
  r["split"] = split;
  return r;
}

/// A candidate's compressed tables, built once and measured on one or both splits.
struct Built {
  std::unique_ptr<TableCompressor> table, fine;
  double build_s = 0;
};

std::shared_ptr<Built> build_candidate(const Dataset& full, const SweepCandidate& c,
                                       const SweepOptions& opt) {
  const size_t n = full.base.n, d = full.base.d;
  auto b = std::make_shared<Built>();
  auto t0 = Clock::now();
  b->table = make_table(c.spec, n, d, opt.seed);
  b->table->compress(full.base.view());
  b->table->finish_budget();
  if (!c.rerank.empty()) {
    b->fine = make_table(c.rerank, n, d, opt.seed);
    b->fine->compress(full.base.view());
  }
  b->build_s = since(t0);
  return b;
}

/// Which path search_table takes for nq queries against table (audit L8: the quality is
/// measured on a whole split at once, the latency one query at a time). Both go through
/// the same search_table call; for tables searched over decoded rows, FAISS's exact
/// search takes its BLAS kernel from distance_compute_blas_threshold queries per call and
/// its SIMD loop below, both exact float32 over the same decoded rows.
std::string search_path(const TableCompressor& table, bool two_stage, size_t nq) {
  const Codec* codec = table.codec();
  std::string s;
  if (codec && codec->search_kind() == SearchKind::kHamming) {
    s = two_stage ? "binary codes decoded, float scan" : "hamming scan";
  } else {
    s = std::string("decoded rows, FAISS ") +
        (nq >= size_t(faiss::distance_compute_blas_threshold) ? "BLAS" : "SIMD loop");
  }
  return two_stage ? s + ", exact re-scoring" : s;
}

/// Measures built tables on one split.
json measure(const Dataset& full, const Split& split, const SweepCandidate& c, const Built& built,
             const std::string& budget, double fraction, const SweepQuality& q,
             const SweepOptions& opt) {
  const size_t n = full.base.n, d = full.base.d;
  json r = point_record(c, budget, fraction, split.name);
  const TableCompressor* table = built.table.get();
  const TableCompressor* fine = built.fine.get();
  const double build_s = built.build_s;

  const Dataset& ds = split.ds;
  const size_t depth = std::min(n, ds.qrels ? std::max(q.k, kRetrievalDepth) : q.k);
  auto search = [&](MatrixView<float> queries, size_t want) {
    const size_t kc = fine ? rerank_candidates(want, c.rerank_factor, n) : want;
    KnnResult found = search_table(*table, queries, kc, ds.search_metric(), 65536,
                                   /*asymmetric=*/fine != nullptr);
    if (fine) found = rerank(found, *fine, queries, want, ds.search_metric());
    return found;
  };
  const auto t0 = Clock::now();
  KnnResult found = search(ds.queries.view(), depth);
  const double batch_s = since(t0);

  // Latency: queries one at a time on one thread, after one warm-up query.
  std::vector<double> lat_ms;
  {
    OmpThreadsGuard restore;
    omp_set_num_threads(1);
    const size_t nl = std::min(opt.latency_queries, ds.queries.n);
    for (size_t i = 0; i <= nl; ++i) {
      const size_t qi = i == 0 ? 0 : i - 1;
      MatrixView<float> one{ds.queries.row(qi), 1, d};
      auto t1 = Clock::now();
      search(one, q.k);
      if (i > 0) lat_ms.push_back(1000.0 * since(t1));
    }
  }

  const size_t total = table->total_bytes() + (fine ? fine->total_bytes() : 0);
  r["method"] = table->spec();
  r["knob"] = table->knob();
  if (fine) {
    r["rerank"] = fine->spec();
    r["rerank_factor"] = c.rerank_factor;
  }
  r["faiss_family"] = c.faiss_family;
  r["status"] = "ok";
  r["n"] = n;
  r["d"] = d;
  r["nq"] = ds.queries.n;
  r["total_bytes"] = total;
  r["ram_bytes"] = table->total_bytes();
  r["disk_bytes"] = fine ? fine->total_bytes() : 0;
  r["compression_ratio"] = 4.0 * double(n) * double(d) / double(total);
  r["budget_actual"] = double(total) / (4.0 * double(n) * double(d));
  r["within_budget"] = double(total) <= fraction * 4.0 * double(n) * double(d);
  if (!table->budget_note().empty()) r["budget_note"] = table->budget_note();
  r["quality_metric"] = q.name;
  r["search_path"] = search_path(*table, fine != nullptr, ds.queries.n);
  r["latency_search_path"] = search_path(*table, fine != nullptr, 1);
  if (ds.gt) {
    const size_t kr = std::min<size_t>(q.recall ? q.k : 10, ds.gt->d);
    r["recall_at_" + std::to_string(kr)] = recall_at_k_tie_aware(
        found, *ds.gt, kr, full.base.view(), ds.queries.view(), ds.search_metric());
  }
  if (ds.qrels) {
    for (const auto& [key, v] : retrieval_metrics(ds, found)) {
      if (key == "retrieval_queries") continue;
      // Judged recall is stored apart when the exact-search recall has the same name
      // (--quality recall@100 on a dataset with qrels).
      const std::string out_key = r.contains(key) ? "judged_" + key : key;
      r[out_key] = v;
      auto b = split.baseline.find(key);
      if (b != split.baseline.end() && b->second > 0) r[out_key + "_retention"] = v / b->second;
    }
  }
  EC_CHECK(set_quality(r, q), kRuntime, "the sweep could not compute " << q.name);
  r["qps"] = double(ds.queries.n) / std::max(batch_s, 1e-9);
  r["latency_p50_ms"] = percentile(lat_ms, 0.5);
  r["latency_p95_ms"] = percentile(lat_ms, 0.95);
  r["build_s"] = build_s;
  r["train_s"] = table->train_seconds();
  r["encode_s"] = table->encode_seconds();
  r["seed"] = opt.seed;
  r["threads"] = omp_get_max_threads();
  r["build_type"] = EMBCOMP_BUILD_TYPE;
  r["git_commit"] = EMBCOMP_GIT_COMMIT;
  return r;
}

bool better(const json& a, const json& b) {
  // Higher quality, then fewer bytes, then more QPS.
  const double qa = a["quality"].get<double>(), qb = b["quality"].get<double>();
  if (qa != qb) return qa > qb;
  const size_t ba = a["total_bytes"].get<size_t>(), bb = b["total_bytes"].get<size_t>();
  if (ba != bb) return ba < bb;
  return a["qps"].get<double>() > b["qps"].get<double>();
}

std::string csv_cell(const json& v) {
  std::string s;
  if (v.is_null()) return "";
  if (v.is_string()) {
    s = v.get<std::string>();
  } else if (v.is_boolean()) {
    s = v.get<bool>() ? "true" : "false";
  } else {
    s = v.dump();
  }
  if (s.find_first_of(",\"\n") != std::string::npos) {
    std::string e = "\"";
    for (char ch : s) e += ch == '"' ? std::string("\"\"") : std::string(1, ch);
    return e + "\"";
  }
  return s;
}

const std::vector<std::string>& csv_columns() {
  static const std::vector<std::string> cols{
      "budget", "budget_fraction", "split", "role", "family", "method", "knob", "rerank",
      "rerank_factor", "faiss_family", "status", "total_bytes", "ram_bytes", "disk_bytes",
      "compression_ratio", "budget_actual", "within_budget", "quality_metric", "quality",
      "retention", "recall_at_10", "ndcg_at_10", "mrr_at_10", "recall_at_100",
      "ndcg_at_10_retention", "qps", "latency_p50_ms", "latency_p95_ms", "build_s",
      "pareto_bytes", "pareto_qps", "error"};
  return cols;
}

std::string to_csv(const std::vector<json>& records) {
  std::string out;
  for (size_t i = 0; i < csv_columns().size(); ++i) out += (i ? "," : "") + csv_columns()[i];
  out += "\n";
  for (const auto& r : records) {
    for (size_t i = 0; i < csv_columns().size(); ++i) {
      const auto& c = csv_columns()[i];
      out += (i ? "," : "") + (r.contains(c) ? csv_cell(r[c]) : std::string());
    }
    out += "\n";
  }
  return out;
}

std::string fmt(double v, int prec) {
  std::ostringstream os;
  os << std::fixed << std::setprecision(prec) << v;
  return os.str();
}

std::string method_label(const json& r) {
  std::string s = r.value("method", std::string());
  if (r.contains("rerank")) s += " > " + r["rerank"].get<std::string>() + " x" +
                                std::to_string(r["rerank_factor"].get<size_t>());
  return s;
}

bool is_ok(const json& r) { return r.is_object() && r.value("status", std::string()) == "ok"; }

void append_line(const std::string& path, const json& r) {
  std::ofstream out(path, std::ios::app);
  out << r.dump() + "\n";
  out.flush();
  EC_CHECK(out.good(), kRuntime, "cannot append to " << path);
}

/// Families whose solver picks the knob from (n, d, budget) alone, so that equal knobs
/// mean equal tables; fixed-size codecs too.
bool setting_is_data_independent(const SweepCandidate& c) {
  static const std::set<std::string> fams{"SQ", "PQ", "OPQ+PQ", "RQ", "PCA", "PCA+SQ8",
                                          "PCA+SQ6", "PCA+SQ4", "SVD", "GQ", "TT"};
  return c.spec.find('@') == std::string::npos || fams.count(c.family) > 0;
}

json sweep_config(const Dataset& ds, const SweepOptions& opt) {
  json c;
  c["dataset"] = ds.name;
  c["n"] = ds.base.n;
  c["d"] = ds.base.d;
  c["nq"] = ds.queries.n;
  c["seed"] = opt.seed;
  c["val_fraction"] = opt.val_fraction;
  c["latency_queries"] = opt.latency_queries;
  c["rerank_factor"] = opt.rerank_factor;
  return c;
}

/// The records of dir/results.jsonl to continue from (--resume), after checking that
/// dir/sweep.json describes the same sweep; without --resume, refuses a dir that already
/// holds a sweep. Reads only: creates and writes nothing.
std::vector<json> resume_records(const std::string& dir, const json& config,
                                 const SweepOptions& opt, const SweepQuality& q) {
  namespace fs = std::filesystem;
  std::error_code ec;
  const fs::file_status dir_status = fs::status(dir, ec);
  EC_CHECK(!fs::exists(dir_status) || fs::is_directory(dir_status), kBadInput,
           "--out " << dir << " is not a directory");
  const std::string results_path = dir + "/results.jsonl";
  const std::string config_path = dir + "/sweep.json";
  if (!opt.resume) {
    EC_CHECK(!fs::exists(fs::symlink_status(results_path, ec)), kUsage,
             dir << " already holds a sweep (results.jsonl); pass --resume to continue it or "
                    "choose another --out");
    return {};
  }
  if (fs::exists(fs::symlink_status(config_path, ec))) {
    require_regular_file(config_path, "sweep configuration");
    std::ifstream in(config_path);
    json old;
    try {
      old = json::parse(in);
    } catch (const std::exception&) {
      EC_THROW(kBadInput, config_path << " is not valid JSON");
    }
    EC_CHECK(old.is_object(), kBadInput, config_path << " is not a sweep configuration");
    for (const auto& [k, v] : config.items())
      EC_CHECK(old.contains(k) && old[k] == v, kBadInput,
               "--resume: " << dir << " holds a sweep with " << k << "="
                            << (old.contains(k) ? old[k].dump() : "?") << ", this one has "
                            << v.dump() << "; use another --out");
  }
  // Failed points are measured again; the others take this run's quality metric.
  std::vector<json> records;
  for (auto& r : read_sweep_results(results_path)) {
    if (r["status"] == "failed") continue;
    if (is_ok(r))
      EC_CHECK(set_quality(r, q), kBadInput,
               results_path << ": a record lacks " << q.key << " for --quality " << q.name);
    records.push_back(std::move(r));
  }
  return records;
}

}  // namespace

std::string SweepCandidate::key() const {
  if (rerank.empty()) return spec;
  return spec + " > " + rerank + " x" + std::to_string(rerank_factor);
}

void check_sweep_record(const json& r, const std::string& where) {
  EC_CHECK(r.is_object(), kBadInput,
           where << ": not a sweep record (a JSON object); the sweep directory is damaged");
  enum Type { kString, kNumber, kCount, kBool };
  auto has = [&](const char* key, Type t) {
    if (!r.contains(key)) return false;
    const json& v = r[key];
    const bool ok = t == kString   ? v.is_string()
                    : t == kNumber ? v.is_number()
                    : t == kCount  ? v.is_number_unsigned()
                                   : v.is_boolean();
    static const char* names[] = {"a string", "a number", "a whole number >= 0", "true or false"};
    EC_CHECK(ok, kBadInput,
             where << ": \"" << key << "\" must be " << names[t] << ", not " << v.dump()
                   << "; the sweep directory is damaged");
    return true;
  };
  auto need = [&](const char* key, Type t) {
    EC_CHECK(has(key, t), kBadInput,
             where << ": the record lacks \"" << key << "\"; the sweep directory is damaged");
  };
  for (const char* key : {"budget", "family", "key", "split", "method", "status"})
    need(key, kString);
  const std::string split = r["split"], status = r["status"];
  EC_CHECK(split == "val" || split == "test", kBadInput,
           where << ": split \"" << split << "\" is neither val nor test");
  EC_CHECK(status == "ok" || status == "failed" || status == "unreachable", kBadInput,
           where << ": unknown status \"" << status << "\"");
  for (const char* key : {"knob", "role", "budget_note", "reused_from_budget", "quality_metric",
                          "search_path", "latency_search_path"})
    has(key, kString);
  for (const char* key :
       {"budget_fraction", "quality", "retention", "point_s", "latency_p95_ms", "train_s",
        "encode_s"})
    has(key, kNumber);
  for (const char* key : {"ram_bytes", "disk_bytes", "n", "d", "nq"}) has(key, kCount);
  for (const char* key : {"pareto_bytes", "pareto_qps"}) has(key, kBool);
  if (has("rerank", kString)) need("rerank_factor", kCount);
  if (status != "ok") {
    need("error", kString);
    has("faiss_family", kBool);
    return;
  }
  need("total_bytes", kCount);
  need("faiss_family", kBool);
  need("within_budget", kBool);
  for (const char* key : {"compression_ratio", "budget_actual", "qps", "latency_p50_ms", "build_s"})
    need(key, kNumber);
  EC_CHECK(r["total_bytes"].get<size_t>() > 0, kBadInput, where << ": total_bytes is 0");
  // Every metric a resumed sweep may choose as its quality.
  for (const auto& [key, v] : r.items())
    if ((key.rfind("recall_at_", 0) == 0 || key.rfind("judged_", 0) == 0 ||
         key.rfind("ndcg_at_", 0) == 0 || key.rfind("mrr_at_", 0) == 0) &&
        !v.is_number())
      EC_THROW(kBadInput, where << ": \"" << key << "\" must be a number, not " << v.dump()
                                << "; the sweep directory is damaged");
}

std::vector<json> read_sweep_results(const std::string& path) {
  std::vector<json> out;
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::symlink_status(path, ec))) return out;
  require_regular_file(path, "sweep results");
  std::ifstream in(path, std::ios::binary);
  EC_CHECK(in.good(), kBadInput, path << ": cannot open for reading");
  std::ostringstream all;
  all << in.rdbuf();
  const std::string text = all.str();
  std::string kept;
  size_t start = 0, lineno = 0;
  bool dropped = false;
  while (start < text.size()) {
    const size_t nl = text.find('\n', start);
    const bool last_unfinished = nl == std::string::npos;
    const std::string line = text.substr(start, last_unfinished ? std::string::npos : nl - start);
    start = last_unfinished ? text.size() : nl + 1;
    ++lineno;
    if (line.empty()) continue;
    const std::string where = path + ":" + std::to_string(lineno);
    json r;
    try {
      r = json::parse(line);
    } catch (const std::exception&) {
      // Only an append cut short by an interrupt may be dropped: the last line, with no
      // newline after it, the start of a record and printable (a file of NUL bytes or
      // other garbage is damage, not an interrupted write).
      const bool printable = std::all_of(line.begin(), line.end(), [](char c) {
        return static_cast<unsigned char>(c) >= 0x20 || c == '\t';
      });
      EC_CHECK(last_unfinished && line.front() == '{' && printable, kBadInput,
               where << ": not a JSON record; the sweep directory is damaged");
      dropped = true;
      continue;
    }
    check_sweep_record(r, where);
    out.push_back(std::move(r));
    kept += line + "\n";
  }
  if (dropped) {
    std::cerr << "[sweep] dropping the unfinished last line of " << path << "\n";
    write_text_file(path, kept);
  }
  return out;
}

std::vector<std::string> sweep_families() {
  std::vector<std::string> out;
  for (const auto* e : registered_methods())
    for (const auto& h : budget_heads(*e)) out.push_back(h);
  for (const auto& s : data_sized_specs()) out.push_back(s);
  for (const auto& s : fixed_specs()) out.push_back(s);
  out.push_back("Binary+rerank");
  return out;
}

std::vector<SweepCandidate> sweep_candidates(const std::string& budget, size_t n, size_t d,
                                             size_t rerank_factor) {
  const double fraction = parse_budget("--budgets " + budget, budget);
  const double bytes = fraction * 4.0 * double(n) * double(d);
  std::vector<SweepCandidate> out;
  for (const auto* e : registered_methods()) {
    for (const auto& h : budget_heads(*e)) {
      SweepCandidate c;
      c.family = h;
      c.spec = h + "@" + budget;
      c.faiss_family = faiss_heads().count(h) > 0;
      out.push_back(c);
    }
  }
  // The data sets these methods' size: offered at every budget, built once (a spec
  // without '@' is measured once and reused at the other budgets) and recommended only
  // where the bytes they ended with fit (within_budget).
  for (const auto& s : data_sized_specs()) {
    SweepCandidate c;
    c.family = s;
    c.spec = s;
    out.push_back(c);
  }
  for (const auto& s : fixed_specs()) {
    if (double(codec_bytes(s, n, d)) > bytes) continue;
    SweepCandidate c;
    c.family = s;
    c.spec = s;
    out.push_back(c);
  }
  const size_t binary = codec_bytes("Binary", n, d);
  for (const auto& r : rerank_specs()) {
    if (double(binary + codec_bytes(r, n, d)) > bytes) continue;
    SweepCandidate c;
    c.family = "Binary+rerank";
    c.spec = "Binary";
    c.rerank = r;
    c.rerank_factor = rerank_factor;
    out.push_back(c);
    break;
  }
  return out;
}

void split_queries(size_t nq, double val_fraction, uint64_t seed, std::vector<size_t>& val,
                   std::vector<size_t>& test) {
  EC_CHECK(nq >= 2, kBadInput, "the sweep needs at least 2 queries to split, got " << nq);
  EC_CHECK(val_fraction > 0 && val_fraction < 1, kUsage,
           "--val-fraction must be in (0, 1), got " << val_fraction);
  std::vector<size_t> perm(nq);
  std::iota(perm.begin(), perm.end(), 0);
  std::mt19937_64 rng(seed ^ 0x5157EE9ull);
  for (size_t i = nq - 1; i > 0; --i) std::swap(perm[i], perm[rng() % (i + 1)]);
  size_t nv = size_t(std::llround(val_fraction * double(nq)));
  nv = std::clamp<size_t>(nv, 1, nq - 1);
  val.assign(perm.begin(), perm.begin() + long(nv));
  test.assign(perm.begin() + long(nv), perm.end());
  std::sort(val.begin(), val.end());
  std::sort(test.begin(), test.end());
}

Dataset query_subset(const Dataset& ds, const std::vector<size_t>& rows) {
  Dataset out;
  out.name = ds.name;
  out.base_path = ds.base_path;
  out.metric = ds.metric;
  out.corpus_ids = ds.corpus_ids;
  out.queries = FloatMatrix(rows.size(), ds.queries.d);
  for (size_t i = 0; i < rows.size(); ++i)
    std::copy_n(ds.queries.row(rows[i]), ds.queries.d, out.queries.row(i));
  if (ds.gt) {
    IdMatrix gt(rows.size(), ds.gt->d);
    for (size_t i = 0; i < rows.size(); ++i) std::copy_n(ds.gt->row(rows[i]), ds.gt->d, gt.row(i));
    out.gt = std::move(gt);
  }
  if (!ds.query_ids.empty())
    for (size_t r : rows) out.query_ids.push_back(ds.query_ids[r]);
  if (ds.qrels) {
    Qrels q;
    for (size_t r : rows) {
      const std::string& qid = ds.query_ids.empty() ? std::to_string(r) : ds.query_ids[r];
      auto it = ds.qrels->by_query.find(qid);
      if (it != ds.qrels->by_query.end()) q.by_query[qid] = it->second;
    }
    out.qrels = std::move(q);
  }
  return out;
}

void mark_pareto(std::vector<json>& records) {
  std::vector<size_t> ok;
  for (size_t i = 0; i < records.size(); ++i)
    if (is_ok(records[i]) && records[i].contains("quality") &&
        records[i].value("split", "") == "val")
      ok.push_back(i);
  for (size_t i : ok) {
    const double qi = records[i]["quality"].get<double>();
    const double bi = records[i]["total_bytes"].get<double>();
    const double si = records[i]["qps"].get<double>();
    bool dom_bytes = false, dom_qps = false;
    for (size_t j : ok) {
      if (j == i) continue;
      const double qj = records[j]["quality"].get<double>();
      const double bj = records[j]["total_bytes"].get<double>();
      const double sj = records[j]["qps"].get<double>();
      if (qj >= qi && bj <= bi && (qj > qi || bj < bi)) dom_bytes = true;
      if (qj >= qi && sj >= si && (qj > qi || sj > si)) dom_qps = true;
    }
    records[i]["pareto_bytes"] = !dom_bytes;
    records[i]["pareto_qps"] = !dom_qps;
  }
}

SweepSummary run_sweep(const Dataset& ds, const SweepOptions& opt) {
  const auto t_start = Clock::now();
  opt.validate();
  const SweepQuality q = parse_sweep_quality(opt.quality);
  const size_t n = ds.base.n, d = ds.base.d;
  if (q.recall) {
    EC_CHECK(ds.gt && ds.gt->d >= q.k, kRuntime, "the sweep needs ground truth with k columns");
  } else {
    EC_CHECK(ds.qrels.has_value(), kBadInput,
             "--quality " << q.name << " needs relevance judgments (--qrels or a dataset with "
                             "qrels, e.g. cacm-glove)");
  }

  // Candidates, checked before any work.
  std::vector<std::pair<std::string, std::vector<SweepCandidate>>> plan;
  size_t total_points = 0;
  for (const auto& b : opt.budgets) {
    auto cands = sweep_candidates(b, n, d, opt.rerank_factor);
    if (!opt.families.empty()) {
      std::vector<SweepCandidate> keep;
      for (auto& c : cands)
        if (std::find(opt.families.begin(), opt.families.end(), c.family) != opt.families.end())
          keep.push_back(c);
      cands = std::move(keep);
    }
    EC_CHECK(!cands.empty(), kUsage,
             "no candidate of --families " << (opt.families.empty() ? "(all)" : "as given")
                                           << " fits the budget " << b);
    total_points += cands.size();
    plan.emplace_back(b, std::move(cands));
  }

  // Query splits (checks --val-fraction and the number of queries).
  std::vector<size_t> val_rows, test_rows;
  split_queries(ds.queries.n, opt.val_fraction, opt.seed, val_rows, test_rows);

  // The output directory: a fresh one, or the same sweep resumed. Everything is checked
  // before the directory is created or sweep.json written.
  const std::string dir = opt.out_dir;
  const std::string results_path = dir + "/results.jsonl";
  const std::string config_path = dir + "/sweep.json";
  const json config = sweep_config(ds, opt);
  std::vector<json> records = resume_records(dir, config, opt, q);
  ::mkdir(dir.c_str(), 0755);
  struct stat st {};
  EC_CHECK(::stat(dir.c_str(), &st) == 0 && S_ISDIR(st.st_mode), kBadInput,
           "--out " << dir << " is not a directory and cannot be created");
  write_text_file(config_path, config.dump(2) + "\n");

  std::map<std::pair<std::string, std::string>, size_t> done;  // (budget, key@split) -> record
  for (size_t i = 0; i < records.size(); ++i) {
    const auto& r = records[i];
    done[{r.value("budget", ""), r.value("key", "") + "@" + r.value("split", "")}] = i;
  }

  // Exact baselines of the splits.
  Split val{"val", query_subset(ds, val_rows), {}};
  Split test{"test", query_subset(ds, test_rows), {}};
  for (Split* s : {&val, &test}) {
    if (!s->ds.qrels) continue;
    const size_t depth = std::min(n, std::max(q.k, kRetrievalDepth));
    s->baseline = retrieval_metrics(
        s->ds, exact_knn(ds.base.view(), s->ds.queries.view(), depth, ds.search_metric()));
  }
  if (opt.verbose)
    std::cerr << "[sweep] " << ds.name << ": " << n << " x " << d << ", " << val_rows.size()
              << " validation and " << test_rows.size() << " test queries, " << plan.size()
              << " budgets, " << total_points << " candidates, quality " << q.name << "\n";

  // Validation measurements.
  const bool tty = ::isatty(2);
  size_t point = 0, measured = 0;
  double measured_s = 0;
  int failures = 0;
  // Tables of the current budget's best candidates so far, so that the test split reuses
  // them instead of building them again (at most three are kept).
  std::map<std::string, std::shared_ptr<Built>> kept;
  std::map<std::string, size_t> by_setting;  // family|knob|rerank@split -> record
  auto run_point = [&](const std::string& budget, double fraction, const SweepCandidate& c,
                       Split& split, const std::string& role,
                       std::shared_ptr<Built>* built_out) -> json {
    auto it = done.find({budget, c.key() + "@" + split.name});
    if (it != done.end()) return records[it->second];
    json r;
    const auto t0 = Clock::now();
    // The same setting at another budget (a solver that cannot use a larger budget, a
    // fixed-size codec): the measurement is reused, not repeated.
    std::string setting;
    try {
      if (setting_is_data_independent(c)) {
        auto probe = make_table(c.spec, n, d, opt.seed);  // solves the knob only
        setting = c.family + "|" + probe->knob() + "|" + c.key().substr(c.spec.size()) + "@" +
                  split.name;
        auto same = by_setting.find(setting);
        if (same != by_setting.end()) {
          r = records[same->second];
          r.erase("role");
          if (!role.empty()) r["role"] = role;
          const double actual = r["budget_actual"].get<double>();
          r["budget"] = budget;
          r["budget_fraction"] = fraction;
          r["key"] = c.key();
          r["method"] = probe->spec();
          r["within_budget"] = actual <= fraction;
          r.erase("budget_note");
          const std::string note = budget_gap_note(
              actual, fraction, "the solver chose the same setting as at " +
                                    records[same->second]["budget"].get<std::string>());
          if (!note.empty()) r["budget_note"] = note;
          r["reused_from_budget"] = records[same->second]["budget"];
          r["point_s"] = 0.0;
          r.erase("pareto_bytes");
          r.erase("pareto_qps");
          append_line(results_path, r);
          done[{budget, c.key() + "@" + split.name}] = records.size();
          records.push_back(r);
          return r;
        }
      }
    } catch (const std::exception&) {
      setting.clear();  // the measurement below records the error
    }
    try {
      auto k = kept.find(c.key());
      std::shared_ptr<Built> built = k != kept.end() ? k->second : build_candidate(ds, c, opt);
      r = measure(ds, split, c, *built, budget, fraction, q, opt);
      if (built_out) *built_out = built;
    } catch (const std::exception& e) {
      const auto* err = dynamic_cast<const Error*>(&e);
      const std::string msg = err ? err->message() : e.what();
      const bool unreachable = msg.find("cannot be met") != std::string::npos;
      r = point_record(c, budget, fraction, split.name);
      r["method"] = c.spec;
      if (!c.rerank.empty()) {
        r["rerank"] = c.rerank;
        r["rerank_factor"] = c.rerank_factor;
      }
      r["faiss_family"] = c.faiss_family;
      r["status"] = unreachable ? "unreachable" : "failed";
      r["error"] = msg;
      if (!unreachable) {
        ++failures;
        std::cerr << "\n[sweep] " << one_line(c.key()) << " at " << budget
                  << " failed: " << one_line(msg) << "\n";
      }
    }
    if (!role.empty()) r["role"] = role;
    r["point_s"] = since(t0);  // wall time of this point: build, search, latency
    measured_s += since(t0);
    ++measured;
    append_line(results_path, r);
    if (!setting.empty() && is_ok(r) && !by_setting.count(setting)) by_setting[setting] = records.size();
    done[{budget, c.key() + "@" + split.name}] = records.size();
    records.push_back(r);
    return r;
  };

  json recommendation = json::array();
  struct Row {
    std::string budget;
    std::string note;  // why nothing is recommended
    json best, latency, faiss;
    json best_test, latency_test, faiss_test;
  };
  std::vector<Row> rows;
  std::map<std::string, json> kept_best;  // slot -> the record kept for it
  // Each FAISS family of cands re-solved to at most `bytes` ("PQ@<fraction>", the
  // fraction rounded down to 1e-9) and measured on the validation split; the best that
  // fits. The registry solves the knob, as for any budget spec.
  auto faiss_at_bytes = [&](const std::string& budget, double fraction,
                            const std::vector<SweepCandidate>& cands,
                            size_t bytes) -> std::optional<json> {
    const double f = std::floor(double(bytes) / (4.0 * double(n) * double(d)) * 1e9) / 1e9;
    if (!(f > 0)) return std::nullopt;
    std::string text = fmt(f, 9);
    text.erase(text.find_last_not_of('0') + 1);
    std::optional<json> pick;
    for (const auto& c : cands) {
      if (!c.faiss_family) continue;
      SweepCandidate at = c;
      at.spec = c.family + "@" + text;
      if (opt.verbose)
        std::cerr << "[sweep] " << budget << " FAISS-only pick: " << at.spec << " (" << bytes
                  << " B, the recommendation's bytes)\n";
      const json r = run_point(budget, fraction, at, val, "faiss_resolved", nullptr);
      if (is_ok(r) && r["total_bytes"].get<size_t>() <= bytes && (!pick || better(r, *pick)))
        pick = r;
    }
    return pick;
  };
  // Recommendation per budget from validation only, then one test measurement each.
  auto budget_tests = [&](const std::string& budget, double fraction,
                          const std::vector<SweepCandidate>& cands) {
    Row row;
    row.budget = budget;
    // Copies, not pointers into records: the test measurements append to it.
    std::vector<json> vals;
    size_t failed = 0, unreachable = 0, over = 0;
    for (const auto& c : cands) {
      const json r = records[done.at({budget, c.key() + "@val"})];
      if (is_ok(r) && r["within_budget"].get<bool>()) vals.push_back(r);
      const std::string status = r.value("status", "");
      failed += status == "failed";
      unreachable += status == "unreachable";
      over += is_ok(r) && !r["within_budget"].get<bool>();
    }
    std::ostringstream none;
    none << "none of the " << cands.size() << " candidates is usable: " << failed << " failed, "
         << unreachable << " cannot meet the budget, " << over << " ended over it";
    row.note = none.str();
    std::optional<json> best_v, lat_v, faiss_v;
    for (const auto& r : vals) {
      if (!best_v || better(r, *best_v)) best_v = r;
      if (opt.max_latency_ms > 0 && r["latency_p50_ms"].get<double>() <= opt.max_latency_ms &&
          (!lat_v || better(r, *lat_v)))
        lat_v = r;
    }
    // The FAISS-only pick: the recommendation itself when it is a FAISS family, else each
    // FAISS family re-solved at the recommendation's bytes (audit H2).
    if (best_v && (*best_v)["faiss_family"].get<bool>()) {
      faiss_v = best_v;
    } else if (best_v) {
      faiss_v = faiss_at_bytes(budget, fraction, cands, (*best_v)["total_bytes"].get<size_t>());
    }
    const json* best = best_v ? &*best_v : nullptr;
    const json* lat = lat_v ? &*lat_v : nullptr;
    const json* faiss = faiss_v ? &*faiss_v : nullptr;
    auto candidate_of = [&](const json& r) {
      for (const auto& c : cands)
        if (c.key() == r["key"].get<std::string>()) return c;
      // A FAISS family re-solved at other bytes (faiss_at_bytes): no re-ranking.
      EC_CHECK(r["faiss_family"].get<bool>() && !r.contains("rerank"), kRuntime,
               "sweep: lost candidate " << r["key"]);
      SweepCandidate c;
      c.family = r["family"].get<std::string>();
      c.spec = r["key"].get<std::string>();
      c.faiss_family = true;
      return c;
    };
    auto test_of = [&](const json* r, const std::string& role) -> json {
      if (!r) return json();
      if (opt.verbose) std::cerr << "[sweep] " << budget << " " << role << ": " << (*r)["key"].get<std::string>() << " on the test split\n";
      return run_point(budget, fraction, candidate_of(*r), test, role, nullptr);
    };
    if (best) {
      row.best = *best;
      row.best_test = test_of(best, "recommended");
    }
    if (lat) {
      row.latency = *lat;
      row.latency_test = test_of(lat, "latency_choice");
    }
    if (faiss) {
      row.faiss = *faiss;
      row.faiss_test = test_of(faiss, "faiss_only");
    }
    auto summary = [&](const json& v, const json& t) {
      json s;
      s["method"] = v["method"];
      s["knob"] = v["knob"];
      if (v.contains("rerank")) {
        s["rerank"] = v["rerank"];
        s["rerank_factor"] = v["rerank_factor"];
      }
      s["family"] = v["family"];
      s["total_bytes"] = v["total_bytes"];
      s["compression_ratio"] = v["compression_ratio"];
      s["val_quality"] = v["quality"];
      s["test_quality"] = is_ok(t) ? t["quality"] : json();
      s["quality_metric"] = q.name;
      if (is_ok(t) && t.contains("retention")) s["test_retention"] = t["retention"];
      if (is_ok(t) && t.contains("ndcg_at_10_retention"))
        s["test_ndcg_at_10_retention"] = t["ndcg_at_10_retention"];
      s["latency_p50_ms"] = v["latency_p50_ms"];
      s["qps"] = v["qps"];
      return s;
    };
    json o;
    o["budget"] = budget;
    if (best) {
      json s = summary(row.best, row.best_test);
      for (auto& [k, v] : s.items()) o[k] = v;
    } else {
      o["method"] = nullptr;
      o["note"] = row.note;
    }
    if (opt.max_latency_ms > 0)
      o["latency_choice"] = lat ? summary(row.latency, row.latency_test) : json();
    if (faiss) o["faiss_only"] = summary(row.faiss, row.faiss_test);
    recommendation.push_back(o);
    rows.push_back(row);
  };

  for (const auto& [budget, cands] : plan) {
    const double fraction = parse_budget("--budgets " + budget, budget);
    for (const auto& c : cands) {
      ++point;
      if (opt.verbose) {
        const double elapsed = since(t_start);
        const double rate = measured ? measured_s / double(measured) : 0;
        std::ostringstream line;
        line << "[sweep] " << point << "/" << total_points << " " << budget << " " << c.key()
             << "  elapsed " << fmt_seconds(elapsed);
        if (measured) line << "  ETA " << fmt_seconds(rate * double(total_points - point + 1));
        if (tty) {
          std::cerr << "\r\033[K" << line.str() << std::flush;
        } else {
          std::cerr << line.str() << "\n";
        }
      }
      std::shared_ptr<Built> built;
      const json r = run_point(budget, fraction, c, val, "", &built);
      if (!built || !is_ok(r) || !r["within_budget"].get<bool>()) continue;
      // Keep it while it is the best so far overall, among FAISS families or under the
      // latency limit.
      auto beats = [&](const std::string& slot, bool eligible) {
        if (!eligible) return;
        auto s = kept_best.find(slot);
        if (s == kept_best.end() || better(r, s->second)) kept_best[slot] = r;
      };
      beats("best", true);
      beats("faiss", c.faiss_family);
      beats("latency", opt.max_latency_ms > 0 &&
                           r["latency_p50_ms"].get<double>() <= opt.max_latency_ms);
      kept[c.key()] = built;
      std::set<std::string> keep_keys;
      for (const auto& [slot, rec] : kept_best) keep_keys.insert(rec["key"].get<std::string>());
      for (auto k = kept.begin(); k != kept.end();)
        k = keep_keys.count(k->first) ? std::next(k) : kept.erase(k);
    }
    budget_tests(budget, fraction, cands);
    kept.clear();
    kept_best.clear();
  }
  if (opt.verbose && tty) std::cerr << "\n";

  // Outputs, each written whole.
  mark_pareto(records);
  std::string jsonl;
  for (const auto& r : records) jsonl += r.dump() + "\n";
  write_text_file(results_path, jsonl);
  write_text_file(dir + "/results.csv", to_csv(records));
  write_text_file(dir + "/recommendation.json", recommendation.dump(2) + "\n");

  const bool plotted = opt.draw_plots && opt.draw_plots(dir, q.name);

  const double run_s = since(t_start);
  double total_point_s = 0;
  for (const auto& r : records) total_point_s += r.value("point_s", 0.0);
  std::ostringstream md;
  md << "# embcomp sweep: " << ds.name << "\n\n"
     << "- data: " << n << " x " << d << " (" << metric_name(ds.metric) << "), " << val_rows.size()
     << " validation and " << test_rows.size() << " test queries (seeded split, seed " << opt.seed
     << ")\n"
     << "- quality: " << q.name << " on the validation split; the recommendation is measured "
     << "once on the test split\n"
     << "- budgets: total bytes (RAM + re-ranking data) <= budget x fp32 bytes (" << 4 * n * d
     << " B)\n"
     << "- run time: " << fmt(run_s, 1) << " s for this invocation (" << measured
     << " points measured, " << fmt(measured_s, 1) << " s), " << omp_get_max_threads()
     << " threads, " << EMBCOMP_BUILD_TYPE << " build, commit " << EMBCOMP_GIT_COMMIT
     << "; all points of this directory took " << fmt(total_point_s, 1)
     << " s to measure (over every invocation)\n"
     << "- failed candidates: " << failures << "\n"
     << "- FAISS-only pick: the recommendation when it is a FAISS family (SQ, PQ, OPQ+PQ, RQ, "
     << "PCA+SQ4/6/8), else the best of those families re-solved at the recommendation's bytes\n"
     << "- search path (quality / latency): every point is searched by the same call for its "
     << "quality (the whole split) and its latency (one query); the per-budget tables name the "
     << "kernel each took (search_path, latency_search_path in results.jsonl)\n\n";
  md << "## Recommendation\n\n"
     << "| budget | method | knob | bytes | ratio | val " << q.name << " | test " << q.name
     << " | test retention |"
     << (ds.qrels ? " test nDCG@10 retention |" : "") << " p50 ms | FAISS-only pick | its test "
     << q.name << " |\n|---|---|---|---|---|---|---|---|" << (ds.qrels ? "---|" : "")
     << "---|---|---|\n";
  for (const auto& row : rows) {
    if (row.best.is_null()) {
      md << "| " << row.budget << " | (" << row.note << ") |||||||" << (ds.qrels ? "|" : "") << "|||\n";
      continue;
    }
    const json& t = row.best_test;
    md << "| " << row.budget << " | " << method_label(row.best) << " | "
       << row.best.value("knob", "") << " | " << row.best["total_bytes"].get<size_t>() << " | "
       << fmt(row.best["compression_ratio"].get<double>(), 1) << "x | "
       << fmt(row.best["quality"].get<double>(), 4) << " | "
       << (is_ok(t) ? fmt(t["quality"].get<double>(), 4) : "failed") << " | "
       << (is_ok(t) && t.contains("retention") ? fmt(t["retention"].get<double>(), 3) : "") << " | ";
    if (ds.qrels)
      md << (is_ok(t) && t.contains("ndcg_at_10_retention")
                 ? fmt(t["ndcg_at_10_retention"].get<double>(), 3)
                 : "")
         << " | ";
    md << fmt(row.best["latency_p50_ms"].get<double>(), 3) << " | "
       << (row.faiss.is_null() ? "(none fits)" : method_label(row.faiss)) << " | "
       << (is_ok(row.faiss_test) ? fmt(row.faiss_test["quality"].get<double>(), 4) : "") << " |\n";
  }
  if (opt.max_latency_ms > 0) {
    md << "\n### Under the latency limit (p50 <= " << opt.max_latency_ms << " ms)\n\n"
       << "| budget | method | bytes | p50 ms | val " << q.name << " | test " << q.name
       << " |\n|---|---|---|---|---|---|\n";
    for (const auto& row : rows) {
      if (row.latency.is_null()) {
        md << "| " << row.budget << " | (none is fast enough) |||||\n";
        continue;
      }
      md << "| " << row.budget << " | " << method_label(row.latency) << " | "
         << row.latency["total_bytes"].get<size_t>() << " | "
         << fmt(row.latency["latency_p50_ms"].get<double>(), 3) << " | "
         << fmt(row.latency["quality"].get<double>(), 4) << " | "
         << (is_ok(row.latency_test) ? fmt(row.latency_test["quality"].get<double>(), 4) : "")
         << " |\n";
    }
  }
  if (plotted)
    md << "\n![quality vs compression ratio](quality_vs_ratio.png)\n\n"
       << "![quality vs QPS](quality_vs_qps.png)\n";
  for (const auto& [budget, cands] : plan) {
    std::vector<const json*> vs;
    for (const auto& c : cands) vs.push_back(&records[done.at({budget, c.key() + "@val"})]);
    std::stable_sort(vs.begin(), vs.end(), [](const json* a, const json* b) {
      if (is_ok(*a) != is_ok(*b)) return is_ok(*a);
      return is_ok(*a) && better(*a, *b);
    });
    md << "\n## Budget " << budget << " (validation split)\n\n"
       << "| method | family | knob | bytes | ratio | " << q.name
       << " | retention | p50 ms | QPS | build s | Pareto (bytes / QPS) | search (quality / "
          "latency) |\n"
       << "|---|---|---|---|---|---|---|---|---|---|---|---|\n";
    for (const json* r : vs) {
      if (!is_ok(*r)) {
        md << "| " << method_label(*r) << " | " << (*r)["family"].get<std::string>() << " | "
           << (*r)["status"].get<std::string>() << ": " << (*r)["error"].get<std::string>()
           << " |||||||||\n";
        continue;
      }
      md << "| " << method_label(*r) << (r->value("within_budget", true) ? "" : " (over budget)")
         << " | " << (*r)["family"].get<std::string>() << " | " << r->value("knob", "") << " | "
         << (*r)["total_bytes"].get<size_t>() << " | "
         << fmt((*r)["compression_ratio"].get<double>(), 1) << "x | "
         << fmt((*r)["quality"].get<double>(), 4) << " | "
         << (r->contains("retention") ? fmt((*r)["retention"].get<double>(), 3) : "") << " | "
         << fmt((*r)["latency_p50_ms"].get<double>(), 3) << " | "
         << fmt((*r)["qps"].get<double>(), 0) << " | " << fmt((*r)["build_s"].get<double>(), 2)
         << " | " << (r->value("pareto_bytes", false) ? "yes" : "no") << " / "
         << (r->value("pareto_qps", false) ? "yes" : "no") << " | " << r->value("search_path", "")
         << " / " << r->value("latency_search_path", "") << " |\n";
    }
  }
  write_text_file(dir + "/report.md", md.str());
  if (opt.verbose)
    std::cerr << "[sweep] done in " << fmt_seconds(run_s) << ": " << dir << "/report.md, "
              << "recommendation.json, results.jsonl, results.csv"
              << (plotted ? ", quality_vs_ratio.png, quality_vs_qps.png" : "") << "\n";
  SweepSummary summary;
  summary.failures = failures;
  summary.recommendation = std::move(recommendation);
  return summary;
}

std::vector<std::string> sweep_gate_misses(const json& recommendation, double min_quality) {
  std::vector<std::string> out;
  for (const auto& o : recommendation) {
    const std::string budget = o.value("budget", std::string("?"));
    std::ostringstream why;
    if (!o.contains("method") || o["method"].is_null()) {
      why << budget << " (nothing recommended)";
    } else if (!o.contains("test_quality") || !o["test_quality"].is_number()) {
      why << budget << " (" << o["method"].get<std::string>() << ": test measurement failed)";
    } else if (o["test_quality"].get<double>() < min_quality) {
      why << budget << " (" << o["method"].get<std::string>() << ": test "
          << o.value("quality_metric", std::string("quality")) << " "
          << fmt(o["test_quality"].get<double>(), 4) << ")";
    }
    if (!why.str().empty()) out.push_back(why.str());
  }
  return out;
}

}  // namespace embcomp

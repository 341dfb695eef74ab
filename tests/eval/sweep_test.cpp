// `embcomp sweep`: candidates per budget, the query split, Pareto flags, and the command
// end to end on a small seeded dataset (outputs, recommendation = validation argmax,
// resume after an interrupt, bad input).
#include "eval/sweep.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "build_paths.h"
#include "test_data.h"
#include "toolkit/io.h"
#include "toolkit/registry.h"

namespace embcomp {
namespace {

using json = nlohmann::ordered_json;

std::vector<json> read_jsonl(const std::string& path) {
  std::vector<json> out;
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line))
    if (!line.empty()) out.push_back(json::parse(line));
  return out;
}

using embcomp::testing::slurp;
using CliResult = embcomp::testing::CliRun;

CliResult run(const std::string& dir, const std::string& args) {
  return embcomp::testing::run_embcomp(dir, args);
}

/// Runs embcomp with dir as the working folder (so that a command a shell might run
/// would leave its marker file there), under a 120 s timeout (a FIFO must not hang).
CliResult run_in(const std::string& dir, const std::string& args) {
  const std::string cmd = "cd '" + dir + "' && timeout -s KILL 120 " + EMBCOMP_BINARY + " " + args +
                          " >stdout 2>stderr";
  const int status = std::system(cmd.c_str());
  CliResult r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(dir + "/stdout");
  r.err = slurp(dir + "/stderr");
  return r;
}

size_t count_lines(const std::string& s) { return size_t(std::count(s.begin(), s.end(), '\n')); }

TEST(SweepCandidates, EveryFamilyAndTheFittingFixedOnes) {
  // 1000 x 64: 4x = 64000 bytes; Binary = 8 B/row + 512 B; SQ4 rerank = 32 B/row + 512 B.
  auto c4 = sweep_candidates("4x", 1000, 64, 10);
  std::set<std::string> fam;
  for (const auto& c : c4) fam.insert(c.family);
  for (const char* f : {"SQ", "PQ", "OPQ+PQ", "RQ", "PCA+SQ8", "PCA+SQ4", "SVD", "TT", "Dedup",
                        "Binary", "Binary+rerank"})
    EXPECT_TRUE(fam.count(f)) << f;
  EXPECT_FALSE(fam.count("FP16")) << "FP16 (2x) does not fit 4x";
  for (const auto& c : c4) {
    EXPECT_EQ(c.faiss_family, c.family == "SQ" || c.family == "PQ" || c.family == "OPQ+PQ" ||
                                  c.family == "RQ" || c.family.rfind("PCA+SQ", 0) == 0)
        << c.family;
    if (c.family == "Binary+rerank") {
      EXPECT_EQ(c.rerank, "SQ6") << "the largest re-scoring table that fits beside the codes";
      EXPECT_EQ(c.key(), "Binary > SQ6 x10");
    }
    if (c.family == "PQ") {
      EXPECT_EQ(c.spec, "PQ@4x");
    }
  }
  auto c2 = sweep_candidates("0.5", 1000, 64, 10);
  EXPECT_TRUE(
      std::any_of(c2.begin(), c2.end(), [](const SweepCandidate& c) { return c.spec == "FP16"; }));
  auto c64 = sweep_candidates("64x", 1000, 64, 10);
  EXPECT_FALSE(std::any_of(c64.begin(), c64.end(), [](const SweepCandidate& c) {
    return c.family == "Binary" || c.family == "Binary+rerank";
  }));
  EXPECT_THROW(sweep_candidates("0x", 1000, 64, 10), Error);
  EXPECT_THROW(sweep_candidates("1.5", 1000, 64, 10), Error);
}

TEST(SweepCandidates, DataSizedTableMethodsAreOfferedAtEveryBudget) {
  // DedupStudy has no budget form (the study's stop rule sets its size): it is a candidate
  // at every budget, by its name, and a known family.
  for (const char* b : {"2x", "4x", "64x"}) {
    const auto c = sweep_candidates(b, 1000, 64, 10);
    EXPECT_EQ(std::count_if(c.begin(), c.end(),
                            [](const SweepCandidate& x) {
                              return x.family == "DedupStudy" && x.spec == "DedupStudy" &&
                                     !x.faiss_family;
                            }),
              1)
        << b;
  }
  const auto fams = sweep_families();
  EXPECT_NE(std::find(fams.begin(), fams.end(), "DedupStudy"), fams.end());
  // Every table method without a budget form is a spec by its name.
  for (const auto* e : registered_methods()) {
    if (e->kind == MethodKind::kTable && budget_heads(*e).empty()) {
      EXPECT_EQ(make_table(e->name, 1000, 64)->spec(), e->name);
    }
  }
}

TEST(SweepSplit, DisjointCoveringAndSeeded) {
  std::vector<size_t> v1, t1, v2, t2, v3, t3;
  split_queries(101, 0.5, 7, v1, t1);
  split_queries(101, 0.5, 7, v2, t2);
  split_queries(101, 0.5, 8, v3, t3);
  EXPECT_EQ(v1, v2);
  EXPECT_EQ(t1, t2);
  EXPECT_NE(v1, v3);
  EXPECT_EQ(v1.size(), 51u);  // round(50.5)
  std::vector<size_t> all = v1;
  all.insert(all.end(), t1.begin(), t1.end());
  std::sort(all.begin(), all.end());
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i], i);
  std::vector<size_t> v, t;
  split_queries(2, 0.99, 1, v, t);
  EXPECT_EQ(v.size(), 1u);
  EXPECT_EQ(t.size(), 1u);
  EXPECT_THROW(split_queries(1, 0.5, 1, v, t), Error);
  EXPECT_THROW(split_queries(10, 1.0, 1, v, t), Error);
}

TEST(SweepSplit, SubsetKeepsRowsAlignedAndFiltersQrels) {
  Dataset ds;
  ds.queries = FloatMatrix(4, 2);
  for (size_t i = 0; i < 8; ++i) ds.queries.values[i] = float(i);
  IdMatrix gt(4, 1);
  for (size_t i = 0; i < 4; ++i) gt.values[i] = int64_t(10 + i);
  ds.gt = gt;
  ds.query_ids = {"a", "b", "c", "d"};
  Qrels q;
  q.by_query["a"]["x"] = 1;
  q.by_query["c"]["y"] = 2;
  ds.qrels = q;
  Dataset s = query_subset(ds, {1, 2});
  ASSERT_EQ(s.queries.n, 2u);
  EXPECT_EQ(s.queries.values[0], 2.0f);
  EXPECT_EQ(s.gt->values[1], 12);
  EXPECT_EQ(s.query_ids, (std::vector<std::string>{"b", "c"}));
  EXPECT_EQ(s.qrels->by_query.size(), 1u);
  EXPECT_TRUE(s.qrels->by_query.count("c"));
}

TEST(SweepPareto, KnownFront) {
  auto rec = [](double q, double bytes, double qps) {
    json r;
    r["status"] = "ok";
    r["split"] = "val";
    r["quality"] = q;
    r["total_bytes"] = bytes;
    r["qps"] = qps;
    return r;
  };
  std::vector<json> rs{rec(0.9, 100, 10), rec(0.8, 50, 20), rec(0.7, 80, 5), rec(0.95, 200, 1)};
  json failed;
  failed["status"] = "failed";
  rs.push_back(failed);
  mark_pareto(rs);
  EXPECT_TRUE(rs[0]["pareto_bytes"].get<bool>());
  EXPECT_TRUE(rs[1]["pareto_bytes"].get<bool>());
  EXPECT_FALSE(rs[2]["pareto_bytes"].get<bool>());  // 0.8 at 50 bytes beats it
  EXPECT_TRUE(rs[3]["pareto_bytes"].get<bool>());
  EXPECT_TRUE(rs[0]["pareto_qps"].get<bool>());
  EXPECT_TRUE(rs[1]["pareto_qps"].get<bool>());
  EXPECT_FALSE(rs[2]["pareto_qps"].get<bool>());
  EXPECT_TRUE(rs[3]["pareto_qps"].get<bool>());
  EXPECT_FALSE(rs[4].contains("pareto_bytes"));
}

class SweepCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::temp_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    write_fvecs(dir_ + "/base.fvecs", testing::low_rank(2000, 16, 6, 0.05f, 11).view());
    write_fvecs(dir_ + "/queries.fvecs", testing::low_rank(60, 16, 6, 0.05f, 12).view());
    data_ = "--base " + dir_ + "/base.fvecs --queries " + dir_ + "/queries.fvecs --metric l2";
  }
  std::string sweep(const std::string& out, const std::string& extra) {
    return "sweep " + data_ + " --budgets 4x,16x --families SQ,PQ,PCA+SQ8,SVD,Binary+rerank " +
           "--latency-queries 3 --no-plots --out " + out + " " + extra;
  }
  std::string dir_, data_;
};

TEST_F(SweepCli, RecommendsTheValidationBestAndResumes) {
  const std::string out = dir_ + "/sw";
  CliResult r = run(dir_, sweep(out, "--max-latency-ms 1000"));
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* f :
       {"results.jsonl", "results.csv", "recommendation.json", "report.md", "sweep.json"})
    EXPECT_TRUE(std::ifstream(out + "/" + f).good()) << f;
  const auto records = read_jsonl(out + "/results.jsonl");
  const json rec = json::parse(slurp(out + "/recommendation.json"));
  ASSERT_EQ(rec.size(), 2u);
  for (const auto& o : rec) {
    const std::string budget = o["budget"];
    const double fraction = budget == "4x" ? 0.25 : 1.0 / 16;
    ASSERT_FALSE(o["method"].is_null()) << budget;
    EXPECT_LE(o["total_bytes"].get<double>(), fraction * 4 * 2000 * 16);
    EXPECT_EQ(o["quality_metric"], "recall@10");
    EXPECT_TRUE(o["test_quality"].is_number());
    EXPECT_TRUE(o.contains("latency_choice"));
    // The recommendation is the argmax of validation quality over the budget's points.
    double best = -1;
    size_t val_points = 0, test_points = 0;
    for (const auto& r2 : records) {
      if (r2["budget"] != budget) continue;
      if (r2["split"] == "test") {
        ++test_points;
        EXPECT_TRUE(r2.contains("role"));
        continue;
      }
      ++val_points;
      if (r2["status"] == "ok" && r2["within_budget"].get<bool>())
        best = std::max(best, r2["quality"].get<double>());
    }
    EXPECT_EQ(o["val_quality"].get<double>(), best) << budget;
    EXPECT_GE(val_points, 4u);
    EXPECT_GE(test_points, 1u);
  }
  const std::string csv = slurp(out + "/results.csv");
  EXPECT_EQ(csv.rfind("budget,budget_fraction,split,role,family,method", 0), 0u);
  EXPECT_NE(slurp(out + "/report.md").find("## Budget 16x"), std::string::npos);

  // Resume with nothing left to do measures nothing.
  r = run(dir_, sweep(out, "--max-latency-ms 1000 --resume"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(slurp(out + "/report.md").find("(0 points measured"), std::string::npos);
  EXPECT_EQ(read_jsonl(out + "/results.jsonl").size(), records.size());

  // An interrupted sweep: the last record cut in half and one more missing.
  {
    std::string all = slurp(out + "/results.jsonl");
    std::vector<std::string> lines;
    std::stringstream ss(all);
    std::string line;
    while (std::getline(ss, line)) lines.push_back(line);
    std::string cut;
    // Drop the test-split records so that the recommendation is measured again too.
    std::vector<std::string> keep;
    for (const auto& l : lines)
      if (json::parse(l)["split"] == "val") keep.push_back(l);
    for (size_t i = 0; i + 2 < keep.size(); ++i) cut += keep[i] + "\n";
    cut += keep[keep.size() - 2].substr(0, keep[keep.size() - 2].size() / 2);  // no newline
    std::ofstream(out + "/results.jsonl") << cut;
  }
  r = run(dir_, sweep(out, "--max-latency-ms 1000 --resume"));
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("dropping the unfinished last line"), std::string::npos) << r.err;
  const std::string report = slurp(out + "/report.md");
  EXPECT_EQ(report.find("(0 points measured"), std::string::npos);
  const json rec2 = json::parse(slurp(out + "/recommendation.json"));
  ASSERT_EQ(rec2.size(), rec.size());
  for (size_t i = 0; i < rec.size(); ++i)
    for (const char* f : {"method", "knob", "total_bytes", "val_quality", "test_quality"})
      EXPECT_EQ(rec2[i][f], rec[i][f]) << f << ": a resumed sweep recommends the same";
}

TEST_F(SweepCli, RecordsTheSearchPathsAndResolvesTheFaissPick) {
  // 64-d rows of rank 4: SVD keeps them well in few bytes and beats SQ and PQ (PCA+SQ8,
  // which would beat it, is left out), so the FAISS-only pick must be re-solved.
  write_fvecs(dir_ + "/b64.fvecs", testing::low_rank(2000, 64, 4, 0.05f, 31).view());
  write_fvecs(dir_ + "/q64.fvecs", testing::low_rank(60, 64, 4, 0.05f, 32).view());
  const std::string out = dir_ + "/sw";
  CliResult r = run(dir_, "sweep --base " + dir_ + "/b64.fvecs --queries " + dir_ +
                              "/q64.fvecs --metric l2 --budgets 8x,16x --families "
                              "SQ,PQ,SVD,Binary+rerank --latency-queries 3 --no-plots "
                              "--quiet --out " +
                              out);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto records = read_jsonl(out + "/results.jsonl");
  // audit L8: the path of the quality (30 validation queries at once) and of the
  // latency (one query) are recorded.
  for (const auto& x : records) {
    if (x["status"] != "ok") continue;
    ASSERT_TRUE(x.contains("search_path") && x.contains("latency_search_path")) << x.dump();
    if (x["family"] == "SQ" && x["split"] == "val") {
      EXPECT_EQ(x["search_path"], "decoded rows, FAISS BLAS");
      EXPECT_EQ(x["latency_search_path"], "decoded rows, FAISS SIMD loop");
    }
    if (x["family"] == "Binary+rerank") {
      EXPECT_NE(x["search_path"].get<std::string>().find("exact re-scoring"), std::string::npos);
    }
  }
  EXPECT_NE(slurp(out + "/report.md").find("search (quality / latency)"), std::string::npos);
  // audit H2: the FAISS-only pick is a FAISS family re-solved at the recommendation's
  // bytes (or the recommendation itself when it is one), never one of more bytes.
  const json rec = json::parse(slurp(out + "/recommendation.json"));
  size_t resolved_budgets = 0;
  for (const auto& o : rec) {
    const json f = o.contains("faiss_only") ? o["faiss_only"] : json();
    if (!f.is_null()) {
      EXPECT_LE(f["total_bytes"].get<size_t>(), o["total_bytes"].get<size_t>());
    }
    const bool rec_is_faiss = o["family"] == "SQ" || o["family"] == "PQ";
    if (rec_is_faiss) {
      ASSERT_FALSE(f.is_null());
      EXPECT_EQ(f["method"], o["method"]);
      continue;
    }
    ++resolved_budgets;
    std::set<std::string> families;
    double best = -1;
    for (const auto& x : records) {
      if (x["budget"] != o["budget"] || x.value("role", "") != "faiss_resolved") continue;
      families.insert(x["family"].get<std::string>());
      const std::string spec = x["key"];
      const double fraction = std::stod(spec.substr(spec.find('@') + 1));
      EXPECT_LE(fraction * 4 * 2000 * 64, o["total_bytes"].get<double>()) << spec;
      EXPECT_GT(fraction * 4 * 2000 * 64, o["total_bytes"].get<double>() - 1) << spec;
      if (x["status"] == "ok" && x["total_bytes"].get<size_t>() <= o["total_bytes"].get<size_t>())
        best = std::max(best, x["quality"].get<double>());
    }
    EXPECT_EQ(families, (std::set<std::string>{"SQ", "PQ"})) << o["budget"];
    if (f.is_null()) {
      EXPECT_EQ(best, -1) << "a FAISS family fits but no pick was made";
    } else {
      EXPECT_EQ(f["val_quality"].get<double>(), best) << o["budget"];
    }
  }
  EXPECT_GE(resolved_budgets, 1u) << "the data should make a non-FAISS family win somewhere";
}

TEST_F(SweepCli, NoShellInThePlotStep) {
  // reliability #1: the plot step ran std::system("python3 '...' '<--out>' '<--quality>'").
  const std::string small =
      "sweep " + data_ + " --budgets 8x --families SQ,Binary --latency-queries 2 --quiet ";
  CliResult r = run_in(dir_, small + "--out \"sw'\\$(touch PWNED_OUT)'\"");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/PWNED_OUT")) << "--out reached a shell";
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/sw'$(touch PWNED_OUT)'/report.md"));
  r = run_in(dir_, small + "--out q --quality \"recall@10'\\$(touch PWNED_Q)'\"");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/PWNED_Q")) << "--quality reached a shell";
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/q"));
  r = run_in(dir_, small + "--out q --quality recall@10xyz");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_NE(r.err.find("'10xyz' is not an integer"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/q"));
}

TEST_F(SweepCli, OptionsAreCheckedBeforeAnythingIsWritten) {
  // reliability #24: --out and sweep.json were created before --val-fraction was checked.
  for (const char* bad : {"--val-fraction 0", "--val-fraction 1", "--val-fraction nan",
                          "--min-quality 2", "--max-latency-ms inf",
                          // k * F overflowed: every re-ranked point failed after --out was made
                          "--rerank-factor 6148914691236517206"}) {
    CliResult r = run(dir_, sweep(dir_ + "/v", std::string(bad) + " --quiet"));
    EXPECT_EQ(r.code, 2) << bad << "\n" << r.err;
    EXPECT_EQ(count_lines(r.err), 1u) << r.err;
    EXPECT_FALSE(std::filesystem::exists(dir_ + "/v")) << bad;
  }
}

TEST_F(SweepCli, MinQualityGateExitsThreeAfterWritingEverything) {
  // audit L4: exit 3 for a missed quality gate.
  const std::string base =
      "sweep " + data_ +
      " --budgets 8x --families SQ,Binary --latency-queries 2 --no-plots --quiet";
  CliResult r = run(dir_, base + " --min-quality 0 --out " + dir_ + "/a");
  EXPECT_EQ(r.code, 0) << r.err;
  r = run(dir_, base + " --min-quality 1 --out " + dir_ + "/b");
  const json rec = json::parse(slurp(dir_ + "/b/recommendation.json"));
  ASSERT_LT(rec[0]["test_quality"].get<double>(), 1.0) << "the gate needs a quality below 1";
  EXPECT_EQ(r.code, 3) << r.err;
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_NE(r.err.find("below --min-quality 1: 8x (" + rec[0]["method"].get<std::string>()),
            std::string::npos)
      << r.err;
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/b/report.md"));
}

TEST_F(SweepCli, DamagedResumeRecordsAreBadInput) {
  // reliability #15 and #28: records read back by --resume are validated; a damaged line
  // is exit 2 naming results.jsonl:LINE (it was undefined behaviour and exit 1, or, for a
  // file of NUL bytes, a silent restart).
  const std::string good = dir_ + "/good";
  const std::string small =
      "sweep " + data_ +
      " --budgets 8x --families SQ,Binary --latency-queries 2 --no-plots --quiet --resume --out ";
  ASSERT_EQ(run(dir_, small + good).code, 0);
  const auto records = read_jsonl(good + "/results.jsonl");
  ASSERT_GE(records.size(), 2u);
  // The damaged line is the first measured ("ok") record: SQ@8x, first in the file, is
  // unreachable on this data (its smallest setting is 0.13% over 8x) and has no bytes.
  size_t ok_line = 0;
  while (ok_line < records.size() && records[ok_line].value("status", "") != "ok") ++ok_line;
  ASSERT_LT(ok_line, records.size()) << "no measured record to damage";
  struct Case {
    std::string name;
    std::function<std::string(json first)> first_line;  // replaces the damaged line
    std::string want;
  };
  auto set = [](const char* key, json v) {
    return [key, v](json r) {
      r[key] = v;
      return r.dump();
    };
  };
  auto drop = [](const char* key) {
    return [key](json r) {
      r.erase(key);
      return r.dump();
    };
  };
  auto text = [](const char* line) { return [line](json) { return std::string(line); }; };
  const std::vector<Case> cases{
      {"missing_total_bytes", drop("total_bytes"), "lacks \"total_bytes\""},
      {"within_budget_string", set("within_budget", "yes"),
       "\"within_budget\" must be true or false"},
      {"array_line", text("[1, 2]"), "not a sweep record"},
      {"number_line", text("42"), "not a sweep record"},
      {"null_line", text("null"), "not a sweep record"},
      {"unreachable_missing_family",
       [](json r) {
         r["status"] = "unreachable";
         r["error"] = "x";
         r.erase("family");
         return r.dump();
       },
       "lacks \"family\""},
      {"quality_string", set("recall_at_10", "0.9"), "\"recall_at_10\" must be a number"},
      // catalogue sweep_resume_quality_string: the "quality" key itself was not checked
      {"quality_key_string", set("quality", "high"), "\"quality\" must be a number"},
      {"key_number", set("key", 7), "\"key\" must be a string"},
      {"bytes_negative", set("total_bytes", -5), "\"total_bytes\" must be a whole number"},
      {"status_bogus", set("status", "maybe"), "unknown status"},
  };

  for (const auto& c : cases) {
    const std::string d = dir_ + "/" + c.name;
    std::filesystem::copy(good, d, std::filesystem::copy_options::recursive);
    std::string text;
    for (size_t i = 0; i < records.size(); ++i)
      text += (i == ok_line ? c.first_line(records[i]) : records[i].dump()) + "\n";
    std::ofstream(d + "/results.jsonl") << text;
    CliResult r = run(dir_, small + d);
    EXPECT_EQ(r.code, 2) << c.name << "\n" << r.err;
    EXPECT_EQ(count_lines(r.err), 1u) << c.name << ": " << r.err;
    EXPECT_NE(r.err.find("results.jsonl:" + std::to_string(ok_line + 1) + ": "), std::string::npos)
        << c.name << ": " << r.err;
    EXPECT_NE(r.err.find(c.want), std::string::npos) << c.name << ": " << r.err;
  }
  {  // A file of NUL bytes is damage, not an unfinished last line.
    const std::string d = dir_ + "/nul";
    std::filesystem::copy(good, d, std::filesystem::copy_options::recursive);
    std::ofstream(d + "/results.jsonl", std::ios::binary) << std::string(1000, '\0');
    CliResult r = run(dir_, small + d);
    EXPECT_EQ(r.code, 2) << r.err;
    EXPECT_NE(r.err.find("results.jsonl:1: not a JSON record"), std::string::npos) << r.err;
    EXPECT_EQ(slurp(d + "/results.jsonl"), std::string(1000, '\0')) << "left as it was";
  }
  for (const char* kind : {"dir", "fifo"}) {  // not a regular file: exit 2, no hang
    const std::string d = dir_ + "/" + kind;
    std::filesystem::copy(good, d, std::filesystem::copy_options::recursive);
    std::filesystem::remove(d + "/results.jsonl");
    if (std::string(kind) == "dir") {
      std::filesystem::create_directory(d + "/results.jsonl");
    } else {
      ASSERT_EQ(::mkfifo((d + "/results.jsonl").c_str(), 0600), 0);
    }
    CliResult r = run_in(dir_, small + d);
    EXPECT_EQ(r.code, 2) << kind << "\n" << r.err;
    EXPECT_EQ(count_lines(r.err), 1u) << r.err;
    EXPECT_NE(r.err.find("results.jsonl"), std::string::npos) << r.err;
  }
}

TEST_F(SweepCli, DrawsBothPlotsAsPng) {
  if (std::system("/usr/bin/python3 -c 'import matplotlib' >/dev/null 2>&1") != 0)
    GTEST_SKIP()
        << "/usr/bin/python3 has no matplotlib (scripts/setup.sh installs python3-matplotlib)";
  const std::string out = dir_ + "/sw";
  std::string args = sweep(out, "");
  args.replace(args.find("--no-plots"), 10, "");
  CliResult r = run(dir_, args);
  ASSERT_EQ(r.code, 0) << r.err;
  for (const char* f : {"quality_vs_ratio.png", "quality_vs_qps.png"}) {
    const std::string png = slurp(out + "/" + f);
    ASSERT_GT(png.size(), 1000u) << f;
    EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << f;
  }
  EXPECT_NE(slurp(out + "/report.md").find("![quality vs compression ratio](quality_vs_ratio.png)"),
            std::string::npos);
}

// scripts/plot_sweep.py writes its PNGs as embcomp writes every output (README: a fresh
// `.NAME.embcomp.tmp.PID.XXXXXX`, fsynced, renamed): it wrote NAME.tmp.png and os.replace'd it,
// replacing a symlink at the output path instead of refusing it (exit 1). The symlink and
// its target are left as they were, the other plot is still drawn, and a dead process's
// temporary is removed (a live one's kept).
TEST_F(SweepCli, PlotScriptRefusesASymlinkAndRemovesDeadTemporaries) {
  if (std::system("/usr/bin/python3 -c 'import matplotlib' >/dev/null 2>&1") != 0)
    GTEST_SKIP()
        << "/usr/bin/python3 has no matplotlib (scripts/setup.sh installs python3-matplotlib)";
  const std::string out = dir_ + "/plots";
  std::filesystem::create_directory(out);
  std::ofstream(out + "/results.csv")
      << "budget,method,rerank,family,split,status,role,compression_ratio,qps,quality\n"
         "4x,SQ8,,SQ,val,ok,recommended,4.0,1000,0.98\n"
         "4x,PQ25,,PQ,val,ok,,16.0,3000,0.70\n";
  std::ofstream(out + "/target") << "keep";
  std::filesystem::create_symlink("target", out + "/quality_vs_ratio.png");
  // A pid above the kernel's pid_max cannot be alive; pid 1 always is (in any namespace).
  long pid_max = 0;
  std::ifstream("/proc/sys/kernel/pid_max") >> pid_max;
  ASSERT_GT(pid_max, 1);
  const std::string dead = out + "/.quality_vs_qps.png.embcomp.tmp." + std::to_string(pid_max + 1) +
                           ".abcDEF";
  const std::string alive = out + "/.quality_vs_qps.png.embcomp.tmp.1.abcDEF";
  // Names like a temporary's but with no valid pid: kept, and no crash (os.kill overflowed).
  const std::string odd = out + "/.quality_vs_qps.png.embcomp.tmp.99999999999.abcDEF";
  std::ofstream(dead) << "x";
  std::ofstream(alive) << "x";
  std::ofstream(odd) << "x";
  const std::string cmd = "/usr/bin/python3 " + std::string(EMBCOMP_SCRIPTS_DIR) +
                          "/plot_sweep.py " + out + " recall >" + out + "/log 2>&1";
  const int rc = std::system(cmd.c_str());
  ASSERT_TRUE(WIFEXITED(rc));
  EXPECT_EQ(WEXITSTATUS(rc), 1) << slurp(out + "/log");
  EXPECT_NE(slurp(out + "/log").find("quality_vs_ratio.png: is a symbolic link"),
            std::string::npos)
      << slurp(out + "/log");
  EXPECT_TRUE(std::filesystem::is_symlink(out + "/quality_vs_ratio.png"));
  EXPECT_EQ(slurp(out + "/target"), "keep");
  EXPECT_FALSE(std::filesystem::exists(dead));
  EXPECT_TRUE(std::filesystem::exists(alive));
  EXPECT_TRUE(std::filesystem::exists(odd));
  EXPECT_EQ(slurp(out + "/quality_vs_qps.png").substr(0, 4), "\x89PNG");
  std::filesystem::remove(out + "/quality_vs_ratio.png");
  ASSERT_EQ(std::system(cmd.c_str()), 0) << slurp(out + "/log");
  for (const char* f : {"quality_vs_ratio.png", "quality_vs_qps.png"}) {
    const std::string png = slurp(out + "/" + f);
    EXPECT_EQ(png.substr(0, 8), std::string("\x89PNG\r\n\x1a\n", 8)) << f;
  }
  for (const auto& e : std::filesystem::directory_iterator(out)) {
    const std::string name = e.path().filename().string();
    if (name.find(".embcomp.tmp.") != std::string::npos)
      EXPECT_TRUE(e.path().string() == alive || e.path().string() == odd)
          << "temporary left: " << name;
  }
}

TEST_F(SweepCli, WithoutFaissFamiliesThereIsNoFaissOnlyPick) {
  const std::string out = dir_ + "/sw";
  CliResult r =
      run(dir_, "sweep " + data_ + " --budgets 8x --families SVD,Binary --latency-queries 2 " +
                    "--no-plots --quiet --out " + out);
  ASSERT_EQ(r.code, 0) << r.err;
  const json rec = json::parse(slurp(out + "/recommendation.json"));
  ASSERT_EQ(rec.size(), 1u);
  EXPECT_FALSE(rec[0]["method"].is_null());
  EXPECT_FALSE(rec[0].contains("faiss_only"));
  EXPECT_NE(slurp(out + "/report.md").find("(none fits)"), std::string::npos);
}

TEST_F(SweepCli, DataSizedMethodIsMeasuredOnceAndNotRecommendedOverBudget) {
  // DedupStudy on 2000 x 16: one zero-padded 10000 x 100 block, 31 times the float32 table:
  // measured once (reused at the second budget), over both budgets, never recommended.
  const std::string out = dir_ + "/sw";
  CliResult r = run(dir_, "sweep " + data_ + " --budgets 4x,16x --families SQ,DedupStudy " +
                              "--latency-queries 2 --no-plots --quiet --out " + out);
  ASSERT_EQ(r.code, 0) << r.err;
  size_t dedup = 0, reused = 0;
  for (const auto& x : read_jsonl(out + "/results.jsonl")) {
    if (x["family"] != "DedupStudy") continue;
    ++dedup;
    EXPECT_EQ(x["status"], "ok") << x.dump();
    EXPECT_FALSE(x["within_budget"].get<bool>()) << x.dump();
    EXPECT_EQ(x["total_bytes"], 4000002) << x.dump();
    reused += x.contains("reused_from_budget");
  }
  EXPECT_EQ(dedup, 2u);
  EXPECT_EQ(reused, 1u);
  for (const auto& o : json::parse(slurp(out + "/recommendation.json")))
    EXPECT_NE(o["method"], "DedupStudy") << o.dump();
}

TEST(SweepCliQrels, ResumeMayChangeTheQualityMetric) {
  // cacm-glove has qrels: recall@100 against exact search and judged recall@100 are two
  // different numbers under two names; a resumed sweep recommends by its own --quality.
  const std::string dir = testing::temp_dir("sweep_qrels");
  const std::string out = dir + "/sw";
  const std::string base =
      "sweep --data cacm-glove --budgets 8x --families SQ,PQ,SVD --latency-queries 2 "
      "--no-plots --quiet --out " +
      out;
  CliResult r = run(dir, base + " --quality recall@100");
  ASSERT_EQ(r.code, 0) << r.err;
  for (const auto& rec : read_jsonl(out + "/results.jsonl")) {
    if (rec["status"] != "ok") continue;
    EXPECT_TRUE(rec.contains("recall_at_100") && rec.contains("judged_recall_at_100"))
        << rec.dump();
    EXPECT_EQ(rec["quality"], rec["recall_at_100"]);
  }
  r = run(dir, base + " --quality ndcg@10 --resume");
  ASSERT_EQ(r.code, 0) << r.err;
  const json rec = json::parse(slurp(out + "/recommendation.json"));
  ASSERT_EQ(rec.size(), 1u);
  EXPECT_EQ(rec[0]["quality_metric"], "ndcg@10");
  double best = -1;
  for (const auto& x : read_jsonl(out + "/results.jsonl"))
    if (x["split"] == "val" && x["status"] == "ok" && x["within_budget"].get<bool>()) {
      EXPECT_EQ(x["quality"], x["ndcg_at_10"]);
      best = std::max(best, x["ndcg_at_10"].get<double>());
    }
  EXPECT_EQ(rec[0]["val_quality"].get<double>(), best);
}

TEST_F(SweepCli, BadInputExitsTwoWithOneLine) {
  const std::string out = dir_ + "/sw";
  ASSERT_EQ(run(dir_, sweep(out, "--quiet")).code, 0);
  struct Case {
    std::string args, want;
  };
  const std::vector<Case> cases{
      {sweep(out, ""), "already holds a sweep"},
      {"sweep " + data_ + " --budgets 0x --out " + dir_ + "/a", "budget"},
      {"sweep " + data_ + " --families Nope --out " + dir_ + "/b", "unknown family"},
      {"sweep " + data_ + " --quality ndcg@10 --out " + dir_ + "/c", "relevance judgments"},
      {"sweep " + data_ + " --quality top@3 --out " + dir_ + "/d", "--quality"},
      {"sweep " + data_, "--out DIR is required"},
      {"sweep " + data_ + " --budgets 8x,4x,8x --out " + dir_ + "/e", "twice"},
      {"sweep " + data_ + " --budgets 2x,8x --families FP16 --out " + dir_ + "/f",
       "fits the budget 8x"},
      {"sweep " + data_ + " --seed 9 --resume --out " + out, "seed"},
  };
  for (const auto& c : cases) {
    CliResult r = run(dir_, c.args + " --quiet");
    EXPECT_EQ(r.code, 2) << c.args << "\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_NE(r.err.find(c.want), std::string::npos) << r.err;
  }
}

}  // namespace
}  // namespace embcomp

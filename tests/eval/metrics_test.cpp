// Retrieval metrics: hand-computed values (binary and graded labels, ties, k beyond the
// run, missing queries, queries without relevant documents), metric-name parsing, the
// `embcomp eval` command, and the bundled cacm-glove dataset against the issue's bar.
#include "eval/metrics.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "eval/knn.h"
#include "eval/qrels.h"
#include "test_data.h"
#include "toolkit/commands.h"
#include "toolkit/dataset.h"
#include "toolkit/error.h"
#include "toolkit/io.h"

namespace embcomp {
namespace {

RetrievalMetric metric(RetrievalMetricKind kind, size_t k) {
  RetrievalMetric m;
  m.kind = kind;
  m.k = k;
  return m;
}

using K = RetrievalMetricKind;

// ---- parsing --------------------------------------------------------------------------------

TEST(MetricsParse, NamesKeysAndCutoffs) {
  auto ms = parse_retrieval_metrics("ndcg@10,mrr@10,recall@100,map@100,p@5");
  ASSERT_EQ(ms.size(), 5u);
  EXPECT_EQ(ms[0].kind, K::kNdcg);
  EXPECT_EQ(ms[0].k, 10u);
  EXPECT_EQ(ms[1].kind, K::kMrr);
  EXPECT_EQ(ms[2].kind, K::kRecall);
  EXPECT_EQ(ms[2].k, 100u);
  EXPECT_EQ(ms[3].kind, K::kMap);
  EXPECT_EQ(ms[4].kind, K::kPrecision);
  EXPECT_EQ(ms[4].k, 5u);
  EXPECT_EQ(ms[0].key(), "ndcg_at_10");
  EXPECT_EQ(ms[1].key(), "mrr_at_10");
  EXPECT_EQ(ms[2].key(), "recall_at_100");
  EXPECT_EQ(ms[3].key(), "map_at_100");
  EXPECT_EQ(ms[4].key(), "p_at_5");
  EXPECT_EQ(ms[0].name(), "ndcg@10");
}

TEST(MetricsParse, TrecEvalNamesKeysCaseAndSpaces) {
  auto ms = parse_retrieval_metrics(
      " NDCG@10 , ndcg_cut_20,ndcg_cut.30,map_cut_100,P_5,P.6,recall_1000,mrr_at_3 ");
  ASSERT_EQ(ms.size(), 8u);
  EXPECT_EQ(ms[0].key(), "ndcg_at_10");
  EXPECT_EQ(ms[1].key(), "ndcg_at_20");
  EXPECT_EQ(ms[2].key(), "ndcg_at_30");
  EXPECT_EQ(ms[3].key(), "map_at_100");
  EXPECT_EQ(ms[4].key(), "p_at_5");
  EXPECT_EQ(ms[5].key(), "p_at_6");
  EXPECT_EQ(ms[6].key(), "recall_at_1000");
  EXPECT_EQ(ms[7].key(), "mrr_at_3");
}

TEST(MetricsParse, RepeatsAreKeptOnceInFirstPlace) {
  auto ms = parse_retrieval_metrics("ndcg@10,mrr@10,ndcg_cut_10,NDCG@10");
  ASSERT_EQ(ms.size(), 2u);
  EXPECT_EQ(ms[0].key(), "ndcg_at_10");
  EXPECT_EQ(ms[1].key(), "mrr_at_10");
}

TEST(MetricsParse, RejectsUnknownAndMalformed) {
  for (const char* bad : {"", "foo@10", "ndcg", "ndcg@", "ndcg@0", "ndcg@-1", "ndcg@1x", "ndcg@10,",
                          "ndcg@10,,mrr@10", "map_10", "recip_rank", "mrr_cut_10", "p@ 5"}) {
    try {
      parse_retrieval_metrics(bad);
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::kBadInput) << bad;
    }
  }
  try {
    parse_retrieval_metrics("ndcg@10,bogus@3");
  } catch (const Error& e) {
    EXPECT_NE(e.message().find("'bogus@3'"), std::string::npos) << e.message();
  }
}

// ---- one query, hand-computed ---------------------------------------------------------------

// Binary labels: A, B, D relevant (R = 3), C judged non-relevant, X and Y not judged.
// Ranking X A C B Y: relevant at ranks 2 and 4.
class MetricsBinary : public ::testing::Test {
 protected:
  std::map<std::string, int> judged{{"A", 1}, {"B", 1}, {"C", 0}, {"D", 1}};
  std::vector<std::string> ranked{"X", "A", "C", "B", "Y"};
  double v(K kind, size_t k) { return metric_value(metric(kind, k), ranked, judged); }
};

TEST_F(MetricsBinary, Precision) {
  EXPECT_DOUBLE_EQ(v(K::kPrecision, 1), 0.0);
  EXPECT_DOUBLE_EQ(v(K::kPrecision, 2), 0.5);
  EXPECT_DOUBLE_EQ(v(K::kPrecision, 5), 0.4);
  EXPECT_DOUBLE_EQ(v(K::kPrecision, 10), 0.2);  // k beyond the run: still divided by k
}

TEST_F(MetricsBinary, Recall) {
  EXPECT_DOUBLE_EQ(v(K::kRecall, 1), 0.0);
  EXPECT_DOUBLE_EQ(v(K::kRecall, 2), 1.0 / 3);
  EXPECT_DOUBLE_EQ(v(K::kRecall, 5), 2.0 / 3);
  EXPECT_DOUBLE_EQ(v(K::kRecall, 100), 2.0 / 3);  // D never retrieved
}

TEST_F(MetricsBinary, ReciprocalRank) {
  EXPECT_DOUBLE_EQ(v(K::kMrr, 1), 0.0);
  EXPECT_DOUBLE_EQ(v(K::kMrr, 2), 0.5);
  EXPECT_DOUBLE_EQ(v(K::kMrr, 10), 0.5);
}

TEST_F(MetricsBinary, AveragePrecisionDividesByAllRelevant) {
  // map_cut: sum of P@rank over relevant ranks <= k, divided by R = 3 (not by 2 retrieved).
  EXPECT_DOUBLE_EQ(v(K::kMap, 1), 0.0);
  EXPECT_DOUBLE_EQ(v(K::kMap, 3), (1.0 / 2) / 3);
  EXPECT_DOUBLE_EQ(v(K::kMap, 5), (1.0 / 2 + 2.0 / 4) / 3);
  EXPECT_DOUBLE_EQ(v(K::kMap, 1000), 1.0 / 3);
}

TEST_F(MetricsBinary, Ndcg) {
  // DCG@5 = 1/log2(3) + 1/log2(5); IDCG@5 = 1 + 1/log2(3) + 1/log2(4).
  EXPECT_NEAR(v(K::kNdcg, 5), 0.49818925746641285, 1e-12);
  EXPECT_NEAR(v(K::kNdcg, 10), 0.49818925746641285, 1e-12);
  EXPECT_DOUBLE_EQ(v(K::kNdcg, 1), 0.0);
  // k = 2: DCG = 1/log2(3), IDCG = 1 + 1/log2(3).
  EXPECT_NEAR(v(K::kNdcg, 2), (1 / std::log2(3.0)) / (1 + 1 / std::log2(3.0)), 1e-12);
}

TEST(Metrics, GradedNdcgUsesLabelsAsGains) {
  // Labels 3, 2, 1 relevant; 0 and -1 non-relevant (no gain, not in R).
  const std::map<std::string, int> judged{{"A", 3}, {"B", 2}, {"C", 1}, {"D", 0}, {"E", -1}};
  const std::vector<std::string> ranked{"C", "B", "A", "E"};
  // DCG@3 = 1/log2(2) + 2/log2(3) + 3/log2(4); IDCG@3 = 3/log2(2) + 2/log2(3) + 1/log2(4).
  // (trec_eval before the log2(rank + 1) fix would give 0.8689.)
  EXPECT_NEAR(metric_value(metric(K::kNdcg, 3), ranked, judged), 0.7899980042460358, 1e-12);
  EXPECT_NEAR(metric_value(metric(K::kNdcg, 10), ranked, judged), 0.7899980042460358, 1e-12);
  EXPECT_NEAR(metric_value(metric(K::kNdcg, 1), ranked, judged), 1.0 / 3, 1e-12);
  EXPECT_DOUBLE_EQ(metric_value(metric(K::kPrecision, 4), ranked, judged), 0.75);
  EXPECT_DOUBLE_EQ(metric_value(metric(K::kRecall, 4), ranked, judged), 1.0);
  EXPECT_DOUBLE_EQ(metric_value(metric(K::kMap, 4), ranked, judged), 1.0);
  // The ideal order scores 1.
  EXPECT_NEAR(metric_value(metric(K::kNdcg, 3), {"A", "B", "C"}, judged), 1.0, 1e-12);
}

TEST(Metrics, EmptyRankingScoresZero) {
  const std::map<std::string, int> judged{{"A", 1}};
  for (K kind : {K::kNdcg, K::kMrr, K::kRecall, K::kMap, K::kPrecision})
    EXPECT_EQ(metric_value(metric(kind, 10), {}, judged), 0.0);
}

TEST(Metrics, QueryWithoutRelevantDocumentIsAnError) {
  EXPECT_THROW(metric_value(metric(K::kNdcg, 10), {"A"}, {{"A", 0}}), Error);
}

TEST(Metrics, TiesAreBrokenByDocidDescending) {
  // c scores highest; a and b tie and trec_eval puts b (larger docid) first; the rank
  // column disagrees and is ignored.
  std::istringstream in("q Q0 a 1 1.0 t\nq Q0 b 2 1.0 t\nq Q0 c 3 2.0 t\n");
  embcomp::Run run = read_trec_run(in, "ties");
  ASSERT_EQ(run["q"].size(), 3u);
  EXPECT_EQ(run["q"][0].docid, "c");
  EXPECT_EQ(run["q"][1].docid, "b");
  EXPECT_EQ(run["q"][2].docid, "a");
  Qrels qrels;
  qrels.by_query["q"] = {{"a", 1}};
  RunEvaluation ev = evaluate_run(run, qrels, {metric(K::kMrr, 10)});
  EXPECT_DOUBLE_EQ(ev.means[0], 1.0 / 3);  // 1/2 if ties went the other way
}

// ---- many queries ---------------------------------------------------------------------------

TEST(Metrics, MissingSkippedAndUnjudgedQueriesAreCounted) {
  Qrels qrels;
  qrels.by_query["q1"] = {{"A", 1}};
  qrels.by_query["q2"] = {{"B", 1}, {"C", 2}};
  qrels.by_query["q3"] = {{"D", 0}};  // no relevant document: skipped
  qrels.by_query["q4"] = {{"E", 1}};  // not in the run: scores 0
  embcomp::Run run;
  run["q1"] = {{"A", 1.0}};
  run["q2"] = {{"C", 2.0}, {"B", 1.0}};
  run["q3"] = {{"D", 1.0}};
  run["q5"] = {{"Z", 1.0}};  // no qrels: not evaluated
  RunEvaluation ev = evaluate_run(run, qrels, parse_retrieval_metrics("mrr@10,ndcg@10,p@1"));
  EXPECT_EQ(ev.queries, 3u);
  EXPECT_EQ(ev.queries_missing_from_run, 1u);
  EXPECT_EQ(ev.queries_skipped_no_relevant, 1u);
  EXPECT_EQ(ev.run_queries_without_qrels, 1u);
  EXPECT_EQ(ev.run_queries, 4u);
  EXPECT_EQ(ev.qrels_queries, 4u);
  ASSERT_EQ(ev.per_query.size(), 3u);
  EXPECT_EQ(ev.per_query[0].qid, "q1");
  EXPECT_EQ(ev.per_query[1].qid, "q2");
  EXPECT_EQ(ev.per_query[2].qid, "q4");
  EXPECT_TRUE(ev.per_query[2].missing_from_run);
  EXPECT_EQ(ev.per_query[1].relevant, 2u);
  EXPECT_DOUBLE_EQ(ev.means[0], 2.0 / 3);  // mrr: 1, 1, 0
  EXPECT_DOUBLE_EQ(ev.means[1], 2.0 / 3);  // ndcg: 1, 1 (C=2 then B=1 is ideal), 0
  EXPECT_DOUBLE_EQ(ev.means[2], 2.0 / 3);
  EXPECT_EQ(ev.per_query[2].values, std::vector<double>({0.0, 0.0, 0.0}));
}

TEST(Metrics, NothingToEvaluateIsAnError) {
  Qrels qrels;
  qrels.by_query["q1"] = {{"A", 0}, {"B", -1}};
  embcomp::Run run;
  run["q1"] = {{"A", 1.0}};
  EXPECT_THROW(evaluate_run(run, qrels, parse_retrieval_metrics("ndcg@10")), Error);
  qrels.by_query["q1"]["C"] = 1;
  EXPECT_THROW(evaluate_run(run, qrels, {}), Error);
}

TEST(Metrics, QueryIdOrder) {
  EXPECT_TRUE(qid_less("2", "10"));
  EXPECT_FALSE(qid_less("10", "2"));
  EXPECT_TRUE(qid_less("10", "a"));    // numbers first
  EXPECT_TRUE(qid_less("a10", "a2"));  // bytes otherwise
  EXPECT_TRUE(qid_less("01", "1"));    // equal numbers: by bytes
  EXPECT_FALSE(qid_less("7", "7"));
}

// ---- embcomp eval ---------------------------------------------------------------------------

/// Runs a command function with argv built from args (args[0] is the command name).
int call(int (*cmd)(int, char**), std::vector<std::string> args) {
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return cmd(int(args.size()), argv.data());
}

void write_file(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

std::vector<nlohmann::json> read_jsonl(const std::string& path) {
  std::ifstream in(path);
  std::vector<nlohmann::json> out;
  std::string line;
  while (std::getline(in, line)) out.push_back(nlohmann::json::parse(line));
  return out;
}

class MetricsEvalCommand : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::temp_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    qrels_ = dir_ + "/qrels.txt";
    run_ = dir_ + "/run.txt";
    write_file(qrels_, "1 0 d1 1\n1 0 d2 2\n2 0 d3 1\n3 0 d4 0\n4 0 d9 1\n");
    write_file(run_,
               "1 Q0 d2 1 0.9 r\n1 Q0 d5 2 0.8 r\n1 Q0 d1 3 0.7 r\n"
               "2 Q0 d5 1 0.9 r\n2 Q0 d3 2 0.5 r\n5 Q0 d1 1 0.3 r\n");
  }
  std::string dir_, qrels_, run_;
};

TEST_F(MetricsEvalCommand, JsonlSummaryAndPerQuery) {
  const std::string out = dir_ + "/m.jsonl";
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(call(cmd_eval, {"eval", "--run", run_, "--qrels", qrels_, "--metrics",
                            "ndcg@10,mrr@10,recall@100,p@2", "--format", "jsonl", "--out", out,
                            "--per-query"}),
            0);
  const std::string err = ::testing::internal::GetCapturedStderr();
  auto rows = read_jsonl(out);
  ASSERT_EQ(rows.size(), 4u);  // summary + queries 1, 2, 4
  const auto& s = rows[0];
  // q1: d2(2) d5 d1(1); q2: d5 d3(1); q4: missing -> 0.
  const double ndcg_q1 = (2.0 + 1 / std::log2(4.0)) / (2.0 + 1 / std::log2(3.0));
  const double ndcg_q2 = 1 / std::log2(3.0);
  EXPECT_NEAR(s["ndcg_at_10"].get<double>(), (ndcg_q1 + ndcg_q2 + 0.0) / 3, 1e-12);
  EXPECT_NEAR(s["mrr_at_10"].get<double>(), (1.0 + 0.5 + 0.0) / 3, 1e-12);
  EXPECT_NEAR(s["recall_at_100"].get<double>(), 2.0 / 3, 1e-12);
  EXPECT_NEAR(s["p_at_2"].get<double>(), (0.5 + 0.5 + 0.0) / 3, 1e-12);
  EXPECT_EQ(s["queries"], 3);
  EXPECT_EQ(s["queries_missing_from_run"], 1);
  EXPECT_EQ(s["queries_skipped_no_relevant"], 1);
  EXPECT_EQ(s["run_queries_without_qrels"], 1);
  EXPECT_EQ(s["relevant_judgments"], 4);
  EXPECT_EQ(s["relevant_judgments_unknown_docs"], 1);  // d9 appears nowhere in the run
  EXPECT_EQ(rows[1]["query"], "1");
  EXPECT_EQ(rows[3]["query"], "4");
  EXPECT_EQ(rows[3]["missing_from_run"], true);
  EXPECT_EQ(rows[3]["ndcg_at_10"], 0.0);
  // Nothing is silently zero: each case is a warning with its count.
  EXPECT_NE(err.find("1 of 4 relevant judgments"), std::string::npos) << err;
  EXPECT_NE(err.find("1 of 3 evaluated queries are missing from the run"), std::string::npos)
      << err;
  EXPECT_NE(err.find("1 of 3 run queries have no qrels"), std::string::npos) << err;
  for (const auto& e : std::filesystem::directory_iterator(dir_))
    EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos) << e.path();
}

TEST_F(MetricsEvalCommand, UnknownCorpusIdsAndMismatchedQueryIdsWarn) {
  const std::string ids = dir_ + "/ids.txt";
  write_file(ids, "d1\nd2\nd3\nd4\nd5\n");
  const std::string other = dir_ + "/other.txt";
  write_file(other, "x Q0 d1 1 1 r\n");
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(call(cmd_eval, {"eval", "--run", other, "--qrels", qrels_, "--corpus-ids", ids, "--out",
                            dir_ + "/t.txt"}),
            0);
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("no query id of the run is in the qrels"), std::string::npos) << err;
  EXPECT_NE(err.find("1 of 4 relevant judgments (1 documents, e.g. 'd9') name documents absent "
                     "from the corpus ids"),
            std::string::npos)
      << err;
}

TEST_F(MetricsEvalCommand, TableFormat) {
  const std::string out = dir_ + "/m.txt";
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(call(cmd_eval,
                 {"eval", "--run", run_, "--qrels", qrels_, "--metrics", "mrr@10", "--out", out}),
            0);
  ::testing::internal::GetCapturedStderr();
  std::ifstream in(out);
  std::stringstream ss;
  ss << in.rdbuf();
  EXPECT_NE(ss.str().find("mrr@10        0.5000"), std::string::npos) << ss.str();
  EXPECT_NE(ss.str().find("queries: 3 evaluated (1 missing from the run"), std::string::npos);
}

TEST_F(MetricsEvalCommand, BadInputFailsWithoutOutput) {
  const std::string out = dir_ + "/m.jsonl";
  auto kind_of = [&](std::vector<std::string> args) {
    try {
      call(cmd_eval, args);
    } catch (const Error& e) {
      return int(e.kind());
    }
    return -1;
  };
  EXPECT_EQ(
      kind_of({"eval", "--run", run_, "--qrels", qrels_, "--metrics", "ndcg@ten", "--out", out}),
      int(ErrorKind::kBadInput));
  EXPECT_EQ(kind_of({"eval", "--qrels", qrels_, "--out", out}), int(ErrorKind::kUsage));
  EXPECT_EQ(kind_of({"eval", "--run", run_, "--out", out}), int(ErrorKind::kUsage));
  EXPECT_EQ(kind_of({"eval", "--run", run_, "--qrels", qrels_, "--format", "csv"}),
            int(ErrorKind::kUsage));
  EXPECT_EQ(kind_of({"eval", "--run", run_, "--qrels", qrels_, "--depth", "5"}),
            int(ErrorKind::kUsage));
  EXPECT_EQ(kind_of({"eval", "--run", dir_ + "/nope.txt", "--qrels", qrels_, "--out", out}),
            int(ErrorKind::kBadInput));
  EXPECT_EQ(kind_of({"eval", "--run", qrels_, "--qrels", qrels_, "--out", out}),
            int(ErrorKind::kBadInput));  // a qrels file is not a run
  EXPECT_EQ(kind_of({"eval", "--run", run_, "--qrels", qrels_, "--out", dir_ + "/no/such/m.jsonl"}),
            int(ErrorKind::kBadInput));
  EXPECT_FALSE(std::filesystem::exists(out));
  ::testing::internal::CaptureStdout();
  EXPECT_EQ(call(cmd_eval, {"eval", "--help"}), 0);
  EXPECT_NE(::testing::internal::GetCapturedStdout().find("--qrels"), std::string::npos);
}

TEST_F(MetricsEvalCommand, ExactSearchOverEmbeddingsMatchesItsWrittenRun) {
  // Corpus rows e0, e1, e0+e1 (normalized), e2; query 1 = e0, query 2 = e2.
  FloatMatrix base(4, 3);
  base.values = {1, 0, 0, 0, 1, 0, 0.70710677f, 0.70710677f, 0, 0, 0, 1};
  FloatMatrix q(2, 3);
  q.values = {1, 0, 0, 0, 0, 1};
  write_fvecs(dir_ + "/c.fvecs", base.view());
  write_fvecs(dir_ + "/q.fvecs", q.view());
  write_file(dir_ + "/c.txt", "d1\nd2\nd3\nd4\n");
  write_file(dir_ + "/q.txt", "1\n2\n");
  write_file(dir_ + "/qr.txt", "1 0 d3 1\n2 0 d4 1\n");
  const std::string out1 = dir_ + "/a.jsonl", out2 = dir_ + "/b.jsonl", run = dir_ + "/run.trec";
  ::testing::internal::CaptureStderr();
  EXPECT_EQ(call(cmd_eval, {"eval",
                            "--qrels",
                            dir_ + "/qr.txt",
                            "--corpus",
                            dir_ + "/c.fvecs",
                            "--corpus-ids",
                            dir_ + "/c.txt",
                            "--queries",
                            dir_ + "/q.fvecs",
                            "--query-ids",
                            dir_ + "/q.txt",
                            "--metrics",
                            "mrr@10,ndcg@2,recall@1",
                            "--format",
                            "jsonl",
                            "--out",
                            out1,
                            "--run-out",
                            run,
                            "--per-query"}),
            0);
  EXPECT_EQ(
      call(cmd_eval, {"eval", "--qrels", dir_ + "/qr.txt", "--run", run, "--metrics",
                      "mrr@10,ndcg@2,recall@1", "--format", "jsonl", "--out", out2, "--per-query"}),
      0);
  ::testing::internal::GetCapturedStderr();
  auto a = read_jsonl(out1), b = read_jsonl(out2);
  ASSERT_EQ(a.size(), 3u);
  // query 1: d1 (1.0) then d3 (0.707): mrr 1/2; query 2: d4 first: 1.
  EXPECT_DOUBLE_EQ(a[0]["mrr_at_10"].get<double>(), 0.75);
  EXPECT_DOUBLE_EQ(a[0]["recall_at_1"].get<double>(), 0.5);
  EXPECT_EQ(a[0]["depth"], 4);  // the largest cutoff, 10, clipped to the 4 corpus rows
  for (size_t i = 0; i < a.size(); ++i)
    for (const char* key : {"mrr_at_10", "ndcg_at_2", "recall_at_1"})
      EXPECT_EQ(a[i][key], b[i][key]) << i << " " << key;
}

// ---- the bundled dataset --------------------------------------------------------------------

TEST(MetricsCacm, ExactSearchMeetsTheIssueBar) {
  const std::string dir = data_dir() + "/cacm-glove";
  FloatMatrix base = read_floats(dir + "/corpus.fvecs");
  FloatMatrix q = read_floats(dir + "/queries.fvecs");
  const auto cids = read_ids_file(dir + "/corpus_ids.txt");
  const auto qids = read_ids_file(dir + "/query_ids.txt");
  const Qrels qrels = read_qrels(dir + "/qrels.txt");
  ASSERT_EQ(base.n, 3204u);
  ASSERT_EQ(base.d, 100u);
  ASSERT_EQ(q.n, 64u);
  ASSERT_EQ(cids.size(), base.n);
  ASSERT_EQ(qids.size(), q.n);
  EXPECT_EQ(qrels.judgments(), 796u);
  // Every judged document is a corpus row (the raw CACM qrels spell some ids CACM-115).
  std::set<std::string> ids(cids.begin(), cids.end());
  for (const auto& [qid, judged] : qrels.by_query)
    for (const auto& [doc, label] : judged) EXPECT_TRUE(ids.count(doc)) << qid << " " << doc;
  // Rows are unit length, except the 4 documents without an in-vocabulary word.
  size_t zero = 0;
  for (size_t i = 0; i < base.n; ++i) {
    double s = 0;
    for (size_t j = 0; j < base.d; ++j) s += double(base.row(i)[j]) * base.row(i)[j];
    if (s == 0) {
      ++zero;
    } else {
      EXPECT_NEAR(s, 1.0, 1e-5) << i;
    }
  }
  EXPECT_EQ(zero, 4u);
  KnnResult r = exact_knn(base.view(), q.view(), 100, Metric::kIP);
  const embcomp::Run run = make_run(r.ids, r.scores, r.nq, r.k, qids, cids);
  RunEvaluation ev = evaluate_run(run, qrels, parse_retrieval_metrics("ndcg@10,mrr@10,recall@100"));
  EXPECT_EQ(ev.queries, 52u);
  EXPECT_EQ(ev.run_queries_without_qrels, 12u);
  // An independent evaluation of the same ranking, written from trec_eval's definitions
  // (ndcg_cut: gain = label, discount log2(rank + 1), ideal from all labels of the query;
  // recip_rank cut at 10; recall = relevant retrieved in the top 100 / relevant judged;
  // ranking by score descending, ties by docid descending; queries with a relevant
  // document only, as docs/metrics.md states), sharing no code with evaluate_run.
  std::map<std::string, size_t> row_of_qid;
  for (size_t i = 0; i < qids.size(); ++i) row_of_qid[qids[i]] = i;
  double ndcg = 0, mrr = 0, recall = 0;
  size_t evaluated = 0;
  for (const auto& [qid, judged] : qrels.by_query) {
    std::vector<int> ideal;
    for (const auto& [doc, label] : judged)
      if (label > 0) ideal.push_back(label);
    if (ideal.empty()) continue;
    ++evaluated;
    const auto it = row_of_qid.find(qid);
    if (it == row_of_qid.end()) continue;  // missing from the run: 0 on every metric
    std::vector<std::pair<float, std::string>> ranked;
    for (size_t j = 0; j < r.k; ++j)
      ranked.emplace_back(r.scores[it->second * r.k + j],
                          cids[size_t(r.ids[it->second * r.k + j])]);
    std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) {
      return a.first != b.first ? a.first > b.first : a.second > b.second;
    });
    auto label_of = [&](const std::string& doc) {
      const auto l = judged.find(doc);
      return l == judged.end() ? 0 : std::max(0, l->second);
    };
    std::sort(ideal.rbegin(), ideal.rend());
    double dcg = 0, idcg = 0;
    for (size_t j = 0; j < 10 && j < ranked.size(); ++j)
      dcg += label_of(ranked[j].second) / std::log2(j + 2.0);
    for (size_t j = 0; j < 10 && j < ideal.size(); ++j) idcg += ideal[j] / std::log2(j + 2.0);
    ndcg += dcg / idcg;
    for (size_t j = 0; j < 10 && j < ranked.size(); ++j)
      if (label_of(ranked[j].second) > 0) {
        mrr += 1.0 / double(j + 1);
        break;
      }
    size_t hits = 0;
    for (size_t j = 0; j < 100 && j < ranked.size(); ++j) hits += label_of(ranked[j].second) > 0;
    recall += double(hits) / double(ideal.size());
  }
  ASSERT_EQ(evaluated, ev.queries);
  EXPECT_NEAR(ev.means[0], ndcg / double(evaluated), 1e-9);
  EXPECT_NEAR(ev.means[1], mrr / double(evaluated), 1e-9);
  EXPECT_NEAR(ev.means[2], recall / double(evaluated), 1e-9);
  // The issue's bar; the values shipped in docs/metrics.md are 0.1584, 0.2940, 0.3042.
  EXPECT_GE(ev.means[0], 0.15);
  EXPECT_NEAR(ev.means[0], 0.1584, 0.002);
  EXPECT_NEAR(ev.means[1], 0.2940, 0.002);
  EXPECT_NEAR(ev.means[2], 0.3042, 0.002);
}

}  // namespace
}  // namespace embcomp

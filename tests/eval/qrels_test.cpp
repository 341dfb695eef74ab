// Qrels, runs and id files: the accepted formats and every error naming its line.
#include "eval/qrels.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "test_data.h"
#include "toolkit/error.h"

namespace embcomp {
namespace {

Qrels qrels_of(const std::string& text) {
  std::istringstream in(text);
  return read_qrels(in, "q.txt");
}

Run run_of(const std::string& text) {
  std::istringstream in(text);
  return read_trec_run(in, "r.txt");
}

std::vector<std::string> ids_of(const std::string& text) {
  std::istringstream in(text);
  return read_ids_file(in, "ids.txt");
}

/// The kBadInput message of f(), or "" when it does not throw one.
template <class F>
std::string bad_input(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kBadInput) << e.message();
    return e.message();
  }
  return "";
}

#define EXPECT_BAD_INPUT(expr, want)                                               \
  do {                                                                             \
    const std::string msg_ = bad_input([&] { (void)(expr); });                     \
    EXPECT_NE(msg_.find(want), std::string::npos) << "message: '" << msg_ << "'\n" \
                                                  << "want: " << (want);           \
  } while (0)

// ---- qrels ----------------------------------------------------------------------------------

TEST(Qrels, TrecWithZeroOrQ0AnyWhitespaceBlankLinesAndCrlf) {
  Qrels q = qrels_of("1 0 d1 1\n1\tQ0\td2\t2\r\n\n  2   0  d1   0  \n2 Q0 d3 -1\n");
  ASSERT_EQ(q.by_query.size(), 2u);
  EXPECT_EQ(q.judgments(), 4u);
  EXPECT_EQ(q.by_query["1"]["d1"], 1);
  EXPECT_EQ(q.by_query["1"]["d2"], 2);
  EXPECT_EQ(q.by_query["2"]["d1"], 0);
  EXPECT_EQ(q.by_query["2"]["d3"], -1);
}

TEST(Qrels, BeirTsvWithHeader) {
  Qrels q = qrels_of("query-id\tcorpus-id\tscore\nq1\tdoc7\t1\nq1\tdoc8\t2\nq2\tdoc7\t0\n");
  EXPECT_EQ(q.judgments(), 3u);
  EXPECT_EQ(q.by_query["q1"]["doc8"], 2);
  EXPECT_EQ(q.by_query["q2"]["doc7"], 0);
}

TEST(Qrels, BeirWithoutHeaderIsRejectedWithAHint) {
  EXPECT_BAD_INPUT(qrels_of("q1\tdoc7\t1\n"), "q.txt line 1: expected 4 fields");
  EXPECT_BAD_INPUT(qrels_of("q1\tdoc7\t1\n"), "query-id corpus-id score");
}

TEST(Qrels, MalformedLinesNameTheLine) {
  EXPECT_BAD_INPUT(qrels_of("1 0 d1 1\n1 0 d2\n"), "q.txt line 2: expected 4 fields");
  EXPECT_BAD_INPUT(qrels_of("1 0 d1 1\n\n1 0 d2 1.5\n"),
                   "q.txt line 3: relevance '1.5' is not an integer");
  EXPECT_BAD_INPUT(qrels_of("1 0 d1 yes\n"), "line 1: relevance 'yes'");
  EXPECT_BAD_INPUT(qrels_of("1 0 d1 99999999999\n"), "line 1: relevance");
  EXPECT_BAD_INPUT(qrels_of("1 Q0 d1 1 0.5 tag\n"), "is this a run file?");
  EXPECT_BAD_INPUT(qrels_of("query-id\tcorpus-id\tscore\nq1 d1 1\nq1 d2\n"),
                   "q.txt line 3: expected 3 fields (BEIR");
  EXPECT_BAD_INPUT(qrels_of("query-id\tcorpus-id\tscore\nq1 d1 x\n"), "line 2: relevance 'x'");
}

TEST(Qrels, DocumentJudgedTwiceIsAnError) {
  EXPECT_BAD_INPUT(qrels_of("1 0 d1 1\n1 0 d2 1\n1 0 d1 0\n"),
                   "q.txt line 3: query 1 judges document d1 twice (first at line 1)");
  // The same document for two queries is fine.
  EXPECT_EQ(qrels_of("1 0 d1 1\n2 0 d1 1\n").judgments(), 2u);
}

TEST(Qrels, EmptyIsAnError) {
  EXPECT_BAD_INPUT(qrels_of(""), "q.txt: no judgments");
  EXPECT_BAD_INPUT(qrels_of("\n  \n"), "no judgments");
  EXPECT_BAD_INPUT(qrels_of("query-id\tcorpus-id\tscore\n"), "no judgments");
}

TEST(Qrels, FilesThatCannotBeReadNameThePath) {
  const std::string dir = testing::temp_dir("QrelsFiles");
  EXPECT_BAD_INPUT(read_qrels(dir + "/missing.txt"), dir + "/missing.txt: no such file");
  EXPECT_BAD_INPUT(read_qrels(dir), "is a folder");
  EXPECT_BAD_INPUT(read_trec_run(dir + "/missing.run"), "missing.run: no such file");
  EXPECT_BAD_INPUT(read_ids_file(dir + "/missing.ids"), "missing.ids: no such file");
  std::ofstream(dir + "/q.txt") << "1 0 d1 1\n";
  EXPECT_EQ(read_qrels(dir + "/q.txt").judgments(), 1u);
}

// ---- runs -----------------------------------------------------------------------------------

TEST(QrelsRun, ReadsAndSortsByScoreThenDocidDescending) {
  embcomp::Run run = run_of(
      "q2 Q0 x 1 0.5 tag\n"
      "q1 Q0 a 1 3 tag\n"
      "q1 Q0 b 2 5e0 tag\n"
      "\n"
      "q1\tQ0\tc\t3\t-1.25\ttag\r\n"
      "q1 Q0 d 4 5 tag\n");
  ASSERT_EQ(run.size(), 2u);
  const auto& d = run["q1"];
  ASSERT_EQ(d.size(), 4u);
  EXPECT_EQ(d[0].docid, "d");  // 5, tie with b: larger docid first
  EXPECT_EQ(d[1].docid, "b");
  EXPECT_EQ(d[2].docid, "a");
  EXPECT_EQ(d[3].docid, "c");
  EXPECT_EQ(d[3].score, -1.25);
  EXPECT_EQ(run["q2"][0].docid, "x");
}

TEST(QrelsRun, DuplicateDocumentNamesQueryAndDoc) {
  EXPECT_BAD_INPUT(run_of("7 Q0 d1 1 3 t\n7 Q0 d3 2 2 t\n8 Q0 d3 1 1 t\n7 Q0 d3 3 1 t\n"),
                   "r.txt line 4: query 7 lists document d3 twice (first at line 2)");
}

TEST(QrelsRun, MalformedLinesNameTheLine) {
  EXPECT_BAD_INPUT(run_of("1 Q0 d1 1 1 t\n1 Q0 d2 2 1\n"), "r.txt line 2: expected 6 fields");
  EXPECT_BAD_INPUT(run_of("1 0 d1 1\n"), "is this a qrels file?");
  EXPECT_BAD_INPUT(run_of("1 Q0 d1 one 1 t\n"), "line 1: rank 'one' is not an integer");
  EXPECT_BAD_INPUT(run_of("1 Q0 d1 1 high t\n"), "line 1: score 'high' is not a finite number");
  EXPECT_BAD_INPUT(run_of("1 Q0 d1 1 nan t\n"), "score 'nan'");
  EXPECT_BAD_INPUT(run_of("1 Q0 d1 1 inf t\n"), "score 'inf'");
  EXPECT_BAD_INPUT(run_of("1 Q0 d1 1 0.5x t\n"), "score '0.5x'");
  EXPECT_BAD_INPUT(run_of("\n\n"), "r.txt: the run is empty");
}

TEST(QrelsRun, WrittenRunReadsBackInTheSameOrder) {
  // Float scores with ties and near-ties: the text form must keep every comparison.
  const std::vector<float> scores = {0.1f + 1e-8f, 0.1f, 0.1f, 1.0f / 3, -2.5f, 0.0f};
  const std::vector<int64_t> ids = {3, 1, 2, 0, 5, 4};
  const std::vector<std::string> docs = {"a", "b", "c", "d", "e", "f"};
  embcomp::Run run = make_run(ids, scores, 2, 3, {"q1", "q2"}, docs);
  const std::string dir = testing::temp_dir("QrelsRunRoundTrip");
  write_trec_run(dir + "/r.txt", run, "mine");
  embcomp::Run back = read_trec_run(dir + "/r.txt");
  ASSERT_EQ(back.size(), 2u);
  for (const auto& [q, list] : run) {
    ASSERT_EQ(back[q].size(), list.size()) << q;
    for (size_t i = 0; i < list.size(); ++i) {
      EXPECT_EQ(back[q][i].docid, list[i].docid) << q << " " << i;
      EXPECT_EQ(float(back[q][i].score), float(list[i].score)) << q << " " << i;
    }
  }
  // q1 holds d (0.1+), b and c (tied at 0.1): c before b.
  EXPECT_EQ(run["q1"][1].docid, "c");
  EXPECT_EQ(run["q1"][2].docid, "b");
  std::ifstream in(dir + "/r.txt");
  std::string first;
  std::getline(in, first);
  EXPECT_EQ(first.substr(0, 10), "q1 Q0 d 1 ");
  EXPECT_EQ(first.substr(first.size() - 5), " mine");
  EXPECT_THROW(write_trec_run(dir + "/r2.txt", run, "two words"), Error);
}

TEST(QrelsRun, MakeRunSkipsMissingResultsAndChecksIds) {
  embcomp::Run run = make_run({1, -1}, {0.5f, 0.0f}, 1, 2, {"q"}, {"a", "b"});
  ASSERT_EQ(run["q"].size(), 1u);
  EXPECT_EQ(run["q"][0].docid, "b");
  EXPECT_THROW(make_run({2, -1}, {0.5f, 0.0f}, 1, 2, {"q"}, {"a", "b"}), Error);
  EXPECT_THROW(make_run({1, -1}, {0.5f, 0.0f}, 1, 2, {"q", "r"}, {"a", "b"}), Error);
  EXPECT_THROW(make_run({0, 1}, {0.5f, 0.1f}, 2, 1, {"q", "q"}, {"a", "b"}), Error);
}

// ---- ids files ------------------------------------------------------------------------------

TEST(QrelsIds, OneIdPerLine) {
  EXPECT_EQ(ids_of("CACM-0001\nCACM-0002\r\nx\n"),
            std::vector<std::string>({"CACM-0001", "CACM-0002", "x"}));
  EXPECT_EQ(ids_of("a\nb"), std::vector<std::string>({"a", "b"}));  // no final newline
}

TEST(QrelsIds, BlankWhitespaceAndRepeatedIdsNameTheLine) {
  EXPECT_BAD_INPUT(ids_of("a\n\nb\n"), "ids.txt line 2: empty line");
  EXPECT_BAD_INPUT(ids_of("a\nb\n\n"), "ids.txt line 3: empty line");
  EXPECT_BAD_INPUT(ids_of("a\nb c\n"), "ids.txt line 2: id 'b c' contains whitespace");
  EXPECT_BAD_INPUT(ids_of("a\n \n"), "line 2");
  EXPECT_BAD_INPUT(ids_of("a\nb\na\n"), "ids.txt line 3: id 'a' already on line 1");
  EXPECT_BAD_INPUT(ids_of(""), "ids.txt: no ids");
}

TEST(QrelsIds, WriteAndReadBack) {
  const std::string dir = testing::temp_dir("QrelsIdsWrite");
  write_ids_file(dir + "/ids.txt", {"x", "y", "z"});
  EXPECT_EQ(read_ids_file(dir + "/ids.txt"), std::vector<std::string>({"x", "y", "z"}));
  EXPECT_THROW(write_ids_file(dir + "/bad.txt", {"x", "y z"}), Error);
  EXPECT_FALSE(std::filesystem::exists(dir + "/bad.txt"));
}

}  // namespace
}  // namespace embcomp

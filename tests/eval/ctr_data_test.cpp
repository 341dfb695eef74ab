// CTR data (eval/ctr_data.h, eval/ctr_synthetic.h): the real Criteo rows, vocabularies,
// missing values, dense transform, Avazu, splits, malformed rows, the binary cache and the
// synthetic generator.
#include "eval/ctr_data.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <omp.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <limits>
#include <numeric>
#include <sstream>

#include "eval/ctr_synthetic.h"
#include "test_data.h"
#include "toolkit/dataset.h"
#include "toolkit/error.h"

namespace embcomp::ctr {
namespace {

namespace fs = std::filesystem;

std::string tiny(const std::string& file) { return data_dir() + "/criteo-tiny/" + file; }

using embcomp::testing::slurp;

CtrLoadOptions no_cache(int min_count = 4) {
  CtrLoadOptions o;
  o.use_cache = false;
  o.min_count = min_count;
  return o;
}

std::string test_dir() {
  return testing::temp_dir(std::string("ctr_") +
                           ::testing::UnitTest::GetInstance()->current_test_info()->name());
}

/// One Criteo TSV row: label, 13 integers ("" = missing), 26 categoricals ("" = missing).
std::string criteo_row(const std::string& label, const std::vector<std::string>& ints,
                       const std::vector<std::string>& cats) {
  std::string r = label;
  for (int j = 0; j < 13; ++j) r += "\t" + (j < int(ints.size()) ? ints[j] : std::string("1"));
  for (int f = 0; f < 26; ++f)
    r += "\t" + (f < int(cats.size()) ? cats[f] : std::string("0000abcd"));
  return r + "\n";
}

/// Local id of row i's field f in split s (global id minus the field offset).
int64_t local_id(const CtrDataset& ds, const CtrSplit& s, int64_t i, int f) {
  return s.cat[size_t(i) * ds.num_fields + f] - ds.field_offsets[f];
}

void expect_same(const CtrDataset& a, const CtrDataset& b) {
  EXPECT_EQ(a.num_dense, b.num_dense);
  EXPECT_EQ(a.num_fields, b.num_fields);
  EXPECT_EQ(a.field_names, b.field_names);
  EXPECT_EQ(a.field_offsets, b.field_offsets);
  EXPECT_EQ(a.counts, b.counts);
  EXPECT_EQ(a.split_note, b.split_note);
  EXPECT_EQ(a.skipped_rows, b.skipped_rows);
  const CtrSplit* sa[3] = {&a.train, &a.val, &a.test};
  const CtrSplit* sb[3] = {&b.train, &b.val, &b.test};
  for (int s = 0; s < 3; ++s) {
    EXPECT_EQ(sa[s]->n, sb[s]->n);
    EXPECT_EQ(sa[s]->dense, sb[s]->dense);
    EXPECT_EQ(sa[s]->cat, sb[s]->cat);
    EXPECT_EQ(sa[s]->label, sb[s]->label);
    EXPECT_EQ(sa[s]->oracle_p, sb[s]->oracle_p);
  }
}

/// Exact AUC with ties counted half (rank-sum form).
double rank_auc(const std::vector<float>& score, const std::vector<float>& label) {
  std::vector<size_t> o(score.size());
  std::iota(o.begin(), o.end(), 0);
  std::sort(o.begin(), o.end(), [&](size_t a, size_t b) { return score[a] < score[b]; });
  double pos = 0, neg = 0, rank_sum = 0;
  for (size_t i = 0; i < o.size();) {
    size_t j = i;
    while (j < o.size() && score[o[j]] == score[o[i]]) ++j;
    const double mid = 0.5 * double(i + 1 + j);  // mean 1-based rank of the tie group
    for (size_t k = i; k < j; ++k)
      if (label[o[k]] == 1.0f) rank_sum += mid;
    i = j;
  }
  for (float l : label) (l == 1.0f ? pos : neg) += 1;
  return (rank_sum - pos * (pos + 1) / 2) / (pos * neg);
}

TEST(CtrData, RankAucHelperKnownAnswer) {
  // Pairs (pos, neg): (0.9 > 0.1) 1, (0.9 > 0.5) 1, (0.5 = 0.5) 0.5, (0.5 > 0.1) 1 -> 3.5 / 4.
  EXPECT_DOUBLE_EQ(rank_auc({0.9f, 0.5f, 0.5f, 0.1f}, {1, 1, 0, 0}), 0.875);
}

// ---- the real rows ------------------------------------------------------------------------------

TEST(CtrData, RealCriteoCsvParses) {
  const CtrDataset ds = load_ctr_dataset("criteo:" + tiny("train.tiny.csv"), no_cache());
  EXPECT_EQ(ds.num_dense, 13);
  EXPECT_EQ(ds.num_fields, 26);
  EXPECT_EQ(ds.field_names.front(), "C1");
  EXPECT_EQ(ds.field_names.back(), "C26");
  // 1999 rows: 6/7 -> 1713 train, the rest halved.
  EXPECT_EQ(ds.train.n, 1713);
  EXPECT_EQ(ds.val.n, 143);
  EXPECT_EQ(ds.test.n, 143);
  EXPECT_EQ(ds.skipped_rows, 0);
  const double ones = std::accumulate(ds.train.label.begin(), ds.train.label.end(), 0.0) +
                      std::accumulate(ds.val.label.begin(), ds.val.label.end(), 0.0) +
                      std::accumulate(ds.test.label.begin(), ds.test.label.end(), 0.0);
  EXPECT_EQ(ones, 418);  // PROVENANCE.md: 418 ones
  // First row (Id 10000000): 0,1,1,5,0,1382,4,15,2,181,1,2,,2,68fd1e64,80e26c9b,...
  EXPECT_EQ(ds.train.label[0], 0.0f);
  EXPECT_FLOAT_EQ(ds.train.dense[0], std::log(2.0f));     // I1 = 1
  EXPECT_FLOAT_EQ(ds.train.dense[3], 0.0f);               // I4 = 0
  EXPECT_FLOAT_EQ(ds.train.dense[4], std::log(1383.0f));  // I5 = 1382
  EXPECT_FLOAT_EQ(ds.train.dense[11], 0.0f);              // I12 missing
  EXPECT_FLOAT_EQ(ds.train.dense[12], std::log(3.0f));    // I13 = 2
  // C1 = 68fd1e64 on rows 1 and 2: the same id, a kept value (>= 2).
  EXPECT_EQ(ds.train.cat[0], ds.train.cat[26]);
  EXPECT_GE(local_id(ds, ds.train, 0, 0), 2);
  // C22 is empty on row 1: the field's missing id.
  EXPECT_EQ(local_id(ds, ds.train, 0, 21), 1);
  // Every field's training counts add up to the training rows.
  for (int f = 0; f < 26; ++f) {
    const int64_t sum = std::accumulate(ds.counts.begin() + ds.field_offsets[f],
                                        ds.counts.begin() + ds.field_offsets[f + 1], int64_t{0});
    EXPECT_EQ(sum, ds.train.n) << "field " << f;
  }
}

TEST(CtrData, RealCriteoTsvParses) {
  const CtrDataset ds =
      load_ctr_dataset("criteo:" + tiny("paddlerec_sample_train.criteo_raw.tsv"), no_cache());
  EXPECT_EQ(ds.train.n + ds.val.n + ds.test.n, 100);
  EXPECT_EQ(ds.train.n, 85);
  EXPECT_EQ(ds.val.n, 7);
  EXPECT_EQ(ds.test.n, 8);
  // First row: 0, I1 missing, I2 = 0, I3 = 5, I4 = 4, I5 = 13275.
  EXPECT_EQ(ds.train.label[0], 0.0f);
  EXPECT_FLOAT_EQ(ds.train.dense[0], 0.0f);
  EXPECT_FLOAT_EQ(ds.train.dense[2], std::log(6.0f));
  EXPECT_FLOAT_EQ(ds.train.dense[4], std::log(13276.0f));
  EXPECT_EQ(ds.train.label[1], 1.0f);
}

TEST(CtrData, CsvAndTsvFormsOfTheSameRowsAgree) {
  // The CSV's rows as native TSV (drop Id, tabs for commas): the same dataset.
  const std::string dir = test_dir();
  std::ifstream in(tiny("train.tiny.csv"));
  std::ofstream out(dir + "/same.tsv");
  std::string line;
  std::getline(in, line);
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    line = line.substr(line.find(',') + 1);
    std::replace(line.begin(), line.end(), ',', '\t');
    out << line << "\n";
  }
  out.close();
  const CtrDataset a = load_ctr_dataset("criteo:" + tiny("train.tiny.csv"), no_cache(2));
  const CtrDataset b = load_ctr_dataset("criteo:" + dir + "/same.tsv", no_cache(2));
  expect_same(a, b);
}

// ---- vocabulary, missing values, dense --------------------------------------------------------

TEST(CtrData, VocabularyThresholdOovAndMissing) {
  // 14 rows -> 12 train, 1 validation, 1 test. C1 values in train: aaaaaaaa x5, bbbbbbbb x4,
  // cccccccc x1, missing x2; the test row has dddddddd, never seen in train.
  const std::string dir = test_dir();
  std::ofstream f(dir + "/v.tsv");
  const char* c1[14] = {"aaaaaaaa", "bbbbbbbb", "aaaaaaaa", "",         "bbbbbbbb",
                        "aaaaaaaa", "cccccccc", "bbbbbbbb", "aaaaaaaa", "",
                        "bbbbbbbb", "aaaaaaaa", "cccccccc", "dddddddd"};
  for (int i = 0; i < 14; ++i) f << criteo_row(i % 3 ? "0" : "1", {}, {c1[i]});
  f.close();
  const CtrDataset ds = load_ctr_dataset("criteo:" + dir + "/v.tsv", no_cache(4));
  ASSERT_EQ(ds.train.n, 12);
  // Field C1: OOV, missing, aaaaaaaa (5), bbbbbbbb (4); cccccccc (1 < 4) is OOV.
  EXPECT_EQ(ds.field_offsets[1] - ds.field_offsets[0], 4);
  const int64_t want[12] = {2, 3, 2, 1, 3, 2, 0, 3, 2, 1, 3, 2};
  for (int i = 0; i < 12; ++i) EXPECT_EQ(local_id(ds, ds.train, i, 0), want[i]) << "row " << i;
  EXPECT_EQ(local_id(ds, ds.val, 0, 0), 0);   // cccccccc: rare in train
  EXPECT_EQ(local_id(ds, ds.test, 0, 0), 0);  // dddddddd: unseen in train
  EXPECT_EQ(ds.counts[0], 1u);                // OOV row: the one cccccccc in train
  EXPECT_EQ(ds.counts[1], 2u);                // missing
  EXPECT_EQ(ds.counts[2], 5u);
  EXPECT_EQ(ds.counts[3], 4u);
  // C2 is 0000abcd everywhere: one kept value, seen 12 times.
  EXPECT_EQ(ds.field_offsets[2] - ds.field_offsets[1], 3);
  EXPECT_EQ(ds.counts[size_t(ds.field_offsets[1]) + 2], 12u);

  // min_count 1 keeps cccccccc (first seen after bbbbbbbb, fewer counts: id 4).
  const CtrDataset all = load_ctr_dataset("criteo:" + dir + "/v.tsv", no_cache(1));
  EXPECT_EQ(all.field_offsets[1], 5);
  EXPECT_EQ(local_id(all, all.train, 6, 0), 4);
  EXPECT_EQ(local_id(all, all.test, 0, 0), 0);
}

TEST(CtrData, DenseIsLogOnePlusXNegativeAndMissingAreZero) {
  const std::string dir = test_dir();
  std::ofstream f(dir + "/d.tsv");
  f << criteo_row("1", {"-5", "0", "9", "", "+3", "2147483648000", "1"}, {});
  for (int i = 0; i < 13; ++i) f << criteo_row("0", {}, {});
  f.close();
  const CtrDataset ds = load_ctr_dataset("criteo:" + dir + "/d.tsv", no_cache());
  const float* d = ds.train.dense.data();
  EXPECT_EQ(d[0], 0.0f);  // -5 -> 0
  EXPECT_EQ(d[1], 0.0f);  // 0
  EXPECT_FLOAT_EQ(d[2], std::log(10.0f));
  EXPECT_EQ(d[3], 0.0f);  // missing
  EXPECT_FLOAT_EQ(d[4], std::log(4.0f));
  EXPECT_FLOAT_EQ(d[5], float(std::log1p(2147483648000.0)));
}

// ---- Avazu
// ----------------------------------------------------------------------------------------

const char* kAvazuHeader =
    "id,click,hour,C1,banner_pos,site_id,site_domain,site_category,app_id,app_domain,"
    "app_category,device_id,device_ip,device_model,device_type,device_conn_type,C14,C15,C16,C17,"
    "C18,C19,C20,C21\n";

std::string avazu_row(int id, int click, const std::string& hour, const std::string& site) {
  return std::to_string(id) + "," + std::to_string(click) + "," + hour + ",1005,0," + site +
         ",f3845767,28905ebd,ecad2386,7801e8d9,07d7df22,a99f214a,ddd2926e,44956a24,1,2,15706,320,"
         "50,1722,0,35,-1,79\n";
}

TEST(CtrData, AvazuLastDayIsValidationAndTest) {
  const std::string dir = test_dir();
  std::ofstream f(dir + "/a.csv");
  f << kAvazuHeader;
  // 6 rows on 14102100..14102123 (day 141021), 4 rows on day 141022.
  const char* hours[10] = {"14102100", "14102101", "14102105", "14102117", "14102123",
                           "14102123", "14102200", "14102201", "14102202", "14102203"};
  for (int i = 0; i < 10; ++i) f << avazu_row(i, i % 2, hours[i], i < 3 ? "1fbe01fe" : "85f751fd");
  f.close();
  const CtrDataset ds = load_ctr_dataset("avazu:" + dir + "/a.csv", no_cache(1));
  EXPECT_EQ(ds.num_dense, 0);
  EXPECT_EQ(ds.num_fields, 22);
  EXPECT_EQ(ds.field_names[0], "hour");
  EXPECT_EQ(ds.field_names[3], "site_id");
  EXPECT_EQ(ds.field_names[21], "C21");
  EXPECT_EQ(ds.train.n, 6);
  EXPECT_EQ(ds.val.n, 2);
  EXPECT_EQ(ds.test.n, 2);
  EXPECT_NE(ds.split_note.find("last day 141022"), std::string::npos) << ds.split_note;
  EXPECT_TRUE(ds.train.dense.empty());
  EXPECT_EQ(ds.val.label, (std::vector<float>{0, 1}));
  // hour is hour of day: rows 5 and 6 (hour 23) share an id; validation hours 00 and 01 were
  // seen in train (rows 1 and 2), 02 and 03 were not.
  EXPECT_EQ(local_id(ds, ds.train, 4, 0), local_id(ds, ds.train, 5, 0));
  EXPECT_EQ(ds.val.cat[0], ds.train.cat[0]);
  EXPECT_EQ(ds.val.cat[22], ds.train.cat[22]);
  EXPECT_EQ(local_id(ds, ds.test, 0, 0), 0);
  // site_id: 1fbe01fe on train rows 0-2, 85f751fd after.
  EXPECT_EQ(ds.train.cat[3], ds.train.cat[22 + 3]);
  EXPECT_NE(ds.train.cat[3], ds.train.cat[3 * 22 + 3]);
  EXPECT_EQ(ds.test.cat[3], ds.train.cat[3 * 22 + 3]);
}

TEST(CtrCli, AvazuOneDayWarningIsNotASecondLineOnAnError) {
  // reliability #25: a one-day Avazu file that fails later (too few rows to split) printed
  // the one-day warning and then the error: two stderr lines on exit 2.
  const std::string dir = test_dir();
  std::ofstream f(dir + "/two.csv");
  f << kAvazuHeader << avazu_row(0, 0, "14102100", "x") << avazu_row(1, 1, "14102101", "x");
  f.close();
  const auto r =
      embcomp::testing::run_embcomp(dir, "ctr-data --no-cache --data avazu:" + dir + "/two.csv");
  EXPECT_EQ(r.code, 2) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find("too few to split"), std::string::npos) << r.err;
  // A one-day file that loads still warns, once.
  std::ofstream g(dir + "/day.csv");
  g << kAvazuHeader;
  for (int i = 0; i < 20; ++i) g << avazu_row(i, i % 2, "14102100", "x");
  g.close();
  const auto ok =
      embcomp::testing::run_embcomp(dir, "ctr-data --no-cache --data avazu:" + dir + "/day.csv");
  EXPECT_EQ(ok.code, 0) << ok.err;
  EXPECT_NE(ok.err.find("spans one day"), std::string::npos) << ok.err;
}

// Last-day rows before training rows: the training rows are compacted in place, and Avazu
// has no dense columns, so that compaction moved 0 dense bytes from a null pointer
// (undefined behaviour; UBSan in fuzz_ctr_text).
TEST(CtrData, AvazuValidationRowsFirstCompactTheTrainingRows) {
  const std::string dir = test_dir();
  std::ofstream f(dir + "/late.csv");
  f << kAvazuHeader;
  const char* hours[8] = {"14102200", "14102201", "14102100", "14102101",
                          "14102202", "14102102", "14102103", "14102203"};
  for (int i = 0; i < 8; ++i) f << avazu_row(i, i % 2, hours[i], i == 2 ? "1fbe01fe" : "85f751fd");
  f.close();
  const CtrDataset ds = load_ctr_dataset("avazu:" + dir + "/late.csv", no_cache(1));
  ASSERT_EQ(ds.train.n, 4);
  EXPECT_EQ(ds.val.n + ds.test.n, 4);
  EXPECT_TRUE(ds.train.dense.empty());
  // Training rows are file rows 2, 3, 5, 6 in order: labels 0, 1, 1, 0; row 2 alone has site
  // 1fbe01fe.
  EXPECT_EQ(ds.train.label, (std::vector<float>{0, 1, 1, 0}));
  EXPECT_NE(ds.train.cat[3], ds.train.cat[22 + 3]);
  EXPECT_EQ(ds.train.cat[22 + 3], ds.train.cat[3 * 22 + 3]);
}

TEST(CtrData, AvazuSingleDayFallsBackTo811AndSaysSo) {
  const std::string dir = test_dir();
  std::ofstream f(dir + "/one.csv");
  f << kAvazuHeader;
  for (int i = 0; i < 20; ++i)
    f << avazu_row(i, i % 4 == 0,
                   "141021" + std::string(i < 10 ? "0" : "1") + std::to_string(i % 10), "1fbe01fe");
  f.close();
  const CtrDataset ds = load_ctr_dataset("avazu:" + dir + "/one.csv", no_cache(1));
  EXPECT_EQ(ds.train.n, 16);
  EXPECT_EQ(ds.val.n, 2);
  EXPECT_EQ(ds.test.n, 2);
  EXPECT_NE(ds.split_note.find("spans one day"), std::string::npos) << ds.split_note;
  EXPECT_NE(ds.split_note.find("8:1:1"), std::string::npos) << ds.split_note;
}

// ---- malformed rows ---------------------------------------------------------------------------

struct Malformed {
  std::string name, row, want;
};

TEST(CtrData, MalformedRowsNameTheLineOrAreSkippedAndCounted) {
  const std::string dir = test_dir();
  std::vector<std::string> ok_cats(26, "0000abcd");
  std::string too_few = criteo_row("0", {}, {});
  too_few = too_few.substr(0, too_few.rfind('\t')) + "\n";
  const std::vector<Malformed> cases = {
      {"columns", too_few, "expected 40 tab-separated columns (label, I1..I13, C1..C26), found 39"},
      {"hex", criteo_row("0", {}, {"0000abcd", "zz00abcd"}),
       "C2 'zz00abcd' is not an 8-digit hex value"},
      {"short_hex", criteo_row("0", {}, {"abc"}), "C1 'abc' is not an 8-digit hex value"},
      {"integer", criteo_row("0", {"1", "2", "x7"}, {}), "I3 'x7' is not an integer"},
      {"float", criteo_row("0", {"1.5"}, {}), "I1 '1.5' is not an integer"},
      {"label", criteo_row("2", {}, {}), "label '2' is not 0 or 1"},
  };
  for (const auto& c : cases) {
    const std::string path = dir + "/" + c.name + ".tsv";
    std::ofstream f(path);
    for (int i = 0; i < 20; ++i) f << (i == 3 ? c.row : criteo_row("0", {}, {}));
    f.close();
    const std::string msg =
        testing::bad_input_message([&] { load_ctr_dataset("criteo:" + path, no_cache()); });
    EXPECT_NE(msg.find(path + ": line 4: " + c.want), std::string::npos) << c.name << ": " << msg;
    CtrLoadOptions skip = no_cache();
    skip.skip_bad_rows = true;
    const CtrDataset ds = load_ctr_dataset("criteo:" + path, skip);
    EXPECT_EQ(ds.skipped_rows, 1) << c.name;
    EXPECT_EQ(ds.train.n + ds.val.n + ds.test.n, 19) << c.name;
  }
  // A CSV's line numbers count the header: the 3rd data row is line 4.
  {
    std::ifstream in(tiny("train.tiny.csv"));
    std::ofstream out(dir + "/bad.csv");
    std::string line;
    for (int i = 0; std::getline(in, line) && i < 30; ++i) {
      if (i == 3) line.replace(line.rfind(','), 1, ",zz");
      out << line << "\n";
    }
  }
  const std::string msg = testing::bad_input_message(
      [&] { load_ctr_dataset("criteo:" + dir + "/bad.csv", no_cache()); });
  EXPECT_NE(msg.find("bad.csv: line 4: C26 'zz"), std::string::npos) << msg;
  // Avazu: click and hour are checked.
  std::ofstream a(dir + "/bad_avazu.csv");
  a << kAvazuHeader << avazu_row(0, 0, "14102100", "x") << avazu_row(1, 0, "1410210", "x");
  a.close();
  const std::string amsg = testing::bad_input_message(
      [&] { load_ctr_dataset("avazu:" + dir + "/bad_avazu.csv", no_cache()); });
  EXPECT_NE(amsg.find("line 3: hour '1410210' is not YYMMDDHH"), std::string::npos) << amsg;
  // reliability #28: a signed hour ("-1234567" has 8 characters and parses as an integer)
  // made a negative day that wrapped to 4294954951; hours are digits only.
  for (const char* hour : {"-1234567", "+1410210"}) {
    std::ofstream s(dir + "/signed_hour.csv");
    s << kAvazuHeader << avazu_row(0, 0, "14102100", "x") << avazu_row(1, 0, hour, "x");
    s.close();
    const std::string smsg = testing::bad_input_message(
        [&] { load_ctr_dataset("avazu:" + dir + "/signed_hour.csv", no_cache()); });
    EXPECT_NE(smsg.find("line 3: hour '" + std::string(hour) + "' is not YYMMDDHH"),
              std::string::npos)
        << smsg;
  }
  // catalogue ctrdata_avazu_wide: a header of more than 256 columns was reported as "must start
  // with the header id,click,hour", which it did.
  std::ofstream w(dir + "/wide.csv");
  std::string wide = "id,click,hour";
  for (int c = 0; c < 300; ++c) wide += ",c" + std::to_string(c);
  w << wide << "\n" << avazu_row(0, 0, "14102100", "x");
  w.close();
  const std::string wmsg = testing::bad_input_message(
      [&] { load_ctr_dataset("avazu:" + dir + "/wide.csv", no_cache()); });
  EXPECT_NE(wmsg.find("line 1: the header has 303 columns, more than 256"), std::string::npos)
      << wmsg;
}

TEST(CtrData, BadSourcesAreBadInput) {
  EXPECT_NE(testing::bad_input_message([] {
              load_ctr_dataset("kaggle:x.tsv");
            }).find("unknown CTR data source 'kaggle:x.tsv'"),
            std::string::npos);
  EXPECT_NE(testing::bad_input_message([] {
              load_ctr_dataset("criteo:/nonexistent/x.tsv");
            }).find("/nonexistent/x.tsv: no such file"),
            std::string::npos);
  const std::string dir = test_dir();
  std::ofstream(dir + "/h.csv") << "id,clack,hour\n";
  EXPECT_NE(testing::bad_input_message([&] {
              load_ctr_dataset("avazu:" + dir + "/h.csv", no_cache());
            }).find("line 1: an Avazu file must start with the header id,click,hour"),
            std::string::npos);
  std::ofstream(dir + "/few.tsv") << criteo_row("0", {}, {}) << criteo_row("1", {}, {});
  EXPECT_NE(testing::bad_input_message([&] {
              load_ctr_dataset("criteo:" + dir + "/few.tsv", no_cache());
            }).find("2 rows are too few to split"),
            std::string::npos);
}

// ---- cache --------------------------------------------------------------------------------------

TEST(CtrData, CacheRoundTripIsIdenticalAndIsUsed) {
  const std::string dir = test_dir();
  const std::string input = dir + "/train.tiny.csv";
  fs::copy_file(tiny("train.tiny.csv"), input);
  CtrLoadOptions opt;
  opt.cache_dir = dir;
  const std::string source = "criteo:" + input;
  const std::string cache = ctr_cache_path(source, opt);
  EXPECT_EQ(cache, dir + "/train.tiny.csv.criteo-m4.ctrcache");
  const CtrDataset parsed = load_ctr_dataset(source, no_cache());
  const CtrDataset first = load_ctr_dataset(source, opt);  // parses, writes the cache
  ASSERT_TRUE(fs::exists(cache));
  const CtrDataset cached = load_ctr_dataset(source, opt);
  expect_same(parsed, first);
  expect_same(parsed, cached);
  EXPECT_EQ(cached.source, source);

  // The cache is really what is read: change a label in the input keeping its size and mtime,
  // and the cached (old) label comes back; a new mtime makes it stale and re-parsed.
  struct stat st;
  ASSERT_EQ(::stat(input.c_str(), &st), 0);
  std::string text = slurp(input);
  const size_t at = text.find("\n10000000,0,") + 10;
  text[at] = '1';
  std::ofstream(input, std::ios::binary) << text;
  const struct timespec times[2] = {st.st_atim, st.st_mtim};
  ASSERT_EQ(::utimensat(AT_FDCWD, input.c_str(), times, 0), 0);
  EXPECT_EQ(load_ctr_dataset(source, opt).train.label[0], 0.0f);
  const struct timespec later[2] = {st.st_atim, {st.st_mtim.tv_sec + 10, 0}};
  ASSERT_EQ(::utimensat(AT_FDCWD, input.c_str(), later, 0), 0);
  EXPECT_EQ(load_ctr_dataset(source, opt).train.label[0], 1.0f);

  // Other options get their own cache file.
  CtrLoadOptions other = opt;
  other.min_count = 1;
  other.skip_bad_rows = true;
  other.max_rows = 500;
  EXPECT_EQ(ctr_cache_path(source, other), dir + "/train.tiny.csv.criteo-m1-r500-skip.ctrcache");
  EXPECT_EQ(load_ctr_dataset(source, other).train.n, 6 * 500 / 7);
}

TEST(CtrData, CorruptOrForeignCacheIsIgnoredAndRebuilt) {
  const std::string dir = test_dir();
  CtrLoadOptions opt;
  opt.cache_dir = dir;
  const std::string source = "criteo:" + tiny("train.tiny.csv");
  const std::string cache = ctr_cache_path(source, opt);
  const CtrDataset parsed = load_ctr_dataset(source, no_cache());
  load_ctr_dataset(source, opt);
  const std::string good = slurp(cache);
  ASSERT_GT(good.size(), 1000u);
  auto corrupt_with = [&](const std::string& bytes) {
    std::ofstream(cache, std::ios::binary | std::ios::trunc) << bytes;
    expect_same(parsed, load_ctr_dataset(source, opt));
    EXPECT_EQ(slurp(cache), good);  // rewritten
  };
  std::string flipped = good;
  flipped[good.size() / 2] ^= 0x40;
  corrupt_with(flipped);                          // checksum
  corrupt_with(good.substr(0, good.size() - 9));  // truncated
  corrupt_with(good + "x");                       // trailing garbage
  corrupt_with("not a cache at all");             // foreign
  std::string version = good;
  version[8] = 7;
  corrupt_with(version);  // another format version
}

// ---- synthetic
// -----------------------------------------------------------------------------------

CtrSynthParams small_synth(uint64_t seed, int64_t rows = 3000) {
  CtrSynthParams p;
  p.rows = rows;
  p.scale = 1000;
  p.seed = seed;
  return p;
}

TEST(CtrSynthetic, SameSeedSameBytesOtherSeedDiffers) {
  const std::string dir = test_dir();
  generate_ctr_synthetic(small_synth(1), dir + "/a.bin");
  generate_ctr_synthetic(small_synth(1), dir + "/b.bin");
  generate_ctr_synthetic(small_synth(2), dir + "/c.bin");
  const int threads = omp_get_max_threads();
  omp_set_num_threads(2);  // the bytes do not depend on the thread count
  generate_ctr_synthetic(small_synth(1), dir + "/d.bin");
  omp_set_num_threads(threads);
  const std::string a = slurp(dir + "/a.bin");
  EXPECT_EQ(a.size(), 136 + 26 * 8 + 3000 * 164u);  // header, cardinalities, rows
  EXPECT_EQ(a, slurp(dir + "/b.bin"));
  EXPECT_EQ(a, slurp(dir + "/d.bin"));
  EXPECT_NE(a, slurp(dir + "/c.bin"));
}

TEST(CtrSynthetic, PlantedModelHasTargetCtrAndOracleAuc) {
  const std::string dir = test_dir();
  const CtrSynthHeader h = generate_ctr_synthetic(small_synth(7, 40000), dir + "/s.bin");
  EXPECT_EQ(h.cardinality, synthetic_cardinalities("criteo", 1000));
  EXPECT_EQ(h.cardinality[2], 10131);
  EXPECT_EQ(h.cardinality[8], 2);  // 3 / 1000, at least 2
  const CtrDataset ds = load_ctr_dataset("synthetic:" + dir + "/s.bin");
  EXPECT_EQ(ds.train.n, 32000);
  EXPECT_EQ(ds.val.n, 4000);
  EXPECT_EQ(ds.test.n, 4000);
  EXPECT_EQ(ds.rows(), std::accumulate(h.cardinality.begin(), h.cardinality.end(), int64_t{0}));
  std::vector<float> p, y;
  for (const CtrSplit* s : {&ds.train, &ds.val, &ds.test}) {
    ASSERT_EQ(s->oracle_p.size(), size_t(s->n));
    p.insert(p.end(), s->oracle_p.begin(), s->oracle_p.end());
    y.insert(y.end(), s->label.begin(), s->label.end());
  }
  const double ctr = std::accumulate(y.begin(), y.end(), 0.0) / double(y.size());
  const double mean_p = std::accumulate(p.begin(), p.end(), 0.0) / double(p.size());
  EXPECT_GT(ctr, 0.2);
  EXPECT_LT(ctr, 0.3);
  EXPECT_NEAR(mean_p, 0.25, 0.01);
  const double auc = rank_auc(p, y);
  EXPECT_GT(auc, 0.75);
  EXPECT_LT(auc, 0.82);
  // Dense features are log(1 + count) >= 0; ids are Zipf: the top id of C3 (10131 ids) is
  // frequent, most ids are rare.
  EXPECT_GE(*std::min_element(ds.train.dense.begin(), ds.train.dense.end()), 0.0f);
  const auto c3 = ds.counts.begin() + ds.field_offsets[2];
  const uint32_t top = *std::max_element(c3, ds.counts.begin() + ds.field_offsets[3]);
  EXPECT_GT(top, 32000u / 20);
  // Training counts add up per field.
  for (int f = 0; f < 26; ++f)
    EXPECT_EQ(std::accumulate(ds.counts.begin() + ds.field_offsets[f],
                              ds.counts.begin() + ds.field_offsets[f + 1], int64_t{0}),
              32000);
}

/// Overwrites `n` bytes at `offset` of a file.
void patch(const std::string& path, size_t offset, const void* bytes, size_t n) {
  std::fstream f(path, std::ios::in | std::ios::out | std::ios::binary);
  f.seekp(std::streamoff(offset));
  f.write(static_cast<const char*>(bytes), std::streamsize(n));
}

constexpr size_t kSynthHeader = 136 + 26 * 8;  // fixed header, cardinalities

TEST(CtrSynthetic, NonFiniteDenseValueIsBadInputNamingTheRow) {
  // reliability #23: a NaN/inf dense count used to reach training ("diverged ... try a
  // smaller --lr", exit 1); the reader now rejects it naming the row.
  const std::string dir = test_dir();
  for (float v : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                  -std::numeric_limits<float>::infinity()}) {
    generate_ctr_synthetic(small_synth(1, 100), dir + "/n.bin");
    patch(dir + "/n.bin", kSynthHeader + 41 * 164 + 4 * 2, &v, 4);  // row 42, dense 3
    const std::string msg =
        testing::bad_input_message([&] { load_ctr_dataset("synthetic:" + dir + "/n.bin"); });
    EXPECT_NE(msg.find("row 42: dense feature 3 is"), std::string::npos) << msg;
  }
}

TEST(CtrSynthetic, HugeClaimedCardinalityIsRejectedBeforeAllocating) {
  // reliability #12c: 26 cardinalities summing to ~2^31 in a 100-row file made the loader
  // zero-fill an 8 GB counts vector before reading a row. The total is now bounded by
  // max(2^26, rows x fields); each field alone stays <= 2^31.
  const std::string dir = test_dir();
  generate_ctr_synthetic(small_synth(1, 100), dir + "/c.bin");
  const int64_t big = (int64_t{1} << 31) / 26;
  for (int f = 0; f < 26; ++f) patch(dir + "/c.bin", 136 + 8 * size_t(f), &big, 8);
  const std::string msg =
      testing::bad_input_message([&] { load_ctr_dataset("synthetic:" + dir + "/c.bin"); });
  EXPECT_NE(msg.find("ids in all, more than 67108864"), std::string::npos) << msg;
  // Criteo's real cardinalities (S = 1, 33.8M ids) in a tiny file are still accepted.
  const std::vector<int64_t> criteo = synthetic_cardinalities("criteo", 1);
  patch(dir + "/c.bin", 136, criteo.data(), 8 * criteo.size());
  CtrSynthReader ok(dir + "/c.bin");
  EXPECT_EQ(ok.header().cardinality, criteo);
}

// A rejected header closes the file: the reader's constructor threw after fopen and
// leaked one descriptor per file (fuzz_ctr_text ran out of them after ~10^3 inputs).
TEST(CtrSynthetic, RejectedHeadersDoNotLeakFileDescriptors) {
  const std::string dir = test_dir();
  generate_ctr_synthetic(small_synth(1, 100), dir + "/c.bin");
  const int64_t zero = 0;
  patch(dir + "/c.bin", 136, &zero, 8);  // field 0 with cardinality 0
  auto open_fds = [] {
    size_t n = 0;
    for (const auto& e : std::filesystem::directory_iterator("/proc/self/fd"))
      n += !e.path().empty();
    return n;
  };
  const size_t before = open_fds();
  for (int i = 0; i < 50; ++i)
    EXPECT_FALSE(testing::bad_input_message([&] {
                   load_ctr_dataset("synthetic:" + dir + "/c.bin");
                 }).empty());
  EXPECT_EQ(open_fds(), before);
}

TEST(CtrSynthetic, TailSignalPutsWeightOnRareIdsAndIsInTheHeader) {
  // t = 0 and t = 1 give the same ids (the ranks do not depend on t) but other labels.
  const std::string dir = test_dir();
  CtrSynthParams p = small_synth(4, 4000);
  const CtrSynthHeader h0 = generate_ctr_synthetic(p, dir + "/t0.bin");
  p.tail = 1;
  const CtrSynthHeader h1 = generate_ctr_synthetic(p, dir + "/t1.bin");
  EXPECT_EQ(h0.params.tail, 0);
  CtrSynthReader r0(dir + "/t0.bin"), r1(dir + "/t1.bin");
  EXPECT_EQ(r1.header().params.tail, 1);
  EXPECT_EQ(r1.header().params.r0, 30);
  std::vector<int32_t> c0(4000 * 26), c1(4000 * 26);
  std::vector<float> p0(4000), p1(4000);
  r0.read(4000, nullptr, c0.data(), nullptr, p0.data());
  r1.read(4000, nullptr, c1.data(), nullptr, p1.data());
  EXPECT_EQ(c0, c1);
  EXPECT_NE(p0, p1);
  p.tail = 1.5;
  EXPECT_THROW(p.validate(), Error);
  p.tail = std::numeric_limits<double>::quiet_NaN();
  EXPECT_THROW(p.validate(), Error);
}

TEST(CtrSynthetic, ZipfSamplerMatchesItsDistribution) {
  for (double s : {1.1, 1.0, 0.7}) {
    const ZipfSampler z(10, s);
    uint64_t state = 12345;
    auto u01 = [&] {
      state = state * 6364136223846793005ULL + 1442695040888963407ULL;
      return double(state >> 11) * 0x1.0p-53;
    };
    std::vector<int> hist(11, 0);
    const int n = 200000;
    for (int i = 0; i < n; ++i) ++hist[size_t(z.sample(u01))];
    double total = 0;
    for (int r = 1; r <= 10; ++r) {
      total += z.probability(r);
      EXPECT_NEAR(hist[r] / double(n), z.probability(r), 0.004) << "s=" << s << " r=" << r;
    }
    EXPECT_NEAR(total, 1.0, 1e-12);
  }
}

TEST(CtrSynthetic, BadParamsAndCorruptFilesAreRejected) {
  CtrSynthParams p = small_synth(1);
  p.scale = 0.5;
  EXPECT_THROW(p.validate(), Error);
  p = small_synth(1);
  p.rank = 9;
  EXPECT_THROW(p.validate(), Error);
  p = small_synth(1);
  p.like = "avazu";
  EXPECT_THROW(p.validate(), Error);
  const std::string dir = test_dir();
  generate_ctr_synthetic(small_synth(1, 100), dir + "/s.bin");
  fs::resize_file(dir + "/s.bin", fs::file_size(dir + "/s.bin") - 1);
  EXPECT_NE(testing::bad_input_message([&] {
              load_ctr_dataset("synthetic:" + dir + "/s.bin");
            }).find("does not match its header"),
            std::string::npos);
  std::ofstream(dir + "/t.bin") << "ECCTRSYX and more";
  EXPECT_NE(testing::bad_input_message([&] {
              load_ctr_dataset("synthetic:" + dir + "/t.bin");
            }).find("no ECCTRSYN magic"),
            std::string::npos);
}

// ---- command line
// ---------------------------------------------------------------------------------

int run(const std::string& args, const std::string& dir, std::string* err) {
  const auto r = embcomp::testing::run_embcomp(dir, args);
  *err = r.err;
  return r.code;
}

TEST(CtrCli, MalformedFileExitsTwoOrIsSkippedWithACount) {
  const std::string dir = test_dir();
  std::ofstream f(dir + "/bad.tsv");
  for (int i = 0; i < 30; ++i)
    f << (i == 16 ? criteo_row("0", {"abc"}, {}) : criteo_row("1", {}, {}));
  f.close();
  std::string err;
  EXPECT_EQ(run("ctr-data --no-cache --data criteo:" + dir + "/bad.tsv", dir, &err), 2);
  EXPECT_EQ(std::count(err.begin(), err.end(), '\n'), 1) << err;
  EXPECT_NE(err.find("bad.tsv: line 17: I1 'abc' is not an integer"), std::string::npos) << err;
  EXPECT_EQ(run("ctr-data --no-cache --skip-bad-rows --data criteo:" + dir + "/bad.tsv", dir, &err),
            0);
  EXPECT_NE(err.find("skipped 1 malformed rows"), std::string::npos) << err;
  EXPECT_NE(slurp(dir + "/stdout").find("29 rows loaded"), std::string::npos);
}

TEST(CtrCli, CtrGenWritesAReadableFileAndRejectsBadArguments) {
  const std::string dir = test_dir();
  std::string err;
  EXPECT_EQ(run("ctr-gen --rows 2000 --scale 1000 --seed 3 --out " + dir + "/g.bin", dir, &err), 0)
      << err;
  EXPECT_NE(slurp(dir + "/stdout").find("2000 rows"), std::string::npos);
  EXPECT_EQ(load_ctr_dataset("synthetic:" + dir + "/g.bin").train.n, 1600);
  EXPECT_EQ(run("ctr-gen --rows 10 --scale 0.5 --out " + dir + "/h.bin", dir, &err), 2);
  EXPECT_NE(err.find("--scale 0.5 must be >= 1"), std::string::npos) << err;
  EXPECT_EQ(run("ctr-gen --rows 10 --out " + dir + "/nodir/h.bin", dir, &err), 2);
  EXPECT_EQ(run("ctr-gen --out " + dir + "/h.bin", dir, &err), 2);
  EXPECT_FALSE(fs::exists(dir + "/h.bin"));
}

}  // namespace
}  // namespace embcomp::ctr

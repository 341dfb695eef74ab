// embcomp's own index (index/own_index.h): for every registered method, build -> save ->
// load gives bit-identical search results; foreign, truncated, corrupt and newer-version
// files are refused with kBadInput; the IVF search finds what exact search over the
// decoded rows finds when it probes every list.
#include "index/own_index.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "build_paths.h"
#include "index/faiss_index.h"
#include "index/faiss_memory.h"
#include "index/rerank_store.h"
#include "test_data.h"
#include "toolkit/registry.h"

namespace embcomp {
namespace {

constexpr size_t kN = 1200, kD = 32;

/// One concrete spec per registered method (its smallest ladder entry), a budget form per
/// family that has one, and transforms in front of a codec FAISS lacks.
std::vector<std::string> every_method_spec() {
  std::vector<std::string> specs;
  for (const auto* e : registered_methods()) {
    const auto ladder = e->ladder(kD);
    if (ladder.empty()) continue;
    if (e->kind == MethodKind::kTransform) {
      specs.push_back(ladder.front().substr(0, ladder.front().find(',')) + ",BF16");
    } else if (e->name == "RQ") {
      specs.push_back("RQ2x4");  // RQ2x8's beam-search training alone takes seconds here
    } else {
      specs.push_back(ladder.front());
    }
    if (!e->budget_pattern.empty() && e->make_budgeted)
      specs.push_back((e->budget_head.empty() ? e->name : e->budget_head) +
                      "@0.3");  // GQ@0.25 is unreachable (8 bytes over)
  }
  return specs;
}

void expect_same(const KnnResult& a, const KnnResult& b, const std::string& what) {
  ASSERT_EQ(a.ids, b.ids) << what;
  ASSERT_EQ(a.scores.size(), b.scores.size()) << what;
  for (size_t i = 0; i < a.scores.size(); ++i)
    ASSERT_EQ(a.scores[i], b.scores[i]) << what << " at " << i;  // bit-identical
}

class OwnIndexRoundTrip : public ::testing::TestWithParam<std::string> {};

/// A gtest name for a spec: every character outside [A-Za-z0-9] becomes '_'.
std::string spec_param_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string s = info.param;
  for (auto& c : s)
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  return s;
}

TEST_P(OwnIndexRoundTrip, SaveLoadGivesIdenticalResults) {
  const std::string spec = GetParam();
  FloatMatrix base = testing::spread_norms(kN, kD, 6, 11);
  FloatMatrix queries = testing::spread_norms(20, kD, 6, 12);
  const std::string file = testing::temp_dir("own_rt") + "/x.idx";
  for (const char* structure : {"Flat", "IVF8"}) {
    OwnIndex built = OwnIndex::build(base.view(), Metric::kL2, spec, structure, 5, false);
    built.save(file);
    OwnIndex loaded = OwnIndex::load(file);
    EXPECT_EQ(loaded.predicted_bytes(), built.predicted_bytes()) << spec;
    EXPECT_EQ(loaded.table().total_bytes(), built.table().total_bytes()) << spec;
    if (std::string(structure) != "Flat") {
      built.set_params("nprobe=3");
      loaded.set_params("nprobe=3");
    }
    const std::string what = spec + " on " + structure;
    expect_same(built.search(queries.view(), 10), loaded.search(queries.view(), 10), what);
    expect_same(built.search(queries.view(), 10, true), loaded.search(queries.view(), 10, true),
                what + " (asymmetric)");
    // The loaded table decodes the same rows.
    std::vector<int64_t> ids = {0, 7, int64_t(kN) - 1};
    std::vector<float> a(3 * kD), b(3 * kD);
    built.table().decode_rows(ids.data(), 3, a.data());
    loaded.table().decode_rows(ids.data(), 3, b.data());
    EXPECT_EQ(a, b) << what;
  }
}

INSTANTIATE_TEST_SUITE_P(EveryMethod, OwnIndexRoundTrip, ::testing::ValuesIn(every_method_spec()),
                         spec_param_name);

TEST(OwnIndex, IvfProbingEveryListEqualsFlat) {
  FloatMatrix base = testing::low_rank(1000, kD, 6, 0.05f, 3);
  FloatMatrix queries = testing::low_rank(30, kD, 6, 0.05f, 4);
  for (const char* method : {"BF16", "INT8", "SVD8"}) {
    OwnIndex flat = OwnIndex::build(base.view(), Metric::kIP, method, "Flat", 5, false);
    OwnIndex ivf = OwnIndex::build(base.view(), Metric::kIP, method, "IVF16", 5, false);
    ivf.set_params("nprobe=16");
    const KnnResult a = flat.search(queries.view(), 10), b = ivf.search(queries.view(), 10);
    // Same rows scored by the same codes: the same ids (scores may differ in the last
    // bits between the BLAS and the list scan).
    size_t same = 0;
    for (size_t i = 0; i < a.ids.size(); ++i) same += a.ids[i] == b.ids[i];
    EXPECT_GE(double(same) / double(a.ids.size()), 0.98) << method;
    // Fewer probes, lower recall of the flat result.
    ivf.set_params("nprobe=1");
    const KnnResult c = ivf.search(queries.view(), 10);
    size_t same1 = 0;
    for (size_t i = 0; i < a.ids.size(); ++i) same1 += a.ids[i] == c.ids[i];
    EXPECT_LT(same1, same) << method;
  }
}

TEST(OwnIndex, AsymmetricBinaryIvfEqualsFlatForBothMetrics) {
  // The first stage of a two-stage search: +-1 rows by inner product for IP data, L2 to
  // the decoded rows for L2 data, the same in the flat scan and in the probed lists.
  FloatMatrix base = testing::low_rank(1000, kD, 6, 0.05f, 3);
  FloatMatrix queries = testing::low_rank(30, kD, 6, 0.05f, 4);
  for (Metric metric : {Metric::kIP, Metric::kL2}) {
    OwnIndex flat = OwnIndex::build(base.view(), metric, "Binary-median", "Flat", 5, false);
    OwnIndex ivf = OwnIndex::build(base.view(), metric, "Binary-median", "IVF16", 5, false);
    ivf.set_params("nprobe=16");
    const KnnResult a = flat.search(queries.view(), 20, /*asymmetric=*/true);
    const KnnResult b = ivf.search(queries.view(), 20, /*asymmetric=*/true);
    size_t same = 0;
    for (size_t i = 0; i < a.ids.size(); ++i) same += a.ids[i] == b.ids[i];
    EXPECT_GE(double(same) / double(a.ids.size()), 0.95) << metric_name(metric);
    if (metric == Metric::kL2) {  // scores are squared L2 distances, ascending
      for (size_t q = 0; q < b.nq; ++q) EXPECT_LE(b.scores[q * 20], b.scores[q * 20 + 19]);
    }
  }
}

TEST(OwnIndex, KindIsChosenByWhatFaissHas) {
  EXPECT_EQ(choose_index_kind("SQ8", "IVF256"), IndexKind::kFaiss);
  EXPECT_EQ(choose_index_kind("BF16", "IVF256"), IndexKind::kOwn);
  EXPECT_EQ(choose_index_kind("Binary", "Flat"), IndexKind::kOwn);
  EXPECT_EQ(choose_index_kind("SVD@0.1", "IVF16"), IndexKind::kOwn);
  const std::string m = testing::bad_input_message([] { choose_index_kind("BF16", "HNSW32"); });
  EXPECT_NE(m.find("Flat and IVF{nlist}"), std::string::npos) << m;
}

TEST(OwnIndex, BadParamsAreRejected) {
  FloatMatrix base = testing::low_rank(500, kD, 4, 0.05f, 3);
  OwnIndex ivf = OwnIndex::build(base.view(), Metric::kL2, "INT8", "IVF8", 5, false);
  EXPECT_NE(testing::bad_input_message([&] { ivf.set_params("efSearch=64"); }).find("nprobe"),
            std::string::npos);
  EXPECT_NE(testing::bad_input_message([&] { ivf.set_params("nprobe=9"); }).find("nlist=8"),
            std::string::npos);
  EXPECT_FALSE(testing::bad_input_message([&] { ivf.set_params("nprobe=x"); }).empty());
  OwnIndex flat = OwnIndex::build(base.view(), Metric::kL2, "INT8", "Flat", 5, false);
  EXPECT_FALSE(testing::bad_input_message([&] { flat.set_params("nprobe=2"); }).empty());
  EXPECT_FALSE(testing::bad_input_message([&] {
                 OwnIndex::build(base.view(), Metric::kL2, "INT8", "IVF501", 5, false);
               }).empty());
}

std::vector<char> read_all(const std::string& p) {
  std::ifstream is(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(is), {}};
}
void write_all(const std::string& p, const std::vector<char>& b, size_t len) {
  std::ofstream os(p, std::ios::binary | std::ios::trunc);
  os.write(b.data(), std::streamsize(len));
}

TEST(OwnIndex, TruncatedForeignAndNewerFilesAreRefused) {
  FloatMatrix base = testing::spread_norms(600, kD, 4, 3);
  const std::string dir = testing::temp_dir("own_bad");
  const std::string good = dir + "/good.idx", bad = dir + "/bad.idx";
  for (const char* method : {"Binary-median", "MGPQ2@0.25"}) {
    OwnIndex::build(base.view(), Metric::kL2, method, "IVF4", 5, false).save(good);
    const std::vector<char> bytes = read_all(good);
    // Every truncation point in the header, then a spread over the rest.
    std::vector<size_t> cuts;
    for (size_t c = 0; c < 200 && c < bytes.size(); ++c) cuts.push_back(c);
    for (size_t c = 200; c < bytes.size(); c += bytes.size() / 97 + 1) cuts.push_back(c);
    cuts.push_back(bytes.size() - 1);
    for (size_t c : cuts) {
      write_all(bad, bytes, c);
      EXPECT_FALSE(testing::bad_input_message([&] { OwnIndex::load(bad); }).empty())
          << method << " cut at " << c << " of " << bytes.size();
    }
    std::vector<char> longer = bytes;
    longer.push_back('x');
    write_all(bad, longer, longer.size());
    EXPECT_NE(testing::bad_input_message([&] { OwnIndex::load(bad); }).find("unexpected bytes"),
              std::string::npos);
    std::vector<char> newer = bytes;
    newer[8] = char(kOwnIndexVersion + 1);  // format version, little endian u32 after the magic
    write_all(bad, newer, newer.size());
    const std::string m = testing::bad_input_message([&] { OwnIndex::load(bad); });
    EXPECT_NE(m.find("newer embcomp"), std::string::npos) << m;
  }
  std::vector<char> foreign(4096, 'a');
  write_all(bad, foreign, foreign.size());
  EXPECT_NE(testing::bad_input_message([&] { OwnIndex::load(bad); }).find("not an embcomp index"),
            std::string::npos);
  EXPECT_FALSE(is_own_index_file(bad));
  EXPECT_TRUE(is_own_index_file(good));
}

TEST(RerankStore, MappedRowsEqualTheCodecsAndBadFilesAreRefused) {
  FloatMatrix base = testing::spread_norms(700, kD, 4, 3);
  const std::string dir = testing::temp_dir("rerank_store");
  for (const char* spec : {"Flat", "FP16", "SQ8"}) {
    const std::string path = dir + "/x.idx.rerank";
    const size_t bytes = write_rerank_store(path, base.view(), spec, 5);
    auto store = MappedRerankStore::open(path);
    EXPECT_EQ(store->total_bytes(), bytes);
    EXPECT_EQ(store->n(), base.n);
    auto codec = make_codec(spec, kD, 5);
    codec->train(base.view());
    std::vector<uint8_t> codes(base.n * codec->code_size());
    codec->encode(base.view(), codes.data());
    std::vector<float> want(kD), got(kD);
    for (int64_t id : {int64_t(0), int64_t(350), int64_t(699)}) {
      codec->decode(codes.data() + size_t(id) * codec->code_size(), 1, want.data());
      store->decode_rows(&id, 1, got.data());
      EXPECT_EQ(want, got) << spec << " row " << id;
    }
    const std::vector<char> all = read_all(path);
    store.reset();
    write_all(dir + "/t.rerank", all, all.size() - 3);
    EXPECT_FALSE(
        testing::bad_input_message([&] { MappedRerankStore::open(dir + "/t.rerank"); }).empty());
  }
  EXPECT_FALSE(testing::bad_input_message([&] {
                 write_rerank_store(dir + "/y", base.view(), "SVD@0.1", 5);
               }).empty());
}

long long child_rss(const std::string& file) {
  FILE* p = ::popen((std::string(EMBCOMP_BINARY) + " _index-rss " + file).c_str(), "r");
  long long v = -1;
  if (p && std::fscanf(p, "%lld", &v) != 1) v = -1;
  if (p) ::pclose(p);
  return v;
}

// Memory three ways for own indexes, for every registered method (L10): the predicted bytes
// agree with the file size and with the resident-memory growth of a fresh process loading
// it. n = 6000, d = 64 and the Flat structure keep each case to about a second (the IVF
// lists' bytes are plain vectors, counted the same way; the round-trip test covers IVF).
constexpr size_t kMemN = 6000, kMemD = 64;

/// One spec per registered method (its smallest ladder entry), each budget form at 0.3, and
/// a transform before a codec.
std::vector<std::string> memory_specs() {
  std::vector<std::string> specs;
  for (const auto* e : registered_methods()) {
    const auto ladder = e->ladder(kMemD);
    if (!ladder.empty()) {
      if (e->kind == MethodKind::kTransform)
        specs.push_back(ladder.front().substr(0, ladder.front().find(',')) + ",BF16");
      else
        specs.push_back(ladder.front());
    }
    if (!e->budget_pattern.empty() && e->make_budgeted)
      for (const auto& h : budget_heads(*e)) specs.push_back(h + "@0.3");
  }
  return specs;
}

/// Stated tolerance: 5% of the prediction plus a fixed allowance for what is not the
/// table: for the file, the header, section tags and vector length prefixes (4 KiB; at
/// most 470 B measured); for the resident growth, whole 4 KiB pages, the allocator's and
/// the file stream's buffers (at most 38 KiB measured over these specs; 64 KiB).
constexpr double kMemRel = 0.05, kFileSlack = 4096, kRssSlack = 64 * 1024;

class OwnIndexMemory : public ::testing::TestWithParam<std::string> {};

TEST_P(OwnIndexMemory, PredictedAgreesWithFileAndRss) {
  const std::string method = GetParam();
  const FloatMatrix base = testing::low_rank(kMemN, kMemD, 8, 0.05f, 9);
  const std::string dir = testing::temp_dir("own_mem3");
  for (const char* structure : {"Flat"}) {
    OwnIndex idx = OwnIndex::build(base.view(), Metric::kL2, method, structure, 5, false);
    const std::string file = dir + "/x.idx";
    idx.save(file);
    const double predicted = double(idx.predicted_bytes());
    const double file_bytes = double(std::filesystem::file_size(file));
    const long long rss = child_rss(file);
    ASSERT_GT(rss, 0) << "the _index-rss child failed";
    EXPECT_NEAR(file_bytes, predicted, kMemRel * predicted + kFileSlack)
        << method << " " << structure;
#if !defined(__SANITIZE_ADDRESS__)  // ASan's shadow memory and quarantine are in the RSS
    EXPECT_NEAR(double(rss), predicted, kMemRel * predicted + kRssSlack)
        << method << " " << structure << " rss " << rss;
#endif
    std::printf("[mem3] %-16s %-6s predicted %10.0f file %10.0f rss %10lld\n", method.c_str(),
                structure, predicted, file_bytes, rss);
  }
}

INSTANTIATE_TEST_SUITE_P(Registry, OwnIndexMemory, ::testing::ValuesIn(memory_specs()),
                         spec_param_name);

}  // namespace
}  // namespace embcomp

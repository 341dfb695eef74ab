// DedupStudy (compressors/dedup_study.h): known answers on hand-built tables (exact and
// near duplicates merged keep-one, a block below sim not merged), the exact byte formula,
// padding at the edges, the LSH as the candidate filter, determinism in the seed and the
// thread count, the grammar, save/load, and the study's blocks on a small table. The
// generic table contract (table_contract_test.cpp) runs on its ladder spec too.
#include "compressors/dedup_study.h"

#include <gtest/gtest.h>
#include <omp.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <random>
#include <string>

#include "compressors/dedup.h"
#include "test_data.h"
#include "toolkit/error.h"
#include "toolkit/registry.h"
#include "toolkit/serialize.h"

namespace embcomp {
namespace {

std::vector<float> decode_all(const TableCompressor& t) {
  std::vector<float> out(t.n() * t.d());
  t.decode_range(0, t.n(), out.data());
  return out;
}

const DedupStudyTable& as_study(const std::unique_ptr<TableCompressor>& t) {
  const auto* s = dynamic_cast<const DedupStudyTable*>(t.get());
  EXPECT_NE(s, nullptr);
  return *s;
}

ErrorKind error_kind(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind();
  }
  ADD_FAILURE() << "no error thrown";
  return ErrorKind::kRuntime;
}

/// Ten distinct values in [-1, 1) from a seed: one 2 x 5 block.
std::vector<float> base_block(uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> b(10);
  for (auto& v : b) v = u(rng);
  return b;
}

/// An n x 5 table of 2 x 5 blocks (block k = rows 2k, 2k + 1).
FloatMatrix table_of(const std::vector<std::vector<float>>& blocks) {
  FloatMatrix x(2 * blocks.size(), 5);
  for (size_t k = 0; k < blocks.size(); ++k)
    std::memcpy(x.row(2 * k), blocks[k].data(), 10 * sizeof(float));
  return x;
}

/// b with its first `close` elements moved by 0.004 (within fp = 0.01) and the others by 0.03.
std::vector<float> near(const std::vector<float>& b, size_t close) {
  std::vector<float> out = b;
  for (size_t e = 0; e < out.size(); ++e) out[e] += e < close ? 0.004f : 0.03f;
  return out;
}

TEST(DedupStudy, KnownAnswerOnHandBuiltTable) {
  const auto b0 = base_block(1);
  // Block 0: kept. Block 1: bit-identical to it. Block 2: 7 of 10 values within 0.01 (70%,
  // passes). Block 3: 6 of 10 within 0.01 (60%, fails: kept).
  const FloatMatrix x = table_of({b0, b0, near(b0, 7), near(b0, 6)});
  auto t = make_table("DedupStudy2x5", x.n, x.d, 1234);
  t->compress(x.view());
  const DedupStudyTable& s = as_study(t);
  ASSERT_EQ(s.block_positions(), 4u);
  EXPECT_EQ(s.unique_blocks(), 2u);
  EXPECT_EQ(s.merged_blocks(), 2u);
  EXPECT_EQ(s.exact_merged_blocks(), 1u);
  EXPECT_EQ(s.unique_index(0), 0u);
  EXPECT_EQ(s.unique_index(1), 0u);
  EXPECT_EQ(s.unique_index(2), 0u);
  EXPECT_EQ(s.unique_index(3), 1u);
  EXPECT_EQ(t->knob(), "merged=2/4,block=2x5");
  const auto rec = decode_all(*t);
  // Keep-one: blocks 0-2 decode to block 0's values exactly (no mean), block 3 to itself.
  for (size_t k = 0; k < 3; ++k)
    EXPECT_EQ(std::memcmp(&rec[k * 10], b0.data(), 40), 0) << "block " << k;
  EXPECT_EQ(std::memcmp(&rec[30], x.row(6), 40), 0);
  EXPECT_EQ(std::memcmp(s.unique_block(0), b0.data(), 40), 0);
  // Block 3 was a candidate: with sim = 0.6 the same LSH merges it.
  DedupStudyParams p;
  p.rows_per_block = 2;
  p.cols_per_block = 5;
  p.sim = 0.6;
  DedupStudyTable loose(x.n, x.d, p, "DedupStudy2x5");
  loose.compress(x.view());
  EXPECT_EQ(loose.unique_blocks(), 1u);
  // And with fp below 0.004 only the exact duplicate merges.
  p.sim = 0.7;
  p.fp = 0.001;
  DedupStudyTable tight(x.n, x.d, p, "DedupStudy2x5");
  tight.compress(x.view());
  // Block 2 is then kept, and block 3 (9 of 10 values the same as block 2's) merges into it.
  EXPECT_EQ(tight.unique_blocks(), 2u);
  EXPECT_EQ(tight.exact_merged_blocks(), 1u);
  EXPECT_EQ(tight.unique_index(2), 1u);
  EXPECT_EQ(tight.unique_index(3), 1u);
}

TEST(DedupStudy, ExactByteFormula) {
  const auto b0 = base_block(1), b1 = base_block(2), b2 = base_block(3);
  const FloatMatrix x = table_of({b0, b1, b0, b2, b1});
  auto t = make_table("DedupStudy2x5", x.n, x.d, 7);
  EXPECT_EQ(t->total_bytes(), 0u);
  t->compress(x.view());
  const DedupStudyTable& s = as_study(t);
  EXPECT_EQ(s.unique_blocks(), 3u);
  // 4 E U + 2 P: 3 blocks of 10 floats and 5 two-byte indices.
  EXPECT_EQ(t->total_bytes(), 4u * 10 * 3 + 2 * 5);
  EXPECT_EQ(t->total_bytes(), dedup_bytes(5, 10, 3));
  EXPECT_EQ(t->model_bytes(), 0u);
  EXPECT_EQ(s.index_width(), 2u);
  EXPECT_EQ(decode_all(*t), x.values) << "exact duplicates only: lossless";
  EXPECT_EQ(s.reconstruction_mse(), 0.0);
}

TEST(DedupStudy, PaddingAtTheEdgesIsStoredAndCounted) {
  // 3 x 7 with 2 x 5 blocks: ceil(3/2) x ceil(7/5) = 4 positions of 10 floats; the last
  // block column holds 2 real columns, the last block row 1 real row.
  FloatMatrix x(3, 7);
  std::mt19937_64 rng(3);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (auto& v : x.values) v = u(rng);
  auto t = make_table("DedupStudy2x5", 3, 7, 1);
  t->compress(x.view());
  const DedupStudyTable& s = as_study(t);
  EXPECT_EQ(s.block_positions(), 4u);
  EXPECT_EQ(s.unique_blocks(), 4u);
  EXPECT_EQ(t->total_bytes(), 4u * 10 * 4 + 2 * 4);  // 168 bytes for a table of 84
  EXPECT_EQ(decode_all(*t), x.values);
  EXPECT_NE(t->knob().find("over_fp32=+84B"), std::string::npos) << t->knob();
  // The padding is stored as zeros: position 3 (row 2, columns 5..6) is one real pair.
  const float* last = s.unique_block(s.unique_index(3));
  EXPECT_EQ(last[0], x.row(2)[5]);
  EXPECT_EQ(last[1], x.row(2)[6]);
  for (size_t e = 2; e < 10; ++e) EXPECT_EQ(last[e], 0.0f) << e;
}

TEST(DedupStudy, TheTestCountsOnlyRealElements) {
  // 3 x 5 with 2 x 5 blocks: block 1 is row 2 plus a padded row. Row 2 equals row 0, so all
  // 5 real elements of block 1 match block 0 (whose second row is 0.05): it merges,
  // although as stored (with its zero padding) only half of its 10 values match.
  FloatMatrix x(3, 5);
  const auto b = base_block(5);
  std::memcpy(x.row(0), b.data(), 20);
  for (size_t j = 0; j < 5; ++j) x.row(1)[j] = 0.05f;
  std::memcpy(x.row(2), b.data(), 20);
  auto t = make_table("DedupStudy2x5", 3, 5, 1);
  t->compress(x.view());
  const DedupStudyTable& s = as_study(t);
  EXPECT_EQ(s.unique_blocks(), 1u);
  EXPECT_EQ(s.exact_merged_blocks(), 0u) << "not bit-identical as stored";
  EXPECT_EQ(decode_all(*t), x.values);
}

/// 400 blocks of 2 x 5: pairs (b, b') where b' has 7 values within 0.004 of b and 3 values,
/// at random places, 2 to 4 away in a random direction. Each b' passes the test against b
/// but shares a bucket with it in a given table with probability about 0.4 r / |b - b'|
/// (|b - b'| about 5 >> r), so in some of 90 tables about half of the time: the LSH decides
/// which pairs merge. (With the same b - b' for every pair, a table would bucket all pairs
/// alike: all or none of them merge.)
FloatMatrix lsh_pairs() {
  std::vector<std::vector<float>> blocks;
  for (uint64_t k = 0; k < 200; ++k) {
    auto b = base_block(100 + k);
    auto c = b;
    std::mt19937_64 rng(1000 + k);
    std::vector<size_t> at = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9};
    std::shuffle(at.begin(), at.end(), rng);
    std::uniform_real_distribution<float> far(2.0f, 4.0f);
    for (size_t i = 0; i < 10; ++i) c[at[i]] += i < 7 ? 0.004f : (rng() % 2 ? far(rng) : -far(rng));
    blocks.push_back(b);
    blocks.push_back(c);
  }
  return table_of(blocks);
}

TEST(DedupStudy, LshChoosesTheCandidates) {
  const FloatMatrix x = lsh_pairs();
  auto t = make_table("DedupStudy2x5", x.n, x.d, 42);
  t->compress(x.view());
  const DedupStudyTable& s = as_study(t);
  size_t merged = 0;
  for (size_t k = 0; k < 200; ++k) {
    EXPECT_EQ(s.unique_index(2 * k), 2 * k - merged) << "the base blocks are all kept";
    if (s.unique_index(2 * k + 1) == s.unique_index(2 * k)) ++merged;
  }
  EXPECT_EQ(s.merged_blocks(), merged) << "a b' merges into its own b only";
  EXPECT_GT(merged, 40u);
  EXPECT_LT(merged, 140u);
}

TEST(DedupStudy, DeterministicInSeedAndThreads) {
  const FloatMatrix x = lsh_pairs();
  auto run = [&](uint64_t seed, int threads) {
    const int before = omp_get_max_threads();
    omp_set_num_threads(threads);
    auto t = make_table("DedupStudy2x5", x.n, x.d, seed);
    t->compress(x.view());
    omp_set_num_threads(before);
    std::vector<size_t> map;
    for (size_t p = 0; p < 400; ++p) map.push_back(as_study(t).unique_index(p));
    return std::make_pair(map, decode_all(*t));
  };
  const auto a = run(42, 1), b = run(42, 1), c = run(42, 2), other = run(43, 1);
  EXPECT_EQ(a, b);
  EXPECT_EQ(a, c) << "the thread count must not change the result";
  EXPECT_NE(a.first, other.first) << "another seed draws other projections";
}

TEST(DedupStudy, GrammarAndSpecRoundTrip) {
  for (const char* s : {"DedupStudy", "DedupStudy100x4", "DedupStudy1x1", "DedupStudy1000x1000"})
    EXPECT_EQ(make_table(s, 2000, 16)->spec(), s);
  EXPECT_EQ(make_table("DedupStudy0100x04", 2000, 16)->spec(), "DedupStudy100x4");
  EXPECT_EQ(find_method("DedupStudy").name, "DedupStudy");
  EXPECT_EQ(find_method("DedupStudy8x8").name, "DedupStudy");
  auto t = make_table("DedupStudy", 50, 8);
  const DedupStudyTable& s = as_study(t);
  EXPECT_EQ(s.block_rows(), 10000u);
  EXPECT_EQ(s.block_cols(), 100u);
  EXPECT_EQ(s.params().L, 90);
  EXPECT_EQ(s.params().k, 1);
  EXPECT_EQ(s.params().r, 0.09);
  EXPECT_EQ(s.params().sim, 0.7);
  EXPECT_EQ(s.params().fp, 0.01);
  EXPECT_EQ(t->knob(), "block=10000x100");
  for (const char* bad : {"DedupStudy0x4", "DedupStudy4x0", "DedupStudyx4", "DedupStudy4x",
                          "DedupStudy-1x4", "DedupStudy2000x1000", "DedupStudy@0.5",
                          "DedupStudy100x4@0.5", "DedupStudy,SQ8", "PCA8,DedupStudy"})
    EXPECT_EQ(error_kind([&] { make_table(bad, 2000, 16); }), ErrorKind::kBadInput) << bad;
  // 300,000 positions of one value each: more than the working-memory limit.
  EXPECT_EQ(error_kind([] { make_table("DedupStudy1x1", 300000, 1); }), ErrorKind::kBadInput);
  EXPECT_EQ(error_kind([] { make_table("DedupStudy", 0, 16); }), ErrorKind::kBadInput);
}

TEST(DedupStudy, DefaultSpecsBuildForLargeTables) {
  // `embcomp bench` without --methods size-checks every default spec before any work: a
  // default that a large table refuses (too many block positions) would stop it.
  for (const auto* e : registered_methods()) {
    if (e->name != "DedupStudy") continue;
    for (const auto& s : e->defaults(768)) EXPECT_NO_THROW(make_table(s, 2000000, 768)) << s;
  }
  EXPECT_EQ(error_kind([] { make_table("DedupStudy100x4", 2000000, 768); }), ErrorKind::kBadInput);
}

TEST(DedupStudy, StudyBlocksMakeASmallTableLarger) {
  // 2000 x 16 is one zero-padded 10000 x 100 block: 4 * 10^6 floats' bytes plus a 2-byte
  // map, 31.25 times the float32 table; the knob says by how much.
  const FloatMatrix x = testing::low_rank(2000, 16, 4, 0.05f, 3);
  auto t = make_table("DedupStudy", 2000, 16, 1234);
  t->compress(x.view());
  EXPECT_EQ(t->total_bytes(), 4u * 1000000 + 2);
  EXPECT_GT(t->total_bytes(), 4u * 2000 * 16);
  EXPECT_EQ(t->knob(), "merged=0/1,block=10000x100,over_fp32=+3872002B");
  EXPECT_EQ(decode_all(*t), x.values);
}

TEST(DedupStudy, SaveLoadRoundTrip) {
  const FloatMatrix x = lsh_pairs();
  auto t = make_table("DedupStudy2x5", x.n, x.d, 42);
  t->compress(x.view());
  const std::string file = testing::temp_dir("dedup_study") + "/t.bin";
  {
    BinaryWriter w(file, "t.bin");
    t->save(w);
    w.close();
  }
  auto u = make_table("DedupStudy2x5", x.n, x.d, 42);
  BinaryReader r(file, "t.bin");
  u->load(r);
  EXPECT_EQ(u->n(), t->n());
  EXPECT_EQ(u->total_bytes(), t->total_bytes());
  EXPECT_EQ(u->knob(), t->knob());
  EXPECT_EQ(decode_all(*u), decode_all(*t));
  // A table of another shape refuses the file.
  auto other = make_table("DedupStudy2x5", x.n - 2, x.d, 42);
  BinaryReader r2(file, "t.bin");
  EXPECT_EQ(error_kind([&] { other->load(r2); }), ErrorKind::kBadInput);
}

TEST(DedupStudy, ErrorPaths) {
  const FloatMatrix x = lsh_pairs();
  auto t = make_table("DedupStudy2x5", x.n, x.d, 1);
  FloatMatrix fewer(x.n - 1, x.d);
  EXPECT_EQ(error_kind([&] { t->compress(fewer.view()); }), ErrorKind::kBadInput);
  FloatMatrix bad = x;
  bad.row(17)[3] = std::nanf("");
  EXPECT_EQ(error_kind([&] { t->compress(bad.view()); }), ErrorKind::kBadInput);
  t->compress(x.view());
  std::vector<float> out(x.d);
  const int64_t over[] = {int64_t(x.n)};
  EXPECT_EQ(error_kind([&] { t->decode_rows(over, 1, out.data()); }), ErrorKind::kBadInput);
  EXPECT_EQ(error_kind([&] { t->decode_range(x.n, 1, out.data()); }), ErrorKind::kBadInput);
  DedupStudyParams p;
  p.k = 2;
  EXPECT_EQ(error_kind([&] { DedupStudyTable(10, 10, p, "k2"); }), ErrorKind::kBadInput);
  p = DedupStudyParams();
  p.sim = 1.5;
  EXPECT_EQ(error_kind([&] { DedupStudyTable(10, 10, p, "sim"); }), ErrorKind::kBadInput);
}

}  // namespace
}  // namespace embcomp

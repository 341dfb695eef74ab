// The ground-truth cache is verified before use (reliability #13): a cache with the
// wrong neighbours, out-of-range ids or cut short is ignored, recomputed and rewritten.
#include "eval/ground_truth.h"

#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "eval/knn.h"
#include "test_data.h"
#include "toolkit/error.h"
#include "toolkit/hash.h"
#include "toolkit/io.h"

namespace embcomp {
namespace {

/// The kBadInput message read_ground_truth_cache throws for the cache at path.
std::string cache_error(const std::string& path, const Dataset& ds) {
  try {
    read_ground_truth_cache(path, ds, 100);
  } catch (const Error& e) {
    EXPECT_EQ(exit_code(e.kind()), 2) << e.message();
    return e.message();
  }
  ADD_FAILURE() << path << " was accepted";
  return "";
}

class GroundTruthCache : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::temp_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    ds_.name = "gt";
    ds_.base_path = dir_ + "/base.fvecs";
    ds_.metric = Metric::kL2;
    ds_.base = testing::low_rank(500, 12, 4, 0.05f, 21);
    ds_.queries = testing::low_rank(30, 12, 4, 0.05f, 22);
    exact_ = exact_knn(ds_.base.view(), ds_.queries.view(), 100, Metric::kL2).ids;
  }
  /// A fresh dataset (no gt loaded) sharing the base path, so that it finds the cache.
  Dataset fresh() const {
    Dataset d;
    d.name = ds_.name;
    d.base_path = ds_.base_path;
    d.metric = ds_.metric;
    d.base = ds_.base;
    d.queries = ds_.queries;
    return d;
  }
  /// Runs ensure_ground_truth on a fresh dataset; returns whether it computed.
  bool ensure(std::vector<int64_t>* ids = nullptr) const {
    Dataset d = fresh();
    const bool computed = ensure_ground_truth(d, 10, /*verbose=*/false);
    EXPECT_EQ(d.gt->n, 30u);
    EXPECT_EQ(d.gt->d, 100u);
    if (ids) *ids = d.gt->values;
    return computed;
  }
  std::string cache() const { return ground_truth_cache_path(ds_, 100); }
  std::string dir_;
  Dataset ds_;
  std::vector<int64_t> exact_;
};

TEST_F(GroundTruthCache, WrittenOnceThenReused) {
  std::vector<int64_t> ids;
  EXPECT_TRUE(ensure(&ids));
  EXPECT_EQ(ids, exact_);
  ASSERT_TRUE(std::filesystem::exists(cache()));
  EXPECT_FALSE(ensure(&ids)) << "a valid cache is used";
  EXPECT_EQ(ids, exact_);
  EXPECT_NO_THROW(read_ground_truth_cache(cache(), ds_, 100));
}

// reliability #6 (left over): before writing the cache next to the data, a probe file
// `.embcomp_write_probe.<pid>` was opened with fopen("wb"), through a symlink planted at
// that predictable name: its target was emptied. The folder is now asked with faccessat.
TEST_F(GroundTruthCache, TheWritabilityCheckCreatesNoFileAndFollowsNoSymlink) {
  const std::string victim = dir_ + "/victim.txt";
  std::ofstream(victim) << "precious data";
  const std::string probe = dir_ + "/.embcomp_write_probe." + std::to_string(::getpid());
  std::filesystem::create_symlink(victim, probe);
  std::vector<int64_t> ids;
  EXPECT_TRUE(ensure(&ids));
  EXPECT_EQ(ids, exact_);
  EXPECT_TRUE(std::filesystem::exists(cache())) << "the data folder is writable";
  EXPECT_EQ(testing::slurp(victim), "precious data");
  EXPECT_TRUE(std::filesystem::is_symlink(probe));
}

TEST_F(GroundTruthCache, WrongNeighboursAreRecomputed) {
  // The review's poisoned cache: every row 0..99, well formed (header, checksum) and in
  // range; it inflated PQ2x4 recall@10 from 0.185 to 0.915.
  IdMatrix poison(30, 100);
  for (size_t q = 0; q < 30; ++q)
    for (size_t j = 0; j < 100; ++j) poison.row(q)[j] = int64_t(j);
  write_ground_truth_cache(cache(), ds_, poison);
  EXPECT_NE(cache_error(cache(), ds_).find("does not match exact search"), std::string::npos);
  std::vector<int64_t> ids;
  EXPECT_TRUE(ensure(&ids));
  EXPECT_EQ(ids, exact_);
  EXPECT_FALSE(ensure(&ids)) << "the cache was rewritten with the right neighbours";
  EXPECT_EQ(ids, exact_);
}

// The 4 queries chosen by the data's hash are predictable: a cache forged everywhere else
// (checksum recomputed) passed them and raised recall (helper's recheck of reliability #13:
// PQ2x4 recall@10 0.445 -> 0.800). The random draws among the other queries catch it.
TEST_F(GroundTruthCache, ForgedRowsOutsideTheHashChosenQueriesAreCaught) {
  std::vector<bool> hash_chosen(30, false);
  for (uint64_t i = 0; i < 4; ++i) hash_chosen[splitmix64(dataset_hash(ds_) + i) % 30] = true;
  IdMatrix forged(30, 100);
  for (size_t q = 0; q < 30; ++q)
    for (size_t j = 0; j < 100; ++j)
      forged.row(q)[j] = hash_chosen[q] ? exact_[q * 100 + j] : int64_t(j);
  write_ground_truth_cache(cache(), ds_, forged);
  for (int rep = 0; rep < 5; ++rep)
    EXPECT_NE(cache_error(cache(), ds_).find("does not match exact search"), std::string::npos);
  std::vector<int64_t> ids;
  EXPECT_TRUE(ensure(&ids));
  EXPECT_EQ(ids, exact_);
}

TEST_F(GroundTruthCache, OutOfRangeIdsAreRecomputed) {
  IdMatrix bad(30, 100);
  bad.values = exact_;
  bad.row(7)[3] = 500;  // n = 500
  write_ground_truth_cache(cache(), ds_, bad);
  EXPECT_NE(cache_error(cache(), ds_).find("outside [0, 500)"), std::string::npos);
  bad.row(7)[3] = -1;
  write_ground_truth_cache(cache(), ds_, bad);
  std::vector<int64_t> ids;
  EXPECT_TRUE(ensure(&ids));
  EXPECT_EQ(ids, exact_);
  EXPECT_FALSE(ensure());
}

TEST_F(GroundTruthCache, TruncatedCacheIsRecomputedNotAnError) {
  // Before: a truncated cache made every later run fail with exit 2.
  EXPECT_TRUE(ensure());
  std::filesystem::resize_file(cache(), std::filesystem::file_size(cache()) - 100);
  std::vector<int64_t> ids;
  EXPECT_TRUE(ensure(&ids));
  EXPECT_EQ(ids, exact_);
  EXPECT_FALSE(ensure());
}

TEST_F(GroundTruthCache, ACacheOfOtherDataIsIgnored) {
  EXPECT_TRUE(ensure());
  // Same file name, other data: the header's hash and n disagree.
  Dataset other = fresh();
  other.queries.row(0)[0] += 1.0f;
  std::filesystem::copy_file(cache(), ground_truth_cache_path(other, 100));
  EXPECT_NE(cache_error(ground_truth_cache_path(other, 100), other).find("another dataset"),
            std::string::npos);
  EXPECT_TRUE(ensure_ground_truth(other, 10, false));
  EXPECT_EQ(other.gt->values,
            exact_knn(other.base.view(), other.queries.view(), 100, Metric::kL2).ids);
}

}  // namespace
}  // namespace embcomp

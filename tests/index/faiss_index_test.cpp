#include <gtest/gtest.h>
#include <sys/wait.h>

#include <filesystem>
#include <fstream>

#include "index/faiss_index.h"
#include "build_paths.h"
#include "test_data.h"
#include "toolkit/dataset.h"
#include "toolkit/error.h"
#include "toolkit/io.h"

namespace embcomp {
namespace {

TEST(FaissIndex, FactoryStrings) {
  EXPECT_EQ(faiss_factory_string("SQ8", "IVF256"), "IVF256,SQ8");
  EXPECT_EQ(faiss_factory_string("FP16", "Flat"), "SQfp16");
  EXPECT_EQ(faiss_factory_string("PQ25x8", "Flat"), "PQ25x8np");
  EXPECT_EQ(faiss_factory_string("PQ25x8", "IVF1024"), "IVF1024,PQ25x8");
  EXPECT_EQ(faiss_factory_string("PQ25x8", "HNSW32"), "HNSW32_PQ25");
  EXPECT_EQ(faiss_factory_string("OPQ25,PQ25x8", "IVF1024"), "OPQ25,IVF1024,PQ25x8");
  EXPECT_EQ(faiss_factory_string("PCA64,SQ8", "HNSW32"), "PCA64,HNSW32_SQ8");
  EXPECT_EQ(faiss_factory_string("PCA64", "IVF100_HNSW32"), "PCA64,IVF100_HNSW32,Flat");
  EXPECT_EQ(faiss_factory_string("RQ4x8", "IVF64"), "IVF64,RQ4x8");
  EXPECT_EQ(faiss_factory_string("Flat", "HNSW16"), "HNSW16_Flat");
  EXPECT_THROW(faiss_factory_string("BF16", "Flat"), Error);      // no native index
  EXPECT_THROW(faiss_factory_string("SQ8", "LSH"), Error);        // unknown structure
  EXPECT_THROW(faiss_factory_string("RQ4x8", "HNSW32"), Error);   // FAISS lacks it
  EXPECT_THROW(faiss_factory_string("PQ20x6", "HNSW32"), Error);  // HNSW PQ needs 8 bits
  EXPECT_THROW(faiss_factory_string("PQ@0.1", "Flat"), Error);
}

TEST(FaissIndex, MoreListsThanRowsIsBadInput) {
  // catalogue build_faiss_nlist_gt_n: FAISS's k-means assertion ("Error in void
  // faiss::Clustering::train_encoded(...) at .../Clustering.cpp:277 ...") was the message.
  const FloatMatrix x = testing::low_rank(100, 8, 2, 0.1f, 3);
  for (const char* method : {"SQ8", "OPQ2,PQ2x4"}) {
    const std::string msg = testing::bad_input_message(
        [&] { build_faiss_index(x.view(), Metric::kL2, method, "IVF200", false); });
    EXPECT_NE(msg.find("IVF200: nlist=200 exceeds the 100 rows"), std::string::npos) << msg;
  }
}

class FaissIndexFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::temp_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    base_ = testing::low_rank(3000, 32, 8, 0.05f, 3);
    queries_ = testing::low_rank(50, 32, 8, 0.05f, 4);
  }
  std::string dir_;
  FloatMatrix base_, queries_;
};

TEST_F(FaissIndexFiles, SaveLoadGivesIdenticalResults) {
  for (const char* structure : {"Flat", "IVF32", "HNSW16"}) {
    BuiltIndex b = build_faiss_index(base_.view(), Metric::kL2, "SQ8", structure, false);
    const std::string path = dir_ + "/i.idx";
    save_index(b, path);
    BuiltIndex l = load_index(path);
    EXPECT_EQ(l.meta["method"], "SQ8");
    EXPECT_EQ(l.meta["structure"], structure);
    set_search_params(*b.index, std::string(structure) == "IVF32" ? "nprobe=4" : "");
    set_search_params(*l.index, std::string(structure) == "IVF32" ? "nprobe=4" : "");
    const size_t k = 10;
    std::vector<float> d1(50 * k), d2(50 * k);
    std::vector<faiss::Index::idx_t> i1(50 * k), i2(50 * k);
    b.index->search(50, queries_.data(), k, d1.data(), i1.data());
    l.index->search(50, queries_.data(), k, d2.data(), i2.data());
    EXPECT_EQ(i1, i2) << structure;
    EXPECT_EQ(d1, d2) << structure;
    for (const auto& e : std::filesystem::directory_iterator(dir_))
      EXPECT_EQ(e.path().string().find(".tmp."), std::string::npos);
  }
}

TEST_F(FaissIndexFiles, TruncatedOrForeignFilesAreRejected) {
  BuiltIndex b = build_faiss_index(base_.view(), Metric::kL2, "SQ8", "IVF16", false);
  const std::string path = dir_ + "/i.idx";
  save_index(b, path);
  const auto size = std::filesystem::file_size(path);
  std::filesystem::copy_file(path, dir_ + "/t.idx");
  std::filesystem::resize_file(dir_ + "/t.idx", size / 2);
  try {
    load_index(dir_ + "/t.idx");
    FAIL() << "truncated index accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kBadInput);
    EXPECT_NE(e.message().find("t.idx"), std::string::npos) << e.message();
  }
  std::ofstream(dir_ + "/f.idx") << "this is not an index at all, just text\n";
  EXPECT_THROW(load_index(dir_ + "/f.idx"), Error);
  EXPECT_THROW(load_index(dir_ + "/missing.idx"), Error);
  EXPECT_THROW(set_search_params(*b.index, "efSearch=5"), Error);  // IVF has no efSearch
  EXPECT_THROW(set_search_params(*b.index, "nprobe"), Error);
}

// The bar of issue 4: an IVF256,SQ8 index built by embcomp loads in Debian's python3-faiss
// and returns the same top-10 ids as `embcomp search` for the same queries and nprobe.
TEST(FaissIndexCompat, StockFaissReturnsTheSameTop10) {
  if (std::system("/usr/bin/python3 -c 'import faiss, numpy' >/dev/null 2>&1") != 0)
    GTEST_SKIP() << "Debian's python3-faiss is not installed (scripts/setup.sh installs it)";
  const std::string dir = testing::temp_dir("faiss_compat");
  const std::string bin = EMBCOMP_BINARY, q = data_dir() + "/glove-100-30k/query.fvecs";
  ASSERT_EQ(std::system((bin + " build --data glove-100-30k --method SQ8 --index IVF256 -q --out " +
                         dir + "/g.idx").c_str()), 0);
  ASSERT_EQ(std::system((bin + " search --index " + dir + "/g.idx --queries " + q +
                         " --k 10 --params nprobe=16 --out " + dir + "/run.ivecs").c_str()), 0);
  const std::string script = std::string(EMBCOMP_SOURCE_DIR) + "/scripts/check_faiss_compat.py";
  int status = std::system((script + " " + dir + "/g.idx " + q + " " + dir + "/run.ivecs 16").c_str());
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

}  // namespace
}  // namespace embcomp

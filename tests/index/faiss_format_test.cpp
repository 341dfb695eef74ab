// index/faiss_format.h: the walk over FAISS files that runs before faiss::read_index. Every
// index type embcomp builds passes it and loads; files crafted the way fuzz_faiss_index's
// findings were (a PQ nbits of 40, M = 0, an HNSW-PQ over another storage, a residual
// quantizer whose codebook tables need 16 GB, an inverted list of 2^26 entries) are refused
// with kBadInput before FAISS allocates anything. None of these tests skip under
// AddressSanitizer: the walk is what makes them safe there.
#include "index/faiss_format.h"

#include <faiss/IndexAdditiveQuantizer.h>
#include <faiss/index_io.h>
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>

#include "index/faiss_index.h"
#include "index/faiss_reader.h"
#include "test_data.h"
#include "toolkit/io.h"

namespace embcomp {
namespace {

std::string read_bytes(const std::string& path) { return testing::slurp(path); }

/// The index header (d, ntotal, 2 dummies, is_trained, metric) after a 4-byte fourcc.
constexpr size_t kHeader = 4 + 4 + 8 + 8 + 8 + 1 + 4;

std::string screen_error(const std::string& b) {
  return testing::bad_input_message(
      [&] { screen_faiss_index(reinterpret_cast<const uint8_t*>(b.data()), b.size(), "x.idx"); });
}

class FaissFormat : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = testing::temp_dir(::testing::UnitTest::GetInstance()->current_test_info()->name());
    base_ = testing::spread_norms(600, 8, 4, 31);
  }
  /// The bytes of an index embcomp builds for method on structure.
  std::string built(const std::string& method, const std::string& structure) {
    BuiltIndex b = build_faiss_index(base_.view(), Metric::kL2, method, structure, false);
    const std::string path = dir_ + "/b.idx";
    save_index(b, path);
    return read_bytes(path);
  }
  std::string load_error(const std::string& b) {
    testing::write_bytes(dir_ + "/x.idx", b);
    return testing::bad_input_message([&] { read_faiss_index_file(dir_ + "/x.idx"); });
  }
  std::string dir_;
  FloatMatrix base_;
};

// Every FAISS layout embcomp writes is walked to its last byte and then read by FAISS.
TEST_F(FaissFormat, EveryIndexEmbcompBuildsPassesAndLoads) {
  const std::pair<const char*, const char*> cases[] = {
      {"Flat", "Flat"},      {"SQ8", "Flat"},      {"SQ4", "Flat"},      {"SQ6", "Flat"},
      {"FP16", "Flat"},      {"PQ4x8", "Flat"},    {"RQ2x6", "Flat"},    {"Flat", "IVF8"},
      {"SQ8", "IVF8"},       {"PQ4x8", "IVF8"},    {"RQ2x6", "IVF8"},    {"SQ8", "HNSW8"},
      {"Flat", "HNSW8"},     {"PQ4x8", "HNSW8"},   {"PCA4,SQ8", "Flat"}, {"OPQ4,PQ4x8", "Flat"},
      {"SQ8", "IVF8_HNSW4"}, {"PCA4,SQ8", "IVF8"},
  };
  for (const auto& [method, structure] : cases) {
    const std::string b = built(method, structure);
    EXPECT_NO_THROW(
        screen_faiss_index(reinterpret_cast<const uint8_t*>(b.data()), b.size(), "x.idx"))
        << method << " on " << structure;
    testing::write_bytes(dir_ + "/x.idx", b);
    EXPECT_NO_THROW(read_faiss_index_file(dir_ + "/x.idx")) << method << " on " << structure;
  }
}

// fuzz_faiss_index's 4 TB request: IndexPQ with nbits = 40 (FAISS resizes the centroids to
// d * 2^nbits before reading them), and M = 0 (FAISS divides d by M).
TEST_F(FaissFormat, ProductQuantizerShapesAreCheckedBeforeFaissAllocates) {
  const std::string good = built("PQ4x8", "Flat");
  ASSERT_EQ(good.substr(0, 4), "IxPq");
  const size_t pq = kHeader;  // d, M, nbits (u64 each)
  ASSERT_EQ(testing::pod_at<uint64_t>(good, pq), 8u);
  ASSERT_EQ(testing::pod_at<uint64_t>(good, pq + 8), 4u);
  ASSERT_EQ(testing::pod_at<uint64_t>(good, pq + 16), 8u);
  std::string b = good;
  testing::set_pod_at<uint64_t>(b, pq + 16, 40);
  EXPECT_NE(load_error(b).find("nbits=40"), std::string::npos) << load_error(b);
  b = good;
  testing::set_pod_at<uint64_t>(b, pq + 8, 0);
  EXPECT_NE(load_error(b).find("M=0"), std::string::npos) << load_error(b);
  b = good;
  testing::set_pod_at<uint64_t>(b, pq + 8, 3);  // 8 % 3 != 0
  EXPECT_NE(load_error(b).find("M must divide d"), std::string::npos) << load_error(b);
  b = good;
  testing::set_pod_at<uint64_t>(b, pq + 16,
                                12);  // 2^12 centroids per sub-quantizer: more than the file holds
  EXPECT_NE(load_error(b).find("bytes of centroids"), std::string::npos) << load_error(b);
}

// An HNSW "PQ" index over a scalar-quantizer storage: FAISS casts the storage to IndexPQ at
// load and dereferences the null result.
TEST_F(FaissFormat, HnswPqOverAnotherStorageIsRefused) {
  std::string b = built("SQ8", "HNSW8");
  ASSERT_EQ(b.substr(0, 4), "IHNs");
  b.replace(0, 4, "IHNp");
  const std::string e = load_error(b);
  EXPECT_NE(e.find("HNSW 'IHNp' over a 'IxSQ' storage"), std::string::npos) << e;
}

// A residual quantizer of one 16-bit codebook without Skip_codebook_tables: FAISS would
// compute 2^16 x 2^16 cross products (16 GB) while reading a 512 KB file.
TEST_F(FaissFormat, ResidualQuantizerCodebookTablesAreBounded) {
  faiss::IndexResidualQuantizer rq(2, 1, 16);
  rq.rq.codebooks.assign(size_t(2) << 16, 0.0f);
  rq.rq.is_trained = rq.is_trained = true;
  rq.rq.train_type = 0;  // no Skip_codebook_tables: the tables are computed at load
  const std::string path = dir_ + "/rq.idx";
  faiss::write_index(&rq, path.c_str());
  const std::string b = read_bytes(path);
  ASSERT_GT(b.size(), 512u * 1024);
  const std::string e = load_error(b);
  EXPECT_NE(e.find("codebook tables (sum 2^nbits = 65536) would take 17180131328 bytes"),
            std::string::npos)
      << e;
}

// A trained RQ index whose quantizer says it is untrained: AdditiveQuantizer::decode throws
// inside FAISS's OpenMP search loop, and an exception leaving an OpenMP region terminates
// the process (fuzz_faiss_index, then `embcomp search` on such a file).
TEST_F(FaissFormat, UntrainedQuantizerInATrainedIndexIsRefused) {
  const std::string good = built("RQ2x6", "Flat");
  ASSERT_EQ(good.substr(0, 4), "IxRq");
  // header, d, M, nbits (count + M values), then the quantizer's is_trained byte
  const size_t trained = kHeader + 8 + 8 + 8 + 2 * 8;
  ASSERT_EQ(good[trained], 1);
  std::string b = good;
  b[trained] = 0;
  EXPECT_NE(load_error(b).find("an untrained residual quantizer in a trained index"),
            std::string::npos)
      << load_error(b);
}

// Inverted-list sizes were bounded only by the address-space cap, which is off under
// AddressSanitizer; the walk sums them against the bytes left.
TEST_F(FaissFormat, InvertedListSizesMustFitTheFile) {
  const std::string good = built("SQ8", "IVF8");
  const size_t ilar = good.find("ilar");
  ASSERT_NE(ilar, std::string::npos);
  ASSERT_EQ(good.substr(ilar + 20, 4), "full");
  std::string b = good;
  testing::set_pod_at<uint64_t>(b, ilar + 24 + 8, uint64_t{1} << 26);  // list 0 claims 2^26 entries
  EXPECT_NE(load_error(b).find("inverted lists claim more entries"), std::string::npos)
      << load_error(b);
  b = good;
  testing::set_pod_at<uint64_t>(b, ilar + 24 + 8,
                                testing::pod_at<uint64_t>(good, ilar + 24 + 8) + 1);
  b.append(8 + 8, '\0');  // room for one more entry: the count, not the bytes, is wrong
  EXPECT_NE(load_error(b).find("entries, ntotal=600"), std::string::npos) << load_error(b);
}

// Bools other than 0/1 and enums outside their range are undefined behaviour once loaded.
TEST_F(FaissFormat, BoolsAndEnumsAreRangeChecked) {
  const std::string good = built("SQ8", "Flat");
  ASSERT_EQ(good.substr(0, 4), "IxSQ");
  std::string b = good;
  b[kHeader - 5] = 2;  // is_trained
  EXPECT_NE(load_error(b).find("is_trained is 2, not a bool"), std::string::npos) << load_error(b);
  b = good;
  testing::set_pod_at<int32_t>(b, kHeader - 4, 7);  // metric
  EXPECT_NE(load_error(b).find("metric type 7"), std::string::npos) << load_error(b);
  b = good;
  testing::set_pod_at<int32_t>(b, kHeader, 33554433);  // qtype: fuzz_faiss_index's UBSan finding
  EXPECT_NE(load_error(b).find("scalar quantizer type 33554433"), std::string::npos)
      << load_error(b);
}

TEST_F(FaissFormat, ForeignTypesTruncationAndTrailingBytes) {
  const std::string good = built("SQ8", "Flat");
  std::string b = good;
  b.replace(0, 4, "IxLa");
  EXPECT_NE(load_error(b).find("not a FAISS index embcomp reads: type 'IxLa'"), std::string::npos)
      << load_error(b);
  b = good;
  testing::set_pod_at<uint32_t>(b, 0, 0x01020304);
  EXPECT_NE(load_error(b).find("type 0x1020304"), std::string::npos) << load_error(b);
  EXPECT_NE(load_error(good + "x").find("1 unexpected bytes after it"), std::string::npos);
  EXPECT_NE(
      screen_error(good.substr(0, 10)).find("x.idx: corrupt FAISS index: truncated at ntotal"),
      std::string::npos)
      << screen_error(good.substr(0, 10));
  EXPECT_NE(load_error(good.substr(0, good.size() - 1)).find("exceeds the bytes left"),
            std::string::npos);
}

// Every prefix of a small IVF file and every byte set to 0x00 and 0xff: the loader either
// reads a consistent index or throws kBadInput; never a crash, never another exception.
TEST_F(FaissFormat, EveryTruncationAndByteFlipOfAnIvfFileIsSafe) {
  base_ = testing::spread_norms(120, 4, 3, 32);
  const std::string good = built("PCA4,SQ8", "IVF4");
  ASSERT_LT(good.size(), 8000u);
  for (size_t len = 0; len < good.size(); ++len)
    EXPECT_FALSE(load_error(good.substr(0, len)).empty()) << len;
  int loaded = 0;
  for (size_t i = 0; i < good.size(); ++i)
    for (char v : {char(0), char(0xff)}) {
      if (good[i] == v) continue;
      std::string b = good;
      b[i] = v;
      testing::write_bytes(dir_ + "/x.idx", b);
      try {
        read_faiss_index_file(dir_ + "/x.idx");
        ++loaded;
      } catch (const Error& e) {
        EXPECT_EQ(e.kind(), ErrorKind::kBadInput) << i << ": " << e.message();
      }
    }
  // Flips in float payloads (centroids, PCA matrix, trained ranges) still load: the walk
  // is not a checksum (the .json sidecar's build id is).
  EXPECT_GT(loaded, 0);
}

}  // namespace
}  // namespace embcomp

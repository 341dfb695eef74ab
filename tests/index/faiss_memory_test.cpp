// Memory three ways (issue 4): the predicted bytes of an index agree with its serialized
// size and with the resident-memory growth of a fresh process loading it, within 5%.
#include <gtest/gtest.h>

#include <faiss/IndexAdditiveQuantizer.h>
#include <faiss/IndexIVFAdditiveQuantizer.h>
#include <faiss/index_io.h>

#include <cstdio>
#include <filesystem>
#include <memory>

#include "index/faiss_index.h"
#include "build_paths.h"
#include "index/faiss_memory.h"
#include "test_data.h"

namespace embcomp {
namespace {

long long child_rss(const std::string& file) {
  FILE* p = ::popen((std::string(EMBCOMP_BINARY) + " _index-rss " + file).c_str(), "r");
  long long v = -1;
  if (p && std::fscanf(p, "%lld", &v) != 1) v = -1;
  if (p) ::pclose(p);
  return v;
}

class MemoryThreeWays : public ::testing::TestWithParam<std::pair<const char*, const char*>> {};

TEST_P(MemoryThreeWays, PredictedAgreesWithFileAndRss) {
  const auto [method, structure] = GetParam();
  FloatMatrix base = testing::low_rank(20000, 64, 8, 0.05f, 9);
  BuiltIndex b = build_faiss_index(base.view(), Metric::kL2, method, structure, false);
  const std::string dir = testing::temp_dir("mem3");
  const std::string file = dir + "/" + std::string(structure) + ".idx";
  save_index(b, file);
  const double predicted = double(predicted_index_bytes(*b.index));
  const double file_bytes = double(std::filesystem::file_size(file));
  const long long rss = child_rss(file);
  ASSERT_GT(rss, 0) << "the _index-rss child failed";
  EXPECT_NEAR(file_bytes / predicted, 1.0, 0.05) << method << " " << structure;
#if !defined(__SANITIZE_ADDRESS__)  // ASan's shadow memory and quarantine are in the RSS
  EXPECT_NEAR(double(rss) / predicted, 1.0, 0.05) << method << " " << structure;
#endif
}

// FAISS's RQ indexes are built with ResidualQuantizer::Skip_codebook_tables (as
// compressors/rq.cpp): before that, training computed the codebook cross products
// ((sum 2^nbits)^2 floats: 4 MB for RQ4x8, counted but not stored, so the file check failed)
// and read_index recomputed them (RSS / predicted 1.08-1.12 for RQ4x8 Flat, RQ4x6 IVF64 and
// PCA32,RQ4x6 Flat). RQ4x8 Flat and PCA32,RQ4x6 Flat pass now but train for 2.5 minutes
// each here, so the Flat rows below use fewer stages (RQ4x8 is in FaissRqMemory).
INSTANTIATE_TEST_SUITE_P(Structures, MemoryThreeWays,
                         ::testing::Values(std::make_pair("SQ8", "Flat"),
                                           std::make_pair("SQ8", "IVF64"),
                                           std::make_pair("PQ8x8", "Flat"),
                                           std::make_pair("SQ8", "HNSW16"),
                                           std::make_pair("PCA32,SQ8", "IVF64"),
                                           std::make_pair("RQ2x8", "Flat"),
                                           std::make_pair("RQ4x6", "IVF64"),
                                           std::make_pair("PCA32,RQ2x6", "Flat")),
                         [](const auto& info) {
                           std::string s = std::string(info.param.first) + "_" + info.param.second;
                           for (auto& c : s)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return s;
                         });

/// The bytes an RQ index must hold, from the FAISS structure's own fields (independent of
/// index/faiss_memory.cpp): codes ntotal * ceil(sum_m nbits_m / 8), codebooks
/// sum_m 2^nbits_m * d floats, and for IVF the coarse centroids (nlist * d floats) and one
/// 8-byte id per row. Payload only: no heap-block headers, no small bookkeeping vectors.
size_t rq_reference_bytes(const faiss::ResidualQuantizer& rq, size_t ntotal, size_t ivf_nlist) {
  size_t bits = 0, centroids = 0;
  for (size_t m = 0; m < rq.M; ++m) {
    bits += rq.nbits[m];
    centroids += size_t{1} << rq.nbits[m];
  }
  size_t b = ntotal * ((bits + 7) / 8) + centroids * rq.d * sizeof(float);
  if (ivf_nlist > 0) b += ivf_nlist * rq.d * sizeof(float) + ntotal * sizeof(faiss::Index::idx_t);
  return b;
}

// audit L10 (and M1 for FAISS's RQ): predicted_index_bytes of FAISS's RQ indexes against the
// reference from FAISS's fields, after the build and after read_index; neither keeps the
// codebook cross products or centroid norms ((sum 2^nbits)^2 + sum 2^nbits floats).
TEST(FaissRqMemory, PredictedEqualsReferenceFromFaissFields) {
  FloatMatrix base = testing::low_rank(5000, 32, 8, 0.05f, 10);
  const std::string dir = testing::temp_dir("mem_rq_reference");
  for (const auto& [method, structure] :
       {std::make_pair("RQ4x8", "Flat"), std::make_pair("RQ2x6", "IVF32")}) {
    BuiltIndex b = build_faiss_index(base.view(), Metric::kL2, method, structure, false);
    const std::string file = dir + "/" + structure + ".idx";
    save_index(b, file);
    std::unique_ptr<faiss::Index> loaded(faiss::read_index(file.c_str()));
    for (const faiss::Index* index : {b.index.get(), loaded.get()}) {
      const faiss::ResidualQuantizer* rq = nullptr;
      size_t nlist = 0;
      if (auto* r = dynamic_cast<const faiss::IndexResidualQuantizer*>(index)) rq = &r->rq;
      if (auto* r = dynamic_cast<const faiss::IndexIVFResidualQuantizer*>(index)) {
        rq = &r->rq;
        nlist = r->nlist;
      }
      ASSERT_NE(rq, nullptr) << method << " " << structure;
      EXPECT_TRUE(rq->codebook_cross_products.empty()) << method << " " << structure;
      EXPECT_TRUE(rq->cent_norms.empty()) << method << " " << structure;
      const size_t reference = rq_reference_bytes(*rq, size_t(index->ntotal), nlist);
      // Beyond the payload the prediction may count only bookkeeping: per heap block its
      // malloc header and, for the IVF's two vectors of nlist lists, the std::vector
      // objects; at most 64 bytes for each of the 2 nlist + 8 blocks. (The cross products
      // alone would be 64 KB for RQ2x6 and 4 MB for RQ4x8.)
      const size_t predicted = predicted_index_bytes(*index);
      EXPECT_GE(predicted, reference) << method << " " << structure;
      EXPECT_LE(predicted, reference + 64 * (2 * nlist + 8)) << method << " " << structure;
    }
  }
}

}  // namespace
}  // namespace embcomp

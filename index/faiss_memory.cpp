#include "index/faiss_memory.h"

#include <faiss/IndexFlatCodes.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexIVFAdditiveQuantizer.h>
#include <faiss/IndexPQ.h>
#include <faiss/IndexPreTransform.h>
#include <faiss/IndexAdditiveQuantizer.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/VectorTransform.h>
#include <faiss/index_io.h>
#include <faiss/invlists/InvertedLists.h>
#include <unistd.h>

#include <cstdio>
#include <memory>

#include "index/own_index.h"
#include "toolkit/error.h"

namespace embcomp {

namespace {

// A heap block costs its bytes plus malloc's header (16 bytes on glibc x86-64); an empty
// std::vector allocates nothing.
template <class T>
size_t vec_bytes(const std::vector<T>& v) {
  return v.empty() ? 0 : v.size() * sizeof(T) + 16;
}

size_t transform_bytes(const faiss::VectorTransform* t) {
  size_t b = 0;
  if (auto* lt = dynamic_cast<const faiss::LinearTransform*>(t)) b += vec_bytes(lt->A) + vec_bytes(lt->b);
  if (auto* pca = dynamic_cast<const faiss::PCAMatrix*>(t))
    b += vec_bytes(pca->mean) + vec_bytes(pca->eigenvalues) + vec_bytes(pca->PCAMat);
  return b;
}

size_t aq_bytes(const faiss::AdditiveQuantizer& aq) {
  size_t b = vec_bytes(aq.codebooks) + vec_bytes(aq.codebook_offsets) + vec_bytes(aq.nbits) +
             vec_bytes(aq.norm_tabs);
  if (auto* rq = dynamic_cast<const faiss::ResidualQuantizer*>(&aq))
    b += vec_bytes(rq->codebook_cross_products) + vec_bytes(rq->cent_norms);
  return b;
}

}  // namespace

size_t predicted_index_bytes(const faiss::Index& index) {
  if (auto* pt = dynamic_cast<const faiss::IndexPreTransform*>(&index)) {
    size_t b = 0;
    for (const auto* t : pt->chain) b += transform_bytes(t);
    return b + predicted_index_bytes(*pt->index);
  }
  if (auto* hnsw = dynamic_cast<const faiss::IndexHNSW*>(&index)) {
    const auto& h = hnsw->hnsw;
    size_t b = vec_bytes(h.assign_probas) + vec_bytes(h.cum_nneighbor_per_level) +
               vec_bytes(h.levels) + vec_bytes(h.offsets) + vec_bytes(h.neighbors);
    return b + predicted_index_bytes(*hnsw->storage);
  }
  if (auto* ivf = dynamic_cast<const faiss::IndexIVF*>(&index)) {
    size_t b = predicted_index_bytes(*ivf->quantizer);
    auto* al = dynamic_cast<const faiss::ArrayInvertedLists*>(ivf->invlists);
    EC_CHECK(al != nullptr, kRuntime, "predicted_index_bytes: unsupported inverted lists");
    b += vec_bytes(al->codes) + vec_bytes(al->ids);  // the two outer vectors
    for (size_t l = 0; l < al->nlist; ++l) b += vec_bytes(al->codes[l]) + vec_bytes(al->ids[l]);
    if (auto* sq = dynamic_cast<const faiss::IndexIVFScalarQuantizer*>(&index))
      b += vec_bytes(sq->sq.trained);
    if (auto* pq = dynamic_cast<const faiss::IndexIVFPQ*>(&index))
      b += vec_bytes(pq->pq.centroids) + pq->precomputed_table.size() * sizeof(float);
    if (auto* aq = dynamic_cast<const faiss::IndexIVFAdditiveQuantizer*>(&index))
      b += aq_bytes(*aq->aq);
    return b;
  }
  if (auto* fc = dynamic_cast<const faiss::IndexFlatCodes*>(&index)) {
    size_t b = vec_bytes(fc->codes);
    if (auto* sq = dynamic_cast<const faiss::IndexScalarQuantizer*>(&index)) b += vec_bytes(sq->sq.trained);
    if (auto* pq = dynamic_cast<const faiss::IndexPQ*>(&index)) b += vec_bytes(pq->pq.centroids);
    if (auto* rq = dynamic_cast<const faiss::IndexResidualQuantizer*>(&index)) b += aq_bytes(rq->rq);
    return b;
  }
  EC_THROW(kRuntime, "predicted_index_bytes: unsupported FAISS index type");
}

size_t resident_bytes() {
  // statm: size resident shared ...; resident - shared is the anonymous memory (heap),
  // leaving out the library code pages that loading touches for the first time.
  FILE* f = std::fopen("/proc/self/statm", "r");
  if (!f) return 0;
  unsigned long size = 0, resident = 0, shared = 0;
  const int got = std::fscanf(f, "%lu %lu %lu", &size, &resident, &shared);
  std::fclose(f);
  return got == 3 ? size_t(resident - shared) * size_t(::sysconf(_SC_PAGESIZE)) : 0;
}

size_t rss_growth_loading(const std::string& path) {
  if (is_own_index_file(path)) {  // embcomp's own format (index/own_index.h)
    const size_t before = resident_bytes();
    OwnIndex index = OwnIndex::load(path);
    const size_t after = resident_bytes();
    return after > before ? after - before : 0;
  }
  const size_t before = resident_bytes();
  std::unique_ptr<faiss::Index> index(faiss::read_index(path.c_str()));
  const size_t after = resident_bytes();
  return after > before ? after - before : 0;
}

}  // namespace embcomp

#include "index/faiss_reader.h"

#include <faiss/IndexFlatCodes.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexPQ.h>
#include <faiss/IndexPreTransform.h>
#include <faiss/IndexScalarQuantizer.h>
#include <faiss/impl/FaissException.h>
#include <faiss/index_io.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <new>
#include <type_traits>
#include <vector>

#include "index/faiss_format.h"
#include "toolkit/blas.h"
#include "toolkit/error.h"

namespace embcomp {

namespace {

constexpr uint64_t kRefusedCount = uint64_t{1} << 40;  // READVECTOR refuses >= 2^40
constexpr uint64_t kHeaderDummy = uint64_t{1} << 20;   // write_index_header's constant

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kUnderAsan = true;
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
constexpr bool kUnderAsan = true;
#else
constexpr bool kUnderAsan = false;
#endif
#else
constexpr bool kUnderAsan = false;
#endif

/// Lowers RLIMIT_AS's soft limit to the current address-space size + extra bytes for its
/// lifetime (nothing when the current limit is lower already, or under ASan).
class AddressSpaceCap {
 public:
  explicit AddressSpaceCap(uint64_t extra) {
    if (kUnderAsan || ::getrlimit(RLIMIT_AS, &old_) != 0) return;
    std::FILE* f = std::fopen("/proc/self/statm", "r");
    if (!f) return;
    unsigned long pages = 0;
    const int got = std::fscanf(f, "%lu", &pages);
    std::fclose(f);
    if (got != 1) return;
    const uint64_t now = uint64_t(pages) * uint64_t(::sysconf(_SC_PAGESIZE));
    const uint64_t cap = now + extra < now ? RLIM_INFINITY : now + extra;
    if (old_.rlim_cur != RLIM_INFINITY && old_.rlim_cur <= cap) return;
    rlimit lowered = old_;
    lowered.rlim_cur = cap;
    active_ = ::setrlimit(RLIMIT_AS, &lowered) == 0;
  }
  ~AddressSpaceCap() {
    if (active_) ::setrlimit(RLIMIT_AS, &old_);
  }
  AddressSpaceCap(const AddressSpaceCap&) = delete;
  AddressSpaceCap& operator=(const AddressSpaceCap&) = delete;

 private:
  rlimit old_{};
  bool active_ = false;
};

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

/// Runs a FAISS read; returns "" or why it failed (the first line of FAISS's message).
template <class F>
std::string faiss_read_failure(F&& read) {
  try {
    read();
    return "";
  } catch (const faiss::FaissException& e) {
    return first_line(e.msg);
  } catch (const std::bad_alloc&) {
    return "a size in it is larger than the bytes can hold (allocation refused)";
  } catch (const std::length_error&) {
    return "a size in it is larger than the bytes can hold";
  }
}

void check_hnsw(const faiss::IndexHNSW& index, const std::string& path) {
  const faiss::HNSW& h = index.hnsw;
  const int64_t n = index.ntotal;
  auto corrupt = [&](const std::string& why) {
    EC_THROW(kBadInput, path << ": corrupt HNSW graph: " << why);
  };
  if (!index.storage || index.storage->ntotal != n || index.storage->d != index.d)
    corrupt("the stored vectors do not match the graph");
  const auto& cum = h.cum_nneighbor_per_level;
  if (cum.empty() || cum[0] != 0) corrupt("bad neighbours-per-level table");
  for (size_t l = 1; l < cum.size(); ++l)
    if (cum[l] < cum[l - 1]) corrupt("bad neighbours-per-level table");
  if (h.levels.size() != size_t(n) || h.offsets.size() != size_t(n) + 1 || h.offsets[0] != 0)
    corrupt("levels/offsets do not match ntotal=" + std::to_string(n));
  int top = 0;
  for (int64_t i = 0; i < n; ++i) {
    const int li = h.levels[size_t(i)];
    if (li < 1 || size_t(li) >= cum.size())
      corrupt("node " + std::to_string(i) + " has " + std::to_string(li) + " levels");
    top = std::max(top, li);
    if (h.offsets[size_t(i) + 1] != h.offsets[size_t(i)] + size_t(cum[size_t(li)]))
      corrupt("offsets of node " + std::to_string(i));
  }
  if (h.neighbors.size() != h.offsets[size_t(n)]) corrupt("neighbour array size");
  if (n == 0) return;
  if (h.max_level != top - 1 || h.entry_point < 0 || h.entry_point >= n ||
      h.levels[size_t(h.entry_point)] != top)
    corrupt("entry point " + std::to_string(h.entry_point) + " / max level " +
            std::to_string(h.max_level));
  for (int64_t i = 0; i < n; ++i) {
    const size_t o = h.offsets[size_t(i)];
    for (int l = 0; l < h.levels[size_t(i)]; ++l)
      for (size_t p = o + size_t(cum[size_t(l)]); p < o + size_t(cum[size_t(l) + 1]); ++p) {
        const int64_t j = h.neighbors[p];
        if (j == -1) continue;
        if (j < 0 || j >= n || h.levels[size_t(j)] <= l)
          corrupt("node " + std::to_string(i) + " has neighbour " + std::to_string(j) +
                  " at level " + std::to_string(l));
      }
  }
  if (h.efSearch < 1) corrupt("efSearch=" + std::to_string(h.efSearch));
}

/// The stored value of an enum field read from a file, as an integer: loading an out-of-range
/// value through the enum type is undefined behaviour (UBSan, fuzz_faiss_index: qtype
/// 33554433), so fields are checked through this before the enum is read.
template <class E>
int64_t raw_enum(const E& e) {
  static_assert(std::is_enum_v<E>);
  std::underlying_type_t<E> v;
  std::memcpy(&v, &e, sizeof v);
  return int64_t(v);
}

void check_sq(const faiss::ScalarQuantizer& sq, size_t d, const std::string& path) {
  using Q = faiss::ScalarQuantizer;
  size_t want = 0;
  const int64_t qtype = raw_enum(sq.qtype);
  switch (qtype) {
    case Q::QT_8bit:
    case Q::QT_4bit:
    case Q::QT_6bit:
      want = 2 * d;
      break;
    case Q::QT_8bit_uniform:
    case Q::QT_4bit_uniform:
      want = 2;
      break;
    case Q::QT_fp16:
    case Q::QT_8bit_direct:
      want = 0;
      break;
    default:
      EC_THROW(kBadInput, path << ": corrupt scalar quantizer type " << qtype);
  }
  const Q fresh(d, sq.qtype);
  EC_CHECK(sq.d == d && sq.trained.size() == want && sq.code_size == fresh.code_size, kBadInput,
           path << ": corrupt scalar quantizer (d=" << sq.d << ", " << sq.trained.size()
                << " trained values, code_size " << sq.code_size << ")");
}

void check_pq(const faiss::ProductQuantizer& pq, size_t d, const std::string& path) {
  EC_CHECK(pq.d == d && pq.M >= 1 && d % pq.M == 0 && pq.nbits >= 1 && pq.nbits <= 16 &&
               pq.centroids.size() == d * (size_t{1} << pq.nbits),
           kBadInput,
           path << ": corrupt product quantizer (d=" << pq.d << ", M=" << pq.M
                << ", nbits=" << pq.nbits << ", " << pq.centroids.size() << " centroid values)");
}

/// Structural checks of what embcomp builds (index/faiss_index.h): transforms, IVF, HNSW,
/// SQ/PQ codes. Search trusts all of these.
void check_index(const faiss::Index* index, const std::string& path) {
  EC_CHECK(index->d >= 1 && index->ntotal >= 0, kBadInput,
           path << ": corrupt header (d=" << index->d << ", ntotal=" << index->ntotal << ")");
  const int64_t metric = raw_enum(index->metric_type);
  EC_CHECK(metric == faiss::METRIC_L2 || metric == faiss::METRIC_INNER_PRODUCT, kBadInput,
           path << ": corrupt header (metric type " << metric
                << "; embcomp builds L2 and inner-product indexes)");
  if (auto* pt = dynamic_cast<const faiss::IndexPreTransform*>(index)) {
    EC_CHECK(pt->index, kBadInput, path << ": corrupt pre-transform index");
    int d = pt->d;
    for (const faiss::VectorTransform* vt : pt->chain) {
      EC_CHECK(vt && vt->d_in == d && vt->d_out >= 1 && vt->is_trained, kBadInput,
               path << ": corrupt transform chain (dimension " << (vt ? vt->d_in : -1) << " after "
                    << d << ")");
      if (auto* lt = dynamic_cast<const faiss::LinearTransform*>(vt))
        EC_CHECK(lt->A.size() == size_t(lt->d_in) * size_t(lt->d_out) &&
                     (!lt->have_bias || lt->b.size() == size_t(lt->d_out)),
                 kBadInput,
                 path << ": corrupt linear transform (" << lt->A.size() << " matrix values)");
      d = vt->d_out;
    }
    EC_CHECK(pt->index->d == d && pt->index->ntotal == pt->ntotal, kBadInput,
             path << ": corrupt pre-transform index (inner d=" << pt->index->d << ", expected " << d
                  << ")");
    check_index(pt->index, path);
    return;
  }
  const size_t d = size_t(index->d);
  if (auto* ivf = dynamic_cast<const faiss::IndexIVF*>(index)) {
    EC_CHECK(
        ivf->quantizer && ivf->invlists && ivf->quantizer->d == index->d &&
            ivf->quantizer->ntotal == int64_t(ivf->nlist) && ivf->invlists->nlist == ivf->nlist,
        kBadInput,
        path << ": corrupt IVF index (coarse quantizer or lists do not match nlist=" << ivf->nlist
             << ")");
    check_index(ivf->quantizer, path);
    size_t total = 0;
    for (size_t l = 0; l < ivf->nlist; ++l) total += ivf->invlists->list_size(l);
    EC_CHECK(total == size_t(index->ntotal), kBadInput,
             path << ": corrupt IVF index: the lists hold " << total
                  << " entries, ntotal=" << index->ntotal);
    if (auto* s = dynamic_cast<const faiss::IndexIVFScalarQuantizer*>(index))
      check_sq(s->sq, d, path);
    if (auto* p = dynamic_cast<const faiss::IndexIVFPQ*>(index)) check_pq(p->pq, d, path);
    return;
  }
  if (auto* hn = dynamic_cast<const faiss::IndexHNSW*>(index)) {
    check_hnsw(*hn, path);
    check_index(hn->storage, path);
    return;
  }
  if (auto* fc = dynamic_cast<const faiss::IndexFlatCodes*>(index))
    EC_CHECK(fc->codes.size() == size_t(fc->ntotal) * fc->code_size, kBadInput,
             path << ": corrupt index: " << fc->codes.size() << " code bytes for " << fc->ntotal
                  << " rows");
  if (auto* s = dynamic_cast<const faiss::IndexScalarQuantizer*>(index)) check_sq(s->sq, d, path);
  if (auto* p = dynamic_cast<const faiss::IndexPQ*>(index)) check_pq(p->pq, d, path);
}

/// FAISS computes IVFPQ's precomputed tables at load; this does it after the read.
void precompute_ivfpq_tables(faiss::Index* index) {
  if (auto* pt = dynamic_cast<faiss::IndexPreTransform*>(index))
    return precompute_ivfpq_tables(pt->index);
  if (auto* ivpq = dynamic_cast<faiss::IndexIVFPQ*>(index)) {
    if (ivpq->is_trained && ivpq->by_residual) ivpq->precompute_table();
  }
}

}  // namespace

BoundedIOReader::BoundedIOReader(const uint8_t* data, size_t size, std::string name)
    : data_(data), size_(size) {
  this->name = std::move(name);
}

BoundedIOReader::BoundedIOReader(std::FILE* f, uint64_t size, std::string name)
    : file_(f), size_(size) {
  this->name = std::move(name);
}

size_t BoundedIOReader::operator()(void* ptr, size_t size, size_t nitems) {
  if (size == 0 || nitems == 0) return 0;
  const uint64_t whole = std::min<uint64_t>(nitems, bytes_left() / size);
  size_t got = 0;
  if (data_) {
    std::memcpy(ptr, data_ + pos_, whole * size);
    got = size_t(whole);
  } else {
    got = std::fread(ptr, size, size_t(whole), file_);
  }
  pos_ += uint64_t(got) * size;
  if (size == 8 && nitems == 1 && got == 1) {
    uint64_t v;
    std::memcpy(&v, ptr, 8);
    if (v > bytes_left() && v != kHeaderDummy) {
      if (implausible_ == 0) implausible_ = v;
      std::memcpy(ptr, &kRefusedCount, 8);
    }
  }
  return got;
}

std::unique_ptr<faiss::Index> read_faiss_index_file(const std::string& path) {
  struct stat st {};
  EC_CHECK(::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode), kBadInput,
           path << ": no such index file (or not a regular file)");
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> f(std::fopen(path.c_str(), "rb"), &std::fclose);
  EC_CHECK(f, kBadInput, path << ": cannot open: " << std::strerror(errno));
  // Every count and derived size first (faiss_format.h), then FAISS's own read.
  screen_faiss_index(f.get(), uint64_t(st.st_size), path);
  EC_CHECK(::fseeko(f.get(), 0, SEEK_SET) == 0, kBadInput,
           path << ": cannot seek: " << std::strerror(errno));
  BoundedIOReader reader(f.get(), uint64_t(st.st_size), path);
  std::unique_ptr<faiss::Index> index;
  std::string failure;
  {
    // Start OpenMP's threads before the cap: FAISS may run a parallel loop while reading
    // (PQ's SDC table), and a thread that cannot get its stack aborts the process.
#pragma omp parallel
    { (void)0; }
    // And OpenBLAS's buffer: its first sgemm maps a buffer of ~128 MB, and when that mmap
    // fails under the cap, blas_memory_alloc retries forever. FAISS's RQ reader runs sgemm
    // (compute_codebook_tables, for files without Skip_codebook_tables: every RQ index
    // built before embcomp set that flag, and any foreign one): search hung at 100% CPU.
    // A released buffer stays mapped in OpenBLAS's pool for the next call (BLAS runs
    // single-threaded here, toolkit/threads.h).
    {
      constexpr size_t kWarm = 256;  // above OpenBLAS's small-matrix path
      std::vector<float> a(kWarm * kWarm, 1.0f), c(kWarm * kWarm);
      matmul(a.data(), a.data(), c.data(), kWarm, kWarm, kWarm);
    }
    const uint64_t size = uint64_t(st.st_size);
    AddressSpaceCap cap(size > (uint64_t{1} << 50) ? RLIM_INFINITY
                                                   : (uint64_t{64} << 20) + 64 * size);
    failure = faiss_read_failure(
        [&] { index.reset(faiss::read_index(&reader, faiss::IO_FLAG_SKIP_PRECOMPUTE_TABLE)); });
  }
  EC_CHECK(reader.implausible_count() == 0, kBadInput,
           path << ": corrupt FAISS index: a count of " << reader.implausible_count()
                << " exceeds the bytes left in the file");
  EC_CHECK(failure.empty() && index, kBadInput,
           path << ": not a readable FAISS index (truncated or foreign file): " << failure);
  EC_CHECK(reader.bytes_left() == 0, kBadInput,
           path << ": " << reader.bytes_left() << " unexpected bytes after the FAISS index");
  check_index(index.get(), path);
  precompute_ivfpq_tables(index.get());
  return index;
}

std::unique_ptr<faiss::VectorTransform> read_faiss_transform_blob(const std::vector<uint8_t>& blob,
                                                                  const std::string& what,
                                                                  const std::string& spec) {
  screen_faiss_transform(blob.data(), blob.size(), what, spec);
  BoundedIOReader reader(blob.data(), blob.size(), what);
  std::unique_ptr<faiss::VectorTransform> vt;
  const std::string failure =
      faiss_read_failure([&] { vt.reset(faiss::read_VectorTransform(&reader)); });
  EC_CHECK(reader.implausible_count() == 0, kBadInput,
           what << ": corrupt " << spec << " model: a count of " << reader.implausible_count()
                << " exceeds the " << blob.size() << "-byte model");
  EC_CHECK(failure.empty() && vt, kBadInput, what << ": corrupt " << spec << " model: " << failure);
  EC_CHECK(
      reader.bytes_left() == 0, kBadInput,
      what << ": corrupt " << spec << " model: " << reader.bytes_left() << " unexpected bytes");
  return vt;
}

}  // namespace embcomp

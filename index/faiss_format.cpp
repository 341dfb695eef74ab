#include "index/faiss_format.h"

#include <sys/types.h>

#include <cstring>
#include <sstream>
#include <vector>

#include "toolkit/error.h"

namespace embcomp {

namespace {

constexpr uint64_t kMaxCount = uint64_t{1} << 40;  // FAISS's READVECTOR bound
constexpr int kMaxDepth = 4;                       // IxPT > IwPQ > IHNf > IxF2 is 4 levels
constexpr int kMaxTransforms = 16;
constexpr int32_t kSkipCodebookTables = 2048;  // ResidualQuantizer::Skip_codebook_tables

constexpr uint32_t fourcc(const char (&s)[5]) {
  return uint32_t(uint8_t(s[0])) | uint32_t(uint8_t(s[1])) << 8 | uint32_t(uint8_t(s[2])) << 16 |
         uint32_t(uint8_t(s[3])) << 24;
}

/// "IxPQ" when the four bytes are printable, else "0x...".
std::string fourcc_text(uint32_t h) {
  std::string s;
  for (int i = 0; i < 4; ++i) {
    const char c = char((h >> (8 * i)) & 0xff);
    if (c < 0x21 || c > 0x7e) {
      std::ostringstream hex;
      hex << "0x" << std::hex << h;
      return hex.str();
    }
    s += c;
  }
  return "'" + s + "'";
}

/// Overflow-checked a * b + c; false when it does not fit in 64 bits.
bool mul_add(uint64_t a, uint64_t b, uint64_t c, uint64_t& out) {
  uint64_t p;
  return !__builtin_mul_overflow(a, b, &p) && !__builtin_add_overflow(p, c, &out);
}

/// What a walked index is: its type, shape and bytes per row (0 for non-code indexes).
struct IndexShape {
  uint32_t fourcc = 0;
  int64_t d = 0, ntotal = 0;
  bool is_trained = false;
  uint64_t code_size = 0;
  uint64_t pq_M = 0, pq_ksub = 0;  ///< for IxPq: the SDC table HNSW computes at load
};

class Walker {
 public:
  Walker(std::FILE* f, const uint8_t* data, uint64_t size, std::string name, std::string what)
      : f_(f), data_(data), size_(size), name_(std::move(name)), what_(std::move(what)) {}

  [[noreturn]] void fail(const std::string& why) const {
    EC_THROW(kBadInput, name_ << ": " << what_ << why);
  }
  uint64_t left() const { return size_ - pos_; }
  uint64_t cap() const { return faiss_derived_cap(size_); }

  void read(void* p, uint64_t n, const char* field) {
    if (n > left())
      fail(std::string("truncated at ") + field + " (" + std::to_string(n) + " bytes needed, " +
           std::to_string(left()) + " left)");
    if (data_) {
      std::memcpy(p, data_ + pos_, n);
    } else if (std::fread(p, 1, n, f_) != n) {
      fail(std::string("read error at ") + field);
    }
    pos_ += n;
  }
  template <class T>
  T get(const char* field) {
    T v;
    read(&v, sizeof v, field);
    return v;
  }
  bool get_bool(const char* field) {
    const uint8_t b = get<uint8_t>(field);
    if (b > 1) fail(std::string(field) + " is " + std::to_string(b) + ", not a bool");
    return b == 1;
  }
  void skip(uint64_t n, const char* field) {
    if (n > left())
      fail(std::string("truncated in ") + field + " (" + std::to_string(n) + " bytes, " +
           std::to_string(left()) + " left)");
    if (!data_ && ::fseeko(f_, off_t(n), SEEK_CUR) != 0) fail(std::string("seek error in ") + field);
    pos_ += n;
  }
  /// A vector count (8 bytes) whose elements of elem bytes must fit in the bytes left.
  uint64_t count(uint64_t elem, const char* field) {
    const uint64_t n = get<uint64_t>(field);
    if (n >= kMaxCount || n * elem > left())
      fail("a count of " + std::to_string(n) + " exceeds the bytes left (" +
           std::to_string(left()) + ") at " + field);
    return n;
  }
  /// Skips a READVECTOR of elem-byte elements; returns its count.
  uint64_t skip_vector(uint64_t elem, const char* field) {
    const uint64_t n = count(elem, field);
    skip(n * elem, field);
    return n;
  }
  template <class T>
  std::vector<T> get_vector(const char* field) {
    std::vector<T> v(count(sizeof(T), field));
    if (!v.empty()) read(v.data(), v.size() * sizeof(T), field);
    return v;
  }
  /// FAISS will allocate bytes (overflowed: true) that the file does not store.
  void derived(uint64_t bytes, bool overflowed, const std::string& what) const {
    if (overflowed || bytes > cap())
      fail(what + " would take " + (overflowed ? std::string("more than 2^64") : std::to_string(bytes)) +
           " bytes, more than the " + std::to_string(cap()) + " a " + std::to_string(size_) +
           "-byte file may ask for");
  }
  void finish() const {
    if (left() != 0) fail(std::to_string(left()) + " unexpected bytes after it");
  }

  IndexShape index(int depth);
  void transform(int32_t& d_in, int32_t& d_out);

 private:
  void header(IndexShape& s);
  uint64_t scalar_quantizer(int64_t d);
  void product_quantizer(int64_t d, IndexShape& s);
  uint64_t residual_quantizer(const IndexShape& s);
  void codes(const IndexShape& s, const char* field);
  void ivf(IndexShape& s, int depth, uint64_t& nlist);
  void inverted_lists(const IndexShape& s, uint64_t nlist);

  std::FILE* f_;
  const uint8_t* data_;
  uint64_t size_, pos_ = 0;
  std::string name_, what_;
};

/// read_index_header: d, ntotal, two dummies, is_trained, metric (L2 or IP only).
void Walker::header(IndexShape& s) {
  s.d = get<int32_t>("d");
  s.ntotal = get<int64_t>("ntotal");
  if (s.d < 1 || s.ntotal < 0)
    fail("header of " + fourcc_text(s.fourcc) + " has d=" + std::to_string(s.d) +
         ", ntotal=" + std::to_string(s.ntotal));
  skip(16, "header");
  s.is_trained = get_bool("is_trained");
  const int32_t metric = get<int32_t>("metric type");
  if (metric != 0 && metric != 1)
    fail("metric type " + std::to_string(metric) + " (embcomp reads L2 and inner-product indexes)");
}

/// read_ScalarQuantizer; returns its code size.
uint64_t Walker::scalar_quantizer(int64_t d) {
  const int32_t qtype = get<int32_t>("scalar quantizer type");
  const uint64_t ud = uint64_t(d);
  uint64_t cs = 0, trained = 0;
  switch (qtype) {
    case 0: cs = ud; trained = 2 * ud; break;                // QT_8bit
    case 1: cs = (ud + 1) / 2; trained = 2 * ud; break;      // QT_4bit
    case 2: cs = ud; trained = 2; break;                     // QT_8bit_uniform
    case 3: cs = (ud + 1) / 2; trained = 2; break;           // QT_4bit_uniform
    case 4: cs = 2 * ud; break;                              // QT_fp16
    case 5: cs = ud; break;                                  // QT_8bit_direct
    case 6: cs = (6 * ud + 7) / 8; trained = 2 * ud; break;  // QT_6bit
    default: fail("scalar quantizer type " + std::to_string(qtype));
  }
  const int32_t rangestat = get<int32_t>("scalar quantizer range statistic");
  if (rangestat < 0 || rangestat > 3)
    fail("scalar quantizer range statistic " + std::to_string(rangestat));
  skip(4, "rangestat_arg");
  const uint64_t sd = get<uint64_t>("scalar quantizer d");
  const uint64_t scs = get<uint64_t>("scalar quantizer code_size");
  const uint64_t nt = count(4, "scalar quantizer trained values");
  if (sd != ud || scs != cs || nt != trained)
    fail("scalar quantizer (d=" + std::to_string(sd) + ", code_size " + std::to_string(scs) + ", " +
         std::to_string(nt) + " trained values) in an index of d=" + std::to_string(d));
  skip(nt * 4, "scalar quantizer trained values");
  return cs;
}

/// read_ProductQuantizer: set_derived_values allocates d * 2^nbits floats and divides by M
/// before the centroids are read.
void Walker::product_quantizer(int64_t d, IndexShape& s) {
  const uint64_t pd = get<uint64_t>("product quantizer d");
  const uint64_t M = get<uint64_t>("product quantizer M");
  const uint64_t nbits = get<uint64_t>("product quantizer nbits");
  if (pd != uint64_t(d) || M < 1 || pd % M != 0 || nbits < 1 || nbits > 16)
    fail("product quantizer d=" + std::to_string(pd) + ", M=" + std::to_string(M) +
         ", nbits=" + std::to_string(nbits) + " in an index of d=" + std::to_string(d) +
         " (M must divide d, nbits in [1, 16])");
  const uint64_t ksub = uint64_t{1} << nbits;
  if (pd * ksub * 4 > left())
    fail("product quantizer d=" + std::to_string(pd) + ", nbits=" + std::to_string(nbits) +
         " needs " + std::to_string(pd * ksub * 4) + " bytes of centroids, " +
         std::to_string(left()) + " left");
  if (count(4, "product quantizer centroid values") != pd * ksub)
    fail("product quantizer centroid count is not d * 2^nbits = " + std::to_string(pd * ksub));
  skip(pd * ksub * 4, "product quantizer centroids");
  s.code_size = (nbits * M + 7) / 8;
  s.pq_M = M;
  s.pq_ksub = ksub;
}

/// read_ResidualQuantizer (read_AdditiveQuantizer + train_type, max_beam_size) inside
/// index s; returns its code size.
uint64_t Walker::residual_quantizer(const IndexShape& s) {
  const int64_t d = s.d;
  const uint64_t ad = get<uint64_t>("residual quantizer d");
  const uint64_t M = get<uint64_t>("residual quantizer M");
  if (ad != uint64_t(d) || M < 1)
    fail("residual quantizer d=" + std::to_string(ad) + ", M=" + std::to_string(M) +
         " in an index of d=" + std::to_string(d));
  const std::vector<uint64_t> nbits = get_vector<uint64_t>("residual quantizer nbits");
  if (nbits.size() != M)
    fail("residual quantizer has " + std::to_string(nbits.size()) + " nbits values for M=" +
         std::to_string(M));
  uint64_t total = 0, bits = 0;
  for (uint64_t b : nbits) {
    if (b < 1 || b > 16) fail("residual quantizer nbits=" + std::to_string(b) + " (1 to 16)");
    total += uint64_t{1} << b;
    bits += b;
  }
  // An untrained quantizer in a trained index: its decode throws inside FAISS's OpenMP
  // search loop, which terminates the process (fuzz_faiss_index).
  if (!get_bool("residual quantizer is_trained") && s.is_trained)
    fail("an untrained residual quantizer in a trained index");
  uint64_t values = 0;
  if (!mul_add(total, ad, 0, values) || count(4, "residual quantizer codebook values") != values)
    fail("residual quantizer codebooks are not d * sum(2^nbits) = " + std::to_string(values) +
         " values");
  skip(values * 4, "residual quantizer codebooks");
  const int32_t st = get<int32_t>("residual quantizer search type");
  // ST_decompress, ST_LUT_nonorm, ST_norm_from_LUT: no norm; ST_norm_float: 32 bits;
  // ST_norm_qint8 / qint4: 8 / 4 bits. The codebook-quantized norms (cqint, lsq2x4, rq2x4)
  // carry a norm index embcomp does not build.
  static constexpr uint64_t kNormBits[] = {0, 0, 0, 32, 8, 4};
  if (st < 0 || st > 5)
    fail("residual quantizer search type " + std::to_string(st) +
         " (embcomp reads types 0 to 5: no norm, float or uniform int norms)");
  skip(8, "residual quantizer norm range");
  const int32_t train_type = get<int32_t>("residual quantizer train_type");
  skip(4, "residual quantizer max_beam_size");
  if (!(train_type & kSkipCodebookTables)) {
    uint64_t bytes = 0;
    const bool over = !mul_add(total, total, total, bytes) || !mul_add(bytes, 4, 0, bytes);
    derived(bytes, over, "the residual quantizer's codebook tables (sum 2^nbits = " +
                             std::to_string(total) + ")");
  }
  return (bits + kNormBits[st] + 7) / 8;
}

/// A codes vector of ntotal * code_size bytes (READVECTOR of uint8).
void Walker::codes(const IndexShape& s, const char* field) {
  const uint64_t n = count(1, field);
  uint64_t want = 0;
  if (!mul_add(uint64_t(s.ntotal), s.code_size, 0, want) || n != want)
    fail(std::to_string(n) + " code bytes for ntotal=" + std::to_string(s.ntotal) + " x " +
         std::to_string(s.code_size));
  skip(n, field);
}

/// read_ivf_header: header, nlist, nprobe, the coarse quantizer, the direct map.
void Walker::ivf(IndexShape& s, int depth, uint64_t& nlist) {
  header(s);
  nlist = get<uint64_t>("nlist");
  get<uint64_t>("nprobe");
  const IndexShape q = index(depth + 1);
  if (q.fourcc != fourcc("IxF2") && q.fourcc != fourcc("IxFI") && q.fourcc != fourcc("IHNf"))
    fail("coarse quantizer " + fourcc_text(q.fourcc) + " (embcomp reads Flat and HNSW Flat)");
  if (nlist < 1 || q.d != s.d || uint64_t(q.ntotal) != nlist)
    fail("IVF nlist=" + std::to_string(nlist) + " with a coarse quantizer of d=" +
         std::to_string(q.d) + ", " + std::to_string(q.ntotal) + " centroids");
  const int8_t map = get<int8_t>("direct map type");
  if (map < 0 || map > 2) fail("direct map type " + std::to_string(map));
  skip_vector(8, "direct map entries");
  if (map == 2) {
    const uint64_t n = skip_vector(16, "direct map hash entries");
    derived(n * 64, false, "the direct map's hash table");
  }
}

/// read_InvertedLists of an IVF with nlist lists of code_size-byte codes ("ilar" only).
void Walker::inverted_lists(const IndexShape& s, uint64_t nlist) {
  const uint32_t h = get<uint32_t>("inverted lists type");
  if (h != fourcc("ilar"))
    fail("inverted lists " + fourcc_text(h) + " (embcomp reads in-file 'ilar' lists)");
  const uint64_t n = get<uint64_t>("inverted lists nlist");
  const uint64_t cs = get<uint64_t>("inverted lists code_size");
  if (n != nlist || cs != s.code_size)
    fail("inverted lists of nlist=" + std::to_string(n) + ", code_size " + std::to_string(cs) +
         " in an IVF of nlist=" + std::to_string(nlist) + ", code_size " +
         std::to_string(s.code_size));
  uint64_t fixed = 0;  // ids + codes vectors and the sizes array FAISS allocates per list
  derived(fixed, !mul_add(nlist, 56, 0, fixed), "the inverted lists' headers");
  std::vector<uint64_t> sizes;
  const uint32_t type = get<uint32_t>("inverted lists size type");
  if (type == fourcc("full")) {
    sizes = get_vector<uint64_t>("list sizes");
    if (sizes.size() != nlist)
      fail(std::to_string(sizes.size()) + " list sizes for nlist=" + std::to_string(nlist));
  } else if (type == fourcc("sprs")) {
    const std::vector<uint64_t> pairs = get_vector<uint64_t>("sparse list sizes");
    if (pairs.size() % 2 != 0) fail("an odd count of sparse list sizes");
    sizes.assign(nlist, 0);
    for (size_t j = 0; j < pairs.size(); j += 2) {
      if (pairs[j] >= nlist)
        fail("list " + std::to_string(pairs[j]) + " of nlist=" + std::to_string(nlist));
      sizes[pairs[j]] = pairs[j + 1];
    }
  } else {
    fail("inverted lists size type " + fourcc_text(type));
  }
  uint64_t entries = 0, bytes = 0;
  for (uint64_t m : sizes) {
    if (m > left() || !mul_add(m, cs + 8, bytes, bytes) || bytes > left())
      fail("inverted lists claim more entries than the " + std::to_string(left()) +
           " bytes left in the file");
    entries += m;
  }
  if (entries != uint64_t(s.ntotal))
    fail("the inverted lists hold " + std::to_string(entries) + " entries, ntotal=" +
         std::to_string(s.ntotal));
  skip(bytes, "inverted lists");
}

/// read_VectorTransform; d_in / d_out are the stored fields.
void Walker::transform(int32_t& d_in, int32_t& d_out) {
  const uint32_t h = get<uint32_t>("transform type");
  const bool pca = h == fourcc("Pcam") || h == fourcc("PCAm") || h == fourcc("PcAm");
  const bool linear = pca || h == fourcc("LTra") || h == fourcc("rrot");
  if (pca) {
    skip(4, "PCA eigen_power");
    if (h == fourcc("Pcam")) skip(4, "PCA epsilon");
    get_bool("PCA random_rotation");
    if (h != fourcc("PCAm")) skip(4, "PCA balanced_bins");
    skip_vector(4, "PCA mean values");
    skip_vector(4, "PCA eigenvalues");
    skip_vector(4, "PCA matrix values");
  } else if (h == fourcc("VNrm")) {
    skip(4, "normalization norm");
  } else if (h == fourcc("VCnt")) {
    skip_vector(4, "centering mean values");
  } else if (!linear) {
    fail("transform " + fourcc_text(h) + " (embcomp reads PCA, linear (OPQ), rrot, VCnt, VNrm)");
  }
  if (linear) {
    get_bool("have_bias");
    skip_vector(4, "linear transform matrix values");
    skip_vector(4, "linear transform bias values");
  }
  d_in = get<int32_t>("transform d_in");
  d_out = get<int32_t>("transform d_out");
  get_bool("transform is_trained");
  if (d_in < 1 || d_out < 1)
    fail("transform " + fourcc_text(h) + " of d_in=" + std::to_string(d_in) + ", d_out=" +
         std::to_string(d_out));
}

/// read_index for the types embcomp builds.
IndexShape Walker::index(int depth) {
  if (depth > kMaxDepth) fail("indexes nested deeper than " + std::to_string(kMaxDepth));
  IndexShape s;
  s.fourcc = get<uint32_t>("index type");
  const uint32_t h = s.fourcc;
  if (h == fourcc("IxF2") || h == fourcc("IxFI")) {
    header(s);
    s.code_size = uint64_t(s.d) * 4;
    const uint64_t n = count(4, "flat vector values");  // READXBVECTOR: a count of 4-byte words
    uint64_t want = 0;
    if (!mul_add(uint64_t(s.ntotal), s.code_size, 0, want) || n * 4 != want)
      fail(std::to_string(n) + " float values for ntotal=" + std::to_string(s.ntotal) +
           ", d=" + std::to_string(s.d));
    skip(n * 4, "flat vectors");
  } else if (h == fourcc("IxSQ")) {
    header(s);
    s.code_size = scalar_quantizer(s.d);
    codes(s, "scalar quantizer codes");
  } else if (h == fourcc("IxPq") || h == fourcc("IxPQ")) {
    header(s);
    product_quantizer(s.d, s);
    codes(s, "product quantizer codes");
    if (h == fourcc("IxPq")) {
      const int32_t st = get<int32_t>("PQ search type");
      if (st != 0) fail("PQ search type " + std::to_string(st) + " (embcomp reads ST_PQ, 0)");
      get_bool("PQ encode_signs");
      skip(4, "PQ polysemous_ht");
    }
  } else if (h == fourcc("IxRq")) {
    header(s);
    s.code_size = residual_quantizer(s);
    if (get<uint64_t>("RQ code_size") != s.code_size)
      fail("RQ code_size is not the quantizer's " + std::to_string(s.code_size));
    codes(s, "RQ codes");
  } else if (h == fourcc("IwFl")) {
    uint64_t nlist = 0;
    ivf(s, depth, nlist);
    s.code_size = uint64_t(s.d) * 4;
    inverted_lists(s, nlist);
  } else if (h == fourcc("IwSq")) {
    uint64_t nlist = 0;
    ivf(s, depth, nlist);
    s.code_size = scalar_quantizer(s.d);
    if (get<uint64_t>("IVF SQ code_size") != s.code_size)
      fail("IVF SQ code_size is not the quantizer's " + std::to_string(s.code_size));
    get_bool("IVF SQ by_residual");
    inverted_lists(s, nlist);
  } else if (h == fourcc("IwPQ")) {
    uint64_t nlist = 0;
    ivf(s, depth, nlist);
    get_bool("IVFPQ by_residual");
    const uint64_t cs = get<uint64_t>("IVFPQ code_size");
    product_quantizer(s.d, s);
    if (cs != s.code_size)
      fail("IVFPQ code_size " + std::to_string(cs) + " is not the quantizer's " +
           std::to_string(s.code_size));
    inverted_lists(s, nlist);
  } else if (h == fourcc("IwRQ")) {
    uint64_t nlist = 0;
    ivf(s, depth, nlist);
    const uint64_t cs = get<uint64_t>("IVF RQ code_size");
    s.code_size = residual_quantizer(s);
    if (cs != s.code_size)
      fail("IVF RQ code_size " + std::to_string(cs) + " is not the quantizer's " +
           std::to_string(s.code_size));
    get_bool("IVF RQ by_residual");
    skip(4, "IVF RQ use_precomputed_table");
    inverted_lists(s, nlist);
  } else if (h == fourcc("IHNf") || h == fourcc("IHNs") || h == fourcc("IHNp")) {
    header(s);
    skip_vector(8, "HNSW assign_probas");
    skip_vector(4, "HNSW cum_nneighbor_per_level");
    skip_vector(4, "HNSW levels");
    skip_vector(8, "HNSW offsets");
    skip_vector(4, "HNSW neighbors");
    skip(20, "HNSW parameters");
    const IndexShape st = index(depth + 1);
    const bool ok = h == fourcc("IHNf")   ? st.fourcc == fourcc("IxF2") || st.fourcc == fourcc("IxFI")
                    : h == fourcc("IHNs") ? st.fourcc == fourcc("IxSQ")
                                          : st.fourcc == fourcc("IxPq") || st.fourcc == fourcc("IxPQ");
    if (!ok || st.d != s.d || st.ntotal != s.ntotal)
      fail("HNSW " + fourcc_text(h) + " over a " + fourcc_text(st.fourcc) + " storage of d=" +
           std::to_string(st.d) + ", ntotal=" + std::to_string(st.ntotal));
    if (h == fourcc("IHNp")) {  // IndexPQ's SDC table: M * ksub^2 floats, made at load
      uint64_t bytes = 0;
      const bool over = !mul_add(st.pq_ksub, st.pq_ksub, 0, bytes) ||
                        !mul_add(bytes, st.pq_M * 4, 0, bytes);
      derived(bytes, over, "the HNSW PQ's SDC table");
    }
  } else if (h == fourcc("IxPT")) {
    header(s);
    const int32_t nt = get<int32_t>("transform count");
    if (nt < 0 || nt > kMaxTransforms)
      fail("a chain of " + std::to_string(nt) + " transforms (0 to " +
           std::to_string(kMaxTransforms) + ")");
    int32_t d = int32_t(s.d);
    for (int32_t i = 0; i < nt; ++i) {
      int32_t d_in = 0, d_out = 0;
      transform(d_in, d_out);
      if (d_in != d)
        fail("transform " + std::to_string(i) + " takes d=" + std::to_string(d_in) + " after d=" +
             std::to_string(d));
      d = d_out;
    }
    const IndexShape sub = index(depth + 1);
    if (sub.d != d || sub.ntotal != s.ntotal)
      fail("the index after the transforms has d=" + std::to_string(sub.d) + ", ntotal=" +
           std::to_string(sub.ntotal) + " (expected d=" + std::to_string(d) + ", ntotal=" +
           std::to_string(s.ntotal) + ")");
  } else {
    EC_THROW(kBadInput,
             name_ << ": " << (depth == 0 ? "not a FAISS index embcomp reads" : "a FAISS index inside it")
                   << ": type " << fourcc_text(h)
                   << " (embcomp reads Flat, SQ, PQ, RQ, IVF over them, HNSW over Flat/SQ/PQ "
                      "and pre-transforms)");
  }
  return s;
}

}  // namespace

uint64_t faiss_derived_cap(uint64_t file_bytes) {
  const uint64_t base = uint64_t{64} << 20;
  return file_bytes > (uint64_t{1} << 50) ? UINT64_MAX : base + 64 * file_bytes;
}

void screen_faiss_index(std::FILE* f, uint64_t size, const std::string& name) {
  Walker w(f, nullptr, size, name, "corrupt FAISS index: ");
  w.index(0);
  w.finish();
}

void screen_faiss_index(const uint8_t* data, size_t size, const std::string& name) {
  Walker w(nullptr, data, size, name, "corrupt FAISS index: ");
  w.index(0);
  w.finish();
}

void screen_faiss_transform(const uint8_t* data, size_t size, const std::string& name,
                            const std::string& spec) {
  Walker w(nullptr, data, size, name, "corrupt " + spec + " model: ");
  int32_t d_in = 0, d_out = 0;
  w.transform(d_in, d_out);
  w.finish();
}

}  // namespace embcomp

#include "index/own_index.h"

#include <faiss/Clustering.h>
#include <faiss/IndexFlat.h>
#include <faiss/impl/FaissException.h>
#include <omp.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>

#include "build_info.h"
#include "compressors/binary.h"
#include "compressors/codec.h"
#include "compressors/int8.h"
#include "compressors/pq.h"
#include "index/checksum.h"
#include "index/faiss_index.h"
#include "index/scan_kernels.h"
#include "index/sidecar.h"
#include "toolkit/error.h"
#include "toolkit/io.h"
#include "toolkit/registry.h"
#include "toolkit/serialize.h"

namespace embcomp {

namespace {

constexpr char kMagic[8] = {'E', 'M', 'B', 'C', 'I', 'D', 'X', '\0'};
using Clock = std::chrono::steady_clock;

template <class T>
size_t vec_bytes(const std::vector<T>& v) {
  return v.empty() ? 0 : v.size() * sizeof(T) + 16;  // + glibc's malloc header
}

/// The registry name that tags a method spec: the entry of its last component.
std::string method_tag(const std::string& method) {
  const auto comma = method.rfind(',');
  return find_method(comma == std::string::npos ? method : method.substr(comma + 1)).name;
}

/// sum_t x[t] * r[t] with eight partial sums, so that the compiler vectorizes it
/// without -ffast-math; the summation order is fixed, so results are deterministic.
float dot8(const float* x, const float* r, size_t d) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t t = 0;
  for (; t + 8 <= d; t += 8)
    for (size_t u = 0; u < 8; ++u) acc[u] += x[t + u] * r[t + u];
  float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; t < d; ++t) s += x[t] * r[t];
  return s;
}

float l2sq8(const float* x, const float* r, size_t d) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  size_t t = 0;
  for (; t + 8 <= d; t += 8)
    for (size_t u = 0; u < 8; ++u) acc[u] += (x[t + u] - r[t + u]) * (x[t + u] - r[t + u]);
  float s = ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]));
  for (; t < d; ++t) s += (x[t] - r[t]) * (x[t] - r[t]);
  return s;
}

/// The asymmetric first stage for binary codes: <x, r> with r_j = bit_j ? +1 : -1 (the
/// rows of BinaryCodec::decode_for_scan), as 2 * sum_{j: bit_j} x_j - sum_j x_j. The
/// first sum comes from a per-query table, lut[b * 256 + v] = sum of x_j over the set
/// bits of byte value v at byte b (bit j at byte j / 8, bit j % 8), so a row costs
/// code_size lookups instead of d multiply-adds.
struct SignLut {
  std::vector<float> lut;  ///< code_size * 256
  float total = 0;         ///< sum_j x_j
  void build(const float* x, size_t d) {
    const size_t cs = (d + 7) / 8;
    lut.assign(cs * 256, 0.0f);
    total = 0;
    for (size_t j = 0; j < d; ++j) total += x[j];
    for (size_t b = 0; b < cs; ++b)
      for (size_t v = 0; v < 256; ++v) {
        float s = 0;
        for (size_t t = 0; t < 8 && b * 8 + t < d; ++t)
          if (v >> t & 1) s += x[b * 8 + t];
        lut[b * 256 + v] = s;
      }
  }
  float score(const uint8_t* code, size_t cs) const {
    float s = 0;
    for (size_t b = 0; b < cs; ++b) s += lut[b * 256 + code[b]];
    return 2 * s - total;
  }
};

constexpr char kChecksumSection[4] = {'C', 'S', 'U', 'M'};
constexpr uint64_t kHeaderBytes = 12;  // magic + version

/// One pass over an own-index file: the checksum64 of every section before "CSUM" (over
/// its name, length and payload), the offset and payload of "CSUM" (the scan stops after
/// it) and the checksum of the file up to there (the whole file, for a valid one: the
/// build id). Section lengths that run past the
/// end of the file are reported as a truncated file.
struct SectionScan {
  std::vector<std::pair<std::string, uint64_t>> sums;
  uint64_t csum_at = 0;    ///< offset of the "CSUM" section, or the file size
  std::vector<char> csum;  ///< its payload
  uint64_t end = 0;        ///< where the scan stopped (after "CSUM")
  uint64_t size = 0;       ///< the file size
  uint64_t file_sum = 0;   ///< checksum64 of bytes [0, end)
};
constexpr uint64_t kMaxChecksumBytes = 1024;

SectionScan scan_sections(const std::string& path, const std::string& what) {
  std::ifstream is(path, std::ios::binary);
  EC_CHECK(is.good(), kBadInput, what << ": cannot open for reading");
  is.seekg(0, std::ios::end);
  const uint64_t size = uint64_t(is.tellg());
  is.seekg(0);
  SectionScan scan;
  Checksum64 whole;
  std::vector<char> buf(1 << 20);
  auto read = [&](char* p, uint64_t bytes, Checksum64* section) {
    is.read(p, std::streamsize(bytes));
    EC_CHECK(is.good(), kBadInput, what << ": read error");
    whole.update(p, bytes);
    if (section) section->update(p, bytes);
  };
  EC_CHECK(size >= kHeaderBytes, kBadInput,
           what << ": not an embcomp index (only " << size << " bytes)");
  read(buf.data(), kHeaderBytes, nullptr);
  uint64_t pos = kHeaderBytes;
  scan.csum_at = size;
  while (pos < size) {
    EC_CHECK(size - pos >= 12, kBadInput,
             what << ": truncated or corrupt file: a section header at offset " << pos);
    char head[12];
    Checksum64 sec;
    read(head, 12, &sec);
    uint64_t len;
    std::memcpy(&len, head + 4, 8);
    pos += 12;
    EC_CHECK(len <= size - pos, kBadInput,
             what << ": truncated or corrupt file: section '" << std::string(head, 4) << "' claims "
                  << len << " bytes, " << size - pos << " are left");
    if (std::memcmp(head, kChecksumSection, 4) == 0) {  // the last section: keep its payload
      EC_CHECK(len <= kMaxChecksumBytes, kBadInput,
               what << ": corrupt file: a checksum section of " << len << " bytes");
      scan.csum_at = pos - 12;
      scan.csum.resize(size_t(len));
      read(scan.csum.data(), len, nullptr);
      pos += len;
      break;
    }
    for (uint64_t left = len; left > 0;) {
      const uint64_t step = std::min<uint64_t>(left, buf.size());
      read(buf.data(), step, &sec);
      left -= step;
    }
    pos += len;
    scan.sums.emplace_back(std::string(head, 4), sec.value());
  }
  scan.end = pos;
  scan.size = size;
  scan.file_sum = whole.value();
  return scan;
}

/// Appends the "CSUM" section to a closed own-index file: u64 count, then per section
/// its 4-byte name and u64 checksum.
void append_checksums(const std::string& tmp_path, const std::string& what) {
  const SectionScan scan = scan_sections(tmp_path, what);
  std::string payload;
  auto put64 = [&](uint64_t v) { payload.append(reinterpret_cast<const char*>(&v), 8); };
  put64(scan.sums.size());
  for (const auto& [name, sum] : scan.sums) {
    payload += name;
    put64(sum);
  }
  std::ofstream os(tmp_path, std::ios::binary | std::ios::app);
  os.write(kChecksumSection, 4);
  const uint64_t len = payload.size();
  os.write(reinterpret_cast<const char*>(&len), 8);
  os.write(payload.data(), std::streamsize(payload.size()));
  os.flush();
  os.close();
  EC_CHECK(!os.fail(), kRuntime, what << ": write failed");
}

/// Checks the "CSUM" section of a file against its sections; returns the build id.
uint64_t verify_checksums(const std::string& path) {
  const SectionScan scan = scan_sections(path, path);
  EC_CHECK(scan.csum_at < scan.size, kBadInput, path << ": corrupt file: no checksum section");
  EC_CHECK(scan.end == scan.size, kBadInput,
           path << ": " << scan.size - scan.end << " unexpected bytes after the index");
  const std::vector<char>& c = scan.csum;
  uint64_t count = 0;
  if (c.size() >= 8) std::memcpy(&count, c.data(), 8);
  EC_CHECK(c.size() >= 8 && count == scan.sums.size() && c.size() == 8 + 12 * count, kBadInput,
           path << ": corrupt file: " << count << " section checksums for " << scan.sums.size()
                << " sections");
  for (size_t i = 0; i < scan.sums.size(); ++i) {
    const char* e = c.data() + 8 + 12 * i;
    uint64_t want;
    std::memcpy(&want, e + 4, 8);
    const auto& [name, sum] = scan.sums[i];
    EC_CHECK(std::string(e, 4) == name && want == sum, kBadInput,
             path << ": corrupt file: checksum mismatch in section '" << name << "'");
  }
  return scan.file_sum;
}

bool own_structure(const std::string& structure) {
  check_structure_text(structure);
  return structure == "Flat" || std::regex_match(structure, std::regex("IVF[0-9]+"));
}

}  // namespace

IndexKind choose_index_kind(const std::string& method, const std::string& structure) {
  check_spec(method);
  try {
    faiss_factory_string(method, structure);
    return IndexKind::kFaiss;
  } catch (const Error& e) {
    if (e.kind() != ErrorKind::kBadInput) throw;
    EC_CHECK(own_structure(structure), kBadInput,
             e.message() << "; embcomp's own index has only the structures Flat and IVF{nlist}");
    return IndexKind::kOwn;
  }
}

bool is_own_index_file(const std::string& path) {
  std::ifstream is(path, std::ios::binary);
  char m[8] = {};
  return is.read(m, 8) && std::memcmp(m, kMagic, 8) == 0;
}

OwnIndexParams OwnIndexParams::from_structure(const std::string& structure, uint64_t seed) {
  OwnIndexParams p;
  p.seed = seed;
  std::smatch m;
  check_structure_text(structure);
  if (structure == "Flat") return p;
  EC_CHECK(std::regex_match(structure, m, std::regex("IVF([0-9]{1,9})")), kBadInput,
           "index structure '" << structure << "': embcomp's own index is Flat or IVF{nlist}");
  p.nlist = std::stoul(m[1]);
  EC_CHECK(p.nlist >= 1, kBadInput, "index structure '" << structure << "': nlist must be >= 1");
  return p;
}

OwnIndex OwnIndex::build(MatrixView<float> base, Metric metric, const std::string& method,
                         const std::string& structure, uint64_t seed, bool verbose) {
  const OwnIndexParams p = OwnIndexParams::from_structure(structure, seed);
  EC_CHECK(p.nlist <= base.n, kBadInput,
           structure << ": nlist=" << p.nlist << " exceeds the " << base.n << " rows");
  if (p.nlist > 0) check_distance_range(structure, base);  // coarse k-means in float
  OwnIndex idx;
  idx.method_ = method;
  idx.structure_ = structure;
  idx.metric_ = metric;
  idx.seed_ = seed;
  idx.nlist_ = p.nlist;
  idx.table_ = make_table(method, base.n, base.d, seed);
  if (verbose) std::cerr << "[build] own index " << structure << " over " << method << ": compressing\n";
  const auto t0 = Clock::now();
  idx.table_->compress(base);
  const auto t1 = Clock::now();
  double train_q_s = 0;
  if (p.nlist > 0) {
    if (verbose) std::cerr << "[build] coarse k-means, nlist=" << p.nlist << "\n";
    faiss::ClusteringParameters cp;
    cp.niter = p.kmeans_niter;
    cp.seed = int(seed & 0x7fffffff);
    quiet_kmeans(cp);  // nlist close to n / 39 is a legitimate choice on small corpora
    faiss::Clustering clus(int(base.d), int(p.nlist), cp);
    std::unique_ptr<faiss::IndexFlat> assign;
    if (idx.search_metric() == Metric::kL2) assign = std::make_unique<faiss::IndexFlatL2>(base.d);
    else assign = std::make_unique<faiss::IndexFlatIP>(base.d);
    try {
      clus.train(faiss::Index::idx_t(base.n), base.data, *assign);
    } catch (const faiss::FaissException& e) {
      EC_THROW(kBadInput, structure << ": coarse k-means failed: " << e.msg);
    }
    idx.centroids_ = FloatMatrix(p.nlist, base.d);
    std::copy(clus.centroids.begin(), clus.centroids.end(), idx.centroids_.values.begin());
    train_q_s = std::chrono::duration<double>(Clock::now() - t1).count();
    // Each row goes to its best centroid by the search metric; lists ascending by id.
    KnnResult a = exact_knn(idx.centroids_.view(), base, 1, idx.search_metric());
    idx.offsets_.assign(p.nlist + 1, 0);
    for (size_t i = 0; i < base.n; ++i) ++idx.offsets_[size_t(a.ids[i]) + 1];
    for (size_t l = 0; l < p.nlist; ++l) idx.offsets_[l + 1] += idx.offsets_[l];
    idx.ids_.assign(base.n, -1);
    std::vector<uint64_t> fill(idx.offsets_.begin(), idx.offsets_.end() - 1);
    for (size_t i = 0; i < base.n; ++i) idx.ids_[fill[size_t(a.ids[i])]++] = int64_t(i);
  }
  const auto t2 = Clock::now();
  idx.meta["format"] = "embcomp-index-meta";
  idx.meta["version"] = kSidecarVersion;
  idx.meta["kind"] = "embcomp";
  idx.meta["index_format_version"] = kOwnIndexVersion;
  idx.meta["method"] = method;
  idx.meta["structure"] = structure;
  idx.meta["metric"] = metric_name(metric);
  idx.meta["n"] = base.n;
  idx.meta["d"] = base.d;
  idx.meta["seed"] = seed;
  idx.meta["train_s"] = std::chrono::duration<double>(t1 - t0).count() + train_q_s;
  idx.meta["add_s"] = std::chrono::duration<double>(t2 - t1).count() - train_q_s;
  idx.meta["ram_bytes"] = idx.predicted_bytes();
  idx.meta["embcomp_version"] = EMBCOMP_VERSION;
  idx.meta["git_commit"] = EMBCOMP_GIT_COMMIT;
  return idx;
}

size_t OwnIndex::predicted_bytes() const {
  return table_->total_bytes() + vec_bytes(centroids_.values) + vec_bytes(offsets_) +
         vec_bytes(ids_);
}

void OwnIndex::write(const std::string& tmp_path, const std::string& what) const {
  {
    BinaryWriter w(tmp_path, what);
    w.put_bytes(kMagic, 8);
    w.put_u32(kOwnIndexVersion);
    w.begin_section("HEAD");
    w.put_string(method_tag(method_));
    w.put_string(method_);
    w.put_string(structure_);
    w.put_string(metric_name(metric_));
    w.put_u64(seed_);
    w.put_u64(n());
    w.put_u64(d());
    w.put_u64(table_->codec() ? table_->codec()->code_size() : 0);
    w.put_u64(nlist_);
    w.end_section();
    w.begin_section("MODL");
    table_->save(w);
    w.end_section();
    w.begin_section("CENT");
    w.put_vector(centroids_.values);
    w.end_section();
    w.begin_section("LIST");
    w.put_vector(offsets_);
    w.put_vector(ids_);
    w.end_section();
    w.close();
  }
  append_checksums(tmp_path, what);
}

void OwnIndex::save(const std::string& path) const {
  AtomicFile file(path);
  write(file.write_path(), path);
  const uint64_t build_id = file_checksum64(file.write_path());
  AtomicFile meta_file(sidecar_path(path));
  write_sidecar(meta_file.write_path(), sidecar_path(path), meta, build_id);
  // The sidecar first, the index last (as build and save_index): a kill in between leaves
  // a sidecar whose build id does not match the old index, which load() refuses, or no
  // index at all.
  meta_file.commit();
  file.commit();
}

OwnIndex OwnIndex::load(const std::string& path) {
  OwnIndex idx;
  {
    BinaryReader r(path, path);
    char magic[8] = {};
    EC_CHECK(r.size() >= kHeaderBytes, kBadInput,
             path << ": not an embcomp index (only " << r.size() << " bytes)");
    r.get_bytes(magic, 8);
    EC_CHECK(std::memcmp(magic, kMagic, 8) == 0, kBadInput,
             path << ": not an embcomp index (wrong magic bytes)");
    const uint32_t version = r.get_u32();
    EC_CHECK(version <= kOwnIndexVersion, kBadInput,
             path << ": written by a newer embcomp (index format version " << version
                  << "; this build reads version " << kOwnIndexVersion << ")");
    EC_CHECK(version >= 1, kBadInput, path << ": corrupt header (format version 0)");
    EC_CHECK(version == kOwnIndexVersion, kBadInput,
             path << ": written by an older embcomp (index format version " << version
                  << ", without section checksums; this build reads version " << kOwnIndexVersion
                  << "): rebuild the index");
  }
  // Every section's checksum before any of them is interpreted.
  idx.build_id_ = verify_checksums(path);
  BinaryReader r(path, path);
  char skip[kHeaderBytes];
  r.get_bytes(skip, kHeaderBytes);
  r.begin_section("HEAD");
  const std::string tag = r.get_string(256);
  idx.method_ = r.get_string();
  idx.structure_ = r.get_string(256);
  idx.metric_ = parse_metric(r.get_string(64));
  idx.seed_ = r.get_u64();
  const size_t n = r.get_u64(), d = r.get_u64(), code_size = r.get_u64();
  idx.nlist_ = r.get_u64();
  r.end_section();
  // n bounds the work make_table does before the model is read (TT factors n): no index
  // holds more rows than kMaxIndexRows, and an IVF index stores an 8-byte id per row.
  EC_CHECK(n >= 1 && n <= kMaxIndexRows && d >= 1 && d <= (size_t{1} << 20) && idx.nlist_ <= n &&
               (idx.nlist_ == 0 || n <= r.size() / 8),
           kBadInput,
           path << ": corrupt header (n=" << n << ", d=" << d << ", nlist=" << idx.nlist_ << ")");
  EC_CHECK(method_tag(idx.method_) == tag, kBadInput,
           path << ": corrupt header: tag '" << tag << "' does not match method " << idx.method_);
  const OwnIndexParams p = OwnIndexParams::from_structure(idx.structure_, idx.seed_);
  EC_CHECK(p.nlist == idx.nlist_, kBadInput,
           path << ": corrupt header: structure " << idx.structure_ << " but nlist=" << idx.nlist_);
  idx.table_ = make_table(idx.method_, n, d, idx.seed_);
  EC_CHECK(!idx.table_->codec() || idx.table_->codec()->code_size() == code_size, kBadInput,
           path << ": corrupt header: code_size " << code_size << " for " << idx.method_);
  r.begin_section("MODL");
  idx.table_->load(r);
  r.end_section();
  EC_CHECK(idx.table_->n() == n && idx.table_->d() == d, kBadInput,
           path << ": corrupt model: it holds " << idx.table_->n() << " rows, the header says " << n);
  r.begin_section("CENT");
  idx.centroids_.values = r.get_vector<float>(checked_mul(idx.nlist_, d));
  idx.centroids_.n = idx.nlist_;
  idx.centroids_.d = d;
  r.end_section();
  r.begin_section("LIST");
  idx.offsets_ = r.get_vector<uint64_t>(idx.nlist_ ? idx.nlist_ + 1 : 0);
  idx.ids_ = r.get_vector<int64_t>(idx.nlist_ ? n : 0);
  r.end_section();
  EC_CHECK(r.begin_section(kChecksumSection) == r.size() - r.position(), kBadInput,
           path << ": corrupt file: the checksum section is not last");
  if (idx.nlist_ > 0) {
    EC_CHECK(idx.offsets_.front() == 0 && idx.offsets_.back() == n &&
                 std::is_sorted(idx.offsets_.begin(), idx.offsets_.end()),
             kBadInput, path << ": corrupt inverted lists (offsets)");
    // The lists partition the rows: each id once (a repeated id would return a row twice
    // and leave another unreachable).
    std::vector<bool> seen(n, false);
    for (int64_t id : idx.ids_) {
      EC_CHECK(id >= 0 && size_t(id) < n, kBadInput,
               path << ": corrupt inverted lists: row id " << id << " outside [0, " << n << ")");
      EC_CHECK(!seen[size_t(id)], kBadInput,
               path << ": corrupt inverted lists: row id " << id << " is listed twice");
      seen[size_t(id)] = true;
    }
  }
  SidecarExpect expect;
  expect.build_id = idx.build_id_;
  expect.n = n;
  expect.d = d;
  expect.metric = metric_name(idx.metric_);
  if (!read_sidecar(path, expect, idx.meta)) {
    idx.meta["kind"] = "embcomp";
    idx.meta["method"] = idx.method_;
    idx.meta["structure"] = idx.structure_;
    idx.meta["metric"] = metric_name(idx.metric_);
    idx.meta["n"] = n;
    idx.meta["d"] = d;
  }
  return idx;
}

void OwnIndex::set_params(const std::string& params) {
  if (params.empty()) return;
  std::stringstream ss(params);
  std::string kv;
  while (std::getline(ss, kv, ',')) {
    const auto eq = kv.find('=');
    EC_CHECK(eq != std::string::npos, kBadInput, "--params: '" << kv << "' is not name=value");
    const std::string name = kv.substr(0, eq), value = kv.substr(eq + 1);
    EC_CHECK(name != "efSearch", kBadInput,
             "--params: efSearch is an HNSW parameter; this embcomp " << structure_
                                                                       << " index has only nprobe");
    EC_CHECK(name == "nprobe", kBadInput,
             "--params: this embcomp " << structure_ << " index has no parameter '" << name
                                       << "' (it has " << (nlist_ ? "nprobe" : "none") << ")");
    EC_CHECK(nlist_ > 0, kBadInput, "--params: nprobe needs an IVF index; this one is Flat");
    size_t v = 0;  // digits only, the whole text: "-5" must not wrap around
    const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
    EC_CHECK(!value.empty() && ec == std::errc() && end == value.data() + value.size(), kBadInput,
             "--params: '" << kv << "' is not an integer");
    EC_CHECK(v >= 1 && v <= nlist_, kBadInput,
             "--params: nprobe=" << v << " must be in [1, nlist=" << nlist_ << "]");
    nprobe_ = v;
  }
}

KnnResult OwnIndex::search(MatrixView<float> queries, size_t k, bool asymmetric) const {
  EC_CHECK(queries.d == d(), kBadInput,
           "queries have d=" << queries.d << " but the index has d=" << d());
  EC_CHECK(k >= 1 && k <= n(), kBadInput, "k=" << k << " must be in [1, n=" << n() << "]");
  const Metric metric = search_metric();
  if (nlist_ == 0) return search_table(*table_, queries, k, metric, 65536, asymmetric);

  const Codec* codec = table_->codec();
  const bool hamming = codec && codec->search_kind() == SearchKind::kHamming;
  const auto* int8 = dynamic_cast<const Int8Codec*>(codec);
  const size_t nprobe = std::min(nprobe_, nlist_), dim = d();
  // Coarse step for all queries at once (BLAS, outside the parallel region below).
  const KnnResult coarse = exact_knn(centroids_.view(), queries, nprobe, metric);
  KnnResult out;
  out.nq = queries.n;
  out.k = k;
  out.ids.assign(checked_mul(queries.n, k), -1);
  out.scores.assign(queries.n * k, 0.0f);
  const ScanMetric sm = metric == Metric::kL2 ? ScanMetric::kL2 : ScanMetric::kInnerProduct;
  // Candidates are ranked by key, larger is better: IP, -L2 or -Hamming.
  // Hamming distance and squared L2 are negated into keys, and back on output. The
  // asymmetric binary scan is an inner product with +-1 rows for IP/angular data and L2 to
  // the decoded rows for L2 data (as in search_table).
  const bool negate = (hamming && !asymmetric) || metric == Metric::kL2;
  const bool sign_scan = hamming && asymmetric && metric != Metric::kL2 &&
                         dynamic_cast<const BinaryCodec*>(codec);
  OmpExceptionGuard guard;
#pragma omp parallel
  {
    std::vector<std::pair<float, int64_t>> cand;
    std::vector<float> rows;
    std::vector<uint8_t> gathered, qcode(codec ? codec->code_size() : 0);
    std::vector<int64_t> top_ids(k);
    std::vector<float> top_scores(k);
    std::vector<int32_t> top_dist(k);
    SignLut sign_lut;
#pragma omp for schedule(dynamic, 4)
    for (size_t q = 0; q < queries.n; ++q) {
      guard.run([&] {
        const float* x = queries.row(q);
        cand.clear();
        if (hamming && !asymmetric) codec->encode({x, 1, dim}, qcode.data());
        if (sign_scan) sign_lut.build(x, dim);
        for (size_t p = 0; p < nprobe; ++p) {
          const int64_t l = coarse.ids[q * nprobe + p];
          if (l < 0) continue;
          const size_t begin = offsets_[size_t(l)], cnt = offsets_[size_t(l) + 1] - begin;
          if (cnt == 0) continue;
          const int64_t* lid = ids_.data() + begin;
          if (codec && (hamming || int8)) {  // gather the list's codes for the kernels
            const size_t cs = codec->code_size();
            gathered.resize(cnt * cs);
            for (size_t i = 0; i < cnt; ++i)
              std::memcpy(&gathered[i * cs], table_->codes() + size_t(lid[i]) * cs, cs);
            const size_t kk = std::min(k, cnt);
            if (hamming && !asymmetric) {
              scan_binary_topk(qcode.data(), 1, gathered.data(), cnt, cs, kk, top_ids.data(),
                               top_dist.data());
              for (size_t j = 0; j < kk; ++j) cand.emplace_back(-float(top_dist[j]), lid[top_ids[j]]);
            } else if (int8) {
              scan_int8_topk(x, 1, reinterpret_cast<const int8_t*>(gathered.data()), cnt, dim,
                             int8->scales().data(), sm, kk, top_ids.data(), top_scores.data());
              for (size_t j = 0; j < kk; ++j)
                cand.emplace_back(negate ? -top_scores[j] : top_scores[j], lid[top_ids[j]]);
            } else if (sign_scan) {  // asymmetric binary: +-1 rows, by table
              for (size_t i = 0; i < cnt; ++i)
                cand.emplace_back(sign_lut.score(&gathered[i * cs], cs), lid[i]);
            } else if (metric == Metric::kL2) {  // asymmetric binary, L2: decoded rows
              rows.resize(cnt * dim);
              codec->decode(gathered.data(), cnt, rows.data());
              for (size_t i = 0; i < cnt; ++i) cand.emplace_back(-l2sq8(x, &rows[i * dim], dim), lid[i]);
            } else {  // asymmetric, binary codes behind transforms: +-1 rows, IP
              rows.resize(cnt * dim);
              codec->decode_for_scan(gathered.data(), cnt, rows.data());
              for (size_t i = 0; i < cnt; ++i) cand.emplace_back(dot8(x, &rows[i * dim], dim), lid[i]);
            }
            continue;
          }
          rows.resize(cnt * dim);
          table_->decode_rows(lid, cnt, rows.data());
          for (size_t i = 0; i < cnt; ++i) {
            const float* r = rows.data() + i * dim;
            cand.emplace_back(metric == Metric::kL2 ? -l2sq8(x, r, dim) : dot8(x, r, dim), lid[i]);
          }
        }
        const size_t keep = std::min(k, cand.size());
        std::partial_sort(cand.begin(), cand.begin() + keep, cand.end(), [](const auto& a, const auto& b) {
          return a.first != b.first ? a.first > b.first : a.second < b.second;
        });
        for (size_t j = 0; j < keep; ++j) {
          out.ids[q * k + j] = cand[j].second;
          out.scores[q * k + j] = negate ? -cand[j].first : cand[j].first;
        }
      });
    }
  }
  guard.rethrow();
  return out;
}

}  // namespace embcomp

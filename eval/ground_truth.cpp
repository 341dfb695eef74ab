#include "eval/ground_truth.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "eval/knn.h"
#include "toolkit/error.h"
#include "toolkit/hash.h"
#include "toolkit/io.h"
#include "toolkit/random.h"
#include "toolkit/serialize.h"

namespace embcomp {

namespace {

constexpr char kMagic[8] = {'E', 'C', 'G', 'T', 'C', 'A', 'C', 'H'};
/// Queries re-computed by exact search before a cache is trusted: this many chosen by the
/// data's hash (the same every run), and as many more drawn at random among the others each
/// run, so that a forged cache cannot know which of its rows will be checked.
constexpr size_t kVerifiedQueries = 4;

uint64_t fnv1a(const void* data, size_t bytes, uint64_t h) {
  const auto* p = static_cast<const uint8_t*>(data);
  for (size_t i = 0; i < bytes; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
  return h;
}

std::string cache_root() {
  if (const char* env = std::getenv("EMBCOMP_CACHE"); env && *env) return env;
  const char* home = std::getenv("HOME");
  return std::string(home ? home : "/tmp") + "/.cache/embcomp";
}

/// Whether this process may create files in dir (permissions, read-only file system),
/// asked without creating one: a probe file of a predictable name was opened through a
/// symlink planted at that name, emptying its target (reliability #6). access(2), not
/// faccessat(AT_EACCESS): glibc tries faccessat2 for that, which older container seccomp
/// profiles refuse with EPERM (the folder would always look read-only).
bool dir_writable(const std::filesystem::path& dir) {
  return ::access(dir.c_str(), W_OK | X_OK) == 0;
}

std::string cache_file_name(const Dataset& ds, size_t k) {
  char hash[17];
  std::snprintf(hash, sizeof(hash), "%016llx", static_cast<unsigned long long>(dataset_hash(ds)));
  return std::filesystem::path(ds.base_path).filename().string() + "." + hash + ".gt-" +
         metric_name(ds.metric) + "-top" + std::to_string(k) + ".gtcache";
}

/// Exact score of base row x for query q, in double: squared L2 or inner product.
double exact_score(bool l2, const float* q, const float* x, size_t d) {
  double s = 0;
  for (size_t j = 0; j < d; ++j)
    s += l2 ? (double(q[j]) - x[j]) * (double(q[j]) - x[j]) : double(q[j]) * x[j];
  return s;
}

/// Throws kBadInput unless the cached row of query qi holds the exact top-k scores
/// (compared as sorted score lists, so that ties may be broken either way). The
/// tolerance follows the float32 error of the BLAS search that wrote the cache, which
/// scales with the norms (|q|^2 + |x|^2 for L2, |q| |x| for inner product).
void verify_query(const Dataset& ds, const IdMatrix& gt, size_t qi, double max_x2,
                  const std::string& what) {
  const size_t n = ds.base.n, d = ds.base.d, k = gt.d;
  const float* q = ds.queries.row(qi);
  const bool l2 = ds.search_metric() == Metric::kL2;
  std::vector<double> all(n);
  for (size_t i = 0; i < n; ++i) all[i] = exact_score(l2, q, ds.base.row(i), d);
  const double q2 = exact_score(false, q, q, d);
  const double tol = 1e-4 * (l2 ? q2 + max_x2 : std::sqrt(q2 * max_x2)) + 1e-30;
  auto better = [l2](double a, double b) { return l2 ? a < b : a > b; };
  std::partial_sort(all.begin(), all.begin() + long(k), all.end(), better);
  std::vector<double> cached(k);
  for (size_t j = 0; j < k; ++j)
    cached[j] = exact_score(l2, q, ds.base.row(size_t(gt.row(qi)[j])), d);
  std::sort(cached.begin(), cached.end(), better);
  for (size_t j = 0; j < k; ++j)
    EC_CHECK(std::abs(cached[j] - all[j]) <= tol, kBadInput,
             what << ": query " << qi << " does not match exact search (rank " << j + 1
                  << ": cached score " << cached[j] << ", exact " << all[j] << ")");
}

}  // namespace

uint64_t dataset_hash(const Dataset& ds) {
  uint64_t h = 1469598103934665603ull;
  const uint64_t dims[4] = {ds.base.n, ds.base.d, ds.queries.n, uint64_t(ds.metric)};
  h = fnv1a(dims, sizeof(dims), h);
  h = fnv1a(ds.base.data(), ds.base.values.size() * sizeof(float), h);
  h = fnv1a(ds.queries.data(), ds.queries.values.size() * sizeof(float), h);
  return h;
}

std::string ground_truth_cache_path(const Dataset& ds, size_t k) {
  std::filesystem::path dir = std::filesystem::path(ds.base_path).parent_path();
  if (dir.empty()) dir = ".";
  return (dir / cache_file_name(ds, k)).string();
}

void write_ground_truth_cache(const std::string& path, const Dataset& ds, const IdMatrix& gt) {
  std::vector<int32_t> ids(gt.values.size());
  for (size_t i = 0; i < ids.size(); ++i) ids[i] = static_cast<int32_t>(gt.values[i]);
  AtomicFile f(path);
  BinaryWriter w(f.write_path(), path);
  w.put_bytes(kMagic, sizeof(kMagic));
  w.put_u32(kGroundTruthCacheVersion);
  w.put_u64(dataset_hash(ds));
  w.put_string(metric_name(ds.metric));
  w.put_u64(gt.d);
  w.put_u64(ds.base.n);
  w.put_u64(gt.n);
  w.put_vector(ids);
  w.put_u64(fnv1a(ids.data(), ids.size() * sizeof(int32_t), 1469598103934665603ull));
  w.close();
  f.commit();
}

IdMatrix read_ground_truth_cache(const std::string& path, const Dataset& ds, size_t k) {
  const std::string what = "ground-truth cache " + path;
  BinaryReader r(path, what);
  char magic[sizeof(kMagic)];
  r.get_bytes(magic, sizeof(magic));
  EC_CHECK(std::memcmp(magic, kMagic, sizeof(kMagic)) == 0, kBadInput,
           what << ": not a cache file");
  const uint32_t version = r.get_u32();
  EC_CHECK(version == kGroundTruthCacheVersion, kBadInput,
           what << ": format version " << version << ", expected " << kGroundTruthCacheVersion);
  const uint64_t hash = r.get_u64();
  const std::string metric = r.get_string(64);
  const uint64_t kk = r.get_u64(), n = r.get_u64(), nq = r.get_u64();
  EC_CHECK(hash == dataset_hash(ds) && metric == metric_name(ds.metric) && kk == k &&
               n == ds.base.n && nq == ds.queries.n,
           kBadInput,
           what << ": written for another dataset or k (hash, metric " << metric << ", k " << kk
                << ", n " << n << ", nq " << nq << ")");
  const auto ids = r.get_vector<int32_t>(checked_mul(nq, kk));
  const uint64_t sum = r.get_u64();
  EC_CHECK(r.position() == r.size(), kBadInput, what << ": trailing bytes");
  EC_CHECK(sum == fnv1a(ids.data(), ids.size() * sizeof(int32_t), 1469598103934665603ull),
           kBadInput, what << ": checksum mismatch");
  IdMatrix gt(nq, kk);
  std::vector<int32_t> row(kk);
  for (size_t q = 0; q < nq; ++q) {
    for (size_t j = 0; j < kk; ++j) {
      const int32_t id = ids[q * kk + j];
      EC_CHECK(id >= 0 && uint64_t(id) < n, kBadInput,
               what << ": query " << q << " holds id " << id << ", outside [0, " << n << ")");
      gt.row(q)[j] = id;
    }
    row.assign(ids.begin() + long(q * kk), ids.begin() + long((q + 1) * kk));
    std::sort(row.begin(), row.end());
    EC_CHECK(std::adjacent_find(row.begin(), row.end()) == row.end(), kBadInput,
             what << ": query " << q << " lists an id twice");
  }
  // A few queries re-computed by exact search: kVerifiedQueries chosen by the dataset hash,
  // then kVerifiedQueries drawn by getrandom(2) among the queries not chosen yet. A cache
  // whose other rows are forged is caught for sure when all of them are, and with
  // probability 1 - (1 - f)^4 (about) when a share f of them is.
  double max_x2 = 0;
  for (size_t i = 0; i < ds.base.n; ++i)
    max_x2 = std::max(max_x2, exact_score(false, ds.base.row(i), ds.base.row(i), ds.base.d));
  std::vector<size_t> chosen;
  for (size_t i = 0; i < std::min(kVerifiedQueries, size_t(nq)); ++i) {
    const size_t q = size_t(splitmix64(hash + i) % nq);  // two draws may name one query
    if (std::find(chosen.begin(), chosen.end(), q) == chosen.end()) chosen.push_back(q);
  }
  std::vector<size_t> others;
  for (size_t q = 0; q < nq; ++q)
    if (std::find(chosen.begin(), chosen.end(), q) == chosen.end()) others.push_back(q);
  for (size_t i = 0; i < kVerifiedQueries && !others.empty(); ++i) {
    const size_t j = size_t(random_u64() % others.size());
    chosen.push_back(others[j]);
    others[j] = others.back();
    others.pop_back();
  }
  for (const size_t q : chosen) verify_query(ds, gt, q, max_x2, what);
  return gt;
}

bool ensure_ground_truth(Dataset& ds, size_t k, bool verbose) {
  EC_CHECK(k >= 1 && k <= ds.base.n, kBadInput,
           "--k " << k << " must be in [1, " << ds.base.n << "] (the base has " << ds.base.n
                  << " rows)");
  if (ds.gt && ds.gt->d >= k) return false;
  const size_t kk = std::min(ds.base.n, std::max<size_t>(k, 100));
  namespace fs = std::filesystem;
  const fs::path local = ground_truth_cache_path(ds, kk);
  const fs::path candidates[2] = {local, fs::path(cache_root()) / "gt" / local.filename()};
  for (const auto& c : candidates) {
    std::error_code ec;
    if (!fs::exists(c, ec)) continue;
    try {
      IdMatrix gt = read_ground_truth_cache(c.string(), ds, kk);
      if (verbose) std::cerr << "[gt] using cached ground truth " << c.string() << "\n";
      ds.gt = std::move(gt);
      return false;
    } catch (const Error& e) {
      // A damaged or foreign cache costs a recomputation, never a wrong recall or a
      // failing run.
      if (verbose) std::cerr << "[gt] ignoring " << e.message() << "; recomputing\n";
    }
  }
  if (verbose) {
    std::cerr << "[gt] computing exact top-" << kk << " for " << ds.queries.n << " queries over "
              << ds.base.n << " x " << ds.base.d << " (" << metric_name(ds.metric) << ")\n";
  }
  auto t0 = std::chrono::steady_clock::now();
  KnnResult r = exact_knn(ds.base.view(), ds.queries.view(), kk, ds.search_metric());
  IdMatrix gt(ds.queries.n, kk);
  gt.values = std::move(r.ids);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  // Beside the data when that folder looks writable, else (or when writing there fails:
  // a full disk, a security module) in the cache folder.
  std::vector<fs::path> targets{candidates[1]};
  if (dir_writable(local.parent_path())) targets.insert(targets.begin(), candidates[0]);
  std::string why_not;
  for (const fs::path& target : targets) {
    std::error_code ec;
    fs::create_directories(target.parent_path(), ec);
    try {
      write_ground_truth_cache(target.string(), ds, gt);
      if (verbose) std::cerr << "[gt] done in " << secs << " s, cached in " << target.string() << "\n";
      why_not.clear();
      break;
    } catch (const Error& e) {
      why_not = e.message();
    }
  }
  if (verbose && !why_not.empty())
    std::cerr << "[gt] done in " << secs << " s (not cached: " << one_line(why_not) << ")\n";
  ds.gt = std::move(gt);
  return true;
}

}  // namespace embcomp

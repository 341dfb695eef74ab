#include "eval/ground_truth.h"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>

#include <unistd.h>

#include "eval/knn.h"
#include "toolkit/error.h"
#include "toolkit/io.h"

namespace embcomp {

namespace {
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

bool dir_writable(const std::filesystem::path& dir) {
  std::error_code ec;
  auto probe = dir / (".embcomp_write_probe." + std::to_string(::getpid()));
  FILE* f = std::fopen(probe.c_str(), "wb");
  if (!f) return false;
  std::fclose(f);
  std::filesystem::remove(probe, ec);
  return true;
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

bool ensure_ground_truth(Dataset& ds, size_t k, bool verbose) {
  EC_CHECK(k >= 1 && k <= ds.base.n, kBadInput,
           "--k " << k << " must be in [1, " << ds.base.n << "] (the base has " << ds.base.n
                  << " rows)");
  if (ds.gt && ds.gt->d >= k) return false;
  const size_t kk = std::min(ds.base.n, std::max<size_t>(k, 100));
  char hash[17];
  std::snprintf(hash, sizeof(hash), "%016llx", static_cast<unsigned long long>(dataset_hash(ds)));
  namespace fs = std::filesystem;
  const std::string file = fs::path(ds.base_path).filename().string() + "." + hash + ".gt-" +
                           metric_name(ds.metric) + "-top" + std::to_string(kk) + ".ivecs";
  fs::path dir = fs::path(ds.base_path).parent_path();
  if (dir.empty()) dir = ".";
  const fs::path candidates[2] = {dir / file, fs::path(cache_root()) / "gt" / file};
  for (const auto& c : candidates) {
    std::error_code ec;
    if (fs::exists(c, ec)) {
      IdMatrix gt = read_ids(c.string());
      if (gt.n == ds.queries.n && gt.d == kk) {
        if (verbose) std::cerr << "[gt] using cached ground truth " << c.string() << "\n";
        ds.gt = std::move(gt);
        return false;
      }
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
  fs::path target = dir_writable(dir) ? candidates[0] : candidates[1];
  std::error_code ec;
  fs::create_directories(target.parent_path(), ec);
  try {
    write_ivecs(target.string(), gt.view());
    if (verbose) std::cerr << "[gt] done in " << secs << " s, cached in " << target.string() << "\n";
  } catch (const Error& e) {
    if (verbose) std::cerr << "[gt] done in " << secs << " s (not cached: " << e.message() << ")\n";
  }
  ds.gt = std::move(gt);
  return true;
}

}  // namespace embcomp

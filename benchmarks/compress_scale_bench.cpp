// Scale benchmark for the table compressors (issue 3): generates an n x d float32 table
// with structure (low rank plus noise, seeded), compresses it with one spec, and prints
// one JSON line: seconds, bytes, ratio, peak resident memory and the limit
// input + 2 x output + 1 GiB. Run one spec per process so that peak memory is per method.
//
//   compress_scale_bench --n 1000000 --d 768 --spec SVD@0.1 [--rank 64] [--noise 0.1]
#include <omp.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <nlohmann/json.hpp>
#include <random>
#include <string>

#include "build_info.h"
#include "toolkit/blas.h"
#include "toolkit/error.h"
#include "toolkit/registry.h"

using namespace embcomp;

namespace {
size_t peak_rss_bytes() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return size_t(ru.ru_maxrss) * 1024;
}

/// x = z B + noise, z ~ N(0,1)^(n x rank), B ~ N(0,1)^(rank x d) / sqrt(rank).
FloatMatrix generate(size_t n, size_t d, size_t rank, float noise, uint64_t seed) {
  FloatMatrix x(n, d);
  std::vector<float> basis(rank * d);
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  for (auto& b : basis) b = g(rng) / std::sqrt(float(rank));
  const size_t block = 16384, nblocks = (n + block - 1) / block;
#pragma omp parallel for schedule(static)
  for (size_t b = 0; b < nblocks; ++b) {
    std::mt19937_64 r(seed * 7919 + b);
    std::normal_distribution<float> gb(0.0f, 1.0f);
    const size_t i0 = b * block, nb = std::min(block, n - i0);
    std::vector<float> z(nb * rank);
    for (auto& v : z) v = gb(r);
    matmul(z.data(), basis.data(), x.row(i0), nb, rank, d);
    for (size_t i = 0; i < nb * d; ++i) x.row(i0)[i] += noise * gb(r);
  }
  return x;
}
}  // namespace

int main(int argc, char** argv) {
  size_t n = 1000000, d = 768, rank = 64;
  float noise = 0.1f;
  uint64_t seed = 1;
  std::string spec = "SVD@0.1";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i], v = argv[i + 1];
    if (a == "--n") n = std::stoul(v);
    else if (a == "--d") d = std::stoul(v);
    else if (a == "--rank") rank = std::stoul(v);
    else if (a == "--noise") noise = std::stof(v);
    else if (a == "--seed") seed = std::stoull(v);
    else if (a == "--spec") spec = v;
    else {
      std::cerr << "unknown option " << a << "\n";
      return 2;
    }
  }
  try {
    auto t0 = std::chrono::steady_clock::now();
    FloatMatrix x = generate(n, d, rank, noise, seed);
    const double gen_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const size_t rss_before = peak_rss_bytes();
    auto table = make_table(spec, n, d, seed);
    t0 = std::chrono::steady_clock::now();
    table->compress(x.view());
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    table->finish_budget();
    // Reconstruction error on every 97th row.
    double se = 0, ss = 0;
    std::vector<float> row(d);
    for (size_t i = 0; i < n; i += 97) {
      const int64_t id = int64_t(i);
      table->decode_rows(&id, 1, row.data());
      for (size_t j = 0; j < d; ++j) {
        se += (double(row[j]) - x.row(i)[j]) * (row[j] - x.row(i)[j]);
        ss += double(x.row(i)[j]) * x.row(i)[j];
      }
    }
    const size_t input = n * d * 4, out = table->total_bytes();
    const size_t limit = input + 2 * out + (size_t(1) << 30);
    nlohmann::ordered_json r;
    r["spec"] = spec;
    r["knob"] = table->knob();
    r["n"] = n;
    r["d"] = d;
    r["seconds"] = secs;
    r["train_s"] = table->train_seconds();
    r["encode_s"] = table->encode_seconds();
    r["total_bytes"] = out;
    r["ratio"] = double(out) / double(input);
    r["budget_note"] = table->budget_note();
    r["relative_mse"] = se / ss;
    r["peak_rss_bytes"] = peak_rss_bytes();
    r["rss_after_generate_bytes"] = rss_before;
    r["limit_bytes"] = limit;
    r["within_limit"] = peak_rss_bytes() <= limit;
    r["generate_s"] = gen_s;
    r["threads"] = omp_get_max_threads();
    r["build_type"] = EMBCOMP_BUILD_TYPE;
    r["git_commit"] = EMBCOMP_GIT_COMMIT;
    std::cout << r.dump() << std::endl;
  } catch (const Error& e) {
    std::cerr << "compress_scale_bench: " << e.message() << "\n";
    return exit_code(e.kind());
  }
  return 0;
}

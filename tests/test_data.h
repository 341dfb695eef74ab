// Seeded, structured test data shared by the test suite (never std::random_device).
#pragma once

#include <cstdint>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "compressors/table_compressor.h"
#include "toolkit/matrix.h"

namespace embcomp::testing {

/// n x d matrix of low intrinsic dimension: x = z * B + noise, z ~ N(0, 1)^rank,
/// B ~ N(0, 1)^(rank x d) / sqrt(rank), noise ~ N(0, noise^2). Deterministic in seed.
FloatMatrix low_rank(size_t n, size_t d, size_t rank, float noise, uint64_t seed);

/// low_rank(n, d, rank, 0.05, seed) with each row scaled by exp(N(0, 0.5^2)): norms spread
/// over about e^{+-1}, like trained embeddings of frequent and rare ids.
FloatMatrix spread_norms(size_t n, size_t d, size_t rank, uint64_t seed);

/// make_table(spec, x.n, x.d, seed), compressed on x and fully decoded (n * d floats):
/// the determinism checks compare two of these.
std::vector<float> compress_and_decode(const std::string& spec, const FloatMatrix& x,
                                       uint64_t seed);

/// Mean squared error per value of a compressed table's full decoding against x.
double table_mse(const TableCompressor& t, const FloatMatrix& x);

/// Rows scaled to unit L2 norm, in place.
void normalize_rows(FloatMatrix& x);

/// A fresh empty temporary directory for one test (removed by the OS tmp cleaner,
/// named after the test so that parallel ctest runs do not collide).
std::string temp_dir(const std::string& name);

/// Runs f, which must throw embcomp::Error of kind kBadInput, and returns its message
/// (records a test failure and returns "" when f throws nothing or another kind).
std::string bad_input_message(const std::function<void()>& f);

/// The whole content of a file ("" when it cannot be read).
std::string slurp(const std::string& path);

/// Writes bytes to path (replacing it): for tests that patch files.
void write_bytes(const std::string& path, const std::string& bytes);

/// The T stored at byte off of b (memcpy: any alignment).
template <class T>
T pod_at(const std::string& b, size_t off) {
  T v;
  std::memcpy(&v, b.data() + off, sizeof(T));
  return v;
}

/// Stores v at byte off of b.
template <class T>
void set_pod_at(std::string& b, size_t off, T v) {
  std::memcpy(b.data() + off, &v, sizeof(T));
}

/// One run of the embcomp binary under test: exit code, stdout and stderr.
struct CliRun {
  int code = -1;
  std::string out, err;
};

/// Runs `embcomp ARGS` with stdout and stderr captured in files under dir. prefix goes before
/// the binary on the shell command line ("timeout 20", "ulimit -f 1;").
CliRun run_embcomp(const std::string& dir, const std::string& args, const std::string& prefix = "");

}  // namespace embcomp::testing

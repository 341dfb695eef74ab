#include "test_data.h"

#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "build_paths.h"
#include "toolkit/error.h"
#include "toolkit/registry.h"

namespace embcomp::testing {

FloatMatrix low_rank(size_t n, size_t d, size_t rank, float noise, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  std::vector<float> basis(rank * d);
  for (auto& b : basis) b = gauss(rng) / std::sqrt(static_cast<float>(rank));
  FloatMatrix x(n, d);
  std::vector<float> z(rank);
  for (size_t i = 0; i < n; ++i) {
    for (auto& v : z) v = gauss(rng);
    float* xi = x.row(i);
    for (size_t j = 0; j < d; ++j) {
      float s = 0;
      for (size_t r = 0; r < rank; ++r) s += z[r] * basis[r * d + j];
      xi[j] = s + noise * gauss(rng);
    }
  }
  return x;
}

FloatMatrix spread_norms(size_t n, size_t d, size_t rank, uint64_t seed) {
  FloatMatrix x = low_rank(n, d, rank, 0.05f, seed);
  std::mt19937_64 rng(seed + 1);
  std::normal_distribution<float> gauss(0.0f, 0.5f);
  for (size_t i = 0; i < n; ++i) {
    const float s = std::exp(gauss(rng));
    for (size_t j = 0; j < d; ++j) x.row(i)[j] *= s;
  }
  return x;
}

double table_mse(const TableCompressor& t, const FloatMatrix& x) {
  std::vector<float> rec(x.n * x.d);
  t.decode_range(0, x.n, rec.data());
  double s = 0;
  for (size_t i = 0; i < rec.size(); ++i)
    s += (double(rec[i]) - x.values[i]) * (rec[i] - x.values[i]);
  return s / double(rec.size());
}

void normalize_rows(FloatMatrix& x) {
  for (size_t i = 0; i < x.n; ++i) {
    double s = 0;
    for (size_t j = 0; j < x.d; ++j) s += double(x.row(i)[j]) * x.row(i)[j];
    float inv = s > 0 ? float(1.0 / std::sqrt(s)) : 0.0f;
    for (size_t j = 0; j < x.d; ++j) x.row(i)[j] *= inv;
  }
}

std::string temp_dir(const std::string& name) {
  namespace fs = std::filesystem;
  fs::path p =
      fs::temp_directory_path() / ("embcomp_test_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p.string();
}

std::string bad_input_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kBadInput) << e.message();
    return e.message();
  }
  ADD_FAILURE() << "no error thrown";
  return "";
}

std::vector<float> compress_and_decode(const std::string& spec, const FloatMatrix& x,
                                       uint64_t seed) {
  auto t = make_table(spec, x.n, x.d, seed);
  t->compress(x.view());
  std::vector<float> out(x.n * x.d);
  t->decode_range(0, x.n, out.data());
  return out;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream os(path, std::ios::binary | std::ios::trunc);
  os.write(bytes.data(), std::streamsize(bytes.size()));
}

CliRun run_embcomp(const std::string& dir, const std::string& args, const std::string& prefix) {
  const std::string cmd = prefix + " " + std::string(EMBCOMP_BINARY) + " " + args + " >" + dir +
                          "/stdout 2>" + dir + "/stderr";
  const int status = std::system(cmd.c_str());
  CliRun r;
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = slurp(dir + "/stdout");
  r.err = slurp(dir + "/stderr");
  return r;
}

}  // namespace embcomp::testing

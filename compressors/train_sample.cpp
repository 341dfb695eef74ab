#include "compressors/train_sample.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <random>
#include <vector>

namespace embcomp {

FloatMatrix train_sample(MatrixView<float> x, size_t max_rows, uint64_t seed) {
  const size_t n = std::min(x.n, max_rows);
  FloatMatrix out(n, x.d);
  if (n == x.n) {
    std::memcpy(out.data(), x.data, checked_mul(n, x.d) * sizeof(float));
    return out;
  }
  std::vector<size_t> ids(x.n);
  std::iota(ids.begin(), ids.end(), size_t{0});
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i < n; ++i) {  // partial Fisher-Yates
    std::uniform_int_distribution<size_t> pick(i, x.n - 1);
    std::swap(ids[i], ids[pick(rng)]);
  }
  std::sort(ids.begin(), ids.begin() + n);
  for (size_t i = 0; i < n; ++i) std::memcpy(out.row(i), x.row(ids[i]), x.d * sizeof(float));
  return out;
}

}  // namespace embcomp

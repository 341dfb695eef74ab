// Dense row-major matrices: an owning Matrix<T> and a non-owning MatrixView<T>.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include "toolkit/error.h"

namespace embcomp {

/// a * b, throwing instead of wrapping around.
inline size_t checked_mul(size_t a, size_t b) {
  if (a != 0 && b > std::numeric_limits<size_t>::max() / a) {
    EC_THROW(kBadInput, "size overflow: " << a << " * " << b);
  }
  return a * b;
}

/// Non-owning view of n rows of d values, row-major: element (i, j) at data[i * d + j].
template <class T>
struct MatrixView {
  const T* data = nullptr;
  size_t n = 0;
  size_t d = 0;
  const T* row(size_t i) const { return data + i * d; }
};

/// Owning row-major matrix: values holds n * d elements.
template <class T>
struct Matrix {
  size_t n = 0;
  size_t d = 0;
  std::vector<T> values;  ///< n * d elements, row-major

  Matrix() = default;
  Matrix(size_t n_, size_t d_) : n(n_), d(d_), values(checked_mul(n_, d_)) {}
  T* row(size_t i) { return values.data() + i * d; }
  const T* row(size_t i) const { return values.data() + i * d; }
  T* data() { return values.data(); }
  const T* data() const { return values.data(); }
  MatrixView<T> view() const { return {values.data(), n, d}; }
};

using FloatMatrix = Matrix<float>;
using IdMatrix = Matrix<int64_t>;

}  // namespace embcomp

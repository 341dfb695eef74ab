// matmul_rowwise: a row's result is bit-for-bit independent of the batch it is computed in,
// and equals sgemm (toolkit/blas.h) up to float rounding.
#include "toolkit/blas.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

namespace embcomp {
namespace {

TEST(Blas, MatmulRowwiseIsBatchIndependentAndMatchesGemm) {
  const size_t m = 300, k = 37, n = 101;
  std::mt19937_64 rng(3);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> A(m * k), B(k * n);
  for (auto& v : A) v = g(rng);
  for (auto& v : B) v = g(rng);
  std::vector<float> all(m * n), ref(m * n);
  matmul_rowwise(A.data(), B.data(), all.data(), m, k, n);
  matmul(A.data(), B.data(), ref.data(), m, k, n);
  for (size_t i = 0; i < m; i += 7) {
    std::vector<float> one(n, 1.0f);  // accumulate = false must overwrite
    matmul_rowwise(&A[i * k], B.data(), one.data(), 1, k, n);
    ASSERT_EQ(std::memcmp(one.data(), &all[i * n], n * sizeof(float)), 0) << "row " << i;
  }
  for (size_t i = 0; i < m * n; ++i) {
    // |error| of a k-term float dot product: a few k * eps * sum |a_j b_j|; sum |a_j b_j| is
    // about k * E|g|^2 ~ 0.64 k here, so 1e-4 is far above rounding and far below any
    // indexing mistake (entries are O(sqrt(k)) = O(6)).
    ASSERT_NEAR(all[i], ref[i], 1e-4f) << i;
  }
  // accumulate adds onto C.
  std::vector<float> acc(m * n, 2.0f);
  matmul_rowwise(A.data(), B.data(), acc.data(), m, k, n, /*accumulate=*/true);
  for (size_t i = 0; i < m * n; i += 97) EXPECT_NEAR(acc[i], all[i] + 2.0f, 1e-4f);
}

}  // namespace
}  // namespace embcomp

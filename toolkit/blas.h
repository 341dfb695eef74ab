// The one BLAS routine embcomp calls directly (FAISS calls the rest itself).
#pragma once

#include <cstddef>

namespace embcomp {

/// Row-major C (m x n) = A (m x k) * B (k x n) [+ C when accumulate], single-threaded BLAS
/// sgemm; callers parallelize over row blocks of A and C.
void matmul(const float* A, const float* B, float* C, size_t m, size_t k, size_t n,
            bool accumulate = false);

}  // namespace embcomp

#include "toolkit/blas.h"

#include <climits>

#include "toolkit/error.h"

extern "C" int sgemm_(const char* transa, const char* transb, const int* m, const int* n,
                      const int* k, const float* alpha, const float* a, const int* lda,
                      const float* b, const int* ldb, const float* beta, float* c,
                      const int* ldc);

namespace embcomp {

void matmul(const float* A, const float* B, float* C, size_t m, size_t k, size_t n,
            bool accumulate) {
  if (m == 0 || n == 0) return;
  EC_CHECK(m < INT_MAX && n < INT_MAX && k < INT_MAX, kRuntime,
           "matmul: dimensions " << m << " x " << k << " x " << n << " exceed BLAS int range");
  // Row-major C = A B is column-major C^T = B^T A^T.
  const int im = int(n), in = int(m), ik = int(k);
  const float one = 1.0f, beta = accumulate ? 1.0f : 0.0f;
  sgemm_("N", "N", &im, &in, &ik, &one, B, &im, A, &ik, &beta, C, &im);
}

}  // namespace embcomp

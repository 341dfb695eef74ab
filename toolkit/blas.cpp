#include "toolkit/blas.h"

#include <algorithm>
#include <climits>

#include "toolkit/error.h"

extern "C" {
int sgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
           const float* alpha, const float* a, const int* lda, const float* b, const int* ldb,
           const float* beta, float* c, const int* ldc);
void sgelqf_(const int* m, const int* n, float* a, const int* lda, float* tau, float* work,
             const int* lwork, int* info);
void sorglq_(const int* m, const int* n, const int* k, float* a, const int* lda, const float* tau,
             float* work, const int* lwork, int* info);
void sgesdd_(const char* jobz, const int* m, const int* n, float* a, const int* lda, float* s,
             float* u, const int* ldu, float* vt, const int* ldvt, float* work, const int* lwork,
             int* iwork, int* info);
}

namespace embcomp {

namespace {
int to_int(size_t v, const char* what) {
  EC_CHECK(v < size_t(INT_MAX), kRuntime, what << "=" << v << " exceeds the BLAS int range");
  return int(v);
}
}  // namespace

void gemm(bool trans_a, bool trans_b, size_t m, size_t n, size_t k, float alpha, const float* A,
          size_t lda, const float* B, size_t ldb, float beta, float* C, size_t ldc) {
  if (m == 0 || n == 0) return;
  // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands.
  const int im = to_int(n, "n"), in = to_int(m, "m"), ik = to_int(std::max<size_t>(k, 1), "k");
  const int ila = to_int(lda, "lda"), ilb = to_int(ldb, "ldb"), ilc = to_int(ldc, "ldc");
  if (k == 0) {
    for (size_t i = 0; i < m; ++i)
      for (size_t j = 0; j < n; ++j) C[i * ldc + j] *= beta;
    return;
  }
  sgemm_(trans_b ? "T" : "N", trans_a ? "T" : "N", &im, &in, &ik, &alpha, B, &ilb, A, &ila, &beta,
         C, &ilc);
}

void matmul(const float* A, const float* B, float* C, size_t m, size_t k, size_t n,
            bool accumulate) {
  gemm(false, false, m, n, k, 1.0f, A, k, B, n, accumulate ? 1.0f : 0.0f, C, n);
}

void matmul_rowwise(const float* A, const float* B, float* C, size_t m, size_t k, size_t n,
                    bool accumulate) {
#pragma omp parallel for if (m * k * n > (size_t{1} << 22)) schedule(static)
  for (size_t i = 0; i < m; ++i) {
    const float* a = A + i * k;
    float* c = C + i * n;
    if (!accumulate) std::fill(c, c + n, 0.0f);
    for (size_t j = 0; j < k; ++j) {
      const float aj = a[j];
      const float* b = B + j * n;
      for (size_t q = 0; q < n; ++q) c[q] += aj * b[q];
    }
  }
}

void orthonormalize_columns(float* y, size_t n, size_t l) {
  EC_CHECK(n >= l && l > 0, kRuntime, "orthonormalize_columns: need n >= l > 0, got " << n << ", " << l);
  // Row-major y (n x l) is column-major y^T (l x n); its LQ factor Q (l x n, orthonormal
  // rows) read back row-major is the n x l orthonormal basis.
  const int m = to_int(l, "l"), nn = to_int(n, "n");
  std::vector<float> tau(l);
  int info = 0, lwork = -1;
  float wq = 0;
  sgelqf_(&m, &nn, y, &m, tau.data(), &wq, &lwork, &info);
  lwork = std::max(1, int(wq));
  std::vector<float> work(lwork);
  sgelqf_(&m, &nn, y, &m, tau.data(), work.data(), &lwork, &info);
  EC_CHECK(info == 0, kRuntime, "LAPACK sgelqf failed, info=" << info);
  lwork = -1;
  sorglq_(&m, &nn, &m, y, &m, tau.data(), &wq, &lwork, &info);
  lwork = std::max(1, int(wq));
  work.assign(lwork, 0.0f);
  sorglq_(&m, &nn, &m, y, &m, tau.data(), work.data(), &lwork, &info);
  EC_CHECK(info == 0, kRuntime, "LAPACK sorglq failed, info=" << info);
}

void thin_svd(float* a, size_t m, size_t k, std::vector<float>& u, std::vector<float>& s,
              std::vector<float>& vt) {
  // Row-major a (m x k) is column-major a^T (k x m) = U' S V'^T, so a = V' S U'^T:
  // U = V' (m x r) and Vt = U'^T (r x k); column-major U' (k x r, ld k) read row-major
  // is exactly Vt, and column-major V'^T (r x m, ld r) read row-major is U.
  const size_t r = std::min(m, k);
  const int cm = to_int(k, "k"), cn = to_int(m, "m"), ir = to_int(r, "r");
  s.assign(r, 0.0f);
  vt.assign(r * k, 0.0f);  // U' column-major k x r
  u.assign(m * r, 0.0f);   // V'^T column-major r x m
  std::vector<int> iwork(8 * r);
  int info = 0, lwork = -1;
  float wq = 0;
  sgesdd_("S", &cm, &cn, a, &cm, s.data(), vt.data(), &cm, u.data(), &ir, &wq, &lwork,
          iwork.data(), &info);
  lwork = std::max(1, int(wq));
  std::vector<float> work(lwork);
  sgesdd_("S", &cm, &cn, a, &cm, s.data(), vt.data(), &cm, u.data(), &ir, work.data(), &lwork,
          iwork.data(), &info);
  EC_CHECK(info == 0, kRuntime, "LAPACK sgesdd failed, info=" << info);
}

}  // namespace embcomp

// The BLAS/LAPACK routines embcomp calls directly (FAISS calls the rest itself), with
// row-major semantics. BLAS runs single-threaded in embcomp (toolkit/threads.h): callers
// parallelize over row blocks with OpenMP.
#pragma once

#include <cstddef>
#include <vector>

namespace embcomp {

/// Row-major C (m x n) = alpha * op(A) * op(B) + beta * C, op(X) = X or X^T; op(A) is
/// m x k, op(B) is k x n; lda/ldb/ldc are the row lengths of the stored matrices.
void gemm(bool trans_a, bool trans_b, size_t m, size_t n, size_t k, float alpha, const float* A,
          size_t lda, const float* B, size_t ldb, float beta, float* C, size_t ldc);

/// Row-major C (m x n) = A (m x k) * B (k x n) [+ C when accumulate].
void matmul(const float* A, const float* B, float* C, size_t m, size_t k, size_t n,
            bool accumulate = false);

/// Row-major C (m x n) = A (m x k) * B (k x n) [+ C when accumulate], one row of C at a
/// time in a fixed loop order (no BLAS):
///   for i: for j in [0, k): C[i, :] += A[i, j] * B[j, :]
/// so a row's result is bit-for-bit the same whatever m, the batch it comes in and the BLAS
/// kernel (OpenBLAS picks different sgemm kernels per CPU and per m, which made PCA decode
/// differ between decode_rows and decode_range on Haswell/Zen kernels). For decoders, whose
/// contract is batch independence; slower than sgemm for large k and n.
void matmul_rowwise(const float* A, const float* B, float* C, size_t m, size_t k, size_t n,
                    bool accumulate = false);

/// Replaces the row-major n x l matrix y (n >= l) by an orthonormal basis of its column
/// space (Householder QR through LAPACK's LQ of y^T: sgelqf + sorglq).
void orthonormalize_columns(float* y, size_t n, size_t l);

/// Thin SVD of the row-major m x k matrix a (destroyed): a = U diag(s) Vt with
/// U m x r, Vt r x k, r = min(m, k), singular values descending (LAPACK sgesdd).
void thin_svd(float* a, size_t m, size_t k, std::vector<float>& u, std::vector<float>& s,
              std::vector<float>& vt);

}  // namespace embcomp

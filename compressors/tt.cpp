#include "compressors/tt.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "compressors/budget.h"
#include "toolkit/registry.h"
#include "toolkit/serialize.h"

// toolkit/blas.h offers only C = A B on whole matrices; the Gram matrices below need
// transposed operands and sub-matrices (leading dimensions), so this file calls sgemm
// itself (same declaration as toolkit/blas.cpp).
extern "C" int sgemm_(const char* transa, const char* transb, const int* m, const int* n,
                      const int* k, const float* alpha, const float* a, const int* lda,
                      const float* b, const int* ldb, const float* beta, float* c, const int* ldc);
// LAPACK's MRRR symmetric eigensolver. The trailing size_t are gfortran's hidden lengths of
// the three character arguments (omitting them is undefined behaviour with gfortran >= 8).
extern "C" void dsyevr_(const char* jobz, const char* range, const char* uplo, const int* n,
                        double* a, const int* lda, const double* vl, const double* vu,
                        const int* il, const int* iu, const double* abstol, int* m, double* w,
                        double* z, const int* ldz, int* isuppz, double* work, const int* lwork,
                        int* iwork, const int* liwork, int* info, size_t, size_t, size_t);

namespace embcomp {

namespace {

using Clock = std::chrono::steady_clock;

/// Slab buffers hold at most this many floats (64 MB) unless one slab is larger.
constexpr size_t kSlabFloats = size_t{1} << 24;
/// Gram matrices are accumulated in square blocks of this many rows/columns. Fixed (not
/// derived from the thread count) so that the sums, and so the model, do not depend on it.
constexpr size_t kGramBlock = 128;

int as_int(size_t v, const char* what) {
  EC_CHECK(v < size_t(INT_MAX), kRuntime, "TT: " << what << "=" << v << " exceeds BLAS int range");
  return int(v);
}

/// Row-major C (m x n) = op(A) (m x k) * op(B) (k x n), op(X) = X^T when the flag is set;
/// lda, ldb, ldc are the row strides of the matrices as stored. Single-threaded BLAS.
void gemm(bool ta, bool tb, size_t m, size_t n, size_t k, const float* A, size_t lda,
          const float* B, size_t ldb, float* C, size_t ldc) {
  if (m == 0 || n == 0) return;
  if (k == 0) {
    for (size_t i = 0; i < m; ++i) std::fill(C + i * ldc, C + i * ldc + n, 0.0f);
    return;
  }
  // Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T; a row-major matrix is
  // its own transpose read column-major, so the flags pass through unchanged.
  const int im = as_int(n, "n"), in = as_int(m, "m"), ik = as_int(k, "k");
  const int ila = as_int(lda, "lda"), ilb = as_int(ldb, "ldb"), ilc = as_int(ldc, "ldc");
  const float one = 1.0f, zero = 0.0f;
  sgemm_(tb ? "T" : "N", ta ? "T" : "N", &im, &in, &ik, &one, B, &ilb, A, &ila, &zero, C, &ilc);
}

/// gram += A A^T (transpose false; A is rows x cols, gram rows x rows) or A^T A (transpose
/// true; gram cols x cols), A row-major with row stride lda, gram double row-major. Only
/// blocks on or above the diagonal are added; mirror_upper() completes the matrix. Each
/// block is one float GEMM of fixed shape added into double, blocks in parallel.
void add_gram(const float* A, size_t rows, size_t cols, size_t lda, bool transpose, double* gram) {
  const size_t m = transpose ? cols : rows, k = transpose ? rows : cols;
  const size_t nb = (m + kGramBlock - 1) / kGramBlock;
  std::vector<std::pair<size_t, size_t>> pairs;
  for (size_t bi = 0; bi < nb; ++bi)
    for (size_t bj = bi; bj < nb; ++bj) pairs.push_back({bi, bj});
  const int nthreads = omp_get_max_threads();
  std::vector<float> tmp(size_t(nthreads) * kGramBlock * kGramBlock);
  OmpExceptionGuard guard;
#pragma omp parallel for schedule(dynamic, 1)
  for (size_t p = 0; p < pairs.size(); ++p)
    guard.run([&] {
      float* c = tmp.data() + size_t(omp_get_thread_num()) * kGramBlock * kGramBlock;
      const size_t r0 = pairs[p].first * kGramBlock, c0 = pairs[p].second * kGramBlock;
      const size_t bm = std::min(kGramBlock, m - r0), bn = std::min(kGramBlock, m - c0);
      if (transpose) {
        gemm(true, false, bm, bn, k, A + r0, lda, A + c0, lda, c, bn);
      } else {
        gemm(false, true, bm, bn, k, A + r0 * lda, lda, A + c0 * lda, lda, c, bn);
      }
      for (size_t i = 0; i < bm; ++i)
        for (size_t j = 0; j < bn; ++j) gram[(r0 + i) * m + c0 + j] += double(c[i * bn + j]);
    });
  guard.rethrow();
}

void mirror_upper(std::vector<double>& g, size_t m) {
  for (size_t i = 0; i < m; ++i)
    for (size_t j = 0; j < i; ++j) g[i * m + j] = g[j * m + i];
}

/// The r leading eigenvectors of the symmetric m x m matrix a (destroyed), by decreasing
/// eigenvalue, as rows of out (r x m floats). Each is signed so that its entry of largest
/// magnitude is positive (the same model whatever the LAPACK build).
std::vector<float> top_eigenvectors(std::vector<double>& a, size_t m, size_t r) {
  std::vector<float> out(r * m);
  if (r == 0) return out;
  const int n = as_int(m, "m"), il = int(m - r + 1), iu = n;
  const double vl = 0, vu = 0, abstol = 0;
  int found = 0, info = 0, lwork = -1, liwork = -1, iwork_query = 0;
  double work_query = 0;
  std::vector<double> w(m), z(m * r);
  std::vector<int> isuppz(2 * r);
  dsyevr_("V", "I", "U", &n, a.data(), &n, &vl, &vu, &il, &iu, &abstol, &found, w.data(), z.data(),
          &n, isuppz.data(), &work_query, &lwork, &iwork_query, &liwork, &info, 1, 1, 1);
  EC_CHECK(info == 0, kRuntime, "TT: dsyevr workspace query failed, info=" << info);
  lwork = int(work_query);
  liwork = iwork_query;
  std::vector<double> work(static_cast<size_t>(std::max(lwork, 1)));
  std::vector<int> iwork(static_cast<size_t>(std::max(liwork, 1)));
  dsyevr_("V", "I", "U", &n, a.data(), &n, &vl, &vu, &il, &iu, &abstol, &found, w.data(), z.data(),
          &n, isuppz.data(), work.data(), &lwork, iwork.data(), &liwork, &info, 1, 1, 1);
  EC_CHECK(info == 0 && size_t(found) == r, kRuntime,
           "TT: dsyevr failed on a " << m << " x " << m << " Gram matrix, info=" << info
                                     << ", found " << found << " of " << r << " eigenvectors");
  for (size_t q = 0; q < r; ++q) {
    const double* v = z.data() + (r - 1 - q) * m;  // ascending order: the largest is last
    size_t arg = 0;
    for (size_t i = 1; i < m; ++i)
      if (std::abs(v[i]) > std::abs(v[arg])) arg = i;
    const double sign = v[arg] < 0 ? -1.0 : 1.0;
    for (size_t i = 0; i < m; ++i) out[q * m + i] = float(sign * v[i]);
  }
  return out;
}

/// Streams the padded tensor in groups of slabs. Slab k2 = i2 d2 + j2 is the m1 x m3 matrix
///   X[i1 d1 + j1][i3 d3 + j3] = x[(i1 n2 + i2) n3 + i3][(j1 d2 + j2) d3 + j3]  (0 in padding);
/// a group of g slabs k0..k0+g-1 is gathered side by side into buf as an m1 x (g m3)
/// row-major matrix (slab k0 + q at column q m3), i.e. a block of columns of the first
/// unfolding M1 = [X_0 X_1 ... X_{m2-1}].
class SlabReader {
 public:
  SlabReader(MatrixView<float> x, const TtShape& s) : x_(x), s_(s) {
    const size_t slab = s.m(0) * s.m(2);
    group_ = std::clamp<size_t>(kSlabFloats / std::max<size_t>(slab, 1), 1, s.m(1));
    buf_.resize(checked_mul(slab, group_));
  }
  size_t group() const { return group_; }
  const float* data() const { return buf_.data(); }
  /// Gathers slabs [k0, k0 + g); the buffer's row stride is then g m3.
  void gather(size_t k0, size_t g) {
    const size_t n1 = s_.nk[0];
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t t = 0; t < g * n1; ++t)
      gather_rows(k0 + t / n1, t % n1, buf_.data() + (t / n1) * s_.m(2), g * s_.m(2));
  }

 private:
  /// Rows i1 d1 .. i1 d1 + d1 - 1 of slab k2 into dst (row stride ld).
  void gather_rows(size_t k2, size_t i1, float* dst, size_t ld) const {
    const auto& [n1, n2, n3] = s_.nk;
    const auto& [d1, d2, d3] = s_.dk;
    (void)n1;
    const size_t i2 = k2 / d2, j2 = k2 % d2;
    for (size_t j1 = 0; j1 < d1; ++j1) {
      float* out = dst + (i1 * d1 + j1) * ld;
      const size_t c0 = (j1 * d2 + j2) * d3;
      const size_t valid = c0 < s_.d ? std::min(d3, s_.d - c0) : 0;
      for (size_t i3 = 0; i3 < n3; ++i3) {
        const size_t row = (i1 * n2 + i2) * n3 + i3;
        float* o = out + i3 * d3;
        const size_t v = row < s_.n ? valid : 0;
        if (v) std::memcpy(o, x_.row(row) + c0, v * sizeof(float));
        std::fill(o + v, o + d3, 0.0f);
      }
    }
  }

  MatrixView<float> x_;
  const TtShape& s_;
  size_t group_ = 1;
  std::vector<float> buf_;  ///< m1 x (group_ m3) floats, row-major
};

}  // namespace

std::array<size_t, 3> tt_factor(size_t x) {
  EC_CHECK(x >= 1, kBadInput, "TT: cannot factor " << x << " rows or columns");
  EC_CHECK(x <= kMaxTtFactor, kBadInput, "TT: " << x << " is too large to factor (at most 2^40)");
  size_t t = std::max<size_t>(1, size_t(std::llround(std::cbrt(double(x)))));
  while (t * t * t < x) ++t;
  while (t > 1 && (t - 1) * (t - 1) * (t - 1) >= x) --t;
  const size_t lo = (t + 1) / 2, hi = 2 * t;
  std::array<size_t, 3> best{t, t, t};
  size_t best_prod = t * t * t;
  // Candidates a <= b <= c with c = ceil(x / (a b)) in [lo, hi], ranked by the product,
  // then the ratio c / a, then a. Only sorted triples need visiting (the best triple,
  // sorted, is reached with a = its smallest and b = its middle factor, c then being the
  // smallest that reaches x), and one that can tie the best product has a^3 <= a b c <=
  // best_prod and a b^2 <= best_prod; c <= hi needs a b >= x / hi. That keeps the search
  // around the cube root: O(t^2 / 10) steps instead of O(t^2), 2^40 in well under a second.
  for (size_t a = lo; a <= hi && a * a * a <= best_prod; ++a) {
    const size_t b0 = std::max(a, (x + a * hi - 1) / (a * hi));
    for (size_t b = b0; b <= hi && a * b * b <= best_prod; ++b) {
      const size_t c = (x + a * b - 1) / (a * b);
      if (c < lo || c > hi) continue;
      std::array<size_t, 3> f{a, b, c};
      std::sort(f.begin(), f.end());
      const size_t prod = a * b * c;
      // Smallest product, then smallest ratio f[2] / f[0], then smallest f[0].
      const bool better =
          prod < best_prod ||
          (prod == best_prod && (f[2] * best[0] < best[2] * f[0] ||
                                 (f[2] * best[0] == best[2] * f[0] && f[0] < best[0])));
      if (better) {
        best = f;
        best_prod = prod;
      }
    }
  }
  return best;
}

TtShape TtShape::for_table(size_t n, size_t d) {
  TtShape s;
  const auto fn = tt_factor(n), fd = tt_factor(d);
  s.nk = {fn[1], fn[0], fn[2]};
  s.dk = {fd[1], fd[0], fd[2]};
  s.n = n;
  s.d = d;
  return s;
}

std::string TtShape::str() const {
  std::string s;
  for (int k = 0; k < 3; ++k) s += (k ? "x" : "") + std::to_string(nk[k]);
  s += ',';
  for (int k = 0; k < 3; ++k) s += (k ? "x" : "") + std::to_string(dk[k]);
  return s;
}

size_t TtShape::useful_rank() const {
  const size_t r1 = std::min(m(0), m(1) * m(2));
  return std::max(r1, std::min(r1 * m(1), m(2)));
}

size_t tt_bytes(const TtShape& s, size_t R) {
  const size_t outer = checked_mul(s.m(0) + s.m(2), R);
  const size_t middle = checked_mul(checked_mul(s.m(1), R), R);
  return checked_mul(4, outer + middle);
}

void tt_decode_row_ref(const TtShape& s, size_t R, const float* g1, const float* g2,
                       const float* g3, size_t i, float* out) {
  // Plain variables, not structured bindings: clang 14 (the fuzz build) cannot use
  // structured bindings inside OpenMP regions.
  const size_t n1 = s.nk[0], n2 = s.nk[1], n3 = s.nk[2];
  const size_t d1 = s.dk[0], d2 = s.dk[1], d3 = s.dk[2];
  (void)n1;
  const size_t i3 = i % n3, i2 = (i / n3) % n2, i1 = i / (n2 * n3);
  for (size_t j = 0; j < s.d; ++j) {
    const size_t j3 = j % d3, j2 = (j / d3) % d2, j1 = j / (d2 * d3);
    double acc = 0;
    for (size_t r = 0; r < R; ++r)
      for (size_t q = 0; q < R; ++q)
        acc += double(g1[(i1 * d1 + j1) * R + r]) * g2[((i2 * R + r) * d2 + j2) * R + q] *
               g3[(i3 * R + q) * d3 + j3];
    out[j] = float(acc);
  }
}

void TtParams::validate() const {
  EC_CHECK(R >= 1, kBadInput, "TT: rank R=" << R << " must be at least 1");
}

TtTable::TtTable(size_t d, TtParams params, std::string spec, size_t n_expected)
    : d_(d), params_(params), spec_(std::move(spec)), n_expected_(n_expected) {
  params_.validate();
  EC_CHECK(d_ > 0, kBadInput, spec_ << ": dimension must be positive");
  if (n_expected_ > 0) {
    shape_ = TtShape::for_table(n_expected_, d_);
    check_rank(shape_);
  }
}

void TtTable::check_rank(const TtShape& s) const {
  // Ranks above the useful rank are allowed (the cores are zero-padded and TT-SVD stays exact),
  // but not without bound: the middle core holds m2 * R^2 floats, and TT65536 on 1,000 x 16
  // asked for terabytes (catalogue spec_TT65536: std::bad_alloc, exit 1). The useful rank
  // reproduces the table exactly, so a model over 4x the float32 table's bytes only adds zeros.
  const double table_bytes = 4.0 * double(s.m(0)) * double(s.m(1)) * double(s.m(2));
  const double m2 = double(s.m(1)), R = double(rank());
  const double model_bytes = 4.0 * (double(s.m(0) + s.m(2)) * R + m2 * R * R);
  EC_CHECK(rank() <= s.useful_rank() || model_bytes <= 4 * table_bytes, kBadInput,
           spec_ << ": rank R=" << rank() << " makes a model of " << model_bytes
                 << " bytes, over 4x the float32 table (" << table_bytes
                 << " bytes), and ranks above " << s.useful_rank() << " (the useful rank for shape "
                 << s.str() << ") store only zeros");
}

std::string TtTable::knob() const {
  std::string k = "R=" + std::to_string(params_.R);
  if (n_ > 0 || n_expected_ > 0) k += ",shape=" + shape_.str();
  return k;
}

size_t TtTable::total_bytes() const { return n_ == 0 ? 0 : tt_bytes(shape_, rank()); }

void TtTable::compress(MatrixView<float> x) {
  const auto t0 = Clock::now();
  check_train_input(spec_, x, d_, 1);
  EC_CHECK(!budget_ || n_expected_ == 0 || x.n == n_expected_, kBadInput,
           spec_ << ": the rank was solved for n=" << n_expected_ << " rows, got " << x.n);
  const TtShape s = TtShape::for_table(x.n, d_);
  check_rank(s);
  const size_t R = rank(), m1 = s.m(0), m2 = s.m(1), m3 = s.m(2);
  const size_t r1 = std::min(R, m1), r2 = std::min(R, m3);
  SlabReader reader(x, s);
  const size_t G = reader.group();

  // Pass 1: Gram1 = M1 M1^T (m1 x m1) -> U1t: r1 x m1, the top left singular vectors of M1.
  std::vector<double> gram1(checked_mul(m1, m1), 0.0);
  for (size_t k0 = 0; k0 < m2; k0 += G) {
    const size_t g = std::min(G, m2 - k0);
    reader.gather(k0, g);
    add_gram(reader.data(), m1, g * m3, g * m3, /*transpose=*/false, gram1.data());
  }
  mirror_upper(gram1, m1);
  const std::vector<float> u1t = top_eigenvectors(gram1, m1, r1);
  gram1 = {};

  // Y_k2 = U1^T X_k2 (r1 x m3): slab k2's part of W = U1^T M1, rows (r, k2) of W reshaped.
  std::vector<float> ys(checked_mul(checked_mul(G, r1), m3));  ///< g slabs' Y, stacked
  auto project_group = [&](size_t k0, size_t g) {
    reader.gather(k0, g);
    OmpExceptionGuard guard;
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t q = 0; q < g; ++q)
      guard.run([&] {
        gemm(false, false, r1, m3, m1, u1t.data(), m1, reader.data() + q * m3, g * m3,
             ys.data() + q * r1 * m3, m3);
      });
    guard.rethrow();
  };

  // Pass 2: Gram2 = W^T W (m3 x m3) -> V2t: r2 x m3, the top right singular vectors of W.
  std::vector<double> gram2(checked_mul(m3, m3), 0.0);
  for (size_t k0 = 0; k0 < m2; k0 += G) {
    const size_t g = std::min(G, m2 - k0);
    project_group(k0, g);
    add_gram(ys.data(), g * r1, m3, m3, /*transpose=*/true, gram2.data());
  }
  mirror_upper(gram2, m3);
  const std::vector<float> v2t = top_eigenvectors(gram2, m3, r2);
  gram2 = {};

  // Pass 3: G2[i2][r][j2][s] = (Y_k2 V2)[r][s] for k2 = i2 d2 + j2.
  // Plain variables, not structured bindings: clang 14 (the fuzz build) cannot use
  // structured bindings inside OpenMP regions.
  const size_t n2 = s.nk[1], n3 = s.nk[2];
  const size_t d2 = s.dk[1], d3 = s.dk[2];
  std::vector<float> g2(checked_mul(checked_mul(n2 * R, d2), R), 0.0f);
  const int nthreads = omp_get_max_threads();
  std::vector<float> yv(size_t(nthreads) * r1 * r2);
  for (size_t k0 = 0; k0 < m2; k0 += G) {
    const size_t g = std::min(G, m2 - k0);
    project_group(k0, g);
    OmpExceptionGuard guard;
#pragma omp parallel for schedule(dynamic, 1)
    for (size_t q = 0; q < g; ++q)
      guard.run([&] {
        float* c = yv.data() + size_t(omp_get_thread_num()) * r1 * r2;
        gemm(false, true, r1, r2, m3, ys.data() + q * r1 * m3, m3, v2t.data(), m3, c, r2);
        const size_t k2 = k0 + q, i2 = k2 / d2, j2 = k2 % d2;
        for (size_t r = 0; r < r1; ++r)
          std::copy(c + r * r2, c + (r + 1) * r2, g2.data() + ((i2 * R + r) * d2 + j2) * R);
      });
    guard.rethrow();
  }

  // G1[k1][r] = U1[k1][r]; G3[i3][s][j3] = V2t[s][i3 d3 + j3]. Ranks above r1 / r2 stay 0.
  std::vector<float> g1(checked_mul(m1, R), 0.0f);
  for (size_t r = 0; r < r1; ++r)
    for (size_t k1 = 0; k1 < m1; ++k1) g1[k1 * R + r] = u1t[r * m1 + k1];
  std::vector<float> g3(checked_mul(m3, R), 0.0f);
  for (size_t q = 0; q < r2; ++q)
    for (size_t i3 = 0; i3 < n3; ++i3)
      std::copy(v2t.data() + q * m3 + i3 * d3, v2t.data() + q * m3 + (i3 + 1) * d3,
                g3.data() + (i3 * R + q) * d3);

  g1_ = std::move(g1);
  g2_ = std::move(g2);
  g3_ = std::move(g3);
  shape_ = s;
  n_ = x.n;
  train_s_ = std::chrono::duration<double>(Clock::now() - t0).count();
  encode_s_ = 0;
}

void TtTable::decode_rows(const int64_t* ids, size_t count, float* out) const {
  EC_CHECK(n_ > 0, kRuntime, spec_ << ": decode before compress");
  check_ids(ids, count);
  decode_checked(ids, count, out);
}

void TtTable::decode_range(size_t start, size_t count, float* out) const {
  EC_CHECK(n_ > 0, kRuntime, spec_ << ": decode before compress");
  EC_CHECK(start <= n_ && count <= n_ - start, kBadInput,
           spec_ << ": rows [" << start << ", " << start + count << ") outside [0, " << n_ << ")");
  std::vector<int64_t> ids(count);
  std::iota(ids.begin(), ids.end(), int64_t(start));
  decode_checked(ids.data(), count, out);
}

void TtTable::decode_checked(const int64_t* ids, size_t count, float* out) const {
  if (count == 0) return;
  // Plain variables, not structured bindings: clang 14 (the fuzz build) cannot use
  // structured bindings inside OpenMP regions.
  const size_t n1 = shape_.nk[0], n2 = shape_.nk[1], n3 = shape_.nk[2];
  const size_t d1 = shape_.dk[0], d2 = shape_.dk[1], d3 = shape_.dk[2];
  (void)n1;
  const size_t R = rank(), D = shape_.padded_d(), d = d_;
  // Rows grouped by prefix (i1, i2) = id / n3, which shares Z; stable, so a sorted batch
  // (decode_range) keeps its order.
  auto prefix = [&](size_t p) { return size_t(ids[p]) / n3; };
  std::vector<size_t> order(count);
  std::iota(order.begin(), order.end(), size_t{0});
  bool sorted = true;
  for (size_t p = 1; p < count && sorted; ++p) sorted = prefix(p - 1) <= prefix(p);
  if (!sorted)
    std::stable_sort(order.begin(), order.end(),
                     [&](size_t a, size_t b) { return prefix(a) < prefix(b); });
  std::vector<size_t> runs;  ///< start of each run of equal prefix in order, then count
  for (size_t q = 0; q < count; ++q)
    if (q == 0 || prefix(order[q]) != prefix(order[q - 1])) runs.push_back(q);
  runs.push_back(count);
  const size_t nruns = runs.size() - 1;

  const int nthreads = omp_get_max_threads();
  const size_t zsize = d1 * d2 * R;
  std::vector<float> zbuf(size_t(nthreads) * zsize), rowbuf(size_t(nthreads) * D);
  OmpExceptionGuard guard;
#pragma omp parallel for schedule(dynamic, 4)
  for (size_t ri = 0; ri < nruns; ++ri)
    guard.run([&] {
      float* z = zbuf.data() + size_t(omp_get_thread_num()) * zsize;
      float* row = rowbuf.data() + size_t(omp_get_thread_num()) * D;
      const size_t pre = prefix(order[runs[ri]]), i1 = pre / n2, i2 = pre % n2;
      // Z (d1 x d2 R = d1 d2 x R) = G1[i1] (d1 x R) * G2[i2] (R x d2 R)
      gemm(false, false, d1, d2 * R, R, g1_.data() + i1 * d1 * R, R, g2_.data() + i2 * R * d2 * R,
           d2 * R, z, d2 * R);
      for (size_t q = runs[ri]; q < runs[ri + 1]; ++q) {
        const size_t p = order[q], i3 = size_t(ids[p]) % n3;
        float* dst = D == d ? out + p * d : row;
        // row (d1 d2 x d3 = D values) = Z (d1 d2 x R) * G3[i3] (R x d3)
        gemm(false, false, d1 * d2, d3, R, z, R, g3_.data() + i3 * R * d3, d3, dst, d3);
        if (D != d) std::copy(row, row + d, out + p * d);
      }
    });
  guard.rethrow();
}

namespace {

std::unique_ptr<TableCompressor> make_tt_for_budget(const BuildArgs& a) {
  const TtShape s = TtShape::for_table(a.n, a.d);
  const size_t rmax = s.useful_rank();
  std::vector<KnobChoice> cands;
  for (size_t R = 1; R <= rmax; ++R)
    cands.push_back({"R=" + std::to_string(R), tt_bytes(s, R), double(R), 0});
  const double full = 4.0 * double(a.n) * double(a.d);
  const double budget_bytes = a.budget * full;
  const size_t best = choose_knob(a.full_spec, cands, budget_bytes, full);
  TtParams p;
  p.R = int(std::min<size_t>(best + 1, size_t(INT_MAX)));
  auto t = std::make_unique<TtTable>(a.d, p, a.full_spec, a.n);
  std::string why;
  if (best + 1 == rmax && double(tt_bytes(s, rmax + 1)) <= budget_bytes) {
    why = "R=" + std::to_string(rmax) + " already reproduces the table exactly for shape " +
          s.str() + "; more rank would store only zeros";
  } else {
    why = "the TT rank R is an integer: R=" + std::to_string(best + 1) + " takes " +
          std::to_string(cands[best].bytes) + " bytes, R=" + std::to_string(best + 2) +
          " would take " + std::to_string(tt_bytes(s, best + 2)) + " (shape " + s.str() + ")";
  }
  t->set_budget(a.budget, why);
  return t;
}

Registrar reg{{
    .name = "TT",
    .grammar = "TT{R}",
    .doc = "tensor-train: rows and columns factored in 3, TT-SVD to rank R, 3 cores "
           "(Oseledets 2011; TT-Rec)",
    .kind = MethodKind::kTable,
    .pattern = "TT([0-9]+)",
    .ladder =
        [](size_t) {
          return std::vector<std::string>{"TT2", "TT4", "TT8"};
        },
    .defaults = [](size_t) { return std::vector<std::string>{"TT@0.1"}; },
    .make_transform = nullptr,
    .make_codec = nullptr,
    .make_table =
        [](const BuildArgs& a) {
          TtParams p;
          p.R = parse_int_arg(a.spec(), a.groups[1], "R", 1, 1 << 16);
          return std::make_unique<TtTable>(a.d, p, "TT" + std::to_string(p.R), a.n);
        },
    .budget_pattern = "TT",
    .budget_grammar = "TT@{budget}",
    .budget_head = "",
    .make_budgeted = make_tt_for_budget,
}};

}  // namespace

/// n, then the three cores G1, G2, G3 (the shape follows from n and d).
void TtTable::save(BinaryWriter& w) const {
  w.put_u64(n_);
  w.put_vector(g1_);
  w.put_vector(g2_);
  w.put_vector(g3_);
}

void TtTable::load(BinaryReader& r) {
  n_ = r.get_u64();
  EC_CHECK(
      n_ > 0 && (n_expected_ == 0 || n_ == n_expected_), kBadInput,
      r.what() << ": " << spec_ << " stores " << n_ << " rows, the header says " << n_expected_);
  shape_ = TtShape::for_table(n_, d_);
  const size_t R = rank();
  g1_ = r.get_vector<float>(checked_mul(shape_.m(0), R));
  g2_ = r.get_vector<float>(checked_mul(checked_mul(shape_.m(1), R), R));
  g3_ = r.get_vector<float>(checked_mul(shape_.m(2), R));
}

}  // namespace embcomp

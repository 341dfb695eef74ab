#include "compressors/svd.h"

#include <omp.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

#include "compressors/budget.h"
#include "toolkit/blas.h"
#include "toolkit/registry.h"
#include "toolkit/serialize.h"

namespace embcomp {

void RsvdParams::validate(size_t n, size_t d) const {
  EC_CHECK(rank >= 1, kBadInput, "SVD: rank must be >= 1");
  EC_CHECK(rank <= std::min(n, d), kBadInput,
           "SVD: rank=" << rank << " exceeds min(n=" << n << ", d=" << d << ")");
}

namespace {

/// acc (d x l) = x^T y, y: x.n x l. The rows are cut into a fixed number of chunks whose
/// partial products are computed in parallel and summed in chunk order, so the result
/// does not depend on the number of threads or their timing.
void xt_times(MatrixView<float> x, const float* y, size_t l, size_t block, float* acc) {
  const size_t d = x.d;
  const size_t nchunks = std::min<size_t>(16, std::max<size_t>(1, (x.n + block - 1) / block));
  const size_t chunk = (x.n + nchunks - 1) / nchunks;
  std::vector<float> parts(nchunks * d * l, 0.0f);
#pragma omp parallel for schedule(static)
  for (size_t c = 0; c < nchunks; ++c) {
    float* part = &parts[c * d * l];
    const size_t end = std::min(x.n, (c + 1) * chunk);
    for (size_t i0 = c * chunk; i0 < end; i0 += block) {
      const size_t nb = std::min(block, end - i0);
      gemm(true, false, d, l, nb, 1.0f, x.row(i0), d, y + i0 * l, l, 1.0f, part, l);
    }
  }
  std::fill(acc, acc + d * l, 0.0f);
  for (size_t c = 0; c < nchunks; ++c)
    for (size_t i = 0; i < d * l; ++i) acc[i] += parts[c * d * l + i];
}

/// y (x.n x l) = x * z, z: d x l; parallel over row blocks.
void x_times(MatrixView<float> x, const float* z, size_t l, size_t block, float* y) {
  const size_t nblocks = (x.n + block - 1) / block;
#pragma omp parallel for schedule(static)
  for (size_t b = 0; b < nblocks; ++b) {
    const size_t i0 = b * block, nb = std::min(block, x.n - i0);
    gemm(false, false, nb, l, x.d, 1.0f, x.row(i0), x.d, z, l, 0.0f, y + i0 * l, l);
  }
}

}  // namespace

RsvdResult randomized_svd(MatrixView<float> x, const RsvdParams& p) {
  p.validate(x.n, x.d);
  const size_t n = x.n, d = x.d;
  const size_t l = std::min({p.rank + p.oversample, d, n});
  // Omega: d x l standard Gaussian.
  std::vector<float> omega(d * l);
  std::mt19937_64 rng(p.seed);
  std::normal_distribution<float> gauss(0.0f, 1.0f);
  for (auto& v : omega) v = gauss(rng);
  std::vector<float> y(checked_mul(n, l));
  x_times(x, omega.data(), l, p.block_rows, y.data());
  std::vector<float> z(d * l);
  for (int it = 0; it < p.power_iters; ++it) {
    orthonormalize_columns(y.data(), n, l);
    xt_times(x, y.data(), l, p.block_rows, z.data());
    orthonormalize_columns(z.data(), d, l);
    x_times(x, z.data(), l, p.block_rows, y.data());
  }
  orthonormalize_columns(y.data(), n, l);  // Q: n x l
  // B = Q^T x (l x d), computed as (x^T Q)^T.
  xt_times(x, y.data(), l, p.block_rows, z.data());  // z = x^T Q: d x l
  std::vector<float> b(l * d);
  for (size_t i = 0; i < d; ++i)
    for (size_t j = 0; j < l; ++j) b[j * d + i] = z[i * l + j];
  std::vector<float> ub, s, vtb;
  thin_svd(b.data(), l, d, ub, s, vtb);  // vtb: min(l, d) x d
  RsvdResult r;
  r.vt = FloatMatrix(p.rank, d);
  std::copy(vtb.begin(), vtb.begin() + p.rank * d, r.vt.values.begin());
  r.sigma.assign(s.begin(), s.begin() + p.rank);
  return r;
}

void project_rows(MatrixView<float> x, const FloatMatrix& vt, float* coef) {
  const size_t block = 8192, nblocks = (x.n + block - 1) / block, r = vt.n;
#pragma omp parallel for schedule(static)
  for (size_t b = 0; b < nblocks; ++b) {
    const size_t i0 = b * block, nb = std::min(block, x.n - i0);
    gemm(false, true, nb, r, x.d, 1.0f, x.row(i0), x.d, vt.data(), x.d, 0.0f, coef + i0 * r, r);
  }
}

SvdTable::SvdTable(size_t d, RsvdParams params, std::string spec)
    : d_(d), params_(params), spec_(std::move(spec)) {
  EC_CHECK(d > 0, kBadInput, spec_ << ": d must be positive");
  EC_CHECK(params_.rank >= 1 && params_.rank <= d, kBadInput,
           spec_ << ": rank=" << params_.rank << " must be in [1, d=" << d << "]");
}

void SvdTable::compress(MatrixView<float> x) {
  check_train_input(spec_, x, d_, params_.rank);
  check_distance_range(spec_, x);
  auto t0 = std::chrono::steady_clock::now();
  RsvdResult r = randomized_svd(x, params_);
  auto t1 = std::chrono::steady_clock::now();
  vt_ = std::move(r.vt);
  coef_ = FloatMatrix(x.n, params_.rank);
  project_rows(x, vt_, coef_.data());
  train_s_ = std::chrono::duration<double>(t1 - t0).count();
  encode_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
}

void SvdTable::decode_range(size_t start, size_t count, float* out) const {
  EC_CHECK(start + count <= n(), kBadInput,
           spec_ << ": rows [" << start << ", " << start + count << ") outside [0, " << n() << ")");
  // Row by row with the same kernel as decode_rows, so both are bit-for-bit equal.
  std::vector<int64_t> ids(count);
  for (size_t i = 0; i < count; ++i) ids[i] = int64_t(start + i);
  decode_rows(ids.data(), count, out);
}

void SvdTable::decode_rows(const int64_t* ids, size_t count, float* out) const {
  check_ids(ids, count);
  const size_t r = params_.rank;
  // out[i] = sum_k coef[id_i, k] * vt[k]: a fixed summation order per row, independent of
  // how rows are batched (a BLAS call could block rows differently).
#pragma omp parallel for if (count > 1024) schedule(static)
  for (size_t i = 0; i < count; ++i) {
    const float* c = coef_.row(size_t(ids[i]));
    float* o = out + i * d_;
    std::fill(o, o + d_, 0.0f);
    for (size_t k = 0; k < r; ++k) {
      const float ck = c[k];
      const float* v = vt_.row(k);
      for (size_t j = 0; j < d_; ++j) o[j] += ck * v[j];
    }
  }
}

namespace {
std::unique_ptr<TableCompressor> make_svd_for_budget(const BuildArgs& a) {
  const double nd = double(a.n) * double(a.d);
  const size_t rank = static_cast<size_t>(std::floor(nd * a.budget / double(a.n + a.d)));
  const size_t max_rank = std::min(a.n, a.d);
  if (rank < 1) budget_unreachable(a.full_spec, a.budget * 4 * nd, 4 * nd, "rank=1", 4 * (a.n + a.d));
  RsvdParams p;
  p.rank = std::min(rank, max_rank);
  p.seed = a.seed;
  auto t = std::make_unique<SvdTable>(a.d, p, a.full_spec);
  t->set_budget(a.budget, rank > max_rank
                              ? "the rank is capped at min(n, d)=" + std::to_string(max_rank)
                              : "the rank is an integer: one more costs 4(n + d) bytes");
  return t;
}

Registrar reg{{
    .name = "SVD",
    .grammar = "SVD{rank}",
    .doc = "truncated SVD of the table (randomized): rows store U*S (rank floats), model Vt",
    .kind = MethodKind::kTable,
    .pattern = "SVD([0-9]+)",
    .ladder = [](size_t) { return std::vector<std::string>{"SVD4", "SVD8", "SVD16"}; },
    .defaults = [](size_t) { return std::vector<std::string>{"SVD@0.25", "SVD@0.1"}; },
    .make_transform = nullptr,
    .make_codec = nullptr,
    .make_table =
        [](const BuildArgs& a) -> std::unique_ptr<TableCompressor> {
          RsvdParams p;
          p.rank = size_t(parse_int_arg(a.spec(), a.groups[1], "rank", 1, 1 << 20));
          p.seed = a.seed;
          return std::make_unique<SvdTable>(a.d, p, a.spec());
        },
    .budget_pattern = "SVD",
    .budget_grammar = "SVD@{budget}",
    .budget_head = "",
    .make_budgeted = make_svd_for_budget,
}};
}  // namespace

/// n, rank, then U S (n x rank) and V^T (rank x d), row-major.
void SvdTable::save(BinaryWriter& w) const {
  w.put_u64(coef_.n);
  w.put_u64(coef_.d);
  w.put_vector(coef_.values);
  w.put_vector(vt_.values);
}

void SvdTable::load(BinaryReader& r) {
  const size_t n = r.get_u64(), rank = r.get_u64();
  EC_CHECK(rank == size_t(params_.rank), kBadInput,
           r.what() << ": " << spec_ << " stores rank " << rank << ", the spec says " << params_.rank);
  coef_.values = r.get_vector<float>(checked_mul(n, rank));
  coef_.n = n;
  coef_.d = rank;
  vt_.values = r.get_vector<float>(checked_mul(rank, d_));
  vt_.n = rank;
  vt_.d = d_;
}

}  // namespace embcomp

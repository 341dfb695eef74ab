#include "compressors/prune.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>

#include "compressors/budget.h"
#include "toolkit/registry.h"
#include "toolkit/serialize.h"

namespace embcomp {

size_t index_width(uint64_t max_value) {
  if (max_value <= 0xFFu) return 1;
  if (max_value <= 0xFFFFu) return 2;
  if (max_value <= 0xFFFFFFFFull) return 4;
  return 8;
}

size_t sparse_bytes(SparseLayout layout, size_t n, size_t d, size_t nnz) {
  const size_t col = index_width(d > 0 ? d - 1 : 0);
  if (layout == SparseLayout::kCsr) return nnz * (4 + col) + (n + 1) * index_width(nnz);
  return nnz * (4 + col + index_width(n > 0 ? n - 1 : 0));
}

void PruneParams::validate(size_t n, size_t d) const {
  EC_CHECK(nnz >= 1 && nnz <= n * d, kBadInput,
           "Prune: nnz=" << nnz << " must be in [1, n*d=" << n * d << "]");
}

namespace {
void put(uint8_t* p, size_t w, uint64_t v) { std::memcpy(p, &v, w); }  // little endian
uint64_t get(const uint8_t* p, size_t w) {
  uint64_t v = 0;
  std::memcpy(&v, p, w);
  return v;
}
uint32_t magnitude_bits(float v) {
  uint32_t u;
  std::memcpy(&u, &v, 4);
  return u & 0x7FFFFFFFu;  // |v| as an order-preserving integer (finite values)
}

/// The threshold bit pattern t and how many entries equal to t to keep so that exactly
/// nnz entries are kept: all with bits > t, then the first `ties` with bits == t.
std::pair<uint32_t, size_t> select_threshold(MatrixView<float> x, size_t nnz) {
  const size_t total = x.n * x.d;
  std::vector<size_t> hist(1 << 16, 0);
  auto histogram = [&](auto bin_of, auto keep) {
    std::fill(hist.begin(), hist.end(), 0);
#pragma omp parallel
    {
      std::vector<size_t> local(1 << 16, 0);
#pragma omp for schedule(static)
      for (size_t i = 0; i < total; ++i) {
        uint32_t b = magnitude_bits(x.data[i]);
        if (keep(b)) ++local[bin_of(b)];
      }
#pragma omp critical(embcomp_prune_hist)
      for (size_t k = 0; k < local.size(); ++k) hist[k] += local[k];
    }
  };
  // Pass 1: the high 16 bits.
  histogram([](uint32_t b) { return b >> 16; }, [](uint32_t) { return true; });
  size_t above = 0, hi = 0;
  for (size_t k = hist.size(); k-- > 0;) {
    if (above + hist[k] >= nnz) {
      hi = k;
      break;
    }
    above += hist[k];
  }
  // Pass 2: the low 16 bits within that bin.
  histogram([](uint32_t b) { return b & 0xFFFFu; }, [hi](uint32_t b) { return (b >> 16) == hi; });
  size_t lo = 0;
  for (size_t k = hist.size(); k-- > 0;) {
    if (above + hist[k] >= nnz) {
      lo = k;
      break;
    }
    above += hist[k];
  }
  return {uint32_t(hi << 16 | lo), nnz - above};
}
}  // namespace

PruneTable::PruneTable(size_t n, size_t d, PruneParams params, std::string spec)
    : n_expected_(n), d_(d), params_(params), spec_(std::move(spec)) {
  params_.validate(n, d);
}

std::string PruneTable::knob() const {
  char buf[96];
  std::snprintf(buf, sizeof(buf), "nnz=%zu,density=%.4f,layout=%s", params_.nnz,
                double(params_.nnz) / double(n_expected_ * d_),
                params_.layout == SparseLayout::kCsr ? "CSR" : "COO");
  return buf;
}

size_t PruneTable::total_bytes() const {
  return values_.size() * 4 + cols_.size() + ptrs_.size() + rows_.size();
}

void PruneTable::compress(MatrixView<float> x) {
  check_train_input(spec_, x, d_, 1);
  EC_CHECK(x.n == n_expected_, kBadInput,
           spec_ << ": was sized for n=" << n_expected_ << " rows, got " << x.n);
  auto t0 = std::chrono::steady_clock::now();
  const size_t nnz = params_.nnz;
  // Plain variables, not a structured binding: clang 14 (the fuzz build) cannot use a
  // structured binding inside the OpenMP region below.
  const auto [t_sel, ties_sel] = select_threshold(x, nnz);
  const uint32_t t = t_sel;
  const size_t ties = ties_sel;
  auto t1 = std::chrono::steady_clock::now();
  // Count kept entries per row (ties taken in row-major order: a sequential prefix).
  std::vector<size_t> per_row(x.n, 0);
  size_t ties_left = ties;
  for (size_t i = 0; i < x.n; ++i) {
    const float* r = x.row(i);
    for (size_t j = 0; j < d_; ++j) {
      uint32_t b = magnitude_bits(r[j]);
      if (b > t || (b == t && ties_left > 0 && (ties_left--, true))) ++per_row[i];
    }
  }
  std::vector<size_t> start(x.n + 1, 0);
  for (size_t i = 0; i < x.n; ++i) start[i + 1] = start[i] + per_row[i];
  EC_CHECK(start[x.n] == nnz, kRuntime, spec_ << ": kept " << start[x.n] << " != nnz=" << nnz);
  col_w_ = index_width(d_ - 1);
  values_.assign(nnz, 0.0f);
  cols_.assign(nnz * col_w_, 0);
  // Fill: ties must again be the first in row-major order, so rows that hold ties are
  // identified by the sequential pass above; recompute with the same rule per row given
  // the number of ties before each row.
  std::vector<size_t> ties_before(x.n + 1, 0);
  {
    size_t left = ties;
    for (size_t i = 0; i < x.n; ++i) {
      ties_before[i] = ties - left;
      const float* r = x.row(i);
      for (size_t j = 0; j < d_ && left > 0; ++j)
        if (magnitude_bits(r[j]) == t) --left;
    }
  }
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < x.n; ++i) {
    const float* r = x.row(i);
    size_t left = ties - std::min(ties, ties_before[i]);
    size_t pos = start[i];
    for (size_t j = 0; j < d_; ++j) {
      uint32_t b = magnitude_bits(r[j]);
      if (b > t || (b == t && left > 0 && (left--, true))) {
        values_[pos] = r[j];
        put(&cols_[pos * col_w_], col_w_, j);
        ++pos;
      }
    }
  }
  ptrs_.clear();
  rows_.clear();
  if (params_.layout == SparseLayout::kCsr) {
    ptr_w_ = index_width(nnz);
    ptrs_.assign((x.n + 1) * ptr_w_, 0);
    for (size_t i = 0; i <= x.n; ++i) put(&ptrs_[i * ptr_w_], ptr_w_, start[i]);
  } else {
    row_w_ = index_width(x.n - 1);
    rows_.assign(nnz * row_w_, 0);
    for (size_t i = 0; i < x.n; ++i)
      for (size_t p = start[i]; p < start[i + 1]; ++p) put(&rows_[p * row_w_], row_w_, i);
  }
  n_ = x.n;
  train_s_ = std::chrono::duration<double>(t1 - t0).count();
  encode_s_ = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
}

std::pair<size_t, size_t> PruneTable::row_span(size_t i) const {
  if (params_.layout == SparseLayout::kCsr)
    return {get(&ptrs_[i * ptr_w_], ptr_w_), get(&ptrs_[(i + 1) * ptr_w_], ptr_w_)};
  // COO: binary search the sorted row index array.
  const size_t nnz = values_.size();
  auto lower = [&](uint64_t row) {
    size_t lo = 0, hi = nnz;
    while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      if (get(&rows_[mid * row_w_], row_w_) < row) lo = mid + 1; else hi = mid;
    }
    return lo;
  };
  return {lower(i), lower(i + 1)};
}

void PruneTable::decode_rows(const int64_t* ids, size_t count, float* out) const {
  check_ids(ids, count);
#pragma omp parallel for if (count > 4096) schedule(static)
  for (size_t k = 0; k < count; ++k) {
    float* o = out + k * d_;
    std::fill(o, o + d_, 0.0f);
    auto [b, e] = row_span(size_t(ids[k]));
    for (size_t p = b; p < e; ++p) o[get(&cols_[p * col_w_], col_w_)] = values_[p];
  }
}

namespace {
std::unique_ptr<TableCompressor> make_prune_for_budget(const BuildArgs& a) {
  const double budget_bytes = a.budget * 4.0 * double(a.n) * double(a.d);
  const size_t total = a.n * a.d;
  // Largest nnz per layout (bytes are increasing in nnz), by bisection.
  auto largest = [&](SparseLayout layout) -> size_t {
    size_t lo = 0, hi = total;
    while (lo < hi) {
      size_t mid = lo + (hi - lo + 1) / 2;
      if (double(sparse_bytes(layout, a.n, a.d, mid)) <= budget_bytes) lo = mid; else hi = mid - 1;
    }
    return lo;
  };
  const size_t csr = largest(SparseLayout::kCsr), coo = largest(SparseLayout::kCoo);
  if (std::max(csr, coo) < 1)
    budget_unreachable(a.full_spec, budget_bytes, 4.0 * double(a.n) * double(a.d), "nnz=1",
                       std::min(sparse_bytes(SparseLayout::kCsr, a.n, a.d, 1),
                                sparse_bytes(SparseLayout::kCoo, a.n, a.d, 1)));
  PruneParams p;
  p.layout = csr >= coo ? SparseLayout::kCsr : SparseLayout::kCoo;
  p.nnz = std::max(csr, coo);
  auto t = std::make_unique<PruneTable>(a.n, a.d, p, a.full_spec);
  t->set_budget(a.budget, "nnz is capped at n*d");
  return t;
}

Registrar reg{{
    .name = "Prune",
    .grammar = "Prune@{budget}",
    .doc = "global magnitude pruning, kept values stored as CSR or COO (whichever is smaller)",
    .kind = MethodKind::kTable,
    .pattern = "$^",  // budget form only
    .ladder = [](size_t) { return std::vector<std::string>{"Prune@0.5"}; },
    .defaults = [](size_t) { return std::vector<std::string>{"Prune@0.5", "Prune@0.25"}; },
    .make_transform = nullptr,
    .make_codec = nullptr,
    .make_table = nullptr,
    .budget_pattern = "Prune",
    .budget_grammar = "Prune@{budget}",
    .budget_head = "",
    .make_budgeted = make_prune_for_budget,
}};
}  // namespace

/// n, the three index widths, then values, columns, CSR row pointers and COO rows.
void PruneTable::save(BinaryWriter& w) const {
  w.put_u64(n_);
  w.put_u64(col_w_);
  w.put_u64(ptr_w_);
  w.put_u64(row_w_);
  w.put_vector(values_);
  w.put_vector(cols_);
  w.put_vector(ptrs_);
  w.put_vector(rows_);
}

void PruneTable::load(BinaryReader& r) {
  n_ = r.get_u64();
  EC_CHECK(n_ == n_expected_, kBadInput,
           r.what() << ": " << spec_ << " stores " << n_ << " rows, the header says " << n_expected_);
  col_w_ = r.get_u64();
  ptr_w_ = r.get_u64();
  row_w_ = r.get_u64();
  // The widths follow from n, d, nnz and the layout (compress); anything else is corrupt.
  const size_t nnz = params_.nnz;
  const bool csr = params_.layout == SparseLayout::kCsr;
  EC_CHECK(col_w_ == index_width(d_ - 1) &&
               (csr ? ptr_w_ == index_width(nnz) : row_w_ == index_width(n_ - 1)),
           kBadInput,
           r.what() << ": corrupt " << spec_ << " index widths (col " << col_w_ << ", ptr "
                    << ptr_w_ << ", row " << row_w_ << ")");
  values_ = r.get_vector<float>(nnz);
  cols_ = r.get_vector<uint8_t>(checked_mul(nnz, col_w_));
  ptrs_ = r.get_vector<uint8_t>(csr ? checked_mul(n_ + 1, ptr_w_) : 0);
  rows_ = r.get_vector<uint8_t>(csr ? 0 : checked_mul(nnz, row_w_));
  // decode_rows writes o[col] and walks [row_span): every column < d, CSR pointers
  // non-decreasing from 0 to nnz, COO rows sorted and < n.
  for (size_t p = 0; p < nnz; ++p) {
    const uint64_t c = get(&cols_[p * col_w_], col_w_);
    EC_CHECK(c < d_, kBadInput,
             r.what() << ": corrupt " << spec_ << ": entry " << p << " has column " << c
                      << " >= d=" << d_);
  }
  if (csr) {
    uint64_t prev = 0;
    for (size_t i = 0; i <= n_; ++i) {
      const uint64_t v = get(&ptrs_[i * ptr_w_], ptr_w_);
      EC_CHECK(v >= prev && v <= nnz && (i > 0 || v == 0) && (i < n_ || v == nnz), kBadInput,
               r.what() << ": corrupt " << spec_ << ": row pointer " << i << " = " << v
                        << " (pointers must rise from 0 to nnz=" << nnz << ")");
      prev = v;
    }
  } else {
    uint64_t prev = 0;
    for (size_t p = 0; p < nnz; ++p) {
      const uint64_t v = get(&rows_[p * row_w_], row_w_);
      EC_CHECK(v >= prev && v < n_, kBadInput,
               r.what() << ": corrupt " << spec_ << ": entry " << p << " has row " << v
                        << " (rows must be sorted and < n=" << n_ << ")");
      prev = v;
    }
  }
}

}  // namespace embcomp

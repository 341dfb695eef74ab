#include "compressors/emb_deeplight.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <stdexcept>

#include "compressors/budget.h"
#include "compressors/emb_full.h"
#include "compressors/emb_hash.h"
#include "toolkit/error.h"

namespace embcomp::ctr {

// ---------------------------------------------------------------------------------------
// SparseRows

namespace {
constexpr uint64_t kU32 = uint64_t{1} << 32;
int col_bytes(int dim) { return dim <= 256 ? 1 : 2; }
}  // namespace

SparseRows::SparseRows(int64_t rows, int dim, int64_t K, SparseFormat format)
    : rows_(rows), K_(K), dim_(dim), cb_(col_bytes(dim)), format_(format) {
  EC_CHECK(
      rows > 0 && dim > 0 && dim <= 65536, kBadInput,
      "a sparse table needs rows > 0 and 0 < dim <= 65536, got rows=" << rows << " dim=" << dim);
  EC_CHECK(K >= 1 && K <= rows * dim, kBadInput,
           "a sparse table needs 1 <= K <= rows * dim entries, got K=" << K << " for " << rows
                                                                       << " x " << dim);
  if (format == SparseFormat::kCsr) {
    EC_CHECK(uint64_t(K) < kU32, kBadInput, "CSR row pointers are uint32: K=" << K);
    row_ptr_.assign(rows + 1, 0);
    col_.assign(static_cast<size_t>(K) * cb_, 0);
  } else {
    EC_CHECK(uint64_t(rows) * uint64_t(dim) < kU32, kBadInput,
             "COO positions are uint32: rows * dim = " << rows * dim);
    pos_.assign(K, 0);
  }
  val_.assign(K, 0.0f);
}

int64_t SparseRows::bytes_for(int64_t rows, int dim, int64_t K, SparseFormat format) {
  if (format == SparseFormat::kCsr) return 4 * (rows + 1) + (4 + col_bytes(dim)) * K;
  return 8 * K;
}

int64_t SparseRows::max_entries(int64_t rows, int dim, double budget_bytes, SparseFormat format) {
  double k = 0;
  if (format == SparseFormat::kCsr) {
    k = std::floor((budget_bytes - 4.0 * double(rows + 1)) / (4 + col_bytes(dim)));
  } else {
    if (uint64_t(rows) * uint64_t(dim) >= kU32) return 0;
    k = std::floor(budget_bytes / 8.0);
  }
  k = std::min(k, double(rows) * dim);
  if (format == SparseFormat::kCsr) k = std::min(k, double(kU32 - 1));
  return k < 1 ? 0 : static_cast<int64_t>(k);
}

void SparseRows::assign(const std::vector<uint64_t>& positions) {
  EC_CHECK(static_cast<int64_t>(positions.size()) == K_, kRuntime,
           "sparse store of capacity " << K_ << " given " << positions.size() << " positions");
  if (format_ == SparseFormat::kCsr) {
    std::fill(row_ptr_.begin(), row_ptr_.end(), 0u);
    for (int64_t k = 0; k < K_; ++k) {
      const uint64_t p = positions[k];
      ++row_ptr_[p / dim_ + 1];
      const uint32_t j = static_cast<uint32_t>(p % dim_);
      for (int b = 0; b < cb_; ++b) col_[k * cb_ + b] = static_cast<uint8_t>(j >> (8 * b));
    }
    for (int64_t r = 0; r < rows_; ++r) row_ptr_[r + 1] += row_ptr_[r];
  } else {
    for (int64_t k = 0; k < K_; ++k) pos_[k] = static_cast<uint32_t>(positions[k]);
  }
  std::fill(val_.begin(), val_.end(), 0.0f);
}

int64_t SparseRows::begin(int64_t r) const {
  if (format_ == SparseFormat::kCsr) return row_ptr_[r];
  return std::lower_bound(pos_.begin(), pos_.end(), static_cast<uint32_t>(r * dim_)) - pos_.begin();
}

int64_t SparseRows::end(int64_t r) const {
  if (format_ == SparseFormat::kCsr) return row_ptr_[r + 1];
  // (r + 1) dim may be 2^32 for the last row: compare in 64 bits.
  const uint64_t hi = uint64_t(r + 1) * uint64_t(dim_);
  return std::lower_bound(pos_.begin(), pos_.end(), hi,
                          [](uint32_t p, uint64_t h) { return uint64_t(p) < h; }) -
         pos_.begin();
}

int SparseRows::col(int64_t k) const {
  if (format_ == SparseFormat::kCoo) return static_cast<int>(pos_[k] % uint32_t(dim_));
  int j = 0;
  for (int b = 0; b < cb_; ++b) j |= int(col_[k * cb_ + b]) << (8 * b);
  return j;
}

void SparseRows::read_row(int64_t r, float* out) const {
  std::fill(out, out + dim_, 0.0f);
  const int64_t e = end(r);
  for (int64_t k = begin(r); k < e; ++k) out[col(k)] = val_[k];
}

int64_t SparseRows::bytes() const {
  return static_cast<int64_t>(row_ptr_.size() * 4 + col_.size() + pos_.size() * 4 +
                              val_.size() * 4);
}

std::vector<std::pair<void*, size_t>> SparseRows::buffers() {
  std::vector<std::pair<void*, size_t>> out;
  if (format_ == SparseFormat::kCsr) {
    out.push_back({row_ptr_.data(), row_ptr_.size() * 4});
    out.push_back({col_.data(), col_.size()});
  } else {
    out.push_back({pos_.data(), pos_.size() * 4});
  }
  out.push_back({val_.data(), val_.size() * 4});
  return out;
}

std::vector<uint64_t> top_k_positions(const std::vector<float>& score, int64_t K) {
  const int64_t n = static_cast<int64_t>(score.size());
  if (K <= 0) return {};
  std::vector<float> copy(score);
  std::nth_element(copy.begin(), copy.begin() + (K - 1), copy.end(), std::greater<float>());
  const float theta = copy[K - 1];
  if (theta < 0) throw std::logic_error("top_k_positions: fewer than K scores are >= 0");
  int64_t above = 0;
  for (float s : score) above += s > theta;
  int64_t ties = K - above;  // entries equal to theta to take, lowest positions first
  std::vector<uint64_t> out;
  out.reserve(K);
  for (int64_t p = 0; p < n; ++p) {
    if (score[p] > theta) {
      out.push_back(p);
    } else if (score[p] == theta && ties > 0) {
      out.push_back(p);
      --ties;
    }
  }
  return out;
}

SparseBudget solve_sparse_budget(const std::string& spec, const TableInit& init,
                                 double budget_bytes) {
  const int64_t csr =
      SparseRows::max_entries(init.rows, init.dim, budget_bytes, SparseFormat::kCsr);
  const int64_t coo =
      SparseRows::max_entries(init.rows, init.dim, budget_bytes, SparseFormat::kCoo);
  EC_CHECK(csr >= 1 || coo >= 1, kBadInput,
           spec << ": budget of " << static_cast<int64_t>(budget_bytes)
                << " bytes cannot hold one stored entry (COO: 8 bytes; CSR: "
                << SparseRows::bytes_for(init.rows, init.dim, 1, SparseFormat::kCsr) << " bytes)");
  if (csr >= coo) return {csr, SparseFormat::kCsr};
  return {coo, SparseFormat::kCoo};
}

// ---------------------------------------------------------------------------------------
// PrunedSparseTable

PrunedSparseTable::PrunedSparseTable(const TableInit& init, const SparseBudget& b, std::string spec,
                                     std::string name)
    : spec_(std::move(spec)),
      name_(std::move(name)),
      n_(init.rows),
      D_(init.dim),
      T_(init.checked_schedule_steps(name_) > 0 ? init.schedule_steps : kDefaultScheduleSteps),
      delta_(std::max<int64_t>(1, T_ / 100)),
      opt_(init.optimizer),
      // Same init range as Full: the table starts where Full starts.
      w_(init.rows, init.dim, 0.05f, init.seed),
      store_(init.rows, init.dim, b.K, b.format),
      gw_(init.dim) {}

std::string PrunedSparseTable::knob() const {
  return "nnz=" + std::to_string(store_.capacity()) +
         (store_.format() == SparseFormat::kCsr ? ",format=csr" : ",format=coo") +
         ",T=" + std::to_string(T_);
}

void PrunedSparseTable::lookup(const int64_t* ids, int64_t n, float* out) {
  check_table_ids(ids, n, n_);
#pragma omp parallel for schedule(static) if (n > 16384)
  for (int64_t i = 0; i < n; ++i) store_.read_row(ids[i], out + i * D_);
}

void PrunedSparseTable::backward(const int64_t* ids, int64_t n, const float* grad_out) {
  check_table_ids(ids, n, n_);
  float* gw = gw_.data();
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = ids[i];
    const float* g = grad_out + i * D_;
    if (done_) {
      // Fine-tuning: only the stored entries are parameters.
      std::fill(gw, gw + D_, 0.0f);
      const int64_t e = store_.end(r);
      for (int64_t k = store_.begin(r); k < e; ++k) gw[store_.col(k)] = g[store_.col(k)];
    } else {
      shadow_grad(r, g, gw);
    }
    if (!w_.grad(r)) touched_.push_back(r);
    w_.accumulate(r, gw);
  }
}

void PrunedSparseTable::refresh() {
  float* val = store_.values();
  for (int64_t r = 0; r < n_; ++r) {
    const int64_t e = store_.end(r);
    for (int64_t k = store_.begin(r); k < e; ++k) val[k] = value(r, store_.col(k));
  }
}

void PrunedSparseTable::reselect() {
  std::vector<float> s(static_cast<size_t>(n_) * D_);
  for (int64_t r = 0; r < n_; ++r)
    for (int j = 0; j < D_; ++j) s[r * D_ + j] = score(r, j);
  store_.assign(top_k_positions(s, store_.capacity()));
  refresh();
}

void PrunedSparseTable::step() {
  ++t_;
  w_.step(opt_);
  after_update(touched_);
  float* val = store_.values();
  for (int64_t r : touched_) {
    const int64_t b = store_.begin(r), e = store_.end(r);
    if (done_) {
      // Adam's moments move entries with a zero gradient: the shadow keeps only the
      // stored entries, so that it stays the stored table.
      float* w = w_.row(r);
      std::fill(gw_.begin(), gw_.end(), 0.0f);
      for (int64_t k = b; k < e; ++k) gw_[store_.col(k)] = w[store_.col(k)];
      std::copy(gw_.begin(), gw_.end(), w);
    }
    for (int64_t k = b; k < e; ++k) val[k] = value(r, store_.col(k));
  }
  touched_.clear();
  if (done_ || (t_ % delta_ != 0 && t_ < T_)) return;
  prune(t_);
  reselect();
  if (t_ >= T_) {
    done_ = true;
    finish_schedule();
  }
}

int64_t PrunedSparseTable::optimizer_bytes() const {
  return w_.bytes() + RowParams::optimizer_bytes(n_, D_, opt_) + extra_bytes();
}

std::unique_ptr<EmbeddingTable> make_pruned_sparse(
    const std::string& spec, double budget, const TableInit& init, const std::string& name,
    const std::function<std::unique_ptr<PrunedSparseTable>(const SparseBudget&)>& build) {
  require_budget(spec, budget, name);
  const double full = init.full_bytes();
  std::unique_ptr<PrunedSparseTable> t = build(solve_sparse_budget(spec, init, budget * full));
  t->set_budget_note(
      budget_gap_note(double(t->bytes()) / full, budget, "the store holds whole entries"));
  return t;
}

// ---------------------------------------------------------------------------------------
// DeepLight

DeepLightTable::DeepLightTable(const TableInit& init, const SparseBudget& b, std::string spec)
    : PrunedSparseTable(init, b, std::move(spec), "DeepLight"),
      alive_(static_cast<size_t>(init.rows) * init.dim, 1),
      alive_count_(init.rows * init.dim) {
  reselect();
}

int64_t DeepLightTable::alive_target(int64_t t) const {
  const int64_t K = store_.capacity(), all = n_ * D_;
  if (t >= T_) return K;
  const double left = 1.0 - double(t) / double(T_);
  return K + static_cast<int64_t>(std::ceil(double(all - K) * left * left * left));
}

float DeepLightTable::score(int64_t r, int j) const {
  return alive_[r * D_ + j] ? std::abs(w_.row(r)[j]) : -1.0f;
}

void DeepLightTable::shadow_grad(int64_t r, const float* g, float* gw) {
  const uint8_t* a = alive_.data() + r * D_;
  for (int j = 0; j < D_; ++j) gw[j] = a[j] ? g[j] : 0.0f;
}

void DeepLightTable::after_update(const std::vector<int64_t>& touched) {
  // Adam's moments move entries with a zero gradient: dead entries are put back to 0.
  if (done_) return;
  for (int64_t r : touched) {
    float* w = w_.row(r);
    const uint8_t* a = alive_.data() + r * D_;
    for (int j = 0; j < D_; ++j)
      if (!a[j]) w[j] = 0.0f;
  }
}

void DeepLightTable::prune(int64_t t) {
  const int64_t kill = alive_count_ - alive_target(t);
  if (kill <= 0) return;
  // The kill smallest |W| among alive entries (ties: lower position first): the alive
  // entries NOT among the (alive - kill) largest.
  std::vector<float> s(alive_.size());
  for (int64_t r = 0; r < n_; ++r)
    for (int j = 0; j < D_; ++j) s[r * D_ + j] = score(r, j);
  const std::vector<uint64_t> keep = top_k_positions(s, alive_count_ - kill);
  std::vector<uint8_t> next(alive_.size(), 0);
  for (uint64_t p : keep) next[p] = 1;
  for (size_t p = 0; p < alive_.size(); ++p)
    if (alive_[p] && !next[p]) w_.data()[p] = 0.0f;
  alive_.swap(next);
  alive_count_ -= kill;
}

namespace {

std::unique_ptr<EmbeddingTable> make_deeplight(const std::string& spec, double budget,
                                               const TableInit& init) {
  return make_pruned_sparse(spec, budget, init, "DeepLight", [&](const SparseBudget& b) {
    return std::make_unique<DeepLightTable>(init, b, spec);
  });
}

TableRegistrar reg{{"DeepLight", "DeepLight@B",
                    "gradual magnitude pruning (Zhu-Gupta cubic schedule over T steps) of a "
                    "dense shadow table into K stored entries, CSR or COO "
                    "(4 (N+1) + (4+cb) K or 8 K bytes)",
                    make_deeplight}};

}  // namespace
}  // namespace embcomp::ctr

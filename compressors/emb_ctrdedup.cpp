#include "compressors/emb_ctrdedup.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>

#include "compressors/budget.h"
#include "compressors/emb_full.h"
#include "compressors/emb_hash.h"
#include "toolkit/error.h"

namespace embcomp::ctr {

void CtrDedupParams::validate(int64_t rows) const {
  EC_CHECK(r >= 1 && U >= 1, kBadInput,
           "Dedup needs r >= 1 rows per block and U >= 1 unique blocks, got r=" << r << " U=" << U);
  EC_CHECK((rows + r - 1) / r <= int64_t{0xFFFFFFFF}, kBadInput,
           "Dedup keeps block slots as uint32: " << (rows + r - 1) / r << " blocks is too many");
  EC_CHECK(dedup_at >= 1, kBadInput, "Dedup: dedup_at=" << dedup_at << " must be >= 1");
  EC_CHECK(lsh_bits >= 1 && lsh_bits <= 62 && lsh_tables >= 1, kBadInput,
           "Dedup: lsh_bits=" << lsh_bits << " must be in 1..62 and lsh_tables=" << lsh_tables
                              << " >= 1");
  EC_CHECK(std::isfinite(lambda) && lambda > 0, kBadInput,
           "Dedup: lambda=" << lambda << " must be > 0");
}

CtrDedupTable::CtrDedupTable(const TableInit& init, const CtrDedupParams& p, std::string spec,
                             std::string note)
    : p_(p),
      spec_(std::move(spec)),
      note_(std::move(note)),
      n_(init.rows),
      T_(0),
      D_(init.dim),
      opt_(init.optimizer) {
  p_.validate(n_);
  EC_CHECK(int64_t(p_.r) * D_ <= (int64_t{1} << 24), kBadInput,
           "Dedup: a block of r=" << p_.r << " rows x D=" << D_ << " is too large");
  T_ = (n_ + p_.r - 1) / p_.r;
  p_.U = std::min(p_.U, T_);
  const uint64_t s = p_.seed * 0x9E3779B97F4A7C15ull;
  ublk_ = RowParams(p_.U * p_.r, D_, 0.05f, s + 1);
  map_.resize(T_);
  if (T_ <= p_.U) {
    std::iota(map_.begin(), map_.end(), 0u);  // every block its own: nothing to share
    done_ = true;
    phase_ = 1;
    return;
  }
  const UniversalHash h = UniversalHash::from_seed(s + 2);
  for (int64_t b = 0; b < T_; ++b) map_[b] = static_cast<uint32_t>(h(uint64_t(b), uint64_t(p_.U)));
  shadow_ = RowParams(n_, D_, 0.0f, s + 3);
  for (int64_t id = 0; id < n_; ++id)
    std::memcpy(shadow_.row(id), ublk_.row(int64_t(map_[id / p_.r]) * p_.r + id % p_.r),
                sizeof(float) * D_);
  access_.assign(T_, 0);
}

std::string CtrDedupTable::knob() const {
  return "block_rows=" + std::to_string(p_.r) + ",unique=" + std::to_string(p_.U) +
         ",blocks=" + std::to_string(T_) + (phase_ ? ",deduplicated" : ",warm-up");
}

void CtrDedupTable::lookup(const int64_t* ids, int64_t n, float* out) {
  check_table_ids(ids, n, n_);
#pragma omp parallel for schedule(static) if (n > 16384)
  for (int64_t i = 0; i < n; ++i) {
    const int64_t id = ids[i];
    std::memcpy(out + i * D_, ublk_.row(int64_t(map_[id / p_.r]) * p_.r + id % p_.r),
                sizeof(float) * D_);
  }
}

void CtrDedupTable::backward(const int64_t* ids, int64_t n, const float* grad_out) {
  check_table_ids(ids, n, n_);
  std::vector<float> pulled(done_ ? 0 : D_);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t id = ids[i];
    const float* g = grad_out + i * D_;
    const int64_t row = int64_t(map_[id / p_.r]) * p_.r + id % p_.r;
    if (!done_) {
      const float* s = ublk_.row(row);
      const float* f = shadow_.row(id);
      for (int j = 0; j < D_; ++j) pulled[j] = g[j] + p_.lambda * (f[j] - s[j]);
      shadow_.accumulate(id, pulled.data());
      ++access_[id / p_.r];
    }
    ublk_.accumulate(row, g);
  }
}

void CtrDedupTable::step() {
  ublk_.step(opt_);
  if (!done_) shadow_.step(opt_);
  ++t_;
  if (!done_ && t_ >= p_.dedup_at) deduplicate();
}

void CtrDedupTable::deduplicate() {
  if (done_) return;
  shadow_.zero_grad();
  ublk_.zero_grad();
  const int64_t width = p_.r * D_;  // a flattened block; rows past N count as zeros
  auto rows_of = [&](int64_t b) { return std::min(p_.r, n_ - b * p_.r); };
  const int L = p_.lsh_bits, P = p_.lsh_tables;
  const uint64_t ps = p_.seed * 0x9E3779B97F4A7C15ull + 4;
  // Candidate pairs: neighbours in the signature order of each of the P SimHash tables
  // (bit l of table q is the sign of <block, w_ql>, w_ql uniform(-1, 1)^width).
  std::vector<std::pair<double, std::pair<uint32_t, uint32_t>>> edges;
  edges.reserve(size_t(P) * (T_ - 1));
  std::vector<uint64_t> sig(T_);
  std::vector<uint32_t> order(T_);
  std::vector<float> proj(size_t(L) * width);  // the L projections of one table
  for (int q = 0; q < P; ++q) {
    for (size_t e = 0; e < proj.size(); ++e)
      proj[e] = hashed_uniform(ps, uint64_t(q) * L * width + e);
#pragma omp parallel for schedule(static) if (T_ > 256)
    for (int64_t b = 0; b < T_; ++b) {
      const float* x = shadow_.row(b * p_.r);
      uint64_t v = 0;
      for (int l = 0; l < L; ++l) {
        const float* w = proj.data() + size_t(l) * width;
        double dot = 0;
        for (int64_t e = 0; e < rows_of(b) * D_; ++e) dot += double(x[e]) * w[e];
        v = (v << 1) | (dot >= 0 ? 1u : 0u);
      }
      sig[b] = v;
    }
    std::iota(order.begin(), order.end(), 0u);
    std::stable_sort(order.begin(), order.end(),
                     [&](uint32_t x, uint32_t y) { return sig[x] < sig[y]; });
    for (int64_t k = 0; k + 1 < T_; ++k) edges.push_back({0.0, {order[k], order[k + 1]}});
  }
  // Squared L2 distance of each candidate pair (a missing row of a partial block is 0).
#pragma omp parallel for schedule(static) if (edges.size() > 1024)
  for (size_t e = 0; e < edges.size(); ++e) {
    const int64_t a = edges[e].second.first, b = edges[e].second.second;
    const float* x = shadow_.row(a * p_.r);
    const float* y = shadow_.row(b * p_.r);
    const int64_t na = rows_of(a) * D_, nb = rows_of(b) * D_;
    double d2 = 0;
    for (int64_t i = 0; i < std::max(na, nb); ++i) {
      const double u = i < na ? x[i] : 0.0, v = i < nb ? y[i] : 0.0;
      d2 += (u - v) * (u - v);
    }
    edges[e].first = d2;
  }
  // Single linkage over the candidates, closest first (ties: smaller block ids), until U
  // groups remain. The first table's order chains every block, so U is always reached.
  std::sort(edges.begin(), edges.end());
  std::vector<uint32_t> parent(T_);
  std::iota(parent.begin(), parent.end(), 0u);
  auto find = [&](uint32_t x) {
    while (parent[x] != x) x = parent[x] = parent[parent[x]];
    return x;
  };
  int64_t groups = T_;
  for (size_t e = 0; e < edges.size() && groups > p_.U; ++e) {
    const uint32_t a = find(edges[e].second.first), b = find(edges[e].second.second);
    if (a == b) continue;
    parent[std::max(a, b)] = std::min(a, b);
    --groups;
  }
  // Each group keeps its most accessed block (ties: smallest b); slots in order of the
  // groups' smallest block.
  std::vector<uint32_t> rep(T_), slot(T_, UINT32_MAX);
  for (int64_t b = 0; b < T_; ++b) rep[b] = static_cast<uint32_t>(b);
  for (int64_t b = 0; b < T_; ++b) {
    const uint32_t root = find(uint32_t(b));
    const uint32_t cur = rep[root];
    if (access_[b] > access_[cur]) rep[root] = static_cast<uint32_t>(b);
  }
  RowParams fresh(p_.U * p_.r, D_, 0.0f, 0);
  uint32_t next = 0;
  for (int64_t b = 0; b < T_; ++b) {
    const uint32_t root = find(uint32_t(b));
    if (slot[root] == UINT32_MAX) {
      slot[root] = next++;
      const int64_t kept = rep[root];
      std::memcpy(fresh.row(int64_t(slot[root]) * p_.r), shadow_.row(kept * p_.r),
                  sizeof(float) * rows_of(kept) * D_);
    }
    map_[b] = slot[root];
  }
  ublk_ = std::move(fresh);
  shadow_ = RowParams();
  access_.clear();
  access_.shrink_to_fit();
  done_ = true;
  phase_ = 1;
}

int64_t CtrDedupTable::bytes() const {
  return ublk_.bytes() + int64_t(map_.size()) * 4 + int64_t(sizeof(phase_));
}

int64_t CtrDedupTable::optimizer_bytes() const {
  int64_t b = RowParams::optimizer_bytes(ublk_.rows(), D_, opt_);
  if (!done_)
    b += shadow_.bytes() + RowParams::optimizer_bytes(n_, D_, opt_) + int64_t(access_.size()) * 4;
  return b;
}

std::vector<std::pair<void*, size_t>> CtrDedupTable::buffers() {
  return {{ublk_.data(), size_t(ublk_.bytes())},
          {map_.data(), map_.size() * 4},
          {&phase_, sizeof(phase_)}};
}

namespace {

std::unique_ptr<EmbeddingTable> make_ctr_dedup(const std::string& spec, double budget,
                                               const TableInit& init) {
  require_budget(spec, budget, "Dedup");
  const double full = init.full_bytes();
  const double target = budget * full;
  CtrDedupParams p;
  p.seed = init.seed;
  while (4.0 * double((init.rows + p.r - 1) / p.r) > 0.1 * target && p.r < init.rows) p.r *= 2;
  const int64_t T = (init.rows + p.r - 1) / p.r;
  p.U = std::min<int64_t>(T, static_cast<int64_t>(std::floor((target - 4.0 * double(T)) /
                                                             (4.0 * double(p.r) * init.dim))));
  EC_CHECK(p.U >= 1, kBadInput,
           spec << ": budget of " << int64_t(target) << " bytes cannot hold one block of " << p.r
                << " rows and the map (" << CtrDedupTable::bytes_for(init.rows, init.dim, p.r, 1)
                << " bytes)");
  const double actual = double(CtrDedupTable::bytes_for(init.rows, init.dim, p.r, p.U)) / full;
  return std::make_unique<CtrDedupTable>(
      init, p, spec, budget_gap_note(actual, budget, "blocks are whole (4 r D bytes each)"));
}

TableRegistrar reg{{"Dedup", "Dedup@B",
                    "training-time dedup: hash-shared blocks of r rows while a full shadow "
                    "trains, then LSH groups of similar blocks keep one block each; fine-tune",
                    make_ctr_dedup}};

}  // namespace
}  // namespace embcomp::ctr

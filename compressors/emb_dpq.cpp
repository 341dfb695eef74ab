#include "compressors/emb_dpq.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>

#include "compressors/budget.h"
#include "compressors/emb_full.h"
#include "compressors/emb_hash.h"
#include "toolkit/error.h"

namespace embcomp::ctr {

void DpqParams::validate(int dim) const {
  EC_CHECK(M >= 1 && dim % M == 0, kBadInput,
           "DPQ: M=" << M << " sub-spaces must divide the width D=" << dim);
  EC_CHECK(nbits >= 1 && nbits <= 8, kBadInput, "DPQ: nbits=" << nbits << " must be in 1..8");
  EC_CHECK(std::isfinite(tau) && tau > 0, kBadInput, "DPQ: tau=" << tau << " must be > 0");
}

RowGroups::RowGroups(int64_t rows, const std::vector<uint32_t>& hot)
    : bits_((rows + 63) / 64, 0), dir_((rows + 511) / 512, 0) {
  for (uint32_t r : hot) {
    EC_CHECK(int64_t(r) < rows, kBadInput, "MGQE: hot row " << r << " >= rows=" << rows);
    bits_[r >> 6] |= uint64_t{1} << (r & 63);
  }
  uint32_t before = 0;
  for (size_t w = 0; w < bits_.size(); ++w) {
    if (w % 8 == 0) dir_[w / 8] = before;
    before += static_cast<uint32_t>(std::popcount(bits_[w]));
  }
  hot_ = before;
}

int64_t RowGroups::rank(int64_t r) const {
  int64_t n = dir_[r >> 9];
  for (int64_t w = (r >> 9) * 8; w < (r >> 6); ++w) n += std::popcount(bits_[w]);
  const int sh = int(r & 63);
  if (sh) n += std::popcount(bits_[r >> 6] & ((uint64_t{1} << sh) - 1));
  return n;
}

void RowGroups::append_buffers(std::vector<std::pair<void*, size_t>>& out) {
  out.push_back({bits_.data(), bits_.size() * 8});
  out.push_back({dir_.data(), dir_.size() * 4});
}

uint32_t get_code(const uint8_t* bits, int64_t pos, int nbits) {
  const int64_t byte = pos >> 3;
  const int sh = int(pos & 7);
  uint32_t v = bits[byte] >> sh;
  if (sh + nbits > 8) v |= uint32_t(bits[byte + 1]) << (8 - sh);
  return v & ((1u << nbits) - 1);
}

void set_code(uint8_t* bits, int64_t pos, int nbits, uint32_t v) {
  const int64_t byte = pos >> 3;
  const int sh = int(pos & 7);
  const uint32_t mask = (1u << nbits) - 1;
  v &= mask;
  bits[byte] = uint8_t((bits[byte] & ~(mask << sh)) | (v << sh));
  if (sh + nbits > 8) {
    const int hi = 8 - sh;  // bits already written
    bits[byte + 1] = uint8_t((bits[byte + 1] & ~(mask >> hi)) | (v >> hi));
  }
}

int64_t DpqTable::dpq_bytes(int64_t rows, int dim, int M, int nbits) {
  return 4 * (int64_t{1} << nbits) * dim + (rows * M * nbits + 7) / 8;
}

DpqTable::DpqTable(const TableInit& init, const DpqParams& p, std::string spec, std::string note)
    : DpqTable(init, p, RowGroups(), p.nbits, std::move(spec), std::move(note)) {}

DpqTable::DpqTable(const TableInit& init, const DpqParams& p, RowGroups groups, int tail_bits,
                   std::string spec, std::string note)
    : p_(p),
      spec_(std::move(spec)),
      note_(std::move(note)),
      n_(init.rows),
      D_(init.dim),
      d_(0),
      Kc_(0),
      tail_bits_(tail_bits),
      grouped_(groups.bytes() > 0),
      groups_(std::move(groups)),
      opt_(init.optimizer) {
  p_.validate(D_);
  EC_CHECK(tail_bits >= 1 && tail_bits <= p_.nbits, kBadInput,
           "MGQE: tail_bits=" << tail_bits << " must be in 1..nbits=" << p_.nbits);
  d_ = D_ / p_.M;
  Kc_ = 1 << p_.nbits;
  const int64_t hot = grouped_ ? groups_.hot_count() : n_;
  codes_[0].assign((hot * p_.M * p_.nbits + 7) / 8, 0);
  codes_[1].assign(((n_ - hot) * p_.M * tail_bits_ + 7) / 8, 0);
  const uint64_t s = p_.seed * 0x9E3779B97F4A7C15ull;
  // Q and Kb in (-1, 1): scores <q, Kb_k> of order sqrt(d) / 3, so the softmax is neither
  // flat nor saturated at the start; V like Full's rows.
  Q_ = RowParams(n_, D_, 1.0f, s + 1);
  Kb_ = DenseParams(int64_t(Kc_) * D_, 1.0f, s + 2);
  V_ = DenseParams(int64_t(Kc_) * D_, 0.05f, s + 3);
  init_codes();
}

int DpqTable::group_of(int64_t r, int64_t* pos) const {
  if (!grouped_) {
    *pos = r;
    return 0;
  }
  const int64_t k = groups_.rank(r);
  if (groups_.is_hot(r)) {
    *pos = k;
    return 0;
  }
  *pos = r - k;
  return 1;
}

int DpqTable::centroids_of(int64_t r) const {
  return !grouped_ || groups_.is_hot(r) ? Kc_ : 1 << tail_bits_;
}

uint32_t DpqTable::code(int64_t r, int j) const {
  int64_t pos = 0;
  const int g = group_of(r, &pos);
  const int b = g == 0 ? p_.nbits : tail_bits_;
  return get_code(codes_[g].data(), (pos * p_.M + j) * b, b);
}

namespace {

// argmax_k < kc of <q, Kb_k> in sub-space j (ties: smaller k).
uint32_t nearest_key(const float* q, const float* Kb, int D, int d, int j, int kc) {
  uint32_t best = 0;
  float best_s = -INFINITY;
  for (int k = 0; k < kc; ++k) {
    const float* key = Kb + size_t(k) * D + size_t(j) * d;
    float s = 0;
    for (int t = 0; t < d; ++t) s += q[t] * key[t];
    if (s > best_s) {
      best_s = s;
      best = uint32_t(k);
    }
  }
  return best;
}

}  // namespace

void DpqTable::refresh_code(int64_t r) {
  int64_t pos = 0;
  const int g = group_of(r, &pos);
  const int b = g == 0 ? p_.nbits : tail_bits_;
  const int kc = 1 << b;
  for (int j = 0; j < p_.M; ++j)
    set_code(codes_[g].data(), (pos * p_.M + j) * b, b,
             nearest_key(Q_.row(r) + size_t(j) * d_, Kb_.data(), D_, d_, j, kc));
}

void DpqTable::init_codes() {
  // The argmax is computed in parallel per chunk, written serially: neighbouring rows
  // share bytes of the packed stream.
  const int64_t chunk = 1 << 15;
  std::vector<uint8_t> tmp(size_t(std::min<int64_t>(chunk, n_)) * p_.M);
  for (int64_t c0 = 0; c0 < n_; c0 += chunk) {
    const int64_t c1 = std::min(n_, c0 + chunk);
#pragma omp parallel for schedule(static) if (c1 - c0 > 4096)
    for (int64_t r = c0; r < c1; ++r) {
      const int kc = centroids_of(r);
      for (int j = 0; j < p_.M; ++j)
        tmp[size_t(r - c0) * p_.M + j] =
            uint8_t(nearest_key(Q_.row(r) + size_t(j) * d_, Kb_.data(), D_, d_, j, kc));
    }
    for (int64_t r = c0; r < c1; ++r) {
      int64_t pos = 0;
      const int g = group_of(r, &pos);
      const int b = g == 0 ? p_.nbits : tail_bits_;
      for (int j = 0; j < p_.M; ++j)
        set_code(codes_[g].data(), (pos * p_.M + j) * b, b, tmp[size_t(r - c0) * p_.M + j]);
    }
  }
}

void DpqTable::lookup(const int64_t* ids, int64_t n, float* out) {
  check_table_ids(ids, n, n_);
  const float* V = V_.data();
#pragma omp parallel for schedule(static) if (n > 16384)
  for (int64_t i = 0; i < n; ++i)
    for (int j = 0; j < p_.M; ++j)
      std::memcpy(out + i * D_ + j * d_, V + size_t(code(ids[i], j)) * D_ + size_t(j) * d_,
                  sizeof(float) * d_);
}

void DpqTable::backward(const int64_t* ids, int64_t n, const float* grad_out) {
  check_table_ids(ids, n, n_);
  const float* Kb = Kb_.data();
  const float* V = V_.data();
  float* dKb = Kb_.grad();
  float* dV = V_.grad();
  std::vector<float> dq(D_), p(Kc_), dh(Kc_);
  for (int64_t i = 0; i < n; ++i) {
    const int64_t r = ids[i];
    const float* g = grad_out + i * D_;
    const float* q = Q_.row(r);
    const int kc = centroids_of(r);
    std::fill(dq.begin(), dq.end(), 0.0f);
    for (int j = 0; j < p_.M; ++j) {
      const float* qj = q + size_t(j) * d_;
      const float* gj = g + size_t(j) * d_;
      float smax = -INFINITY;
      for (int k = 0; k < kc; ++k) {
        const float* key = Kb + size_t(k) * D_ + size_t(j) * d_;
        const float* val = V + size_t(k) * D_ + size_t(j) * d_;
        float s = 0, h = 0;
        for (int t = 0; t < d_; ++t) {
          s += qj[t] * key[t];
          h += gj[t] * val[t];
        }
        p[k] = s / p_.tau;
        dh[k] = h;
        smax = std::max(smax, p[k]);
      }
      float z = 0;
      for (int k = 0; k < kc; ++k) z += (p[k] = std::exp(p[k] - smax));
      float mean = 0;
      for (int k = 0; k < kc; ++k) mean += (p[k] /= z) * dh[k];
      for (int k = 0; k < kc; ++k) {
        const float ds = p[k] * (dh[k] - mean) / p_.tau;
        const float* key = Kb + size_t(k) * D_ + size_t(j) * d_;
        float* dkey = dKb + size_t(k) * D_ + size_t(j) * d_;
        for (int t = 0; t < d_; ++t) {
          dq[j * d_ + t] += ds * key[t];
          dkey[t] += ds * qj[t];
        }
      }
      float* dval = dV + size_t(code(r, j)) * D_ + size_t(j) * d_;
      for (int t = 0; t < d_; ++t) dval[t] += gj[t];
    }
    Q_.accumulate(r, dq.data());
    touched_.push_back(r);
  }
}

void DpqTable::step() {
  Q_.step(opt_);
  Kb_.step(opt_);
  V_.step(opt_);
  std::sort(touched_.begin(), touched_.end());
  touched_.erase(std::unique(touched_.begin(), touched_.end()), touched_.end());
  for (int64_t r : touched_) refresh_code(r);
  touched_.clear();
}

int64_t DpqTable::bytes() const {
  return V_.bytes() + int64_t(codes_[0].size() + codes_[1].size()) + groups_.bytes();
}

int64_t DpqTable::optimizer_bytes() const {
  // Training-only Q and Kb, and the optimizer state of Q, Kb and V.
  return Q_.bytes() + Kb_.bytes() + RowParams::optimizer_bytes(n_, D_, opt_) +
         2 * RowParams::optimizer_bytes(1, Kc_ * D_, opt_);
}

std::vector<std::pair<void*, size_t>> DpqTable::buffers() {
  std::vector<std::pair<void*, size_t>> out = {{V_.data(), size_t(V_.bytes())},
                                               {codes_[0].data(), codes_[0].size()},
                                               {codes_[1].data(), codes_[1].size()}};
  groups_.append_buffers(out);
  return out;
}

std::string DpqTable::knob() const {
  std::string k = "M=" + std::to_string(p_.M) + ",nbits=" + std::to_string(p_.nbits);
  if (grouped_)
    k +=
        ",tail_nbits=" + std::to_string(tail_bits_) + ",hot=" + std::to_string(groups_.hot_count());
  return k;
}

bool best_code_setting(int dim, double target_bytes,
                       const std::function<int64_t(int M, int nbits)>& bytes,
                       const std::function<double(int M, int nbits)>& info, DpqParams* best,
                       int64_t* bytes_out) {
  bool found = false;
  double best_info = 0;
  for (int M = 1; M <= dim; ++M) {
    if (dim % M) continue;
    for (int nbits = 1; nbits <= 8; ++nbits) {
      const int64_t b = bytes(M, nbits);
      if (double(b) > target_bytes) continue;
      const double x = info(M, nbits);
      if (!found || x > best_info || (x == best_info && b < *bytes_out)) {
        best->M = M;
        best->nbits = nbits;
        *bytes_out = b;
        best_info = x;
        found = true;
      }
    }
  }
  return found;
}

namespace {

std::unique_ptr<EmbeddingTable> make_dpq(const std::string& spec, double budget,
                                         const TableInit& init) {
  require_budget(spec, budget, "DPQ");
  const double full = init.full_bytes();
  const double target = budget * full;
  DpqParams best;
  int64_t best_bytes = -1;
  const bool fits = best_code_setting(
      init.dim, target,
      [&](int M, int nbits) { return DpqTable::dpq_bytes(init.rows, init.dim, M, nbits); },
      [](int M, int nbits) { return double(M) * nbits; }, &best, &best_bytes);
  EC_CHECK(fits, kBadInput,
           spec << ": budget of " << int64_t(target)
                << " bytes cannot hold one 1-bit code per row ("
                << DpqTable::dpq_bytes(init.rows, init.dim, 1, 1) << " bytes)");
  best.seed = init.seed;
  return std::make_unique<DpqTable>(
      init, best, spec,
      budget_gap_note(double(best_bytes) / full, budget,
                      "codes are whole bits, at most 8 bits per dimension, M divides D"));
}

TableRegistrar reg{{"DPQ", "DPQ@B",
                    "differentiable product quantization: M codes of nbits per row over a "
                    "learned Kc x D codebook (4 Kc D + N M nbits / 8 bytes)",
                    make_dpq}};

}  // namespace
}  // namespace embcomp::ctr

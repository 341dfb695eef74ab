#include "compressors/emb_dhe.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>

#include "compressors/budget.h"
#include "compressors/emb_full.h"
#include "toolkit/blas.h"
#include "toolkit/error.h"

namespace embcomp::ctr {
namespace {

__extension__ typedef unsigned __int128 u128;
constexpr uint64_t kPrime = (uint64_t{1} << 61) - 1;  // Mersenne prime 2^61 - 1

// Element-wise loops go parallel only when the batch is large enough to pay for it.
constexpr int64_t kParallelElements = 1 << 16;

inline float softplus(float x) { return x > 20.0f ? x : std::log1p(std::exp(x)); }

inline float activate(DheTableParams::Activation a, float x) {
  if (a == DheTableParams::Activation::kReLU) return x > 0 ? x : 0.0f;
  return x * std::tanh(softplus(x));
}

// d act / dx at x.
inline float activate_grad(DheTableParams::Activation a, float x) {
  if (a == DheTableParams::Activation::kReLU) return x > 0 ? 1.0f : 0.0f;
  const float t = std::tanh(softplus(x));
  const float sig = 1.0f / (1.0f + std::exp(-x));
  return t + x * (1.0f - t * t) * sig;
}

}  // namespace

void DheTableParams::validate() const {
  EC_CHECK(k >= 1 && m >= 2 && m <= int64_t(kPrime) && L >= 1 && w >= 1, kBadInput,
           "DHE: need k >= 1, 2 <= m <= 2^61-1, L >= 1, w >= 1, got k=" << k << " m=" << m << " L="
                                                                        << L << " w=" << w);
}

int64_t DheTableParams::bytes(int D) const {
  const int64_t W = w;
  const int64_t floats = int64_t(k) * W + W + int64_t(L - 1) * (W * W + W) + W * D + D;
  return 4 * floats + 16 * int64_t(k);
}

DheTableParams dhe_solve_budget(const std::string& spec, DheTableParams base, int D,
                                double budget_bytes, double full_bytes) {
  base.w = 1;
  base.validate();
  // bytes(w) is increasing in w; the candidates run to the first width over the budget.
  std::vector<KnobChoice> choices;
  for (int w = 1;; ++w) {
    base.w = w;
    const int64_t b = base.bytes(D);
    choices.push_back({"w=" + std::to_string(w), size_t(b), double(w), 0});
    if (double(b) > budget_bytes) break;
  }
  base.w = static_cast<int>(choose_knob(spec, choices, budget_bytes, full_bytes)) + 1;
  return base;
}

DheTable::DheTable(const TableInit& init, const DheTableParams& p, std::string spec,
                   std::string budget_note)
    : spec_(std::move(spec)),
      note_(std::move(budget_note)),
      p_(p),
      rows_(init.rows),
      D_(init.dim),
      opt_(init.optimizer) {
  p_.validate();
  // Hash seeds: a_i in [1, p), b_i in [0, p), from the table seed.
  std::mt19937_64 rng(init.seed ^ 0x44484521ull);
  hash_ab_.resize(2 * size_t(p_.k));
  for (int i = 0; i < p_.k; ++i) {
    hash_ab_[2 * i] = 1 + rng() % (kPrime - 1);
    hash_ab_[2 * i + 1] = rng() % kPrime;
  }
  // Glorot-uniform weights, zero biases.
  int fan_in = p_.k;
  for (int l = 0; l <= p_.L; ++l) {
    const int fan_out = l == p_.L ? D_ : p_.w;
    const float range = std::sqrt(6.0f / float(fan_in + fan_out));
    const uint64_t seed = init.seed * 0x9E3779B97F4A7C15ull + uint64_t(l + 1);
    layers_.emplace_back(int64_t(fan_in) * fan_out, range, seed);
    layers_.emplace_back(fan_out, 0.0f, seed);
    fan_in = fan_out;
  }
  z_.resize(p_.L);
  h_.resize(p_.L);
}

std::string DheTable::knob() const {
  return "k=" + std::to_string(p_.k) + ",L=" + std::to_string(p_.L) + ",w=" + std::to_string(p_.w);
}

int64_t DheTable::hash(int i, int64_t x) const {
  const u128 v = u128(hash_ab_[2 * i]) * uint64_t(x) + hash_ab_[2 * i + 1];
  return static_cast<int64_t>(uint64_t(v % kPrime) % uint64_t(p_.m));
}

void DheTable::encode(const int64_t* ids, int64_t n, float* x) const {
  const int k = p_.k;
  const float scale = 2.0f / float(p_.m - 1);
#pragma omp parallel for schedule(static) if (n * k > kParallelElements)
  for (int64_t t = 0; t < n; ++t)
    for (int i = 0; i < k; ++i) x[t * k + i] = float(hash(i, ids[t])) * scale - 1.0f;
}

void DheTable::forward(const int64_t* all_ids, int64_t n_all) {
  const int k = p_.k, w = p_.w, L = p_.L;
  cached_ids_.assign(all_ids, all_ids + n_all);
  // The network runs once per distinct id (CTR batches repeat hot ids); inv_ maps each
  // position of the batch to its distinct id.
  uniq_ = cached_ids_;
  std::sort(uniq_.begin(), uniq_.end());
  uniq_.erase(std::unique(uniq_.begin(), uniq_.end()), uniq_.end());
  inv_.resize(n_all);
  for (int64_t i = 0; i < n_all; ++i)
    inv_[i] = std::lower_bound(uniq_.begin(), uniq_.end(), all_ids[i]) - uniq_.begin();
  const int64_t* ids = uniq_.data();
  const int64_t n = static_cast<int64_t>(uniq_.size());
  x0_.resize(size_t(n) * k);
  encode(ids, n, x0_.data());
  const float* in = x0_.data();
  int fan_in = k;
  for (int l = 0; l < L; ++l) {
    z_[l].resize(size_t(n) * w);
    h_[l].resize(size_t(n) * w);
    float* z = z_[l].data();
    float* h = h_[l].data();
    const float* bias = layers_[2 * l + 1].data();
    for (int64_t t = 0; t < n; ++t) std::memcpy(z + t * w, bias, sizeof(float) * w);
    gemm(false, false, n, w, fan_in, 1.0f, in, fan_in, layers_[2 * l].data(), w, 1.0f, z, w);
    const int64_t total = n * w;
    const auto act = p_.act;
#pragma omp parallel for schedule(static) if (total > kParallelElements)
    for (int64_t e = 0; e < total; ++e) h[e] = activate(act, z[e]);
    in = h;
    fan_in = w;
  }
  out_.resize(size_t(n) * D_);
  const float* bias = layers_[2 * L + 1].data();
  for (int64_t t = 0; t < n; ++t) std::memcpy(out_.data() + t * D_, bias, sizeof(float) * D_);
  gemm(false, false, n, D_, w, 1.0f, in, w, layers_[2 * L].data(), D_, 1.0f, out_.data(), D_);
}

void DheTable::lookup(const int64_t* ids, int64_t n, float* out) {
  check_table_ids(ids, n, rows_);
  if (n == 0) return;
  forward(ids, n);
  for (int64_t i = 0; i < n; ++i)
    std::memcpy(out + i * D_, out_.data() + inv_[i] * D_, sizeof(float) * D_);
}

void DheTable::backward(const int64_t* ids, int64_t n, const float* grad_out) {
  check_table_ids(ids, n, rows_);
  if (n == 0) return;
  // The cache holds the last lookup's activations; other ids (e.g. an evaluation lookup
  // came in between) are recomputed.
  if (int64_t(cached_ids_.size()) != n || !std::equal(ids, ids + n, cached_ids_.begin()))
    forward(ids, n);
  // Gradients of repeated ids add up on their distinct row.
  const int64_t n_all = n;
  n = static_cast<int64_t>(uniq_.size());
  gu_.assign(size_t(n) * D_, 0.0f);
  for (int64_t i = 0; i < n_all; ++i)
    for (int j = 0; j < D_; ++j) gu_[inv_[i] * D_ + j] += grad_out[i * D_ + j];
  grad_out = gu_.data();
  const int k = p_.k, w = p_.w, L = p_.L;
  // Output layer.
  gemm(true, false, w, D_, n, 1.0f, h_[L - 1].data(), w, grad_out, D_, 1.0f, layers_[2 * L].grad(),
       D_);
  float* gb = layers_[2 * L + 1].grad();
  for (int64_t t = 0; t < n; ++t)
    for (int j = 0; j < D_; ++j) gb[j] += grad_out[t * D_ + j];
  dh_.resize(size_t(n) * w);
  dz_.resize(size_t(n) * w);
  gemm(false, true, n, w, D_, 1.0f, grad_out, D_, layers_[2 * L].data(), D_, 0.0f, dh_.data(), w);
  for (int l = L - 1; l >= 0; --l) {
    const int64_t total = n * w;
    const float* z = z_[l].data();
    const float* dh = dh_.data();
    float* dz = dz_.data();
    const auto act = p_.act;
#pragma omp parallel for schedule(static) if (total > kParallelElements)
    for (int64_t e = 0; e < total; ++e) dz[e] = dh[e] * activate_grad(act, z[e]);
    const float* in = l == 0 ? x0_.data() : h_[l - 1].data();
    const int fan_in = l == 0 ? k : w;
    gemm(true, false, fan_in, w, n, 1.0f, in, fan_in, dz, w, 1.0f, layers_[2 * l].grad(), w);
    float* gbl = layers_[2 * l + 1].grad();
    for (int64_t t = 0; t < n; ++t)
      for (int j = 0; j < w; ++j) gbl[j] += dz[t * w + j];
    if (l > 0)
      gemm(false, true, n, w, w, 1.0f, dz, w, layers_[2 * l].data(), w, 0.0f, dh_.data(), w);
  }
}

void DheTable::step() {
  for (auto& layer : layers_) layer.step(opt_);
}

int64_t DheTable::bytes() const {
  int64_t total = int64_t(hash_ab_.size()) * 8;
  for (const auto& layer : layers_) total += layer.bytes();
  return total;
}

int64_t DheTable::optimizer_bytes() const {
  int64_t total = 0;
  for (const auto& layer : layers_)
    total += RowParams::optimizer_bytes(1, static_cast<int>(layer.size()), opt_);
  return total;
}

std::vector<std::pair<void*, size_t>> DheTable::buffers() {
  std::vector<std::pair<void*, size_t>> out;
  out.push_back({hash_ab_.data(), hash_ab_.size() * sizeof(uint64_t)});
  for (auto& layer : layers_) out.push_back({layer.data(), size_t(layer.bytes())});
  return out;
}

namespace {

std::unique_ptr<EmbeddingTable> make_dhe(const std::string& spec, double budget,
                                         const TableInit& init) {
  if (budget == 0) return std::make_unique<DheTable>(init, DheTableParams{}, spec);
  const double full = 4.0 * double(init.rows) * init.dim;
  const DheTableParams p = dhe_solve_budget(spec, DheTableParams{}, init.dim, budget * full, full);
  return std::make_unique<DheTable>(
      init, p, spec,
      budget_gap_note(double(p.bytes(init.dim)) / full, budget, "the hidden width is an integer"));
}

TableRegistrar reg{{"DHE", "DHE | DHE@B",
                    "Deep Hash Embedding: k=64 hash encodings -> MLP (2 hidden layers, Mish), "
                    "no table; hidden width solved from the budget",
                    make_dhe}};

}  // namespace
}  // namespace embcomp::ctr

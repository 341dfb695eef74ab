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
constexpr float kBnEps = 1e-5f;                       // BN variance guard
constexpr float kBnMinVar = 1e-4f;                    // floor of the frozen BN variance
constexpr int64_t kBnMinIds = 16;  // distinct ids of a network needed to set its BN moments

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

DheTableParams DheTableParams::lite() {
  DheTableParams p;
  p.k = 64;
  p.L = 2;
  p.bn = false;
  p.per_field = false;
  return p;
}

void DheTableParams::validate() const {
  EC_CHECK(k >= 1 && m >= 2 && m <= int64_t(kPrime) && L >= 1 && w >= 1, kBadInput,
           "DHE: need k >= 1, 2 <= m <= 2^61-1, L >= 1, w >= 1, got k=" << k << " m=" << m << " L="
                                                                        << L << " w=" << w);
}

int64_t DheTableParams::bytes(int D, int fields) const {
  const int64_t W = w;
  const int64_t per_net =
      int64_t(k) * W + W + int64_t(L - 1) * (W * W + W) + W * D + D + (bn ? 4 * int64_t(L) * W : 0);
  return 4 * int64_t(networks(fields)) * per_net + 16 * int64_t(k);
}

DheTableParams dhe_solve_budget(const std::string& spec, DheTableParams base, int D, int fields,
                                double budget_bytes) {
  base.w = 1;
  base.validate();
  EC_CHECK(double(base.bytes(D, fields)) <= budget_bytes, kBadInput,
           spec << ": cannot be met: even hidden width 1 takes " << base.bytes(D, fields)
                << " bytes (k=" << base.k << ", L=" << base.L << ", " << base.networks(fields)
                << " networks), the budget is " << int64_t(budget_bytes) << " bytes");
  // bytes(w) is increasing in w: the largest w that fits, by doubling then bisection.
  int lo = 1, hi = 2;
  for (;;) {
    base.w = hi;
    if (double(base.bytes(D, fields)) > budget_bytes) break;
    lo = hi;
    EC_CHECK(hi < (1 << 20), kBadInput, spec << ": the budget allows a width over 2^20");
    hi *= 2;
  }
  while (hi - lo > 1) {
    base.w = lo + (hi - lo) / 2;
    (double(base.bytes(D, fields)) <= budget_bytes ? lo : hi) = base.w;
  }
  base.w = lo;
  return base;
}

DheTable::DheTable(const TableInit& init, const DheTableParams& p, std::string spec,
                   std::string budget_note)
    : spec_(std::move(spec)),
      note_(std::move(budget_note)),
      p_(p),
      rows_(init.rows),
      D_(init.dim),
      field_offsets_(init.field_offsets),
      opt_(init.optimizer) {
  p_.validate();
  if (field_offsets_.size() < 2) field_offsets_ = {0, rows_};
  const int fields = static_cast<int>(field_offsets_.size()) - 1;
  // Hash seeds: a_i in [1, p), b_i in [0, p), from the table seed.
  std::mt19937_64 rng(init.seed ^ 0x44484521ull);
  hash_ab_.resize(2 * size_t(p_.k));
  for (int i = 0; i < p_.k; ++i) {
    hash_ab_[2 * i] = 1 + rng() % (kPrime - 1);
    hash_ab_[2 * i + 1] = rng() % kPrime;
  }
  nets_.resize(size_t(p_.networks(fields)));
  for (size_t g = 0; g < nets_.size(); ++g) {
    Net& net = nets_[g];
    // Glorot-uniform weights, zero biases; network 0 keeps the single-network seeds.
    int fan_in = p_.k;
    for (int l = 0; l <= p_.L; ++l) {
      const int fan_out = l == p_.L ? D_ : p_.w;
      const float range = std::sqrt(6.0f / float(fan_in + fan_out));
      const uint64_t seed = init.seed * 0x9E3779B97F4A7C15ull + uint64_t(l + 1) + 0x1000 * g;
      net.layers.emplace_back(int64_t(fan_in) * fan_out, range, seed);
      net.layers.emplace_back(fan_out, 0.0f, seed);
      fan_in = fan_out;
    }
    if (p_.bn) {
      for (int l = 0; l < p_.L; ++l) {
        net.bn.emplace_back(p_.w, 0.0f, 0);  // gamma = 1
        std::fill(net.bn.back().data(), net.bn.back().data() + p_.w, 1.0f);
        net.bn.emplace_back(p_.w, 0.0f, 0);  // beta = 0
      }
      net.mu.assign(size_t(p_.L), std::vector<float>(size_t(p_.w), 0.0f));
      net.var.assign(size_t(p_.L), std::vector<float>(size_t(p_.w), 1.0f));
      net.bmean = net.mu;
      net.bvar = net.var;
    }
  }
  z_.resize(p_.L);
  a_.resize(p_.L);
  h_.resize(p_.L);
}

std::string DheTable::knob() const {
  return "k=" + std::to_string(p_.k) + ",L=" + std::to_string(p_.L) + ",w=" + std::to_string(p_.w) +
         (p_.bn ? ",BN" : "") + (p_.per_field ? ",per-field" : "");
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

int DheTable::net_of(int64_t id) const {
  if (!p_.per_field) return 0;
  return static_cast<int>(std::upper_bound(field_offsets_.begin(), field_offsets_.end(), id) -
                          field_offsets_.begin() - 1);
}

void DheTable::forward(const int64_t* all_ids, int64_t n_all) {
  cached_ids_.assign(all_ids, all_ids + n_all);
  // The network runs once per distinct id (CTR batches repeat hot ids); inv_ maps each
  // position of the batch to its distinct id. Sorted, each network's ids are contiguous.
  uniq_ = cached_ids_;
  std::sort(uniq_.begin(), uniq_.end());
  uniq_.erase(std::unique(uniq_.begin(), uniq_.end()), uniq_.end());
  inv_.resize(n_all);
  for (int64_t i = 0; i < n_all; ++i)
    inv_[i] = std::lower_bound(uniq_.begin(), uniq_.end(), all_ids[i]) - uniq_.begin();
  const int64_t n = static_cast<int64_t>(uniq_.size());
  const int G = networks();
  seg_.assign(size_t(G) + 1, n);
  seg_[0] = 0;
  for (int g = 1; g < G; ++g)
    seg_[g] = std::lower_bound(uniq_.begin(), uniq_.end(), field_offsets_[g]) - uniq_.begin();
  x0_.resize(size_t(n) * p_.k);
  encode(uniq_.data(), n, x0_.data());
  for (int l = 0; l < p_.L; ++l) {
    z_[l].resize(size_t(n) * p_.w);
    a_[l].resize(size_t(n) * p_.w);
    h_[l].resize(size_t(n) * p_.w);
  }
  out_.resize(size_t(n) * D_);
  for (int g = 0; g < G; ++g)
    if (seg_[g + 1] > seg_[g]) forward_net(g, seg_[g], seg_[g + 1]);
}

void DheTable::forward_net(int g, int64_t r0, int64_t r1) {
  Net& net = nets_[size_t(g)];
  const int k = p_.k, w = p_.w, L = p_.L;
  const int64_t n = r1 - r0;
  const float* in = x0_.data() + r0 * k;
  int fan_in = k;
  for (int l = 0; l < L; ++l) {
    float* z = z_[l].data() + r0 * w;
    float* a = a_[l].data() + r0 * w;
    float* h = h_[l].data() + r0 * w;
    const float* bias = net.layers[2 * l + 1].data();
    for (int64_t t = 0; t < n; ++t) std::memcpy(z + t * w, bias, sizeof(float) * w);
    gemm(false, false, n, w, fan_in, 1.0f, in, fan_in, net.layers[2 * l].data(), w, 1.0f, z, w);
    if (p_.bn) {
      // Batch moments of Z (for step()'s one-time init), then the normalization.
      float* bm = net.bmean[l].data();
      float* bv = net.bvar[l].data();
      std::fill(bm, bm + w, 0.0f);
      std::fill(bv, bv + w, 0.0f);
      for (int64_t t = 0; t < n; ++t)
        for (int j = 0; j < w; ++j) bm[j] += z[t * w + j];
      for (int j = 0; j < w; ++j) bm[j] /= float(n);
      for (int64_t t = 0; t < n; ++t)
        for (int j = 0; j < w; ++j) bv[j] += (z[t * w + j] - bm[j]) * (z[t * w + j] - bm[j]);
      for (int j = 0; j < w; ++j) bv[j] /= float(n);
      const float* mu = net.mu[l].data();
      const float* var = net.var[l].data();
      const float* gamma = net.bn[2 * l].data();
      const float* beta = net.bn[2 * l + 1].data();
      for (int64_t t = 0; t < n; ++t)
        for (int j = 0; j < w; ++j)
          a[t * w + j] = gamma[j] * (z[t * w + j] - mu[j]) / std::sqrt(var[j] + kBnEps) + beta[j];
    } else {
      std::memcpy(a, z, sizeof(float) * size_t(n) * w);
    }
    const int64_t total = n * w;
    const auto act = p_.act;
#pragma omp parallel for schedule(static) if (total > kParallelElements)
    for (int64_t e = 0; e < total; ++e) h[e] = activate(act, a[e]);
    in = h;
    fan_in = w;
  }
  net.has_batch = false;  // set by backward: only a trained batch sets the statistics
  float* out = out_.data() + r0 * D_;
  const float* bias = net.layers[2 * L + 1].data();
  for (int64_t t = 0; t < n; ++t) std::memcpy(out + t * D_, bias, sizeof(float) * D_);
  gemm(false, false, n, D_, w, 1.0f, in, w, net.layers[2 * L].data(), D_, 1.0f, out, D_);
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
  const int64_t nu = static_cast<int64_t>(uniq_.size());
  gu_.assign(size_t(nu) * D_, 0.0f);
  for (int64_t i = 0; i < n; ++i)
    for (int j = 0; j < D_; ++j) gu_[inv_[i] * D_ + j] += grad_out[i * D_ + j];
  dh_.resize(size_t(nu) * p_.w);
  da_.resize(size_t(nu) * p_.w);
  dz_.resize(size_t(nu) * p_.w);
  for (int g = 0; g < networks(); ++g)
    if (seg_[g + 1] > seg_[g]) backward_net(g, seg_[g], seg_[g + 1], gu_.data());
}

void DheTable::backward_net(int g, int64_t r0, int64_t r1, const float* grad_all) {
  Net& net = nets_[size_t(g)];
  const int k = p_.k, w = p_.w, L = p_.L;
  const int64_t n = r1 - r0;
  const float* grad_out = grad_all + r0 * D_;
  float* dh = dh_.data() + r0 * w;
  float* da = da_.data() + r0 * w;
  float* dz = dz_.data() + r0 * w;
  // Output layer.
  gemm(true, false, w, D_, n, 1.0f, h_[L - 1].data() + r0 * w, w, grad_out, D_, 1.0f,
       net.layers[2 * L].grad(), D_);
  float* gb = net.layers[2 * L + 1].grad();
  for (int64_t t = 0; t < n; ++t)
    for (int j = 0; j < D_; ++j) gb[j] += grad_out[t * D_ + j];
  gemm(false, true, n, w, D_, 1.0f, grad_out, D_, net.layers[2 * L].data(), D_, 0.0f, dh, w);
  for (int l = L - 1; l >= 0; --l) {
    const int64_t total = n * w;
    const float* a = a_[l].data() + r0 * w;
    const auto act = p_.act;
#pragma omp parallel for schedule(static) if (total > kParallelElements)
    for (int64_t e = 0; e < total; ++e) da[e] = dh[e] * activate_grad(act, a[e]);
    if (p_.bn) {
      const float* z = z_[l].data() + r0 * w;
      const float* mu = net.mu[l].data();
      const float* var = net.var[l].data();
      const float* gamma = net.bn[2 * l].data();
      float* ggamma = net.bn[2 * l].grad();
      float* gbeta = net.bn[2 * l + 1].grad();
      for (int64_t t = 0; t < n; ++t)
        for (int j = 0; j < w; ++j) {
          const float inv = 1.0f / std::sqrt(var[j] + kBnEps);
          const float d = da[t * w + j];
          ggamma[j] += d * (z[t * w + j] - mu[j]) * inv;
          gbeta[j] += d;
          dz[t * w + j] = d * gamma[j] * inv;
        }
    } else {
      std::memcpy(dz, da, sizeof(float) * size_t(total));
    }
    const float* in = l == 0 ? x0_.data() + r0 * k : h_[l - 1].data() + r0 * w;
    const int fan_in = l == 0 ? k : w;
    gemm(true, false, fan_in, w, n, 1.0f, in, fan_in, dz, w, 1.0f, net.layers[2 * l].grad(), w);
    float* gbl = net.layers[2 * l + 1].grad();
    for (int64_t t = 0; t < n; ++t)
      for (int j = 0; j < w; ++j) gbl[j] += dz[t * w + j];
    if (l > 0) gemm(false, true, n, w, w, 1.0f, dz, w, net.layers[2 * l].data(), w, 0.0f, dh, w);
  }
  net.has_batch = p_.bn && !net.frozen && n >= kBnMinIds;
}

void DheTable::step() {
  for (auto& net : nets_) {
    for (auto& layer : net.layers) layer.step(opt_);
    for (auto& layer : net.bn) layer.step(opt_);
    if (!net.has_batch) continue;
    // Data-dependent init: the first trained batch with >= kBnMinIds distinct ids of this network
    // sets mu and var (before this step's update of W), which then stay fixed.
    for (int l = 0; l < p_.L; ++l)
      for (int j = 0; j < p_.w; ++j) {
        net.mu[l][j] = net.bmean[l][j];
        net.var[l][j] = std::max(net.bvar[l][j], kBnMinVar);
      }
    net.has_batch = false;
    net.frozen = true;
  }
}

int64_t DheTable::bytes() const {
  int64_t total = int64_t(hash_ab_.size()) * 8;
  for (const auto& net : nets_) {
    for (const auto& layer : net.layers) total += layer.bytes();
    for (const auto& layer : net.bn) total += layer.bytes();
    for (const auto& v : net.mu) total += int64_t(v.size()) * 4;
    for (const auto& v : net.var) total += int64_t(v.size()) * 4;
  }
  return total;
}

int64_t DheTable::optimizer_bytes() const {
  int64_t total = 0;
  for (const auto& net : nets_) {
    for (const auto& layer : net.layers)
      total += RowParams::optimizer_bytes(1, static_cast<int>(layer.size()), opt_);
    for (const auto& layer : net.bn)
      total += RowParams::optimizer_bytes(1, static_cast<int>(layer.size()), opt_);
  }
  return total;
}

std::vector<std::pair<void*, size_t>> DheTable::buffers() {
  std::vector<std::pair<void*, size_t>> out;
  out.push_back({hash_ab_.data(), hash_ab_.size() * sizeof(uint64_t)});
  for (auto& net : nets_) {
    for (auto& layer : net.layers) out.push_back({layer.data(), size_t(layer.bytes())});
    for (auto& layer : net.bn) out.push_back({layer.data(), size_t(layer.bytes())});
    for (auto& v : net.mu) out.push_back({v.data(), v.size() * 4});
    for (auto& v : net.var) out.push_back({v.data(), v.size() * 4});
  }
  return out;
}

namespace {

std::unique_ptr<EmbeddingTable> make_dhe_from(const DheTableParams& preset, const std::string& spec,
                                              double budget, const TableInit& init) {
  if (budget == 0) return std::make_unique<DheTable>(init, preset, spec);
  const int fields = std::max(1, static_cast<int>(init.field_offsets.size()) - 1);
  const double full = init.full_bytes();
  const DheTableParams p = dhe_solve_budget(spec, preset, init.dim, fields, budget * full);
  return std::make_unique<DheTable>(init, p, spec,
                                    budget_gap_note(double(p.bytes(init.dim, fields)) / full,
                                                    budget, "the hidden width is an integer"));
}

TableRegistrar reg{{"DHE", "DHE | DHE@B",
                    "Deep Hash Embedding, the study's configuration: k=1024 hash encodings -> "
                    "MLP (5 hidden layers, BN, Mish), one per field, no table; width solved",
                    [](const std::string& spec, double budget, const TableInit& init) {
                      return make_dhe_from(DheTableParams::study(), spec, budget, init);
                    }}};
TableRegistrar reg_lite{{"DHElite", "DHElite | DHElite@B",
                         "Deep Hash Embedding, reduced: k=64 hash encodings -> MLP (2 hidden "
                         "layers, Mish, no BN), one for all fields; width solved",
                         [](const std::string& spec, double budget, const TableInit& init) {
                           return make_dhe_from(DheTableParams::lite(), spec, budget, init);
                         }}};

}  // namespace
}  // namespace embcomp::ctr

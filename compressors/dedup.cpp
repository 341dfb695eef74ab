#include "compressors/dedup.h"

#include <omp.h>

#include <algorithm>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>

#include "compressors/budget.h"
#include "toolkit/registry.h"
#include "toolkit/serialize.h"

namespace embcomp {

namespace {

constexpr uint64_t kNoCandidate = std::numeric_limits<uint64_t>::max();
constexpr int kCoordBits = 16;         ///< bits of one quantized projection
constexpr int kTopLevel = kCoordBits;  ///< at this shift every block shares one bucket
constexpr int kMaxTopRepeats = 64;     ///< extra passes of the top level (each merges >= 1)
constexpr size_t kMaxBlockElems = size_t{1} << 20;
/// Below this many blocks a loop runs on one thread (a parallel region costs more).
constexpr size_t kParallelMin = size_t{1} << 14;
/// How many blocks ahead random block reads are prefetched.
constexpr size_t kPrefetch = 8;
/// The default block width keeps the block count (and so the working memory, about 43
/// bytes per block) at most this, and the map at most this share of the budget.
constexpr size_t kMaxDefaultBlocks = size_t{1} << 24;
constexpr double kMaxMapShare = 0.875;
/// Blocks sampled to measure the range of each projection.
constexpr size_t kRangeSample = size_t{1} << 16;
/// From this many distinct blocks on, levels are sampled first and skipped when useless.
constexpr size_t kSampleLevelsFrom = size_t{1} << 16;

using Clock = std::chrono::steady_clock;

/// Read access to the blocks of a table: position p is block row p / nbc, block column
/// p % nbc; a block is R x C row-major, zero padded past row n and column d.
struct Blocks {
  MatrixView<float> x;
  size_t R, C, nbc, E;

  size_t real_rows(size_t p) const { return std::min(R, x.n - (p / nbc) * R); }
  size_t real_cols(size_t p) const { return std::min(C, x.d - (p % nbc) * C); }
  /// Asks the cache for block p (one unpadded row piece; others are gathered anyway).
  void prefetch(size_t p) const {
    const size_t rb = p / nbc, c0 = (p % nbc) * C;
    if (R != 1 || c0 + C > x.d) return;
    const char* a = reinterpret_cast<const char*>(x.row(rb) + c0);
    for (size_t off = 0; off < E * sizeof(float); off += 64) __builtin_prefetch(a + off);
  }
  /// Block p's E floats: a pointer into x when the block is one unpadded row piece,
  /// otherwise gathered into scratch (E floats).
  const float* get(size_t p, float* scratch) const {
    const size_t rb = p / nbc, c0 = (p % nbc) * C;
    if (R == 1 && c0 + C <= x.d) return x.row(rb) + c0;
    std::fill(scratch, scratch + E, 0.0f);
    const size_t nr = real_rows(p), nc = real_cols(p);
    for (size_t i = 0; i < nr; ++i) std::memcpy(scratch + i * C, x.row(rb * R + i) + c0, nc * 4);
    return scratch;
  }
};

uint64_t block_hash(const float* b, size_t E) {
  uint64_t h = 0x9E3779B97F4A7C15ull;
  for (size_t e = 0; e < E; ++e) {
    uint32_t w;
    std::memcpy(&w, b + e, 4);
    h = (h ^ w) * 0xFF51AFD7ED558CCDull;
    h ^= h >> 33;
  }
  return h;
}

/// Stable LSD radix sort of keys by their bits [lo_bit, hi_bit) (11-bit digits), carrying
/// vals along when given. Passes whose digit is the same for every key are skipped. Each
/// thread counts and scatters one contiguous chunk, so the (unique) stable order does not
/// depend on the thread count.
void radix_sort(std::vector<uint64_t>& keys, std::vector<uint32_t>* vals, int lo_bit, int hi_bit) {
  constexpr int kDigit = 11;
  constexpr size_t kBuckets = size_t{1} << kDigit;
  const size_t n = keys.size();
  if (n == 0) return;
  const size_t T = n >= kParallelMin ? size_t(std::max(1, omp_get_max_threads())) : 1;
  std::vector<uint64_t> k2(n);
  std::vector<uint32_t> v2(vals ? n : 0);
  std::vector<size_t> count(T * kBuckets);  // count[t * kBuckets + digit]
  for (int shift = lo_bit; shift < hi_bit; shift += kDigit) {
    const uint64_t mask = (uint64_t{1} << std::min(kDigit, hi_bit - shift)) - 1;
    auto digit = [&](uint64_t k) { return size_t((k >> shift) & mask); };
#pragma omp parallel for num_threads(T) schedule(static, 1)
    for (size_t t = 0; t < T; ++t) {
      size_t* c = &count[t * kBuckets];
      std::fill(c, c + kBuckets, 0);
      for (size_t i = t * n / T; i < (t + 1) * n / T; ++i) ++c[digit(keys[i])];
    }
    size_t first = 0;
    for (size_t t = 0; t < T; ++t) first += count[t * kBuckets + digit(keys[0])];
    if (first == n) continue;
    size_t sum = 0;
    for (size_t dg = 0; dg < kBuckets; ++dg) {
      for (size_t t = 0; t < T; ++t) {
        const size_t c = count[t * kBuckets + dg];
        count[t * kBuckets + dg] = sum;
        sum += c;
      }
    }
#pragma omp parallel for num_threads(T) schedule(static, 1)
    for (size_t t = 0; t < T; ++t) {
      size_t* c = &count[t * kBuckets];
      for (size_t i = t * n / T; i < (t + 1) * n / T; ++i) {
        const size_t at = c[digit(keys[i])]++;
        k2[at] = keys[i];
        if (vals) v2[at] = (*vals)[i];
      }
    }
    keys.swap(k2);
    if (vals) vals->swap(v2);
  }
}

/// Starts of about `parts` ranges of [0, n) that begin where is_start(i) holds (i = 0
/// always does), ending with n: work items that never split a run.
template <class F>
std::vector<size_t> aligned_starts(size_t n, size_t parts, F&& is_start) {
  std::vector<size_t> s{0};
  for (size_t c = 1; c < parts; ++c) {
    size_t i = std::max(s.back() + 1, c * n / parts);
    while (i < n && !is_start(i)) ++i;
    if (i >= n) break;
    s.push_back(i);
  }
  s.push_back(n);
  return s;
}

/// Largest U with dedup_bytes(P, E, U) <= budget_bytes (0 when none), capped at P.
size_t max_unique(double budget_bytes, size_t P, size_t E) {
  // A budget given as bytes / (4 n d) must allow exactly those bytes despite rounding.
  budget_bytes *= 1 + 1e-12;
  const double bb = 4.0 * double(E);
  size_t best = 0;
  if (budget_bytes >= 4.0 * double(P)) {
    const double u4 = std::floor((budget_bytes - 4.0 * double(P)) / bb);
    if (u4 > 65536) best = size_t(std::min(u4, double(P)));
  }
  if (best == 0 && budget_bytes >= 2.0 * double(P))
    best = size_t(std::min(65536.0, std::floor((budget_bytes - 2.0 * double(P)) / bb)));
  return std::min(best, P);
}

/// The LSH stage (steps 2-3 of dedup.h) over block positions. par is the merge forest:
/// par[p] == p for a live block, else the block p was merged into (for bit-identical
/// duplicates, their first copy); weight[p] = the positions a live block stands for.
class LshMerger {
 public:
  /// live: the positions of the distinct blocks, ascending.
  LshMerger(const Blocks& blocks, std::vector<uint32_t> live, std::vector<uint32_t>& par,
            std::vector<uint32_t>& weight, const DedupParams& params)
      : blk_(blocks),
        live_(std::move(live)),
        par_(par),
        weight_(weight),
        L_(params.bands),
        k_(params.hashes_per_band) {
    build_bands(params.seed);
    std::vector<uint32_t>().swap(live_);
  }

  /// Merges until at most target blocks are live or no merge is possible; returns the
  /// number left and sets the loosest (sim, fp) that merged.
  size_t run(size_t target, double* sim, double* fp) {
    const size_t P = par_.size();
    size_t live = perm_[0].size();
    std::vector<uint8_t> stamp(P, 0);
    best_.assign(P, kNoCandidate);
    std::vector<uint64_t> keys;
    *sim = 1;
    *fp = 0;
    for (int step = 0; live > target && step <= kTopLevel + kMaxTopRepeats; ++step) {
      const int s = std::min(step, kTopLevel);
      const double level_sim = 1.0 - double(s) / kTopLevel;
      const double level_fp = fp0_ * std::ldexp(1.0, s);
      const uint8_t now = uint8_t(step + 1);
      if (s < kTopLevel && skip_level(s, level_sim, float(level_fp))) continue;
      for (int b = 0; b < L_; ++b) scan_band(b, s, level_sim, float(level_fp), false);
      // Candidates in increasing (cost, position), cost = weight[u] * |u - leader|^2: the
      // squared error the merge adds for the positions u stands for. Listed in position
      // order (a sequential read), then stably sorted by the cost's bits, which order like
      // the (non-negative) values.
      keys.clear();
      for (size_t u = 0; u < P; ++u) {
        if (best_[u] == kNoCandidate) continue;
        const uint32_t d2_bits = uint32_t(best_[u] >> 32);
        float cost;
        std::memcpy(&cost, &d2_bits, 4);
        cost *= float(weight_[u]);
        uint32_t cost_bits;
        std::memcpy(&cost_bits, &cost, 4);
        keys.push_back(uint64_t(cost_bits) << 32 | u);
      }
      radix_sort(keys, nullptr, 32, 64);
      size_t merged = 0;
      for (size_t i = 0; i < keys.size(); ++i) {
        if (i + 2 * kPrefetch < keys.size()) {
          const uint32_t ahead = uint32_t(keys[i + 2 * kPrefetch]);
          __builtin_prefetch(&par_[ahead], 1);
          __builtin_prefetch(&best_[ahead], 1);
          __builtin_prefetch(&stamp[ahead]);
        }
        if (live <= target) break;  // the budget is met: best_ is not used again
        const uint32_t u = uint32_t(keys[i]);
        const uint32_t l = uint32_t(best_[u]);
        best_[u] = kNoCandidate;
        if (par_[u] != u || stamp[u] == now || par_[l] != l) continue;
        par_[u] = l;
        stamp[l] = now;
        weight_[l] += weight_[u];
        --live;
        ++merged;
      }
      if (merged > 0) {
        *sim = level_sim;
        *fp = level_fp;
      } else if (s == kTopLevel) {
        break;  // one bucket and nothing merged: a single block is live
      }
    }
    return live;
  }

 private:
  /// Draws the projections, measures their ranges and sorts every band.
  void build_bands(uint64_t seed) {
    const size_t E = blk_.E, H = size_t(L_) * k_, n = live_.size();
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> gauss(0.0f, 1.0f);
    at_.resize(E * H);  // E x H: at_[e * H + h] = a_h[e]
    for (size_t h = 0; h < H; ++h)
      for (size_t e = 0; e < E; ++e) at_[e * H + h] = gauss(rng);
    // Range of every projection over an evenly spaced sample of at most 65536 blocks
    // (min and max do not depend on the order), widened by 1/8 on each side; the rare
    // block outside it is clamped into an edge cell.
    const size_t stride = std::max<size_t>(1, n / kRangeSample), ns = (n + stride - 1) / stride;
    std::vector<float> lo(H, std::numeric_limits<float>::infinity()), hi(H, -lo[0]);
    OmpExceptionGuard guard;
#pragma omp parallel if (ns >= kParallelMin)
    {
      guard.run([&] {
        std::vector<float> scratch(E), proj(H), tlo(H, lo[0]), thi(H, hi[0]);
#pragma omp for schedule(static)
        for (size_t j = 0; j < ns; ++j) {
          project(blk_.get(live_[j * stride], scratch.data()), 0, H, proj.data());
          for (size_t h = 0; h < H; ++h) {
            tlo[h] = std::min(tlo[h], proj[h]);
            thi[h] = std::max(thi[h], proj[h]);
          }
        }
#pragma omp critical(embcomp_dedup_range)
        for (size_t h = 0; h < H; ++h) {
          lo[h] = std::min(lo[h], tlo[h]);
          hi[h] = std::max(hi[h], thi[h]);
        }
      });
    }
    guard.rethrow();
    std::uniform_real_distribution<double> unif(0.0, 1.0);
    origin_.resize(H);
    inv_w0_.resize(H);
    double w0_sum = 0;
    for (size_t h = 0; h < H; ++h) {
      const double sampled = double(hi[h]) - double(lo[h]);
      const double low = double(lo[h]) - sampled / 8, range = sampled * 1.25;
      const double u = unif(rng);  // drawn for every hash, so later hashes do not shift
      if (!(range > 0) || !std::isfinite(range)) {
        origin_[h] = low;
        inv_w0_[h] = 0;  // one cell: the projection is constant
        continue;
      }
      const double w0 = range / double(1 << (kCoordBits - 1));
      // h(v) = floor((a.v + b) / w0) with b = u * range, shifted by -min so that the
      // quantized value lies in [0, 2^16).
      origin_[h] = low - u * range;
      inv_w0_[h] = 1.0 / w0;
      w0_sum += w0;
    }
    fp0_ = w0_sum / double(H) / std::sqrt(double(E));
    perm_.resize(L_);
    lvl_.resize(L_);
    for (int b = 0; b < L_; ++b) sort_band(b);
  }

  /// out[h - h0] = a_h . v for h in [h0, h0 + count); the loop order vectorizes over h
  /// and keeps each sum's order fixed (bitwise the same on any thread).
  void project(const float* v, size_t h0, size_t count, float* out) const {
    const size_t H = size_t(L_) * k_;
    float acc[64];
    std::fill(acc, acc + count, 0.0f);
    for (size_t e = 0; e < blk_.E; ++e) {
      const float ve = v[e];
      const float* a = &at_[e * H + h0];
      for (size_t h = 0; h < count; ++h) acc[h] += ve * a[h];
    }
    std::copy(acc, acc + count, out);
  }

  uint32_t quantize(float proj, size_t h) const {
    const double q = std::floor((double(proj) - origin_[h]) * inv_w0_[h]);
    return uint32_t(std::clamp(q, 0.0, double((1 << kCoordBits) - 1)));
  }

  /// perm_[b]: the live positions sorted by (Morton code of band b's k quantized hashes,
  /// position); the bit interleaving makes every bucket of every level a contiguous run.
  /// lvl_[b][i]: the lowest level at which entry i shares entry i - 1's bucket (255 at 0).
  void sort_band(int b) {
    const size_t E = blk_.E, h0 = size_t(b) * k_, n = live_.size();
    std::vector<uint64_t> codes(n);
    OmpExceptionGuard guard;
#pragma omp parallel if (n >= kParallelMin)
    {
      guard.run([&] {
        std::vector<float> scratch(E), proj(k_);
#pragma omp for schedule(static)
        for (size_t i = 0; i < n; ++i) {
          project(blk_.get(live_[i], scratch.data()), h0, k_, proj.data());
          uint64_t code = 0;
          for (int j = 0; j < k_; ++j) {
            const uint64_t q = quantize(proj[j], h0 + j);
            for (int t = 0; t < kCoordBits; ++t) code |= ((q >> t) & 1u) << (t * k_ + j);
          }
          codes[i] = code;
        }
      });
    }
    guard.rethrow();
    std::vector<uint32_t> perm = live_;
    radix_sort(codes, &perm, 0, kCoordBits * k_);
    std::vector<uint8_t> lvl(n);
    if (n > 0) lvl[0] = 255;
    for (size_t i = 1; i < n; ++i) {
      const int bits = 64 - std::countl_zero(codes[i] ^ codes[i - 1]);
      lvl[i] = uint8_t((bits + k_ - 1) / k_);
    }
    perm_[b] = std::move(perm);
    lvl_[b] = std::move(lvl);
  }

  /// A level where few blocks would find a passing leader costs a full pass over the
  /// blocks for little: it is skipped (its merges are left to the next, looser level) when
  /// in the first 1/16 of every band's sorted order (a deterministic sample: the code
  /// order is unrelated to the data order) fewer than 1% of the live blocks pass. Small
  /// tables always run every level.
  bool skip_level(int s, double sim, float fp) {
    const size_t n = perm_[0].size();
    if (n < kSampleLevelsFrom) return false;
    size_t passes = 0, live = 0;
    for (int b = 0; b < L_; ++b) {
      const auto [p, l] = scan_band(b, s, sim, fp, true);
      passes += p;
      live += l;
    }
    return passes * 100 < live;
  }

  /// For every bucket of band b at level s with two or more live blocks: the leader is the
  /// live block nearest to the bucket's mean (weighted by the positions each block stands
  /// for); every other live block u that passes the (sim, fp) test against the leader gets
  /// it as candidate when nearer than u's current one. One pass in sorted order that
  /// prefetches the per-position state and the blocks of the entries ahead (random reads
  /// are what this stage waits on).
  /// sample: only count, over the buckets that start in the first 1/16 of the order, the
  /// blocks that would get a candidate and the live blocks; returns {passes, live}.
  std::pair<size_t, size_t> scan_band(int b, int s, double sim, float fp, bool sample) {
    const auto& perm = perm_[b];
    const auto& lvl = lvl_[b];
    size_t n = perm.size();
    if (sample) {
      n /= 16;
      while (n < perm.size() && lvl[n] <= s) ++n;  // end at a bucket boundary
    }
    auto starts =
        aligned_starts(n, size_t(8 * omp_get_max_threads()), [&](size_t i) { return lvl[i] > s; });
    size_t passes = 0, live = 0;
    const size_t nparts = starts.size() - 1;
    // Entry i is in a bucket of two or more entries.
    auto shared = [&](size_t i) { return lvl[i] <= s || (i + 1 < n && lvl[i + 1] <= s); };
    OmpExceptionGuard guard;
#pragma omp parallel if (n >= kParallelMin) reduction(+ : passes, live)
    {
      guard.run([&] {
        std::vector<uint32_t> members;
        std::vector<float> scratch(blk_.E), leader(blk_.E);
        std::vector<double> mean(blk_.E);
#pragma omp for schedule(dynamic)
        for (size_t c = 0; c < nparts; ++c) {
          const size_t end = starts[c + 1];
          for (size_t i = starts[c]; i < end;) {
            size_t j = i + 1;
            while (j < end && lvl[j] <= s) ++j;
            if (j - i >= 2) {
              members.clear();
              for (size_t t = i; t < j; ++t) {
                const size_t far = t + 4 * kPrefetch, near = t + kPrefetch;
                if (far < end && shared(far)) __builtin_prefetch(&par_[perm[far]]);
                if (near < end && shared(near) && par_[perm[near]] == perm[near]) {
                  blk_.prefetch(perm[near]);
                  __builtin_prefetch(&weight_[perm[near]]);
                  __builtin_prefetch(&best_[perm[near]], 1);
                }
                if (par_[perm[t]] == perm[t]) members.push_back(perm[t]);
              }
              live += members.size();
              if (members.size() >= 2)
                passes += bucket(members, sim, fp, mean, scratch, leader, !sample);
            } else {
              live += par_[perm[i]] == perm[i];
            }
            i = j;
          }
        }
      });
    }
    guard.rethrow();
    return {passes, live};
  }

  /// Returns how many members passed; records their candidates when record is set.
  size_t bucket(const std::vector<uint32_t>& members, double sim, float fp,
                std::vector<double>& mean, std::vector<float>& scratch, std::vector<float>& leader,
                bool record) {
    const size_t E = blk_.E, nm = members.size();
    // Large buckets do not stay in cache between the passes: prefetch within them too.
    auto ahead = [&](size_t t) {
      if (t + kPrefetch < nm) blk_.prefetch(members[t + kPrefetch]);
    };
    std::fill(mean.begin(), mean.end(), 0.0);
    double total = 0;
    for (size_t t = 0; t < nm; ++t) {
      ahead(t);
      const float* v = blk_.get(members[t], scratch.data());
      const double w = weight_[members[t]];
      for (size_t e = 0; e < E; ++e) mean[e] += w * v[e];
      total += w;
    }
    for (size_t e = 0; e < E; ++e) leader[e] = float(mean[e] / total);  // the mean, for now
    size_t lead_t = 0;
    float lead_d2 = std::numeric_limits<float>::infinity();
    for (size_t t = 0; t < nm; ++t) {
      ahead(t);
      const float* v = blk_.get(members[t], scratch.data());
      float d2 = 0;
      for (size_t e = 0; e < E; ++e) d2 += (v[e] - leader[e]) * (v[e] - leader[e]);
      if (d2 < lead_d2) {
        lead_d2 = d2;
        lead_t = t;
      }
    }
    const uint32_t lead = members[lead_t];
    size_t passes = 0;
    const float* lv = blk_.get(lead, scratch.data());
    std::copy(lv, lv + E, leader.begin());
    for (size_t t = 0; t < nm; ++t) {
      ahead(t);
      const uint32_t m = members[t];
      if (m == lead) continue;
      const float* v = blk_.get(m, scratch.data());
      const size_t nr = blk_.real_rows(m), nc = blk_.real_cols(m);
      size_t within = 0;
      float d2 = 0;
      for (size_t r = 0; r < nr; ++r) {
        const float* vr = v + r * blk_.C;
        const float* lr = leader.data() + r * blk_.C;
        for (size_t c = 0; c < nc; ++c) {
          const float diff = vr[c] - lr[c];
          within += std::fabs(diff) <= fp;
          d2 += diff * diff;
        }
      }
      if (double(within) < sim * double(nr * nc)) continue;
      ++passes;
      if (!record) continue;
      uint32_t bits;
      std::memcpy(&bits, &d2, 4);
      const uint64_t key = uint64_t(bits) << 32 | lead;
      if (key < best_[m]) best_[m] = key;  // m is in one bucket per band: no race
    }
    return passes;
  }

  const Blocks& blk_;
  std::vector<uint32_t> live_;  ///< distinct positions, ascending (only while building)
  std::vector<uint32_t>& par_;
  std::vector<uint32_t>& weight_;
  int L_, k_;
  std::vector<float> at_;                    ///< E x (L k): the projection directions
  std::vector<double> origin_, inv_w0_;      ///< per hash: min - b, 1 / w0
  double fp0_ = 0;                           ///< fp at level 0
  std::vector<std::vector<uint32_t>> perm_;  ///< per band: live positions in code order
  std::vector<std::vector<uint8_t>> lvl_;    ///< per band: bucket-boundary levels
  /// per position: the candidate, squared distance bits << 32 | leader; or kNoCandidate
  std::vector<uint64_t> best_;
};

}  // namespace

void DedupParams::validate(size_t d) const {
  EC_CHECK(rows_per_block >= 1 && rows_per_block <= 65536, kBadInput,
           "Dedup: rows_per_block=" << rows_per_block << " is not in [1, 65536]");
  EC_CHECK(cols_per_block <= d, kBadInput,
           "Dedup: cols_per_block=" << cols_per_block << " exceeds d=" << d);
  EC_CHECK(bands >= 1 && bands <= 16, kBadInput, "Dedup: bands=" << bands << " is not in [1, 16]");
  EC_CHECK(hashes_per_band >= 1 && hashes_per_band <= 4, kBadInput,
           "Dedup: hashes_per_band=" << hashes_per_band << " is not in [1, 4]");
}

size_t default_cols_per_block(size_t n, size_t d, size_t rows_per_block, double budget) {
  const double budget_bytes = budget * 4.0 * double(n) * double(d);
  const size_t R = std::max<size_t>(rows_per_block, 1), block_rows = (n + R - 1) / R;
  for (size_t C = 2; C <= std::min<size_t>(d, 64); ++C) {
    const size_t per_row = (d + C - 1) / C;
    if (per_row * C - d > d / 50) continue;  // more than 2% padding
    const size_t P = block_rows * per_row;
    if (P > kMaxDefaultBlocks) continue;
    const size_t U = max_unique(budget_bytes, P, R * C);
    if (U >= 1 && double(dedup_index_width(U) * P) <= kMaxMapShare * budget_bytes) return C;
  }
  return d;  // whole rows: the smallest map
}

size_t dedup_index_width(size_t unique) { return unique <= 65536 ? 2 : 4; }

// ---- DedupBlockMap ---------------------------------------------------------------------

void DedupBlockMap::set_shape(size_t n, size_t d_cols, size_t rows, size_t cols) {
  R = rows;
  C = cols;
  d = d_cols;
  nbc = (d + C - 1) / C;
  P = checked_mul((n + R - 1) / R, nbc);
  unique.clear();
  map16.clear();
  map32.clear();
}

void DedupBlockMap::reset_map(size_t U) {
  map16.clear();
  map32.clear();
  if (dedup_index_width(U) == 2)
    map16.resize(P);
  else
    map32.resize(P);
}

void DedupBlockMap::decode_row(size_t i, float* out) const {
  const size_t E = R * C, r = i % R, base = (i / R) * nbc;
  for (size_t c = 0; c < nbc; ++c) {
    const float* b = unique.data() + map_at(base + c) * E + r * C;
    std::memcpy(out + c * C, b, std::min(C, d - c * C) * sizeof(float));
  }
}

void DedupBlockMap::decode_ids(const int64_t* ids, size_t count, float* out) const {
#pragma omp parallel for if (count > 4096) schedule(static)
  for (size_t k = 0; k < count; ++k) decode_row(size_t(ids[k]), out + k * d);
}

void DedupBlockMap::decode_range(size_t start, size_t count, float* out) const {
#pragma omp parallel for if (count > 4096) schedule(static)
  for (size_t k = 0; k < count; ++k) decode_row(start + k, out + k * d);
}

void DedupBlockMap::save(BinaryWriter& w) const {
  w.put_vector(unique);
  w.put_vector(map16);
  w.put_vector(map32);
}

void DedupBlockMap::load(BinaryReader& r, const std::string& spec) {
  unique = r.get_vector<float>();
  const size_t E = R * C;
  EC_CHECK(unique.size() % E == 0 && unique.size() / E <= P, kBadInput,
           r.what() << ": corrupt " << spec << " blocks");
  const size_t U = unique.size() / E;
  map16 = r.get_vector<uint16_t>();
  map32 = r.get_vector<uint32_t>();
  EC_CHECK(map16.size() + map32.size() == P && (map16.empty() || map32.empty()) &&
               (map16.empty() == (dedup_index_width(U) == 4)),
           kBadInput,
           r.what() << ": corrupt " << spec << " block map (" << P << " positions expected)");
  for (size_t p = 0; p < P; ++p)
    EC_CHECK(map_at(p) < U, kBadInput,
             r.what() << ": corrupt " << spec << " block map: index " << map_at(p) << " >= " << U);
}

size_t dedup_bytes(size_t positions, size_t block_elems, size_t unique) {
  return 4 * block_elems * unique + dedup_index_width(unique) * positions;
}

DedupTable::DedupTable(size_t n, size_t d, double budget, DedupParams params, std::string spec)
    : n_expected_(n), d_(d), params_(params), spec_(std::move(spec)) {
  EC_CHECK(n > 0 && d > 0, kBadInput,
           spec_ << ": needs n > 0 and d > 0 (n=" << n << ", d=" << d << ")");
  params_.validate(d);
  const size_t R = params_.rows_per_block;
  const size_t C =
      params_.cols_per_block ? params_.cols_per_block : default_cols_per_block(n, d, R, budget);
  EC_CHECK(
      R * C <= kMaxBlockElems, kBadInput,
      spec_ << ": block " << R << "x" << C << " has more than " << kMaxBlockElems << " values");
  b_.set_shape(n, d, R, C);
  EC_CHECK(b_.P < (size_t{1} << 31), kBadInput,
           spec_ << ": " << b_.P << " blocks exceed the 31-bit block positions");
  EC_CHECK(budget > 0 && budget <= 1, kBadInput,
           spec_ << ": budget " << budget << " is not in (0, 1]");
  const double budget_bytes = budget * 4.0 * double(n) * double(d);
  target_ = max_unique(budget_bytes, b_.P, b_.R * b_.C);
  if (target_ < 1)
    budget_unreachable(spec_, budget_bytes, 4.0 * double(n) * double(d),
                       "the block map of " + std::to_string(b_.P) +
                           " positions x 2 bytes and one " + std::to_string(b_.R) + "x" +
                           std::to_string(b_.C) + " block",
                       dedup_bytes(b_.P, b_.R * b_.C, 1));
  set_budget(budget, "");
}

std::string DedupTable::knob() const {
  char buf[160];
  if (n_ == 0) {
    std::snprintf(buf, sizeof(buf), "block=%zux%zu", b_.R, b_.C);
  } else {
    std::snprintf(buf, sizeof(buf), "sim=%.2f,fp=%.3g,merged=%zu/%zu,block=%zux%zu", sim_, fp_,
                  merged_blocks(), b_.P, b_.R, b_.C);
  }
  return buf;
}

size_t DedupTable::total_bytes() const { return b_.bytes(); }

void DedupTable::compress(MatrixView<float> x) {
  check_train_input(spec_, x, d_, 1);
  EC_CHECK(x.n == n_expected_, kBadInput,
           spec_ << ": was sized for n=" << n_expected_ << " rows, got " << x.n);
  const auto t0 = Clock::now();
  const size_t E = b_.R * b_.C, P = b_.P;
  const Blocks blk{x, b_.R, b_.C, b_.nbc, E};

  // 1. Exact duplicates: sort positions by a hash of the block's bits, then compare bits
  //    within each run of equal hashes. par[p] = the first position with the same bits.
  std::vector<uint32_t> par(P);
  {
    std::vector<uint64_t> hash(P);
    OmpExceptionGuard guard;
#pragma omp parallel if (P >= kParallelMin)
    {
      guard.run([&] {
        std::vector<float> scratch(E);
#pragma omp for schedule(static)
        for (size_t p = 0; p < P; ++p) hash[p] = block_hash(blk.get(p, scratch.data()), E);
      });
    }
    guard.rethrow();
    std::vector<uint32_t> order(P);
    std::iota(order.begin(), order.end(), 0u);
    radix_sort(hash, &order, 0, 64);
    auto starts = aligned_starts(P, size_t(8 * omp_get_max_threads()),
                                 [&](size_t i) { return hash[i] != hash[i - 1]; });
    const size_t nparts = starts.size() - 1;
#pragma omp parallel if (P >= kParallelMin)
    {
      guard.run([&] {
        std::vector<float> a(E), b(E);
        std::vector<uint32_t> firsts;  // distinct blocks of the current hash run
#pragma omp for schedule(dynamic)
        for (size_t c = 0; c < nparts; ++c) {
          for (size_t i = starts[c]; i < starts[c + 1];) {
            size_t j = i + 1;
            while (j < P && hash[j] == hash[i]) ++j;
            firsts.clear();
            for (size_t t = i; t < j; ++t) {  // positions ascend within a run (stable sort)
              const uint32_t p = order[t];
              par[p] = p;
              if (j - i == 1) break;
              const float* v = blk.get(p, a.data());
              for (uint32_t f : firsts) {
                if (std::memcmp(v, blk.get(f, b.data()), E * 4) == 0) {
                  par[p] = f;
                  break;
                }
              }
              if (par[p] == p) firsts.push_back(p);
            }
            i = j;
          }
        }
      });
    }
    guard.rethrow();
  }
  std::vector<uint32_t> weight(P, 0);
  for (size_t p = 0; p < P; ++p) ++weight[par[p]];
  std::vector<uint32_t> live;
  for (size_t p = 0; p < P; ++p)
    if (par[p] == p) live.push_back(uint32_t(p));
  const size_t U0 = live.size();
  exact_merged_ = P - U0;

  // 2-3. LSH levels until the budget's unique count is reached.
  sim_ = 1;
  fp_ = 0;
  if (U0 > target_) {
    size_t left = 0;
    {
      LshMerger merger(blk, std::move(live), par, weight, params_);
      left = merger.run(target_, &sim_, &fp_);
    }
    EC_CHECK(left <= target_, kBadInput,
             spec_ << ": budget cannot be met: " << left << " unique blocks remain, " << target_
                   << " fit");
  }
  std::vector<uint32_t>().swap(live);
  const auto t1 = Clock::now();

  // Flatten the forest (path compression) and number the live blocks in position order;
  // weight is reused for the numbers.
  std::vector<uint32_t>& index = weight;
  size_t U = 0;
  for (size_t p = 0; p < P; ++p) {
    uint32_t r = uint32_t(p);
    while (par[r] != r) r = par[r];
    for (uint32_t v = uint32_t(p); par[v] != r;) {
      const uint32_t next = par[v];
      par[v] = r;
      v = next;
    }
    if (r == p) index[p] = uint32_t(U++);
  }
  b_.unique.assign(checked_mul(U, E), 0.0f);
  b_.reset_map(U);
  // The map, and the positions of every unique block in increasing order (counting sort).
  std::vector<size_t> start(U + 1, 0);
  for (size_t p = 0; p < P; ++p) {
    const uint32_t u = index[par[p]];
    b_.set_index(p, u);
    ++start[u + 1];
  }
  std::vector<uint32_t>().swap(par);
  std::vector<uint32_t>().swap(index);
  for (size_t u = 0; u < U; ++u) start[u + 1] += start[u];
  std::vector<uint32_t> order(P);
  {
    std::vector<size_t> fill(start.begin(), start.end() - 1);
    for (size_t p = 0; p < P; ++p) order[fill[b_.map_at(p)]++] = uint32_t(p);
  }
  // Each unique block is the mean of the blocks mapped to it, per element over the
  // positions where that element is real (not padding); summed in double in position
  // order, so bit-identical blocks give back their exact values and the result does not
  // depend on the thread count.
  OmpExceptionGuard guard;
#pragma omp parallel if (P >= kParallelMin)
  {
    guard.run([&] {
      std::vector<float> scratch(E);
      std::vector<double> sum(E), cnt(E);
#pragma omp for schedule(dynamic, 256)
      for (size_t u = 0; u < U; ++u) {
        std::fill(sum.begin(), sum.end(), 0.0);
        std::fill(cnt.begin(), cnt.end(), 0.0);
        for (size_t t = start[u]; t < start[u + 1]; ++t) {
          if (t + kPrefetch < start[u + 1]) blk.prefetch(order[t + kPrefetch]);
          const size_t p = order[t];
          const float* v = blk.get(p, scratch.data());
          const size_t nr = blk.real_rows(p), nc = blk.real_cols(p);
          for (size_t i = 0; i < nr; ++i)
            for (size_t j = 0; j < nc; ++j) {
              sum[i * b_.C + j] += v[i * b_.C + j];
              cnt[i * b_.C + j] += 1;
            }
        }
        float* out = b_.unique.data() + u * E;
        for (size_t e = 0; e < E; ++e) out[e] = cnt[e] > 0 ? float(sum[e] / cnt[e]) : 0.0f;
      }
    });
  }
  guard.rethrow();
  // Squared error, summed in fixed chunks so that the result does not depend on the
  // thread count.
  constexpr size_t kChunk = 4096;
  const size_t nchunks = (P + kChunk - 1) / kChunk;
  std::vector<double> chunk_err(nchunks, 0.0);
#pragma omp parallel if (P >= kParallelMin)
  {
    guard.run([&] {
      std::vector<float> scratch(E);
#pragma omp for schedule(static)
      for (size_t c = 0; c < nchunks; ++c) {
        double err = 0;
        for (size_t p = c * kChunk; p < std::min(P, (c + 1) * kChunk); ++p) {
          const float* v = blk.get(p, scratch.data());
          const float* r = b_.unique.data() + b_.map_at(p) * E;
          const size_t nr = blk.real_rows(p), nc = blk.real_cols(p);
          for (size_t i = 0; i < nr; ++i)
            for (size_t j = 0; j < nc; ++j) {
              const double e = double(v[i * b_.C + j]) - double(r[i * b_.C + j]);
              err += e * e;
            }
        }
        chunk_err[c] = err;
      }
    });
  }
  guard.rethrow();
  double err = 0;
  for (double e : chunk_err) err += e;
  mse_ = err / (double(x.n) * double(d_));
  n_ = x.n;

  // The budget note's reason, when the result is more than 2% below the budget.
  if (budget_) {
    std::string why;
    if (U < target_) {
      why = std::to_string(exact_merged_) +
            " bit-identical duplicate blocks are always merged (lossless), leaving fewer unique "
            "blocks than the budget allows";
    } else if (U == 65536 && dedup_index_width(U) == 2) {
      why = "the 2-byte block map indexes at most 65536 unique blocks and a 4-byte map (" +
            std::to_string(4 * P) + " bytes) would leave less room";
    } else {
      why = "unique blocks come in whole " + std::to_string(4 * E) + "-byte blocks";
    }
    set_budget(*budget_, why);
  }
  train_s_ = std::chrono::duration<double>(t1 - t0).count();
  encode_s_ = std::chrono::duration<double>(Clock::now() - t1).count();
}

void DedupTable::decode_rows(const int64_t* ids, size_t count, float* out) const {
  check_ids(ids, count);
  b_.decode_ids(ids, count, out);
}

void DedupTable::decode_range(size_t start, size_t count, float* out) const {
  EC_CHECK(start <= n_ && count <= n_ - start, kBadInput,
           spec_ << ": rows [" << start << ", " << start + count << ") outside [0, " << n_ << ")");
  b_.decode_range(start, count, out);
}

namespace {

std::unique_ptr<TableCompressor> make_dedup_for_budget(const BuildArgs& a) {
  DedupParams p;
  p.seed = a.seed;
  // Optional block shape "Dedup{R}x{C}@b" (groups 1 and 2; empty for plain "Dedup@b").
  if (a.groups.size() >= 3 && !a.groups[1].empty()) {
    p.rows_per_block = size_t(parse_int_arg(a.spec(), a.groups[1], "R", 1, 65536));
    p.cols_per_block = size_t(parse_int_arg(a.spec(), a.groups[2], "C", 1, 1 << 20));
  }
  return std::make_unique<DedupTable>(a.n, a.d, a.budget, p, a.full_spec);
}

Registrar reg{{
    .name = "Dedup",
    .grammar = "Dedup@{budget}",
    .doc = "block dedup with L2-LSH: near-duplicate blocks share one stored block plus a block "
           "map (Dedup{R}x{C}@b sets the block shape)",
    .kind = MethodKind::kTable,
    .pattern = "$^",  // budget form only
    .ladder = [](size_t) { return std::vector<std::string>{"Dedup@0.5"}; },
    .defaults = [](size_t) { return std::vector<std::string>{"Dedup@0.5"}; },
    .make_transform = nullptr,
    .make_codec = nullptr,
    .make_table = nullptr,
    .budget_pattern = "Dedup(?:([0-9]+)x([0-9]+))?",
    .budget_grammar = "Dedup@{budget}",
    .budget_head = "",
    .make_budgeted = make_dedup_for_budget,
}};

}  // namespace

/// n, the diagnostics (exact merges, MSE, LSH similarity and false positives), then the
/// unique blocks and the block map (2- or 4-byte indices). The block shape follows from
/// the spec, n and d, as at construction.
void DedupTable::save(BinaryWriter& w) const {
  w.put_u64(n_);
  w.put_u64(exact_merged_);
  w.put_bytes(&mse_, sizeof(double));
  w.put_bytes(&sim_, sizeof(double));
  w.put_bytes(&fp_, sizeof(double));
  b_.save(w);
}

void DedupTable::load(BinaryReader& r) {
  n_ = r.get_u64();
  EC_CHECK(n_ == n_expected_, kBadInput,
           r.what() << ": " << spec_ << " stores " << n_ << " rows, the header says " << n_expected_);
  exact_merged_ = r.get_u64();
  r.get_bytes(&mse_, sizeof(double));
  r.get_bytes(&sim_, sizeof(double));
  r.get_bytes(&fp_, sizeof(double));
  b_.load(r, spec_);
  EC_CHECK(exact_merged_ <= b_.P - b_.unique_count(), kBadInput,
           r.what() << ": corrupt " << spec_ << " counts");
}

}  // namespace embcomp

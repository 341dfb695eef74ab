#include "compressors/magnitude_groups.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <random>

#include "toolkit/error.h"
#include "toolkit/serialize.h"

namespace embcomp {

namespace {

/// The lowest bit of every w-bit field of a 64-bit word.
uint64_t low_bits(size_t w) {
  return w == 1 ? ~uint64_t{0} : w == 2 ? 0x5555555555555555ull : 0x1111111111111111ull;
}

/// Fields of word (w bits each, selected by mask) equal to k. Fields equal to k are the
/// all-zero fields of word ^ (k in every field); OR-folding each field into its lowest
/// bit leaves that bit 0 exactly for them.
size_t count_equal(uint64_t word, size_t k, size_t w, uint64_t mask) {
  const uint64_t low = low_bits(w);
  uint64_t z = word ^ (low * k);
  if (w >= 2) z |= z >> 1;
  if (w >= 4) z |= z >> 2;
  return size_t(std::popcount(~z & low & mask));
}

}  // namespace

std::vector<double> row_norms(MatrixView<float> x) {
  std::vector<double> norms(x.n);
#pragma omp parallel for schedule(static)
  for (size_t i = 0; i < x.n; ++i) {
    const float* r = x.row(i);
    double s = 0;
    for (size_t j = 0; j < x.d; ++j) s += double(r[j]) * double(r[j]);
    norms[i] = std::sqrt(s);
  }
  return norms;
}

std::vector<size_t> equal_norm_cuts(const std::vector<double>& sorted_norms, size_t g) {
  const size_t n = sorted_norms.size();
  EC_CHECK(g >= 1 && kMinGroupRows * g <= n, kBadInput,
           "magnitude groups: g=" << g << " groups of at least " << kMinGroupRows
                                  << " rows need n >= " << kMinGroupRows * g << ", got n=" << n);
  std::vector<double> prefix(n + 1, 0.0);  // prefix[m] = S_m
  for (size_t m = 0; m < n; ++m) prefix[m + 1] = prefix[m] + sorted_norms[m];
  const double total = prefix[n];
  std::vector<size_t> cuts(g + 1, 0);
  cuts[g] = n;
  size_t m = 0;
  for (size_t k = 1; k < g; ++k) {
    // The largest m with g * S_m <= k * S (S_m is non-decreasing, so m only moves up).
    while (m < n && double(g) * prefix[m + 1] <= double(k) * total) ++m;
    cuts[k] = std::min(std::max(m, cuts[k - 1] + kMinGroupRows), n - kMinGroupRows * (g - k));
  }
  return cuts;
}

size_t group_id_bits(size_t g) {
  if (g <= 1) return 0;
  if (g == 2) return 1;
  if (g <= 4) return 2;
  return 4;
}

size_t remap_bytes(size_t n, size_t g) {
  const size_t w = group_id_bits(g);
  const size_t words = (checked_mul(n, w) + 63) / 64;
  const size_t blocks = (n + kRemapBlockRows - 1) / kRemapBlockRows;
  return 8 * words + 4 * (g - 1) * blocks;
}

GroupRemap::GroupRemap(const std::vector<uint8_t>& group_of, size_t g)
    : n_(group_of.size()), g_(g), w_(group_id_bits(g)) {
  EC_CHECK(g >= 1 && g <= kMaxMagnitudeGroups, kBadInput,
           "magnitude groups: g=" << g << " is not in [1, " << kMaxMagnitudeGroups << "]");
  EC_CHECK(n_ <= std::numeric_limits<uint32_t>::max(), kBadInput,
           "magnitude groups: n=" << n_ << " rows do not fit 32-bit positions");
  ids_.assign((n_ * w_ + 63) / 64, 0);
  const size_t blocks = (n_ + kRemapBlockRows - 1) / kRemapBlockRows;
  dir_.assign(blocks * (g_ - 1), 0);
  std::vector<uint32_t> count(g_, 0);
  for (size_t i = 0; i < n_; ++i) {
    const size_t k = group_of[i];
    EC_CHECK(k < g_, kBadInput,
             "magnitude groups: row " << i << " has group " << k << " >= g=" << g_);
    if (i % kRemapBlockRows == 0)
      for (size_t j = 0; j + 1 < g_; ++j) dir_[(i / kRemapBlockRows) * (g_ - 1) + j] = count[j];
    if (w_ > 0) ids_[i * w_ / 64] |= uint64_t(k) << (i * w_ % 64);
    ++count[k];
  }
}

size_t GroupRemap::group(size_t i) const {
  if (w_ == 0) return 0;
  return size_t(ids_[i * w_ / 64] >> (i * w_ % 64)) & ((size_t{1} << w_) - 1);
}

size_t GroupRemap::rank(size_t k, size_t i) const {
  if (w_ == 0) return i;
  const size_t b = i / kRemapBlockRows, start = b * kRemapBlockRows;
  size_t r = 0;
  if (k + 1 < g_) {
    r = dir_[b * (g_ - 1) + k];
  } else {
    r = start;
    for (size_t j = 0; j + 1 < g_; ++j) r -= dir_[b * (g_ - 1) + j];
  }
  // Blocks start on word boundaries: 512 * w bits is a whole number of words.
  const size_t per_word = 64 / w_, e = i - start;
  const uint64_t* words = ids_.data() + start * w_ / 64;
  for (size_t q = 0; q < e / per_word; ++q) r += count_equal(words[q], k, w_, ~uint64_t{0});
  if (const size_t rem = e % per_word; rem > 0)
    r += count_equal(words[e / per_word], k, w_, (uint64_t{1} << (rem * w_)) - 1);
  return r;
}

size_t GroupRemap::position(size_t i) const { return rank(group(i), i); }

size_t GroupRemap::group_size(size_t k) const {
  if (n_ == 0) return 0;
  // rank(k, n) would read the directory entry of the block after the last one when n is
  // a multiple of 512; count the last row separately instead.
  return rank(k, n_ - 1) + (group(n_ - 1) == k ? 1 : 0);
}

MagnitudeGrouping group_by_magnitude(MatrixView<float> x, size_t g) {
  EC_CHECK(g >= 1 && g <= kMaxMagnitudeGroups, kBadInput,
           "magnitude groups: g=" << g << " is not in [1, " << kMaxMagnitudeGroups << "]");
  EC_CHECK(x.n <= std::numeric_limits<uint32_t>::max(), kBadInput,
           "magnitude groups: n=" << x.n << " rows do not fit 32-bit row ids");
  const std::vector<double> norms = row_norms(x);
  std::vector<uint32_t> order(x.n);
  std::iota(order.begin(), order.end(), uint32_t{0});
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return norms[a] > norms[b] || (norms[a] == norms[b] && a < b);
  });
  std::vector<double> sorted(x.n);
  for (size_t m = 0; m < x.n; ++m) sorted[m] = norms[order[m]];
  const std::vector<size_t> cuts = equal_norm_cuts(sorted, g);
  std::vector<uint8_t> group_of(x.n, 0);
  for (size_t k = 0; k < g; ++k)
    for (size_t m = cuts[k]; m < cuts[k + 1]; ++m) group_of[order[m]] = uint8_t(k);
  MagnitudeGrouping out;
  out.members.resize(g);
  for (size_t k = 0; k < g; ++k) out.members[k].reserve(cuts[k + 1] - cuts[k]);
  for (size_t i = 0; i < x.n; ++i) out.members[group_of[i]].push_back(uint32_t(i));
  out.remap = GroupRemap(group_of, g);
  return out;
}

std::vector<uint32_t> sample_members(const std::vector<uint32_t>& members, size_t max_rows,
                                     uint64_t seed) {
  if (members.size() <= max_rows) return members;
  std::vector<uint32_t> pool = members;
  std::mt19937_64 rng(seed);
  for (size_t i = 0; i < max_rows; ++i) {  // partial Fisher-Yates
    std::uniform_int_distribution<size_t> pick(i, pool.size() - 1);
    std::swap(pool[i], pool[pick(rng)]);
  }
  pool.resize(max_rows);
  std::sort(pool.begin(), pool.end());
  return pool;
}

void gather_rows(MatrixView<float> x, const uint32_t* rows, size_t count, float* out) {
  for (size_t i = 0; i < count; ++i)
    std::memcpy(out + i * x.d, x.row(rows[i]), x.d * sizeof(float));
}

void GroupRemap::save(BinaryWriter& w) const {
  w.put_u64(n_);
  w.put_u64(g_);
  w.put_vector(ids_);
  w.put_vector(dir_);
}

void GroupRemap::load(BinaryReader& r) {
  n_ = r.get_u64();
  g_ = r.get_u64();
  EC_CHECK(g_ >= 1 && g_ <= kMaxMagnitudeGroups && n_ <= std::numeric_limits<uint32_t>::max(),
           kBadInput, r.what() << ": corrupt magnitude-group remap (n=" << n_ << ", g=" << g_ << ")");
  w_ = group_id_bits(g_);
  ids_ = r.get_vector<uint64_t>((n_ * w_ + 63) / 64);
  dir_ = r.get_vector<uint32_t>(((n_ + kRemapBlockRows - 1) / kRemapBlockRows) * (g_ - 1));
  // The directory is derived data: recompute it from the group ids and require the stored
  // one to match, so that rank() and position() stay inside the groups (position(i) <
  // group_size(group(i)) then holds by construction).
  std::vector<uint32_t> count(g_, 0);
  for (size_t i = 0; i < n_; ++i) {
    const size_t k = group(i);
    EC_CHECK(k < g_, kBadInput, r.what() << ": corrupt remap: row " << i << " has group " << k);
    if (i % kRemapBlockRows == 0)
      for (size_t j = 0; j + 1 < g_; ++j) {
        const size_t b = i / kRemapBlockRows;
        EC_CHECK(dir_[b * (g_ - 1) + j] == count[j], kBadInput,
                 r.what() << ": corrupt remap: directory entry (block " << b << ", group " << j
                          << ") is " << dir_[b * (g_ - 1) + j] << ", the group ids give "
                          << count[j]);
      }
    ++count[k];
  }
}

}  // namespace embcomp

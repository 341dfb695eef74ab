// Magnitude groups, shared by the magnitude-grouped compressors (MGPQ, MagSVD): the rows
// of a table are split by L2 norm into g groups of (about) equal total norm, each group
// is compressed on its own, and a compact row -> (group, position) map is kept.
//
// Grouping rule (group 0 holds the largest norms):
//   norm_i = sqrt(sum_j x_ij^2), accumulated in double
//   sort the rows by norm, descending; equal norms: smaller row id first
//   S_m = sum of the m largest norms (double, summed in that order), S = S_n
//   cut c_k = the largest m with g * S_m <= k * S, for k = 1..g-1 (c_0 = 0, c_g = n):
//     the row whose norm makes the running total cross k/g of S opens group k
//   then every group gets at least kMinGroupRows = 2 rows (a group of one row could not
//   train even a 1-bit PQ), in order k = 1..g-1:
//     c_k = min(max(c_k, c_{k-1} + 2), n - 2 (g - k))
//   group k = the rows at sorted positions [c_k, c_{k+1})
// (An all-zero table, S = 0, gets n - 2 (g - 1) rows in group 0 and 2 in each other.)
// With equal norms the high-norm groups are not the larger ones
// (10 equal norms, g = 3 -> 3, 3, 4 rows).
//
// Storage order: inside group k, rows keep increasing row id; row i is the
// position_i-th row of its group, position_i = #{rows j < i in the same group}.
//
// Remap (GroupRemap): per row its group id in w bits, w = 0, 1, 2, 4 for g = 1, 2,
// 3..4, 5..16, packed LSB first in 64-bit words; plus a rank directory: for every block
// of 512 rows, the count of rows of each group 0..g-2 in all earlier blocks (uint32;
// group g-1's count is the block start minus the others). position_i = directory entry
// + the rows of the same group earlier in the block (popcount over at most 8w words).
//   remap_bytes(n, g) = 8 * ceil(n * w / 64) + 4 * (g - 1) * ceil(n / 512)
// For g = 2 that is about 1.06 bits per row instead of a 32-bit permutation (the group
// sizes follow from the directory and are not stored separately). g = 1 needs nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "toolkit/matrix.h"

namespace embcomp {

class BinaryWriter;
class BinaryReader;

/// Most groups a magnitude-grouped method accepts (group ids take at most 4 bits).
constexpr size_t kMaxMagnitudeGroups = 16;
/// Fewest rows in a group.
constexpr size_t kMinGroupRows = 2;
/// Rows per block of the rank directory.
constexpr size_t kRemapBlockRows = 512;

/// L2 norm of each row of x, in double; parallel over rows.
std::vector<double> row_norms(MatrixView<float> x);

/// The g + 1 cuts 0 = c_0 < ... < c_g = n of the grouping rule above, for norms
/// already sorted in descending order. Throws kBadInput unless 1 <= g and 2 g <= n.
std::vector<size_t> equal_norm_cuts(const std::vector<double>& sorted_norms, size_t g);

/// Bits per group id: 0, 1, 2 or 4 for g = 1, 2, 3..4, 5..16.
size_t group_id_bits(size_t g);

/// Exact bytes of a GroupRemap of n rows and g groups (formula above).
size_t remap_bytes(size_t n, size_t g);

/// Row -> (group, position in group), in remap_bytes(n, g) bytes.
class GroupRemap {
 public:
  GroupRemap() = default;
  /// group_of: n group ids, each in [0, g).
  GroupRemap(const std::vector<uint8_t>& group_of, size_t g);
  size_t n() const { return n_; }
  size_t groups() const { return g_; }
  size_t group(size_t i) const;
  /// Rows j < i with group(j) == group(i).
  size_t position(size_t i) const;
  /// Rows in group k.
  size_t group_size(size_t k) const;
  size_t bytes() const { return remap_bytes(n_, g_); }
  /// n, g, then the packed group ids and the rank directory.
  void save(BinaryWriter& w) const;
  /// Throws kBadInput when the stored sizes do not match n and g.
  void load(BinaryReader& r);

 private:
  /// Rows of group k among the first i rows.
  size_t rank(size_t k, size_t i) const;

  size_t n_ = 0, g_ = 1, w_ = 0;
  std::vector<uint64_t> ids_;  ///< ceil(n * w / 64) words, group ids packed LSB first
  std::vector<uint32_t> dir_;  ///< ceil(n / 512) * (g - 1), row-major by block
};

/// The grouping of a table: the remap, and the rows of each group in storage order.
struct MagnitudeGrouping {
  GroupRemap remap;
  std::vector<std::vector<uint32_t>> members;  ///< members[k]: row ids of group k, increasing
};

/// Groups the rows of x by the rule above. Throws kBadInput unless 1 <= g <= 16,
/// 2 g <= x.n and x.n < 2^32.
MagnitudeGrouping group_by_magnitude(MatrixView<float> x, size_t g);

/// A seeded uniform sample without replacement of at most max_rows of members, in
/// increasing order (all of them when there are no more than max_rows).
std::vector<uint32_t> sample_members(const std::vector<uint32_t>& members, size_t max_rows,
                                     uint64_t seed);

/// out (rows.size() x x.d, row-major) = the rows of x listed in rows.
void gather_rows(MatrixView<float> x, const uint32_t* rows, size_t count, float* out);

}  // namespace embcomp

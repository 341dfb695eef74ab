// MGPQ: magnitude-grouped product quantization (one of the post-training compressors of
// Zhang et al., "Experimental Analysis of Large-scale Learnable Vector Storage
// Compression", VLDB 2024). The rows are split by L2 norm into g groups of equal total
// norm (compressors/magnitude_groups.h); each group gets its own PQ with the same M
// sub-quantizers and more bits for the high-norm groups (whose errors weigh more in
// inner products); a row -> (group, position) remap is kept and counted.
//
//   spec  MGPQ{g}x{b_1}-{b_2}-...-{b_g}_M{M}   e.g. MGPQ2x9-8_M32
//         regex MGPQ([0-9]+)x([0-9]+(?:-[0-9]+)*)_M([0-9]+)
//         g groups, b_k bits for group k (group 1 = highest norms), b_1 >= ... >= b_g,
//         1 <= b_k <= 16, d % M == 0. (The "MGPQ2x9-8,M32" has a ',', which
//         separates pipeline components, hence the '_'.)
//   budget MGPQ{g}@{budget}                     e.g. MGPQ2@0.1
//
// Group k of n_k rows: nbits_k = min(b_k, floor(log2 n_k)) (k-means needs ksub <= rows).
//   total_bytes = sum_k n_k * ceil(M * nbits_k / 8)     (codes)
//               + sum_k 2^nbits_k * d * 4                (codebooks = model_bytes)
//               + remap_bytes(n, g)                      (magnitude_groups.h)
//   decode row i: k = group(i), p = position(i), PQ_k.decode(codes_k[p])
//
// Budget solver (at compress(), when the group sizes are known): among M | d, a base
// b in [4, 8] and t in [0, g - 1], nbits_k = b + 1 for the t highest-norm groups and b
// for the others (capped as above), the setting with the most code bits
// (sum_k n_k M nbits_k) whose bytes fit the budget; ties: more bits per sub-quantizer,
// then fewer bytes (budget.h's rule, shared by every solver). When none fits, kBadInput
// "unreachable (cannot be met)". The builder already
// rejects a budget the smallest setting (M = 1, 4 bits) misses: its bytes,
// n + g 16 d 4 + remap_bytes, do not depend on the split.
//
// Each group's PQ is trained on at most min(max_train_rows, 256 * 2^nbits_k) of its rows
// (seeded sample; PqCodec's k-means) and encodes all of them in blocks of 256 rows
// gathered on the fly: the table is never copied.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "compressors/magnitude_groups.h"
#include "compressors/pq.h"
#include "compressors/table_compressor.h"

namespace embcomp {

struct MgpqParams {
  int groups = 2;                 ///< g: magnitude groups
  int M = 8;                      ///< sub-quantizers of every group's PQ, "M" in Jegou et al. 2011
  std::vector<int> nbits;         ///< b_k per group, highest norms first; empty when budgeted
  double budget = 0;              ///< > 0: M and nbits are solved from this fraction of 4 n d
  int niter = 25;                 ///< k-means iterations per sub-quantizer
  size_t max_train_rows = 65536;  ///< each group's PQ trains on at most this many rows
  /// ... and on at most this many per centroid (2^nbits_k of them): FAISS's own default
  /// cap. k-means costs rows * ksub * d per iteration: 1M x 768 at 0.1 solves to M=384,
  /// 6 bits, where 16,384 rows instead of 65,536 take about 22 s of CPU per group, not 90.
  size_t max_points_per_centroid = 256;
  uint64_t seed = 1234;
  void validate(size_t d) const;
};

/// One size setting: M and the (effective) bits of each group, highest norms first.
struct MgpqSetting {
  int M = 1;
  std::vector<int> nbits;
  std::string knob() const;  ///< "M=32,nbits=9/8,groups=2"
};

/// b capped to the rows a group has: min(b, floor(log2 rows)).
int mgpq_capped_bits(int b, size_t rows);

/// Exact total bytes for group sizes n_k (formula above).
size_t mgpq_bytes(size_t d, const MgpqSetting& s, const std::vector<size_t>& group_sizes);

/// The budget solver above. Throws kBadInput "... cannot be met" naming spec.
MgpqSetting solve_mgpq_budget(const std::string& spec, size_t d,
                              const std::vector<size_t>& group_sizes, double budget_bytes);

class MgpqTable final : public TableCompressor {
 public:
  MgpqTable(size_t d, MgpqParams params, std::string spec);
  std::string spec() const override { return spec_; }
  /// "" before compress() when budgeted (the setting depends on the group sizes).
  std::string knob() const override;
  size_t d() const override { return d_; }
  size_t n() const override { return remap_.n(); }
  size_t min_rows() const override { return kMinGroupRows * size_t(params_.groups); }
  void compress(MatrixView<float> x) override;
  size_t total_bytes() const override;
  size_t model_bytes() const override;
  void decode_rows(const int64_t* ids, size_t count, float* out) const override;
  void save(BinaryWriter& w) const override;
  void load(BinaryReader& r) override;

  const MgpqSetting& setting() const { return setting_; }
  const GroupRemap& remap() const { return remap_; }
  /// Group k's PQ and codes (n_k * code_size bytes, storage order), for reference decoders.
  const PqCodec& pq(size_t k) const { return *pq_[k]; }
  const std::vector<uint8_t>& codes(size_t k) const { return codes_[k]; }

 private:
  size_t d_;
  MgpqParams params_;
  std::string spec_;
  MgpqSetting setting_;  ///< the setting in use (after compress() when budgeted)
  GroupRemap remap_;
  std::vector<std::unique_ptr<PqCodec>> pq_;  ///< one per group
  std::vector<std::vector<uint8_t>> codes_;   ///< codes_[k]: n_k * code_size_k bytes, storage order
};

}  // namespace embcomp

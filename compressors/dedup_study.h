// DedupStudy / DedupStudy{R}x{C}: the block deduplication of the VLDB 2024 study with its
// parameters (Zhang et al., "Experimental Analysis of Large-scale Learnable Vector Storage
// Compression", VLDB 2024, after Zhou et al., "Serving Deep Learning Models with
// Deduplication from Relational Databases", VLDB 2022). Audit M5: the budgeted Dedup@B
// (compressors/dedup.h) is LSH-seeded vector quantization, not this.
//
// Blocks: the same layout as DedupTable. The n x d table is cut into blocks of R rows x C
// columns (the study's R = 10,000, C = 100; DedupStudy{R}x{C} sets another shape, e.g. for
// small tables). A block that runs past row n or column d is zero padded and the padding
// is stored (and counted): a table smaller than one block becomes one padded block, larger
// than the table itself. Block position p = (i / R) * ceil(d / C) + j / C holds element
// (i, j) at offset (i % R) * C + j % C; P = ceil(n / R) * ceil(d / C) positions of
// E = R * C floats.
//
// Layout and memory (everything is counted; nothing is per-table "model"):
//   unique  U kept blocks x E floats (float32, zero padded, the kept block's own values)
//   map     P indices into unique: uint16 when U <= 65536, else uint32
//   total_bytes = dedup_bytes(P, E, U) = 4 E U + w P,  w = dedup_index_width(U);
//   model_bytes = 0
// There is no budget: the stop rule below sets U from the data (no "@B" form).
//   decode row i:  for c in 0 .. ceil(d / C) - 1:
//                    b = unique[map[(i / R) * ceil(d / C) + c]]
//                    out[c C .. min((c + 1) C, d)) = b[(i % R) C ..][0 .. that width)
//
// Compression, one pass over the block positions p = 0, 1, ..., P - 1 (deterministic in
// the seed, independent of the thread count):
//  - L2LSH (Datar et al. 2004), L = 90 tables of k = 1 hash each:
//      h_t(v) = floor((a_t . v + b_t) / r),  r = 0.09,  a_t ~ N(0, I_E),  b_t ~ U[0, r)
//    over the E stored (zero-padded) values of a block; a_t and b_t are drawn from a
//    generator seeded by (seed, t). The dot product is summed in double in element order;
//    h_t is clamped to [-2^62, 2^62] (reached only when |a_t . v| > 4e17).
//  - Block p is bit-identical to an earlier block q: p maps to q's unique block (exact
//    duplicates always merge).
//  - Otherwise the candidates are the kept blocks that share a bucket with p in any table.
//    In increasing position order, p maps to the first candidate q that passes:
//      |x_p[e] - x_q[e]| <= fp (in double) for at least ceil(sim * m - 1e-9) of the m
//      real (unpadded) elements e of block p;  sim = 0.7, fp = 0.01.
//    The merged block decodes to q's values exactly (keep-one: no mean).
//  - Otherwise p is kept: its values are stored and it enters the L buckets.
//  Merging stops when no candidate passes: every block is tested once, against the kept
//  blocks before it (a merged block never becomes a target). Kept blocks are numbered in
//  position order.
//  Parallel (OpenMP): the projections (per block and table) and the content hashes; the
//  pass is sequential. Working memory besides the kept blocks: 8 L bytes of hashes per
//  block position, 32 to 64 L bytes of bucket slots per kept block (16-byte slots at a
//  load between 1/4 and 1/2) and 64 MB each of projection vectors and gathered blocks; so
//  at most 2^18 positions are accepted (then at most about 1.3 GB, 1.8 GB while the
//  bucket table grows).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "compressors/dedup.h"
#include "compressors/table_compressor.h"

namespace embcomp {

struct DedupStudyParams {
  size_t rows_per_block = 10000;  ///< R: table rows per block (the study's 10,000)
  size_t cols_per_block = 100;    ///< C: columns per block (the study's 100)
  double r = 0.09;                ///< r: L2LSH bucket width (Datar et al. 2004)
  int k = 1;                      ///< k: hashes per table (only the study's 1 is implemented)
  int L = 90;                     ///< L: hash tables
  double sim = 0.7;               ///< sim: share of real elements that must be within fp
  double fp = 0.01;               ///< fp: largest absolute difference of a matching element
  uint64_t seed = 1234;
  void validate() const;
};

/// Largest number of block positions DedupStudy accepts (working memory, see above).
constexpr size_t kDedupStudyMaxPositions = size_t{1} << 18;

class DedupStudyTable final : public TableCompressor {
 public:
  /// Sized for an n x d table; throws kBadInput for a bad shape or too many positions.
  DedupStudyTable(size_t n, size_t d, DedupStudyParams params, std::string spec);
  std::string spec() const override { return spec_; }
  /// "merged=M/P,block=RxC" after compress() ("block=RxC" before); when the result is
  /// larger than the float32 table (padding, or too few merges to pay for the map), also
  /// ",over_fp32=+XB" with X = total_bytes - 4 n d.
  std::string knob() const override;
  size_t d() const override { return d_; }
  size_t n() const override { return n_; }
  /// x must have the n rows the table was sized for.
  void compress(MatrixView<float> x) override;
  size_t total_bytes() const override;
  size_t model_bytes() const override { return 0; }
  void decode_rows(const int64_t* ids, size_t count, float* out) const override;
  void decode_range(size_t start, size_t count, float* out) const override;
  void save(BinaryWriter& w) const override;
  void load(BinaryReader& r) override;

  const DedupStudyParams& params() const { return params_; }
  size_t block_rows() const { return b_.R; }
  size_t block_cols() const { return b_.C; }
  size_t block_positions() const { return b_.P; }  ///< P
  size_t unique_blocks() const { return b_.unique_count(); }
  /// P - U after compress(): positions that decode from an earlier kept block.
  size_t merged_blocks() const { return n_ ? b_.P - unique_blocks() : 0; }
  /// The part of merged_blocks() that were bit-identical to an earlier block.
  size_t exact_merged_blocks() const { return exact_merged_; }
  size_t index_width() const { return b_.index_width(); }
  /// The map: block position p's index into the unique blocks (p < block_positions()).
  size_t unique_index(size_t p) const { return b_.map_at(p); }
  /// Unique block u's E values (R x C row-major, zero padded).
  const float* unique_block(size_t u) const { return b_.unique.data() + u * b_.block_elems(); }
  /// Mean squared error per table value of the decoded table, measured by compress().
  double reconstruction_mse() const { return mse_; }

 private:
  size_t n_expected_, d_;
  DedupStudyParams params_;
  std::string spec_;
  size_t n_ = 0;
  size_t exact_merged_ = 0;
  double mse_ = 0;
  /// The shape, unique blocks (the kept blocks, in position order) and map.
  DedupBlockMap b_;
};

}  // namespace embcomp

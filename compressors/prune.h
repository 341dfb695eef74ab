// Prune@b: global magnitude pruning (the study's post-training pruning). The nnz entries
// of largest |x| over the whole table are kept (ties at the threshold: the first in
// row-major order), the rest become 0, stored sparse in whichever of two layouts is
// smaller for the density the budget allows:
//   CSR  values float32 [nnz] + column index [nnz] + row pointer [n + 1]
//   COO  values float32 [nnz] + column index [nnz] + row index [nnz] (sorted by row)
// Index widths are the smallest of 1/2/4/8 bytes that hold them: column index
// ceil(log256 d) (1 byte for d <= 256, 2 for d <= 65536), row pointer by nnz, row index
// by n. total_bytes counts exactly those arrays; model_bytes = 0.
// Budget: nnz = the largest count whose bytes fit; the layout with the larger nnz wins.
#pragma once

#include <cstdint>
#include <vector>

#include "compressors/table_compressor.h"

namespace embcomp {

enum class SparseLayout { kCsr, kCoo };

/// Bytes of an index array entry able to hold values up to max_value: 1, 2, 4 or 8.
size_t index_width(uint64_t max_value);
/// Exact bytes of the sparse table for a layout.
size_t sparse_bytes(SparseLayout layout, size_t n, size_t d, size_t nnz);

struct PruneParams {
  size_t nnz = 0;                          ///< entries kept
  SparseLayout layout = SparseLayout::kCsr;
  void validate(size_t n, size_t d) const;
};

class PruneTable final : public TableCompressor {
 public:
  /// n is needed up front: nnz and the layout were solved for it.
  PruneTable(size_t n, size_t d, PruneParams params, std::string spec);
  std::string spec() const override { return spec_; }
  std::string knob() const override;
  size_t d() const override { return d_; }
  size_t n() const override { return n_; }
  void compress(MatrixView<float> x) override;
  size_t total_bytes() const override;
  size_t model_bytes() const override { return 0; }
  void decode_rows(const int64_t* ids, size_t count, float* out) const override;
  void save(BinaryWriter& w) const override;
  void load(BinaryReader& r) override;

 private:
  /// [begin, end) of row i's entries in values_/cols_.
  std::pair<size_t, size_t> row_span(size_t i) const;

  size_t n_expected_, d_;
  PruneParams params_;
  std::string spec_;
  size_t n_ = 0;
  size_t col_w_ = 1, ptr_w_ = 4, row_w_ = 4;  ///< index widths in bytes
  std::vector<float> values_;    ///< nnz, row-major order
  std::vector<uint8_t> cols_;    ///< nnz * col_w_ bytes
  std::vector<uint8_t> ptrs_;    ///< CSR: (n + 1) * ptr_w_ bytes
  std::vector<uint8_t> rows_;    ///< COO: nnz * row_w_ bytes
};

}  // namespace embcomp

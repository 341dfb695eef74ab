// Binary codes: one bit per dimension, searched by Hamming distance.
//   Binary         threshold t_j = 0 (the sign bit)
//   Binary-median  threshold t_j = median of dimension j over the training rows
// encode: bit j = (x_j > t_j), packed LSB first: byte j/8, bit j%8 (FAISS's IndexBinary
//         layout); padding bits are 0.
// decode: x_j = bit ? hi_j : lo_j, where hi_j / lo_j are the training means of
//         dimension j above / not above the threshold (the least-squares levels), so that
//         reconstruction error is meaningful.
//   code_size   = ceil(d / 8)
//   model_bytes = 2d * 4 (hi, lo) for Binary; 3d * 4 (t, hi, lo) for Binary-median
#pragma once

#include <vector>

#include "compressors/codec.h"

namespace embcomp {

struct BinaryParams {
  bool median = false;             ///< per-dimension median threshold instead of 0
  size_t max_train_rows = 200000;  ///< the median and levels use at most this many rows
};

class BinaryCodec final : public Codec {
 public:
  BinaryCodec(size_t d, BinaryParams params);
  std::string spec() const override { return params_.median ? "Binary-median" : "Binary"; }
  size_t d() const override { return d_; }
  bool is_trained() const override { return !hi_.empty(); }
  void train(MatrixView<float> x) override;
  size_t code_size() const override { return (d_ + 7) / 8; }
  size_t model_bytes() const override { return (params_.median ? 3 : 2) * d_ * sizeof(float); }
  void encode(MatrixView<float> x, uint8_t* codes) const override;
  void decode(const uint8_t* codes, size_t n, float* x) const override;
  SearchKind search_kind() const override { return SearchKind::kHamming; }
  /// x_j = bit ? +1 : -1.
  void decode_for_scan(const uint8_t* codes, size_t n, float* x) const override;
  void save(BinaryWriter& w) const override;
  void load(BinaryReader& r) override;
  const std::vector<float>& thresholds() const { return threshold_; }

 private:
  size_t d_;
  BinaryParams params_;
  std::vector<float> threshold_;  ///< t_j, d floats (all 0 for Binary)
  std::vector<float> hi_;         ///< level for bit 1, d floats
  std::vector<float> lo_;         ///< level for bit 0, d floats
};

}  // namespace embcomp

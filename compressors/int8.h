// INT8: per-dimension signed symmetric 8-bit quantization.
//   train:  s_j = max_i |x_ij| / 127   (s_j = 1 when the column is all zero)
//   encode: c_ij = clamp(round(x_ij / s_j), -127, 127) stored as int8
//   decode: x_ij = c_ij * s_j
//   code_size = d, model_bytes = 4d (the scales s_j)
// Symmetric codes make the inner product an integer dot product scaled per dimension,
// the form VNNI kernels want. FAISS 1.7.3 has no signed int8 quantizer.
#pragma once

#include <vector>

#include "compressors/codec.h"

namespace embcomp {

class Int8Codec final : public Codec {
 public:
  explicit Int8Codec(size_t d);
  std::string spec() const override { return "INT8"; }
  size_t d() const override { return d_; }
  bool is_trained() const override { return !scale_.empty(); }
  void train(MatrixView<float> x) override;
  size_t code_size() const override { return d_; }
  size_t model_bytes() const override { return d_ * sizeof(float); }
  void encode(MatrixView<float> x, uint8_t* codes) const override;
  void decode(const uint8_t* codes, size_t n, float* x) const override;
  void save(BinaryWriter& w) const override;
  void load(BinaryReader& r) override;
  const std::vector<float>& scales() const { return scale_; }

 private:
  size_t d_;
  std::vector<float> scale_;  ///< s_j, d floats
};

}  // namespace embcomp

// BF16: bfloat16 per value (the upper 16 bits of float32, round to nearest even).
//   encode: u = bits(x); u += 0x7FFF + ((u >> 16) & 1); code = u >> 16
//           (a finite value that would round to infinity saturates to +-max bf16)
//   decode: bits(x) = code << 16
//   code_size = 2d, model_bytes = 0. Relative error <= 2^-8 per value.
// FAISS 1.7.3 has no bf16 scalar quantizer, so this is our own.
#pragma once

#include "compressors/codec.h"

namespace embcomp {

/// Scalar reference conversions, exposed for tests.
uint16_t float_to_bf16(float x);
float bf16_to_float(uint16_t b);

class Bf16Codec final : public Codec {
 public:
  explicit Bf16Codec(size_t d);
  std::string spec() const override { return "BF16"; }
  size_t d() const override { return d_; }
  bool is_trained() const override { return true; }
  void train(MatrixView<float> x) override;
  size_t code_size() const override { return 2 * d_; }
  size_t model_bytes() const override { return 0; }
  void encode(MatrixView<float> x, uint8_t* codes) const override;
  void decode(const uint8_t* codes, size_t n, float* x) const override;
  void save(BinaryWriter& w) const override;
  void load(BinaryReader& r) override;

 private:
  size_t d_;
};

}  // namespace embcomp

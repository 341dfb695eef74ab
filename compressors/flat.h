// Flat: the uncompressed fp32 baseline. code = the row's d float32 values (4d bytes).
#pragma once

#include "compressors/codec.h"

namespace embcomp {

class FlatCodec final : public Codec {
 public:
  explicit FlatCodec(size_t d);
  std::string spec() const override { return "Flat"; }
  size_t d() const override { return d_; }
  bool is_trained() const override { return true; }
  void train(MatrixView<float> x) override;
  size_t code_size() const override { return 4 * d_; }
  size_t model_bytes() const override { return 0; }
  void encode(MatrixView<float> x, uint8_t* codes) const override;
  void decode(const uint8_t* codes, size_t n, float* x) const override;
  void save(BinaryWriter& w) const override;
  void load(BinaryReader& r) override;

 private:
  size_t d_;
};

}  // namespace embcomp

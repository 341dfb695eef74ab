// GQ8 / GQ16: global-scale integer quantization (the study's INT8/INT16 post-training
// compressors): one scale s and one zero point z for the whole table,
//   s = (max x - min x) / (2^bits - 1),  z = min x
//   c = clamp(floor((x - z) / s + u), 0, 2^bits - 1),  u ~ U[0, 1) (stochastic rounding,
//       seeded: u is a hash of (seed, row, column), so the codes do not depend on threads)
//   decode: x = z + c * s
//   total_bytes = n * d * bits / 8 + 8 (s and z as float32)
// The size is fixed: GQ8 is 0.25 and GQ16 0.5 of float32, plus 8 bytes. The budget form
// GQ@b picks 16 bits when they fit, else 8.
#pragma once

#include <cstdint>
#include <vector>

#include "compressors/table_compressor.h"

namespace embcomp {

struct GqParams {
  int bits = 8;  ///< 8 or 16
  uint64_t seed = 1234;
  void validate() const;
};

class GqTable final : public TableCompressor {
 public:
  GqTable(size_t d, GqParams params, std::string spec);
  std::string spec() const override { return spec_; }
  std::string knob() const override { return "bits=" + std::to_string(params_.bits); }
  size_t d() const override { return d_; }
  size_t n() const override { return n_; }
  void compress(MatrixView<float> x) override;
  size_t total_bytes() const override { return n_ * d_ * (params_.bits / 8) + model_bytes(); }
  size_t model_bytes() const override { return 2 * sizeof(float); }
  void decode_rows(const int64_t* ids, size_t count, float* out) const override;
  void save(BinaryWriter& w) const override;
  void load(BinaryReader& r) override;
  float scale() const { return scale_; }
  float zero_point() const { return zero_; }
  /// The codes, n * d row-major (for reference decoders in tests); the other is empty.
  const std::vector<uint8_t>& codes8() const { return codes8_; }
  const std::vector<uint16_t>& codes16() const { return codes16_; }

 private:
  size_t d_;
  GqParams params_;
  std::string spec_;
  size_t n_ = 0;
  float scale_ = 1, zero_ = 0;
  std::vector<uint8_t> codes8_;    ///< n * d, when bits == 8
  std::vector<uint16_t> codes16_;  ///< n * d, when bits == 16
};

}  // namespace embcomp

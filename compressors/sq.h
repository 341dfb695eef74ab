// FAISS scalar quantizers: SQ{nbits} (per-dimension uniform) and FP16.
//
// SQ{nbits}, nbits in {4, 6, 8}: per dimension j, range [vmin_j, vmin_j + vdiff_j] learned
// as the min/max of the training data (FAISS RS_minmax); with B = 2^nbits - 1 a value is
// stored as the integer (FAISS truncates, it does not round)
//   t = clamp((x - vmin_j) / vdiff_j, 0, 1);  c = floor(B * t)
// and decoded as vmin_j + (c + 0.5) / B * vdiff_j. Codes are packed LSB first (4-bit:
// dimension 2i in the low nibble of byte i).
//   code_size   = ceil(d * nbits / 8)
//   model_bytes = 2 * d * 4 (vmin and vdiff)
// FP16: IEEE half precision per value; code_size = 2d, model_bytes = 0.
// Codes are byte-identical to faiss::ScalarQuantizer (QT_8bit, QT_6bit, QT_4bit,
// QT_fp16), so they can be loaded into FAISS's IndexScalarQuantizer.
#pragma once

#include <faiss/impl/ScalarQuantizer.h>

#include "compressors/codec.h"

namespace embcomp {

struct SqParams {
  int nbits = 8;  ///< bits per value; 16 means IEEE fp16
  void validate(size_t d) const;
};

class SqCodec final : public Codec {
 public:
  SqCodec(size_t d, SqParams params);
  std::string spec() const override;
  size_t d() const override { return sq_.d; }
  bool is_trained() const override { return trained_; }
  void train(MatrixView<float> x) override;
  size_t code_size() const override { return sq_.code_size; }
  size_t model_bytes() const override { return sq_.trained.size() * sizeof(float); }
  void encode(MatrixView<float> x, uint8_t* codes) const override;
  void decode(const uint8_t* codes, size_t n, float* x) const override;
  void save(BinaryWriter& w) const override;
  void load(BinaryReader& r) override;
  const faiss::ScalarQuantizer& faiss_sq() const { return sq_; }

 private:
  SqParams params_;
  faiss::ScalarQuantizer sq_;
  bool trained_ = false;
};

}  // namespace embcomp

// Pipeline: transforms T1..Tm then one codec C, itself a Codec.
//   encode(x) = C.encode(Tm(...T1(x)))
//   decode(c) = T1^-1(...Tm^-1(C.decode(c)))
// Memory: code_size = C.code_size(); model_bytes = C.model_bytes() + sum Ti.model_bytes().
// Training runs the stages in order, each on the output of the previous ones.
#pragma once

#include <memory>
#include <vector>

#include "compressors/codec.h"

namespace embcomp {

class Pipeline final : public Codec {
 public:
  Pipeline(std::vector<std::unique_ptr<Transform>> transforms, std::unique_ptr<Codec> codec);

  /// Canonical spec: components joined by ','; a trailing Flat codec is left out.
  std::string spec() const override;
  size_t d() const override { return transforms_.front()->d_in(); }
  size_t min_train_rows() const override;
  bool is_trained() const override;
  void train(MatrixView<float> x) override;
  size_t code_size() const override { return codec_->code_size(); }
  size_t model_bytes() const override;
  void encode(MatrixView<float> x, uint8_t* codes) const override;
  void decode(const uint8_t* codes, size_t n, float* x) const override;
  SearchKind search_kind() const override { return codec_->search_kind(); }
  void save(BinaryWriter& w) const override;
  void load(BinaryReader& r) override;

  const std::vector<std::unique_ptr<Transform>>& transforms() const { return transforms_; }
  const Codec& codec() const { return *codec_; }

 private:
  /// Applies all transforms: returns x.n * d_out floats.
  FloatMatrix forward(MatrixView<float> x) const;

  std::vector<std::unique_ptr<Transform>> transforms_;
  std::unique_ptr<Codec> codec_;
};

}  // namespace embcomp

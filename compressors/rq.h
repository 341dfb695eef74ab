// RQ{M}x{nbits}: residual quantization (Chen, Guan, Wang 2010; FAISS ResidualQuantizer
// with beam search, Babenko & Lempitsky's AQ family). M codebooks of 2^nbits centroids in
// the full d dimensions; stage m quantizes the residual of stages 0..m-1.
//   code_size   = ceil(M * nbits / 8)
//   model_bytes = M * 2^nbits * d * 4 (the codebooks: all the codec keeps; FAISS's
//                 codebook cross products and norms, used only by its LUT beam search,
//                 are never computed)
#pragma once

#include <faiss/impl/ResidualQuantizer.h>

#include "compressors/codec.h"

namespace embcomp {

struct RqParams {
  int M = 4;                      ///< number of codebooks (stages)
  int nbits = 8;                  ///< bits per stage index; 2^nbits centroids per stage
  int max_beam_size = 5;          ///< beam width for training and encoding
  size_t max_train_rows = 10000;  ///< training sees at most this many rows (seeded sample)
  uint64_t seed = 1234;
  void validate(size_t d) const;
};

class RqCodec final : public Codec {
 public:
  RqCodec(size_t d, RqParams params);
  std::string spec() const override;
  size_t d() const override { return rq_.d; }
  size_t min_train_rows() const override { return size_t{1} << params_.nbits; }
  bool is_trained() const override { return trained_; }
  void train(MatrixView<float> x) override;
  size_t code_size() const override { return rq_.code_size; }
  size_t model_bytes() const override { return rq_.codebooks.size() * sizeof(float); }
  void encode(MatrixView<float> x, uint8_t* codes) const override;
  void decode(const uint8_t* codes, size_t n, float* x) const override;
  void save(BinaryWriter& w) const override;
  void load(BinaryReader& r) override;

 private:
  RqParams params_;
  faiss::ResidualQuantizer rq_;
  bool trained_ = false;
};

}  // namespace embcomp

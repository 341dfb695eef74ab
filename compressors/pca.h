// PCA{d_out}: projection on the d_out leading principal components (FAISS PCAMatrix).
//   apply:   xt = A (x - mean)        A: d_out x d_in, orthonormal rows
//   reverse: x  = A^T xt + mean       (least squares)
//   model_bytes = (d_out * d_in + d_in + d_out) * 4  (A, the mean and FAISS's bias
//                 b = -A mean, which apply uses; the eigenvalues are freed after training
//                 and counted if a loaded model still has them)
// On its own ("PCA64") the projected rows are stored as float32 (Flat codec); composed
// ("PCA64,SQ8") they are handed to the codec.
#pragma once

#include <faiss/VectorTransform.h>

#include "compressors/codec.h"

namespace embcomp {

struct PcaParams {
  int d_out = 64;  ///< output dimension, the number of principal components kept
  void validate(size_t d_in) const;
};

class PcaTransform final : public Transform {
 public:
  PcaTransform(size_t d_in, PcaParams params);
  std::string spec() const override { return "PCA" + std::to_string(params_.d_out); }
  size_t d_in() const override { return pca_.d_in; }
  size_t d_out() const override { return pca_.d_out; }
  size_t min_train_rows() const override { return 2; }
  bool is_trained() const override { return pca_.is_trained; }
  void train(MatrixView<float> x) override;
  void apply(MatrixView<float> x, float* xt) const override;
  void reverse(MatrixView<float> xt, float* x) const override;
  void save(BinaryWriter& w) const override;
  void load(BinaryReader& r) override;
  size_t model_bytes() const override {
    return (pca_.A.size() + pca_.mean.size() + pca_.b.size() + pca_.eigenvalues.size()) *
           sizeof(float);
  }

 private:
  PcaParams params_;
  faiss::PCAMatrix pca_;
};

/// PCA specs for dimension d: about d/4, d/2 and 3d/4 components (d >= 4).
std::vector<std::string> pca_family_specs(size_t d);

}  // namespace embcomp

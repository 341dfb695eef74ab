// OPQ{M}: optimized product quantization rotation (Ge, He, Ke, Sun, CVPR 2013; FAISS
// OPQMatrix, non-parametric: alternates PQ training and an orthogonal Procrustes step).
//   apply:   xt = R x        R: d x d orthonormal
//   reverse: x  = R^T xt
//   model_bytes = d * d * 4
// Used as a prefix of a PQ spec with the same M: "OPQ25,PQ25x8". FAISS trains it with
// its own fixed seeds, so it is deterministic but not affected by --seed.
#pragma once

#include <faiss/VectorTransform.h>
#include <faiss/impl/ProductQuantizer.h>

#include "compressors/codec.h"

namespace embcomp {

struct OpqParams {
  int M = 8;                       ///< sub-quantizers the rotation is optimized for
  int niter = 20;                  ///< outer iterations (PQ step + Procrustes step)
  size_t max_train_rows = 20000;   ///< rows used for training (FAISS's own sample)
  void validate(size_t d) const;
};

/// While alive, opq.train() uses a PQ equal to the one FAISS builds for it (d_out, M,
/// 8 bits, default parameters; OPQMatrix::train then sets its niter and
/// max_points_per_centroid as usual) except for quiet_kmeans (compressors/pq.h): FAISS's
/// own default PQ warns on stderr per sub-quantizer and per iteration below 39 * 256
/// training rows. Restores opq.pq = nullptr on destruction; opq must outlive this.
class OpqQuietTraining {
 public:
  explicit OpqQuietTraining(faiss::OPQMatrix& opq);
  ~OpqQuietTraining() { opq_.pq = nullptr; }
  OpqQuietTraining(const OpqQuietTraining&) = delete;
  OpqQuietTraining& operator=(const OpqQuietTraining&) = delete;

 private:
  faiss::OPQMatrix& opq_;
  faiss::ProductQuantizer pq_;
};

class OpqTransform final : public Transform {
 public:
  OpqTransform(size_t d, OpqParams params);
  std::string spec() const override { return "OPQ" + std::to_string(params_.M); }
  size_t d_in() const override { return opq_.d_in; }
  size_t d_out() const override { return opq_.d_out; }
  size_t min_train_rows() const override { return 256; }
  bool is_trained() const override { return opq_.is_trained; }
  void train(MatrixView<float> x) override;
  void apply(MatrixView<float> x, float* xt) const override;
  void reverse(MatrixView<float> xt, float* x) const override;
  void save(BinaryWriter& w) const override;
  void load(BinaryReader& r) override;
  size_t model_bytes() const override { return (opq_.A.size() + opq_.b.size()) * sizeof(float); }

 private:
  OpqParams params_;
  faiss::OPQMatrix opq_;
};

}  // namespace embcomp

// Layers of the CTR models (issue 7), forward and backward written by hand.
//
// Every model keeps ALL its dense parameters in one flat float vector (a DenseParams, so
// one optimizer step, one checkpoint copy and one gradient check cover them); a layer is
// an offset into it. Gradients go to a caller-owned flat buffer of the same layout, so
// each thread of a data-parallel step can accumulate into its own copy.
//
//   Linear      y (n x out) = x (n x in) W + b        W: in x out row-major, then b: out
//               backward:  gW += x^T dy;  gb += sum_rows dy;  dx = dy W^T
//   ReLU        fused into Linear::forward (relu = true); backward masks dy where y <= 0
//   Mlp         Linear+ReLU ... Linear (+ReLU when relu_last)
//   BCE         l(z, y) = max(z, 0) - z y + log(1 + exp(-|z|))   (z = logit, stable)
//               dl/dz   = sigmoid(z) - y
//
// Init (from a seed, independent of the thread count):
//   Xavier  W ~ uniform(-a, a), a = sqrt(6 / (in + out))   (layers followed by no ReLU)
//   He      W ~ uniform(-a, a), a = sqrt(6 / in)            (layers followed by a ReLU)
//   b = 0.
// The matrix products go through toolkit/blas.h (OpenBLAS, single-threaded: the models
// parallelize over the batch, never calling BLAS with more than one BLAS thread inside).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace embcomp::ctr {

enum class InitKind { kXavier, kHe };

/// One fully connected layer living at `offset` in a flat parameter vector.
struct Linear {
  int in = 0;          ///< input width
  int out = 0;         ///< output width
  int64_t offset = 0;  ///< W at params + offset (in x out), b at params + offset + in*out

  int64_t size() const { return static_cast<int64_t>(in) * out + out; }
  /// Writes W (Xavier or He uniform from seed) and b = 0 into params.
  void init(float* params, InitKind kind, uint64_t seed) const;
  /// y (n x out) = x W + b, then max(0, .) when relu.
  void forward(const float* params, const float* x, int64_t n, float* y, bool relu) const;
  /// dy (n x out) is dL/dy of the layer's output (already masked by the ReLU, see
  /// relu_backward). grad (same layout as params) += dL/dW, dL/db; dx (n x in) = dy W^T
  /// when dx is not null (overwritten).
  void backward(const float* params, const float* x, const float* dy, int64_t n, float* grad,
                float* dx) const;
};

/// dy[i] = 0 where y[i] <= 0 (the ReLU's backward; y is the ReLU's output), n values.
void relu_backward(const float* y, float* dy, int64_t n);

/// Mean binary cross-entropy of logits z against labels y over n rows, and when dz is not
/// null dz[i] = (sigmoid(z[i]) - y[i]) * scale. Returns the SUM of the n losses (the
/// caller divides).
double bce_with_logits(const float* z, const float* y, int64_t n, float* dz, float scale);

/// sigmoid(z), stable for large |z|.
float sigmoid(float z);

/// x0 (n x (nd + ne)) = [dense, emb] row by row: the input of the DCN, WDL and DeepFM nets.
void concat_input(const float* dense, const float* emb, int64_t n, int nd, int ne, float* x0);

/// FM second order of one row (Rendle 2010): sum_{f<g} <e_f, e_g>, computed as
/// 1/2 sum_d ((sum_f e_fd)^2 - sum_f e_fd^2); e is F x D.
float fm_second_order(const float* e, int F, int D);
/// de (F x D) += g * d fm / de = g (s_d - e_fd), s_d = sum_f e_fd.
void fm_second_order_backward(const float* e, int F, int D, float g, float* de);

/// Multi-layer perceptron: widths[0] = input, then one Linear per further width; ReLU
/// after every layer but the last, and after the last too when relu_last.
class Mlp {
 public:
  Mlp() = default;
  /// Lays the layers out from params offset `offset`; size() floats are used.
  Mlp(const std::vector<int>& widths, bool relu_last, int64_t offset);
  int in() const { return layers_.front().in; }
  int out() const { return layers_.back().out; }
  int64_t size() const;
  const std::vector<Linear>& layers() const { return layers_; }
  /// He init for layers followed by a ReLU, Xavier for a last linear layer.
  void init(float* params, uint64_t seed) const;

  /// Activations of one forward pass: act[l] = output of layer l (n x widths[l+1]).
  struct Cache {
    std::vector<std::vector<float>> act;
    std::vector<float> d0, d1;  // backward scratch (n x max width)
  };
  /// Forward over n rows; returns the output (n x out()), held in cache.act.back().
  const float* forward(const float* params, const float* x, int64_t n, Cache& c) const;
  /// dy (n x out()) = dL/d output; grad += parameter gradients; dx (n x in()) = dL/dx when
  /// not null. x must be the input of the matching forward.
  void backward(const float* params, const float* x, const float* dy, int64_t n, Cache& c,
                float* grad, float* dx) const;

 private:
  std::vector<Linear> layers_;
  bool relu_last_ = false;
};

/// Grows v to at least n values (never shrinks: buffers reused across steps).
inline float* ensure(std::vector<float>& v, size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

}  // namespace embcomp::ctr

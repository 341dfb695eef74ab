#include "compressors/int8.h"

#include <algorithm>
#include <cmath>

#include "toolkit/registry.h"
#include "toolkit/serialize.h"

namespace embcomp {

Int8Codec::Int8Codec(size_t d) : d_(d) { EC_CHECK(d > 0, kBadInput, "INT8: d must be positive"); }

void Int8Codec::train(MatrixView<float> x) {
  check_train_input(spec(), x, d_, 1);
  std::vector<float> amax(d_, 0.0f);
  for (size_t i = 0; i < x.n; ++i) {
    const float* xi = x.row(i);
    for (size_t j = 0; j < d_; ++j) amax[j] = std::max(amax[j], std::fabs(xi[j]));
  }
  scale_.resize(d_);
  for (size_t j = 0; j < d_; ++j) scale_[j] = amax[j] > 0 ? amax[j] / 127.0f : 1.0f;
}

void Int8Codec::encode(MatrixView<float> x, uint8_t* codes) const {
  check_encode_input(spec(), x, d_, is_trained());
  std::vector<float> inv(d_);
  for (size_t j = 0; j < d_; ++j) inv[j] = 1.0f / scale_[j];
#pragma omp parallel for if (x.n > 1024) schedule(static)
  for (size_t i = 0; i < x.n; ++i) {
    const float* xi = x.row(i);
    auto* ci = reinterpret_cast<int8_t*>(codes + i * d_);
    for (size_t j = 0; j < d_; ++j) {
      float q = std::nearbyint(xi[j] * inv[j]);
      ci[j] = static_cast<int8_t>(std::clamp(q, -127.0f, 127.0f));
    }
  }
}

void Int8Codec::decode(const uint8_t* codes, size_t n, float* x) const {
#pragma omp parallel for if (n > 1024) schedule(static)
  for (size_t i = 0; i < n; ++i) {
    const auto* ci = reinterpret_cast<const int8_t*>(codes + i * d_);
    float* xi = x + i * d_;
    for (size_t j = 0; j < d_; ++j) xi[j] = ci[j] * scale_[j];
  }
}

/// The scales s_j: a vector of d floats.
void Int8Codec::save(BinaryWriter& w) const {
  EC_CHECK(is_trained(), kRuntime, "INT8: save before train");
  w.put_vector(scale_);
}

void Int8Codec::load(BinaryReader& r) { scale_ = r.get_vector<float>(d_); }

namespace {
Registrar reg{{
    .name = "INT8",
    .grammar = "INT8",
    .doc = "per-dimension signed symmetric int8 (scale = max|x|/127): d bytes per row",
    .kind = MethodKind::kCodec,
    .pattern = "INT8",
    .ladder = [](size_t) { return std::vector<std::string>{"INT8"}; },
    .defaults = [](size_t) { return std::vector<std::string>{"INT8"}; },
    .make_transform = nullptr,
    .make_codec = [](const BuildArgs& a) { return std::make_unique<Int8Codec>(a.d); },
}};
}  // namespace

}  // namespace embcomp

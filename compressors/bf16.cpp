#include "compressors/bf16.h"

#include <cmath>
#include <cstring>

#include "toolkit/registry.h"
#include "toolkit/serialize.h"

namespace embcomp {

uint16_t float_to_bf16(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  if (std::isnan(x)) return static_cast<uint16_t>((u >> 16) | 0x40);  // keep it a NaN
  uint32_t rounded = u + 0x7FFFu + ((u >> 16) & 1u);
  uint16_t b = static_cast<uint16_t>(rounded >> 16);
  if (std::isfinite(x) && (b & 0x7F80u) == 0x7F80u) {
    b = static_cast<uint16_t>((u >> 16 & 0x8000u) | 0x7F7Fu);  // saturate to +-max
  }
  return b;
}

float bf16_to_float(uint16_t b) {
  uint32_t u = static_cast<uint32_t>(b) << 16;
  float x;
  std::memcpy(&x, &u, 4);
  return x;
}

Bf16Codec::Bf16Codec(size_t d) : d_(d) {
  EC_CHECK(d > 0, kBadInput, "BF16: d must be positive");
}

void Bf16Codec::train(MatrixView<float> x) { check_train_input(spec(), x, d_, 1); }

void Bf16Codec::encode(MatrixView<float> x, uint8_t* codes) const {
  check_encode_input(spec(), x, d_, true);
  const size_t total = checked_mul(x.n, d_);
  auto* out = reinterpret_cast<uint16_t*>(codes);
#pragma omp parallel for if (total > 65536) schedule(static)
  for (size_t i = 0; i < total; ++i) out[i] = float_to_bf16(x.data[i]);
}

void Bf16Codec::decode(const uint8_t* codes, size_t n, float* x) const {
  const size_t total = checked_mul(n, d_);
  const auto* in = reinterpret_cast<const uint16_t*>(codes);
#pragma omp parallel for if (total > 65536) schedule(static)
  for (size_t i = 0; i < total; ++i) x[i] = bf16_to_float(in[i]);
}

// BF16 has no learned state.
void Bf16Codec::save(BinaryWriter&) const {}
void Bf16Codec::load(BinaryReader&) {}

namespace {
Registrar reg{{
    .name = "BF16",
    .grammar = "BF16",
    .doc = "bfloat16 per value, round to nearest even: 2d bytes per row (own; FAISS 1.7.3 has none)",
    .kind = MethodKind::kCodec,
    .pattern = "BF16",
    .ladder = [](size_t) { return std::vector<std::string>{"BF16"}; },
    .defaults = [](size_t) { return std::vector<std::string>{"BF16"}; },
    .make_transform = nullptr,
    .make_codec = [](const BuildArgs& a) { return std::make_unique<Bf16Codec>(a.d); },
}};
}  // namespace

}  // namespace embcomp

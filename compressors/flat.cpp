#include "compressors/flat.h"

#include <cstring>

#include "toolkit/registry.h"
#include "toolkit/serialize.h"

namespace embcomp {

FlatCodec::FlatCodec(size_t d) : d_(d) {}

void FlatCodec::train(MatrixView<float> x) { check_train_input(spec(), x, d_, 1); }

void FlatCodec::encode(MatrixView<float> x, uint8_t* codes) const {
  check_encode_input(spec(), x, d_, true);
  std::memcpy(codes, x.data, checked_mul(x.n, code_size()));
}

void FlatCodec::decode(const uint8_t* codes, size_t n, float* x) const {
  std::memcpy(x, codes, checked_mul(n, code_size()));
}

// Flat has no learned state: only d, which the registry rebuilds from the header.
void FlatCodec::save(BinaryWriter&) const {}
void FlatCodec::load(BinaryReader&) {}

namespace {
Registrar reg{{
    .name = "Flat",
    .grammar = "Flat",
    .doc = "uncompressed float32 baseline: 4d bytes per row",
    .kind = MethodKind::kCodec,
    .pattern = "Flat",
    .ladder = [](size_t) { return std::vector<std::string>{"Flat"}; },
    .defaults = [](size_t) { return std::vector<std::string>{"Flat"}; },
    .make_transform = nullptr,
    .make_codec = [](const BuildArgs& a) { return std::make_unique<FlatCodec>(a.d); },
}};
}  // namespace

}  // namespace embcomp

#include "compressors/rq.h"

#include "compressors/train_sample.h"
#include "toolkit/registry.h"
#include "toolkit/serialize.h"

namespace embcomp {

void RqParams::validate(size_t d) const {
  EC_CHECK(M > 0 && M <= 256, kBadInput, "RQ: M=" << M << " is not in [1, 256]");
  EC_CHECK(nbits >= 1 && nbits <= 16, kBadInput, "RQ: nbits=" << nbits << " is not in [1, 16]");
  EC_CHECK(d > 0, kBadInput, "RQ: d must be positive");
}

RqCodec::RqCodec(size_t d, RqParams params) : params_(params) {
  params_.validate(d);
  rq_ = faiss::ResidualQuantizer(d, params_.M, params_.nbits);
  rq_.max_beam_size = params_.max_beam_size;
  rq_.cp.seed = static_cast<int>(params_.seed & 0x7fffffff);
  rq_.cp.max_points_per_centroid = 1 << 30;  // we subsample ourselves, reproducibly
}

std::string RqCodec::spec() const {
  // Appending (rather than "RQ" + ...) avoids GCC 12's false -Wrestrict (bug 105329).
  std::string s = "RQ";
  s += std::to_string(params_.M);
  s += 'x';
  s += std::to_string(params_.nbits);
  return s;
}

void RqCodec::train(MatrixView<float> x) {
  check_train_input(spec(), x, d(), min_train_rows());
  FloatMatrix sample = train_sample(x, params_.max_train_rows, params_.seed);
  rq_.train(sample.n, sample.data());
  trained_ = true;
}

void RqCodec::encode(MatrixView<float> x, uint8_t* codes) const {
  check_encode_input(spec(), x, d(), trained_);
  rq_.compute_codes(x.data, codes, x.n);
}

void RqCodec::decode(const uint8_t* codes, size_t n, float* x) const {
  rq_.decode(codes, x, n);
}

/// The codebooks (sum over stages of 2^nbits * d floats); the lookup tables the encoder
/// uses are recomputed from them on load, as FAISS does after training.
void RqCodec::save(BinaryWriter& w) const {
  EC_CHECK(trained_, kRuntime, spec() << ": save before train");
  w.put_vector(rq_.codebooks);
}

void RqCodec::load(BinaryReader& r) {
  rq_.codebooks = r.get_vector<float>(rq_.total_codebook_size * rq_.d);
  rq_.is_trained = true;
  rq_.compute_codebook_tables();
  trained_ = true;
}

namespace {
Registrar reg{{
    .name = "RQ",
    .grammar = "RQ{M}x{nbits}",
    .doc = "residual quantizer with beam search: M stages of 2^nbits centroids (FAISS)",
    .kind = MethodKind::kCodec,
    .pattern = "RQ([0-9]+)x([0-9]+)",
    .ladder = [](size_t) { return std::vector<std::string>{"RQ2x8", "RQ4x8", "RQ8x8"}; },
    .defaults = [](size_t) { return std::vector<std::string>{"RQ8x8"}; },
    .make_transform = nullptr,
    .make_codec =
        [](const BuildArgs& a) {
          RqParams p;
          p.M = parse_int_arg(a.spec(), a.groups[1], "M", 1, 256);
          p.nbits = parse_int_arg(a.spec(), a.groups[2], "nbits", 1, 16);
          p.seed = a.seed;
          return std::make_unique<RqCodec>(a.d, p);
        },
}};
}  // namespace

}  // namespace embcomp

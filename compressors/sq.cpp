#include "compressors/sq.h"

#include "compressors/budget.h"
#include "toolkit/registry.h"
#include "toolkit/serialize.h"

namespace embcomp {

namespace {
faiss::ScalarQuantizer::QuantizerType qtype_for(int nbits) {
  switch (nbits) {
    case 4:
      return faiss::ScalarQuantizer::QT_4bit;
    case 6:
      return faiss::ScalarQuantizer::QT_6bit;
    case 8:
      return faiss::ScalarQuantizer::QT_8bit;
    default:
      return faiss::ScalarQuantizer::QT_fp16;
  }
}
}  // namespace

void SqParams::validate(size_t d) const {
  EC_CHECK(nbits == 4 || nbits == 6 || nbits == 8 || nbits == 16, kBadInput,
           "SQ: nbits=" << nbits << " is not one of 4, 6, 8 (or 16 for FP16)");
  EC_CHECK(d > 0, kBadInput, "SQ: d must be positive");
}

SqCodec::SqCodec(size_t d, SqParams params) : params_(params) {
  params_.validate(d);
  sq_ = faiss::ScalarQuantizer(d, qtype_for(params_.nbits));
  trained_ = params_.nbits == 16;  // fp16 has nothing to learn
}

std::string SqCodec::spec() const {
  return params_.nbits == 16 ? "FP16" : "SQ" + std::to_string(params_.nbits);
}

void SqCodec::train(MatrixView<float> x) {
  check_train_input(spec(), x, d(), 1);
  if (params_.nbits != 16) sq_.train(x.n, x.data);
  trained_ = true;
}

void SqCodec::encode(MatrixView<float> x, uint8_t* codes) const {
  check_encode_input(spec(), x, d(), trained_);
  sq_.compute_codes(x.data, codes, x.n);
}

void SqCodec::decode(const uint8_t* codes, size_t n, float* x) const {
  sq_.decode(codes, x, n);
}

namespace {
std::unique_ptr<TableCompressor> make_sq_for_budget(const BuildArgs& a) {
  std::vector<KnobChoice> cands;
  for (int nbits : {4, 6, 8, 16}) {
    size_t model = nbits == 16 ? 0 : 2 * a.d * 4;
    cands.push_back({"nbits=" + std::to_string(nbits), a.n * ((a.d * nbits + 7) / 8) + model,
                     double(a.d) * nbits, 0});
  }
  const double full = 4.0 * double(a.n) * double(a.d);
  const size_t best = choose_knob(a.full_spec, cands, a.budget * full, full);
  SqParams p;
  p.nbits = std::stoi(cands[best].knob.substr(6));
  auto t = std::make_unique<CodecTable>(std::make_unique<SqCodec>(a.d, p), a.full_spec,
                                        cands[best].knob);
  t->set_budget(a.budget, "nbits is one of 4, 6, 8 or 16 (FP16)");
  return t;
}

Registrar reg_sq{{
    .name = "SQ",
    .grammar = "SQ{nbits}",
    .doc = "per-dimension uniform scalar quantizer, nbits in {4,6,8} (FAISS ScalarQuantizer)",
    .kind = MethodKind::kCodec,
    .pattern = "SQ([0-9]+)",
    .ladder = [](size_t) { return std::vector<std::string>{"SQ4", "SQ6", "SQ8"}; },
    .defaults = [](size_t) { return std::vector<std::string>{"SQ8", "SQ4"}; },
    .make_transform = nullptr,
    .make_codec =
        [](const BuildArgs& a) {
          SqParams p;
          p.nbits = parse_int_arg(a.spec(), a.groups[1], "nbits", 4, 8);
          EC_CHECK(p.nbits != 5 && p.nbits != 7, kBadInput,
                   a.spec() << ": nbits=" << p.nbits << " is not one of 4, 6, 8");
          return std::make_unique<SqCodec>(a.d, p);
        },
    .make_table = nullptr,
    .budget_pattern = "SQ",
    .budget_grammar = "SQ@{budget}",
    .make_budgeted = make_sq_for_budget,
}};

Registrar reg_fp16{{
    .name = "FP16",
    .grammar = "FP16",
    .doc = "IEEE half precision per value: 2d bytes per row (FAISS QT_fp16)",
    .kind = MethodKind::kCodec,
    .pattern = "FP16",
    .ladder = [](size_t) { return std::vector<std::string>{"FP16"}; },
    .defaults = [](size_t) { return std::vector<std::string>{"FP16"}; },
    .make_transform = nullptr,
    .make_codec =
        [](const BuildArgs& a) {
          SqParams p;
          p.nbits = 16;
          return std::make_unique<SqCodec>(a.d, p);
        },
}};
}  // namespace

/// FAISS's trained vector (vmin then vdiff, 2d floats; empty for fp16).
void SqCodec::save(BinaryWriter& w) const {
  EC_CHECK(trained_, kRuntime, spec() << ": save before train");
  w.put_vector(sq_.trained);
}

void SqCodec::load(BinaryReader& r) {
  sq_.trained = r.get_vector<float>(params_.nbits == 16 ? 0 : 2 * sq_.d);
  trained_ = true;
}

}  // namespace embcomp

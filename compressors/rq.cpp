#include "compressors/rq.h"

#include "compressors/budget.h"
#include "compressors/pq.h"
#include "compressors/table_compressor.h"
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
  quiet_kmeans(rq_.cp);  // every stage's k-means (ProgressiveDimClustering copies cp)
  // FAISS would compute codebook_cross_products ((M 2^nbits)^2 floats: 16.8 MB for RQ8x8)
  // and cent_norms after training. They serve only the LUT beam search (use_beam_LUT = 1)
  // and the norm-encoding search types; our encoder (use_beam_LUT = 0, ST_decompress)
  // never reads them, so they are not computed and model_bytes() (the codebooks) is all
  // the codec keeps.
  rq_.train_type |= faiss::ResidualQuantizer::Skip_codebook_tables;
  rq_.use_beam_LUT = 0;
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
  check_distance_range(spec(), x);
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

/// The codebooks (sum over stages of 2^nbits * d floats); nothing else is needed to
/// encode or decode (see the constructor).
void RqCodec::save(BinaryWriter& w) const {
  EC_CHECK(trained_, kRuntime, spec() << ": save before train");
  w.put_vector(rq_.codebooks);
}

void RqCodec::load(BinaryReader& r) {
  rq_.codebooks = r.get_vector<float>(rq_.total_codebook_size * rq_.d);
  rq_.is_trained = true;
  trained_ = true;
}

namespace {

constexpr int kMaxBudgetStages = 8;  // RQ@B: encoding cost grows with M * 2^nbits

std::unique_ptr<TableCompressor> make_rq_for_budget(const BuildArgs& a) {
  // bytes(M, nbits) = n ceil(M nbits / 8) + M 2^nbits d 4
  std::vector<KnobChoice> cands;
  std::vector<std::pair<int, int>> knobs;
  for (int M = 1; M <= kMaxBudgetStages; ++M) {
    for (int nbits = 4; nbits <= 8; ++nbits) {
      if (a.n < (size_t{1} << nbits)) continue;  // too few rows to train the codebooks
      const size_t bytes = a.n * ((size_t(M) * nbits + 7) / 8) +
                           size_t(M) * (size_t{1} << nbits) * a.d * 4;
      // budget.h's rule: the most code bits M nbits, then the larger codebooks (nbits).
      cands.push_back({"M=" + std::to_string(M) + ",nbits=" + std::to_string(nbits), bytes,
                       double(M) * nbits, double(nbits)});
      knobs.push_back({M, nbits});
    }
  }
  EC_CHECK(!cands.empty(), kBadInput, a.full_spec << ": RQ needs at least 16 rows");
  const double full = 4.0 * double(a.n) * double(a.d);
  const size_t best = choose_knob(a.full_spec, cands, a.budget * full, full);
  RqParams p;
  p.M = knobs[best].first;
  p.nbits = knobs[best].second;
  p.seed = a.seed;
  auto t = std::make_unique<CodecTable>(std::make_unique<RqCodec>(a.d, p), a.full_spec,
                                        cands[best].knob);
  t->set_budget(a.budget, "RQ@ uses at most M=" + std::to_string(kMaxBudgetStages) +
                              " stages of 4 to 8 bits (encoding cost grows with M 2^nbits), and the most "
                              "code bits M nbits are preferred over more bytes");
  return t;
}

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
    .make_table = nullptr,
    .budget_pattern = "RQ",
    .budget_grammar = "RQ@{budget}",
    .make_budgeted = make_rq_for_budget,
}};
}  // namespace

}  // namespace embcomp

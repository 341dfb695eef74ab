#include "compressors/pq.h"

#include <faiss/Clustering.h>
#include <faiss/IndexFlat.h>

#include <algorithm>

#include "compressors/budget.h"
#include "compressors/train_sample.h"
#include "toolkit/registry.h"
#include "toolkit/serialize.h"

namespace embcomp {

void PqParams::validate(size_t d) const {
  EC_CHECK(M > 0, kBadInput, "PQ: M=" << M << " must be positive");
  EC_CHECK(nbits >= 1 && nbits <= 16, kBadInput, "PQ: nbits=" << nbits << " is not in [1, 16]");
  EC_CHECK(d % M == 0, kBadInput, "PQ: d=" << d << " is not divisible by M=" << M);
}

PqCodec::PqCodec(size_t d, PqParams params) : params_(params) {
  params_.validate(d);
  pq_ = faiss::ProductQuantizer(d, params_.M, params_.nbits);
  pq_.cp.niter = params_.niter;
  pq_.cp.seed = static_cast<int>(params_.seed & 0x7fffffff);
  pq_.cp.max_points_per_centroid = 1 << 30;  // we subsample ourselves, reproducibly
  // No centroids until train() or load(): FAISS's constructor allocates them, and load's
  // replacement would leave that freed block resident in the heap (MGPQ2@0.3 at 6000 x 64:
  // RSS 20% over the prediction in the own-index memory test).
  pq_.centroids.clear();
  pq_.centroids.shrink_to_fit();
}

std::string PqCodec::spec() const {
  // Appending (rather than "PQ" + ...) avoids GCC 12's false -Wrestrict (bug 105329).
  std::string s = "PQ";
  s += std::to_string(params_.M);
  s += 'x';
  s += std::to_string(params_.nbits);
  return s;
}

void PqCodec::train(MatrixView<float> x) {
  check_train_input(spec(), x, d(), min_train_rows());
  check_distance_range(spec(), x);
  FloatMatrix sample =
      train_sample(x, std::min(params_.max_train_rows, 256 * pq_.ksub), params_.seed);
  // The same k-means per sub-quantizer as faiss::ProductQuantizer::train (same
  // parameters, same seed for every m), but the M independent k-means run in parallel:
  // FAISS runs them one after the other, each barely using 2 cores at small dsub.
  const size_t M = pq_.M, dsub = pq_.dsub, ksub = pq_.ksub, n = sample.n;
  pq_.centroids.resize(M * ksub * dsub);
  faiss::ClusteringParameters cp = pq_.cp;
  quiet_kmeans(cp);  // small tables, MGPQ's 9-bit groups: fewer than 39 points per centroid
  OmpExceptionGuard guard;
#pragma omp parallel for schedule(dynamic)
  for (size_t m = 0; m < M; ++m) {
    guard.run([&] {
      std::vector<float> slice(n * dsub);
      for (size_t i = 0; i < n; ++i)
        std::copy(sample.row(i) + m * dsub, sample.row(i) + (m + 1) * dsub, &slice[i * dsub]);
      faiss::Clustering clus(static_cast<int>(dsub), static_cast<int>(ksub), cp);
      faiss::IndexFlatL2 index(static_cast<faiss::Index::idx_t>(dsub));
      clus.train(static_cast<faiss::Index::idx_t>(n), slice.data(), index);
      std::copy(clus.centroids.begin(), clus.centroids.end(),
                pq_.centroids.begin() + m * ksub * dsub);
    });
  }
  guard.rethrow();
  pq_.clear_transposed_centroids();
  trained_ = true;
}

void PqCodec::encode(MatrixView<float> x, uint8_t* codes) const {
  check_encode_input(spec(), x, d(), trained_);
  pq_.compute_codes(x.data, codes, x.n);
}

void PqCodec::decode(const uint8_t* codes, size_t n, float* x) const {
  pq_.decode(codes, x, n);
}

std::vector<std::string> pq_family_specs(size_t d, std::initializer_list<size_t> dims_per_code) {
  std::vector<std::string> out;
  for (size_t dsub : dims_per_code) {
    size_t M = d / dsub;
    while (M > 1 && d % M != 0) --M;  // the largest divisor of d not above d / dsub
    std::string s = "PQ";
    s += std::to_string(M);
    s += "x8";
    if (M > 0 && (out.empty() || out.back() != s)) out.push_back(s);
  }
  return out;
}

std::unique_ptr<TableCompressor> make_pq_for_budget(const BuildArgs& a) {
  std::vector<KnobChoice> cands;
  std::vector<std::pair<int, int>> knobs;
  for (size_t M = 1; M <= a.d; ++M) {
    if (a.d % M) continue;
    for (int nbits = 4; nbits <= 8; ++nbits) {
      size_t bytes = a.n * ((M * nbits + 7) / 8) + (size_t{1} << nbits) * a.d * 4;
      // budget.h's rule: the most code bits M nbits, then the larger codebooks (nbits).
      cands.push_back({"M=" + std::to_string(M) + ",nbits=" + std::to_string(nbits), bytes,
                       double(M) * nbits, double(nbits)});
      knobs.push_back({int(M), nbits});
    }
  }
  const double full = 4.0 * double(a.n) * double(a.d);
  const size_t best = choose_knob(a.full_spec, cands, a.budget * full, full);
  PqParams p;
  p.M = knobs[best].first;
  p.nbits = knobs[best].second;
  p.seed = a.seed;
  auto t = std::make_unique<CodecTable>(std::make_unique<PqCodec>(a.d, p), a.full_spec,
                                        cands[best].knob);
  t->set_budget(a.budget, "M must divide d=" + std::to_string(a.d) +
                              ", nbits is an integer in [4, 8], and the most code bits M nbits "
                              "are preferred over more bytes");
  return t;
}

/// The centroids: M * ksub * dsub floats.
void PqCodec::save(BinaryWriter& w) const {
  EC_CHECK(trained_, kRuntime, spec() << ": save before train");
  w.put_vector(pq_.centroids);
}

void PqCodec::load(BinaryReader& r) {
  pq_.centroids = r.get_vector<float>(pq_.M * pq_.ksub * pq_.dsub);
  pq_.clear_transposed_centroids();
  trained_ = true;
}

namespace {
Registrar reg{{
    .name = "PQ",
    .grammar = "PQ{M}x{nbits}",
    .doc = "product quantizer: M sub-quantizers of 2^nbits centroids, d % M == 0 (FAISS)",
    .kind = MethodKind::kCodec,
    .pattern = "PQ([0-9]+)x([0-9]+)",
    .ladder = [](size_t d) { return pq_family_specs(d, {10, 4, 2}); },
    .defaults = [](size_t d) { return pq_family_specs(d, {4, 2}); },
    .make_transform = nullptr,
    .make_codec =
        [](const BuildArgs& a) {
          PqParams p;
          p.M = parse_int_arg(a.spec(), a.groups[1], "M", 1, 1 << 16);
          p.nbits = parse_int_arg(a.spec(), a.groups[2], "nbits", 1, 16);
          p.seed = a.seed;
          return std::make_unique<PqCodec>(a.d, p);
        },
    .make_table = nullptr,
    .budget_pattern = "PQ",
    .budget_grammar = "PQ@{budget}",
    .make_budgeted = make_pq_for_budget,
}};
}  // namespace

}  // namespace embcomp

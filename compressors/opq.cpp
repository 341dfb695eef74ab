#include "compressors/opq.h"

#include <algorithm>

#include "compressors/budget.h"
#include "compressors/pipeline.h"
#include "compressors/pq.h"
#include "compressors/table_compressor.h"
#include "toolkit/blas.h"
#include "toolkit/registry.h"
#include <faiss/impl/io.h>
#include <faiss/index_io.h>

#include "toolkit/serialize.h"

namespace embcomp {

void OpqParams::validate(size_t d) const {
  EC_CHECK(M > 0, kBadInput, "OPQ: M=" << M << " must be positive");
  EC_CHECK(d % M == 0, kBadInput, "OPQ: d=" << d << " is not divisible by M=" << M);
}

OpqQuietTraining::OpqQuietTraining(faiss::OPQMatrix& opq)
    : opq_(opq), pq_(size_t(opq.d_out), size_t(opq.M), 8) {
  quiet_kmeans(pq_.cp);
  opq_.pq = &pq_;
}

OpqTransform::OpqTransform(size_t d, OpqParams params) : params_(params) {
  params_.validate(d);
  opq_ = faiss::OPQMatrix(static_cast<int>(d), params_.M);
  opq_.niter = params_.niter;
  opq_.max_train_points = params_.max_train_rows;
}

void OpqTransform::train(MatrixView<float> x) {
  check_train_input(spec(), x, d_in(), min_train_rows());
  check_distance_range(spec(), x);
  OpqQuietTraining quiet(opq_);
  opq_.train(static_cast<faiss::Index::idx_t>(x.n), x.data);
}

void OpqTransform::apply(MatrixView<float> x, float* xt) const {
  check_encode_input(spec(), x, d_in(), is_trained());
  opq_.apply_noalloc(static_cast<faiss::Index::idx_t>(x.n), x.data, xt);
}

void OpqTransform::reverse(MatrixView<float> xt, float* x) const {
  EC_CHECK(xt.d == d_out(), kBadInput, spec() << ": reverse input has d=" << xt.d);
  // x = xt A (A orthonormal; OPQ has no bias b): FAISS's reverse_transform, but row by row
  // (matmul_rowwise) so that a row decodes the same in any batch and on any BLAS kernel.
  EC_CHECK(opq_.b.empty(), kBadInput, spec() << ": OPQ rotation with a bias term");
  matmul_rowwise(xt.data, opq_.A.data(), x, xt.n, d_out(), d_in());
}

namespace {
std::vector<std::string> opq_specs(size_t d, std::initializer_list<size_t> dsubs) {
  std::vector<std::string> out;
  for (const auto& pq : pq_family_specs(d, dsubs)) {
    std::string m = pq.substr(2, pq.find('x') - 2);
    out.push_back("OPQ" + m + "," + pq);
  }
  return out;
}

// OPQ+PQ@B: OPQ{M},PQ{M}x{nbits} with M and nbits solved from the budget.
std::unique_ptr<TableCompressor> make_opq_pq_for_budget(const BuildArgs& a) {
  // bytes(M, nbits) = n ceil(M nbits / 8) + 2^nbits d 4 (PQ centroids) + d d 4 (rotation)
  std::vector<KnobChoice> cands;
  std::vector<std::pair<int, int>> knobs;
  // Sub-vectors of at least 2 dimensions: with one, the rotation cannot help and OPQ's
  // training (a PQ per iteration) costs the most.
  for (size_t M = 1; M <= std::max<size_t>(1, a.d / 2); ++M) {
    if (a.d % M) continue;
    for (int nbits = 4; nbits <= 8; ++nbits) {
      const size_t bytes =
          a.n * ((M * nbits + 7) / 8) + (size_t{1} << nbits) * a.d * 4 + a.d * a.d * 4;
      // budget.h's rule: the most code bits M nbits, then the larger codebooks (nbits).
      cands.push_back({"M=" + std::to_string(M) + ",nbits=" + std::to_string(nbits), bytes,
                       double(M) * nbits, double(nbits)});
      knobs.push_back({int(M), nbits});
    }
  }
  const double full = 4.0 * double(a.n) * double(a.d);
  const size_t best = choose_knob(a.full_spec, cands, a.budget * full, full);
  OpqParams op;
  op.M = knobs[best].first;
  // Half of OPQ{M}'s default outer iterations: at dsub = 2 and 256 centroids each one
  // trains M k-means, and the sweep runs this family at every budget.
  op.niter = 10;
  PqParams pp;
  pp.M = knobs[best].first;
  pp.nbits = knobs[best].second;
  pp.seed = a.seed;
  std::vector<std::unique_ptr<Transform>> ts;
  ts.push_back(std::make_unique<OpqTransform>(a.d, op));
  auto t = std::make_unique<CodecTable>(
      std::make_unique<Pipeline>(std::move(ts), std::make_unique<PqCodec>(a.d, pp)),
      a.full_spec, cands[best].knob);
  t->set_budget(a.budget, "M must divide d=" + std::to_string(a.d) +
                              " with at least 2 dimensions per sub-vector, nbits is an integer in [4, 8], the "
                              "rotation costs 4 d^2, and the most code bits M nbits are "
                              "preferred over a larger codebook");
  return t;
}

Registrar reg{{
    .name = "OPQ",
    .grammar = "OPQ{M}",
    .doc = "transform: OPQ rotation learned for M sub-quantizers, prefix of PQ (FAISS OPQMatrix)",
    .kind = MethodKind::kTransform,
    .pattern = "OPQ([0-9]+)",
    .ladder = [](size_t d) { return opq_specs(d, {10, 4}); },
    .defaults = [](size_t d) { return opq_specs(d, {4}); },
    .make_transform =
        [](const BuildArgs& a) {
          OpqParams p;
          p.M = parse_int_arg(a.spec(), a.groups[1], "M", 1, 1 << 16);
          return std::make_unique<OpqTransform>(a.d, p);
        },
    .make_codec = nullptr,
    .make_table = nullptr,
    .budget_pattern = "OPQ\\+PQ",
    .budget_grammar = "OPQ+PQ@{budget}",
    .budget_head = "OPQ+PQ",
    .make_budgeted = make_opq_pq_for_budget,
}};
}  // namespace

/// FAISS's own VectorTransform serialization, stored as one byte vector.
void OpqTransform::save(BinaryWriter& w) const {
  EC_CHECK(is_trained(), kRuntime, spec() << ": save before train");
  save_faiss_transform(w, opq_);
}

void OpqTransform::load(BinaryReader& r) {
  std::unique_ptr<faiss::VectorTransform> vt = load_faiss_transform(r, spec());
  // FAISS writes an OPQMatrix as its LinearTransform part (the rotation A and bias b).
  auto* t = dynamic_cast<faiss::LinearTransform*>(vt.get());
  EC_CHECK(t && t->d_in == opq_.d_in && t->d_out == opq_.d_out && t->A.size() == size_t(t->d_in) * t->d_out,
           kBadInput, r.what() << ": corrupt " << spec() << " model (wrong type or dimensions)");
  opq_.A = t->A;
  opq_.b = t->b;
  opq_.have_bias = t->have_bias;
  opq_.is_orthonormal = t->is_orthonormal;
  opq_.is_trained = true;
}

}  // namespace embcomp

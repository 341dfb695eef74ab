#include "compressors/pca.h"

#include <algorithm>

#include "compressors/budget.h"
#include "compressors/flat.h"
#include "compressors/pipeline.h"
#include "compressors/sq.h"
#include "toolkit/blas.h"
#include "toolkit/registry.h"
#include <faiss/impl/io.h>
#include <faiss/index_io.h>

#include "toolkit/serialize.h"

namespace embcomp {

void PcaParams::validate(size_t d_in) const {
  EC_CHECK(d_out > 0 && size_t(d_out) <= d_in, kBadInput,
           "PCA: d_out=" << d_out << " must be in [1, d=" << d_in << "]");
}

PcaTransform::PcaTransform(size_t d_in, PcaParams params) : params_(params) {
  params_.validate(d_in);
  pca_ = faiss::PCAMatrix(static_cast<int>(d_in), params_.d_out);
}

void PcaTransform::train(MatrixView<float> x) {
  check_train_input(spec(), x, d_in(), min_train_rows());
  check_distance_range(spec(), x);
  pca_.train(static_cast<faiss::Index::idx_t>(x.n), x.data);
  // The full d x d eigenvector matrix and the d eigenvalues are only needed to derive A
  // during training: keeping them would make memory and saved indexes larger than the
  // budget formula (A, mean, b) says.
  pca_.PCAMat.clear();
  pca_.PCAMat.shrink_to_fit();
  pca_.eigenvalues.clear();
  pca_.eigenvalues.shrink_to_fit();
}

void PcaTransform::apply(MatrixView<float> x, float* xt) const {
  check_encode_input(spec(), x, d_in(), is_trained());
  pca_.apply_noalloc(static_cast<faiss::Index::idx_t>(x.n), x.data, xt);
}

void PcaTransform::reverse(MatrixView<float> xt, float* x) const {
  EC_CHECK(xt.d == d_out(), kBadInput, spec() << ": reverse input has d=" << xt.d);
  // x = xt A + mean. Not faiss's reverse_transform, which returns A^T (xt - b) and so
  // drops the part of the mean orthogonal to the kept components. Row by row
  // (matmul_rowwise): decode_rows and decode_range must agree bit for bit.
  const size_t din = d_in(), dout = d_out();
  for (size_t i = 0; i < xt.n; ++i) std::copy(pca_.mean.begin(), pca_.mean.end(), x + i * din);
  matmul_rowwise(xt.data, pca_.A.data(), x, xt.n, dout, din, /*accumulate=*/true);
}

std::vector<std::string> pca_family_specs(size_t d) {
  std::vector<std::string> out;
  for (size_t q : {1, 2, 3}) {
    size_t k = d * q / 4;
    if (k >= 1) out.push_back("PCA" + std::to_string(k));
  }
  return out;
}

namespace {
std::unique_ptr<TableCompressor> make_pca_for_budget(const BuildArgs& a) {
  // PCA@B keeps float32 rows; PCA+SQ{b}@B scalar-quantizes them to b bits:
  //   bytes(k) = n ceil(k b / 8) + 4 (k d + d + k) (A, the mean and FAISS's bias b)
  //              + [SQ: 2 k 4 (ranges)]
  const int bits = a.groups.size() > 1 && !a.groups[1].empty() ? std::stoi(a.groups[1]) : 32;
  std::vector<KnobChoice> cands;
  for (size_t k = 1; k <= a.d; ++k) {
    const size_t model = 4 * (k * a.d + a.d + k) + (bits == 32 ? 0 : 2 * k * 4);
    cands.push_back({"d_out=" + std::to_string(k), a.n * ((k * bits + 7) / 8) + model,
                     double(k) * bits, 0});
  }
  const double full = 4.0 * double(a.n) * double(a.d);
  const size_t best = choose_knob(a.full_spec, cands, a.budget * full, full);
  PcaParams p;
  p.d_out = static_cast<int>(best + 1);
  std::vector<std::unique_ptr<Transform>> ts;
  ts.push_back(std::make_unique<PcaTransform>(a.d, p));
  std::unique_ptr<Codec> codec;
  if (bits == 32) {
    codec = std::make_unique<FlatCodec>(best + 1);
  } else {
    SqParams sp;
    sp.nbits = bits;
    codec = std::make_unique<SqCodec>(best + 1, sp);
  }
  auto t = std::make_unique<CodecTable>(
      std::make_unique<Pipeline>(std::move(ts), std::move(codec)), a.full_spec, cands[best].knob);
  t->set_budget(a.budget, "d_out is an integer: one more component costs n b / 8 + 4 (d + 1) bytes");
  return t;
}

Registrar reg{{
    .name = "PCA",
    .grammar = "PCA{d_out}",
    .doc = "transform: project on the d_out leading principal components (FAISS PCAMatrix)",
    .kind = MethodKind::kTransform,
    .pattern = "PCA([0-9]+)",
    .ladder = [](size_t d) { return pca_family_specs(d); },
    .defaults =
        [](size_t d) {
          auto specs = pca_family_specs(d);
          std::string mid = specs.size() > 1 ? specs[1] : specs[0];
          return std::vector<std::string>{specs.back(), specs.back() + ",SQ8", mid + ",SQ8"};
        },
    .make_transform =
        [](const BuildArgs& a) {
          PcaParams p;
          p.d_out = parse_int_arg(a.spec(), a.groups[1], "d_out", 1, 1 << 20);
          return std::make_unique<PcaTransform>(a.d, p);
        },
    .make_codec = nullptr,
    .make_table = nullptr,
    .budget_pattern = "PCA(?:\\+SQ([468]))?",
    .budget_grammar = "PCA@{budget} | PCA+SQ{4|6|8}@{budget}",
    .budget_head = "",
    .make_budgeted = make_pca_for_budget,
    .more_budget_heads = {"PCA+SQ8", "PCA+SQ6", "PCA+SQ4"},
}};
}  // namespace

/// FAISS's own VectorTransform serialization, stored as one byte vector.
void PcaTransform::save(BinaryWriter& w) const {
  EC_CHECK(is_trained(), kRuntime, spec() << ": save before train");
  save_faiss_transform(w, pca_);
}

void PcaTransform::load(BinaryReader& r) {
  std::unique_ptr<faiss::VectorTransform> vt = load_faiss_transform(r, spec());
  auto* t = dynamic_cast<faiss::PCAMatrix*>(vt.get());
  const size_t din = size_t(pca_.d_in), dout = size_t(pca_.d_out);
  EC_CHECK(t && t->d_in == pca_.d_in && t->d_out == pca_.d_out && t->is_trained, kBadInput,
           r.what() << ": corrupt " << spec() << " model (wrong type or dimensions)");
  // apply() multiplies by A (d_out x d_in) and adds b (d_out): short ones read out of bounds.
  EC_CHECK(t->A.size() == din * dout && (!t->have_bias || t->b.size() == dout) &&
               (t->mean.empty() || t->mean.size() == din),
           kBadInput,
           r.what() << ": corrupt " << spec() << " model (" << t->A.size() << " matrix values for "
                    << dout << " x " << din << ", " << t->b.size() << " bias values)");
  pca_ = *t;
}

}  // namespace embcomp

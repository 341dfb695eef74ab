#include "index/faiss_index.h"

#include <faiss/AutoTune.h>
#include <faiss/IndexAdditiveQuantizer.h>
#include <faiss/IndexHNSW.h>
#include <faiss/IndexIVF.h>
#include <faiss/IndexIVFAdditiveQuantizer.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/IndexPQ.h>
#include <faiss/IndexPreTransform.h>
#include <faiss/impl/FaissException.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>

#include <charconv>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>

#include "build_info.h"
#include "compressors/codec.h"
#include "compressors/opq.h"
#include "compressors/pq.h"
#include "index/checksum.h"
#include "index/faiss_reader.h"
#include "index/sidecar.h"
#include "toolkit/error.h"
#include "toolkit/io.h"
#include "toolkit/registry.h"

namespace embcomp {

namespace {

std::vector<std::string> split(const std::string& s, char c) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, c)) out.push_back(item);
  return out;
}

}  // namespace

std::string faiss_factory_string(const std::string& method, const std::string& structure) {
  check_spec(method);
  check_structure_text(structure);
  EC_CHECK(method.find('@') == std::string::npos, kBadInput,
           method << ": build an index from a concrete spec; budget forms are for bench");
  std::smatch m;
  enum { kFlatStruct, kIvf, kHnsw } kind;
  int hnsw_m = 0;
  // Bounds before FAISS sees them: HNSW0 crashes inside FAISS (add_link), HNSW100000 takes
  // minutes and GBs; nlist beyond 2^24 cannot be trained on any corpus embcomp reads.
  auto check_hnsw_m = [&](const std::string& digits) {
    const long v = digits.size() > 9 ? -1 : std::stol(digits);
    EC_CHECK(v >= kMinHnswM && v <= kMaxHnswM, kBadInput,
             "index structure '" << structure << "': HNSW M=" << digits << " must be in ["
                                 << kMinHnswM << ", " << kMaxHnswM << "]");
    return int(v);
  };
  if (structure == "Flat") {
    kind = kFlatStruct;
  } else if (std::regex_match(structure, m, std::regex("IVF([0-9]+)(_HNSW([0-9]+))?"))) {
    kind = kIvf;
    const long nlist = m[1].length() > 9 ? -1 : std::stol(m[1]);
    EC_CHECK(nlist >= 1 && nlist <= kMaxNlist, kBadInput,
             "index structure '" << structure << "': nlist=" << m[1] << " must be in [1, "
                                 << kMaxNlist << "]");
    if (m[3].matched) check_hnsw_m(m[3]);
  } else if (std::regex_match(structure, m, std::regex("HNSW([0-9]+)"))) {
    kind = kHnsw;
    hnsw_m = check_hnsw_m(m[1]);
  } else {
    EC_THROW(kBadInput, "index structure '" << structure
                                            << "' is not one of Flat, IVF{nlist}, "
                                               "IVF{nlist}_HNSW{M}, HNSW{M}");
  }
  auto parts = split(method, ',');
  std::string prefix;  // transforms
  for (size_t i = 0; i + 1 < parts.size(); ++i) prefix += parts[i] + ",";
  std::string codec = parts.back();
  if (find_method(codec).kind == MethodKind::kTransform) {  // "PCA64": float32 after it
    prefix += codec + ",";
    codec = "Flat";
  }
  std::string c;  // FAISS codec string
  int pq_nbits = 8;
  if (codec == "Flat") {
    c = "Flat";
  } else if (codec == "FP16") {
    c = "SQfp16";
  } else if (std::regex_match(codec, m, std::regex("SQ([0-9]+)"))) {
    c = codec;
  } else if (std::regex_match(codec, m, std::regex("PQ([0-9]+)x([0-9]+)"))) {
    pq_nbits = std::stoi(m[2]);
    c = kind == kFlatStruct ? codec + "np" : kind == kIvf ? codec : "PQ" + m[1].str();
  } else if (std::regex_match(codec, m, std::regex("RQ([0-9]+)x([0-9]+)"))) {
    EC_CHECK(kind != kHnsw, kBadInput, method << ": FAISS 1.7.3 has no HNSW index over RQ codes");
    c = codec;
  } else {
    EC_THROW(kBadInput, method << ": FAISS has no native index for " << codec
                               << " (native: Flat, FP16, SQ{4,6,8}, PQ, RQ with PCA/OPQ)");
  }
  if (kind == kHnsw) {
    EC_CHECK(codec.rfind("PQ", 0) != 0 || pq_nbits == 8, kBadInput,
             method << ": FAISS's HNSW over PQ needs 8-bit codes");
    return prefix + "HNSW" + std::to_string(hnsw_m) + "_" + c;
  }
  if (kind == kIvf) return prefix + structure + "," + c;
  return prefix + c;
}

namespace {
/// An RQ inside a FAISS index: quiet k-means, and no codebook cross products or centroid
/// norms ((sum 2^nbits)^2 + sum 2^nbits floats, 4 MB for RQ4x8). As in compressors/rq.cpp,
/// they serve only the LUT beam search (use_beam_LUT, off) and the norm search types
/// (index_factory's default is ST_decompress); the flag is saved in the file, so read_index
/// does not compute them either, and predicted_index_bytes counts what stays resident.
void prepare_rq(faiss::ResidualQuantizer& rq) {
  quiet_kmeans(rq.cp);
  rq.train_type |= faiss::ResidualQuantizer::Skip_codebook_tables;
}

/// Before index->train(): quiet_kmeans (compressors/pq.h) on every k-means it runs (IVF
/// coarse quantizers, PQ and RQ codebooks behind IVF, HNSW and transforms, OPQ rotations'
/// inner PQ through an OpqQuietTraining kept in opq until train returns), and prepare_rq.
void prepare_training(faiss::Index* index, std::vector<std::unique_ptr<OpqQuietTraining>>& opq) {
  if (auto* pt = dynamic_cast<faiss::IndexPreTransform*>(index)) {
    for (faiss::VectorTransform* vt : pt->chain)
      if (auto* o = dynamic_cast<faiss::OPQMatrix*>(vt); o && !o->pq)
        opq.push_back(std::make_unique<OpqQuietTraining>(*o));
    prepare_training(pt->index, opq);
  } else if (auto* ivf = dynamic_cast<faiss::IndexIVF*>(index)) {
    quiet_kmeans(ivf->cp);
    prepare_training(ivf->quantizer, opq);
    if (auto* p = dynamic_cast<faiss::IndexIVFPQ*>(index)) quiet_kmeans(p->pq.cp);
    if (auto* a = dynamic_cast<faiss::IndexIVFAdditiveQuantizer*>(index))
      if (auto* rq = dynamic_cast<faiss::ResidualQuantizer*>(a->aq)) prepare_rq(*rq);
  } else if (auto* h = dynamic_cast<faiss::IndexHNSW*>(index)) {
    prepare_training(h->storage, opq);
  } else if (auto* p = dynamic_cast<faiss::IndexPQ*>(index)) {
    quiet_kmeans(p->pq.cp);
  } else if (auto* a = dynamic_cast<faiss::IndexAdditiveQuantizer*>(index)) {
    if (auto* rq = dynamic_cast<faiss::ResidualQuantizer*>(a->aq)) prepare_rq(*rq);
  }
}
}  // namespace

BuiltIndex build_faiss_index(MatrixView<float> base, Metric metric, const std::string& method,
                             const std::string& structure, bool verbose) {
  const std::string factory = faiss_factory_string(method, structure);
  const faiss::MetricType mt =
      metric == Metric::kL2 ? faiss::METRIC_L2 : faiss::METRIC_INNER_PRODUCT;
  BuiltIndex b;
  try {
    b.index.reset(faiss::index_factory(int(base.d), factory.c_str(), mt));
  } catch (const faiss::FaissException& e) {
    EC_THROW(kBadInput, method << " on " << structure << ": FAISS cannot build '" << factory
                               << "': " << e.msg);
  }
  // k-means needs a training row per centroid: say so here rather than through FAISS's
  // assertion text (catalogue build_faiss_nlist_gt_n), as embcomp's own IVF does.
  const faiss::Index* inner = b.index.get();
  if (const auto* pt = dynamic_cast<const faiss::IndexPreTransform*>(inner)) inner = pt->index;
  if (const auto* ivf = dynamic_cast<const faiss::IndexIVF*>(inner))
    EC_CHECK(ivf->nlist <= base.n, kBadInput,
             structure << ": nlist=" << ivf->nlist << " exceeds the " << base.n << " rows");
  if (verbose) std::cerr << "[build] FAISS index " << factory << ": training\n";
  // Every FAISS index here compares squared distances in float: k-means on values near
  // FLT_MAX hangs in FAISS's empty-cluster split (catalogue fvecs_hugevals_pq).
  check_distance_range(method, base);
  auto t0 = std::chrono::steady_clock::now();
  try {
    std::vector<std::unique_ptr<OpqQuietTraining>> opq;
    prepare_training(b.index.get(), opq);
    b.index->train(faiss::Index::idx_t(base.n), base.data);
  } catch (const faiss::FaissException& e) {
    EC_THROW(kBadInput, factory << ": training failed: " << e.msg);
  }
  auto t1 = std::chrono::steady_clock::now();
  if (verbose) std::cerr << "[build] adding " << base.n << " rows\n";
  b.index->add(faiss::Index::idx_t(base.n), base.data);
  auto t2 = std::chrono::steady_clock::now();
  b.meta["format"] = "embcomp-index-meta";
  b.meta["version"] = kSidecarVersion;
  b.meta["kind"] = "faiss";
  b.meta["method"] = method;
  b.meta["structure"] = structure;
  b.meta["faiss_factory"] = factory;
  b.meta["metric"] = metric_name(metric);
  b.meta["n"] = base.n;
  b.meta["d"] = base.d;
  b.meta["train_s"] = std::chrono::duration<double>(t1 - t0).count();
  b.meta["add_s"] = std::chrono::duration<double>(t2 - t1).count();
  b.meta["embcomp_version"] = EMBCOMP_VERSION;
  b.meta["git_commit"] = EMBCOMP_GIT_COMMIT;
  return b;
}

void write_faiss_index(const faiss::Index& index, const std::string& tmp_path,
                       const std::string& what) {
  try {
    faiss::write_index(&index, tmp_path.c_str());
  } catch (const faiss::FaissException& e) {
    EC_THROW(kRuntime, what << ": writing the index failed: " << e.msg);
  }
}

void save_index(const BuiltIndex& built, const std::string& path) {
  AtomicFile idx(path);
  write_faiss_index(*built.index, idx.write_path(), path);
  const uint64_t build_id = file_checksum64(idx.write_path());
  AtomicFile meta(sidecar_path(path));
  write_sidecar(meta.write_path(), sidecar_path(path), built.meta, build_id);
  // The sidecar first, the index last: a kill in between leaves a sidecar whose build id
  // does not match the old index (load_index refuses it) or no index at all, never a new
  // index without its sidecar (read with the file's metric: angular would become ip).
  meta.commit();
  idx.commit();
}

BuiltIndex load_index(const std::string& path) {
  BuiltIndex b;
  b.index = read_faiss_index_file(path);
  b.build_id = file_checksum64(path);
  SidecarExpect expect;
  expect.build_id = b.build_id;
  expect.n = uint64_t(b.index->ntotal);
  expect.d = uint64_t(b.index->d);
  expect.metric = b.index->metric_type == faiss::METRIC_L2 ? "l2" : "ip";
  if (!read_sidecar(path, expect, b.meta)) {
    b.meta["metric"] = expect.metric;
    b.meta["n"] = b.index->ntotal;
    b.meta["d"] = b.index->d;
  }
  return b;
}

namespace {
/// The IVF index inside index (behind transforms), or null.
const faiss::IndexIVF* find_ivf(const faiss::Index* index) {
  if (auto* pt = dynamic_cast<const faiss::IndexPreTransform*>(index)) return find_ivf(pt->index);
  return dynamic_cast<const faiss::IndexIVF*>(index);
}
bool has_hnsw(const faiss::Index* index) {
  if (auto* pt = dynamic_cast<const faiss::IndexPreTransform*>(index)) return has_hnsw(pt->index);
  if (auto* ivf = dynamic_cast<const faiss::IndexIVF*>(index)) return has_hnsw(ivf->quantizer);
  return dynamic_cast<const faiss::IndexHNSW*>(index) != nullptr;
}
}  // namespace

void set_search_params(faiss::Index& index, const std::string& params) {
  if (params.empty()) return;
  faiss::ParameterSpace ps;
  for (const auto& kv : split(params, ',')) {
    auto eq = kv.find('=');
    EC_CHECK(eq != std::string::npos, kBadInput, "--params: '" << kv << "' is not name=value");
    const std::string name = kv.substr(0, eq), value = kv.substr(eq + 1);
    // The whole text must be a number (nprobe and efSearch: an integer in range): FAISS
    // would take nprobe=0, -5, nan or 1e300 and fail (or clip) at search time.
    double v = 0;
    if (name == "nprobe" || name == "efSearch") {
      long long iv = 0;
      const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), iv);
      EC_CHECK(!value.empty() && ec == std::errc() && end == value.data() + value.size(), kBadInput,
               "--params: '" << kv << "' is not an integer");
      if (name == "nprobe") {
        const faiss::IndexIVF* ivf = find_ivf(&index);
        EC_CHECK(ivf, kBadInput, "--params: nprobe needs an IVF index; this one has none");
        EC_CHECK(iv >= 1 && uint64_t(iv) <= ivf->nlist, kBadInput,
                 "--params: nprobe=" << value << " must be in [1, nlist=" << ivf->nlist << "]");
      } else {
        EC_CHECK(has_hnsw(&index), kBadInput,
                 "--params: efSearch needs an HNSW index; this one has none");
        EC_CHECK(iv >= 1 && iv <= kMaxEfSearch, kBadInput,
                 "--params: efSearch=" << value << " must be in [1, " << kMaxEfSearch << "]");
      }
      v = double(iv);
    } else {
      size_t used = 0;
      try {
        v = std::stod(value, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      EC_CHECK(!value.empty() && used == value.size() && std::isfinite(v), kBadInput,
               "--params: '" << kv << "' is not a finite number");
    }
    try {
      ps.set_index_parameter(&index, name, v);
    } catch (const faiss::FaissException& e) {
      EC_THROW(kBadInput, "--params: this index has no parameter '" << name << "'");
    }
  }
}

}  // namespace embcomp

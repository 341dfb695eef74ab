#include "index/faiss_index.h"

#include <faiss/AutoTune.h>
#include <faiss/IndexPreTransform.h>
#include <faiss/impl/FaissException.h>
#include <faiss/index_factory.h>
#include <faiss/index_io.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <regex>
#include <sstream>

#include "build_info.h"
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
  EC_CHECK(method.find('@') == std::string::npos, kBadInput,
           method << ": build an index from a concrete spec; budget forms are for bench");
  std::smatch m;
  enum { kFlatStruct, kIvf, kHnsw } kind;
  int hnsw_m = 0;
  if (structure == "Flat") {
    kind = kFlatStruct;
  } else if (std::regex_match(structure, m, std::regex("IVF([0-9]+)(_HNSW[0-9]+)?"))) {
    kind = kIvf;
  } else if (std::regex_match(structure, m, std::regex("HNSW([0-9]+)"))) {
    kind = kHnsw;
    hnsw_m = std::stoi(m[1]);
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
  if (verbose) std::cerr << "[build] FAISS index " << factory << ": training\n";
  auto t0 = std::chrono::steady_clock::now();
  try {
    b.index->train(faiss::Index::idx_t(base.n), base.data);
  } catch (const faiss::FaissException& e) {
    EC_THROW(kBadInput, factory << ": training failed: " << e.msg);
  }
  auto t1 = std::chrono::steady_clock::now();
  if (verbose) std::cerr << "[build] adding " << base.n << " rows\n";
  b.index->add(faiss::Index::idx_t(base.n), base.data);
  auto t2 = std::chrono::steady_clock::now();
  b.meta["format"] = "embcomp-index-meta";
  b.meta["version"] = 1;
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

void save_index(const BuiltIndex& built, const std::string& path) {
  AtomicFile idx(path);
  try {
    faiss::write_index(built.index.get(), idx.tmp_path().c_str());
  } catch (const faiss::FaissException& e) {
    EC_THROW(kRuntime, path << ": writing the index failed: " << e.msg);
  }
  AtomicFile meta(path + ".json");
  {
    std::ofstream os(meta.tmp_path());
    os << built.meta.dump(2) << "\n";
    EC_CHECK(os.good(), kRuntime, path << ".json: write failed");
  }
  // The sidecar first: an index file that exists always has its sidecar.
  meta.commit();
  idx.commit();
}

BuiltIndex load_index(const std::string& path) {
  std::error_code ec;
  EC_CHECK(std::filesystem::is_regular_file(path, ec), kBadInput, path << ": no such index file");
  BuiltIndex b;
  try {
    b.index.reset(faiss::read_index(path.c_str()));
  } catch (const faiss::FaissException& e) {
    std::string msg = e.msg;
    EC_THROW(kBadInput, path << ": not a readable FAISS index (truncated or foreign file): "
                             << msg.substr(0, msg.find('\n')));
  }
  const std::string meta_path = path + ".json";
  if (std::filesystem::exists(meta_path, ec)) {
    std::ifstream is(meta_path);
    try {
      b.meta = nlohmann::ordered_json::parse(is);
    } catch (const std::exception& e) {
      EC_THROW(kBadInput, meta_path << ": not valid JSON: " << e.what());
    }
    EC_CHECK(b.meta.value("format", "") == "embcomp-index-meta", kBadInput,
             meta_path << ": not an embcomp index sidecar");
    EC_CHECK(b.meta.value("d", 0) == b.index->d && b.meta.value("n", -1) == b.index->ntotal,
             kBadInput, meta_path << ": does not match " << path << " (d or n differ)");
  } else {
    b.meta["metric"] = b.index->metric_type == faiss::METRIC_L2 ? "l2" : "ip";
    b.meta["n"] = b.index->ntotal;
    b.meta["d"] = b.index->d;
  }
  return b;
}

void set_search_params(faiss::Index& index, const std::string& params) {
  if (params.empty()) return;
  faiss::ParameterSpace ps;
  for (const auto& kv : split(params, ',')) {
    auto eq = kv.find('=');
    EC_CHECK(eq != std::string::npos, kBadInput, "--params: '" << kv << "' is not name=value");
    double v = 0;
    try {
      v = std::stod(kv.substr(eq + 1));
    } catch (const std::exception&) {
      EC_THROW(kBadInput, "--params: '" << kv << "' has no numeric value");
    }
    try {
      ps.set_index_parameter(&index, kv.substr(0, eq), v);
    } catch (const faiss::FaissException& e) {
      EC_THROW(kBadInput, "--params: this index has no parameter '" << kv.substr(0, eq) << "'");
    }
  }
}

}  // namespace embcomp

#include "toolkit/cmd_index.h"

#include <faiss/Index.h>
#include <omp.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "eval/rerank.h"
#include "index/faiss_index.h"
#include "index/faiss_memory.h"
#include "index/own_index.h"
#include "index/rerank_store.h"
#include "toolkit/cli.h"
#include "toolkit/dataset.h"
#include "toolkit/error.h"
#include "toolkit/threads.h"
#include "toolkit/io.h"

namespace po = boost::program_options;

namespace embcomp {

namespace {

std::vector<std::string> read_id_lines(const std::string& path, size_t expected) {
  std::ifstream is(path);
  EC_CHECK(is.good(), kBadInput, path << ": cannot open ids file");
  std::vector<std::string> ids;
  std::string line;
  while (std::getline(is, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    EC_CHECK(!line.empty(), kBadInput, path << ": line " << ids.size() + 1 << " is empty");
    ids.push_back(line);
  }
  EC_CHECK(ids.size() == expected, kBadInput,
           path << ": has " << ids.size() << " ids but there are " << expected << " rows");
  return ids;
}

std::string ext_of(const std::string& p) { return std::filesystem::path(p).extension().string(); }

}  // namespace

int cmd_build(int argc, char** argv) {
  DatasetSpec dspec;
  std::string method, structure = "Flat", out, rerank_spec;
  int threads = 0;
  uint64_t seed = 1234;
  po::options_description desc("build options");
  desc.add_options()("help,h", "show this help");
  add_dataset_options(desc, dspec);
  desc.add_options()
      ("method", po::value(&method)->required(),
       "method spec stored in the index, e.g. SQ8, PQ25x8, OPQ25,PQ25x8, PCA64,SQ8 (native FAISS "
       "index), or BF16, INT8, Binary, SVD@0.1, ... (embcomp's own index, Flat or IVF{nlist})")
      ("index", po::value(&structure)->default_value("Flat"),
       "index structure in FAISS's grammar: Flat, IVF{nlist}, IVF{nlist}_HNSW{M}, HNSW{M}")
      ("out", po::value(&out)->required(), "index file to write (+ OUT.json with the metadata)")
      ("rerank", po::value(&rerank_spec),
       "also write OUT.rerank: this representation (Flat, FP16, SQ8) for two-stage search, read "
       "memory-mapped by 'search --rerank-factor F'")
      ("seed", po::value(&seed)->default_value(1234), "seed for every random choice of an own index")
      ("threads", po::value(&threads)->default_value(0), "OpenMP threads (0 = all cores)")
      ("quiet,q", "no progress on stderr");
  po::variables_map vm;
  if (!parse_command_line("build", desc, argc, argv, vm,
                          "--data D | --base B --metric M --method SPEC --index STRUCT --out FILE"))
    return 0;
  set_omp_threads(threads);
  const bool verbose = !vm.count("quiet");
  if (dspec.data.empty() && dspec.base.empty()) dspec.data = "glove-100-30k";
  if (dspec.queries.empty() && !dspec.base.empty()) dspec.queries = dspec.base;  // not used
  // Spec, structure and output errors before loading anything.
  const IndexKind kind = choose_index_kind(method, structure);
  if (!rerank_spec.empty()) check_rerank_spec(rerank_spec);
  check_output_path(out);
  Dataset ds = load_dataset(dspec);
  nlohmann::ordered_json meta;
  size_t ram_bytes = 0;
  std::unique_ptr<OwnIndex> own;
  BuiltIndex built;
  if (kind == IndexKind::kFaiss) {
    built = build_faiss_index(ds.base.view(), ds.metric, method, structure, verbose);
    ram_bytes = predicted_index_bytes(*built.index);
    meta = built.meta;
  } else {
    own = std::make_unique<OwnIndex>(
        OwnIndex::build(ds.base.view(), ds.metric, method, structure, seed, verbose));
    ram_bytes = own->predicted_bytes();
    meta = own->meta;
  }
  meta["dataset"] = ds.name;
  meta["ram_bytes"] = ram_bytes;
  meta["disk_bytes"] = 0;
  const std::string rerank_path = rerank_store_path(out);
  if (!rerank_spec.empty()) {
    if (verbose) std::cerr << "[build] rerank store " << rerank_spec << " -> " << rerank_path << "\n";
    meta["rerank"] = rerank_spec;
    meta["disk_bytes"] = write_rerank_store(rerank_path, ds.base.view(), rerank_spec, seed);
  } else {
    std::error_code ec;
    std::filesystem::remove(rerank_path, ec);  // a stale store must not pair with a new index
  }
  if (own) {
    own->meta = meta;
    own->save(out);
  } else {
    built.meta = meta;
    save_index(built, out);
  }
  if (verbose) {
    std::cerr << "[build] wrote " << out << " (" << std::filesystem::file_size(out)
              << " bytes; ram_bytes " << ram_bytes << ", disk_bytes " << meta["disk_bytes"]
              << "; train " << meta["train_s"].get<double>() << " s, add "
              << meta["add_s"].get<double>() << " s)\n";
  }
  return 0;
}

int cmd_search(int argc, char** argv) {
  std::string index_path, queries_path, params, out, ids_path, qids_path, tag = "embcomp";
  size_t k = 100, raw_d = 0, rerank_factor = 0;
  int threads = 0;
  po::options_description desc("search options");
  desc.add_options()("help,h", "show this help")
      ("index", po::value(&index_path)->required(), "index file written by 'embcomp build'")
      ("queries", po::value(&queries_path)->required(), "query vectors (.fvecs .npy .fbin .hdf5 [test] ...)")
      ("dim", po::value(&raw_d), "dimension of .raw/.f32 query files")
      ("k", po::value(&k)->default_value(100), "results per query")
      ("params", po::value(&params), "search parameters, e.g. \"nprobe=16,efSearch=64\" (own IVF indexes: nprobe only)")
      ("rerank-factor", po::value(&rerank_factor),
       "two-stage search: take k * F candidates and re-score them with INDEX.rerank (written by "
       "'build --rerank', read memory-mapped)")
      ("out", po::value(&out)->required(),
       "results: .tsv/.txt/.run = TREC run (qid Q0 docid rank score tag), .ivecs or .npy = ids")
      ("ids", po::value(&ids_path), "corpus ids file (one per line, aligned with the rows) for the run")
      ("query-ids", po::value(&qids_path), "query ids file for the run")
      ("tag", po::value(&tag)->default_value("embcomp"), "run tag (TREC column 6)")
      ("threads", po::value(&threads)->default_value(0), "OpenMP threads (0 = all cores)");
  po::variables_map vm;
  if (!parse_command_line("search", desc, argc, argv, vm, "--index FILE --queries Q --k K --out FILE"))
    return 0;
  set_omp_threads(threads);
  const std::string e = ext_of(out);
  EC_CHECK(e == ".tsv" || e == ".txt" || e == ".run" || e == ".ivecs" || e == ".npy", kUsage,
           "--out " << out << ": use .tsv/.txt/.run (TREC run), .ivecs or .npy");
  check_output_path(out);
  EC_CHECK(!vm.count("rerank-factor") || rerank_factor >= 1, kUsage, "--rerank-factor must be >= 1");
  // Either kind of index, told apart by the file's first bytes.
  std::unique_ptr<OwnIndex> own;
  BuiltIndex b;
  size_t n = 0, d = 0;
  nlohmann::ordered_json meta;
  if (is_own_index_file(index_path)) {
    own = std::make_unique<OwnIndex>(OwnIndex::load(index_path));
    n = own->n();
    d = own->d();
    meta = own->meta;
  } else {
    b = load_index(index_path);
    n = size_t(b.index->ntotal);
    d = size_t(b.index->d);
    meta = b.meta;
  }
  std::unique_ptr<MappedRerankStore> store;
  if (rerank_factor > 0) {
    const std::string sp = rerank_store_path(index_path);
    EC_CHECK(std::filesystem::exists(sp), kBadInput,
             "--rerank-factor: " << sp << " does not exist (build the index with --rerank SPEC)");
    store = MappedRerankStore::open(sp);
    EC_CHECK(store->n() == n && store->d() == d, kBadInput,
             sp << ": holds " << store->n() << " x " << store->d() << " rows, the index " << n << " x " << d);
  }
  ReadOptions ro;
  ro.raw_d = raw_d;
  ro.hdf5_dataset = "test";
  FloatMatrix q = read_floats(queries_path, ro);
  EC_CHECK(q.d == d, kBadInput,
           queries_path << ": queries have d=" << q.d << " but the index has d=" << d);
  EC_CHECK(k >= 1 && k <= n, kBadInput,
           "--k " << k << " must be in [1, " << n << "] (the index holds " << n << " rows)");
  const std::string metric_str = meta.value("metric", "");
  if (metric_str == "angular") normalize_rows(q);
  std::vector<std::string> ids, qids;
  if (!ids_path.empty()) ids = read_id_lines(ids_path, n);
  if (!qids_path.empty()) qids = read_id_lines(qids_path, q.n);
  if (own) own->set_params(params); else set_search_params(*b.index, params);
  const size_t kc = store ? std::min(n, k * rerank_factor) : k;  // first-stage candidates
  KnnResult found;
  if (own) {
    found = own->search(q.view(), kc, /*asymmetric=*/store != nullptr);
  } else {
    found.nq = q.n;
    found.k = kc;
    found.ids.resize(q.n * kc);
    found.scores.resize(q.n * kc);
    std::vector<faiss::Index::idx_t> l(q.n * kc);
    b.index->search(faiss::Index::idx_t(q.n), q.data(), faiss::Index::idx_t(kc), found.scores.data(),
                    l.data());
    std::copy(l.begin(), l.end(), found.ids.begin());
  }
  if (store) {
    const Metric m = metric_str == "l2" ? Metric::kL2 : Metric::kIP;
    found = rerank(found, *store, q.view(), k, m);
  }
  std::vector<float>& scores = found.scores;
  std::vector<int64_t>& labels = found.ids;
  if (e == ".ivecs" || e == ".npy") {
    IdMatrix m(q.n, k);
    std::copy(labels.begin(), labels.end(), m.values.begin());
    if (e == ".ivecs") write_ivecs(out, m.view()); else write_npy(out, m.view());
    return 0;
  }
  std::ostringstream os;
  for (size_t i = 0; i < q.n; ++i) {
    const std::string qid = qids.empty() ? std::to_string(i) : qids[i];
    size_t rank = 1;
    for (size_t j = 0; j < k; ++j) {
      const auto id = labels[i * k + j];
      if (id < 0) continue;  // fewer than k results (IVF with small nprobe)
      os << qid << " Q0 " << (ids.empty() ? std::to_string(id) : ids[size_t(id)]) << " " << rank++
         << " " << scores[i * k + j] << " " << tag << "\n";
    }
  }
  write_text_file(out, os.str());
  return 0;
}

}  // namespace embcomp

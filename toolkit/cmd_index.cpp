#include "toolkit/cmd_index.h"

#include <faiss/Index.h>
#include <omp.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <unordered_map>

#include "eval/qrels.h"
#include "eval/rerank.h"
#include "index/checksum.h"
#include "index/faiss_index.h"
#include "index/faiss_memory.h"
#include "index/own_index.h"
#include "index/rerank_store.h"
#include "index/sidecar.h"
#include "toolkit/cli.h"
#include "toolkit/dataset.h"
#include "toolkit/error.h"
#include "toolkit/io.h"
#include "toolkit/threads.h"

namespace po = boost::program_options;

namespace embcomp {

namespace {

std::string ext_of(const std::string& p) { return std::filesystem::path(p).extension().string(); }

/// A count option parsed as a signed integer (boost would wrap "-1" into 2^64 - 1 for an
/// unsigned one): must be in [lo, hi].
size_t count_option(const char* name, int64_t v, int64_t lo, int64_t hi) {
  EC_CHECK(v >= lo && v <= hi, kUsage,
           "--" << name << " " << v << " must be in [" << lo << ", " << hi << "]");
  return size_t(v);
}

/// Search results must name rows of the index: a corrupt FAISS file (inverted-list ids)
/// can return anything.
void check_result_ids(const KnnResult& r, size_t n, const std::string& index_path) {
  for (int64_t id : r.ids)
    EC_CHECK(
        id >= -1 && id < int64_t(n), kBadInput,
        index_path << ": corrupt index: search returned row " << id << " outside [0, " << n << ")");
}

}  // namespace

int cmd_build(int argc, char** argv) {
  DatasetSpec dspec;
  std::string method, structure = "Flat", out, rerank_spec;
  int threads = 0;
  int64_t seed_arg = 1234;
  po::options_description desc("build options");
  desc.add_options()("help,h", "show this help");
  add_dataset_options(desc, dspec);
  desc.add_options()(
      "method", po::value(&method)->required(),
      "method spec stored in the index, e.g. SQ8, PQ25x8, OPQ25,PQ25x8, PCA64,SQ8 (native FAISS "
      "index), or BF16, INT8, Binary, SVD@0.1, ... (embcomp's own index, Flat or IVF{nlist})")(
      "index", po::value(&structure)->default_value("Flat"),
      "index structure in FAISS's grammar: Flat, IVF{nlist}, IVF{nlist}_HNSW{M}, HNSW{M}")(
      "out", po::value(&out)->required(), "index file to write (+ OUT.json with the metadata)")(
      "rerank", po::value(&rerank_spec),
      "also write OUT.rerank: this representation (Flat, FP16, SQ8) for two-stage search, read "
      "memory-mapped by 'search --rerank-factor F'")(
      "seed", po::value(&seed_arg)->default_value(1234),
      "seed for every random choice of an own index (>= 0)")(
      "threads", po::value(&threads)->default_value(0), "OpenMP threads (0 = all cores)")(
      "quiet,q", "no progress on stderr");
  po::variables_map vm;
  if (!parse_command_line("build", desc, argc, argv, vm,
                          "--data D | --base B --metric M --method SPEC --index STRUCT --out FILE"))
    return 0;
  set_omp_threads(threads);
  const uint64_t seed = count_option("seed", seed_arg, 0, INT64_MAX);
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
  // Every file goes to a temporary name first, all three carrying the index file's checksum
  // as build id (index/sidecar.h); the sidecars are committed first and the index last, so
  // an interrupted build cannot pair files of two builds unnoticed, and never leaves a new
  // index without its sidecar (a FAISS file alone would be read with the file's metric).
  AtomicFile idx_file(out);
  if (own)
    own->write(idx_file.write_path(), out);
  else
    write_faiss_index(*built.index, idx_file.write_path(), out);
  const uint64_t build_id = file_checksum64(idx_file.write_path());
  const std::string rerank_path = rerank_store_path(out);
  std::unique_ptr<AtomicFile> rerank_file;
  if (!rerank_spec.empty()) {
    if (verbose) std::cerr << "[build] rerank store " << rerank_spec << " -> " << rerank_path << "\n";
    meta["rerank"] = rerank_spec;
    rerank_file = std::make_unique<AtomicFile>(rerank_path);
    meta["disk_bytes"] = write_rerank_store_to(rerank_file->write_path(), rerank_path, ds.base.view(),
                                               rerank_spec, seed, build_id);
  }
  AtomicFile meta_file(sidecar_path(out));
  write_sidecar(meta_file.write_path(), sidecar_path(out), meta, build_id);
  if (rerank_file) {
    rerank_file->commit();
  } else {
    std::error_code ec;
    std::filesystem::remove(rerank_path, ec);  // a stale store must not pair with a new index
  }
  meta_file.commit();
  idx_file.commit();
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
  int64_t k_arg = 100, raw_d_arg = 0, rerank_arg = 0;
  int threads = 0;
  po::options_description desc("search options");
  desc.add_options()("help,h", "show this help")("index", po::value(&index_path)->required(),
                                                 "index file written by 'embcomp build'")(
      "queries", po::value(&queries_path)->required(),
      "query vectors (.fvecs .npy .fbin .hdf5 [test] ...)")("dim", po::value(&raw_d_arg),
                                                            "dimension of .raw/.f32 query files")(
      "k", po::value(&k_arg)->default_value(100), "results per query")(
      "params", po::value(&params),
      "search parameters, e.g. \"nprobe=16,efSearch=64\" (own IVF indexes: nprobe only)")(
      "rerank-factor", po::value(&rerank_arg),
      "two-stage search: take k * F candidates and re-score them with INDEX.rerank (written by "
      "'build --rerank', read memory-mapped)")(
      "out", po::value(&out)->required(),
      "results: .tsv/.txt/.run = TREC run (qid Q0 docid rank score tag), .ivecs or .npy = ids")(
      "ids", po::value(&ids_path),
      "corpus ids file (one per line, aligned with the rows) for the run")(
      "query-ids", po::value(&qids_path), "query ids file for the run")(
      "tag", po::value(&tag)->default_value("embcomp"), "run tag (TREC column 6)")(
      "threads", po::value(&threads)->default_value(0), "OpenMP threads (0 = all cores)");
  po::variables_map vm;
  if (!parse_command_line("search", desc, argc, argv, vm, "--index FILE --queries Q --k K --out FILE"))
    return 0;
  set_omp_threads(threads);
  const std::string e = ext_of(out);
  EC_CHECK(e == ".tsv" || e == ".txt" || e == ".run" || e == ".ivecs" || e == ".npy", kUsage,
           "--out " << out << ": use .tsv/.txt/.run (TREC run), .ivecs or .npy");
  check_output_path(out);
  const size_t k = count_option("k", k_arg, 1, INT64_MAX);
  const size_t raw_d = count_option("dim", raw_d_arg, 0, INT64_MAX);
  const size_t rerank_factor =
      vm.count("rerank-factor") ? count_option("rerank-factor", rerank_arg, 1, INT64_MAX) : 0;
  // The tag is TREC column 6: one word (write_trec_run checks it too, after the search).
  EC_CHECK(!tag.empty() && tag.find_first_of(" \t\r\n\v\f") == std::string::npos, kUsage,
           "--tag '" << tag << "' must be one non-empty word");
  // Either kind of index, told apart by the file's first bytes.
  std::unique_ptr<OwnIndex> own;
  BuiltIndex b;
  size_t n = 0, d = 0;
  uint64_t build_id = 0;
  std::string metric_str;
  nlohmann::ordered_json meta;
  if (is_own_index_file(index_path)) {
    own = std::make_unique<OwnIndex>(OwnIndex::load(index_path));
    n = own->n();
    d = own->d();
    build_id = own->build_id();
    metric_str = metric_name(own->metric());
    meta = own->meta;
  } else {
    b = load_index(index_path);
    n = size_t(b.index->ntotal);
    d = size_t(b.index->d);
    build_id = b.build_id;
    meta = b.meta;
    metric_str = meta.value("metric", "");
  }
  std::unique_ptr<MappedRerankStore> store;
  if (rerank_factor > 0) {
    const std::string sp = rerank_store_path(index_path);
    EC_CHECK(std::filesystem::exists(sp), kBadInput,
             "--rerank-factor: " << sp << " does not exist (build the index with --rerank SPEC)");
    store = MappedRerankStore::open(sp);
    EC_CHECK(store->n() == n && store->d() == d, kBadInput,
             sp << ": holds " << store->n() << " x " << store->d() << " rows, the index " << n << " x " << d);
    EC_CHECK(store->build_id() == build_id, kBadInput,
             sp << ": belongs to another build of " << index_path << " (build id "
                << hex64(store->build_id()) << ", the index has " << hex64(build_id)
                << "); an interrupted build? rebuild the index");
  }
  ReadOptions ro;
  ro.raw_d = raw_d;
  ro.hdf5_dataset = "test";
  FloatMatrix q = read_floats(queries_path, ro);
  EC_CHECK(q.d == d, kBadInput,
           queries_path << ": queries have d=" << q.d << " but the index has d=" << d);
  EC_CHECK(k >= 1 && k <= n, kBadInput,
           "--k " << k << " must be in [1, " << n << "] (the index holds " << n << " rows)");
  if (metric_str == "angular") normalize_rows(q);
  std::vector<std::string> ids, qids;
  if (!ids_path.empty()) ids = read_ids_file(ids_path);
  if (!qids_path.empty()) qids = read_ids_file(qids_path);
  EC_CHECK(ids.empty() || ids.size() == n, kBadInput,
           ids_path << ": has " << ids.size() << " ids but the index holds " << n << " rows");
  EC_CHECK(qids.empty() || qids.size() == q.n, kBadInput,
           qids_path << ": has " << qids.size() << " ids but there are " << q.n << " queries");
  if (own) own->set_params(params); else set_search_params(*b.index, params);
  const size_t kc =
      store ? rerank_candidates(k, rerank_factor, n) : k;  // first-stage candidates
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
  check_result_ids(found, n, index_path);
  // Scores in a run are "higher is better": distances (squared L2, Hamming) are negated.
  bool distances = metric_str == "l2";
  if (store) {
    const Metric m = metric_str == "l2" ? Metric::kL2 : Metric::kIP;
    found = rerank(found, *store, q.view(), k, m);
    check_result_ids(found, n, index_path);
  } else if (own && own->table().codec() &&
             own->table().codec()->search_kind() == SearchKind::kHamming) {
    distances = true;
  }
  if (e == ".ivecs" || e == ".npy") {
    IdMatrix m(q.n, k);
    std::copy(found.ids.begin(), found.ids.end(), m.values.begin());
    if (e == ".ivecs") write_ivecs(out, m.view()); else write_npy(out, m.view());
    return 0;
  }
  // make_run names the rows (only those returned, when there is no ids file) and checks
  // that query ids are distinct; write_trec_run writes one line per result.
  std::vector<int64_t> slots(found.ids.size(), -1);
  std::vector<std::string> docs;
  std::unordered_map<int64_t, int64_t> slot_of;
  for (size_t i = 0; i < found.ids.size(); ++i) {
    const int64_t id = found.ids[i];
    if (id < 0) continue;
    const auto [it, fresh] = slot_of.emplace(id, int64_t(docs.size()));
    if (fresh) docs.push_back(ids.empty() ? std::to_string(id) : ids[size_t(id)]);
    slots[i] = it->second;
  }
  if (qids.empty())
    for (size_t i = 0; i < q.n; ++i) qids.push_back(std::to_string(i));
  std::vector<float> scores = found.scores;
  if (distances)
    for (float& v : scores) v = -v;
  write_trec_run(out, make_run(slots, scores, q.n, k, qids, docs), tag);
  return 0;
}

}  // namespace embcomp

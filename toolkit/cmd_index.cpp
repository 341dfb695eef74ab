#include "toolkit/cmd_index.h"

#include <faiss/Index.h>
#include <omp.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "index/faiss_index.h"
#include "toolkit/cli.h"
#include "toolkit/dataset.h"
#include "toolkit/error.h"
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
  std::string method, structure = "Flat", out;
  int threads = 0;
  po::options_description desc("build options");
  desc.add_options()("help,h", "show this help");
  add_dataset_options(desc, dspec);
  desc.add_options()
      ("method", po::value(&method)->required(), "method spec stored in the index, e.g. SQ8, PQ25x8, OPQ25,PQ25x8, PCA64,SQ8")
      ("index", po::value(&structure)->default_value("Flat"),
       "index structure in FAISS's grammar: Flat, IVF{nlist}, IVF{nlist}_HNSW{M}, HNSW{M}")
      ("out", po::value(&out)->required(), "index file to write (+ OUT.json with the metadata)")
      ("threads", po::value(&threads)->default_value(0), "OpenMP threads (0 = all cores)")
      ("quiet,q", "no progress on stderr");
  po::variables_map vm;
  if (!parse_command_line("build", desc, argc, argv, vm,
                          "--data D | --base B --metric M --method SPEC --index STRUCT --out FILE"))
    return 0;
  if (threads > 0) omp_set_num_threads(threads);
  const bool verbose = !vm.count("quiet");
  if (dspec.data.empty() && dspec.base.empty()) dspec.data = "glove-100-30k";
  if (dspec.queries.empty() && !dspec.base.empty()) dspec.queries = dspec.base;  // not used
  faiss_factory_string(method, structure);  // spec and structure errors before loading
  check_output_path(out);
  Dataset ds = load_dataset(dspec);
  BuiltIndex built = build_faiss_index(ds.base.view(), ds.metric, method, structure, verbose);
  built.meta["dataset"] = ds.name;
  save_index(built, out);
  if (verbose) {
    std::cerr << "[build] wrote " << out << " (" << std::filesystem::file_size(out)
              << " bytes; train " << built.meta["train_s"].get<double>() << " s, add "
              << built.meta["add_s"].get<double>() << " s)\n";
  }
  return 0;
}

int cmd_search(int argc, char** argv) {
  std::string index_path, queries_path, params, out, ids_path, qids_path, tag = "embcomp";
  size_t k = 100, raw_d = 0;
  int threads = 0;
  po::options_description desc("search options");
  desc.add_options()("help,h", "show this help")
      ("index", po::value(&index_path)->required(), "index file written by 'embcomp build'")
      ("queries", po::value(&queries_path)->required(), "query vectors (.fvecs .npy .fbin .hdf5 [test] ...)")
      ("dim", po::value(&raw_d), "dimension of .raw/.f32 query files")
      ("k", po::value(&k)->default_value(100), "results per query")
      ("params", po::value(&params), "search parameters, e.g. \"nprobe=16,efSearch=64\"")
      ("out", po::value(&out)->required(),
       "results: .tsv/.txt/.run = TREC run (qid Q0 docid rank score tag), .ivecs or .npy = ids")
      ("ids", po::value(&ids_path), "corpus ids file (one per line, aligned with the rows) for the run")
      ("query-ids", po::value(&qids_path), "query ids file for the run")
      ("tag", po::value(&tag)->default_value("embcomp"), "run tag (TREC column 6)")
      ("threads", po::value(&threads)->default_value(0), "OpenMP threads (0 = all cores)");
  po::variables_map vm;
  if (!parse_command_line("search", desc, argc, argv, vm, "--index FILE --queries Q --k K --out FILE"))
    return 0;
  if (threads > 0) omp_set_num_threads(threads);
  const std::string e = ext_of(out);
  EC_CHECK(e == ".tsv" || e == ".txt" || e == ".run" || e == ".ivecs" || e == ".npy", kUsage,
           "--out " << out << ": use .tsv/.txt/.run (TREC run), .ivecs or .npy");
  check_output_path(out);
  BuiltIndex b = load_index(index_path);
  ReadOptions ro;
  ro.raw_d = raw_d;
  ro.hdf5_dataset = "test";
  FloatMatrix q = read_floats(queries_path, ro);
  EC_CHECK(q.d == size_t(b.index->d), kBadInput,
           queries_path << ": queries have d=" << q.d << " but the index has d=" << b.index->d);
  EC_CHECK(k >= 1 && k <= size_t(b.index->ntotal), kBadInput,
           "--k " << k << " must be in [1, " << b.index->ntotal << "] (the index holds "
                  << b.index->ntotal << " rows)");
  if (b.meta.value("metric", "") == "angular") normalize_rows(q);
  std::vector<std::string> ids, qids;
  if (!ids_path.empty()) ids = read_id_lines(ids_path, size_t(b.index->ntotal));
  if (!qids_path.empty()) qids = read_id_lines(qids_path, q.n);
  set_search_params(*b.index, params);
  std::vector<float> scores(q.n * k);
  std::vector<faiss::Index::idx_t> labels(q.n * k);
  b.index->search(faiss::Index::idx_t(q.n), q.data(), faiss::Index::idx_t(k), scores.data(),
                  labels.data());
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

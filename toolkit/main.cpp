// embcomp: the command-line interface.
//   embcomp --version | --help
//   embcomp list                     every registered method: grammar and one-line doc
//   embcomp datasets                 the bundled datasets
//   embcomp bench [options]          memory, ratio, recall and times per method
// Exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad input, 3 missed quality gate.
#include <omp.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "build_info.h"
#include "compressors/emb_table.h"
#include "eval/bench.h"
#include "eval/ground_truth.h"
#include "eval/index_bench.h"
#include "eval/knn.h"
#include "eval/rerank.h"
#include "index/faiss_index.h"
#include "index/faiss_memory.h"
#include "index/own_index.h"
#include "toolkit/cli.h"
#include "toolkit/cmd_index.h"
#include "toolkit/commands.h"
#include "toolkit/dataset.h"
#include "toolkit/error.h"
#include "toolkit/io.h"
#include "toolkit/registry.h"
#include "toolkit/threads.h"

namespace po = boost::program_options;
using namespace embcomp;

namespace {

const char* kUsage =
    "usage: embcomp <command> [options]\n"
    "\n"
    "Compress embedding vectors and measure what the compression costs.\n"
    "\n"
    "commands:\n"
    "  list       every registered method: spec grammar and one-line description\n"
    "  datasets   the bundled datasets\n"
    "  bench      memory, compression ratio, recall@k and times for each method\n"
    "  build      build a FAISS index over a compressed corpus and save it\n"
    "  search     search a saved index; write a TREC run or ids\n"
    "  sweep      every method sized to each memory budget; recommendation per budget, report, plots\n"
    "  eval       retrieval quality against qrels: nDCG, MRR, recall, MAP, P at k (trec_eval definitions)\n"
    "  embed-text SIF text embeddings over word vectors: texts -> vectors + ids\n"
    "  ctr-gen    synthetic Criteo-like CTR data with a planted model (read as synthetic:PATH)\n"
    "  ctr-data   load a CTR log (criteo:, avazu:, synthetic:), build its cache, print its splits\n"
    "  ctr-train  train DLRM/DCN/WDL/DeepFM with a compressed embedding table: AUC vs memory\n"
    "\n"
    "options:\n"
    "  --help     this text; 'embcomp <command> --help' for a command's options\n"
    "  --version  version, git commit, build type and FAISS flavor\n"
    "\n"
    "exit codes: 0 ok, 1 runtime failure, 2 bad usage or bad input, 3 missed quality gate\n"
    "(bench --min-recall R, sweep --min-quality Q)\n";

std::string version_line() {
  return std::string("embcomp ") + EMBCOMP_VERSION + " (commit " + EMBCOMP_GIT_COMMIT + ", " +
         EMBCOMP_BUILD_TYPE + " build, FAISS " + EMBCOMP_FAISS_FLAVOR + ")";
}

int cmd_list(int argc, char** argv) {
  po::options_description desc("list options");
  desc.add_options()("help,h", "show this help");
  po::variables_map vm;
  if (!parse_command_line("list", desc, argc, argv, vm, "")) return 0;
  std::cout << "Methods (compose as TRANSFORM,...,CODEC, e.g. \"PCA64,SQ8\" or \"OPQ25,PQ25x8\";\n"
               "a budget form NAME@B sizes the method to B = a fraction (0.1) or factor (10x) of\n"
               "the float32 bytes and stands alone):\n";
  auto pad = [](const std::string& s) { return std::string(s.size() < 18 ? 18 - s.size() : 1, ' '); };
  for (const auto* e : registered_methods()) {
    const char* kind = e->kind == MethodKind::kTransform ? "[transform] "
                       : e->kind == MethodKind::kCodec   ? "[codec]     "
                                                         : "[table]     ";
    std::cout << "  " << e->grammar << pad(e->grammar) << kind << e->doc << "\n";
    if (!e->budget_grammar.empty() && e->budget_grammar != e->grammar)
      std::cout << "  " << e->budget_grammar << pad(e->budget_grammar) << "[budget]    " << e->name
                << " sized to the budget\n";
  }
  std::cout << "\nCTR embedding tables (embcomp ctr-train --method NAME [--budget B], or NAME@B):\n";
  for (const auto& m : ctr::table_methods())
    std::cout << "  " << m.grammar << pad(m.grammar) << "[ctr table] " << m.doc << "\n";
  return 0;
}

int cmd_datasets(int argc, char** argv) {
  po::options_description desc("datasets options");
  desc.add_options()("help,h", "show this help");
  po::variables_map vm;
  if (!parse_command_line("datasets", desc, argc, argv, vm, "")) return 0;
  for (const auto& d : list_bundled_datasets()) {
    std::cout << "  " << d.name << std::string(d.name.size() < 16 ? 16 - d.name.size() : 1, ' ')
              << d.metric << "  " << d.doc << "\n";
  }
  std::cout << "data directory: " << data_dir() << "\n";
  return 0;
}

/// This executable's path (for measuring in a fresh child process).
std::string self_path() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : p.string();
}

/// The quality gate of bench (like DiskANN's --fail_if_recall_below): throws
/// kQualityGate (exit 3) naming the methods whose best recall@k is below min_recall.
void check_recall_gate(const std::vector<nlohmann::ordered_json>& records, double min_recall,
                       size_t k) {
  if (min_recall < 0) return;
  const auto below = methods_below_recall(records, min_recall);
  if (below.empty()) return;
  std::ostringstream list;
  for (size_t i = 0; i < below.size(); ++i)
    list << (i ? ", " : "") << below[i].first << " (" << below[i].second << ")";
  EC_THROW(kQualityGate,
           "recall@" << k << " below --min-recall " << min_recall << ": " << list.str());
}

int cmd_bench(int argc, char** argv) {
  DatasetSpec dspec;
  BenchOptions opt;
  std::string methods, format = "table", out, rerank_spec, structure;
  double min_recall = -1;  // < 0: no gate
  po::options_description desc("bench options");
  desc.add_options()("help,h", "show this help");
  add_dataset_options(desc, dspec);
  desc.add_options()
      ("methods", po::value(&methods),
       "';'-separated method specs, e.g. \"SQ8;PQ25x8;PCA64,SQ8\" [default: every registered "
       "family, sized for the data's dimension; with --index: Flat;SQ8;PQ@16x]")
      ("k", po::value(&opt.k)->default_value(10), "recall is k-recall@k against the exact top-k")
      ("seed", po::value(&opt.seed)->default_value(1234), "seed for every random choice")
      ("threads", po::value(&opt.threads)->default_value(0), "OpenMP threads (0 = all cores)")
      ("format", po::value(&format)->default_value("table"), "table | jsonl")
      ("out", po::value(&out), "write the results here (written whole at the end) instead of stdout")
      ("rerank", po::value(&rerank_spec),
       "two-stage search: re-score k * F candidates with this representation (Flat, FP16, SQ8, ...)")
      ("rerank-factor", po::value(&opt.rerank_factor)->default_value(10), "F: candidates per result")
      ("min-recall", po::value(&min_recall),
       "quality gate: after writing the results, exit 3 naming every method whose recall@k "
       "(its best operating point with --index) is below this, in [0, 1]")
      ("index", po::value(&structure),
       "build a FAISS index of this structure per method (Flat, IVF{nlist}, IVF{nlist}_HNSW{M}, "
       "HNSW{M}) and sweep nprobe/efSearch: recall, QPS, latency p50/p95/p99, memory three ways; "
       "methods FAISS lacks get embcomp's own Flat/IVF index; with --rerank, rerank factors "
       "1,2,5,10,20 are swept too")
      ("quiet,q", "no progress on stderr");
  po::variables_map vm;
  if (!parse_command_line("bench", desc, argc, argv, vm, "[--data NAME|FILE.hdf5 | --base B --queries Q --metric M] [options]"))
    return 0;
  opt.verbose = !vm.count("quiet");
  EC_CHECK(format == "table" || format == "jsonl", kUsage,
           "--format must be table or jsonl, not '" << format << "'");
  set_omp_threads(opt.threads);
  if (vm.count("min-recall"))
    EC_CHECK(min_recall >= 0 && min_recall <= 1, kUsage,
             "--min-recall must be in [0, 1], not " << min_recall);
  if (dspec.data.empty() && dspec.base.empty()) dspec.data = "glove-100-30k";

  // Everything that can be wrong with the input is checked before any work starts.
  std::vector<std::string> specs = split_methods(methods);
  EC_CHECK(methods.empty() || !specs.empty(), kUsage, "--methods is empty");
  for (const auto& s : specs) check_spec(s);
  auto t_load = std::chrono::steady_clock::now();
  Dataset ds = load_dataset(dspec);
  EC_CHECK(opt.k >= 1 && opt.k <= ds.base.n, kBadInput,
           "--k " << opt.k << " must be in [1, " << ds.base.n << "] (the base has " << ds.base.n
                  << " rows)");
  if (specs.empty() && !structure.empty()) specs = {"Flat", "SQ8", "PQ@16x"};
  if (specs.empty()) specs = default_bench_specs(ds.base.d);
  for (const auto& s : specs) {
    make_table(s, ds.base.n, ds.base.d, opt.seed);  // size checks
    if (!structure.empty()) choose_index_kind(s, structure);  // FAISS's or embcomp's own
  }
  if (!out.empty()) check_output_path(out);  // a bad --out fails now, not at the end
  if (opt.verbose) {
    std::cerr << "[bench] " << ds.name << ": " << ds.base.n << " x " << ds.base.d << " base, "
              << ds.queries.n << " queries, " << metric_name(ds.metric) << ", loaded in "
              << std::chrono::duration<double>(std::chrono::steady_clock::now() - t_load).count()
              << " s; " << specs.size() << " methods, " << omp_get_max_threads() << " threads\n";
    if (std::string(EMBCOMP_BUILD_TYPE) != "Release")
      std::cerr << "[bench] WARNING: this is a " << EMBCOMP_BUILD_TYPE
                << " build; times are not representative\n";
  }
  EC_CHECK(opt.rerank_factor >= 1, kUsage, "--rerank-factor must be >= 1");
  if (!rerank_spec.empty())  // k * F must fit before any work (the search depth is at least k)
    rerank_candidates(ds.qrels ? std::max(opt.k, kRetrievalDepth) : opt.k, opt.rerank_factor,
                      ds.base.n);
  std::unique_ptr<TableCompressor> rerank_table;
  if (!rerank_spec.empty()) {
    rerank_table = make_table(rerank_spec, ds.base.n, ds.base.d, opt.seed);
    if (opt.verbose) std::cerr << "[bench] building the re-ranking table " << rerank_spec << "\n";
    rerank_table->compress(ds.base.view());
    opt.rerank = rerank_table.get();
  }
  ensure_ground_truth(ds, opt.k, opt.verbose);
  if (ds.qrels) {
    // Exact fp32 search is the baseline of the retention figures.
    const size_t depth = std::min(ds.base.n, std::max(opt.k, kRetrievalDepth));
    opt.retrieval_baseline =
        retrieval_metrics(ds, exact_knn(ds.base.view(), ds.queries.view(), depth, ds.search_metric()));
    if (opt.verbose) {
      std::cerr << "[bench] exact fp32 search: nDCG@10 " << opt.retrieval_baseline["ndcg_at_10"]
                << ", MRR@10 " << opt.retrieval_baseline["mrr_at_10"] << ", recall@100 "
                << opt.retrieval_baseline["recall_at_100"] << " over "
                << opt.retrieval_baseline["retrieval_queries"] << " judged queries\n";
    }
  }

  std::vector<nlohmann::ordered_json> records;
  int failures = 0;
  if (!structure.empty()) {
    IndexBenchOptions io;
    io.structure = structure;
    io.k = opt.k;
    io.verbose = opt.verbose;
    io.embcomp_binary = self_path();
    io.seed = opt.seed;
    io.rerank = opt.rerank;
    if (!vm["rerank-factor"].defaulted()) io.rerank_factors = {opt.rerank_factor};
    for (size_t i = 0; i < specs.size(); ++i) {
      if (opt.verbose) std::cerr << "[bench " << i + 1 << "/" << specs.size() << "] " << specs[i] << " on " << structure << "\n";
      auto recs = bench_index(ds, specs[i], io);
      records.insert(records.end(), recs.begin(), recs.end());
    }
    std::string text;
    if (format == "jsonl") {
      for (const auto& r : records) text += r.dump() + "\n";
    } else {
      text = format_index_table(records, opt.k);
    }
    if (out.empty()) std::cout << text << std::flush; else write_text_file(out, text);
    check_recall_gate(records, min_recall, opt.k);
    return 0;
  }
  for (size_t i = 0; i < specs.size(); ++i) {
    if (opt.verbose) std::cerr << "[bench " << i + 1 << "/" << specs.size() << "] " << specs[i] << "\n";
    try {
      records.push_back(bench_method(ds, specs[i], opt));
    } catch (const std::exception& e) {
      // A failed method is recorded and the others still run; the exit code says so.
      ++failures;
      const auto* err = dynamic_cast<const Error*>(&e);
      std::string msg = err ? err->message() : e.what();
      std::cerr << "embcomp bench: " << one_line(specs[i]) << " failed: " << one_line(msg) << "\n";
      nlohmann::ordered_json r;
      r["method"] = specs[i];
      r["dataset"] = ds.name;
      r["error"] = msg;
      records.push_back(r);
    }
  }

  std::string text;
  if (format == "jsonl") {
    for (const auto& r : records) text += r.dump() + "\n";
  } else {
    text = format_table(records, opt.k);
  }
  if (out.empty()) {
    std::cout << text << std::flush;
  } else {
    write_text_file(out, text);
    if (opt.verbose) std::cerr << "[bench] wrote " << records.size() << " records to " << out << "\n";
  }
  if (failures) return 1;  // a runtime failure outranks the gate
  check_recall_gate(records, min_recall, opt.k);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    if (argc < 2) {
      std::cerr << "usage: embcomp <command> [options] (see 'embcomp --help' for the commands)\n";
      return 2;
    }
    std::string cmd = argv[1];
    if (cmd == "--help" || cmd == "-h" || cmd == "help") {
      std::cout << kUsage;
      return 0;
    }
    if (cmd == "--version" || cmd == "version") {
      std::cout << version_line() << "\n";
      return 0;
    }
    if (cmd == "list") return cmd_list(argc - 1, argv + 1);
    if (cmd == "datasets") return cmd_datasets(argc - 1, argv + 1);
    if (cmd == "bench") return cmd_bench(argc - 1, argv + 1);
    if (cmd == "build") return cmd_build(argc - 1, argv + 1);
    if (cmd == "embed-text") return cmd_embed_text(argc - 1, argv + 1);
    if (cmd == "eval") return cmd_eval(argc - 1, argv + 1);
    if (cmd == "ctr-gen") return cmd_ctr_gen(argc - 1, argv + 1);
    if (cmd == "ctr-data") return cmd_ctr_data(argc - 1, argv + 1);
    if (cmd == "ctr-train") return cmd_ctr_train(argc - 1, argv + 1);
    if (cmd == "_index-rss" && argc == 3) {  // hidden: used by bench --index
      std::cout << rss_growth_loading(argv[2]) << "\n";
      return 0;
    }
    if (cmd == "search") return cmd_search(argc - 1, argv + 1);
    if (cmd == "sweep") return cmd_sweep(argc - 1, argv + 1);
    std::cerr << "embcomp: unknown command '" << one_line(cmd) << "' (see 'embcomp --help')\n";
    return 2;
  } catch (const Error& e) {
    std::cerr << "embcomp: " << one_line(e.message()) << "\n";
    return exit_code(e.kind());
  } catch (const std::bad_alloc&) {
    std::cerr << "embcomp: out of memory\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "embcomp: " << one_line(e.what()) << "\n";
    return 1;
  }
}

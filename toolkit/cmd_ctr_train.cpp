// `embcomp ctr-train`: trains a CTR model with one or more embedding table methods and
// writes one JSON record per method (eval/ctr_train.h, docs/ctr_training.md).
#include <omp.h>

#include <boost/program_options.hpp>
#include <iostream>
#include <string>
#include <vector>

#include "compressors/budget.h"
#include "compressors/emb_table.h"
#include "eval/ctr_data.h"
#include "eval/ctr_train.h"
#include "toolkit/cli.h"
#include "toolkit/commands.h"
#include "toolkit/error.h"
#include "toolkit/threads.h"

namespace po = boost::program_options;

namespace embcomp {
namespace {

std::vector<std::string> split_commas(const std::vector<std::string>& items) {
  std::vector<std::string> out;
  for (const auto& item : items) {
    for (auto& s : split_list(item, ',', /*keep_empty=*/true)) {
      EC_CHECK(!s.empty(), kUsage, "--method has an empty entry in '" << item << "'");
      out.push_back(std::move(s));
    }
  }
  return out;
}

/// The table spec of one --method value under --budget (checked against the registry).
std::string table_spec(const std::string& method, const std::string& budget) {
  const size_t at = method.find('@');
  const std::string name = method.substr(0, at);
  bool known = false;
  std::string names;
  for (const auto& m : ctr::table_methods()) {
    known = known || m.name == name;
    names += (names.empty() ? "" : ", ") + m.name;
  }
  EC_CHECK(known, kUsage, "unknown table method '" << name << "'; known: " << names);
  EC_CHECK(name != "Full" || (budget.empty() && at == std::string::npos), kUsage,
           "Full is the uncompressed reference and takes no budget (drop --budget or use "
           "another method)");
  if (budget.empty()) {
    if (at != std::string::npos) parse_budget(method, method.substr(at + 1));  // checks it
    return method;
  }
  EC_CHECK(at == std::string::npos, kUsage,
           "--method " << method << " already has a budget; --budget " << budget
                       << " would be a second one");
  parse_budget(method + "@" + budget, budget);
  return method + "@" + budget;
}

}  // namespace

int cmd_ctr_train(int argc, char** argv) {
  std::string data, budget, optimizer, out;
  std::vector<std::string> methods;
  ctr::CtrTrainConfig cfg;
  ctr::CtrLoadOptions load;
  float lr = 0;
  int threads = 0;
  po::options_description desc(
      "Trains a CTR model (DLRM, DCN, WDL or DeepFM) whose embedding table is stored with a\n"
      "compressed method, and reports validation/test AUC and logloss against the table's\n"
      "memory (docs/ctr_training.md). Early stopping and the checkpoint use validation only;\n"
      "the test split is evaluated once, at the end.\n\n"
      "ctr-train options");
  // clang-format off
  desc.add_options()
      ("help,h", "show this help")
      ("data", po::value(&data)->required(), "criteo:PATH | avazu:PATH | synthetic:PATH (from 'embcomp ctr-gen')")
      ("model", po::value(&cfg.model)->default_value("dlrm"), "dlrm | dcn | wdl | deepfm")
      ("method", po::value(&methods)->multitoken()->composing(),
       "table method spec(s): Full, Hash, Hash@0.1, ...; several values or a comma list run one "
       "after the other, one record each [default: Full]")
      ("budget", po::value(&budget), "B: a method NAME becomes NAME@B (fraction 0.1 or factor 10x "
       "of the Full table's 4 N D bytes); rejected with Full")
      ("dim", po::value(&cfg.dim)->default_value(16), "embedding width D")
      ("batch", po::value(&cfg.batch)->default_value(128), "rows per training step (at most the training rows)")
      ("epochs", po::value(&cfg.epochs)->default_value(1), "passes over the training split")
      ("lr", po::value(&lr)->default_value(1e-3f, "0.001"), "learning rate (tables and dense layers)")
      ("optimizer", po::value(&optimizer)->default_value("adam"), "adam | adagrad | sgd (row-wise sparse for tables)")
      ("eval-every", po::value(&cfg.eval_every)->default_value(0),
       "evaluate on validation every N steps (0 = only at the end of each epoch)")
      ("patience", po::value(&cfg.patience)->default_value(0),
       "stop after P evaluations without a better validation AUC (0 = never)")
      ("seed", po::value(&cfg.seed)->default_value(1), "seed of the table and dense init and of the shuffling")
      ("threads", po::value(&threads)->default_value(0), "OpenMP threads (0 = all cores)")
      ("no-shuffle", "train in file order instead of a seeded permutation per epoch")
      ("skip-bad-rows", "skip malformed input rows (counted) instead of failing with exit 2")
      ("min-count", po::value(&load.min_count)->default_value(4),
       "values seen fewer times in the training split share the field's out-of-vocabulary id")
      ("max-rows", po::value(&load.max_rows)->default_value(0), "read at most this many rows (0 = all)")
      ("out", po::value(&out), "write the JSON Lines records here (atomically) instead of stdout")
      ("quiet,q", "no progress on stderr");
  // clang-format on
  po::variables_map vm;
  if (!parse_command_line("ctr-train", desc, argc, argv, vm,
                          "--data criteo:PATH|avazu:PATH|synthetic:PATH [options]"))
    return 0;
  // Every usage error is found before the data is read.
  set_omp_threads(threads);
  cfg.optimizer.kind = ctr::optimizer_kind(optimizer);
  cfg.optimizer.lr = lr;
  cfg.shuffle = !vm.count("no-shuffle");
  cfg.verbose = !vm.count("quiet");
  load.skip_bad_rows = vm.count("skip-bad-rows") > 0;
  EC_CHECK(load.min_count >= 1, kUsage, "--min-count must be >= 1");
  EC_CHECK(load.max_rows >= 0, kUsage, "--max-rows must be >= 0");
  const size_t colon = data.find(':');
  const std::string kind = data.substr(0, colon);
  EC_CHECK(
      colon != std::string::npos && (kind == "criteo" || kind == "avazu" || kind == "synthetic"),
      kUsage, "--data must be criteo:PATH, avazu:PATH or synthetic:PATH, not '" << data << "'");
  if (methods.empty()) methods = {"Full"};
  std::vector<std::string> specs;
  for (const auto& m : split_commas(methods)) specs.push_back(table_spec(m, budget));
  cfg.method = specs.front();
  cfg.validate();
  if (!out.empty()) check_output_path(out);

  const ctr::CtrDataset ds = ctr::load_ctr_dataset(data, load);
  if (cfg.verbose && ds.skipped_rows > 0)
    std::cerr << "[ctr-train] skipped " << ds.skipped_rows << " malformed rows\n";
  std::string text;
  for (const auto& spec : specs) {
    cfg.method = spec;
    auto rec = ctr::train_ctr(ds, cfg);
    rec["skipped_rows"] = ds.skipped_rows;
    text += rec.dump() + "\n";
    // Each record is kept as soon as its method finishes (--out is rewritten whole), so a
    // later method that fails does not lose the finished ones.
    if (!out.empty()) {
      write_text_file(out, text);
    } else {
      std::cout << rec.dump() << "\n" << std::flush;
    }
  }
  return 0;
}

}  // namespace embcomp

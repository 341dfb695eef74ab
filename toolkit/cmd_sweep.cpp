// `embcomp sweep`: memory-budget sweep and recommendation (eval/sweep.h). Declared in
// toolkit/commands.h; main.cpp dispatches to it.
#include <omp.h>

#include <boost/program_options.hpp>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "compressors/budget.h"
#include "build_paths.h"
#include "eval/ground_truth.h"
#include "eval/sweep.h"
#include "toolkit/cli.h"
#include "toolkit/commands.h"
#include "toolkit/dataset.h"
#include "toolkit/error.h"
#include "toolkit/threads.h"

namespace po = boost::program_options;

namespace embcomp {

int cmd_sweep(int argc, char** argv) {
  DatasetSpec dspec;
  SweepOptions opt;
  std::string budgets = "2x,4x,8x,16x,32x,64x", families;
  int threads = 0;
  po::options_description desc("sweep options");
  desc.add_options()("help,h", "show this help");
  add_dataset_options(desc, dspec);
  desc.add_options()
      ("budgets", po::value(&budgets)->default_value(budgets),
       "comma-separated memory budgets: 8x (1/8 of the fp32 bytes) or a fraction such as 0.125")
      ("quality", po::value(&opt.quality)->default_value(opt.quality),
       "what the recommendation maximizes: recall@K (against exact search), ndcg@10 or mrr@10 "
       "(against the dataset's qrels)")
      ("max-latency-ms", po::value(&opt.max_latency_ms)->default_value(0),
       "also recommend the best method whose single-thread p50 query latency is at most this")
      ("out", po::value(&opt.out_dir), "output directory (created): results.jsonl, results.csv, "
       "recommendation.json, report.md, quality_vs_ratio.png, quality_vs_qps.png")
      ("resume", "continue the sweep in --out, skipping the points it already measured")
      ("families", po::value(&families),
       "comma-separated families to sweep [default: all; see docs/sweep.md]")
      ("seed", po::value(&opt.seed)->default_value(opt.seed),
       "seed for every method and for the validation/test split of the queries")
      ("val-fraction", po::value(&opt.val_fraction)->default_value(opt.val_fraction),
       "share of the queries used for validation; the rest is the test split")
      ("latency-queries", po::value(&opt.latency_queries)->default_value(opt.latency_queries),
       "queries timed one at a time on one thread for the p50/p95 latency")
      ("rerank-factor", po::value(&opt.rerank_factor)->default_value(opt.rerank_factor),
       "candidates per result for Binary with re-scoring")
      ("threads", po::value(&threads)->default_value(0), "OpenMP threads (0 = all cores)")
      ("no-plots", "do not run scripts/plot_sweep.py")
      ("quiet,q", "no progress on stderr");
  po::variables_map vm;
  if (!parse_command_line("sweep", desc, argc, argv, vm,
                          "[--data NAME | --base B --queries Q --metric M] --out DIR [options]"))
    return 0;
  opt.verbose = !vm.count("quiet");
  opt.resume = vm.count("resume") > 0;
  EC_CHECK(!opt.out_dir.empty(), kUsage, "--out DIR is required");
  EC_CHECK(opt.rerank_factor >= 1, kUsage, "--rerank-factor must be >= 1");
  EC_CHECK(opt.latency_queries >= 1, kUsage, "--latency-queries must be >= 1");
  EC_CHECK(opt.max_latency_ms >= 0, kUsage, "--max-latency-ms must be >= 0");
  set_omp_threads(threads);
  opt.budgets = split_list(budgets, ',');
  EC_CHECK(!opt.budgets.empty(), kUsage, "--budgets is empty");
  for (size_t i = 0; i < opt.budgets.size(); ++i) {
    parse_budget("--budgets " + opt.budgets[i], opt.budgets[i]);
    for (size_t j = 0; j < i; ++j)
      EC_CHECK(opt.budgets[j] != opt.budgets[i], kUsage,
               "--budgets lists " << opt.budgets[i] << " twice");
  }
  opt.families = split_list(families, ',');
  if (!vm.count("no-plots")) opt.plot_script = std::string(EMBCOMP_SCRIPTS_DIR) + "/plot_sweep.py";
  if (dspec.data.empty() && dspec.base.empty()) dspec.data = "glove-100-30k";

  Dataset ds = load_dataset(dspec);
  // Exact ground truth: recall@K is the quality, or recall@10 is reported beside nDCG/MRR.
  const SweepQuality q = parse_sweep_quality(opt.quality);
  EC_CHECK(q.k <= ds.base.n, kBadInput,
           "--quality " << opt.quality << ": K must be in [1, " << ds.base.n << "]");
  if (ds.base.n >= q.k) ensure_ground_truth(ds, q.k, opt.verbose);
  const int failures = run_sweep(ds, opt);
  return failures ? 1 : 0;
}

}  // namespace embcomp

// `embcomp sweep`: memory-budget sweep and recommendation (eval/sweep.h). Declared in
// toolkit/commands.h; main.cpp dispatches to it.
#include <fcntl.h>
#include <omp.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/program_options.hpp>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <sstream>
#include <string>
#include <vector>

#include "build_paths.h"
#include "eval/ground_truth.h"
#include "eval/sweep.h"
#include "toolkit/cli.h"
#include "toolkit/commands.h"
#include "toolkit/dataset.h"
#include "toolkit/error.h"
#include "toolkit/threads.h"

namespace po = boost::program_options;

extern char** environ;

namespace embcomp {

namespace {

/// Runs `python3 scripts/plot_sweep.py DIR QUALITY` as a child process with an argument
/// vector (no shell, so no text of --out or --quality is ever interpreted) and waits for
/// it. Its output goes to /dev/null unless verbose. Returns true when it exited 0; a
/// failure is a warning on stderr, never an error of the sweep.
bool draw_plots(const std::string& dir, const std::string& quality, bool verbose) {
  const std::string script = std::string(EMBCOMP_SCRIPTS_DIR) + "/plot_sweep.py";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(script, ec)) {
    std::cerr << "[sweep] warning: the plots were not drawn: " << script << " is missing\n";
    return false;
  }
  const bool usr_bin = ::access("/usr/bin/python3", X_OK) == 0;
  std::string py = usr_bin ? "/usr/bin/python3" : "python3";
  std::vector<std::string> args{py, script, dir, quality};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (!verbose) {
    posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
  }
  pid_t pid = 0;
  const int rc = usr_bin
                     ? ::posix_spawn(&pid, py.c_str(), &actions, nullptr, argv.data(), environ)
                     : ::posix_spawnp(&pid, py.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    std::cerr << "[sweep] warning: the plots were not drawn: cannot run " << py << ": "
              << std::strerror(rc) << "\n";
    return false;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
  if (!ok)
    std::cerr << "[sweep] warning: not all plots were drawn (" << py << " " << script
              << " exited with " << (WIFEXITED(status) ? WEXITSTATUS(status) : -1) << ")\n";
  return ok;
}

}  // namespace

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
      ("min-quality", po::value(&opt.min_quality),
       "quality gate: after writing every output, exit 3 naming each budget whose "
       "recommendation's test quality is below this, in [0, 1]")
      ("threads", po::value(&threads)->default_value(0), "OpenMP threads (0 = all cores)")
      ("no-plots", "do not run scripts/plot_sweep.py")
      ("quiet,q", "no progress on stderr");
  po::variables_map vm;
  if (!parse_command_line("sweep", desc, argc, argv, vm,
                          "[--data NAME | --base B --queries Q --metric M] --out DIR [options]"))
    return 0;
  opt.verbose = !vm.count("quiet");
  opt.resume = vm.count("resume") > 0;
  EC_CHECK(!vm.count("min-quality") || (opt.min_quality >= 0 && opt.min_quality <= 1), kUsage,
           "--min-quality must be in [0, 1], not " << opt.min_quality);
  set_omp_threads(threads);
  opt.budgets = split_list(budgets, ',');
  opt.families = split_list(families, ',');
  opt.validate();  // every option, before the data is loaded or anything written
  const bool verbose = opt.verbose;
  if (!vm.count("no-plots"))
    opt.draw_plots = [verbose](const std::string& dir, const std::string& quality) {
      return draw_plots(dir, quality, verbose);
    };
  if (dspec.data.empty() && dspec.base.empty()) dspec.data = "glove-100-30k";

  Dataset ds = load_dataset(dspec);
  // Exact ground truth: recall@K is the quality, or recall@10 is reported beside nDCG/MRR.
  const SweepQuality q = parse_sweep_quality(opt.quality);
  EC_CHECK(q.k <= ds.base.n, kBadInput,
           "--quality " << opt.quality << ": K must be in [1, " << ds.base.n << "]");
  if (ds.base.n >= q.k) ensure_ground_truth(ds, q.k, opt.verbose);
  const SweepSummary summary = run_sweep(ds, opt);
  if (summary.failures) return 1;  // a runtime failure outranks the gate
  if (opt.min_quality >= 0) {
    const auto misses = sweep_gate_misses(summary.recommendation, opt.min_quality);
    std::string list;
    for (const auto& m : misses) list += (list.empty() ? "" : ", ") + m;
    EC_CHECK(misses.empty(), kQualityGate,
             "recommendation below --min-quality " << opt.min_quality << ": " << list);
  }
  return 0;
}

}  // namespace embcomp

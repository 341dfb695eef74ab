// `embcomp ctr-gen`: synthetic Criteo-like CTR data with a planted model (eval/ctr_synthetic.h).
// Declared in toolkit/commands.h; main.cpp dispatches to it.
#include <omp.h>

#include <boost/program_options.hpp>
#include <chrono>
#include <iostream>
#include <numeric>
#include <string>

#include "eval/ctr_synthetic.h"
#include "toolkit/cli.h"
#include "toolkit/commands.h"
#include "toolkit/error.h"
#include "toolkit/threads.h"

namespace po = boost::program_options;

namespace embcomp {

int cmd_ctr_gen(int argc, char** argv) {
  ctr::CtrSynthParams p;
  std::string out;
  int threads = 0;
  po::options_description desc("ctr-gen options");
  // One option per line reads better than the formatter's call chain.
  // clang-format off
  desc.add_options()("help,h", "show this help")
      ("like", po::value(&p.like)->default_value(p.like), "dataset to imitate: criteo (26 fields, 13 dense)")
      ("rows", po::value(&p.rows)->required(), "N: rows to generate")
      ("scale", po::value(&p.scale)->default_value(p.scale),
       "S: each of Criteo's 26 cardinalities is divided by S (at least 2 ids per field)")
      ("seed", po::value(&p.seed)->default_value(p.seed), "seed of every random choice")
      ("out", po::value(&out)->required(), "output file (read back as synthetic:PATH)")
      ("zipf", po::value(&p.zipf_s)->default_value(p.zipf_s, "1.1"), "Zipf exponent of the ids")
      ("rank", po::value(&p.rank)->default_value(p.rank), "latent rank of the planted interactions (1..8)")
      ("head", po::value(&p.r0)->default_value(p.r0),
       "r0: an id of frequency rank r has weight magnitude (1-t)/(1+(r-1)/r0) + t")
      ("tail-signal", po::value(&p.tail)->default_value(p.tail),
       "t in [0, 1]: the floor of every id's weight magnitude (0: signal on the head only; "
       "> 0: rare ids carry signal too, so compressing the table costs AUC)")
      ("ctr", po::value(&p.target_ctr)->default_value(p.target_ctr, "0.25"), "calibrated mean click probability")
      ("auc", po::value(&p.target_auc)->default_value(p.target_auc, "0.78"),
       "calibrated expected AUC of the planted probabilities")
      ("threads", po::value(&threads)->default_value(0), "OpenMP threads (0 = all cores)");
  // clang-format on
  po::variables_map vm;
  if (!parse_command_line("ctr-gen", desc, argc, argv, vm,
                          "--rows N --out PATH [--like criteo] [--scale S] [--seed 1] [options]"))
    return 0;
  set_omp_threads(threads);
  p.validate();
  check_output_path(out);
  const auto t0 = std::chrono::steady_clock::now();
  const ctr::CtrSynthHeader h = ctr::generate_ctr_synthetic(p, out);
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int64_t vocab = std::accumulate(h.cardinality.begin(), h.cardinality.end(), int64_t{0});
  std::cout << "wrote " << out << ": " << h.params.rows << " rows, " << h.num_dense << " dense, "
            << h.num_fields << " fields with " << vocab << " ids in all (scale " << p.scale
            << ", tail signal " << p.tail << "), mean CTR " << h.mean_ctr
            << ", expected planted AUC " << h.expected_auc << " (bias " << h.bias
            << ", logit scale " << h.logit_scale << "), " << sec << " s, "
            << double(h.params.rows) / sec << " rows/s, " << omp_get_max_threads() << " threads\n";
  return 0;
}

}  // namespace embcomp

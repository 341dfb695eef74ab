// `embcomp ctr-data`: loads a CTR source (eval/ctr_data.h), builds its binary cache and prints
// what the CTR models will see: splits, vocabulary sizes, CTR per split. Useful to prepare the
// cache of a big log once, and to check a file before a long training run. Declared in
// toolkit/commands.h; main.cpp dispatches to it.
#include <boost/program_options.hpp>
#include <chrono>
#include <iostream>
#include <numeric>
#include <string>

#include "eval/ctr_data.h"
#include "toolkit/cli.h"
#include "toolkit/commands.h"
#include "toolkit/error.h"

namespace po = boost::program_options;

namespace embcomp {

int cmd_ctr_data(int argc, char** argv) {
  std::string data;
  ctr::CtrLoadOptions opt;
  po::options_description desc("ctr-data options");
  // One option per line reads better than the formatter's call chain.
  // clang-format off
  desc.add_options()("help,h", "show this help")
      ("data", po::value(&data)->required(), "criteo:PATH | avazu:PATH | synthetic:PATH")
      ("min-count", po::value(&opt.min_count)->default_value(opt.min_count),
       "vocabulary threshold: values seen fewer times in the training split share the field's "
       "out-of-vocabulary id")
      ("skip-bad-rows", "skip (and count) malformed rows instead of failing with exit code 2")
      ("max-rows", po::value(&opt.max_rows)->default_value(0), "read at most this many rows (0 = all)")
      ("cache-dir", po::value(&opt.cache_dir), "where the binary cache goes [default: next to the input]")
      ("no-cache", "neither read nor write the binary cache");
  // clang-format on
  po::variables_map vm;
  if (!parse_command_line("ctr-data", desc, argc, argv, vm,
                          "--data criteo:PATH|avazu:PATH|synthetic:PATH [options]"))
    return 0;
  opt.skip_bad_rows = vm.count("skip-bad-rows") > 0;
  opt.use_cache = vm.count("no-cache") == 0;
  const auto t0 = std::chrono::steady_clock::now();
  const ctr::CtrDataset ds = ctr::load_ctr_dataset(data, opt);
  const double sec = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int64_t n = ds.train.n + ds.val.n + ds.test.n;
  auto ctr = [](const ctr::CtrSplit& s) {
    return s.n ? std::accumulate(s.label.begin(), s.label.end(), 0.0) / double(s.n) : 0.0;
  };
  std::cout << ds.source << ": " << n << " rows loaded in " << sec << " s (" << double(n) / sec
            << " rows/s), " << ds.skipped_rows << " malformed rows skipped\n"
            << "  split: " << ds.split_note << "\n"
            << "  CTR: train " << ctr(ds.train) << ", validation " << ctr(ds.val) << ", test "
            << ctr(ds.test) << "\n"
            << "  " << ds.num_dense << " dense features, " << ds.num_fields
            << " categorical fields, " << ds.rows() << " embedding rows in all:\n   ";
  for (int f = 0; f < ds.num_fields; ++f)
    std::cout << " " << ds.field_names[f] << "=" << ds.field_offsets[f + 1] - ds.field_offsets[f];
  std::cout << "\n";
  const std::string cache = ctr::ctr_cache_path(data, opt);
  if (!cache.empty()) std::cout << "  cache: " << cache << "\n";
  return 0;
}

}  // namespace embcomp

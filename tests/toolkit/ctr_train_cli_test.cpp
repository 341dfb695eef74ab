// `embcomp ctr-train` usage errors: exit 2, one line on stderr naming the problem, no
// output file, all found before any data is read.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "test_data.h"

namespace embcomp {
namespace {

using CliResult = embcomp::testing::CliRun;

CliResult run(const std::string& dir, const std::string& args) {
  return embcomp::testing::run_embcomp(dir, "ctr-train " + args);
}

TEST(CtrTrainCli, BadUsageExitsTwoWithOneLineAndNoOutput) {
  const std::string dir = testing::temp_dir("ctr_train_cli");
  const std::string out = dir + "/run.jsonl";
  const std::string data = "--data synthetic:" + dir + "/missing.bin --out " + out + " ";
  const std::vector<std::pair<std::string, std::string>> cases = {
      {data + "--method Full --budget 0.1", "Full is the uncompressed reference"},
      {data + "--method Full@0.5", "Full is the uncompressed reference"},
      {data + "--method Nope", "unknown table method 'Nope'"},
      {data + "--method Full, --model dlrm", "empty entry"},
      {data + "--model fm", "--model must be dlrm, dcn, wdl or deepfm"},
      {data + "--batch 0", "--batch 0 must be >= 1"},
      {data + "--optimizer rmsprop", "--optimizer must be sgd, adagrad or adam"},
      {data + "--lr -1", "--lr -1 must be finite and > 0"},
      {data + "--lr inf", "must be finite and > 0"},  // reliability #23
      {data + "--lr nan", "must be finite and > 0"},
      {data + "--dim 1000000000", "--dim 1000000000 must be in [1, 4096]"},  // catalogue ctrtrain_dim_huge
      {data + "--bogus", "unrecognised option"},
      {"--data parquet:x.bin", "--data must be criteo:PATH"},
      {"--data synthetic:x.bin --out /nonexistent-dir/run.jsonl", "does not exist"},
      {data, "missing.bin"},  // the data source itself is bad input too
  };
  for (const auto& [args, want] : cases) {
    const CliResult r = run(dir, args);
    EXPECT_EQ(r.code, 2) << args << "\n" << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << "\n" << r.err;
    EXPECT_NE(r.err.find(want), std::string::npos) << args << "\nstderr: " << r.err;
    EXPECT_FALSE(std::filesystem::exists(out)) << args;
  }
  EXPECT_EQ(run(dir, "--help").code, 0);
}

}  // namespace
}  // namespace embcomp

// Training-step throughput of the CTR tables TT, DHE and MDE (issue 7) beside Full: one
// step = lookup + backward + step (Adam) for a batch of B samples x 26 Criteo-like fields
// (Kaggle cardinalities / 10: 3.37M rows, D = 16), ids Zipf-like per field.
//
//   build/ctr_tables_tt_dhe_mde_bench [--benchmark_repetitions=3] [--benchmark_format=json]
//   build/ctr_tables_tt_dhe_mde_bench --knobs   # the knob table of docs/ctr_tables.md, untimed
//
// Counters: "samples/s" (kIsRate on wall time), "budget" = bytes / (4 N D).
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "build_info.h"
#include "compressors/emb_table.h"
#include "toolkit/error.h"

using namespace embcomp::ctr;

namespace {

const int64_t kCard[26] = {1460,  583,  10131227, 2202608, 305, 24,     12517,   633,   3,
                           93145, 5683, 8351593,  3194,    27,  14992,  5461306, 10,    5652,
                           2173,  4,    7046547,  18,      15,  286181, 105,     142572};

TableInit layout() {
  TableInit init;
  init.dim = 16;
  init.field_offsets = {0};
  for (int64_t c : kCard)
    init.field_offsets.push_back(init.field_offsets.back() + std::max<int64_t>(1, c / 10));
  init.rows = init.field_offsets.back();
  init.seed = 1;
  return init;
}

// batches of B x 26 global ids, id ~ floor((n + 1)^u) - 1 per field (Zipf-like).
std::vector<int64_t> make_ids(const TableInit& init, int64_t B, int batches) {
  std::mt19937_64 rng(42);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const int F = int(init.field_offsets.size()) - 1;
  std::vector<int64_t> ids(size_t(batches) * B * F);
  for (size_t i = 0; i < ids.size(); ++i) {
    const int f = int(i % F);
    const int64_t n = init.field_offsets[f + 1] - init.field_offsets[f];
    const int64_t v = std::min<int64_t>(n - 1, int64_t(std::pow(double(n + 1), u(rng))) - 1);
    ids[i] = init.field_offsets[f] + std::max<int64_t>(0, v);
  }
  return ids;
}

void BM_TableStep(benchmark::State& state, const std::string& spec) {
  const TableInit init = layout();
  const int64_t B = state.range(0);
  const int batches = 8, F = 26, D = 16;
  auto table = make_embedding_table(spec, init);
  const std::vector<int64_t> ids = make_ids(init, B, batches);
  std::vector<float> out(size_t(B) * F * D), grad(size_t(B) * F * D, 1e-3f);
  int b = 0;
  for (auto _ : state) {
    const int64_t* batch = ids.data() + size_t(b) * B * F;
    table->lookup(batch, B * F, out.data());
    table->backward(batch, B * F, grad.data());
    table->step();
    b = (b + 1) % batches;
  }
  state.counters["samples/s"] =
      benchmark::Counter(double(state.iterations()) * B, benchmark::Counter::kIsRate);
  state.counters["budget"] = double(table->bytes()) / (4.0 * double(init.rows) * D);
  state.SetLabel(spec + " " + table->knob());
}

/// `--knobs`: every budget form of docs/ctr_tables.md's knob table solved and built on
/// the layout, as a markdown table: the knob and bytes / (4 N D), or the solver's message;
/// then MDE@0.1 solved with id counts.
int print_knobs() {
  const TableInit init = layout();
  std::printf("| spec | knob chosen | bytes / (4ND) |\n|---|---|---|\n");
  for (const char* spec : {"TT@0.5", "TT@0.1", "TT@0.01", "TT@0.001", "DHElite@0.5", "DHElite@0.1",
                           "DHElite@0.01", "DHElite@0.001", "MDE@0.5", "MDE@0.1", "MDE@0.01"}) {
    try {
      auto table = make_embedding_table(spec, init);
      std::printf("| %s | %s | %.6f |\n", spec, table->knob().c_str(),
                  double(table->bytes()) / (4.0 * double(init.rows) * init.dim));
    } catch (const embcomp::Error& e) {
      std::printf("| %s | %s | - |\n", spec, e.message().c_str());
    }
  }
  // MDE with counts: how often each id occurs in the step benchmark's first 100 batches
  // of 1024 samples (make_ids, Zipf-like per field), so p_f is the mean count per seen id.
  TableInit counted = init;
  counted.counts.assign(size_t(init.rows), 0);
  for (int64_t id : make_ids(init, 1024, 100)) ++counted.counts[size_t(id)];
  auto mde = make_embedding_table("MDE@0.1", counted);
  std::printf("| MDE@0.1 (counts: 100 x 1024 Zipf-like samples) | %s | %.6f |\n",
              mde->knob().c_str(), double(mde->bytes()) / (4.0 * double(init.rows) * init.dim));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "--knobs") return print_knobs();
  for (const char* spec :
       {"Full", "TT@0.1", "TT@0.01", "DHElite@0.01", "DHElite@0.001", "MDE@0.5", "MDE@0.1"})
    benchmark::RegisterBenchmark(spec, BM_TableStep, std::string(spec))
        ->Arg(128)
        ->Arg(1024)
        ->Unit(benchmark::kMillisecond)
        ->UseRealTime();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
#ifndef NDEBUG
  std::fprintf(stderr, "WARNING: this is a debug build (%s): timings are meaningless\n",
               EMBCOMP_BUILD_TYPE);
#endif
  benchmark::AddCustomContext("build_type", EMBCOMP_BUILD_TYPE);
  benchmark::AddCustomContext("git_commit", EMBCOMP_GIT_COMMIT);
  benchmark::AddCustomContext("shape", "criteo/10: N=3.37M rows, 26 fields, D=16, Adam");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

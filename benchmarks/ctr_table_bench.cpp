// CTR embedding table throughput (issue 7): one training step of the table alone
// (lookup + backward + Adam step) and inference lookups, per method, on a Criteo-like
// layout: Kaggle's 26 field cardinalities / 10 (3.38M rows), D = 16, batches of 1024
// samples x 26 fields with Zipf(1.05) ids over a per-field permutation.
//
//   build/ctr_table_bench [--benchmark_filter=Train] [--benchmark_format=json]
//
// Build/SPEC: one construction (budget solver, init), its budget_actual = bytes / (4 N D)
// and knob (label, with the budget_note when there is one).
//
// Counter "samples/s" = batch samples (1024, each 26 ids) per second of CPU time, on one
// OpenMP thread (the tables parallelize lookups only above 16384 ids, so a batch of 26624
// ids would use both cores): CPU time of one thread stays comparable when the shared
// machine is loaded, where wall time does not.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "build_info.h"
#include "compressors/emb_table.h"

using namespace embcomp::ctr;

namespace {

constexpr int kScale = 10, kDim = 16, kBatch = 1024, kFields = 26, kBatches = 8;
constexpr int64_t kCriteo[kFields] = {
    1460, 583,   10131227, 2202608, 305,  24,   12517, 633,     3,  93145, 5683,   8351593, 3194,
    27,   14992, 5461306,  10,      5652, 2173, 4,     7046547, 18, 15,    286181, 105,     142572};

struct Data {
  TableInit init;
  std::vector<std::vector<int64_t>> batches;  // kBatches x (kBatch * kFields), sample-major

  Data() {
    init.dim = kDim;
    init.field_offsets.push_back(0);
    for (int64_t c : kCriteo)
      init.field_offsets.push_back(init.field_offsets.back() + std::max<int64_t>(1, c / kScale));
    init.rows = init.field_offsets.back();
    init.seed = 1;
    init.optimizer.kind = OptimizerConfig::Kind::kAdam;
    init.optimizer.lr = 1e-3f;
    init.counts.assign(init.rows, 0);
    std::mt19937_64 rng(42);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    // Zipf(1.05) rank by inverse transform of the continuous approximation, then a
    // coprime-stride permutation so hot ids are spread over the field's range.
    auto draw = [&](int64_t n) {
      const double a = 1.05, hn = (std::pow(double(n) + 1, 1 - a) - 1) / (1 - a);
      const double r = std::pow(1 + u(rng) * hn * (1 - a), 1 / (1 - a)) - 1;
      return std::min<int64_t>(n - 1, static_cast<int64_t>(r));
    };
    std::vector<int64_t> stride(kFields);
    for (int f = 0; f < kFields; ++f) {
      const int64_t n = init.field_offsets[f + 1] - init.field_offsets[f];
      stride[f] = n > 1 ? 7919 % n : 0;
      while (n > 1 && std::gcd(stride[f], n) != 1) ++stride[f];
    }
    // Counts from a separate "training" sample of 200k rows, like TableInit's contract.
    for (int s = 0; s < 200000; ++s)
      for (int f = 0; f < kFields; ++f) {
        const int64_t n = init.field_offsets[f + 1] - init.field_offsets[f];
        ++init.counts[init.field_offsets[f] + (n > 1 ? draw(n) * stride[f] % n : 0)];
      }
    batches.resize(kBatches);
    for (auto& b : batches) {
      b.resize(size_t(kBatch) * kFields);
      for (int i = 0; i < kBatch; ++i)
        for (int f = 0; f < kFields; ++f) {
          const int64_t n = init.field_offsets[f + 1] - init.field_offsets[f];
          b[size_t(i) * kFields + f] =
              init.field_offsets[f] + (n > 1 ? draw(n) * stride[f] % n : 0);
        }
    }
  }
};

const Data& data() {
  static const Data d;
  return d;
}

void BM_Train(benchmark::State& state, std::string spec) {
  const Data& d = data();
  auto t = make_embedding_table(spec, d.init);
  const int64_t n = int64_t(kBatch) * kFields;
  std::vector<float> out(size_t(n) * kDim), grad(size_t(n) * kDim);
  size_t k = 0;
  for (auto _ : state) {
    const auto& ids = d.batches[k++ % kBatches];
    t->lookup(ids.data(), n, out.data());
    for (size_t i = 0; i < out.size(); ++i) grad[i] = 0.01f * out[i] - 1e-4f;
    t->backward(ids.data(), n, grad.data());
    t->step();
  }
  state.counters["samples/s"] =
      benchmark::Counter(double(state.iterations()) * kBatch, benchmark::Counter::kIsRate);
  state.counters["budget"] = double(t->bytes()) / (4.0 * d.init.rows * kDim);
  state.SetLabel(t->knob());
}

void BM_Lookup(benchmark::State& state, std::string spec) {
  const Data& d = data();
  auto t = make_embedding_table(spec, d.init);
  const int64_t n = int64_t(kBatch) * kFields;
  std::vector<float> out(size_t(n) * kDim);
  size_t k = 0;
  for (auto _ : state) {
    t->lookup(d.batches[k++ % kBatches].data(), n, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["samples/s"] =
      benchmark::Counter(double(state.iterations()) * kBatch, benchmark::Counter::kIsRate);
}

// Building the table (budget solver, init, hot-set selection): budget_actual per spec.
void BM_Build(benchmark::State& state, std::string spec) {
  const Data& d = data();
  double budget = 0;
  std::string note;
  for (auto _ : state) {
    auto t = make_embedding_table(spec, d.init);
    budget = double(t->bytes()) / (4.0 * d.init.rows * kDim);
    note = t->budget_note();
    state.SetLabel(t->knob().substr(0, 60) + (note.empty() ? "" : " NOTE: " + note));
  }
  state.counters["budget"] = budget;
}

const char* kBuildSpecs[] = {
    "Hash@0.5",      "Hash@0.1", "Hash@0.01", "QR@0.5",    "QR@0.1",       "QR@0.01",
    "QRsum@0.5",     "ROBE@0.5", "ROBE@0.1",  "ROBE@0.01", "AdaEmbed@0.5", "AdaEmbed@0.1",
    "AdaEmbed@0.01", "INT8",     "INT8@0.5",  "INT16",     "ALPT"};

const char* kSpecs[] = {"Full",         "Hash@0.1",  "QR@0.1",  "QRsum@0.1", "ROBE@0.1",
                        "AdaEmbed@0.1", "Hash@0.01", "QR@0.01", "ROBE@0.01", "AdaEmbed@0.01",
                        "INT8",         "INT16",     "ALPT"};

}  // namespace

int main(int argc, char** argv) {
  omp_set_num_threads(1);
  for (const char* s : kBuildSpecs)
    benchmark::RegisterBenchmark(("Build/" + std::string(s)).c_str(), BM_Build, s)
        ->Unit(benchmark::kMillisecond)
        ->Iterations(1);
  for (const char* s : kSpecs) {
    benchmark::RegisterBenchmark(("Train/" + std::string(s)).c_str(), BM_Train, s)
        ->Unit(benchmark::kMillisecond);
    benchmark::RegisterBenchmark(("Lookup/" + std::string(s)).c_str(), BM_Lookup, s)
        ->Unit(benchmark::kMillisecond);
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
#ifndef NDEBUG
  std::fprintf(stderr, "WARNING: ctr_table_bench is a debug build (%s): timings are meaningless\n",
               EMBCOMP_BUILD_TYPE);
#endif
  benchmark::AddCustomContext("build_type", EMBCOMP_BUILD_TYPE);
  benchmark::AddCustomContext("git_commit", EMBCOMP_GIT_COMMIT);
  benchmark::AddCustomContext("shape", "criteo/10 rows=3.38M D=16 batch=1024x26 Adam threads=1");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

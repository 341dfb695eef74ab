// CTR training throughput (issue 7 bar): DLRM (13-512-256-64-16, dot interactions, top
// 512-256-1), D = 16, Full table, on in-memory synthetic data with Criteo's 26 field
// cardinalities divided by 100 (at least 3 ids per field; 338k ids in all), ids drawn
// with a Zipf-like skew, 13 dense features, random labels. One iteration = one
// optimizer step (lookup, forward, loss, backward, sparse table update, dense update).
//
//   build/ctr_train_bench [--benchmark_repetitions=3]
//
// Counter "samples/s" = training rows per second of WALL time (UseRealTime: the step
// is multi-threaded), all cores (OpenMP over the batch, single-threaded OpenBLAS).
// Arguments: batch size, optimizer (0 = SGD, 2 = Adam, as the trainer's kinds).
// Bars: >= 24,000 samples/s at batch 1024 and >= 5,000 at batch 128.
// On a machine shared with other jobs, libgomp's default spin-waiting at the step's
// barriers costs up to 4x (docs/PERFORMANCE.md): run with OMP_WAIT_POLICY=passive there.
#include <benchmark/benchmark.h>
#include <omp.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <random>
#include <vector>

#include "build_info.h"
#include "compressors/emb_full.h"
#include "eval/ctr_model.h"

using namespace embcomp;
using namespace embcomp::ctr;

namespace {

constexpr int64_t kRows = 1 << 16;  // rows cycled through by the steps
constexpr int kDense = 13, kFields = 26, kDim = 16;
const int64_t kCriteoCardinality[kFields] = {
    1460, 583,   10131227, 2202608, 305,  24,   12517, 633,     3,  93145, 5683,   8351593, 3194,
    27,   14992, 5461306,  10,      5652, 2173, 4,     7046547, 18, 15,    286181, 105,     142572};

struct Data {
  std::vector<int64_t> offsets = {0};
  std::vector<float> dense, label;
  std::vector<int32_t> cat;
  Data() {
    for (int f = 0; f < kFields; ++f)
      offsets.push_back(offsets.back() + std::max<int64_t>(3, kCriteoCardinality[f] / 100));
    std::mt19937_64 rng(1);
    std::uniform_real_distribution<double> u(0.0, 1.0);
    dense.resize(kRows * kDense);
    for (auto& x : dense) x = static_cast<float>(std::log1p(100 * u(rng)));
    cat.resize(kRows * kFields);
    for (int64_t r = 0; r < kRows; ++r)
      for (int f = 0; f < kFields; ++f) {
        const int64_t card = offsets[f + 1] - offsets[f];
        // id = card^(u^2): a heavy head and a long tail.
        const double x = u(rng);
        const int64_t v =
            std::min<int64_t>(card - 1, static_cast<int64_t>(std::pow(card, x * x)) - 1);
        cat[r * kFields + f] = static_cast<int32_t>(offsets[f] + std::max<int64_t>(0, v));
      }
    label.resize(kRows);
    for (auto& y : label) y = u(rng) < 0.25 ? 1.0f : 0.0f;
  }
};

const Data& data() {
  static Data d;
  return d;
}

void BM_DlrmTrainStep(benchmark::State& state) {
  const Data& d = data();
  const int64_t batch = state.range(0);
  TableInit init;
  init.rows = d.offsets.back();
  init.dim = kDim;
  init.field_offsets = d.offsets;
  init.seed = 1;
  init.optimizer.kind = static_cast<OptimizerConfig::Kind>(state.range(1));
  init.optimizer.lr = init.optimizer.kind == OptimizerConfig::Kind::kSGD ? 0.01f : 1e-3f;
  FullTable table(init);
  CtrModelParams p;  // the Criteo DLRM
  auto model = make_ctr_model("dlrm", p, &table, init.optimizer);
  int64_t r = 0, samples = 0;
  double loss = 0;
  for (auto _ : state) {
    if (r + batch > kRows) r = 0;
    loss = model->train_step(d.dense.data() + r * kDense, d.cat.data() + r * kFields,
                             d.label.data() + r, batch);
    r += batch;
    samples += batch;
  }
  state.counters["samples/s"] = benchmark::Counter(double(samples), benchmark::Counter::kIsRate);
  state.counters["loss"] = loss;
  state.counters["threads"] = omp_get_max_threads();
}

BENCHMARK(BM_DlrmTrainStep)
    ->ArgNames({"batch", "opt"})
    ->Args({128, 2})
    ->Args({1024, 2})
    ->Args({128, 0})
    ->Args({1024, 0})
    ->UseRealTime()
    ->MinTime(3.0)
    ->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
#ifndef NDEBUG
  std::fprintf(stderr, "WARNING: ctr_train_bench is a debug build (%s): timings are meaningless\n",
               EMBCOMP_BUILD_TYPE);
#endif
  benchmark::AddCustomContext("build_type", EMBCOMP_BUILD_TYPE);
  benchmark::AddCustomContext("git_commit", EMBCOMP_GIT_COMMIT);
  benchmark::AddCustomContext("model", "dlrm 13-512-256-64-16 / 367-512-256-1, D=16, Full");
  const char* wait = std::getenv("OMP_WAIT_POLICY");
  benchmark::AddCustomContext("omp_wait_policy", wait ? wait : "(unset: libgomp spins)");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}

// Exhaustive-scan throughput (issue 4): our SQ8 / INT8 / binary top-k scans
// (index/scan_kernels.h) against FAISS 1.7.3 IndexScalarQuantizer(QT_8bit, inner product)
// and IndexBinaryFlat, on one thread: 100k x 128 codes, 200 queries, k = 10.
//
//   build-scan/scan_bench [--benchmark_repetitions=3] [--benchmark_format=json]
//
// Counter "vectors/s" = queries * rows scored per second of CPU time (kIsRate). Bars:
// SQ8/INT8 scan >= 2x FAISS SQ8, binary scan >= 1.5x IndexBinaryFlat, in the same run.
// Also reported: "overlap" = top-10 overlap of our result with FAISS's (same codes).
// The data is seeded and low-rank plus noise (x = z B + 0.1 N(0, 1), rank 32).
#include <benchmark/benchmark.h>
#include <faiss/IndexBinaryFlat.h>
#include <faiss/IndexScalarQuantizer.h>
#include <omp.h>

#include <cstdio>
#include <memory>
#include <random>
#include <set>
#include <vector>

#include "build_info.h"
#include "compressors/int8.h"
#include "compressors/sq.h"
#include "index/scan_kernels.h"
#include "toolkit/blas.h"
#include "toolkit/registry.h"

using namespace embcomp;

namespace {

constexpr size_t kN = 100000, kD = 128, kNq = 200, kK = 10, kRank = 32;

FloatMatrix generate(size_t n, size_t d, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> g(0.0f, 1.0f);
  std::vector<float> basis(kRank * d), z(n * kRank);
  for (auto& b : basis) b = g(rng) / std::sqrt(float(kRank));
  for (auto& v : z) v = g(rng);
  FloatMatrix x(n, d);
  matmul(z.data(), basis.data(), x.data(), n, kRank, d);
  for (auto& v : x.values) v += 0.1f * g(rng);
  return x;
}

/// Everything the benchmarks share, built once.
struct Fixture {
  FloatMatrix base, queries;
  std::unique_ptr<Codec> sq8, int8, binary;
  std::vector<uint8_t> sq8_codes, int8_codes, bin_codes, bin_queries;
  std::unique_ptr<faiss::IndexScalarQuantizer> faiss_sq;
  std::unique_ptr<faiss::IndexBinaryFlat> faiss_bin;
  std::vector<int64_t> faiss_sq_ids, faiss_bin_ids;

  Fixture() {
    // Queries from the same distribution (same basis: same seed, more rows, split).
    FloatMatrix all = generate(kN + kNq, kD, 42);
    base = FloatMatrix(kN, kD);
    queries = FloatMatrix(kNq, kD);
    std::copy(all.row(0), all.row(kN), base.data());
    std::copy(all.row(kN), all.row(kN + kNq), queries.data());

    sq8 = make_codec("SQ8", kD);
    sq8->train(base.view());
    sq8_codes.resize(kN * sq8->code_size());
    sq8->encode(base.view(), sq8_codes.data());
    int8 = make_codec("INT8", kD);
    int8->train(base.view());
    int8_codes.resize(kN * int8->code_size());
    int8->encode(base.view(), int8_codes.data());
    binary = make_codec("Binary", kD);
    binary->train(base.view());
    bin_codes.resize(kN * binary->code_size());
    binary->encode(base.view(), bin_codes.data());
    bin_queries.resize(kNq * binary->code_size());
    binary->encode(queries.view(), bin_queries.data());

    faiss_sq = std::make_unique<faiss::IndexScalarQuantizer>(
        int(kD), faiss::ScalarQuantizer::QT_8bit, faiss::METRIC_INNER_PRODUCT);
    faiss_sq->train(kN, base.data());
    faiss_sq->add(kN, base.data());
    faiss_bin = std::make_unique<faiss::IndexBinaryFlat>(int(kD));
    faiss_bin->add(kN, bin_codes.data());

    std::vector<float> dis(kNq * kK);
    faiss_sq_ids.resize(kNq * kK);
    faiss_sq->search(kNq, queries.data(), kK, dis.data(), faiss_sq_ids.data());
    std::vector<int32_t> hd(kNq * kK);
    faiss_bin_ids.resize(kNq * kK);
    faiss_bin->search(kNq, bin_queries.data(), kK, hd.data(), faiss_bin_ids.data());
  }
};

Fixture& fixture() {
  static Fixture f;
  return f;
}

double overlap(const std::vector<int64_t>& a, const std::vector<int64_t>& b) {
  size_t hits = 0;
  for (size_t i = 0; i < kNq; ++i) {
    std::set<int64_t> s(a.begin() + i * kK, a.begin() + (i + 1) * kK);
    for (size_t j = 0; j < kK; ++j) hits += s.count(b[i * kK + j]);
  }
  return double(hits) / double(kNq * kK);
}

void set_rate(benchmark::State& state) {
  state.counters["vectors/s"] = benchmark::Counter(
      double(state.iterations()) * double(kNq) * double(kN), benchmark::Counter::kIsRate);
}

ScanIsa isa_arg(benchmark::State& state) {
  ScanIsa isa = static_cast<ScanIsa>(state.range(0));
  if (!scan_isa_supported(isa)) state.SkipWithError("this CPU lacks the ISA");
  state.SetLabel(scan_isa_name(isa));
  return isa;
}

void BM_FaissSQ8(benchmark::State& state) {
  Fixture& f = fixture();
  std::vector<float> dis(kNq * kK);
  std::vector<int64_t> ids(kNq * kK);
  for (auto _ : state) {
    f.faiss_sq->search(kNq, f.queries.data(), kK, dis.data(), ids.data());
    benchmark::DoNotOptimize(ids.data());
  }
  set_rate(state);
}

void BM_ScanSQ8(benchmark::State& state) {
  Fixture& f = fixture();
  const ScanIsa isa = isa_arg(state);
  const auto& sq = dynamic_cast<const SqCodec&>(*f.sq8).faiss_sq();
  std::vector<float> sc(kNq * kK);
  std::vector<int64_t> ids(kNq * kK);
  for (auto _ : state) {
    scan_sq8_topk(f.queries.data(), kNq, f.sq8_codes.data(), kN, kD, sq.trained.data(),
                  sq.trained.data() + kD, ScanMetric::kInnerProduct, kK, ids.data(), sc.data(),
                  nullptr, isa);
    benchmark::DoNotOptimize(ids.data());
  }
  set_rate(state);
  state.counters["overlap"] = overlap(f.faiss_sq_ids, ids);
}

void BM_ScanSQ8_L2(benchmark::State& state) {
  Fixture& f = fixture();
  const ScanIsa isa = isa_arg(state);
  const auto& sq = dynamic_cast<const SqCodec&>(*f.sq8).faiss_sq();
  std::vector<float> norms(kN), sc(kNq * kK);
  sq8_decoded_norms(f.sq8_codes.data(), kN, kD, sq.trained.data(), sq.trained.data() + kD,
                    norms.data());
  std::vector<int64_t> ids(kNq * kK);
  for (auto _ : state) {
    scan_sq8_topk(f.queries.data(), kNq, f.sq8_codes.data(), kN, kD, sq.trained.data(),
                  sq.trained.data() + kD, ScanMetric::kL2, kK, ids.data(), sc.data(), norms.data(),
                  isa);
    benchmark::DoNotOptimize(ids.data());
  }
  set_rate(state);
}

void BM_ScanINT8(benchmark::State& state) {
  Fixture& f = fixture();
  const ScanIsa isa = isa_arg(state);
  const auto& scale = dynamic_cast<const Int8Codec&>(*f.int8).scales();
  std::vector<float> sc(kNq * kK);
  std::vector<int64_t> ids(kNq * kK);
  for (auto _ : state) {
    scan_int8_topk(f.queries.data(), kNq, reinterpret_cast<const int8_t*>(f.int8_codes.data()), kN,
                   kD, scale.data(), ScanMetric::kInnerProduct, kK, ids.data(), sc.data(), nullptr,
                   isa);
    benchmark::DoNotOptimize(ids.data());
  }
  set_rate(state);
  state.counters["overlap"] = overlap(f.faiss_sq_ids, ids);  // vs FAISS SQ8: another codec
}

void BM_FaissBinaryFlat(benchmark::State& state) {
  Fixture& f = fixture();
  std::vector<int32_t> dis(kNq * kK);
  std::vector<int64_t> ids(kNq * kK);
  for (auto _ : state) {
    f.faiss_bin->search(kNq, f.bin_queries.data(), kK, dis.data(), ids.data());
    benchmark::DoNotOptimize(ids.data());
  }
  set_rate(state);
}

void BM_ScanBinary(benchmark::State& state) {
  Fixture& f = fixture();
  const ScanIsa isa = isa_arg(state);
  std::vector<int32_t> dis(kNq * kK);
  std::vector<int64_t> ids(kNq * kK);
  for (auto _ : state) {
    scan_binary_topk(f.bin_queries.data(), kNq, f.bin_codes.data(), kN, f.binary->code_size(), kK,
                     ids.data(), dis.data(), isa);
    benchmark::DoNotOptimize(ids.data());
  }
  set_rate(state);
  // Hamming ties are frequent and FAISS breaks them its own way: overlap < 1 is expected.
  state.counters["overlap"] = overlap(f.faiss_bin_ids, ids);
}

void isa_args(benchmark::internal::Benchmark* b) {
  for (ScanIsa isa : {ScanIsa::kRef, ScanIsa::kAvx2, ScanIsa::kAvx512}) b->Arg(int(isa));
}

BENCHMARK(BM_FaissSQ8)->MinTime(3.0)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ScanSQ8)->Apply(isa_args)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ScanINT8)->Apply(isa_args)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ScanSQ8_L2)->Arg(int(ScanIsa::kAuto))->Unit(benchmark::kMillisecond);
BENCHMARK(BM_FaissBinaryFlat)->Unit(benchmark::kMillisecond);
BENCHMARK(BM_ScanBinary)->Apply(isa_args)->Unit(benchmark::kMillisecond);

}  // namespace

int main(int argc, char** argv) {
  omp_set_num_threads(1);  // one thread for FAISS and for our scans
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
#ifndef NDEBUG
  std::fprintf(stderr, "WARNING: scan_bench is a debug build (%s): timings are meaningless\n",
               EMBCOMP_BUILD_TYPE);
#endif
  benchmark::AddCustomContext("build_type", EMBCOMP_BUILD_TYPE);
  benchmark::AddCustomContext("git_commit", EMBCOMP_GIT_COMMIT);
  benchmark::AddCustomContext("faiss_flavor", EMBCOMP_FAISS_FLAVOR);
  benchmark::AddCustomContext("scan_kernel", scan_kernel_name());
  benchmark::AddCustomContext("shape", "n=100000 d=128 nq=200 k=10 threads=1");
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
